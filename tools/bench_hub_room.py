"""How many learners one machine holds: a real JupyterHub room, N learners running one notebook at once.

    sudo .venv/bin/python -m tools.bench_hub_room                      # 1 2 4 8 16 learners: docs/hub_room.{json,md}
    sudo .venv/bin/python -m tools.bench_hub_room --learners 4 --threads 1 0  # also with one thread per core

(from the repository root, as a module: it imports its room harness as `tools.hub_room`).

For each N, a fresh hub (tools/hub_room.py: shared read-only models built once as root, one Unix account
per learner, shared-password login, LocalProcessSpawner, deploy/tljh/adapterlab.py) starts N servers,
then every learner's kernel runs the notebook at the same moment: the room at 9:00 pressing "Run all".
Measured: each notebook's wall time (its cells only), each server's start, and memory, sampled twice a
second: every learner's processes (single-user server and kernel) summed, as PSS (shared pages split
between the processes sharing them, so learners' sums add up to what the room really uses) and RSS.
An N is skipped, and says so, when the machine's free memory could not hold it with room to spare.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import pwd
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from tools import hub_room, room_setup

ROOT = Path(__file__).resolve().parents[1]
GB = 1e9
OS_RESERVE = 1 * GB  # left to the operating system when sizing a machine
HUB_OVERHEAD = 128e6  # TLJH's figure for the hub and its services (docs: resource estimation)
# TLJH: a user's limit is the measured peak plus 20-40% "to play around"; the low end, since a workshop
# runs the workbook's own notebooks, whose peaks are measured, rather than learners' own data.
HEADROOM = 1.2


class MemorySampler:
    """Samples, twice a second until stopped, the summed PSS and RSS of each account's processes."""

    def __init__(self, names: list[str], interval: float = 0.5):
        self.uids = {pwd.getpwnam(name).pw_uid: name for name in names}
        self.interval, self.peak_pss, self.peak_rss, self.room_pss = interval, {}, {}, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            pss, rss = dict.fromkeys(self.uids.values(), 0), dict.fromkeys(self.uids.values(), 0)
            for process in psutil.process_iter(["uids"]):
                name = self.uids.get(process.info["uids"].real) if process.info["uids"] else None
                if name is None:
                    continue
                try:
                    memory = process.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                pss[name] += memory.pss
                rss[name] += memory.rss
            for name in pss:
                self.peak_pss[name] = max(self.peak_pss.get(name, 0), pss[name])
                self.peak_rss[name] = max(self.peak_rss.get(name, 0), rss[name])
            self.room_pss = max(self.room_pss, sum(pss.values()))


def measure(names: list[str], models: Path, python: Path, notebook: str, threads: int) -> dict:
    """Runs one room of `names`; returns its figures."""
    # deploy/tljh/adapterlab.py sets one thread per kernel; 0 measures torch's default, one per core.
    environment = {"OMP_NUM_THREADS": str(threads or os.cpu_count())}
    load_before = os.getloadavg()[0]
    log = Path(tempfile.gettempdir()) / f"adapterlab-hub-room-{len(names)}-learners-{threads}-threads.log"
    with hub_room.Room(names, models, python, environment=environment, keep_log=log) as room:
        hub = psutil.Process(room.hub.pid)
        with MemorySampler(names) as memory:
            runs = hub_room.run_room(room, notebook)
        hub_rss = sum(p.memory_info().rss for p in [hub, *hub.children(recursive=True)]
                      if p.uids().real == 0)  # the hub and its proxy; learners' servers run as learners
    seconds = [run.seconds for run in runs if not run.errors]
    if not any(run.errors for run in runs):
        log.unlink()  # kept only to explain a failure
    return {
        "learners": len(names), "threads": _threads(threads),
        "all_finished": all(not run.errors for run in runs),
        "errors": [error for run in runs for error in run.errors],
        "log": str(log) if any(run.errors for run in runs) else None,
        "notebook_seconds": [round(s, 1) for s in seconds],
        "notebook_seconds_mean": round(sum(seconds) / len(seconds), 1) if seconds else None,
        "notebook_seconds_max": round(max(seconds), 1) if seconds else None,
        "server_start_seconds_mean": round(sum(run.spawn_seconds for run in runs) / len(runs), 1),
        "websocket_reconnects": sum(run.reconnects for run in runs),
        "peak_pss_per_learner_gb": round(max(memory.peak_pss.values()) / GB, 2),
        "peak_rss_per_learner_gb": round(max(memory.peak_rss.values()) / GB, 2),
        "room_peak_pss_gb": round(memory.room_pss / GB, 2),
        "hub_and_proxy_rss_gb": round(hub_rss / GB, 2),
        "load_average_before": round(load_before, 1),
        "load_average_after": round(os.getloadavg()[0], 1),
    }


def _threads(threads: int) -> str:
    return str(threads) if threads else f"{os.cpu_count()} (torch's default: one per core)"


def sizing(rooms: list[dict], memory_total: float) -> dict:
    """How many learners this machine's memory holds: by TLJH's rule, and as the rooms measured used it.

    TLJH's rule takes each learner's peak as a tool like jupyter-resource-usage shows it (RSS: shared pages
    counted in full for each learner), adds headroom, and multiplies by the learners. Learners of one
    machine share the libraries' pages, so the rooms' measured total (PSS) per learner is lower.
    """
    finished = [room for room in rooms if room.get("all_finished")]
    if not finished:
        return {}
    usable = memory_total - OS_RESERVE - HUB_OVERHEAD
    peak_rss = max(room["peak_rss_per_learner_gb"] for room in finished) * GB
    limit = math.ceil(peak_rss * HEADROOM / 0.25e9) * 0.25e9  # rounded up to a quarter GB
    largest = max(finished, key=lambda room: room["learners"])
    in_room = largest["room_peak_pss_gb"] * GB / largest["learners"]
    alone = [room["peak_pss_per_learner_gb"] for room in finished if room["learners"] == 1]
    return {
        "peak_rss_per_learner_gb": round(peak_rss / GB, 2),
        "peak_pss_per_learner_alone_gb": max(alone, default=None),
        "memory_limit_per_learner_gb": limit / GB, "learners_by_rule": int(usable // limit),
        "room_pss_per_learner_gb": round(in_room / GB, 2), "measured_in_room_of": largest["learners"],
        "learners_by_measured_room": int(usable // in_room),
        "rule": f"learners = (RAM - {OS_RESERVE / GB:.0f} GB for the system - 128 MB for the hub) / "
                f"(peak RSS x {HEADROOM}, rounded up to 0.25 GB)",
    }


def render(result: dict) -> str:
    machine, lines = result["machine"], []
    lines += [
        "# A workshop room on one machine: measured",
        "",
        f"Written by `python -m tools.bench_hub_room` on {machine['date']}: a real JupyterHub "
        f"{machine['jupyterhub']} on {machine['cores']} CPU cores and {machine['memory_gb']} GB of memory, "
        f"N learners (Unix accounts, LocalProcessSpawner) running `{result['notebook']}` at the same moment "
        "against one read-only shared model folder. Figures in `hub_room.json`; the machine's load average "
        "is written beside each row (other work on the machine inflates the times).",
        "",
        "Notebook time counts the notebook's cells, from the moment every learner's server is up. Memory is "
        "each learner's server and kernel together: PSS splits pages shared between processes (the shared "
        "model files, the libraries) among them, so learners' PSS adds up to what the room uses; RSS counts "
        "shared pages in full for each. A lost kernel websocket is reconnected with the same session, as "
        "JupyterLab does (the server replays what the kernel sent meanwhile): counted, not a failure.",
        "",
        "| learners | kernel threads | all finished | notebook time, mean / slowest | server start | "
        "peak memory per learner (PSS / RSS) | room's peak (PSS) | lost websockets | load before → after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for room in result["rooms"]:
        if room.get("skipped"):
            lines.append(f"| {room['learners']} | {room['threads']} | not run: {room['skipped']} | | | | | | |")
            continue
        lines.append(
            f"| {room['learners']} | {room['threads']} | {'yes' if room['all_finished'] else 'NO'} | "
            f"{room['notebook_seconds_mean']} s / {room['notebook_seconds_max']} s | "
            f"{room['server_start_seconds_mean']} s | {room['peak_pss_per_learner_gb']} / "
            f"{room['peak_rss_per_learner_gb']} GB | {room['room_peak_pss_gb']} GB | {room['websocket_reconnects']} | "
            f"{room['load_average_before']} → {room['load_average_after']} |")
    if size := result.get("sizing"):
        lines += [
            "",
            f"**Sizing.** TLJH's rule: a learner peaks at {size['peak_rss_per_learner_gb']} GB (RSS, as "
            f"jupyter-resource-usage shows it); with {HEADROOM - 1:.0%} headroom, a limit of "
            f"{size['memory_limit_per_learner_gb']} GB each, so this machine holds "
            f"**{size['learners_by_rule']} learners** at once ({size['rule']}). Measured: the room of "
            f"{size['measured_in_room_of']} used {size['room_pss_per_learner_gb']} GB per learner (PSS: learners "
            "share the libraries' pages), so the memory itself would hold about "
            f"{size['learners_by_measured_room']}; the rule's figure is the one to plan with. CPU does not stop "
            "a notebook, it slows it: read the notebook times above.",
        ]
    errors = [error for room in result["rooms"] for error in room.get("errors", [])]
    if errors:
        lines += ["", "Errors:", "", *[f"- {error}" for error in errors]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--threads", type=int, nargs="+", default=[1],
                        help="OMP_NUM_THREADS of every kernel; 0: one per core, torch's default")
    parser.add_argument("--notebook", default="00_start_here.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "hub_room", help="writes OUT.json and OUT.md")
    parser.add_argument("--render", action="store_true", help="only rewrite OUT.md (and the sizing) from OUT.json")
    args = parser.parse_args(argv)
    if args.render:
        result = json.loads(args.out.with_suffix(".json").read_text())
        machine = result["machine"]
        result["sizing"] = sizing(result["rooms"], machine.get("memory_bytes") or machine["memory_gb"] * GB)
        return write(result, args.out)
    if problems := room_setup.missing_prerequisites():
        print("cannot host the room here:\n- " + "\n- ".join(problems), file=sys.stderr)
        return 2
    import jupyterhub

    memory_total = psutil.virtual_memory().total
    names = [f"{room_setup.LEARNER_PREFIX}{i}" for i in range(1, max(args.learners) + 1)]
    rooms: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="adapterlab-room-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)
        print("building the shared models as root ...", flush=True)
        room_setup.build_shared_models(folder / "models")
        python = room_setup.learner_python(folder / "learner-env")
        try:
            for name in names:
                room_setup.make_learner(name)
            for threads in args.threads:
                per_learner = None  # the room's peak over its learners in the last room: predicts the next
                for n in sorted(args.learners):
                    available = psutil.virtual_memory().available
                    if per_learner and n * per_learner * 1.5 + 2 * GB > available:
                        rooms.append({"learners": n, "threads": _threads(threads),
                                      "skipped": f"{available / GB:.1f} GB free could not hold {n} learners"})
                        continue
                    print(f"{n} learner(s), threads={_threads(threads)} ...", flush=True)
                    room = measure(names[:n], folder / "models", python, args.notebook, threads)
                    per_learner = room["room_peak_pss_gb"] * GB / n
                    print(json.dumps(room), flush=True)
                    rooms.append(room)
        finally:
            for name in names:
                room_setup.remove_learner(name)
    result = {
        "machine": {"cores": os.cpu_count(), "memory_gb": round(memory_total / GB, 1), "memory_bytes": memory_total,
                    "platform": platform.platform(),
                    "jupyterhub": jupyterhub.__version__, "date": time.strftime("%Y-%m-%d")},
        "notebook": args.notebook, "rooms": rooms, "sizing": sizing(rooms, memory_total),
    }
    return write(result, args.out)


def write(result: dict, out: Path) -> int:
    """Writes OUT.json and OUT.md; returns 1 if a room had a learner whose notebook did not finish."""
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    out.with_suffix(".md").write_text(render(result))
    print(render(result))
    return 0 if all(room.get("all_finished", True) for room in result["rooms"]) else 1


if __name__ == "__main__":
    sys.exit(main())
