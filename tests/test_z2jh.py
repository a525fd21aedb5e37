"""The Zero to JupyterHub config (deploy/z2jh/config.yaml) passes the chart's own values schema, as helm checks it.

Helm merges a config.yaml over the chart's defaults (maps key by key, anything else replaced, a null
deleting the key) and validates the result against values.schema.yaml; deploy/z2jh/chart/ holds both
files of chart 5.5.0. The schema forbids unknown keys almost everywhere, so a misspelt key fails here
rather than being ignored on the cluster.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
Z2JH = ROOT / "deploy" / "z2jh"


def helm_merge(defaults: dict, overrides: dict) -> dict:
    """Returns `overrides` merged over `defaults` as Helm merges values files."""
    merged = copy.deepcopy(defaults)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def schema_errors(config: dict) -> list[str]:
    """Returns what the chart's schema says about `config` merged over the chart's defaults (empty: valid)."""
    schema = yaml.safe_load((Z2JH / "chart" / "values.schema.yaml").read_text())
    defaults = yaml.safe_load((Z2JH / "chart" / "values.yaml").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, error.path))}: {error.message}"
            for error in validator.iter_errors(helm_merge(defaults, config))]


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((Z2JH / "config.yaml").read_text())


def test_the_workbook_config_is_valid_for_the_chart(config):
    """deploy/z2jh/config.yaml, merged over the chart's defaults, passes the chart's values schema."""
    assert schema_errors(config) == []


def test_helm_merge_merges_maps_replaces_the_rest_and_deletes_nulls():
    """The merge the validation relies on: nested maps merged, lists replaced, null removes the key."""
    defaults = {"a": {"x": 1, "y": 2}, "b": [1, 2], "c": 3}
    assert helm_merge(defaults, {"a": {"y": 9}, "b": [7], "c": None}) == {"a": {"x": 1, "y": 9}, "b": [7]}
    assert defaults == {"a": {"x": 1, "y": 2}, "b": [1, 2], "c": 3}


@pytest.mark.parametrize("path, value", [
    (["singleuser", "defaultURL"], "/lab"),  # misspelt key (defaultUrl)
    (["singleuser", "memory", "limt"], "2G"),  # misspelt nested key
    (["cull", "timeout"], "1h"),  # wrong type: seconds, an integer
    (["singleuser", "image", "pullPolicy"], "Sometimes"),  # not one of the allowed values
])
def test_a_wrong_config_is_rejected(config, path, value):
    """The check can fail: a misspelt key, a wrong type or a value the chart does not know is reported."""
    wrong = copy.deepcopy(config)
    node = wrong
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    errors = schema_errors(wrong)
    assert errors and any(path[-1] in error or ".".join(path[:-1]) in error for error in errors), errors


def test_the_config_matches_the_workbook(config):
    """The default URL opens a notebook the start hook copies; the models' folder and memory fit the workbook."""
    singleuser = config["singleuser"]
    prefix = "/lab/tree/workbook/"
    assert singleuser["defaultUrl"].startswith(prefix)
    assert (ROOT / "notebooks" / singleuser["defaultUrl"].removeprefix(prefix)).is_file()
    hook = " ".join(singleuser["lifecycleHooks"]["postStart"]["exec"]["command"])
    assert 'cp -r /srv/workbook/notebooks "$HOME/workbook"' in hook
    # postBuild builds the models into $NB_PYTHON_PREFIX/share/adapterlab-models (repo2docker's prefix below).
    assert singleuser["extraEnv"]["ADAPTERLAB_CACHE"] == "/srv/conda/envs/notebook/share/adapterlab-models"
    assert "share/adapterlab-models" in (ROOT / "postBuild").read_text()
    measured = json.loads((ROOT / "docs" / "hub_room.json").read_text())["sizing"]
    guarantee, limit = (_gigabytes(singleuser["memory"][key]) for key in ("guarantee", "limit"))
    # The scheduler reserves about what a learner uses alone; the limit is TLJH's: measured peak plus headroom.
    assert 0.8 * measured["peak_pss_per_learner_alone_gb"] <= guarantee <= limit
    assert limit >= measured["memory_limit_per_learner_gb"]
    # One machine (deploy/tljh/adapterlab.py) and Kubernetes open the same notebook.
    assert f'c.Spawner.default_url = "{singleuser["defaultUrl"]}"' in (ROOT / "deploy/tljh/adapterlab.py").read_text()


def _gigabytes(quantity: str) -> float:
    """'2G' -> 2.0, '1536M' -> 1.536 (Kubernetes' decimal suffixes, the ones this config uses)."""
    units = {"G": 1.0, "M": 1e-3}
    return float(quantity[:-1]) * units[quantity[-1]]
