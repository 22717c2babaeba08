"""Following the pages of a paged federated list for a client (``pool.alarms``,
``pool.ne_states``: shared/fedpage.py), blocking and asyncio: every page of one snapshot
generation, put back into one reply shaped like a page (``items``, ``answered``,
``missing``, ``partial``...). A generation no longer kept (``expired``) is started again,
a few times at most; any other error (``too-large``: ask smaller pages) is raised. The
CLI, ``LiveAlarms``/``AsyncLiveAlarms``, the console's topology and the benchmarks use
these.

Pipelined: a page comes unparsed, its ``next`` is read first (from its first bytes, where
the agent writes it), the next page is asked at once, and only then is this page parsed,
so that parsing thousands of rows here and making the next page there overlap."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import msgspec

from agent.busclient import Ahead, AsyncBusClient, BusClient, RequestFailed, Unreachable
from shared.alarmpage import ALARMS, DEFAULT_PAGE
from shared.errors import EmspoolError
from shared.fedpage import NE_STATES, Kind, PageError, Pages
from shared.wire import ErrorCode, WireError, parse_result

ATTEMPTS = 3  # generations started before giving up (each expired under our feet)
MAX_PAGES = 100_000  # a bound on one walk, far above any pool's list


class PagesExpired(RequestFailed):
    """Every attempt lost its snapshot generation before the last page."""


class _Head(msgspec.Struct):
    next: str | None = None


_NEXT = re.compile(rb'\{"next": ?(?:null|"([A-Za-z0-9_=-]*)")')


def next_of(raw: msgspec.Raw) -> str | None:
    """The cursor of the page after this one, without parsing this one's rows: read from
    the page's first bytes where the agent writes it first (a cursor is URL-safe base64:
    nothing to unescape), else from the whole page, skipping the rows."""
    head = _NEXT.match(bytes(memoryview(raw)[:4096]))
    if head is not None:
        return (head.group(1) or b"").decode("ascii") or None
    try:
        nxt = msgspec.json.decode(raw, type=_Head).next
    except msgspec.DecodeError:  # not a page: Pages.add says what is wrong with it
        return None
    return nxt or None


class _Walk:
    """Which page to ask next; the I/O is the caller's."""

    def __init__(self, kind: Kind, args: dict[str, Any] | None, limit: int) -> None:
        self.kind = kind
        self.args = (args or {}) | {"limit": limit}
        self.pages = Pages(kind.op)
        self.next: str | None = None
        self.attempts = 1
        self.asked = 0

    def request(self) -> dict[str, Any]:
        self.asked += 1
        if self.asked > MAX_PAGES:
            raise EmspoolError(f"{self.kind.op}: more than {MAX_PAGES} pages")
        return self.args | ({"cursor": self.next} if self.next is not None else {})

    def add(self, reply: Any) -> bool:
        """True when that was the last page."""
        self.next = self.pages.add(reply)
        return self.next is None

    def lost(self, e: PageError | RequestFailed) -> None:
        """A page failed: start a new generation if that can help, else raise."""
        if isinstance(e, RequestFailed) and e.code != ErrorCode.EXPIRED:
            raise e
        if self.attempts >= ATTEMPTS:
            raise PagesExpired(ErrorCode.EXPIRED, f"{self.kind.op}: {e}") from e
        self.attempts += 1
        self.pages, self.next = Pages(self.kind.op), None


def fetch_pages(
    client: BusClient,
    kind: Kind,
    args: dict[str, Any] | None = None,
    timeout: float | None = None,
    limit: int | None = None,
    pipelined: bool = True,
) -> dict[str, Any]:
    """All pages of ``kind.op`` with ``args`` (filter, deadline); ``timeout`` per page.
    ``pipelined=False``: each page asked only once the previous one is parsed."""
    walk = _Walk(kind, args, limit or kind.default_page)
    ahead: Ahead | None = None
    while True:
        try:
            raw = None
            if ahead is not None:
                with contextlib.suppress(Unreachable):  # asked again below, elsewhere if need be
                    raw = client.receive_ahead(ahead, timeout, raw=True)
                ahead = None
            if raw is None:
                raw = client.request(kind.op, walk.request(), timeout=timeout, raw=True)
            nxt = next_of(raw) if pipelined else None
            if nxt is not None:
                walk.next = nxt
                ahead = client.send_ahead(kind.op, walk.request())
            if walk.add(_parse(raw)):
                return walk.pages.reply()
        except (PageError, RequestFailed) as e:
            ahead = None  # its answer, if it comes, is not of the walk now: dropped
            walk.lost(e)


async def afetch_pages(
    client: AsyncBusClient,
    kind: Kind,
    args: dict[str, Any] | None = None,
    timeout: float | None = None,
    limit: int | None = None,
    pipelined: bool = True,
) -> dict[str, Any]:
    """``fetch_pages`` on an asyncio loop."""
    walk = _Walk(kind, args, limit or kind.default_page)
    ahead: asyncio.Future[Any] | None = None
    try:
        while True:
            try:
                if ahead is not None:
                    raw, ahead = await ahead, None
                else:
                    raw = await client.request(kind.op, walk.request(), timeout=timeout, raw=True)
                nxt = next_of(raw) if pipelined else None
                if nxt is not None:
                    walk.next = nxt
                    request = client.request(kind.op, walk.request(), timeout, raw=True)
                    ahead = asyncio.ensure_future(request)
                if walk.add(_parse(raw)):
                    return walk.pages.reply()
            except (PageError, RequestFailed) as e:
                await _cancel(ahead)
                ahead = None
                walk.lost(e)
    finally:
        await _cancel(ahead)


def _parse(raw: msgspec.Raw) -> Any:
    try:
        return parse_result(raw)
    except WireError as e:
        raise PageError(f"not a page: {e}") from None


async def _cancel(ahead: asyncio.Future[Any] | None) -> None:
    if ahead is not None:
        ahead.cancel()
        with contextlib.suppress(BaseException):
            await ahead


def fetch_alarms(
    client: BusClient,
    args: dict[str, Any] | None = None,
    timeout: float | None = None,
    limit: int = DEFAULT_PAGE,
    pipelined: bool = True,
) -> dict[str, Any]:
    """Every page of ``pool.alarms``."""
    return fetch_pages(client, ALARMS, args, timeout, limit, pipelined)


async def afetch_alarms(
    client: AsyncBusClient,
    args: dict[str, Any] | None = None,
    timeout: float | None = None,
    limit: int = DEFAULT_PAGE,
    pipelined: bool = True,
) -> dict[str, Any]:
    return await afetch_pages(client, ALARMS, args, timeout, limit, pipelined)


def fetch_ne_states(
    client: BusClient,
    args: dict[str, Any] | None = None,
    timeout: float | None = None,
    limit: int = NE_STATES.default_page,
) -> dict[str, Any]:
    """Every page of ``pool.ne_states``: each live NE state of the pool, by name."""
    return fetch_pages(client, NE_STATES, args, timeout, limit)


async def afetch_ne_states(
    client: AsyncBusClient,
    args: dict[str, Any] | None = None,
    timeout: float | None = None,
    limit: int = NE_STATES.default_page,
) -> dict[str, Any]:
    return await afetch_pages(client, NE_STATES, args, timeout, limit)
