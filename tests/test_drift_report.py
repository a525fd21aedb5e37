"""The drift report groups failing cells by cause and counts them per notebook (tools/drift_report.py)."""

import json
from pathlib import Path

from tools import drift_report as drift

NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "source": "# A fake notebook\n\nIt has four code cells."},
        {"cell_type": "code", "source": "x = 2 + 2\nassert x == 4"},
        {"cell_type": "markdown", "source": ["Intro.\n", "\n", "Predict: adding the adapter keeps ", "x at 5."]},
        {"cell_type": "code", "source": "%time y = x\nassert x == 5, f'x is {x}'"},
        {"cell_type": "code", "source": "assert (x ==\n        6), f'x is {x}'"},
        {"cell_type": "code", "source": "from peft import get_peft_model"},
    ],
    "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
}


def _traceback(source_line: str, last_line: str) -> str:
    """A failure's text as nbval writes it into junit XML: colour codes escaped as '#x1B'."""
    return (f"#x1B[91mNotebook cell execution failed#x1B[0m\n#x1B[94mCell 1: Cell execution caused an exception\n\n"
            f"#x1B[31m---------#x1B[39m\n#x1B[32m----&gt; #x1B[39m#x1B[32m1#x1B[39m {source_line}\n\n"
            f"#x1B[31m{last_line.split(':')[0]}#x1B[39m:{last_line.split(':', 1)[1]}\n")


JUNIT = f"""<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="4">
<testcase classname="nb.fake.ipynb" name="Cell 0" time="0.6" />
<testcase classname="nb.fake.ipynb" name="Cell 1" time="0.1"><failure message="failed">{
    _traceback("assert x == 5", "AssertionError: x is 4")}</failure></testcase>
<testcase classname="nb.fake.ipynb" name="Cell 2" time="0.1"><failure message="failed">{
    _traceback("assert (x ==", "AssertionError: x is 4")}</failure></testcase>
<testcase classname="nb.fake.ipynb" name="Cell 3" time="0.1"><failure message="failed">{
    _traceback("from peft import get_peft_model",
               "ImportError: cannot import name 'get_peft_model' from 'peft' (/venv/peft/__init__.py)")}</failure>
</testcase></testsuite></testsuites>"""


def _report(tmp_path: Path) -> tuple[list, str]:
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "fake.ipynb").write_text(json.dumps(NOTEBOOK))
    (tmp_path / "cells.xml").write_text(JUNIT)
    cells = drift.parse_junit(tmp_path / "cells.xml")
    unit = [drift.Result("tests.test_x", "test_a", "passed")]
    versions = [drift.Version("peft", "0.21.2", "0.21.2", "0.21.2"),
                drift.Version("transformers", "5.23.0", "5.24.0", "5.24.0")]
    text = drift.build_report(unit, cells, versions, tmp_path, ["a note"], "2026-01-02")
    return drift.group_causes(cells, tmp_path), text


def test_junit_cells_are_read_with_their_outcome(tmp_path):
    """Each testcase becomes one result; colour codes are gone from the failure text."""
    (tmp_path / "cells.xml").write_text(JUNIT)
    cells = drift.parse_junit(tmp_path / "cells.xml")
    assert [(r.name, r.outcome) for r in cells] == [
        ("Cell 0", "passed"), ("Cell 1", "failed"), ("Cell 2", "failed"), ("Cell 3", "failed")]
    assert "#x1B" not in cells[1].text and "AssertionError: x is 4" in cells[1].text


def test_failures_with_one_cause_are_grouped(tmp_path):
    """The two AssertionErrors with the same message are one cause; the ImportError is another."""
    causes, _ = _report(tmp_path)
    assert [(c.kind, len(c.failures)) for c in causes] == [("AssertionError", 2), ("ImportError", 1)]
    first, second = causes[0].failures
    assert first.where == "`nb/fake.ipynb` code cell 1" and second.where == "`nb/fake.ipynb` code cell 2"
    assert first.asserts == ["assert x == 5, f'x is {x}'"]  # found although the cell has a %magic
    assert second.asserts == ["assert (x == 6), f'x is {x}'"]  # a two-line assert on one line
    assert first.sentence == "Predict: adding the adapter keeps x at 5."
    assert causes[1].message.startswith("cannot import name 'get_peft_model'")


def test_report_has_versions_counts_causes_and_sentences(tmp_path):
    """The Markdown has the version table, per-notebook counts, the causes in order and the sentence to revisit."""
    _, text = _report(tmp_path)
    assert "| transformers | 5.23.0 | 5.24.0 | 5.24.0 (newer) |" in text
    assert "| peft | 0.21.2 | 0.21.2 | 0.21.2 |" in text
    assert "Unit tests: 1 passed, 0 failed, 0 skipped." in text
    assert "Notebook cells: 1 of 4 passed, 3 failed, 0 skipped." in text
    assert "| fake | 4 | 1 | 3 |" in text
    assert text.index("### 1. AssertionError: x is 4 (2 failures)") < text.index("### 2. ImportError: cannot")
    assert "(/venv/peft/__init__.py)" in text  # paths outside site-packages and the repo are kept
    revisit = text.split("## Sentences to revisit")[1]
    assert revisit.count("Predict: adding the adapter keeps x at 5.") == 1  # one sentence, both its cells
    assert "code cell 1, `nb/fake.ipynb` code cell 2)" in revisit and "code cell 3" not in revisit


def test_messages_differing_only_in_numbers_and_paths_are_one_cause():
    """Normalising blanks numbers, paths and addresses, and nothing else."""
    assert drift.normalise("x is 4 at 0x7f3a in /tmp/a/b.py") == drift.normalise("x is 5 at 0x11 in /home/c.py")
    assert drift.normalise("x is 4") != drift.normalise("y is 4")


def test_a_name_error_after_a_failed_cell_is_a_knock_on(tmp_path):
    """A NameError after an earlier failure of the same notebook is listed apart, not as a cause of its own."""
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "fake.ipynb").write_text(json.dumps(NOTEBOOK))
    name_error = "NameError: name 'x' is not defined"
    cells = [drift.Result("nb.fake.ipynb", "Cell 0", "failed", name_error),  # the first failure: a cause
             drift.Result("nb.fake.ipynb", "Cell 1", "failed", "ValueError: bad"),
             drift.Result("nb.fake.ipynb", "Cell 2", "failed", "NameError: name 'y' is not defined")]
    causes = drift.group_causes(cells, tmp_path)
    assert [(c.kind, len(c.failures)) for c in causes] == [("NameError", 1), ("ValueError", 1), ("knock-on", 1)]
    text = drift.build_report([], cells, [], tmp_path, [], "2026-01-02")
    assert "### 3. Knock-on failures (1 failure)" in text and "- `nb/fake.ipynb`: code cell 2\n" in text


def test_a_unit_test_assert_is_named_by_its_source_line(tmp_path):
    """pytest's 'assert 7 == 6' gets the failing line beside it, so two different asserts stay two causes."""
    def failed(name: str, line: str) -> drift.Result:
        return drift.Result("tests.test_x", name, "failed", f">       {line}\nE       assert 7 == 6\n", "assert 7 == 6")

    causes = drift.group_causes([failed("test_a", "assert count() == 6"), failed("test_b", "assert size() == 6")],
                                tmp_path)
    assert [c.message for c in causes] == ["assert count() == 6 (assert 7 == 6)", "assert size() == 6 (assert 7 == 6)"]
