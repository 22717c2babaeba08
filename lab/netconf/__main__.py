"""``python -m lab.netconf serve --state-dir DIR`` runs the simulator of ``lab.netconf.fleet``;
``python -m lab.netconf fault --state-dir DIR CMD [key=value ...]`` sends one control command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from lab.netconf import fleet
from lab.netconf.control import ControlServer, NetconfControl
from lab.netconf.sim import NetconfSimulator
from shared.errors import LabError


async def serve(state_dir: Path) -> None:
    creds, specs = fleet.load(state_dir)
    sim = NetconfSimulator(state_dir, creds)
    for spec in specs:
        sim.add_device(spec)
    control = ControlServer(sim, state_dir)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, control.stop_requested.set)
    await sim.start()
    try:
        await control.start()  # last: a ping that answers means every device listens
        logging.getLogger(__name__).info("serving %d NETCONF devices", len(specs))
        await control.stop_requested.wait()
    finally:
        await control.close()
        await sim.close()


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.netconf")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the simulator for a state directory")
    p_serve.add_argument("--state-dir", type=Path, required=True)
    p_fault = sub.add_parser(
        "fault", help="send one control command, e.g. if_down device=rtr001 ifindex=3"
    )
    p_fault.add_argument("--state-dir", type=Path, required=True)
    p_fault.add_argument("cmd")
    p_fault.add_argument("args", nargs="*", metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        if args.command == "serve":
            asyncio.run(serve(args.state_dir.resolve()))
            return 0
        kwargs = {}
        for item in args.args:
            key, sep, value = item.partition("=")
            if not sep:
                parser.error(f"expected KEY=VALUE, not {item!r}")
            kwargs[key] = _value(value)
        result = NetconfControl(args.state_dir).call(args.cmd, **kwargs)
        print(json.dumps(result, indent=1))
        return 0
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
