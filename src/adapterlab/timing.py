"""Timing models on a shared machine, for notebook 06: take turns, and compare round by round.

Models compared are run in turns (a, b, c, a, b, c, ...), so a burst of other work on the machine slows
every model alike, and `median_ratio` compares the runs of one round. The benchmarks' own harness, with
summaries and spreads, is `benchmarks/timing.py`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence

import torch
from torch import nn


@torch.inference_mode()
def forward_times(models: Mapping[str, nn.Module], input_ids: torch.Tensor, repeats: int = 60,
                  warmup: int = 3) -> dict[str, list[float]]:
    """Returns the seconds of `repeats` forward passes of each model, the models taking turns.

    Round i of every model runs back to back (a, b, c, a, b, c, ...), so `median_ratio` can compare
    runs that met the same load on a shared machine; `warmup` rounds run first and are not kept.
    """
    times: dict[str, list[float]] = {name: [] for name in models}
    for round_ in range(warmup + repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model(input_ids=input_ids)
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def median_ratio(slow: Sequence[float], fast: Sequence[float]) -> float:
    """Returns the median over rounds of slow[i] / fast[i], for times taken in turns by `forward_times`.

    A burst of other work slows both runs of a round alike, so the ratio of a round is steadier than
    the ratio of two medians, and the median ignores the odd round where only one run was hit.
    """
    if len(slow) != len(fast) or not slow:
        raise ValueError(f"median_ratio needs two equally long, non-empty lists of times, got {len(slow)} "
                         f"and {len(fast)}; take both from one forward_times call.")
    return statistics.median(a / b for a, b in zip(slow, fast, strict=True))
