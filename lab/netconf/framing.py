"""NETCONF message framing over SSH (RFC 6242), incremental and size-capped.

base:1.0 ends each message with ``]]>]]>``; base:1.1 sends ``\\n#<len>\\n<data>``
chunks ended by ``\\n##\\n``. The session switches to chunked framing after the
hello exchange when both sides advertised base:1.1.
"""

from __future__ import annotations

import re

EOM = b"]]>]]>"
END_OF_CHUNKS = b"\n##\n"
# RFC 6242: chunk-size is 1..4294967295, at most 10 digits.
_CHUNK_HEADER = re.compile(rb"\n#([1-9][0-9]{0,9})\n")


class FramingError(Exception):
    """The peer broke the framing or sent a message over the size cap."""


def frame(message: bytes, chunked: bool) -> bytes:
    if chunked:
        return b"\n#%d\n%s%s" % (len(message), message, END_OF_CHUNKS)
    return message + EOM


def chunk_header(size: int) -> bytes:
    """Header of one chunk, for replies streamed in several chunks."""
    return b"\n#%d\n" % size


class Decoder:
    """Feed bytes in, get whole messages out; never buffers more than ``max_size``."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.chunked = False
        self._buf = bytearray()
        self._msg = bytearray()  # chunked mode: payload of the message being assembled

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            msg = self._next_chunked() if self.chunked else self._next_eom()
            if msg is None:
                break
            out.append(msg)
            if not self.chunked:
                # The hello is always EOM-framed; the caller may switch framing after it,
                # and bytes already buffered must then be decoded the new way.
                break
        if len(self._buf) + len(self._msg) > self.max_size:
            raise FramingError(f"message exceeds {self.max_size} bytes")
        return out

    def _next_eom(self) -> bytes | None:
        end = self._buf.find(EOM)
        if end < 0:
            return None
        msg = bytes(self._buf[:end])
        del self._buf[: end + len(EOM)]
        return msg

    def _next_chunked(self) -> bytes | None:
        while True:
            if self._buf.startswith(END_OF_CHUNKS):
                del self._buf[: len(END_OF_CHUNKS)]
                if not self._msg:
                    raise FramingError("end-of-chunks marker without a chunk")
                msg = bytes(self._msg)
                self._msg.clear()
                return msg
            if len(self._buf) < 4:
                return None
            match = _CHUNK_HEADER.match(self._buf)
            if match is None:
                if self._buf[:2] == b"\n#" and len(self._buf) < 14 and b"\n" not in self._buf[2:]:
                    return None  # header still arriving
                raise FramingError("bad chunk header")
            size = int(match.group(1))
            if size > self.max_size:
                raise FramingError(f"chunk of {size} bytes exceeds {self.max_size}")
            start = match.end()
            if len(self._buf) < start + size:
                return None
            self._msg += self._buf[start : start + size]
            del self._buf[: start + size]
            if len(self._msg) > self.max_size:
                raise FramingError(f"message exceeds {self.max_size} bytes")
