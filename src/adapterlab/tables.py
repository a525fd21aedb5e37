"""The package's one table formatter: rows as Markdown (which JupyterLab renders) or as aligned plain text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def _cell(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def format_table(rows: Sequence[Mapping[str, object] | Sequence[object]], headers: Sequence[str] | None = None, *,
                 style: str = "markdown", align: str = "") -> str:
    """Returns `rows` as a table; floats in 3 significant digits.

    Args:
        rows: dicts with the same keys (the keys are the headers), or sequences of cells.
        headers: the column names for sequence rows; None for a plain table without a header line.
        style: "markdown" (a header, a rule, a line per row) or "plain" (columns padded and separated by two
            spaces, for `print`).
        align: for "plain", one '<' or '>' per column (default: all '<').

    Raises:
        ValueError: no rows, no headers for a Markdown table, or an unknown style.
    """
    if not rows:
        raise ValueError("format_table needs at least one row.")
    if isinstance(rows[0], Mapping):
        headers = list(rows[0])
        rows = [[row[h] for h in headers] for row in rows]
    cells = [[_cell(v) for v in row] for row in rows]
    if style == "markdown":
        if headers is None:
            raise ValueError("A Markdown table needs headers: pass dict rows or headers=[...].")
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])
    if style != "plain":
        raise ValueError(f"Unknown table style {style!r}: use 'markdown' or 'plain'.")
    table = ([list(headers)] if headers is not None else []) + cells
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    align = align or "<" * len(widths)
    return "\n".join("  ".join(f"{text:{a}{w}}" for text, a, w in zip(row, align, widths, strict=True)).rstrip()
                     for row in table)
