"""`emspool demo`: the main job on one host — a lab of simulated NEs, a pool of three
agents on the embedded SQLite database, scripted faults (a failover of the master among
them), and the live view of the pool in the terminal.

It is part of the lab, not of the agent package: `emspool` finds it through the
``emspool.cli`` entry-point group (see ``register``)."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from agent.watch import watch
from lab.harness import AgentPool, client_for, free_port, sqlite_pool
from lab.state import DEFAULT_BASE
from shared.errors import EmspoolError, LabError

if TYPE_CHECKING:
    from lab.fleet import Lab

log = logging.getLogger(__name__)


AGENTS = {"demo-a": 300, "demo-b": 200, "demo-c": 100}  # node id -> priority


def fault_scenario(
    lab: Lab,
    pool: AgentPool,
    trap_target: tuple[str, int],
    stop: threading.Event,
    step: float = 12.0,
) -> None:
    """Faults a NOC would see, one after another, each undone after a while; every other
    round the master is killed (kill -9) and brought back, so a failover happens on screen.
    Traps all go to one agent, as NEs usually have one trap destination: the others' NEs'
    traps are forwarded to their owners."""
    names = [d.name for d in lab.devices]
    netconf = {d.name for d in lab.devices if d.protocol == "netconf"}

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
            if n % 2 == 1:
                _fail_over(pool, stop, step)
            if stop.wait(step):
                return
            lab.reachable(b)
            for nc in sorted(netconf)[:1]:
                lab.clear_alarm(nc, "lab:fan-failure", "fan-tray-1")
            if n % 2 == 0:
                lab.restart(c, trap_target=None if c in netconf else trap_target)
            if stop.wait(step):
                return
        except (LabError, EmspoolError) as e:
            log.warning("fault injection failed: %s", e)
            if stop.wait(step):
                return


def _fail_over(pool: AgentPool, stop: threading.Event, step: float) -> None:
    """kill -9 the master, let the pool take over, bring it back (it waits its hold-down
    before it takes the master role back)."""
    found = pool.master()
    if found is None:
        return
    master = found[0]
    log.warning("demo: killing the master %s (kill -9)", master)
    pool.kill(master)
    if stop.wait(step):
        return
    log.warning("demo: starting %s again", master)
    pool.start(master, wait=0)


def _start_console(
    args: argparse.Namespace, db_url: str, key: Path, root: Path
) -> subprocess.Popen[bytes] | None:
    """The console window beside the terminal view, where there is a screen to show it."""
    if args.no_console:
        return None
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print(
            "no display here (DISPLAY and WAYLAND_DISPLAY are not set): the console window "
            "needs one, so the live view is the terminal's (emspool watch)",
            flush=True,
        )
        return None
    log = root / "console.log"
    print(f"opening the console window (its log: {log})", flush=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "console.main", "--db", db_url, "--key", str(key)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def run_demo(args: argparse.Namespace) -> int:
    # Heavy (pysnmp, snmpsim): loaded only when the demo runs, not for --help.
    from lab.fleet import Lab

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
        base_address=args.base,
    )
    stop = threading.Event()
    pool: AgentPool | None = None
    console: subprocess.Popen[bytes] | None = None
    try:
        took = lab.start()
        print(f"lab up in {took:.1f} s; inventory {lab.inventory_path}", flush=True)
        db = root / "emspool.db"
        db.unlink(missing_ok=True)  # a fresh pool each run: no members of an old demo
        shutil.rmtree(root / "agents", ignore_errors=True)
        db_url = sqlite_pool(db, json.loads(lab.inventory_path.read_text()))
        pool = AgentPool(root / "agents", db_url, interval=args.interval)
        for node, priority in list(AGENTS.items())[: args.agents]:
            pool.add(node, priority=priority)
        # The demo's live view is an operator like any other: a key made the real way.
        key = pool.user("demo-operator")
        pool.start_all(wait=120.0)  # generous: a loaded laptop
        master, epoch = pool.wait_for_master(120.0)
        print(
            f"{len(pool.agents)} agents up (logs under {root / 'agents'}), master {master} "
            f"epoch {epoch}; live view follows",
            flush=True,
        )
        first = next(iter(pool.agents.values()))
        if not args.no_faults:
            threading.Thread(
                target=fault_scenario,
                args=(lab, pool, first.trap, stop, args.fault_step),
                daemon=True,
                name="faults",
            ).start()
        os.environ.setdefault("EMSPOOL_KEY", str(key))
        console = _start_console(args, db_url, key, root)
        with client_for(db_url, key) as client:  # a random agent of the pool
            return watch(client, None, duration=args.duration)
    finally:
        stop.set()
        if console is not None and console.poll() is None:
            console.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                console.wait(10)
        if pool is not None:
            pool.close()
        lab.stop()
        print("demo stopped: agents and lab processes ended", flush=True)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo`` to the ``emspool`` sub-commands (the ``emspool.cli`` entry point)."""
    p = subparsers.add_parser(
        "demo", help="lab + a pool of agents + live view, with scripted faults and a failover"
    )
    p.add_argument("--agents", type=int, default=3, choices=(1, 2, 3), help="agents in the pool")
    p.add_argument("--count", type=int, default=8, help="simulated NEs")
    p.add_argument("--topology", default="ring", choices=("ring", "mesh", "leaf-spine"))
    p.add_argument("--dir", default="var/demo", help="state directory")
    p.add_argument("--interval", type=float, default=5.0, help="poll interval (s)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after N s (0: Ctrl-C)")
    p.add_argument("--netconf-share", type=float, default=0.25, help="share of NETCONF NEs")
    p.add_argument("--no-faults", action="store_true", help="do not inject faults")
    p.add_argument("--base", default=DEFAULT_BASE, help="loopback /24 base address of the NEs")
    p.add_argument("--fault-step", type=float, default=12.0, help="seconds between faults")
    p.add_argument(
        "--no-console", action="store_true", help="no console window, even with a display"
    )
    p.set_defaults(func=run_demo)
