"""A workshop room for the hub test: shared models built once as root, learner accounts, a learners' Python.

The hub test only runs when asked for (`pytest -m hub`, `pytest tests/hub` or `make hub-test`), so
`pytest tests` stays quick. It creates system accounts, so it runs only under CI=true or with
ADAPTERLAB_ROOM=1 (on a learner's own machine, `make test` as root must not add users to it); otherwise it
is skipped with the reason. It needs root, `useradd`, JupyterHub and configurable-http-proxy (`make hub`):
without them it is skipped with the reason, except under CI=true, where they are a failure.

ADAPTERLAB_ROOM_LEARNERS sets how many learners run at once (default 4). ADAPTERLAB_ROOM_MODELS names a
shared model folder already built (and made read-only) to use instead of building one for the test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from tools import room_setup  # the room harness, shared with tools/bench_hub_room.py

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

LEARNERS = int(os.environ.get("ADAPTERLAB_ROOM_LEARNERS", "4"))


def _asked_for_hub(config: pytest.Config) -> bool:
    markexpr = config.getoption("markexpr", "") or ""
    if "hub" in markexpr and "not hub" not in markexpr:
        return True
    return any(HERE == (path := Path(arg.split("::")[0]).resolve()) or HERE in path.parents for arg in config.args)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _asked_for_hub(config):
        return
    hub = [item for item in items if item.get_closest_marker("hub")]
    if hub:
        config.hook.pytest_deselected(items=hub)
        items[:] = [item for item in items if not item.get_closest_marker("hub")]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def room_folder():
    """A fresh folder every account can enter (pytest's own temporary folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="adapterlab-room-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def opted_in() -> bool:
    """True under CI=true or ADAPTERLAB_ROOM=1: only then may the test create Unix accounts."""
    return in_ci() or os.environ.get("ADAPTERLAB_ROOM", "").strip() == "1"


@pytest.fixture(scope="session")
def prerequisites():
    """Skips unless opted in; skips (or, under CI=true, fails) when this machine cannot host the room, saying why."""
    if not opted_in():
        pytest.skip("hub test skipped: it creates Unix accounts on this machine; set ADAPTERLAB_ROOM=1 to allow "
                    "it (CI=true does)")
    if problems := room_setup.missing_prerequisites():
        reason = "; ".join(problems)
        if in_ci():
            pytest.fail(f"CI=true but the hub test cannot run: {reason}", pytrace=False)
        pytest.skip(f"hub test skipped: {reason}")


@pytest.fixture(scope="session")
def shared_models(prerequisites, room_folder) -> tuple[Path, dict[str, str]]:
    """The shared model folder, built as root and made read-only; and the modes the build itself left."""
    if given := os.environ.get("ADAPTERLAB_ROOM_MODELS"):
        return Path(given), {}
    folder = room_folder / "models"
    built = os.environ.get("ADAPTERLAB_TEST_CACHE")  # make test's build/models: copied, not built again
    return folder, room_setup.build_shared_models(folder, Path(built) if built else None)


@pytest.fixture(scope="session")
def learner_python(prerequisites, room_folder) -> Path:
    return room_setup.learner_python(room_folder / "learner-env")


@pytest.fixture
def learners(prerequisites):
    """LEARNERS fresh Unix accounts (room-learner-1, ...), removed with their homes afterwards."""
    names = [f"{room_setup.LEARNER_PREFIX}{i}" for i in range(1, LEARNERS + 1)]
    try:
        yield [room_setup.make_learner(name) for name in names]
    finally:
        for name in names:
            room_setup.remove_learner(name)
