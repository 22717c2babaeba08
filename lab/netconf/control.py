"""Fault injection from another process: one JSON line in, one JSON line out.

The simulator process listens on ``<state_dir>/netconf.sock`` (mode 0600: only
the lab's owner may inject faults). A request is
``{"cmd": "if_down", "device": "rtr001", "ifindex": 3}``; the reply is
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``.
Lines over ``MAX_LINE`` bytes are refused and the connection closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

from lab.netconf.sim import NetconfSimulator
from shared.errors import EmspoolError, LabError

SOCKET_NAME = "netconf.sock"
MAX_LINE = 64 * 1024
# AF_UNIX paths are limited to 108 bytes on Linux, terminator included.
MAX_SOCKET_PATH = 107

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
COMMANDS: dict[str, tuple[str, tuple[str, ...], int]] = {
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
    path = Path(state_dir).resolve() / SOCKET_NAME
    if len(str(path).encode()) > MAX_SOCKET_PATH:
        raise LabError(f"state directory path too long for a control socket: {path}")
    return path


class ControlServer:
    """Serves ``COMMANDS`` (plus ``ping`` and ``stop``) for one simulator."""

    def __init__(self, sim: NetconfSimulator, state_dir: Path) -> None:
        self.sim = sim
        self.path = socket_path(state_dir)
        self.stop_requested = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise LabError(f"{self.path} exists and is not a socket")
            if _answers(self.path):
                raise LabError(f"another simulator already listens on {self.path}")
            self.path.unlink()
        old = os.umask(0o177)  # no window in which the socket is group/world-accessible
        try:
            self._server = await asyncio.start_unix_server(
                self._client, path=str(self.path), limit=MAX_LINE
            )
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    await self._write(writer, {"ok": False, "error": "line too long"})
                    return
                if not line:
                    return
                await self._write(writer, await self.execute(line))
        except ConnectionError:
            pass
        finally:
            writer.close()

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()

    async def execute(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("request must be a JSON object")
            cmd = request.get("cmd")
            if cmd == "ping":
                return {"ok": True, "result": "pong"}
            if cmd == "stop":
                self.stop_requested.set()
                return {"ok": True, "result": None}
            if cmd not in COMMANDS:
                raise ValueError(f"unknown command {cmd!r}")
            method, names, required = COMMANDS[cmd]
            unknown = set(request) - {"cmd", *names}
            if unknown:
                raise ValueError(f"unknown arguments {sorted(unknown)} for {cmd}")
            missing = [n for n in names[:required] if n not in request]
            if missing:
                raise ValueError(f"{cmd} needs {', '.join(missing)}")
            if cmd == "configure":  # settings by name: any subset may be given
                settings = {n: request[n] for n in names[1:] if n in request}
                result = self.sim.configure(request["device"], **settings)
                return {"ok": True, "result": result}
            args = [request[n] for n in names if n in request]
            result = getattr(self.sim, method)(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return {"ok": True, "result": result}
        except (ValueError, TypeError, EmspoolError) as exc:
            return {"ok": False, "error": str(exc)}


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
        except OSError:
            return False
        return True


class NetconfControl:
    """Client of a running simulator process's control socket (sync, one call per request)."""

    def __init__(self, state_dir: Path | str, timeout: float = 10.0) -> None:
        self.path = socket_path(Path(state_dir))
        self.timeout = timeout

    def call(self, cmd: str, **args: object) -> Any:
        request = json.dumps({"cmd": cmd, **args}).encode() + b"\n"
        if len(request) > MAX_LINE:
            raise LabError("control request too long")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.path))
                sock.sendall(request)
                reply = _read_line(sock)
            except OSError as exc:
                raise LabError(f"NETCONF simulator control at {self.path}: {exc}") from None
        try:
            decoded = json.loads(reply)
        except ValueError:
            raise LabError(f"bad control reply {reply[:200]!r}") from None
        if not decoded.get("ok"):
            raise LabError(f"{cmd}: {decoded.get('error')}")
        return decoded.get("result")

    def ping(self) -> bool:
        try:
            return bool(self.call("ping") == "pong")
        except LabError:
            return False

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

    def stop(self) -> None:
        self.call("stop")


def _read_line(sock: socket.socket) -> bytes:
    buf = bytearray()
    while b"\n" not in buf:
        data = sock.recv(65536)
        if not data:
            break
        buf += data
        if len(buf) > 16 * MAX_LINE:
            raise OSError("control reply too long")
    return bytes(buf.split(b"\n", 1)[0])
