"""NetconfClient: persistent NETCONF sessions behind an asyncio API.

Blocking ncclient work (connect, RPC waits, close) runs in one bounded thread pool shared
by all NEs; ncclient adds one transport thread per open session (inherent to it), which
sleeps in select() between messages. Notifications are parsed on that transport thread
and handed to the event loop with ``call_soon_threadsafe``.

Every operation has a deadline of the target's timeout. When it passes, the session is
aborted (its socket closed) so the worker thread is back within about a second even if
the NE never answers; the next operation reconnects, subject to exponential backoff.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import paramiko
from ncclient.manager import make_device_handler
from ncclient.transport import errors as nc_errors

from agent.aiotools import with_deadline
from shared import yang

from ._session import NOTIF_NS, GuardedSession
from .errors import (
    HostileXmlError,
    HostKeyError,
    NetconfAuthError,
    NetconfError,
    NetconfTimeout,
)
from .types import NetconfTarget

log = logging.getLogger(__name__)

T = TypeVar("T")
NotificationCallback = Callable[[yang.Notification], None]
ReconnectCallback = Callable[[], Awaitable[None]]

# Seconds a failed NE waits before the next connect attempt: base * 2**n, capped.
BACKOFF_BASE = 1.0
BACKOFF_MAX = 60.0
# How long after a deadline the worker thread may take to notice its aborted socket.
_ABORT_GRACE = 1.0


@dataclass(slots=True)
class _Conn:
    target: NetconfTarget
    session: GuardedSession | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    failures: int = 0
    next_attempt: float = 0.0
    subscriber: NotificationCallback | None = None
    on_reconnect: ReconnectCallback | None = None
    reconnect_task: asyncio.Task[None] | None = None
    malformed: int = 0


class _Abort:
    """Lets the event loop cut a blocked connect short by closing its socket."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.session: GuardedSession | None = None
        self.aborted = threading.Event()

    def fire(self) -> None:
        self.aborted.set()
        s = self.session
        if s is not None and s._transport is not None:
            s._transport.close()
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()


class NetconfClient:
    def __init__(self, workers: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="netconf")
        self._conns: dict[tuple[str, int], _Conn] = {}
        self._closed = False
        self.stats = {
            "connects": 0,
            "connect_failures": 0,
            "rpcs": 0,
            "timeouts": 0,
            "notifications": 0,
            "malformed_notifications": 0,
            "reconnects": 0,
        }

    # -- public API ------------------------------------------------------------------
    async def connect(self, target: NetconfTarget) -> None:
        """Open (or keep) the session to ``target``; raises NetconfError subclasses."""
        conn = self._conn(target)
        async with conn.lock:
            await self._ensure(conn)

    async def get(self, target: NetconfTarget, filter: str | None = None) -> Any:
        """<get> (optionally with a subtree filter, as XML text); returns the <data> element."""
        body = "<get>" + _filter(filter) + "</get>"
        return _data(await self.rpc(target, body))

    async def get_config(
        self, target: NetconfTarget, source: str = "running", filter: str | None = None
    ) -> Any:
        body = f"<get-config><source><{source}/></source>{_filter(filter)}</get-config>"
        return _data(await self.rpc(target, body))

    async def capabilities(self, target: NetconfTarget) -> list[str]:
        conn = self._conn(target)
        async with conn.lock:
            session = await self._ensure(conn)
        return sorted(session.server_capabilities)

    async def rpc(self, target: NetconfTarget, body: str) -> Any:
        """Send one RPC body; returns the <rpc-reply> element (hardened-parsed)."""
        conn = self._conn(target)
        async with conn.lock:
            session = await self._ensure(conn)
        self.stats["rpcs"] += 1
        try:
            return await self._run(session.rpc, body, target.timeout, deadline=target.timeout)
        except NetconfTimeout:
            self.stats["timeouts"] += 1
            # An NE that does not answer in time is not trusted to answer later either:
            # drop the session so the next call starts clean.
            self._drop(conn, session)
            raise
        except NetconfError:
            if session.lost is not None:
                self._drop(conn, session)
            raise

    async def subscribe(
        self,
        target: NetconfTarget,
        callback: NotificationCallback,
        on_reconnect: ReconnectCallback | None = None,
    ) -> None:
        """RFC 5277 create-subscription on the NETCONF stream; kept across reconnects.

        ``callback`` runs on the event loop with parsed notifications. ``on_reconnect``
        is awaited after every re-subscription (re-read what may have been missed).
        """
        conn = self._conn(target)
        conn.subscriber, conn.on_reconnect = callback, on_reconnect
        await self.rpc(target, f'<create-subscription xmlns="{NOTIF_NS}"/>')

    def malformed_notifications(self, target: NetconfTarget) -> int:
        conn = self._conns.get(target.key)
        return conn.malformed if conn else 0

    def is_connected(self, target: NetconfTarget) -> bool:
        conn = self._conns.get(target.key)
        return bool(conn and conn.session and conn.session.lost is None)

    async def close(self, target: NetconfTarget) -> None:
        conn = self._conns.pop(target.key, None)
        if conn is None:
            return
        conn.subscriber = None
        if conn.reconnect_task is not None:
            conn.reconnect_task.cancel()
        if conn.session is not None:
            session, conn.session = conn.session, None
            await self._run(_close_quietly, session, deadline=5.0)

    async def aclose(self) -> None:
        self._closed = True
        # close() of a released NE may already be running and pop entries meanwhile.
        for conn in list(self._conns.values()):
            await self.close(conn.target)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- internals ---------------------------------------------------------------------
    def _conn(self, target: NetconfTarget) -> _Conn:
        conn = self._conns.get(target.key)
        if conn is None or conn.target != target:
            if conn is not None and conn.session is not None:
                self._drop(conn, conn.session)
            conn = _Conn(target)
            self._conns[target.key] = conn
        return conn

    async def _ensure(self, conn: _Conn) -> GuardedSession:
        if conn.session is not None and conn.session.lost is None:
            return conn.session
        if conn.session is not None:
            self._drop(conn, conn.session)
        wait = conn.next_attempt - time.monotonic()
        if wait > 0:
            raise NetconfError(f"{conn.target.where}: reconnect backoff, next try in {wait:.1f} s")
        loop = asyncio.get_running_loop()
        abort = _Abort()
        self.stats["connects"] += 1
        try:
            session = await self._run(
                self._open, conn.target, loop, abort, deadline=conn.target.timeout, abort=abort
            )
        except NetconfError:
            self.stats["connect_failures"] += 1
            conn.failures += 1
            delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (conn.failures - 1))
            conn.next_attempt = time.monotonic() + delay
            raise
        conn.failures = 0
        conn.next_attempt = 0.0
        conn.session = session
        return session

    async def _run(
        self,
        fn: Callable[..., T],
        *args: Any,
        deadline: float,
        abort: _Abort | None = None,
    ) -> T:
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._pool, fn, *args)
        try:
            # The blocking call has its own timeout; this outer one is the safety net that
            # also covers phases ncclient does not time out (SSH banner, kex, auth).
            return await with_deadline(asyncio.shield(fut), deadline + _ABORT_GRACE / 2)
        except TimeoutError:
            if abort is not None:
                abort.fire()
            raise NetconfTimeout(f"no answer within {deadline:g} s") from None

    def _open(
        self, target: NetconfTarget, loop: asyncio.AbstractEventLoop, abort: _Abort
    ) -> GuardedSession:
        """Blocking: TCP, SSH with host-key check, auth, hello. Runs in the pool."""
        pinned = _expected_host_key(target)
        key = target.key

        def on_notification(root: Any) -> None:
            self._notified(key, session, root, loop)

        def on_malformed(why: str) -> None:
            loop.call_soon_threadsafe(self._count_malformed, key, why)

        def on_lost(err: BaseException) -> None:
            loop.call_soon_threadsafe(self._lost, key, session, err)

        session = GuardedSession(
            make_device_handler({"name": "default"}),
            target.max_reply_bytes,
            on_notification,
            on_lost,
            on_malformed,
        )
        abort.session = session
        try:
            sock = socket.create_connection((target.host, target.port), timeout=target.timeout)
        except TimeoutError:
            raise NetconfTimeout(f"{target.where}: TCP connect timed out") from None
        except OSError as e:
            raise NetconfError(f"{target.where}: cannot connect ({e.strerror or e})") from None
        abort.sock = sock
        if abort.aborted.is_set():
            sock.close()
            raise NetconfTimeout(f"{target.where}: connect aborted")
        try:
            session.connect(
                host=target.host,
                port=target.port,
                sock=sock,
                timeout=target.timeout,
                username=target.username,
                password=target.password or None,
                key_filename=target.key_file,
                hostkey_verify=True,
                hostkey_b64=pinned,
                allow_agent=False,
                look_for_keys=False,
            )
        except nc_errors.SSHUnknownHostError:
            presented = _presented_key(session)
            sock.close()
            expected = host_key_fingerprint(base64.b64decode(pinned))
            raise HostKeyError(
                f"{target.where}: host key {presented} does not match the expected"
                f" {expected}; refused before authentication"
            ) from None
        except nc_errors.AuthenticationError:
            sock.close()
            raise NetconfAuthError(
                f"{target.where}: authentication failed for user {target.username!r}"
            ) from None
        except HostileXmlError as e:
            sock.close()
            raise HostileXmlError(f"{target.where}: {e}") from None
        except Exception as e:  # ncclient/paramiko raise many types; map all at the boundary
            sock.close()
            if abort.aborted.is_set() or isinstance(e, TimeoutError | socket.timeout):
                raise NetconfTimeout(f"{target.where}: no answer during connect") from None
            if "timed out" in str(e):
                raise NetconfTimeout(f"{target.where}: {type(e).__name__}: {e}") from None
            raise NetconfError(f"{target.where}: connect failed ({type(e).__name__})") from None
        log.info("netconf session up", extra={"ne_addr": target.where, "sid": session.id})
        return session

    def _notified(
        self,
        key: tuple[str, int],
        session: GuardedSession,
        root: Any,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """Session thread: parse off the event loop, then hand over."""
        try:
            notif = yang.parse_notification(root)
        except ValueError as e:
            loop.call_soon_threadsafe(self._count_malformed, key, str(e))
            return
        loop.call_soon_threadsafe(self._deliver, key, session, notif)

    def _count_malformed(self, key: tuple[str, int], why: str) -> None:
        self.stats["malformed_notifications"] += 1
        conn = self._conns.get(key)
        if conn is not None:
            conn.malformed += 1
        log.warning("malformed notification dropped", extra={"ne_addr": key, "error": why})

    def _deliver(self, key: tuple[str, int], session: GuardedSession, n: yang.Notification) -> None:
        conn = self._conns.get(key)
        if conn is None or conn.session is not session or conn.subscriber is None:
            return
        self.stats["notifications"] += 1
        conn.subscriber(n)

    def _lost(self, key: tuple[str, int], session: GuardedSession, err: BaseException) -> None:
        conn = self._conns.get(key)
        if conn is None or conn.session is not session:
            return
        log.info("netconf session lost", extra={"ne_addr": conn.target.where, "error": str(err)})
        self._drop(conn, session)

    async def _resubscribe(self, conn: _Conn) -> None:
        """Bring a subscribed session back with backoff; then let the owner re-read state."""
        try:
            while conn.subscriber is not None and self._conns.get(conn.target.key) is conn:
                await asyncio.sleep(max(0.0, conn.next_attempt - time.monotonic()))
                try:
                    await self.rpc(conn.target, f'<create-subscription xmlns="{NOTIF_NS}"/>')
                except NetconfError as e:
                    log.info(
                        "resubscribe failed", extra={"ne_addr": conn.target.where, "error": str(e)}
                    )
                    if conn.next_attempt <= time.monotonic():
                        conn.failures += 1
                        conn.next_attempt = time.monotonic() + min(
                            BACKOFF_MAX, BACKOFF_BASE * 2 ** (conn.failures - 1)
                        )
                    continue
                self.stats["reconnects"] += 1
                if conn.on_reconnect is not None:
                    await conn.on_reconnect()
                return
        finally:
            conn.reconnect_task = None

    def _drop(self, conn: _Conn, session: GuardedSession) -> None:
        """Forget and close a session; a subscribed NE gets a reconnect task."""
        if conn.session is session:
            conn.session = None
        self._pool.submit(_close_quietly, session)
        if conn.subscriber is not None and not self._closed and conn.reconnect_task is None:
            conn.reconnect_task = asyncio.create_task(self._resubscribe(conn))


def _close_quietly(session: GuardedSession) -> None:
    try:
        session.close()
    except Exception:  # closing a broken session may fail in many ways; it is gone either way
        pass


def _filter(subtree: str | None) -> str:
    return "" if subtree is None else f'<filter type="subtree">{subtree}</filter>'


def _data(reply: Any) -> Any:
    data = reply.find("{urn:ietf:params:xml:ns:netconf:base:1.0}data")
    return reply if data is None else data


def host_key_fingerprint(blob: bytes) -> str:
    """An SSH public key blob as ``ssh-keygen -l`` shows it: SHA256, base64, no padding.
    Operators compare this with the device's console; the key itself is never shown."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _presented_key(session: GuardedSession) -> str:
    transport = getattr(session, "_transport", None)
    try:
        key = transport.get_remote_server_key() if transport is not None else None
    except paramiko.SSHException:
        key = None
    if key is None:
        return "(not seen)"
    return f"{host_key_fingerprint(key.asbytes())} ({key.get_name()})"


def _expected_host_key(target: NetconfTarget) -> str:
    """Base64 of the one key the NE must present (pinned, or from known_hosts)."""
    if target.host_key:
        parts = target.host_key.split()
        # Accept "type base64" or a full known_hosts line "host type base64".
        b64 = None
        for i, p in enumerate(parts):
            if p.startswith(("ssh-", "ecdsa-")) and i + 1 < len(parts):
                b64 = parts[i + 1]
                break
        if not b64:
            raise HostKeyError(f"{target.where}: pinned host key is not a 'type base64' line")
        try:
            base64.b64decode(b64, validate=True)
        except ValueError:
            raise HostKeyError(f"{target.where}: pinned host key is not valid base64") from None
        return b64
    if target.known_hosts:
        try:
            hk = paramiko.HostKeys(target.known_hosts)
        except OSError as e:
            raise HostKeyError(f"{target.where}: cannot read known_hosts ({e.strerror})") from None
        names = [target.host, f"[{target.host}]:{target.port}"]
        for name in names:
            entry = hk.lookup(name)
            if entry:
                keys = dict(entry)
                k = keys.get("ssh-ed25519") or next(iter(keys.values()))
                return str(k.get_base64())
        raise HostKeyError(f"{target.where}: not in known_hosts; refused (unknown host key)")
    raise HostKeyError(f"{target.where}: no pinned host key and no known_hosts file")
