"""Waiting for things that happen in other processes, and loopback addresses of our own."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def random_base() -> str:
    """A /24 in 127/8 of its own, so parallel runs and other labs do not collide."""
    return f"127.{random.randint(20, 250)}.{random.randint(1, 250)}.0"


def wait_until(
    probe: Callable[[], T | None], timeout: float, interval: float = 0.2, what: str = "condition"
) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


async def eventually(
    probe: Callable[[], object], timeout: float = 5.0, what: str = "condition"
) -> None:
    """In a test's event loop: until ``probe()`` is true, checked every 10 ms; AssertionError
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)
