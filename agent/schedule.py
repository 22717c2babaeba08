"""The polling rhythm shared by the SNMP and NETCONF pollers."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable


async def every(
    name: str,
    interval: float,
    poll: Callable[[], Awaitable[None]],
    on_skipped: Callable[[int], None],
) -> None:
    """Call ``poll`` at a fixed rate until cancelled.

    Each NE keeps a phase derived from its name (spread over the first 10 s), so a fleet
    spreads its load instead of polling all at once. If a poll overruns, the slots it ate
    are skipped (and counted) instead of bunching the following polls together.
    """
    loop = asyncio.get_running_loop()
    phase = (zlib.crc32(name.encode()) % 1000) / 1000 * min(interval, 10.0)
    start = loop.time() + phase
    slot = 0
    while True:
        await asyncio.sleep(max(0.0, start + slot * interval - loop.time()))
        await poll()
        elapsed_slots = int((loop.time() - start) // interval) + 1
        if elapsed_slots > slot + 1:
            on_skipped(elapsed_slots - slot - 1)
        slot = max(slot + 1, elapsed_slots)
