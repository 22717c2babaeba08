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
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import zmq
import zmq.asyncio
from zmq.auth.asyncio import AsyncioAuthenticator

from agent.keys import BusKey
from shared.errors import EmspoolError
from shared.wire import KeyRole

log = logging.getLogger(__name__)

REFRESH = 3.0  # seconds between reads of the allow-list
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


class _Provider:
    """The credentials callback ZAP calls for each CURVE handshake."""

    def __init__(self, allow: AllowList, stats: dict[str, int], extra: Callable[[], None]) -> None:
        self.allow = allow
        self.stats = stats
        self._changed = extra

    def callback(self, domain: str, key: bytes) -> bool:
        caller = self.allow.get(key.decode("ascii", "replace"))
        if caller is None:
            self.stats["rejected_unknown_key"] += 1
            self._changed()
            return False
        return True


class ZapGuard:
    """The ZAP handler of one ZeroMQ context: must run before a CURVE socket binds."""

    def __init__(self, ctx: zmq.asyncio.Context, allow: AllowList, stats: dict[str, int]) -> None:
        self.allow = allow
        self.stats = stats
        stats.setdefault("rejected_unknown_key", 0)
        self._auth = AsyncioAuthenticator(ctx, log=logging.getLogger("agent.zap"))
        self._last_denied_log = 0
        self.started = False

    def start(self) -> None:
        self._auth.start()  # binds inproc://zeromq.zap.01 in the bus's context
        self._auth.configure_curve_callback(
            ZAP_DOMAIN, credentials_provider=_Provider(self.allow, self.stats, self._denied)
        )
        self.started = True

    def _denied(self) -> None:
        # Logged when the count crosses a power of two: a flood of strangers must not
        # flood the log too.
        n = self.stats["rejected_unknown_key"]
        if n & (n - 1) == 0:
            log.warning("bus: connection with an unknown key refused (%d so far)", n)

    def stop(self) -> None:
        if self.started:
            self._auth.stop()
            self.started = False


async def keep_allow_list(
    allow: AllowList,
    load: Callable[[], list[BusKey]],
    own: tuple[str, str] | None,
    wake: asyncio.Event,
    every: float = REFRESH,
) -> None:
    """Re-read the allow-list every ``every`` seconds and whenever ``wake`` is set
    (reload); a database that cannot be read keeps the list as it was. ``own``: this
    agent's (public key, node id), always allowed as an agent."""
    failing = False
    while True:
        try:
            keys = await asyncio.to_thread(load)
        except EmspoolError as e:
            if not failing:
                log.warning("bus allow-list not readable, keeping %d keys: %s", len(allow), e)
            failing = True
        else:
            if failing:
                log.info("bus allow-list readable again")
            failing = False
            allow.replace(keys)
            if own is not None and allow.get(own[0]) is None:
                allow.add(own[0], own[1], KeyRole.AGENT)
        wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every):
                await wake.wait()
