"""The NETCONF device simulator: many devices in one asyncio process, faults on call.

    sim = NetconfSimulator(state_dir, Credentials("emsnc", password, [pubkey_line]))
    dev = sim.add_device(DeviceSpec("rtr001", "127.0.42.1", 0))   # port 0: pick one
    await sim.start()              # dev.spec.port is now the real port
    sim.if_down("rtr001", 3)       # oper down + lab:link-down alarm + 2 notifications
    await sim.close()

Fault methods are plain calls that must run on the simulator's event loop
(``ThreadedSimulator`` runs it in a thread and marshals them for sync callers).
Each device has an ed25519 host key created once under
``<state_dir>/devices/<name>/ssh_host_key`` (public half in ``ssh_host_key.pub``),
so restarts keep it; ``dev.known_hosts_line`` is what a client pins.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import asyncssh

from lab.netconf import hostile
from lab.netconf.model import DeviceModel, DeviceSpec, notification
from lab.netconf.session import NetconfSession
from shared.errors import LabError

log = logging.getLogger(__name__)
T = TypeVar("T")

HOST_KEY_FILE = "ssh_host_key"
LOGIN_TIMEOUT = 30.0
MAX_HELD = 256  # connections a hung device keeps without a handshake


@dataclass(frozen=True, slots=True)
class Credentials:
    """The one NETCONF user every lab device accepts: by password or by one of the keys."""

    user: str
    password: str = field(repr=False)
    authorized_keys: tuple[str, ...] = ()  # OpenSSH public key lines


def load_host_key(state_dir: Path, name: str) -> asyncssh.SSHKey:
    """The device's host key, generated on first use and kept (owner-only) after."""
    ddir = state_dir / "devices" / name
    path = ddir / HOST_KEY_FILE
    if path.exists():
        try:
            return asyncssh.read_private_key(path)
        except (OSError, asyncssh.KeyImportError) as exc:
            raise LabError(f"cannot read host key of {name} ({path}): {exc}") from None
    ddir.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    tmp = path.with_name(HOST_KEY_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.export_private_key())
    os.replace(tmp, path)
    (ddir / (HOST_KEY_FILE + ".pub")).write_bytes(key.export_public_key())
    return key


class _SshServer(asyncssh.SSHServer):
    def __init__(self, device: SimDevice, creds: Credentials) -> None:
        self._device = device
        self._creds = creds
        self._conn: asyncssh.SSHServerConnection | None = None
        self._keys = {k.public_data for k in _parse_keys(creds.authorized_keys)}

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._device.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._device.connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # always authenticate, whatever the user name

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        user_ok = hmac.compare_digest(username.encode(), self._creds.user.encode())
        pass_ok = hmac.compare_digest(password.encode(), self._creds.password.encode())
        return user_ok and pass_ok

    def public_key_auth_supported(self) -> bool:
        return bool(self._keys)

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == self._creds.user and key.public_data in self._keys


def _parse_keys(lines: tuple[str, ...]) -> list[asyncssh.SSHKey]:
    try:
        return [asyncssh.import_public_key(line) for line in lines]
    except asyncssh.KeyImportError as exc:
        raise LabError(f"bad authorized key: {exc}") from None


class SimDevice:
    """One device: its data, its listener and SSH connections, and its fault switches."""

    def __init__(self, spec: DeviceSpec, host_key: asyncssh.SSHKey, creds: Credentials) -> None:
        self.spec = spec
        self.model = DeviceModel(spec)
        self.host_key = host_key
        self.creds = creds
        self.sessions: set[NetconfSession] = set()
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.answering = asyncio.Event()
        self.answering.set()
        self.delay = 0.0  # seconds added to every reply
        self._hostile: tuple[str, str | None, int | None] | None = None
        self._held: list[socket.socket] = []  # accepted while hung: no SSH spoken on them
        self._listener: socket.socket | None = None
        self._accept_task: asyncio.Task[None] | None = None
        self._ssh_tasks: set[asyncio.Task[None]] = set()
        self._options: asyncssh.SSHServerConnectionOptions | None = None

    @property
    def public_key(self) -> str:
        """``ssh-ed25519 AAAA...`` (no comment)."""
        return " ".join(self.host_key.export_public_key().decode().split()[:2])

    @property
    def known_hosts_line(self) -> str:
        return f"[{self.spec.address}]:{self.spec.port} {self.public_key}"

    # ---- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        try:
            sock = socket.create_server((self.spec.address, self.spec.port), backlog=256)
        except OSError as exc:
            raise LabError(
                f"{self.spec.name}: cannot listen on {self.spec.address}:{self.spec.port}: {exc}"
            ) from None
        sock.setblocking(False)
        self._listener = sock
        self.spec.port = sock.getsockname()[1]
        self._options = await asyncssh.SSHServerConnectionOptions.construct(
            server_factory=lambda: _SshServer(self, self.creds),
            server_host_keys=[self.host_key],
            session_factory=self._session,
            encoding=None,
            login_timeout=LOGIN_TIMEOUT,
            allow_pty=False,
            agent_forwarding=False,
            x11_forwarding=False,
        )
        self._accept_task = asyncio.get_running_loop().create_task(self._accept(sock))

    async def close(self) -> None:
        if self._accept_task is not None:
            self._accept_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accept_task
        if self._listener is not None:
            self._listener.close()
        self._release_held(serve=False)
        await self.drop_connections()
        for task in list(self._ssh_tasks):
            task.cancel()

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sock, _ = await loop.sock_accept(listener)
            if self.answering.is_set():
                self._serve(sock)
            else:
                self._held.append(sock)
                if len(self._held) > MAX_HELD:
                    # Pollers retry through a long hang: keep fds bounded, drop the oldest.
                    self._held.pop(0).close()

    def _serve(self, sock: socket.socket) -> None:
        task = asyncio.get_running_loop().create_task(self._run_ssh(sock))
        self._ssh_tasks.add(task)
        task.add_done_callback(self._ssh_tasks.discard)

    async def _run_ssh(self, sock: socket.socket) -> None:
        try:
            await asyncssh.run_server(sock, options=self._options)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            # Failed logins and clients that give up are normal traffic for a lab device.
            log.debug("%s: SSH connection ended during login: %s", self.spec.name, exc)

    def _session(
        self,
        stdin: asyncssh.SSHReader[bytes],
        stdout: asyncssh.SSHWriter[bytes],
        stderr: asyncssh.SSHWriter[bytes],
    ) -> Any:
        if stdin.channel.get_subsystem() != "netconf":
            stdout.channel.close()
            return None
        return NetconfSession(self, stdin, stdout).run()

    def _release_held(self, serve: bool) -> None:
        held, self._held = self._held, []
        for sock in held:
            if serve:
                self._serve(sock)
            else:
                sock.close()

    async def drop_connections(self) -> None:
        conns = list(self.connections)
        for session in list(self.sessions):
            session.close()
        for conn in conns:
            conn.close()
        for conn in conns:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conn.wait_closed(), 2.0)

    # ---- faults --------------------------------------------------------------------

    def notify(self, bodies: list[str]) -> None:
        if bodies:
            self.broadcast([notification(b) for b in bodies])

    def broadcast(self, messages: list[bytes]) -> None:
        for session in list(self.sessions):
            session.notify(messages)

    def hang(self) -> None:
        self.answering.clear()

    def resume(self) -> None:
        self.answering.set()
        # Connections accepted while hung now get their SSH handshake, late as it is.
        self._release_held(serve=True)

    def arm_hostile(self, mode: str, path: str | None = None, size: int | None = None) -> None:
        if mode not in hostile.MODES:
            raise LabError(f"hostile mode must be one of {', '.join(hostile.MODES)}")
        if mode == hostile.MALFORMED_NOTIFICATION:
            self.broadcast(hostile.malformed_notifications())
        else:
            self._hostile = (mode, path, size)

    def take_hostile_reply(self) -> tuple[str, str | None, int | None] | None:
        armed, self._hostile = self._hostile, None
        return armed

    def status(self) -> dict[str, object]:
        return {
            "name": self.spec.name,
            "address": self.spec.address,
            "port": self.spec.port,
            "sessions": len(self.sessions),
            "subscribed": sum(1 for s in self.sessions if s.subscribed),
            "hung": not self.answering.is_set(),
            "delay_ms": round(self.delay * 1000),
            "oper_down": self.model.oper_down(),
            "alarms": sum(1 for a in self.model.alarms.values() if not a.is_cleared),
            **self.spec.behaviour(),
        }


class NetconfSimulator:
    """Devices by name; fault methods by device name (call them on the event loop)."""

    def __init__(self, state_dir: Path | str, creds: Credentials) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.creds = creds
        _parse_keys(creds.authorized_keys)  # fail now, not at the first login
        self.devices: dict[str, SimDevice] = {}

    def add_device(self, spec: DeviceSpec) -> SimDevice:
        """Add before or after ``start()``; after, call ``await sim.start()`` again."""
        if spec.name in self.devices:
            raise LabError(f"device {spec.name} already exists")
        dev = SimDevice(spec, load_host_key(self.state_dir, spec.name), self.creds)
        self.devices[spec.name] = dev
        return dev

    def device(self, name: str) -> SimDevice:
        try:
            return self.devices[name]
        except KeyError:
            raise LabError(f"no NETCONF device {name!r}") from None

    async def start(self) -> None:
        """Open listeners of devices not listening yet; all or nothing for this batch."""
        new = [d for d in self.devices.values() if d._listener is None]
        try:
            for dev in new:
                await dev.start()
        except BaseException:
            for dev in new:
                await dev.close()
            raise

    async def close(self) -> None:
        await asyncio.gather(*(d.close() for d in self.devices.values()))

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- faults --------------------------------------------------------------------

    def if_down(self, name: str, ifindex: int) -> None:
        dev = self.device(name)
        dev.notify(dev.model.set_oper(ifindex, up=False))

    def if_up(self, name: str, ifindex: int) -> None:
        dev = self.device(name)
        dev.notify(dev.model.set_oper(ifindex, up=True))

    def raise_alarm(
        self,
        name: str,
        type_id: str,
        resource: str,
        severity: str = "major",
        text: str = "",
        qualifier: str = "",
    ) -> None:
        dev = self.device(name)
        dev.notify(dev.model.raise_alarm(type_id, resource, severity, text, qualifier))

    def clear_alarm(self, name: str, type_id: str, resource: str, qualifier: str = "") -> None:
        dev = self.device(name)
        dev.notify(dev.model.clear_alarm(type_id, resource, qualifier))

    def configure(self, name: str, **settings: object) -> dict[str, object]:
        """Change how a device reports (see ``lab.netconf.shapes``); returns the settings."""
        return self.device(name).model.reconfigure(**settings)

    def set_description(
        self, name: str, ifindex: int, text: str, user: str = "admin", session_id: int = 0
    ) -> None:
        """An operator edits a port's description: RFC 6470 netconf-config-change."""
        dev = self.device(name)
        dev.notify(dev.model.set_description(ifindex, text, user, session_id))

    def hang(self, name: str) -> None:
        """Sessions stay open but get no replies; new TCP connections get no SSH banner."""
        self.device(name).hang()

    def resume(self, name: str) -> None:
        self.device(name).resume()

    def slow(self, name: str, ms: float) -> None:
        if ms < 0:
            raise LabError("delay must be >= 0 ms")
        self.device(name).delay = ms / 1000.0

    async def drop_sessions(self, name: str) -> None:
        await self.device(name).drop_connections()

    async def restart(self, name: str) -> None:
        """Sessions dropped, new boot time, counters from zero; alarms and cut links stay."""
        dev = self.device(name)
        await dev.drop_connections()
        dev.model.boot()
        dev.resume()
        dev.delay = 0.0

    def hostile(
        self, name: str, mode: str, path: str | None = None, size: int | None = None
    ) -> None:
        """Arm a hostile reply (see ``lab.netconf.hostile``): next ``<get>`` or at once."""
        self.device(name).arm_hostile(mode, path, size)

    def status(self) -> list[dict[str, object]]:
        return [d.status() for d in self.devices.values()]


class ThreadedSimulator:
    """A ``NetconfSimulator`` on its own event loop in a thread, for sync code (ncclient).

    with ThreadedSimulator(state_dir, creds, [spec]) as sim:
        sim.call(sim.sim.if_down, "rtr001", 3)
    """

    def __init__(self, state_dir: Path | str, creds: Credentials, specs: list[DeviceSpec]) -> None:
        self.sim = NetconfSimulator(state_dir, creds)
        for spec in specs:
            self.sim.add_device(spec)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        try:
            self.run(self.sim.start())
        except BaseException:
            self._stop_loop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.run(self.sim.close(), timeout=10.0)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self._loop.close()

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 30.0) -> T:
        """Run a fault method on the simulator's loop; await it if it is a coroutine."""

        async def invoke() -> T:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                return await result  # type: ignore[no-any-return]
            return result

        fut: Future[T] = asyncio.run_coroutine_threadsafe(invoke(), self._loop)
        return fut.result(timeout)
