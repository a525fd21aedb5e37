"""Tables for notebooks: rows of measurements as Markdown that JupyterLab renders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def format_table(rows: Sequence[Mapping[str, object]]) -> str:
    """Returns `rows` (dicts with the same keys) as a Markdown table; floats in 3 significant digits."""
    if not rows:
        raise ValueError("format_table needs at least one row.")
    columns = list(rows[0])

    def cell(value: object) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)

