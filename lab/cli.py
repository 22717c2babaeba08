"""``lab`` command group: run a lab in the foreground, inject faults, send traps.

    emspool lab run --count 8 --state-dir D --netconf-share 0.25 --netconf-port 8300
    emspool lab fault --state-dir D rtr002 if-down 3
    emspool lab fault --state-dir D rtr002 raise-alarm lab:fan-failure fan1 --severity major
    emspool lab fault --state-dir D rtr002 clear-alarm lab:fan-failure fan1
    emspool lab fault --state-dir D rtr002 slow 250          # or drop-sessions
    emspool lab scale --count 3000 --state-dir S             # one responder, thousands of NEs
    emspool lab fault --state-dir S rtr0002 if-down 3        # the SNMP faults work there too

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

from lab.scale import is_scale_lab
from lab.scale.cli import add_scale_parser
from lab.state import DEFAULT_BASE, DEFAULT_NETCONF_PORT, DEFAULT_PORT
from lab.topology import TOPOLOGIES
from shared.errors import LabError

# fault -> names of its positional parameters
FAULTS: dict[str, tuple[str, ...]] = {
    "if-down": ("IFINDEX",),
    "if-up": ("IFINDEX",),
    "unreachable": (),
    "reachable": (),
    "restart": (),
    "raise-alarm": ("TYPE", "RESOURCE"),
    "clear-alarm": ("TYPE", "RESOURCE"),
    "drop-sessions": (),
    "slow": ("MS",),
}
SEVERITIES = ("indeterminate", "warning", "minor", "major", "critical")
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
        netconf_share=args.netconf_share,
        netconf_port=args.netconf_port,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        seconds = lab.start(timeout=args.start_timeout)
        netconf = sum(1 for d in lab.devices if d.protocol == "netconf")
        print(
            f"lab: {args.count} devices ({args.topology}, {netconf} NETCONF) up in "
            f"{seconds:.1f} s; inventory {lab.inventory_path}",
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
    wanted = FAULTS[args.fault]
    if len(args.params) != len(wanted):
        usage = " ".join((args.fault, *wanted))
        raise LabError(f"usage: DEVICE {usage} (got {len(args.params)} parameters)")
    params = dict(zip(wanted, args.params, strict=True))
    if is_scale_lab(args.state_dir):
        return _scale_fault(args, params)
    from lab.fleet import Lab  # pysnmp is heavy: load it only for lab commands

    lab = Lab.open(args.state_dir)
    name = args.device
    if args.fault in ("if-down", "if-up"):
        ifindex = _number(params["IFINDEX"], "IFINDEX", int)
        (lab.if_down if args.fault == "if-down" else lab.if_up)(name, int(ifindex))
    elif args.fault == "unreachable":
        lab.unreachable(name)
    elif args.fault == "reachable":
        lab.reachable(name)
    elif args.fault == "restart":
        lab.restart(name, trap_target=args.trap_target)
    elif args.fault == "raise-alarm":
        lab.raise_alarm(
            name, params["TYPE"], params["RESOURCE"], args.severity, args.text, args.qualifier
        )
    elif args.fault == "clear-alarm":
        lab.clear_alarm(name, params["TYPE"], params["RESOURCE"], args.qualifier)
    elif args.fault == "drop-sessions":
        lab.drop_sessions(name)
    else:
        lab.slow(name, _number(params["MS"], "MS", float))
    return 0


def _scale_fault(args: argparse.Namespace, params: dict[str, str]) -> int:
    """The same faults on a scale lab, through its responder's control socket."""
    from lab.scale.control import ScaleControl

    control, name = ScaleControl(args.state_dir), args.device
    if args.fault in ("if-down", "if-up"):
        ifindex = int(_number(params["IFINDEX"], "IFINDEX", int))
        (control.if_down if args.fault == "if-down" else control.if_up)(name, ifindex)
    elif args.fault in ("unreachable", "reachable", "restart"):
        if args.fault == "restart" and args.trap_target is not None:
            control.trap_target(args.trap_target)
        getattr(control, args.fault)(name)
    elif args.fault == "slow":
        control.slow(name, _number(params["MS"], "MS", float))
    else:
        raise LabError(f"{args.fault} is for NETCONF devices; a scale lab has SNMP devices only")
    return 0


def _number(text: str, what: str, kind: type[int] | type[float]) -> float:
    try:
        return kind(text)
    except ValueError:
        raise LabError(f"{what} must be a number, not {text!r}") from None


def _trap(args: argparse.Namespace) -> int:
    if args.kind != "coldStart" and args.ifindex is None:
        raise LabError(f"{args.kind} needs --ifindex")
    if is_scale_lab(args.state_dir):
        from lab.scale.control import ScaleControl

        if args.version is not None:
            raise LabError("a scale lab's devices send traps in their own version only")
        control = ScaleControl(args.state_dir)
        control.trap_target(args.target)
        control.trap(args.device, args.kind, args.ifindex)
        return 0
    from lab.fleet import Lab  # pysnmp is heavy: load it only for lab commands

    Lab.open(args.state_dir).send_trap(
        args.device, args.kind, args.target, ifindex=args.ifindex, version=args.version
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    if is_scale_lab(args.state_dir):
        from lab.scale.control import ScaleControl

        print(json.dumps(ScaleControl(args.state_dir).status(), indent=1))
        return 0
    from lab.fleet import Lab  # pysnmp is heavy: load it only for lab commands

    print(json.dumps(Lab.open(args.state_dir).status(), indent=1))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lab run|fault|trap|status`` to a parent parser's sub-commands."""
    lab = subparsers.add_parser("lab", help="simulated NEs (SNMP and NETCONF) on loopback")
    sub = lab.add_subparsers(dest="lab_command", required=True)

    run = sub.add_parser("run", help="run a lab in the foreground until SIGINT/SIGTERM")
    run.add_argument("--count", type=int, required=True)
    run.add_argument("--topology", choices=TOPOLOGIES, default="ring")
    run.add_argument("--state-dir", required=True)
    run.add_argument("--port", type=int, default=DEFAULT_PORT)
    run.add_argument("--base", default=DEFAULT_BASE, help="loopback /24 base address")
    run.add_argument("--v3-share", type=float, default=0.5, help="fraction of v3 devices")
    run.add_argument("--netconf-share", type=float, default=0.0, help="fraction of NETCONF devices")
    run.add_argument(
        "--netconf-port", type=int, default=DEFAULT_NETCONF_PORT, help="NETCONF (TCP) port"
    )
    run.add_argument("--start-timeout", type=float, default=120.0)
    run.set_defaults(func=_run)

    fault = sub.add_parser("fault", help="inject a fault into a running lab's device")
    fault.add_argument("--state-dir", required=True)
    fault.add_argument("device")
    fault.add_argument("fault", choices=tuple(FAULTS))
    fault.add_argument(
        "params",
        nargs="*",
        metavar="PARAM",
        help="if-down/if-up IFINDEX; raise-alarm/clear-alarm TYPE RESOURCE; slow MS",
    )
    fault.add_argument("--trap-target", type=_target, help="restart: send coldStart to HOST:PORT")
    fault.add_argument("--severity", choices=SEVERITIES, default="major", help="raise-alarm")
    fault.add_argument("--text", default="", help="raise-alarm: alarm text")
    fault.add_argument("--qualifier", default="", help="raise/clear-alarm: alarm-type-qualifier")
    fault.set_defaults(func=_fault)

    trap = sub.add_parser("trap", help="send a trap from a device's address")
    trap.add_argument("--state-dir", required=True)
    trap.add_argument("device")
    trap.add_argument("kind", choices=TRAP_KINDS)
    trap.add_argument("--ifindex", type=int)
    trap.add_argument("--version", choices=("2c", "3"), help="default: the device's own")
    trap.add_argument("--target", type=_target, required=True, help="HOST:PORT")
    trap.set_defaults(func=_trap)

    add_scale_parser(sub)

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
