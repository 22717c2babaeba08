"""Our ncclient SSH session: ncclient does SSH, host-key check, auth, hello and framing;
this subclass takes over sending and message dispatch.

* Sending: ncclient queues outgoing messages and its transport thread only looks at the
  queue after ``select(timeout=TICK)`` returns, so every RPC waits up to TICK (0.1 s).
  We write straight to the channel under a lock instead: round trips are loopback-fast
  and the thread can keep the long idle tick (low idle CPU per session).
* Receiving: every message goes through xmlsafe.parse before anything else (ncclient's
  parser only sees hello messages that already passed); a byte cap bounds the buffer
  while a message is still arriving.
* RPCs: we keep our own message-id -> waiter table, so replies are parsed once.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ncclient.transport.session import NetconfBase
from ncclient.transport.ssh import SSHSession

from . import xmlsafe
from .errors import HostileXmlError, NetconfError, NetconfProtocolError, NetconfTimeout

log = logging.getLogger(__name__)

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
NOTIF_NS = "urn:ietf:params:xml:ns:netconf:notification:1.0"
_RPC_REPLY = f"{{{BASE_NS}}}rpc-reply"
_RPC_ERROR = f"{{{BASE_NS}}}rpc-error"
_NOTIFICATION = f"{{{NOTIF_NS}}}notification"

_ids = itertools.count(1)


@dataclass(slots=True)
class _Waiter:
    event: threading.Event = field(default_factory=threading.Event)
    reply: Any = None
    error: BaseException | None = None


class GuardedSession(SSHSession):  # type: ignore[misc]
    def __init__(
        self,
        device_handler: Any,
        max_bytes: int,
        on_notification: Callable[[Any], None],
        on_lost: Callable[[BaseException], None],
        on_malformed: Callable[[str], None],
    ) -> None:
        super().__init__(device_handler)
        self._max_bytes = max_bytes
        self._rx = 0
        self._send_lock = threading.Lock()
        self._waiters: dict[str, _Waiter] = {}
        self._wlock = threading.Lock()
        self._on_notification = on_notification
        self._on_lost = on_lost
        self._on_malformed = on_malformed
        self.lost: BaseException | None = None

    # -- sending -------------------------------------------------------------------
    def send(self, message: str) -> None:
        if not self.connected or self._channel is None:
            raise NetconfError("session is not connected")
        data = message.encode("utf-8")
        if self._base == NetconfBase.BASE_11:
            data = b"\n#%d\n%s\n##\n" % (len(data), data)
        else:
            data = data + b"]]>]]>"
        with self._send_lock:
            self._channel.sendall(data)

    def rpc(self, body: str, timeout: float) -> Any:
        """Send one <rpc> and wait for its reply; returns the <rpc-reply> element."""
        if self.lost is not None:
            raise NetconfError(f"session lost: {self.lost}")
        mid = str(next(_ids))
        w = _Waiter()
        with self._wlock:
            self._waiters[mid] = w
        try:
            self.send(f'<rpc message-id="{mid}" xmlns="{BASE_NS}">{body}</rpc>')
            if not w.event.wait(timeout):
                raise NetconfTimeout(f"no rpc-reply within {timeout:g} s")
        finally:
            with self._wlock:
                self._waiters.pop(mid, None)
        if w.error is not None:
            if isinstance(w.error, NetconfError):
                raise w.error
            raise NetconfError(f"session lost: {w.error}")
        reply = w.reply
        err = reply.find(_RPC_ERROR)
        if err is not None:
            raise NetconfProtocolError(f"rpc-error: {_error_text(err)}")
        return reply

    # -- receiving (session thread) --------------------------------------------------
    def _transport_read(self) -> bytes:
        data: bytes = super()._transport_read()
        self._rx += len(data)
        if self._rx > self._max_bytes:
            # Raising here ends ncclient's loop: it reports the error and closes the session,
            # so the half-received message is dropped instead of buffered further.
            raise HostileXmlError(f"message exceeds the {self._max_bytes}-byte cap (dropped)")
        return data

    def _dispatch_message(self, raw: str) -> None:
        self._rx = 0
        try:
            root = xmlsafe.parse(raw, self._max_bytes)
        except HostileXmlError:
            raise  # ends the session: a device sending this is not to be trusted further
        except xmlsafe.MalformedXml as e:
            # Not hostile, just broken: drop this one message and keep the session.
            self._on_malformed(str(e))
            return
        tag = root.tag
        if tag == _RPC_REPLY:
            with self._wlock:
                w = self._waiters.get(root.get("message-id", ""))
            if w is not None:
                w.reply = root
                w.event.set()
            return
        if tag == _NOTIFICATION:
            self._on_notification(root)
            return
        # <hello> (vetted above) goes to ncclient's own handler.
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener.callback((root.tag, root.attrib), raw)

    def _dispatch_error(self, err: BaseException) -> None:
        super()._dispatch_error(err)
        self.lost = err
        with self._wlock:
            waiters = list(self._waiters.values())
        for w in waiters:
            w.error = err
            w.event.set()
        if self._connected:  # not an error of a connect that is still running
            self._on_lost(err)


def _error_text(err: Any) -> str:
    parts = []
    for name in ("error-tag", "error-message"):
        el = err.find(f"{{{BASE_NS}}}{name}")
        if el is not None and el.text:
            parts.append(el.text.strip()[:200])
    return ": ".join(parts) or "unspecified"
