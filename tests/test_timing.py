"""adapterlab.timing: turns and round-by-round ratios, checked on a fake clock (never the machine's speed)."""

import pytest
import torch
from torch import nn

from adapterlab import timing


class Recorder(nn.Module):
    """A model that notes when it runs and moves the fake clock on by its own cost."""

    def __init__(self, name, cost, clock, log):
        super().__init__()
        self.name, self.cost, self.clock, self.log = name, cost, clock, log

    def forward(self, input_ids):
        self.log.append(self.name)
        self.clock["now"] += self.cost
        return input_ids


def test_forward_times_takes_turns_and_drops_the_warmup(clock):
    """Models run a, b, a, b, ...; the warm-up rounds run but are not returned; each time is one call's cost."""
    log = []
    models = {"a": Recorder("a", 0.001, clock, log), "b": Recorder("b", 0.004, clock, log)}
    times = timing.forward_times(models, torch.zeros(1, 3), repeats=4, warmup=2)
    assert log == ["a", "b"] * 6
    assert times == {"a": [pytest.approx(0.001)] * 4, "b": [pytest.approx(0.004)] * 4}
    assert timing.median_ratio(times["b"], times["a"]) == pytest.approx(4.0)


def test_median_ratio_pairs_rounds_and_refuses_mismatched_lists():
    """The ratio is taken round by round (a slow round for both cancels out); unequal lists are refused."""
    assert timing.median_ratio([2.0, 20.0, 4.0], [1.0, 10.0, 2.0]) == 2.0
    with pytest.raises(ValueError, match="equally long"):
        timing.median_ratio([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="non-empty"):
        timing.median_ratio([], [])


def test_forward_times_runs_under_inference_mode(clock):
    """No autograd graph is kept while timing (what a served model does)."""
    seen = []

    class Probe(nn.Module):
        def forward(self, input_ids):
            seen.append(torch.is_inference_mode_enabled())
            return input_ids

    timing.forward_times({"p": Probe()}, torch.zeros(1, 2), repeats=2, warmup=1)
    assert seen == [True] * 3
