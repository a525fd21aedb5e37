"""Importing adapterlab changes only what `use_workbook_defaults` names, never a value the learner set."""

import json
import os
import subprocess
import sys
from pathlib import Path

import adapterlab

PROBE = """
import json, os, sys, warnings
import logging
before, filters = dict(os.environ), len(warnings.filters)
import adapterlab
after = dict(os.environ)
again = adapterlab.use_workbook_defaults()
log_filters = {name: len(logger.filters) for name, logger in logging.Logger.manager.loggerDict.items()
               if isinstance(logger, logging.Logger) and logger.filters}
print(json.dumps({"added": {k: v for k, v in after.items() if before.get(k) != v},
                  "removed": sorted(set(before) - set(after)), "again": again, "log_filters": log_filters,
                  "new_filters": len(warnings.filters) - filters, "unchanged_after_again": dict(os.environ) == after}))
"""


def _import_in_fresh_process(**environment: str) -> dict:
    unset = {*adapterlab.WORKBOOK_ENVIRONMENT, "TRANSFORMERS_VERBOSITY"}
    env = {k: v for k, v in os.environ.items() if k not in unset} | environment
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_import_sets_exactly_the_workbook_defaults_once():
    """The import adds the documented variables and one warning filter, nothing else; a second call is a no-op."""
    seen = _import_in_fresh_process()
    assert seen["added"] == adapterlab.WORKBOOK_ENVIRONMENT and seen["removed"] == []
    assert seen["new_filters"] == 1 and seen["again"] == {} and seen["unchanged_after_again"]
    assert seen["log_filters"] == {adapterlab.BITSANDBYTES_KERNELS_LOGGER: 1}


def test_transformers_keeps_its_own_verbosity():
    """The import leaves TRANSFORMERS_VERBOSITY unset: transformers' warnings reach the learner as at work."""
    seen = _import_in_fresh_process()
    assert "TRANSFORMERS_VERBOSITY" not in seen["added"]


def test_a_learners_own_setting_wins():
    """HF_HUB_OFFLINE=0 set before the import (to use the hub) is kept; the other defaults still apply."""
    seen = _import_in_fresh_process(HF_HUB_OFFLINE="0")
    assert "HF_HUB_OFFLINE" not in seen["added"]
    assert seen["added"] == {k: v for k, v in adapterlab.WORKBOOK_ENVIRONMENT.items() if k != "HF_HUB_OFFLINE"}


def test_the_filtered_warning_is_the_one_peft_raises():
    """The one filter matches what the pinned PEFT triggers: get_peft_model reads the deprecated property."""
    import warnings

    from tests.common import tiny_lora

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tiny_lora()
    messages = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert any(adapterlab.GRADIENT_CHECKPOINTING_WARNING in m for m in messages), messages


def test_importing_peft_after_adapterlab_logs_nothing():
    """`import peft` imports bitsandbytes, whose CPU backend logs a notice about an optional package where the
    CPU has AVX512-BF16; after adapterlab's import that notice, and only it, is dropped."""
    code = ("import logging, adapterlab, peft, bitsandbytes\n"
            "logging.getLogger(adapterlab.BITSANDBYTES_KERNELS_LOGGER).warning('another message')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert adapterlab.BITSANDBYTES_KERNELS_MESSAGE not in done.stderr
    assert "another message" in done.stderr


def test_the_filtered_log_is_the_one_bitsandbytes_writes():
    """The dropped notice is spelled as the pinned bitsandbytes logs it, from the logger the filter is on."""
    import bitsandbytes.backends.cpu.ops as ops

    source = Path(ops.__file__).read_text()
    assert ops.logger.name == adapterlab.BITSANDBYTES_KERNELS_LOGGER
    assert adapterlab.BITSANDBYTES_KERNELS_MESSAGE in source
