"""Repeat a measurement and summarise it: median, min, max and the number of repetitions.

A figure without its spread and count cannot be judged, so every time this package reports is a
`summary(...)` dict; `show_summary` writes it as people read it ("12.3 ms (11.9-13.0, n=5)").
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any


def summary(values: list[float], unit: str) -> dict[str, Any]:
    """Returns {'median', 'min', 'max', 'n', 'unit', 'values'} of repeated measurements."""
    if not values:
        raise ValueError("summary() needs at least one measurement; run with --reps 1 or more.")
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values),
            "unit": unit, "values": list(values)}


def repeat(fn: Callable[[Any], Any], reps: int, setup: Callable[[], Any] | None = None,
           teardown: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Times `fn(setup())` `reps` times; only the call to `fn` is timed.

    Args:
        fn: the operation; receives what `setup` returned (None without setup).
        reps: how many timed repetitions.
        setup: untimed preparation before each repetition (a fresh base model, an empty folder).
        teardown: untimed clean-up after each repetition; receives what `fn` returned.

    Returns:
        `summary` of the wall times in seconds.
    """
    times = []
    for _ in range(reps):
        arg = setup() if setup else None
        gc.collect()  # a collection of the previous repetition's garbage must not land inside the timing
        start = time.perf_counter()
        out = fn(arg)
        times.append(time.perf_counter() - start)
        if teardown:
            teardown(out)
        del out, arg
    return summary(times, "s")


def scale(stat: dict[str, Any], factor: float, unit: str) -> dict[str, Any]:
    """Returns `stat` with every value multiplied by `factor` (seconds to ms per token, say)."""
    return summary([v * factor for v in stat["values"]], unit)


def ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> float:
    """Returns the ratio of two medians."""
    return numerator["median"] / denominator["median"]


def show_summary(stat: dict[str, Any], digits: int = 3) -> str:
    """Returns '12.3 ms (11.9-13.0, n=5)': median, then the range of all repetitions and their count."""
    unit = stat["unit"]
    if unit == "s":  # pick the unit a person would say
        factor, unit = next((f, u) for f, u in ((1, "s"), (1e3, "ms"), (1e6, "µs")) if stat["median"] * f >= 1
                            or u == "µs")
    else:
        factor = 1
    med, low, high = (f"{stat[k] * factor:.{digits}g}" for k in ("median", "min", "max"))
    if stat["n"] == 1:
        return f"{med} {unit} (n=1)"
    return f"{med} {unit} ({low}–{high}, n={stat['n']})"
