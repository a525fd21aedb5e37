"""What the administrator of a one-machine room does before the hub starts, done for a test.

The Littlest JupyterHub's set-up: the models built once, as root, into a shared folder made read-only for
everyone else; one Unix account per learner (`useradd`), never root; a Python every account may run.
tools/hub_room.py then starts the hub; tests/hub/ and tools/bench_hub_room.py use both.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

VENV_BIN = Path(sys.executable).parent  # the workbook's environment: hub, single-user servers and kernels
LEARNER_PREFIX = "room-learner-"


class RoomError(RuntimeError):
    """The room could not be set up or a learner's run failed; the message says where."""


def find_proxy() -> str | None:
    """Returns configurable-http-proxy: the one `make hub` installed beside the venv, else the one on PATH."""
    local = VENV_BIN.parent / "node_modules" / ".bin" / "configurable-http-proxy"
    return str(local) if local.exists() else shutil.which("configurable-http-proxy")


def _unreadable_by_others(path: Path) -> Path | None:
    """Returns the first folder on the way to `path` (or `path` itself) another account cannot read."""
    path = path.resolve()
    for folder in [*reversed(path.parents), path]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH or (folder == path and not mode & stat.S_IROTH):
            return folder
    return None


def missing_prerequisites() -> list[str]:
    """Returns what this machine lacks to host the room, one sentence each (empty: ready)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the room test makes Unix accounts and starts servers as them, so it must run as root")
    if not shutil.which("useradd"):
        problems.append("`useradd` is not on PATH (Debian/Ubuntu: the passwd package)")
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        problems.append("JupyterHub is not installed in this environment (`make hub` installs it)")
    if not find_proxy():
        problems.append("configurable-http-proxy is not installed (`make hub` installs it with npm; needs node)")
    import adapterlab

    for needed in (Path(sysconfig.get_path("purelib")), Path(adapterlab.__file__).parent):
        if blocked := _unreadable_by_others(needed):
            problems.append(f"learners' accounts cannot reach {needed} because {blocked} is closed to other "
                            "accounts: put the workbook and its .venv under a folder everyone can read (e.g. /srv)")
    if _unreadable_by_others(Path(sys.executable)) and not _reachable_python():
        problems.append(f"learners' accounts cannot run {Path(sys.executable).resolve()}, and no other Python "
                        f"{sys.version_info.major}.{sys.version_info.minor} on PATH is open to them")
    return problems


def _reachable_python() -> str | None:
    """Returns a Python of this version that every account can run, or None."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for name in (f"python{version}", "python3"):
        found = shutil.which(name, path=os.defpath + os.pathsep + os.environ.get("PATH", ""))
        if found and not _unreadable_by_others(Path(found)):
            ask = [found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
            if subprocess.run(ask, capture_output=True, text=True).stdout.strip() == version:
                return found
    return None


def learner_python(folder: Path) -> Path:
    """Returns the Python learners' servers and kernels run (its folder goes first on their PATH).

    That is the workbook's own when other accounts can reach it.

    A venv's interpreter is a link to the Python it was made from; when that lives where other accounts
    cannot go (pyenv under /root, say), this makes, in `folder`, a venv from a Python of the same version
    that they can run, which sees the workbook's installed packages through a .pth file: the same
    packages, run by an interpreter the learners may start. (On a real hub the environment is installed
    where every account can read it, like TLJH's /opt/tljh/user, and this is not needed.)
    """
    if not _unreadable_by_others(Path(sys.executable)):
        return Path(sys.executable)
    base = _reachable_python()
    if base is None:
        raise RoomError("no Python of this version that learners' accounts can run: see missing_prerequisites()")
    _run([base, "-m", "venv", "--without-pip", str(folder)])
    python = folder / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
    # addsitedir, not a bare path: it also runs the .pth files there (the editable install of adapterlab).
    line = f"import site; site.addsitedir({sysconfig.get_path('purelib')!r})\n"
    (Path(purelib) / "adapterlab-workbook.pth").write_text(line)
    # The hub starts `jupyterhub-singleuser` from PATH; the workbook's own script names the unreachable Python.
    script = folder / "bin" / "jupyterhub-singleuser"
    script.write_text(f"#!{python}\nimport sys\nfrom jupyterhub.singleuser import main\nsys.exit(main())\n")
    script.chmod(0o755)
    _run(["chmod", "-R", "a+rX", str(folder)])
    return python


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RoomError(f"`{' '.join(command)}` failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")
    return done


def build_shared_models(folder: Path, built: Path | None = None) -> dict[str, int]:
    """Builds the models into `folder` as the administrator does, then makes it read-only for learners.

    Args:
        folder: the shared model folder to make.
        built: a model cache `python -m adapterlab build` already made (make test's build/models): copied,
            modes and all, instead of building the 500 MB gpt2 again. The build then only checks it is current.

    Returns:
        The modes the build itself left, {relative path: st_mode}, before the `chmod`: what a learner would
        meet if the administrator forgot it.
    """
    if built is not None:
        shutil.copytree(built, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.lock"))
    folder.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "adapterlab", "build"], env={**os.environ, "ADAPTERLAB_CACHE": str(folder)})
    modes = {str(p.relative_to(folder)): p.stat().st_mode for p in sorted(folder.rglob("*"))}
    _run(["chmod", "-R", "a+rX,a-w", str(folder)])  # docs/JUPYTERHUB.md tells the administrator the same
    folder.chmod(0o555)
    return modes


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Returns {relative path: (size, mtime_ns)} of everything under `folder`: to show nothing was written."""
    return {str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in folder.rglob("*")}


def make_learner(name: str) -> pwd.struct_passwd:
    """Makes Unix account `name` with a fresh home (an old one of that name, with its home, is removed first)."""
    remove_learner(name)
    _run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name])
    return pwd.getpwnam(name)


def remove_learner(name: str) -> None:
    """Removes account `name` and its home, if it exists."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    subprocess.run(["userdel", "--remove", name], capture_output=True)
