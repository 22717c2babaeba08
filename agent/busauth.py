"""Who is on the bus: the ZAP authenticator (``zmq.auth.asyncio``) checking CURVE client
keys against the pool's allow-list, and the caller of the request being handled.

ZAP decides once per connection (at the CURVE handshake): unknown keys never get a
connection. The role is looked up again for every request from the current allow-list,
so a key revoked while connected loses its access at its next request, and a new key
works without a restart once the list is refreshed (every ``REFRESH`` seconds, and on
reload). The ZAP User-Id of an accepted connection is the client's public key (pyzmq's
default), which the bus reads from each request's frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio
from zmq.auth.asyncio import AsyncioAuthenticator

from agent.keys import BusKey
from shared.errors import EmspoolError
from shared.wire import KeyRole

log = logging.getLogger(__name__)

REFRESH = 3.0  # seconds between reads of the allow-list
MIN_REFRESH = 0.1  # at most this often when woken (strangers knocking must not load the DB)
ZAP_DOMAIN = "emspool"


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated sender of a request (``name`` is its key's name)."""

    name: str
    role: KeyRole
    authenticated: bool = True


# Nobody authenticated: an insecure lab bus, or code that is not answering a request.
INSECURE = Caller("insecure", KeyRole.AGENT, authenticated=False)

_caller: contextvars.ContextVar[Caller] = contextvars.ContextVar("bus_caller", default=INSECURE)


def current_caller() -> Caller:
    """The caller of the request this task is answering (set by the bus per request)."""
    return _caller.get()


def acting_user(args: dict[str, Any]) -> str:
    """Who an acknowledgement or a note is recorded as: the authenticated key's name, never
    what the client claims; an insecure lab bus has nobody authenticated, and says so beside
    the name the client gave."""
    caller = current_caller()
    if caller.authenticated:
        return caller.name
    return f"{args.get('user') or 'unknown'} (unauthenticated)"


def set_caller(caller: Caller) -> contextvars.Token[Caller]:
    return _caller.set(caller)


class AllowList:
    """Public key (Z85) -> caller, replaced as a whole on each refresh."""

    def __init__(self, keys: Iterable[BusKey] = ()) -> None:
        self._by_key: dict[str, Caller] = {}
        self.version = 0
        self.replace(keys)

    def replace(self, keys: Iterable[BusKey]) -> None:
        new = {k.public_key: Caller(k.name, k.role) for k in keys if k.revoked is None}
        if new != self._by_key:
            self.version += 1
            self._by_key = new

    def add(self, public_key: str, name: str, role: KeyRole) -> None:
        """This agent's own key, allowed before the database is read."""
        self._by_key = {**self._by_key, public_key: Caller(name, role)}

    def get(self, public_key: str) -> Caller | None:
        return self._by_key.get(public_key)

    def __len__(self) -> int:
        return len(self._by_key)


Recheck = Callable[[], Awaitable[None]]


class _Provider:
    """The credentials callback ZAP calls for each CURVE handshake. A key not on the list
    may have been allowed a moment ago (an agent that just joined): the list is re-read
    once (rate-limited) before the key is refused, so a new member is admitted at its
    first handshake; ZeroMQ does not retry a refused one by itself."""

    def __init__(self, guard: ZapGuard) -> None:
        self.guard = guard

    def callback(self, domain: str, key: bytes) -> bool | Awaitable[bool]:
        public = key.decode("ascii", "replace")
        if self.guard.allow.get(public) is not None:
            return True
        if self.guard.recheck is None:
            return self.guard.denied(public)
        return self._after_recheck(public)

    async def _after_recheck(self, public: str) -> bool:
        assert self.guard.recheck is not None
        await self.guard.recheck()
        return self.guard.allow.get(public) is not None or self.guard.denied(public)


class ZapGuard:
    """The ZAP handler of one ZeroMQ context: must run before a CURVE socket binds."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        allow: AllowList,
        stats: dict[str, int],
        recheck: Recheck | None = None,
    ) -> None:
        self.allow = allow
        self.stats = stats
        self.recheck = recheck
        stats.setdefault("rejected_unknown_key", 0)
        self._auth = AsyncioAuthenticator(ctx, log=logging.getLogger("agent.zap"))
        self.started = False

    def start(self) -> None:
        self._auth.start()  # binds inproc://zeromq.zap.01 in the bus's context
        self._auth.configure_curve_callback(ZAP_DOMAIN, credentials_provider=_Provider(self))
        self.started = True

    def denied(self, public: str) -> bool:
        self.stats["rejected_unknown_key"] += 1
        # Logged when the count reaches a power of two: a flood of strangers must not
        # flood the log too. The public key is named (it is no secret) so that a refused
        # peer or client can be told from a stranger.
        n = self.stats["rejected_unknown_key"]
        if n & (n - 1) == 0:
            log.warning("bus: connection with an unknown key %s refused (%d so far)", public, n)
        return False

    def stop(self) -> None:
        if self.started:
            self._auth.stop()
            self.started = False


class AllowListKeeper:
    """Keeps an AllowList in step with the database: every ``every`` seconds, when woken
    (reload), and when ZAP meets an unknown key (at most every MIN_REFRESH seconds). A
    database that cannot be read keeps the list as it was. ``own``: this agent's (public
    key, node id), always allowed as an agent."""

    def __init__(
        self,
        allow: AllowList,
        load: Callable[[], list[BusKey]],
        own: tuple[str, str] | None,
        every: float = REFRESH,
    ) -> None:
        self.allow = allow
        self._load = load
        self._own = own
        self.every = every
        self.wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._last = -1e9  # loop time of the last read
        self._failing = False

    async def recheck(self) -> None:
        """Read the list now unless it was read within MIN_REFRESH seconds."""
        async with self._lock:
            if asyncio.get_running_loop().time() - self._last >= MIN_REFRESH:
                await self._read()

    async def _read(self) -> None:
        self._last = asyncio.get_running_loop().time()
        try:
            keys = await asyncio.to_thread(self._load)
        except EmspoolError as e:
            if not self._failing:
                log.warning("bus allow-list not readable, keeping %d keys: %s", len(self.allow), e)
            self._failing = True
            return
        if self._failing:
            log.info("bus allow-list readable again")
        self._failing = False
        self.allow.replace(keys)
        if self._own is not None and self.allow.get(self._own[0]) is None:
            self.allow.add(self._own[0], self._own[1], KeyRole.AGENT)

    async def run(self) -> None:
        while True:
            self.wake.clear()
            async with self._lock:
                await self._read()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.every):
                    await self.wake.wait()
            await asyncio.sleep(MIN_REFRESH)  # a burst of reloads is one read
