"""``lab`` command group: run a lab in the foreground, inject faults, send traps.

The lead hooks ``register`` into the ``emspool`` CLI; ``python -m lab`` works meanwhile.
Each sub-command sets ``func(args) -> int`` (the exit code) on its namespace.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from lab.state import DEFAULT_BASE, DEFAULT_PORT
from lab.topology import TOPOLOGIES
from shared.errors import LabError

FAULTS = ("if-down", "if-up", "unreachable", "reachable", "restart")
TRAP_KINDS = ("linkDown", "linkUp", "coldStart")


def _target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _run(args: argparse.Namespace) -> int:
    from lab.fleet import Lab  # pysnmp is heavy: load it only for lab commands

    lab = Lab.create(
        args.state_dir,
        count=args.count,
        topology_kind=args.topology,
        base_address=args.base,
        port=args.port,
        v3_share=args.v3_share,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        seconds = lab.start(timeout=args.start_timeout)
        print(
            f"lab: {args.count} devices ({args.topology}) up in {seconds:.1f} s; "
            f"inventory {lab.inventory_path}",
            flush=True,
        )
        while not stop.wait(1.0):
            pass
    finally:
        lab.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("lab: stopped", flush=True)
    return 0


def _fault(args: argparse.Namespace) -> int:
    from lab.fleet import Lab  # pysnmp is heavy: load it only for lab commands

    lab = Lab.open(args.state_dir)
    if args.fault in ("if-down", "if-up"):
        if args.ifindex is None:
            raise LabError(f"{args.fault} needs an IFINDEX")
        (lab.if_down if args.fault == "if-down" else lab.if_up)(args.device, args.ifindex)
    elif args.fault == "unreachable":
        lab.unreachable(args.device)
    elif args.fault == "reachable":
        lab.reachable(args.device)
    else:
        lab.restart(args.device, trap_target=args.trap_target)
    return 0


def _trap(args: argparse.Namespace) -> int:
    from lab.fleet import Lab  # pysnmp is heavy: load it only for lab commands

    if args.kind != "coldStart" and args.ifindex is None:
        raise LabError(f"{args.kind} needs --ifindex")
    Lab.open(args.state_dir).send_trap(
        args.device, args.kind, args.target, ifindex=args.ifindex, version=args.version
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    from lab.fleet import Lab  # pysnmp is heavy: load it only for lab commands

    print(json.dumps(Lab.open(args.state_dir).status(), indent=1))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lab run|fault|trap|status`` to a parent parser's sub-commands."""
    lab = subparsers.add_parser("lab", help="simulated NEs (snmpsim) on loopback")
    sub = lab.add_subparsers(dest="lab_command", required=True)

    run = sub.add_parser("run", help="run a lab in the foreground until SIGINT/SIGTERM")
    run.add_argument("--count", type=int, required=True)
    run.add_argument("--topology", choices=TOPOLOGIES, default="ring")
    run.add_argument("--state-dir", required=True)
    run.add_argument("--port", type=int, default=DEFAULT_PORT)
    run.add_argument("--base", default=DEFAULT_BASE, help="loopback /24 base address")
    run.add_argument("--v3-share", type=float, default=0.5, help="fraction of v3 devices")
    run.add_argument("--start-timeout", type=float, default=120.0)
    run.set_defaults(func=_run)

    fault = sub.add_parser("fault", help="inject a fault into a running lab's device")
    fault.add_argument("--state-dir", required=True)
    fault.add_argument("device")
    fault.add_argument("fault", choices=FAULTS)
    fault.add_argument("ifindex", type=int, nargs="?", help="for if-down / if-up")
    fault.add_argument("--trap-target", type=_target, help="restart: send coldStart to HOST:PORT")
    fault.set_defaults(func=_fault)

    trap = sub.add_parser("trap", help="send a trap from a device's address")
    trap.add_argument("--state-dir", required=True)
    trap.add_argument("device")
    trap.add_argument("kind", choices=TRAP_KINDS)
    trap.add_argument("--ifindex", type=int)
    trap.add_argument("--version", choices=("2c", "3"), help="default: the device's own")
    trap.add_argument("--target", type=_target, required=True, help="HOST:PORT")
    trap.set_defaults(func=_trap)

    status = sub.add_parser("status", help="devices, PIDs and injected faults (JSON)")
    status.add_argument("--state-dir", required=True)
    status.set_defaults(func=_status)


def main(argv: list[str] | None = None) -> int:
    """``python -m lab run ...`` behaves as ``emspool lab run ...`` will."""
    parser = argparse.ArgumentParser(prog="python -m")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["lab", *(sys.argv[1:] if argv is None else argv)])
    try:
        code: int = args.func(args)
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    return code
