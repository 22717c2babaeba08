"""Waiting for things that happen in other processes, and loopback addresses of our own."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def random_base() -> str:
    """A /24 in 127/8 of its own, so parallel runs and other labs do not collide."""
    return f"127.{random.randint(20, 250)}.{random.randint(1, 250)}.0"


def device_addresses(base: str, count: int) -> list[str]:
    """The addresses a lab created on ``base`` gives its ``count`` devices (.1, .2, ...)."""
    prefix = base.rsplit(".", 1)[0]
    return [f"{prefix}.{k + 1}" for k in range(count)]


def common_free_port(addresses: list[str], kind: int = socket.SOCK_DGRAM) -> int:
    """A port free on every given address (a lab's devices of one protocol share one)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind((addresses[0], 0))
            port = int(probe.getsockname()[1])
        try:
            for addr in addresses[1:]:
                with socket.socket(socket.AF_INET, kind) as s:
                    s.bind((addr, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no common free port")


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
