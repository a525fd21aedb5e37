"""adapterlab.tables: rows of measurements as a Markdown table."""

import pytest

from adapterlab import tables


def test_format_table_writes_markdown():
    """Rows become a Markdown table: a header, a rule, one line per row, floats in 3 significant digits."""
    table = tables.format_table([{"a": 1, "b": 0.123456}, {"a": "x", "b": 2e-7}])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1 | 0.123 |", "| x | 2e-07 |"]
    with pytest.raises(ValueError):
        tables.format_table([])
