"""Shared fixtures: every test writes progress to its own temporary file, never the learner's."""

import pytest


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTERLAB_PROGRESS", str(tmp_path / "progress.json"))
