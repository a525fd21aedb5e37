"""The benchmarks' timing harness: take turns, repeat, and report the spread with the median.

A figure without its spread and count cannot be judged, so every time the benchmarks report is a
`summary(...)` dict; `format_summary` writes it as people read it ("12.3 ms (11.9-13.0, n=5)"). Things
compared are timed in turns (a, b, a, b, ...) by `compare`, so a burst of other work on the machine slows
every side alike. Notebook 06 times its models with `adapterlab.timing`, which takes turns the same way.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def summary(values: list[float], unit: str) -> dict[str, Any]:
    """Returns {'median', 'min', 'max', 'n', 'unit', 'values'} of repeated measurements."""
    if not values:
        raise ValueError("summary() needs at least one measurement; run with --reps 1 or more.")
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values),
            "unit": unit, "values": list(values)}


@dataclass
class Case:
    """One thing to time: `fn(setup())`, with untimed `setup` before and `teardown(result)` after."""

    fn: Callable[[Any], Any]
    setup: Callable[[], Any] | None = None
    teardown: Callable[[Any], None] | None = None


def _time_once(case: Case, collect: bool = True) -> float:
    arg = case.setup() if case.setup else None
    if collect:
        gc.collect()  # the previous repetition's garbage must not be collected inside this timing
    start = time.perf_counter()
    out = case.fn(arg)
    elapsed = time.perf_counter() - start
    if case.teardown:
        case.teardown(out)
    return elapsed


def compare(cases: dict[str, Case], reps: int, collect: bool = True) -> dict[str, dict[str, Any]]:
    """Times each case `reps` times, taking turns (a, b, a, b, ...); returns a `summary` in seconds per case.

    Taking turns means a burst of other work on a shared machine slows every side alike, so the
    ratio of medians holds better than the times themselves. `collect=False` skips the garbage
    collection before each timing, for cases of a few milliseconds that make no garbage to speak of.
    """
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(reps):
        for name, case in cases.items():
            times[name].append(_time_once(case, collect))
    return {name: summary(values, "s") for name, values in times.items()}


def scale(stat: dict[str, Any], factor: float, unit: str) -> dict[str, Any]:
    """Returns `stat` with every value multiplied by `factor` (seconds to ms per token, say)."""
    return summary([v * factor for v in stat["values"]], unit)


def ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> float:
    """Returns the ratio of two medians."""
    return numerator["median"] / denominator["median"]


def format_summary(stat: dict[str, Any], digits: int = 3) -> str:
    """Returns '12.3 ms (11.9-13.0, n=5)': median, then the range of all repetitions and their count."""
    unit = stat["unit"]
    if unit == "s":  # pick the unit a person would say
        factor, unit = next((f, u) for f, u in ((1, "s"), (1e3, "ms"), (1e6, "µs")) if stat["median"] * f >= 1
                            or u == "µs")
    else:
        factor = 1
    med, low, high = (number(stat[k] * factor, digits) for k in ("median", "min", "max"))
    if stat["n"] == 1:
        return f"{med} {unit} (n=1)"
    return f"{med} {unit} ({low}–{high}, n={stat['n']})"


def number(value: float, digits: int = 3) -> str:
    """Returns `value` with `digits` significant digits, never in exponent form ("1160", not "1.16e+03")."""
    text = f"{value:.{digits}g}"
    return f"{value:.0f}" if "e+" in text else text
