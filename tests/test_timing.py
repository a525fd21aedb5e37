"""adapterlab.timing: turns, summaries and ratios, checked on a fake clock (never the machine's speed)."""

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


@pytest.fixture
def clock(monkeypatch):
    """A clock that only moves when a Recorder runs."""
    state = {"now": 0.0}
    monkeypatch.setattr(timing.time, "perf_counter", lambda: state["now"])
    return state


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


def test_compare_times_only_fn_and_summarises(clock):
    """compare times fn alone (setup and teardown are outside the timing), in turns, and summarises each case."""
    order = []

    def case(name, cost):
        def fn(_):
            order.append(name)
            clock["now"] += cost

        def setup():
            clock["now"] += 100  # untimed work must not count
        return timing.Case(fn, setup=setup)

    result = timing.compare({"x": case("x", 1.0), "y": case("y", 3.0)}, reps=3)
    assert order == ["x", "y"] * 3
    assert result["x"]["median"] == 1.0 and result["y"]["values"] == [3.0, 3.0, 3.0] and result["y"]["n"] == 3
    assert timing.ratio(result["y"], result["x"]) == 3.0


def test_show_summary_gives_median_range_and_count():
    """A time is shown in the unit a person would say, with its min–max range and repetition count."""
    assert timing.show_summary(timing.summary([0.012, 0.011, 0.013], "s")) == "12 ms (11–13, n=3)"
    assert timing.show_summary(timing.summary([2.5], "s")) == "2.5 s (n=1)"
    assert timing.show_summary(timing.summary([1160.0, 999.7], "ms/token")) == "1080 ms/token (1000–1160, n=2)"
    with pytest.raises(ValueError, match="at least one"):
        timing.summary([], "s")


def test_forward_times_runs_under_inference_mode(clock):
    """No autograd graph is kept while timing (what a served model does)."""
    seen = []

    class Probe(nn.Module):
        def forward(self, input_ids):
            seen.append(torch.is_inference_mode_enabled())
            return input_ids

    timing.forward_times({"p": Probe()}, torch.zeros(1, 2), repeats=2, warmup=1)
    assert seen == [True] * 3
