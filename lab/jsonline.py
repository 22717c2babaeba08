"""The lab's control protocol: one JSON line in, one JSON line out, on a 0600 Unix socket.

Both simulator processes (NETCONF, ``lab.netconf.control``; scale SNMP,
``lab.scale.control``) serve their faults and counters this way. A request is
``{"cmd": "if_down", "device": "rtr001", "ifindex": 3}``; the reply is
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``. Lines over
``MAX_LINE`` bytes are refused and the connection closed. Besides its ``commands``, every
server answers ``ping`` and ``stop``.
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

from shared.errors import EmspoolError, LabError

MAX_LINE = 64 * 1024
# AF_UNIX paths are limited to 108 bytes on Linux, terminator included.
MAX_SOCKET_PATH = 107

# cmd -> (method of the target, argument names, how many of them are required)
Commands = dict[str, tuple[str, tuple[str, ...], int]]


def socket_path(state_dir: Path, name: str) -> Path:
    path = Path(state_dir).resolve() / name
    if len(str(path).encode()) > MAX_SOCKET_PATH:
        raise LabError(f"state directory path too long for a control socket: {path}")
    return path


def answers(path: Path) -> bool:
    """Whether a server already listens on ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
        except OSError:
            return False
        return True


class JsonLineServer:
    """Serves ``commands`` on ``path``; subclasses say how a command reaches their target
    (``invoke``)."""

    commands: Commands = {}
    what = "lab process"  # for the error when another one already listens

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stop_requested = asyncio.Event()
        self._server: asyncio.Server | None = None

    def invoke(self, method: str, request: dict[str, Any], names: tuple[str, ...]) -> Any:
        """Call ``method`` with the request's arguments; may return an awaitable."""
        raise NotImplementedError

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise LabError(f"{self.path} exists and is not a socket")
            if answers(self.path):
                raise LabError(f"another {self.what} already listens on {self.path}")
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
                    await _write(writer, {"ok": False, "error": "line too long"})
                    return
                if not line:
                    return
                await _write(writer, await self.execute(line))
                if self.stop_requested.is_set():
                    return  # before the server closes: no client task left to cancel
        except ConnectionError:
            pass
        finally:
            writer.close()

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
            if cmd not in self.commands:
                raise ValueError(f"unknown command {cmd!r}")
            method, names, required = self.commands[cmd]
            unknown = set(request) - {"cmd", *names}
            if unknown:
                raise ValueError(f"unknown arguments {sorted(unknown)} for {cmd}")
            missing = [n for n in names[:required] if n not in request]
            if missing:
                raise ValueError(f"{cmd} needs {', '.join(missing)}")
            result = self.invoke(method, request, names)
            if asyncio.iscoroutine(result):
                result = await result
            return {"ok": True, "result": result}
        except (ValueError, TypeError, EmspoolError) as exc:
            return {"ok": False, "error": str(exc)}


async def _write(writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
    writer.write(json.dumps(reply).encode() + b"\n")
    await writer.drain()


class JsonLineClient:
    """Client of a control socket (sync, one connection per call)."""

    what = "lab process"  # named in connection errors
    max_reply = 16 * MAX_LINE

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
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
                reply = self._read_line(sock)
            except OSError as exc:
                raise LabError(f"{self.what} control at {self.path}: {exc}") from None
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

    def stop(self) -> None:
        self.call("stop")

    def _read_line(self, sock: socket.socket) -> bytes:
        buf = bytearray()
        while b"\n" not in buf:
            data = sock.recv(1 << 20)
            if not data:
                break
            buf += data
            if len(buf) > self.max_reply:
                raise OSError("control reply too long")
        return bytes(buf.split(b"\n", 1)[0])
