"""The console's link to the pool, off the GUI thread and without Qt.

A Python thread runs one asyncio loop holding an ``AsyncBusClient`` (a random agent of the
pool, another one when it stops answering) and an ``AsyncLiveAlarms`` (the pool's alarms:
one federated snapshot, then the live events, resynchronised after a gap or a reattach).
The GUI never waits on the network: it gets

- ``Snapshot``s, at most one every ``interval`` seconds and only when something changed,
  and never a second one before it took the first (a burst of events, or a GUI busy with
  50,000 rows, coalesces into the next snapshot instead of queueing up);
- the answers of ``request`` (``db.pool``, ``pool.health``, ``pool.ack``, ...) and of
  ``request_pages`` (every page of ``pool.ne_states``).

Both reach the GUI through ``post``: a function that runs a callable on the GUI thread
(console/qtbridge.py gives one; a test may give its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import zmq

from agent import busclient
from agent.alarmpages import afetch_pages
from agent.keys import KeyPair
from agent.livealarms import AsyncLiveAlarms
from shared.alarmpage import DEFAULT_PAGE
from shared.alarms import Change
from shared.alarmview import key_of
from shared.errors import EmspoolError
from shared.fedpage import Kind
from shared.model import AlarmKey
from shared.neview import Seen
from shared.wire import Topic

Post = Callable[[Callable[[], None]], None]
OnResult = Callable[[Any], None]
OnError = Callable[[Exception], None]


class State(enum.StrEnum):
    CONNECTING = "connecting"
    ATTACHED = "attached"
    UNREACHABLE = "no agent answering"
    REFUSED = "refused"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the views show of the pool's alarms and of the connection, at one moment.

    ``full``: ``alarms`` is the pool's whole standing set (the first snapshot, and after
    every resynchronisation); otherwise it holds the alarms raised or changed since the
    previous snapshot and ``removed`` the keys of those cleared since. A 50,000-alarm
    pool is copied only when it was resynchronised, not on every burst of events."""

    full: bool
    alarms: list[dict[str, Any]]
    removed: list[AlarmKey]
    total: int  # standing alarms in the pool's set after this snapshot
    answered: list[str]
    missing: dict[str, str]
    state: State
    detail: str  # why the state is what it is (the last error), "" when attached
    node: str  # the attached agent's node id
    endpoint: str  # its ROUTER address
    last_resync: float  # wall clock; 0 before the first
    last_reason: str
    reattaches: int
    resyncs: int
    applied: int  # live events applied since start
    # (origin, body) of the ``agent`` messages since the previous snapshot: which NEs
    # each agent manages now (the topology moves their edges without waiting to refresh)
    agents: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # NE states (``pool.ne_states`` items) told live since the previous snapshot, the
    # newest of each NE (shared/neview.py): the topology's memory picture takes them now
    nes: list[dict[str, Any]] = field(default_factory=list)
    # The pool's live members by the master's word, and who joined and left since the
    # previous snapshot (the pool tab says so at once and asks for the details)
    members: list[str] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    master: str = ""
    epoch: int = 0
    taken: float = field(default_factory=time.time)

    @property
    def current(self) -> bool:
        """A first snapshot was applied and nothing is known to be missing from it."""
        return self.resyncs > 0 and self.state == State.ATTACHED


_ALARM_CHANGES = frozenset(c.value for c in Change)


class TrackedLiveAlarms(AsyncLiveAlarms):
    """The live view, noting which alarms events touched since the last snapshot."""

    def __init__(
        self, client: busclient.AsyncBusClient, *, page_size: int = DEFAULT_PAGE, **schedule: float
    ) -> None:
        super().__init__(client, page_size=page_size, nes=True, **schedule)
        self.dirty: set[AlarmKey] = set()
        self.agent_messages: list[tuple[str, dict[str, Any]]] = []
        self.ne_changes: dict[str, dict[str, Any]] = {}
        self.joined: list[str] = []
        self.left: list[str] = []

    def _news(self, seen: Seen) -> None:
        super()._news(seen)
        for d in seen.nes:
            self.ne_changes[str(d["name"])] = d
        self.joined += seen.joined
        self.left += seen.left

    def take(self, topic: str, body: dict[str, Any]) -> None:
        super().take(topic, body)
        if topic == Topic.AGENT and "managed" in body:
            self.agent_messages.append((str(body.get("origin") or ""), body))
        if topic == Topic.EVENT and body.get("type") in _ALARM_CHANGES:
            self.dirty.add(key_of(body))


class Connection:
    """Start with ``start()``; ``on_snapshot`` gets each snapshot on the GUI thread."""

    def __init__(
        self,
        endpoints: busclient.Endpoints,
        key: KeyPair | None,
        post: Post,
        *,
        interval: float = 0.15,
        timeout: float = 1.0,
        deadline: float = 1.0,
        resync_every: float = 30.0,
    ) -> None:
        self._endpoints = endpoints
        self.key = key
        self.post = post  # runs a callable on the GUI thread (the views' workers use it too)
        self.interval = interval
        self.timeout = timeout
        self.deadline = deadline
        self.resync_every = resync_every
        self.on_snapshot: Callable[[Snapshot], None] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: busclient.AsyncBusClient | None = None
        self._live: TrackedLiveAlarms | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._taken = threading.Event()  # the GUI took the last snapshot posted
        self._taken.set()
        self._state = State.CONNECTING
        self._detail = ""
        self.posted = 0  # snapshots handed to the GUI (a benchmark reads it)
        self._posted_resyncs = -1  # the view's resyncs at the last snapshot posted

    # -- life -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("connection already started")
        self._thread = threading.Thread(target=self._run, name="emspool-bus", daemon=True)
        self._thread.start()
        self._ready.wait(10.0)

    def stop(self, timeout: float = 5.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with busclient.AsyncBusClient(
            self._endpoints, self.key, timeout=self.timeout
        ) as client:
            live = TrackedLiveAlarms(
                client, resync_every=self.resync_every, timeout=self.timeout, deadline=self.deadline
            )
            self._client, self._live = client, live
            self._ready.set()
            tasks = [
                asyncio.create_task(self._follow(live), name="follow"),
                asyncio.create_task(self._publish(live), name="publish"),
            ]
            try:
                await self._stop.wait()
            finally:
                for t in tasks:
                    t.cancel()
                for t in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
                live.close()
                self._state = State.STOPPED

    async def _follow(self, live: TrackedLiveAlarms) -> None:
        """The live view's steps; a dead pool or a refusal is a state, not an exit."""
        while True:
            try:
                await live.step(0.1)
                self._state, self._detail = State.ATTACHED, ""
                continue
            except busclient.Unreachable as e:
                self._state, self._detail = State.UNREACHABLE, str(e)
            except busclient.RequestFailed as e:
                self._state, self._detail = State.REFUSED, str(e)
            except (EmspoolError, ValueError, zmq.ZMQError) as e:  # no key for a secure agent
                self._state, self._detail = State.REFUSED, str(e)
            await asyncio.sleep(0.5)

    def _signature(self, live: TrackedLiveAlarms) -> tuple[object, ...]:
        v = live.view
        return (v.applied, v.resyncs, live.attached_node, live.reattaches, self._state,
                self._detail, tuple(v.missing), live.news_count)  # fmt: skip

    async def _publish(self, live: TrackedLiveAlarms) -> None:
        last: tuple[object, ...] | None = None
        while True:
            await asyncio.sleep(self.interval)
            if not self._taken.is_set():
                continue  # the GUI has not taken the previous one: this one waits
            sig = self._signature(live)
            if sig == last:
                continue
            last = sig
            snap = self.snapshot()
            self._taken.clear()
            self.posted += 1
            self.post(functools.partial(self._deliver, snap))

    def _deliver(self, snap: Snapshot) -> None:
        self._taken.set()
        if self.on_snapshot is not None:
            self.on_snapshot(snap)

    def snapshot(self) -> Snapshot:
        """Now, and what changed since the last one (on the connection's thread: the view
        is only touched there; each call is a snapshot posted, deltas are not repeated)."""
        live = self._live
        assert live is not None
        v = live.view
        ep = live.attached
        full = v.resyncs != self._posted_resyncs
        if full:
            alarms, removed = [dict(a) for a in v.alarms.values()], []
        else:
            alarms = [dict(v.alarms[k]) for k in live.dirty if k in v.alarms]
            removed = [k for k in live.dirty if k not in v.alarms]
        live.dirty.clear()
        agents, live.agent_messages = live.agent_messages, []
        nes, live.ne_changes = list(live.ne_changes.values()), {}
        joined, left, live.joined, live.left = live.joined, live.left, [], []
        view = live.nes
        assert view is not None
        self._posted_resyncs = v.resyncs
        return Snapshot(
            full=full,
            alarms=alarms,
            removed=removed,
            total=len(v.alarms),
            answered=list(v.answered),
            missing=dict(v.missing),
            state=self._state,
            detail=self._detail,
            node=live.attached_node,
            endpoint=ep.address if ep is not None else "",
            last_resync=live.last_resync,
            last_reason=live.last_reason,
            reattaches=live.reattaches,
            resyncs=v.resyncs,
            applied=v.applied,
            agents=agents,
            nes=nes,
            members=list(view.members),
            joined=joined,
            left=left,
            master=view.master,
            epoch=view.epoch,
        )

    def resync(self, why: str = "asked by the operator") -> None:
        """A new ``pool.alarms`` snapshot at the live view's next step (any thread)."""
        loop, live = self._loop, self._live
        if loop is None or live is None or loop.is_closed():
            return

        def ask() -> None:
            if not live.view.resync_needed:
                live.view.resync_needed = why

        with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
            loop.call_soon_threadsafe(ask)

    # -- requests for the views -----------------------------------------------------------
    def request(
        self,
        op: str,
        args: dict[str, Any] | None = None,
        *,
        on_result: OnResult,
        on_error: OnError | None = None,
        timeout: float | None = None,
    ) -> None:
        """Send ``op`` to the attached agent (another if it does not answer); the result or
        the error is handed to the callback on the GUI thread."""
        self._on_loop(lambda c: c.request(op, args, timeout), on_result, on_error)

    def request_pages(
        self,
        kind: Kind,
        args: dict[str, Any] | None = None,
        *,
        on_result: OnResult,
        on_error: OnError | None = None,
        timeout: float | None = None,
    ) -> None:
        """Every page of a paged list (``pool.ne_states``: shared/fedpage.py), handed over
        as one reply shaped like a page, like ``request``'s."""
        self._on_loop(lambda c: afetch_pages(c, kind, args, timeout), on_result, on_error)

    def _on_loop(
        self,
        work: Callable[[busclient.AsyncBusClient], Awaitable[Any]],
        on_result: OnResult,
        on_error: OnError | None,
    ) -> None:
        loop, client = self._loop, self._client
        if loop is None or client is None or loop.is_closed():
            err = busclient.Unreachable("the console's connection is not running")
            if on_error is not None:
                self.post(lambda: on_error(err))
            return

        async def run() -> Any:
            return await work(client)

        fut = asyncio.run_coroutine_threadsafe(run(), loop)

        def done(f: Any) -> None:
            try:
                result = f.result()
            except Exception as e:  # handed to the view, which says what failed
                if on_error is not None:
                    self.post(functools.partial(on_error, e))
                return
            self.post(lambda: on_result(result))

        fut.add_done_callback(done)

    def call(self, fn: Callable[[], Any], *, on_result: OnResult, on_error: OnError) -> None:
        """Run a blocking ``fn`` (a database read) off the GUI thread, then call back."""

        def work() -> None:
            try:
                result = fn()
            except Exception as e:  # handed to the view, which says what failed
                self.post(functools.partial(on_error, e))
                return
            self.post(lambda: on_result(result))

        threading.Thread(target=work, name="emspool-call", daemon=True).start()
