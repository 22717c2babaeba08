"""`emspool demo`: the main job on one host — a lab of simulated NEs, one agent on
the embedded SQLite database, scripted faults, and the live view in the terminal."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from agent import busclient
from agent.db import Database, migrate
from agent.watch import watch
from lab.fleet import Lab
from shared.errors import EmspoolError, LabError

log = logging.getLogger(__name__)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_agent_config(
    path: Path, node_id: str, data_dir: Path, db_url: str, interval: float
) -> tuple[str, int]:
    router = f"tcp://127.0.0.1:{free_port()}"
    pub = f"tcp://127.0.0.1:{free_port()}"
    trap_port = free_port(socket.SOCK_DGRAM)
    path.write_text(
        f"""# written by `emspool demo`
[agent]
node_id = "{node_id}"
data_dir = "{data_dir}"

[database]
url = "{db_url}"

[bus]
router = "{router}"
pub = "{pub}"

[traps]
host = "127.0.0.1"
port = {trap_port}

[polling]
interval = {interval}
timeout = 1.0
retries = 1

[alarms]
restart_hold = 60
""",
        encoding="utf-8",
    )
    return router, trap_port


def start_agent(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as logf:
        return subprocess.Popen(
            [sys.executable, "-m", "agent.main", "--config", str(config)],
            stdout=logf,
            stderr=subprocess.STDOUT,
        )


def wait_for_agent(endpoint: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmspoolError(f"the agent exited with code {proc.returncode}; see its log")
        try:
            busclient.request(endpoint, "ping", timeout=0.5)
            return
        except busclient.Unreachable:
            continue
    raise EmspoolError(f"the agent did not answer on {endpoint} within {timeout:g} s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def fault_scenario(lab: Lab, trap_target: tuple[str, int], stop: threading.Event) -> None:
    """Faults a NOC would see, one after another, each undone after a while."""
    names = [d.name for d in lab.devices]
    netconf = {d.name for d in lab.devices if d.protocol == "netconf"}
    step = 12.0

    def trap(name: str, kind: str, ifindex: int) -> None:
        if name not in netconf:  # NETCONF devices send their own notifications
            lab.send_trap(name, kind, trap_target, ifindex=ifindex)

    if stop.wait(step):  # let the first polls learn the NEs before anything breaks
        return
    for n in itertools.count():
        a, b, c = (names[(n + k) % len(names)] for k in (0, 1, 2))
        ifindex = 1 + n % 4
        try:
            lab.if_down(a, ifindex)
            trap(a, "linkDown", ifindex)
            if stop.wait(step):
                return
            lab.unreachable(b)
            for nc in sorted(netconf)[:1]:
                lab.raise_alarm(nc, "lab:fan-failure", "fan-tray-1", "critical", "fan 1 stopped")
            if stop.wait(step):
                return
            lab.if_up(a, ifindex)
            trap(a, "linkUp", ifindex)
            if stop.wait(step):
                return
            lab.reachable(b)
            for nc in sorted(netconf)[:1]:
                lab.clear_alarm(nc, "lab:fan-failure", "fan-tray-1")
            if n % 2 == 0:
                lab.restart(c, trap_target=None if c in netconf else trap_target)
            if stop.wait(step):
                return
        except LabError as e:
            log.warning("fault injection failed: %s", e)
            if stop.wait(step):
                return


def run_demo(args: argparse.Namespace) -> int:
    root = Path(args.dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    lab_dir = root / "lab"
    if (lab_dir / "lab.json").exists():
        Lab.open(lab_dir).stop()  # a previous demo's devices, by their recorded PIDs
    print(
        f"starting a lab of {args.count} simulated NEs ({args.topology}, "
        f"{args.netconf_share:.0%} NETCONF) ...",
        flush=True,
    )
    lab = Lab.create(
        lab_dir,
        count=args.count,
        topology_kind=args.topology,
        netconf_share=args.netconf_share,
        netconf_port=free_port(),
    )
    agent_proc: subprocess.Popen[bytes] | None = None
    stop = threading.Event()
    try:
        took = lab.start()
        print(f"lab up in {took:.1f} s; inventory {lab.inventory_path}", flush=True)
        db_url = f"sqlite:///{root / 'emspool.db'}"
        migrate(db_url)
        db = Database.open(db_url)
        try:
            db.import_inventory(json.loads(lab.inventory_path.read_text()))
        finally:
            db.close()
        config = root / "agent.toml"
        router, trap_port = write_agent_config(
            config, "demo-agent", root / "agent", db_url, args.interval
        )
        agent_proc = start_agent(config, root / "agent.log")
        wait_for_agent(router, agent_proc, 30.0)
        print(f"agent up (log {root / 'agent.log'}); live view follows", flush=True)
        if not args.no_faults:
            threading.Thread(
                target=fault_scenario,
                args=(lab, ("127.0.0.1", trap_port), stop),
                daemon=True,
                name="faults",
            ).start()
        os.environ.setdefault("EMSPOOL_AGENT", router)
        return watch(router, None, duration=args.duration)
    finally:
        stop.set()
        if agent_proc is not None:
            stop_process(agent_proc)
        lab.stop()
        print("demo stopped: agent and lab processes ended", flush=True)
