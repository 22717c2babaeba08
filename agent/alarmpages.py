"""Following the pages of a paged federated list for a client (``pool.alarms``,
``pool.ne_states``: shared/fedpage.py), blocking and asyncio: every page of one snapshot
generation, put back into one reply shaped like a page (``items``, ``answered``,
``missing``, ``partial``...). A generation no longer kept (``expired``) is started again,
a few times at most; any other error (``too-large``: ask smaller pages) is raised. The
CLI, ``LiveAlarms``/``AsyncLiveAlarms``, the console's topology and the benchmarks use
these."""

from __future__ import annotations

from typing import Any

from agent.busclient import AsyncBusClient, BusClient, RequestFailed
from shared.alarmpage import ALARMS, DEFAULT_PAGE
from shared.errors import EmspoolError
from shared.fedpage import NE_STATES, Kind, PageError, Pages
from shared.wire import ErrorCode

ATTEMPTS = 3  # generations started before giving up (each expired under our feet)
MAX_PAGES = 100_000  # a bound on one walk, far above any pool's list


class PagesExpired(RequestFailed):
    """Every attempt lost its snapshot generation before the last page."""


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
) -> dict[str, Any]:
    """All pages of ``kind.op`` with ``args`` (filter, deadline); ``timeout`` per page."""
    walk = _Walk(kind, args, limit or kind.default_page)
    while True:
        try:
            if walk.add(client.request(kind.op, walk.request(), timeout=timeout)):
                return walk.pages.reply()
        except (PageError, RequestFailed) as e:
            walk.lost(e)


async def afetch_pages(
    client: AsyncBusClient,
    kind: Kind,
    args: dict[str, Any] | None = None,
    timeout: float | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """``fetch_pages`` on an asyncio loop."""
    walk = _Walk(kind, args, limit or kind.default_page)
    while True:
        try:
            if walk.add(await client.request(kind.op, walk.request(), timeout=timeout)):
                return walk.pages.reply()
        except (PageError, RequestFailed) as e:
            walk.lost(e)


def fetch_alarms(
    client: BusClient,
    args: dict[str, Any] | None = None,
    timeout: float | None = None,
    limit: int = DEFAULT_PAGE,
) -> dict[str, Any]:
    """Every page of ``pool.alarms``."""
    return fetch_pages(client, ALARMS, args, timeout, limit)


async def afetch_alarms(
    client: AsyncBusClient,
    args: dict[str, Any] | None = None,
    timeout: float | None = None,
    limit: int = DEFAULT_PAGE,
) -> dict[str, Any]:
    return await afetch_pages(client, ALARMS, args, timeout, limit)


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
