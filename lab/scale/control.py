"""Faults and measurements from another process: the NETCONF simulator's control protocol
(``lab.netconf.control``: one JSON line in, one out, on a 0600 Unix socket), here on
``<state_dir>/scale.sock`` and serving the scale responder's faults and counters."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

from lab.netconf.control import MAX_LINE, MAX_SOCKET_PATH, _answers
from shared.errors import EmspoolError, LabError

from .responder import Responder

SOCKET_NAME = "scale.sock"
# Replies list every device for the benchmarks (~60 bytes each).
MAX_REPLY = 64 * 1024 * 1024

# cmd -> (responder method, argument names, required count)
COMMANDS: dict[str, tuple[str, tuple[str, ...], int]] = {
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
    path = Path(state_dir).resolve() / SOCKET_NAME
    if len(str(path).encode()) > MAX_SOCKET_PATH:
        raise LabError(f"state directory path too long for a control socket: {path}")
    return path


class ControlServer:
    def __init__(self, responder: Responder, state_dir: Path) -> None:
        self.responder = responder
        self.path = socket_path(state_dir)
        self.stop_requested = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise LabError(f"{self.path} exists and is not a socket")
            if _answers(self.path):
                raise LabError(f"another scale responder already listens on {self.path}")
            self.path.unlink()
        old = os.umask(0o177)  # never group/world-accessible, not even for a moment
        try:
            self._server = await asyncio.start_unix_server(
                self._client, path=str(self.path), limit=MAX_LINE
            )
        finally:
            os.umask(old)

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
                    writer.write(b'{"ok": false, "error": "line too long"}\n')
                    return
                if not line:
                    return
                writer.write(json.dumps(self.execute(line)).encode() + b"\n")
                await writer.drain()
                if self.stop_requested.is_set():
                    return  # before the server closes: no client task left to cancel
        except ConnectionError:
            pass
        finally:
            writer.close()

    def execute(self, line: bytes) -> dict[str, Any]:
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
            args = {n: request[n] for n in names if n in request}
            if "device" in args:
                args["name"] = args.pop("device")
            return {"ok": True, "result": getattr(self.responder, method)(**args)}
        except (ValueError, TypeError, EmspoolError) as exc:
            return {"ok": False, "error": str(exc)}


class ScaleControl:
    """Client of a running responder's control socket (sync, one connection per call)."""

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
                raise LabError(f"scale responder control at {self.path}: {exc}") from None
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

    def stop(self) -> None:
        self.call("stop")


def _read_line(sock: socket.socket) -> bytes:
    buf = bytearray()
    while b"\n" not in buf:
        data = sock.recv(1 << 20)
        if not data:
            break
        buf += data
        if len(buf) > MAX_REPLY:
            raise OSError("control reply too long")
    return bytes(buf.split(b"\n", 1)[0])
