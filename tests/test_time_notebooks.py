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
    core = [path for path in notebooks if not time_notebooks.is_deep_dive(path)]
    assert [path.name[:2] for path in core] == [f"{n:02d}" for n in range(len(core))], "core notebooks 00, 01, ..."
    assert time_notebooks.core_minutes(notebooks) <= 240, {p.name: time_notebooks.describe(p)["study_minutes"]
                                                           for p in core}
    plans = time_notebooks.schedules(notebooks)
    rows = re.findall(r"^\| \d\d:\d\d \| \d\d:\d\d \| \[`(\w+)`\].* \| (\d+) min \|$", plans, flags=re.M)
    assert [(name, int(m)) for name, m in rows] == [(p.stem, time_notebooks.describe(p)["study_minutes"]) for p in core]
    assert int(re.search(r"\*\*90 minutes:\*\*.*: (\d+) min by the map", plans)[1]) <= 90
