"""`emspool demo`: the main job on one host — a lab of simulated NEs, one agent on
the embedded SQLite database, scripted faults, and the live view in the terminal.

It is part of the lab, not of the agent package: `emspool` finds it through the
``emspool.cli`` entry-point group (see ``register``)."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from agent.watch import watch
from lab.harness import (
    bus_key,
    client_for,
    free_port,
    sqlite_pool,
    start_agent,
    stop_process,
    wait_for_agent,
    write_agent_config,
)
from shared.errors import LabError

if TYPE_CHECKING:
    from lab.fleet import Lab

log = logging.getLogger(__name__)


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
    )
    agent_proc: subprocess.Popen[bytes] | None = None
    stop = threading.Event()
    try:
        took = lab.start()
        print(f"lab up in {took:.1f} s; inventory {lab.inventory_path}", flush=True)
        db_url = sqlite_pool(root / "emspool.db", json.loads(lab.inventory_path.read_text()))
        config = root / "agent.toml"
        router, trap_port = write_agent_config(
            config, "demo-agent", root / "agent", db_url, args.interval
        )
        # The demo's live view is an operator like any other: a key made the real way.
        key = bus_key(db_url, root, "demo-operator")
        client = client_for(db_url, key, router)
        agent_proc = start_agent(config, root / "agent.log")
        wait_for_agent(client, agent_proc, 30.0)
        print(f"agent up (log {root / 'agent.log'}); live view follows", flush=True)
        if not args.no_faults:
            threading.Thread(
                target=fault_scenario,
                args=(lab, ("127.0.0.1", trap_port), stop),
                daemon=True,
                name="faults",
            ).start()
        os.environ.setdefault("EMSPOOL_AGENT", router)
        os.environ.setdefault("EMSPOOL_KEY", str(key))
        with client:
            return watch(client, None, duration=args.duration)
    finally:
        stop.set()
        if agent_proc is not None:
            stop_process(agent_proc)
        lab.stop()
        print("demo stopped: agent and lab processes ended", flush=True)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo`` to the ``emspool`` sub-commands (the ``emspool.cli`` entry point)."""
    p = subparsers.add_parser("demo", help="lab + agent + live view, with scripted faults")
    p.add_argument("--count", type=int, default=8, help="simulated NEs")
    p.add_argument("--topology", default="ring", choices=("ring", "mesh", "leaf-spine"))
    p.add_argument("--dir", default="var/demo", help="state directory")
    p.add_argument("--interval", type=float, default=5.0, help="poll interval (s)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after N s (0: Ctrl-C)")
    p.add_argument("--netconf-share", type=float, default=0.25, help="share of NETCONF NEs")
    p.add_argument("--no-faults", action="store_true", help="do not inject faults")
    p.set_defaults(func=run_demo)
