"""Hermetic tests: every run gets a fresh HOME and its own model cache; nothing touches the learner's.

The session's model cache is a temporary folder (`gpt2` is built into it once, when a test first asks,
in a few seconds; `gpt2-mini` and the adapters ship with the package). Each test also writes progress
to its own file. At the end, the session checks that the fresh HOME holds no model cache.
"""

import pytest

from adapterlab import models


@pytest.fixture(scope="session", autouse=True)
def _fresh_home_and_cache(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    patch = pytest.MonkeyPatch()
    patch.setenv("HOME", str(home))
    patch.setenv("ADAPTERLAB_CACHE", str(tmp_path_factory.mktemp("model-cache")))
    patch.setenv("ADAPTERLAB_WORK", str(tmp_path_factory.mktemp("work")))
    models.model_dir.cache_clear()
    yield home
    patch.undo()
    models.model_dir.cache_clear()
    assert not (home / ".cache" / "adapterlab").exists(), "a test wrote a model cache into HOME"


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTERLAB_PROGRESS", str(tmp_path / "progress.json"))
