"""Faults and measurements from another process: the lab's control protocol (``lab.jsonline``:
one JSON line in, one out, on a 0600 Unix socket), here on ``<state_dir>/scale.sock`` and
serving the scale responder's faults and counters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab import jsonline
from lab.jsonline import Commands, JsonLineClient, JsonLineServer

from .responder import Responder

SOCKET_NAME = "scale.sock"
# Replies list every device for the benchmarks (~60 bytes each).
MAX_REPLY = 64 * 1024 * 1024

# cmd -> (responder method, argument names, required count)
COMMANDS: Commands = {
    "if_down": ("if_down", ("device", "ifindex"), 2),
    "if_up": ("if_up", ("device", "ifindex"), 2),
    "unreachable": ("unreachable", ("device",), 1),
    "reachable": ("reachable", ("device",), 1),
    "slow": ("slow", ("device", "ms"), 2),
    "restart": ("restart", ("device",), 1),
    "trap": ("send_trap", ("device", "kind", "ifindex"), 2),
    "trap_target": ("set_trap_target", ("host", "port"), 0),
    "mark": ("set_mark", (), 0),
    "polls": ("polls", ("names",), 0),
    "status": ("status", (), 0),
}


def socket_path(state_dir: Path) -> Path:
    return jsonline.socket_path(state_dir, SOCKET_NAME)


class ControlServer(JsonLineServer):
    commands = COMMANDS
    what = "scale responder"

    def __init__(self, responder: Responder, state_dir: Path) -> None:
        super().__init__(socket_path(state_dir))
        self.responder = responder

    def invoke(self, method: str, request: dict[str, Any], names: tuple[str, ...]) -> Any:
        args = {n: request[n] for n in names if n in request}
        if "device" in args:
            args["name"] = args.pop("device")
        return getattr(self.responder, method)(**args)


class ScaleControl(JsonLineClient):
    """Client of a running responder's control socket (sync, one connection per call)."""

    what = "scale responder"
    max_reply = MAX_REPLY

    def __init__(self, state_dir: Path | str, timeout: float = 10.0) -> None:
        super().__init__(socket_path(Path(state_dir)), timeout)

    def if_down(self, name: str, ifindex: int) -> None:
        self.call("if_down", device=name, ifindex=ifindex)

    def if_up(self, name: str, ifindex: int) -> None:
        self.call("if_up", device=name, ifindex=ifindex)

    def unreachable(self, name: str) -> None:
        self.call("unreachable", device=name)

    def reachable(self, name: str) -> None:
        self.call("reachable", device=name)

    def slow(self, name: str, ms: float) -> None:
        self.call("slow", device=name, ms=ms)

    def restart(self, name: str) -> None:
        self.call("restart", device=name)

    def trap(self, name: str, kind: str, ifindex: int | None = None) -> bool:
        return bool(self.call("trap", device=name, kind=kind, ifindex=ifindex))

    def trap_target(self, target: tuple[str, int] | None) -> None:
        host, port = target if target is not None else (None, None)
        self.call("trap_target", host=host, port=port)

    def mark(self) -> float:
        """Start recording first requests per device; returns the mark (wall clock)."""
        return float(self.call("mark"))

    def polls(self, names: list[str] | None = None) -> dict[str, list[float]]:
        """name -> [last request, first since the mark (0: none), requests, sources]."""
        return dict(self.call("polls", names=names))

    def status(self) -> dict[str, Any]:
        return dict(self.call("status"))
