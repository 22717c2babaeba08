"""Bounding awaits in time, the one way the agent does it.

Bounded awaits use ``with_deadline`` (an awaitable) or an ``async with asyncio.timeout``
block, never ``asyncio.wait_for``: on Python 3.11 ``wait_for`` can swallow a ``cancel()``
that lands just as it times out, and a task told to stop then carries on (the outbox
writer never stopping, a shutdown that hangs). ``tests/unit/test_layers.py`` keeps
``wait_for`` out of ``agent/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def with_deadline(aw: Awaitable[T], seconds: float) -> T:
    """``aw``'s result, or TimeoutError after ``seconds`` (``aw`` is then cancelled)."""
    async with asyncio.timeout(seconds):
        return await aw


def shorten(t: asyncio.Timeout, seconds: float) -> None:
    """Make a running ``asyncio.timeout`` expire at most ``seconds`` from now (never later)."""
    when = asyncio.get_running_loop().time() + seconds
    current = t.when()
    if current is None or when < current:
        t.reschedule(when)
