"""Fault injection into the NETCONF simulator from another process, on
``<state_dir>/netconf.sock`` with the lab's control protocol (``lab.jsonline``: one JSON
line in, one out, on a 0600 Unix socket)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab import jsonline
from lab.jsonline import MAX_LINE, Commands, JsonLineClient, JsonLineServer
from lab.netconf.sim import NetconfSimulator

SOCKET_NAME = "netconf.sock"
__all__ = ["MAX_LINE", "ControlServer", "NetconfControl", "socket_path"]

# What "configure" may change (lab.netconf.shapes describes each).
DEVICE_SETTINGS = (
    "shape",
    "sparse",
    "shuffle",
    "link_notifications",
    "link_alarm",
    "config_change",
)
# cmd -> (simulator method, argument names, required count)
COMMANDS: Commands = {
    "if_down": ("if_down", ("device", "ifindex"), 2),
    "if_up": ("if_up", ("device", "ifindex"), 2),
    "raise_alarm": (
        "raise_alarm",
        ("device", "type_id", "resource", "severity", "text", "qualifier"),
        3,
    ),
    "clear_alarm": ("clear_alarm", ("device", "type_id", "resource", "qualifier"), 3),
    "hang": ("hang", ("device",), 1),
    "resume": ("resume", ("device",), 1),
    "drop_sessions": ("drop_sessions", ("device",), 1),
    "slow": ("slow", ("device", "ms"), 2),
    "restart": ("restart", ("device",), 1),
    "hostile": ("hostile", ("device", "mode", "path", "size"), 2),
    "configure": ("configure", ("device", *DEVICE_SETTINGS), 1),
    "set_description": ("set_description", ("device", "ifindex", "text", "user", "session_id"), 3),
    "status": ("status", (), 0),
}


def socket_path(state_dir: Path) -> Path:
    return jsonline.socket_path(state_dir, SOCKET_NAME)


class ControlServer(JsonLineServer):
    """Serves ``COMMANDS`` (plus ``ping`` and ``stop``) for one simulator."""

    commands = COMMANDS
    what = "simulator"

    def __init__(self, sim: NetconfSimulator, state_dir: Path) -> None:
        super().__init__(socket_path(state_dir))
        self.sim = sim

    def invoke(self, method: str, request: dict[str, Any], names: tuple[str, ...]) -> Any:
        if method == "configure":  # settings by name: any subset may be given
            settings = {n: request[n] for n in names[1:] if n in request}
            return self.sim.configure(request["device"], **settings)
        return getattr(self.sim, method)(*[request[n] for n in names if n in request])


class NetconfControl(JsonLineClient):
    """Client of a running simulator process's control socket (sync, one call per request)."""

    what = "NETCONF simulator"

    def __init__(self, state_dir: Path | str, timeout: float = 10.0) -> None:
        super().__init__(socket_path(Path(state_dir)), timeout)

    def status(self) -> list[dict[str, object]]:
        return list(self.call("status"))

    def if_down(self, name: str, ifindex: int) -> None:
        self.call("if_down", device=name, ifindex=ifindex)

    def if_up(self, name: str, ifindex: int) -> None:
        self.call("if_up", device=name, ifindex=ifindex)

    def raise_alarm(
        self,
        name: str,
        type_id: str,
        resource: str,
        severity: str = "major",
        text: str = "",
        qualifier: str = "",
    ) -> None:
        self.call(
            "raise_alarm",
            device=name,
            type_id=type_id,
            resource=resource,
            severity=severity,
            text=text,
            qualifier=qualifier,
        )

    def clear_alarm(self, name: str, type_id: str, resource: str, qualifier: str = "") -> None:
        self.call(
            "clear_alarm", device=name, type_id=type_id, resource=resource, qualifier=qualifier
        )

    def hang(self, name: str) -> None:
        self.call("hang", device=name)

    def resume(self, name: str) -> None:
        self.call("resume", device=name)

    def drop_sessions(self, name: str) -> None:
        self.call("drop_sessions", device=name)

    def slow(self, name: str, ms: float) -> None:
        self.call("slow", device=name, ms=ms)

    def restart(self, name: str) -> None:
        self.call("restart", device=name)

    def hostile(
        self, name: str, mode: str, path: str | None = None, size: int | None = None
    ) -> None:
        self.call("hostile", device=name, mode=mode, path=path, size=size)

    def configure(self, name: str, **settings: object) -> dict[str, object]:
        """e.g. ``configure("rtr001", shape="legacy", sparse=True)``: see lab.netconf.shapes."""
        return dict(self.call("configure", device=name, **settings))

    def set_description(
        self, name: str, ifindex: int, text: str, user: str = "admin", session_id: int = 0
    ) -> None:
        self.call(
            "set_description",
            device=name,
            ifindex=ifindex,
            text=text,
            user=user,
            session_id=session_id,
        )
