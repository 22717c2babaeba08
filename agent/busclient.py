"""Blocking request/reply client for the CLI and tests: a DEALER with a deadline on
every request (Lazy Pirate without the retry: a fresh socket per attempt)."""

from __future__ import annotations

import time
from typing import Any

import zmq

from shared.errors import EmspoolError
from shared.wire import MAX_MESSAGE, Reply, Request


class RequestFailed(EmspoolError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class Unreachable(EmspoolError):
    """The agent did not answer before the deadline."""


def request(
    endpoint: str, op: str, args: dict[str, Any] | None = None, timeout: float = 5.0
) -> Any:
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
    try:
        sock.connect(endpoint)
        req = Request(op=op, args=args or {})
        sock.send_multipart([b"", req.encode()])
        deadline = time.monotonic() + timeout
        while True:
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            if not sock.poll(left_ms, zmq.POLLIN):
                raise Unreachable(f"no answer from {endpoint} within {timeout:g} s")
            frames = sock.recv_multipart()
            reply = Reply.decode(frames[-1])
            if reply.id != req.id:
                continue  # a late answer to somebody else's earlier request
            if not reply.ok:
                raise RequestFailed(reply.code, reply.message)
            return reply.result
    finally:
        sock.close(linger=0)
