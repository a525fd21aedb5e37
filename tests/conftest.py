"""Hermetic tests: every run gets a fresh HOME and a model cache of the tests; nothing touches the learner's.

The model cache is ADAPTERLAB_TEST_CACHE where the runner built one for every stage (`make test` and
`make check`: build/models), else a temporary folder (`gpt2` is built into it once, when a test first asks,
in a few seconds; `gpt2-mini` and the adapters ship with the package). A learner's ADAPTERLAB_CACHE is
never used. Each test also writes progress to its own file. At the end, the session checks that the fresh
HOME holds no model cache.
"""

import os

import pytest

import adapterlab
from adapterlab import models


def pytest_configure(config: pytest.Config) -> None:
    # pytest resets warning filters for each test; re-apply the package's one filter from its one home.
    config.addinivalue_line("filterwarnings", f"ignore:{adapterlab.GRADIENT_CHECKPOINTING_WARNING}:FutureWarning")


@pytest.fixture(scope="session", autouse=True)
def _fresh_home_and_cache(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    patch = pytest.MonkeyPatch()
    patch.setenv("HOME", str(home))
    cache = os.environ.get("ADAPTERLAB_TEST_CACHE") or tmp_path_factory.mktemp("model-cache")
    patch.setenv("ADAPTERLAB_CACHE", str(cache))
    patch.setenv("ADAPTERLAB_WORK", str(tmp_path_factory.mktemp("work")))
    models.model_dir.cache_clear()
    yield home
    patch.undo()
    models.model_dir.cache_clear()
    assert not (home / ".cache" / "adapterlab").exists(), "a test wrote a model cache into HOME"


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTERLAB_PROGRESS", str(tmp_path / "progress.json"))


@pytest.fixture
def clock(monkeypatch):
    """A clock for timing code: `time.perf_counter()` returns clock["now"], which only the test moves."""
    state = {"now": 0.0}
    monkeypatch.setattr("time.perf_counter", lambda: state["now"])
    return state
