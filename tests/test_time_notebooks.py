"""Smoke test of tools/time_notebooks.py: it measures a notebook, records it, and rewrites the map and the guide."""

import contextlib
import json
import re

import nbformat
import pytest
from benchmarks import bench_notebooks
from tools import time_notebooks


@pytest.fixture
def workbook(tmp_path, monkeypatch):
    """A workbook folder with one tiny notebook, a README map and an instructor guide line to rewrite."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "docs").mkdir()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 09 · A tiny notebook\n\nSome words to read."),
        nbformat.v4.new_code_cell("x = 6 * 7\nassert x == 42"),
        nbformat.v4.new_code_cell("if False:  # counted as two exercises, never run\n"
                                  "    from adapterlab.questions.nb01 import q1, q2"),
    ])
    nbformat.write(nb, tmp_path / "notebooks" / "09_tiny.ipynb")
    (tmp_path / "README.md").write_text("map:\n<!-- map:start -->\nold\n<!-- map:end -->\n")
    (tmp_path / "docs" / "INSTRUCTOR.md").write_text("- **Run time:** old <!-- time:09_tiny.ipynb -->\n")
    for name, value in [("ROOT", tmp_path), ("NOTEBOOKS", tmp_path / "notebooks"), ("DOCS", tmp_path / "docs"),
                        ("TIMES", tmp_path / "docs" / "notebook_times.json")]:
        monkeypatch.setattr(time_notebooks, name, value)

    @contextlib.contextmanager
    def no_build(progress=True):  # the tiny notebook loads no model: skip `adapterlab build`
        yield tmp_path / "built", 0.0

    (tmp_path / "built").mkdir()
    monkeypatch.setattr(bench_notebooks, "built_cache", no_build)
    return tmp_path


def test_it_measures_records_and_rewrites_the_docs(workbook):
    """One run of the tool executes the notebook, writes its time and peak, and rewrites the map and the guide."""
    assert time_notebooks.main(["09_tiny.ipynb"]) == 0
    row = json.loads((workbook / "docs" / "notebook_times.json").read_text())["09_tiny.ipynb"]
    assert row["error"] is None and row["run_s"] >= 0 and row["peak_gb"] > 0 and row["exercises"] == 2
    readme = (workbook / "README.md").read_text()
    assert "[`09_tiny`](notebooks/09_tiny.ipynb) | 09 · A tiny notebook |" in readme and "old" not in readme
    guide = (workbook / "docs" / "INSTRUCTOR.md").read_text()
    assert "s to run all cells (warm cache" in guide and "old" not in guide


def test_a_missing_notebook_is_named(workbook, capsys):
    """Asking for a notebook that does not exist stops with its name, before anything runs."""
    with pytest.raises(SystemExit):
        time_notebooks.main(["99_nope.ipynb"])
    assert "99_nope.ipynb" in capsys.readouterr().err


def test_the_core_path_fits_a_workshop_day_and_the_plans_add_up():
    """The README's map: core notebooks total at most 240 study minutes by the stated formula; the guide's
    one-day plan lists exactly the core notebooks with the map's figures, and the 90-minute plan fits 90."""
    notebooks = sorted(time_notebooks.NOTEBOOKS.glob("*.ipynb"))
    core = [path for path in notebooks if time_notebooks.is_core(path)]
    assert [path.name[:2] for path in core] == [f"{n:02d}" for n in range(len(core))], "core notebooks 00, 01, ..."
    assert time_notebooks.core_minutes(notebooks) <= 240, {p.name: time_notebooks.describe(p)["study_minutes"]
                                                           for p in core}
    plans = time_notebooks.schedules(notebooks)
    rows = re.findall(r"^\| \d\d:\d\d \| \d\d:\d\d \| \[`(\w+)`\].* \| (\d+) min \|$", plans, flags=re.M)
    assert [(name, int(m)) for name, m in rows] == [(p.stem, time_notebooks.describe(p)["study_minutes"]) for p in core]
    assert int(re.search(r"\*\*90 minutes:\*\*.*: (\d+) min by the map", plans)[1]) <= 90


def _notebook(path, title, exercises=0):
    imports = ", ".join(f"q{n}" for n in range(1, exercises + 1))
    cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nSome words.")]
    if imports:
        cells.append(nbformat.v4.new_code_cell(f"if False:\n    from adapterlab.questions.nb08 import DATA, {imports}"))
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)


def test_the_capstone_is_a_kind_of_its_own(tmp_path):
    """A capstone (`NN_capstone.ipynb`) is neither core nor a deep dive: the map shows it in a table of its own
    after the core total, which it is not counted in; the plans list it apart from the day and the dives; and
    only its questions (qN) count as exercises, not a constant imported beside them."""
    for name, title in [("00_start.ipynb", "00 · Start"), ("00a_dive.ipynb", "00a · Dive"),
                        ("01_next.ipynb", "01 · Next")]:
        _notebook(tmp_path / name, title)
    _notebook(tmp_path / "02_capstone.ipynb", "02 · Capstone", exercises=8)
    notebooks = sorted(tmp_path.glob("*.ipynb"))
    capstone = tmp_path / "02_capstone.ipynb"
    assert time_notebooks.is_capstone(capstone) and not time_notebooks.is_core(capstone)
    assert not time_notebooks.is_deep_dive(capstone) and time_notebooks.describe(capstone)["exercises"] == 8
    assert time_notebooks.core_minutes(notebooks) == sum(time_notebooks.describe(tmp_path / n)["study_minutes"]
                                                         for n in ("00_start.ipynb", "01_next.ipynb"))
    table = time_notebooks.map_table(notebooks, {})
    core_total, capstone_row = table.index("**core path**"), table.index("[`02_capstone`]")
    dives = table.index("**Deep dives**")
    assert core_total < capstone_row < dives and table.count("02_capstone") == 2  # one link: name and path
    plans = time_notebooks.schedules(notebooks)
    day = plans.split("**90 minutes:**")[0]
    assert "02_capstone" not in day and "**Capstone**" in plans
    assert "02_capstone" not in plans.split("**Deep dives**")[1].split("**Capstone**")[0]


def test_the_committed_capstone_is_mapped_apart():
    """The workbook's own capstone, 08_capstone.ipynb, is the one notebook of its kind, and has a summary line."""
    notebooks = sorted(time_notebooks.NOTEBOOKS.glob("*.ipynb"))
    assert [p.name for p in notebooks if time_notebooks.is_capstone(p)] == ["08_capstone.ipynb"]
    assert "08_capstone.ipynb" in time_notebooks.SUMMARIES


def test_every_notebook_has_its_line_in_the_map():
    """Each notebook has a one-line summary for the README map (a new notebook without one shows only its title)."""
    names = sorted(p.name for p in time_notebooks.NOTEBOOKS.glob("*.ipynb"))
    assert [name for name in names if name not in time_notebooks.SUMMARIES] == []
