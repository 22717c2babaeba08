"""Following the pages of ``pool.alarms`` for a client, blocking and asyncio: every page of
one snapshot generation, put back into one reply shaped like a page (``items``,
``answered``, ``missing``, ``partial``...). A generation no longer kept (``expired``) is
started again, a few times at most. The CLI, ``LiveAlarms``/``AsyncLiveAlarms`` and the
benchmarks use these."""

from __future__ import annotations

from typing import Any

from agent.busclient import AsyncBusClient, BusClient, RequestFailed
from shared.alarmpage import DEFAULT_PAGE, PageError, Pages
from shared.errors import EmspoolError
from shared.wire import ErrorCode

ATTEMPTS = 3  # generations started before giving up (each expired under our feet)
MAX_PAGES = 100_000  # a bound on one walk, far above any pool's alarms


class PagesExpired(RequestFailed):
    """Every attempt lost its snapshot generation before the last page."""


class _Walk:
    """Which page to ask next; the I/O is the caller's."""

    def __init__(self, args: dict[str, Any] | None, limit: int) -> None:
        self.args = (args or {}) | {"limit": limit}
        self.pages = Pages()
        self.next: str | None = None
        self.attempts = 1
        self.asked = 0

    def request(self) -> dict[str, Any]:
        self.asked += 1
        if self.asked > MAX_PAGES:
            raise EmspoolError(f"pool.alarms: more than {MAX_PAGES} pages")
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
            raise PagesExpired(ErrorCode.EXPIRED, f"pool.alarms: {e}") from e
        self.attempts += 1
        self.pages, self.next = Pages(), None


def fetch_alarms(
    client: BusClient,
    args: dict[str, Any] | None = None,
    timeout: float | None = None,
    limit: int = DEFAULT_PAGE,
) -> dict[str, Any]:
    """All pages of ``pool.alarms`` with ``args`` (filter, deadline); ``timeout`` per page."""
    walk = _Walk(args, limit)
    while True:
        try:
            if walk.add(client.request("pool.alarms", walk.request(), timeout=timeout)):
                return walk.pages.reply()
        except (PageError, RequestFailed) as e:
            walk.lost(e)


async def afetch_alarms(
    client: AsyncBusClient,
    args: dict[str, Any] | None = None,
    timeout: float | None = None,
    limit: int = DEFAULT_PAGE,
) -> dict[str, Any]:
    """``fetch_alarms`` on an asyncio loop."""
    walk = _Walk(args, limit)
    while True:
        try:
            if walk.add(await client.request("pool.alarms", walk.request(), timeout=timeout)):
                return walk.pages.reply()
        except (PageError, RequestFailed) as e:
            walk.lost(e)


# ``pool.ne_states`` in one request for now; when it is paged like ``pool.alarms`` these
# two become the page walk (same names, same arguments): their callers stay as they are.
def fetch_ne_states(
    client: BusClient,
    args: dict[str, Any] | None = None,
    timeout: float | None = None,
    limit: int = DEFAULT_PAGE,
) -> dict[str, Any]:
    """Every live NE state of the pool, by name (``items``, ``answered``, ``missing``)."""
    reply: dict[str, Any] = client.request("pool.ne_states", args or {}, timeout=timeout)
    return reply


async def afetch_ne_states(
    client: AsyncBusClient,
    args: dict[str, Any] | None = None,
    timeout: float | None = None,
    limit: int = DEFAULT_PAGE,
) -> dict[str, Any]:
    reply: dict[str, Any] = await client.request("pool.ne_states", args or {}, timeout=timeout)
    return reply
