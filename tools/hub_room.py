"""A workshop room on this machine: a real JupyterHub whose learners run notebooks at the same time.

Once the administrator's part is done (tools/room_setup.py: shared read-only models, learner accounts),
JupyterHub starts on 127.0.0.1 with a shared-password login and the LocalProcessSpawner, so every
learner's server and kernel run under the learner's own account, with the workbook's hub settings
(deploy/tljh/adapterlab.py). Every learner logs in through the login form, the hub starts their servers
(REST API, with an admin service token), and every learner's kernel runs a notebook at the same time,
cell by cell, over the single-user server's kernel websocket.

Used by tests/hub/ (the room test) and tools/bench_hub_room.py (how many learners one machine holds).
Needs root, `useradd`, JupyterHub and configurable-http-proxy (`make hub` installs both).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tools.room_setup import VENV_BIN, RoomError, find_proxy

ROOT = Path(__file__).resolve().parents[1]
HUB_SETTINGS = ROOT / "deploy" / "tljh" / "adapterlab.py"
# A cell that reports who runs the kernel and where, then writes what a learner's work writes: a
# progress record and a saved adapter. Run in each learner's kernel after the notebook.
PROBE = """\
import json, os, pwd
from adapterlab import progress
from adapterlab.models import load_model
from peft import LoraConfig, get_peft_model
progress.record("room-check", True)
assert load_model("gpt2").num_parameters() == 124_439_808  # read from the shared, read-only model folder
model = get_peft_model(load_model("gpt2-mini"), LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True))
model.save_pretrained("room-adapter")
print(json.dumps({"user": pwd.getpwuid(os.getuid()).pw_name, "home": os.path.expanduser("~"), "cwd": os.getcwd(),
                  "cache": os.environ.get("ADAPTERLAB_CACHE"), "progress": str(progress.progress_file())}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Run:
    """One learner's notebook run: how long it took, and what went wrong (empty: nothing)."""

    learner: str
    notebook: str
    cells: int = 0
    seconds: float = 0.0
    spawn_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    probe: dict = field(default_factory=dict)
    reconnects: int = 0  # lost kernel websockets, reconnected as JupyterLab would


class Room:
    """A running JupyterHub for `learners` on 127.0.0.1; a context manager that stops everything it started."""

    def __init__(self, learners: list[str], models: Path, python: Path, notebooks: Path = ROOT / "notebooks",
                 environment: dict[str, str] | None = None, keep_log: Path | None = None):
        import requests

        self.learners, self.models, self.python, self.notebooks = learners, models, python, notebooks
        self.environment = environment or {}
        self.keep_log = keep_log  # where the hub's log (learners' servers log there too) is copied at the end
        self.password = secrets.token_urlsafe(12)
        self.token = secrets.token_hex(32)
        self.workdir = Path(tempfile.mkdtemp(prefix="adapterlab-hub-"))  # 0700: the hub's secrets
        self.url = f"http://127.0.0.1:{_free_port()}"
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"token {self.token}"
        self.hub: subprocess.Popen | None = None

    # ------------------------------------------------------------------------------------ the hub

    def _config(self) -> str:
        settings = {
            "bind_url": self.url, "hub_bind_url": f"http://127.0.0.1:{_free_port()}",
            "proxy_api": f"http://127.0.0.1:{_free_port()}", "proxy": find_proxy(), "password": self.password,
            "learners": self.learners, "token": self.token, "environment": self.environment,
            "workdir": str(self.workdir), "settings": str(HUB_SETTINGS),
        }
        return f"""\
import json
room = json.loads({json.dumps(json.dumps(settings))})
c.JupyterHub.bind_url = room["bind_url"]
c.JupyterHub.hub_bind_url = room["hub_bind_url"]
c.ConfigurableHTTPProxy.api_url = room["proxy_api"]
c.ConfigurableHTTPProxy.command = [room["proxy"]]
c.JupyterHub.db_url = "sqlite:///" + room["workdir"] + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = room["workdir"] + "/jupyterhub_cookie_secret"
# A workshop login: one shared password, only the room's learners (DummyAuthenticator's password is
# deprecated since JupyterHub 5.3 in favour of this authenticator).
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = room["password"]
c.Authenticator.allowed_users = set(room["learners"])
# Each learner's server runs as the learner's own Unix account (made with useradd).
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 300
# The room's administrator: a service whose token may start and use every learner's server.
c.JupyterHub.services = [{{"name": "room-admin", "api_token": room["token"]}}]
c.JupyterHub.load_roles = [{{"name": "room-admin", "services": ["room-admin"],
                            "scopes": ["admin:users", "admin:servers", "access:servers"]}}]
load_subconfig(room["settings"])
c.Spawner.environment.update(room["environment"])  # the harness's own settings (a benchmark's threads) win
"""

    def __enter__(self) -> Room:
        (self.workdir / "jupyterhub_config.py").write_text(self._config())
        path = os.pathsep.join([str(self.python.parent), str(VENV_BIN), os.environ["PATH"]])
        env = {**os.environ, "PATH": path,
               "ADAPTERLAB_ROOM_MODELS": str(self.models), "ADAPTERLAB_ROOM_NOTEBOOKS": str(self.notebooks)}
        for name in ("ADAPTERLAB_CACHE", "ADAPTERLAB_PROGRESS", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR"):
            env.pop(name, None)  # a learner's kernel must get these from the hub's settings or its own home
        self.log = self.workdir / "jupyterhub.log"
        with open(self.log, "w") as handle:
            self.hub = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", "jupyterhub_config.py"],
                                        cwd=self.workdir, env=env, stdout=handle, stderr=subprocess.STDOUT)
        try:
            self._wait(lambda: self.api.get(f"{self.url}/hub/api/", timeout=2).ok, 90, "JupyterHub to answer")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.hub is not None:
            for name in self.learners:  # stop servers first: the hub stops them with their kernels
                try:
                    self.api.delete(f"{self.url}/hub/api/users/{name}/server", timeout=30)
                except OSError:
                    pass
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and any(self._server(n) for n in self.learners):
                time.sleep(0.5)
            self.hub.terminate()
            try:
                self.hub.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.hub.kill()
                self.hub.wait()
            self.hub = None
        if self.keep_log:
            shutil.copyfile(self.log, self.keep_log)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.hub.poll() is not None:
                raise RoomError(f"JupyterHub exited ({self.hub.returncode}) waiting for {what}:\n{self.log_tail()}")
            try:
                if ready():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RoomError(f"gave up after {timeout:.0f} s waiting for {what}:\n{self.log_tail()}")
            time.sleep(0.5)

    def _server(self, name: str) -> dict:
        answer = self.api.get(f"{self.url}/hub/api/users/{name}", timeout=10)
        return answer.json().get("servers", {}).get("", {}) if answer.ok else {}

    # ------------------------------------------------------------------------------------ a learner

    def login(self, name: str) -> None:
        """Logs `name` in through the hub's login form with the room's password, as a browser would."""
        import requests

        browser = requests.Session()
        form = browser.get(f"{self.url}/hub/login", timeout=30)
        xsrf = re.search(r'name="_xsrf"\s+value="([^"]+)"', form.text)
        answer = browser.post(f"{self.url}/hub/login", timeout=30, allow_redirects=False,
                              data={"username": name, "password": self.password,
                                    "_xsrf": xsrf.group(1) if xsrf else ""})
        if answer.status_code != 302 or not any(c.name.startswith("jupyterhub-") for c in browser.cookies):
            raise RoomError(f"{name} could not log in ({answer.status_code}): {answer.text[:300]}")

    def start_server(self, name: str, timeout: float = 300) -> float:
        """Starts `name`'s server through the REST API; returns the seconds until it answered."""
        start = time.monotonic()
        answer = self.api.post(f"{self.url}/hub/api/users/{name}/server", timeout=60)
        if answer.status_code not in (201, 202):
            raise RoomError(f"the hub did not start {name}'s server ({answer.status_code}): {answer.text[:300]}")
        self._wait(lambda: self._server(name).get("ready"), timeout, f"{name}'s server")
        return time.monotonic() - start

    def run_notebook(self, name: str, notebook: str, timeout: float = 600, first: int | None = None) -> Run:
        """Runs the code cells of ~/workbook/`notebook` (all, or the `first` N) in a new kernel of `name`'s
        server, then PROBE."""
        run = Run(name, notebook)
        base = f"{self.url}/user/{name}"
        path = f"workbook/{notebook}"
        content = self.api.get(f"{base}/api/contents/{path}", timeout=60)
        if not content.ok:
            raise RoomError(f"{name}'s server has no {path} ({content.status_code}): {content.text[:300]}")
        cells = [c for c in content.json()["content"]["cells"] if c["cell_type"] == "code"][:first]
        session = self.api.post(f"{base}/api/sessions", timeout=60, json={
            "path": path, "name": notebook, "type": "notebook", "kernel": {"name": "python3"}}).json()
        kernel = session["kernel"]["id"]
        kernel_socket = KernelSocket(
            f"{base.replace('http', 'ws', 1)}/api/kernels/{kernel}/channels?session_id={session['id']}", self.token)
        try:
            start = time.monotonic()
            for index, cell in enumerate(cells):
                error, _ = kernel_socket.execute("".join(cell["source"]), time.monotonic() + timeout)
                run.cells += 1
                if error:
                    run.errors.append(f"{name}: {notebook}, code cell {index + 1} of {len(cells)}: {error}")
                    break
            run.seconds = time.monotonic() - start
            if not run.errors:
                error, out = kernel_socket.execute(PROBE, time.monotonic() + timeout)
                if error:
                    run.errors.append(f"{name}: the check after the notebook failed: {error}")
                else:
                    run.probe = json.loads(out.strip().splitlines()[-1])
        finally:
            run.reconnects = kernel_socket.reconnects
            kernel_socket.close()
            self.api.delete(f"{base}/api/sessions/{session['id']}", timeout=60)
        return run


class KernelSocket:
    """A kernel's websocket (jupyter_server's channels), executing code as a notebook frontend does.

    When the connection drops (it can, on a machine run flat out), it reconnects with the same session
    id, as JupyterLab does: the server keeps the kernel's messages meanwhile and replays them.
    """

    MAX_RECONNECTS = 3

    def __init__(self, url: str, token: str):
        from jupyter_client.session import Session

        self.url, self.token, self.reconnects = url, token, 0
        self.session = Session(username="")  # builds protocol messages: header, msg_id, date, protocol version
        self.ws = self._connect()

    def _connect(self):
        import websocket

        return websocket.create_connection(self.url, header=[f"Authorization: token {self.token}"], timeout=60)

    def _reconnect(self) -> None:
        if self.reconnects >= self.MAX_RECONNECTS:
            raise RoomError(f"lost the kernel's websocket {self.reconnects + 1} times")
        self.reconnects += 1
        self.ws = self._connect()

    def close(self) -> None:
        self.ws.close()

    def execute(self, code: str, deadline: float) -> tuple[str, str]:
        """Runs `code`; returns (error or '', what it printed)."""
        from jupyter_client.jsonutil import json_default
        from websocket import WebSocketConnectionClosedException, WebSocketTimeoutException

        message = self.session.msg("execute_request", content={
            "code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False,
            "stop_on_error": True})
        msg_id = message["msg_id"]
        # jupyter_server's JSON websocket protocol: the message plus the channel it goes to.
        request = json.dumps({**message, "channel": "shell"}, default=json_default)  # json_default: the header's date
        while True:
            try:
                self.ws.send(request)
                break
            except (WebSocketConnectionClosedException, ConnectionError):
                self._reconnect()
        error, printed, replied, idle = "", [], False, False
        while not (replied and idle):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return f"no answer from the kernel in time (last output: {''.join(printed)[-300:]!r})", "".join(printed)
            try:
                self.ws.settimeout(remaining)
                frame = self.ws.recv()
            except WebSocketTimeoutException:
                continue  # the deadline check above answers
            except (WebSocketConnectionClosedException, ConnectionError):
                self._reconnect()
                continue
            if not isinstance(frame, str):
                continue  # binary frames carry widget buffers
            msg = json.loads(frame)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content.get("name") == "stdout":
                printed.append(content["text"])
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}"
            elif kind == "execute_reply":
                replied = True
                if content["status"] != "ok" and not error:
                    error = f"{content.get('ename', content['status'])}: {content.get('evalue', '')}"
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        return error, "".join(printed)


def run_room(room: Room, notebook: str, first: int | None = None) -> list[Run]:
    """Every learner of `room` logs in and gets a server; once all are up, all run `notebook` at once.

    `first`: run only the notebook's first N code cells (then PROBE), as the room test does.
    """
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier, BrokenBarrierError

    together = Barrier(len(room.learners))

    def learner(name: str) -> Run:
        run = Run(name, notebook)
        try:
            room.login(name)
            run.spawn_seconds = room.start_server(name)
        except Exception as exc:  # one learner's failure is reported, the others still run
            together.abort()
            run.errors.append(f"{name}: {exc}")
            return run
        try:
            together.wait(timeout=600)
        except BrokenBarrierError:
            pass  # another learner failed to start: run anyway, so their failure is not the only news
        try:
            ran = room.run_notebook(name, notebook, first=first)
        except Exception as exc:
            run.errors.append(f"{name}: {type(exc).__name__}: {exc}")
            return run
        ran.spawn_seconds = run.spawn_seconds
        return ran

    with ThreadPoolExecutor(len(room.learners)) as pool:
        return list(pool.map(learner, room.learners))
