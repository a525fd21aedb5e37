"""A real JupyterLab server and a headless Chromium for the browser test.

The server runs on loopback with a token, from a temporary copy of notebooks/ (the committed notebooks
are never touched), with its own empty Jupyter config, settings and progress file. The browser is the
system's Chromium (Debian's `chromium`), driven by Playwright from PyPI: Playwright's own browser
download is not needed. No Chromium: the test is skipped with the reason, except under CI=true, where
the browser is installed on purpose and a missing one is a failure.

The browser test only runs when asked for (`pytest tests/browser`, `-m browser` or `make browser-test`),
so `pytest tests` stays quick; screenshots go to `build/browser-screenshots` (or ADAPTERLAB_SCREENSHOTS).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
# Where the notebooks come from; ADAPTERLAB_BROWSER_NOTEBOOKS points the test at another folder.
NOTEBOOKS = Path(os.environ.get("ADAPTERLAB_BROWSER_NOTEBOOKS") or ROOT / "notebooks")
SCREENSHOTS = Path(os.environ.get("ADAPTERLAB_SCREENSHOTS") or ROOT / "build" / "browser-screenshots")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# The flags a root user needs in a container, and quiet ones: no network calls of the browser's own.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# JupyterLab settings for the run: every cell stays in the page (the default windowing keeps cells
# out of view out of the DOM, so they could not be checked), and no news or update pop-ups.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}


def in_ci() -> bool:
    """True where the environment says CI (GitHub Actions, GitLab and most others set CI=true)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(reason: str):
    """Skips the browser test with `reason`, or fails it under CI, where the browser must be there."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}. CI installs it with tools/install_browser.sh.", pytrace=False)
    pytest.skip(f"browser test skipped: {reason}. Install it with tools/install_browser.sh (or `make browser`).")


def find_chromium() -> str | None:
    """Returns the Chromium to drive: CHROMIUM if set, else the first of CHROMIUM_NAMES on PATH."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    return None


# ----------------------------------------------------------------------------- run only when asked

_session = {"screenshots": False}  # whether this run took screenshots (the summary names their folder)


def _asked_for_browser(config: pytest.Config) -> bool:
    markexpr = config.getoption("markexpr", "") or ""
    if "browser" in markexpr and "not browser" not in markexpr:
        return True
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # One test per notebook, named by its file: whatever notebooks/ holds when the tests are collected.
    if "notebook" in metafunc.fixturenames:
        metafunc.parametrize("notebook", sorted(path.name for path in NOTEBOOKS.glob("*.ipynb")))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _asked_for_browser(config):
        return
    browser = [item for item in items if item.get_closest_marker("browser")]
    if browser:
        config.hook.pytest_deselected(items=browser)
        items[:] = [item for item in items if not item.get_closest_marker("browser")]


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _session["screenshots"] and any(SCREENSHOTS.iterdir()):
        terminalreporter.write_sep("-", "browser test")
        terminalreporter.write_line(f"screenshots of each notebook after its run: {SCREENSHOTS}")
        timings = SCREENSHOTS / "timings.json"
        if timings.is_file():
            for name, seconds in json.loads(timings.read_text()).items():
                terminalreporter.write_line(f"  {name:<40}{seconds:7.1f} s to run all cells in the browser")


# ----------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: where it is and what it serves."""

    url: str
    token: str
    root: Path  # the temporary copy of the notebooks
    progress: Path  # ADAPTERLAB_PROGRESS of its kernels
    log: Path
    timings: dict[str, float] = field(default_factory=dict)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory):
    """Starts JupyterLab on 127.0.0.1 (free port, random token, no browser) and stops it afterwards."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for relative, values in LAB_SETTINGS.items():
        path = base / "user-settings" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    # A learner's own Jupyter/IPython config, kernels or progress must not change what the test sees.
    env = dict(os.environ)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[var] = str(base / var.lower())
    env["ADAPTERLAB_PROGRESS"] = str(base / "progress.json")
    env["ADAPTERLAB_WORK"] = str(base / "work")  # apart from the nbval run, which may run at the same time
    env.pop("MPLBACKEND", None)
    port, token = _free_port(), secrets.token_hex(24)
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={base / 'user-settings'}", f"--LabApp.workspaces_dir={base / 'workspaces'}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run commands, read cell models
        "--ServerApp.terminals_enabled=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
        command.append("--allow-root")
    log = base / "jupyterlab.log"
    with open(log, "w") as handle:
        server = subprocess.Popen(command, cwd=root, env=env, stdout=handle, stderr=subprocess.STDOUT)
    found = Lab(f"http://127.0.0.1:{port}", token, root, base / "progress.json", log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with status {server.returncode}:\n{found.log_tail()}", pytrace=False)
            try:
                request = urllib.request.Request(f"{found.url}/api/status", headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within 90 s:\n{found.log_tail()}", pytrace=False)
            time.sleep(0.5)
        yield found
    finally:
        server.terminate()  # jupyter_server shuts its kernels down on SIGTERM
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        if found.timings:
            (SCREENSHOTS / "timings.json").write_text(json.dumps(found.timings, indent=1))


# ----------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """The folder for this run's screenshots, emptied first so every picture in it is from this run."""
    if SCREENSHOTS.is_dir():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    _session["screenshots"] = True
    return SCREENSHOTS


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory):
    """A headless Chromium with a new, empty profile, driven by Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the Python package playwright is not installed (it is in the dev extras: pip install -e '.[dev]')")
    executable = find_chromium()
    if executable is None:
        missing(f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)} on PATH, or CHROMIUM)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        try:
            # A persistent context is how Playwright passes --user-data-dir: a new empty one per run.
            context = playwright.chromium.launch_persistent_context(
                str(profile), executable_path=executable, headless=True, args=CHROMIUM_FLAGS,
                viewport={"width": 1400, "height": 1000}, timeout=60_000,
            )
        except Exception as exc:  # Playwright raises its own Error; say which browser failed and why
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            pytest.fail(f"Chromium at {executable} did not start: {first}", pytrace=False)
        try:
            yield context
        finally:
            context.close()
