"""adapterlab.tables: rows of measurements as a Markdown table."""

import pytest

from adapterlab import tables


def test_format_table_writes_markdown():
    """Rows become a Markdown table: a header, a rule, one line per row, floats in 3 significant digits."""
    table = tables.format_table([{"a": 1, "b": 0.123456}, {"a": "x", "b": 2e-7}])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1 | 0.123 |", "| x | 2e-07 |"]
    with pytest.raises(ValueError):
        tables.format_table([])


def test_plain_table_pads_columns_and_aligns_as_asked():
    """A plain table pads each column to its widest cell, two spaces apart, right-aligned where asked."""
    table = tables.format_table([("a.json", 5), ("sub/b.bin", 12345)], ["name", "bytes"], style="plain", align="<>")
    assert table.splitlines() == ["name       bytes", "a.json         5", "sub/b.bin  12345"]
    with pytest.raises(ValueError, match="needs headers"):
        tables.format_table([(1, 2)])
