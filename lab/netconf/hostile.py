"""Hostile ``<get>`` replies and notifications, for the client side's bad-input tests.

A device armed with a mode sends its next ``<get>`` reply in that shape (once),
except ``malformed-notification``, which goes out at once on subscribed sessions.

- ``billion-laughs``: nested internal entities (~10^9 "lol"s if expanded).
- ``xxe``: an external entity naming a local file (``path``, default /etc/hostname).
- ``deep``: ``size`` nested elements (default 100 000: the depth, not bytes).
- ``huge``: a well-formed reply of ``size`` bytes (default 200 MB), streamed.
- ``malformed-notification``: one notification that is not well-formed XML, then one
  well-formed but invalid (no eventTime, unknown severity).
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.sax.saxutils import quoteattr

from lab.netconf.model import NS_ALARMS, NS_IF, NS_NOTIF, NS_SYS

BILLION_LAUGHS = "billion-laughs"
XXE = "xxe"
DEEP = "deep"
HUGE = "huge"
MALFORMED_NOTIFICATION = "malformed-notification"
REPLY_MODES = (BILLION_LAUGHS, XXE, DEEP, HUGE)
MODES = (*REPLY_MODES, MALFORMED_NOTIFICATION)

DEFAULT_DEPTH = 100_000
DEFAULT_SIZE = 200 * 1024 * 1024
PIECE = 1024 * 1024
NS_BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"


def _open_reply(attrs: str) -> str:
    return f'<rpc-reply xmlns="{NS_BASE}"{attrs}><data>'


def reply(mode: str, attrs: str, path: str | None, size: int | None) -> Iterator[bytes]:
    """The reply in pieces (``attrs``: the rpc's attributes, ` message-id="…"`)."""
    if mode == BILLION_LAUGHS:
        entities = ['<!ENTITY lol0 "lol">'] + [
            f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
        ]
        yield (
            f'<?xml version="1.0"?><!DOCTYPE rpc-reply [{"".join(entities)}]>'
            f'{_open_reply(attrs)}<system xmlns="{NS_SYS}"><hostname>&lol9;</hostname>'
            "</system></data></rpc-reply>"
        ).encode()
    elif mode == XXE:
        target = quoteattr("file://" + (path or "/etc/hostname"))
        yield (
            f'<?xml version="1.0"?><!DOCTYPE rpc-reply [<!ENTITY xxe SYSTEM {target}>]>'
            f'{_open_reply(attrs)}<system xmlns="{NS_SYS}"><hostname>&xxe;</hostname>'
            "</system></data></rpc-reply>"
        ).encode()
    elif mode == DEEP:
        depth = size or DEFAULT_DEPTH
        yield (
            f'{_open_reply(attrs)}<interfaces xmlns="{NS_IF}">{"<x>" * depth}{"</x>" * depth}'
            "</interfaces></data></rpc-reply>"
        ).encode()
    elif mode == HUGE:
        yield from _huge(attrs, size or DEFAULT_SIZE)
    else:
        raise ValueError(f"not a reply mode: {mode!r}")


def _huge(attrs: str, size: int) -> Iterator[bytes]:
    head = f'{_open_reply(attrs)}<interfaces xmlns="{NS_IF}">'.encode()
    tail = b"</interfaces></data></rpc-reply>"
    yield head
    left = max(0, size - len(head) - len(tail))
    entry = (
        b"<interface><name>pad-%09d</name><description>"
        + b"x" * 200
        + b"</description></interface>"
    )
    n = 0
    piece: list[bytes] = []
    used = 0
    while left > 0:
        item = entry % n
        n += 1
        if len(item) > left:
            item = b"<!--" + b"x" * max(0, left - 7) + b"-->"
        piece.append(item)
        used += len(item)
        left -= len(item)
        if used >= PIECE:
            yield b"".join(piece)
            piece, used = [], 0
    if piece:
        yield b"".join(piece)
    yield tail


def malformed_notifications() -> list[bytes]:
    return [
        (
            f'<notification xmlns="{NS_NOTIF}"><eventTime>2024-01-01T00:00:00Z</eventTime>'
            f'<alarm-notification xmlns="{NS_ALARMS}"><resource>ge-0/0/1</resource>'
            "<perceived-severity>major</perceived-severity></notification>"
        ).encode(),
        (
            f'<notification xmlns="{NS_NOTIF}"><alarm-notification xmlns="{NS_ALARMS}">'
            "<resource>ge-0/0/1</resource><alarm-type-id>no-prefix</alarm-type-id>"
            "<perceived-severity>apocalyptic</perceived-severity></alarm-notification>"
            "</notification>"
        ).encode(),
    ]
