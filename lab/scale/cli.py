"""``emspool lab scale``: create a scale lab and serve it in the foreground; and the
``python -m lab.scale serve`` entry that serves an existing one (``ScaleLab.start``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from lab.topology import TOPOLOGIES
from shared.errors import LabError

from . import DEFAULT_BASE, DEFAULT_PORT


def _target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _run(args: argparse.Namespace) -> int:
    from . import layout
    from .serve import serve

    state_dir = Path(args.state_dir).resolve()
    layout.create(state_dir, args.count, args.topology, args.base, args.port, args.v3_share)

    def ready(responder: object, seconds: float) -> None:
        print(
            f"lab scale: {args.count} SNMP devices on {args.base}+ port {args.port} up in "
            f"{seconds:.2f} s; inventory {state_dir / 'inventory.json'}",
            flush=True,
        )

    asyncio.run(serve(state_dir, args.trap_target, ready))
    print("lab scale: stopped", flush=True)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .serve import serve

    asyncio.run(serve(Path(args.state_dir).resolve(), args.trap_target))
    return 0


def add_scale_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scale = sub.add_parser(
        "scale", help="thousands of SNMP NEs in one responder process (for benchmarks)"
    )
    scale.add_argument("--count", type=int, required=True)
    scale.add_argument("--state-dir", required=True)
    scale.add_argument("--topology", choices=TOPOLOGIES, default="ring")
    scale.add_argument("--base", default=DEFAULT_BASE, help="first loopback address - 1")
    scale.add_argument("--port", type=int, default=DEFAULT_PORT, help="UDP port of every NE")
    scale.add_argument("--v3-share", type=float, default=0.5, help="fraction of v3 devices")
    scale.add_argument("--trap-target", type=_target, help="HOST:PORT for the faults' traps")
    scale.set_defaults(func=_run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.scale")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve an existing scale lab")
    serve.add_argument("--state-dir", required=True)
    serve.add_argument("--trap-target", type=_target)
    serve.set_defaults(func=_serve)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        code: int = args.func(args)
    except LabError as exc:
        print(f"lab scale: {exc}", file=sys.stderr)
        return 1
    return code
