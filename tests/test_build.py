"""adapterlab.build: `python -m adapterlab build` (what `make lab` runs) readies every base model a notebook loads."""

import pytest

from adapterlab import build
from adapterlab.cache import cache_root


@pytest.mark.slow
def test_build_lab_readies_gpt2_and_llama_mini_in_the_cache():
    """Both built models are in the model cache afterwards, each with its line in the report, so a room's read-only
    cache never asks a learner to build llama-mini (notebook 01a)."""
    lines = build.build_lab()
    assert [line.split(":")[0] for line in lines] == ["gpt2", "llama-mini", "gpt2-mini and 4 small adapters"]
    assert (cache_root() / "gpt2" / "config.json").is_file()
    assert (cache_root() / "llama-mini" / "config.json").is_file()
