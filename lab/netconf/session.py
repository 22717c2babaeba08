"""One NETCONF session on an SSH ``netconf`` subsystem channel: hello, framing, RPCs.

Client XML is parsed with entities, DTDs and network access off and a size cap:
the simulator itself must not be the thing a hostile peer can knock over.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

import asyncssh
from lxml import etree

from lab.netconf import hostile
from lab.netconf.framing import Decoder, FramingError, chunk_header, frame
from lab.netconf.model import NS_ALARMS, NS_LLDP, NS_SYS, TOP_LEVEL

if TYPE_CHECKING:
    from lab.netconf.sim import SimDevice

log = logging.getLogger(__name__)

NS_BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
NS_NOTIF = "urn:ietf:params:xml:ns:netconf:notification:1.0"
BASE_10 = "urn:ietf:params:netconf:base:1.0"
BASE_11 = "urn:ietf:params:netconf:base:1.1"
CAPABILITIES = (
    BASE_10,
    BASE_11,
    "urn:ietf:params:netconf:capability:notification:1.0",
    "urn:ietf:params:netconf:capability:interleave:1.0",
    # The ietf-netconf module's own capability: not a base version (RFC 6241 has both).
    "urn:ietf:params:xml:ns:netconf:base:1.0?module=ietf-netconf&revision=2011-06-01",
    "urn:ietf:params:xml:ns:yang:iana-if-type?module=iana-if-type&revision=2017-01-19",
    f"{NS_SYS}?module=ietf-system&revision=2014-08-06",
    f"{NS_ALARMS}?module=ietf-alarms&revision=2019-09-11",
    f"{NS_LLDP}?module=openconfig-lldp&revision=2018-11-21",
)
MAX_MESSAGE = 1024 * 1024  # nothing a client sends us legitimately comes near this
READ_SIZE = 65536

_session_ids = itertools.count(1)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=True,
    )


class RpcError(Exception):
    def __init__(self, tag: str, message: str, kind: str = "protocol") -> None:
        super().__init__(message)
        self.tag, self.kind = tag, kind


def error_reply(attrs: str, err: RpcError) -> bytes:
    return (
        f'<rpc-reply xmlns="{NS_BASE}"{attrs}><rpc-error><error-type>{err.kind}</error-type>'
        f"<error-tag>{err.tag}</error-tag><error-severity>error</error-severity>"
        f'<error-message xml:lang="en">{escape(str(err))}</error-message>'
        "</rpc-error></rpc-reply>"
    ).encode()


def hello_message(session_id: int, extra: tuple[str, ...] | list[str] = ()) -> bytes:
    caps = "".join(f"<capability>{escape(c)}</capability>" for c in (*CAPABILITIES, *extra))
    return (
        f'<hello xmlns="{NS_BASE}"><capabilities>{caps}</capabilities>'
        f"<session-id>{session_id}</session-id></hello>"
    ).encode()


class NetconfSession:
    def __init__(
        self,
        device: SimDevice,
        stdin: asyncssh.SSHReader[bytes],
        stdout: asyncssh.SSHWriter[bytes],
    ) -> None:
        self.device = device
        self.id = next(_session_ids)
        self.subscribed = False
        self.chunked = False
        self._stdin = stdin
        self._stdout = stdout
        self._decoder = Decoder(MAX_MESSAGE)
        self._write_lock = asyncio.Lock()
        self._hello_done = False
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    # ---- input ---------------------------------------------------------------------

    async def run(self) -> None:
        self._task = asyncio.current_task()
        self.device.sessions.add(self)
        try:
            hello = hello_message(self.id, self.device.model.capabilities())
            await self._send(hello, chunked=False)
            while not self._closing:
                data = await self._stdin.read(READ_SIZE)
                if not data:
                    break
                try:
                    pending = self._decoder.feed(data)
                    while pending:
                        for msg in pending:
                            await self._handle(msg)
                            if self._closing:
                                return
                        pending = self._decoder.feed(b"")
                except FramingError as exc:
                    await self._send(error_reply("", RpcError("malformed-message", str(exc))))
                    break
        except (asyncssh.Error, ConnectionError, BrokenPipeError):
            pass  # the peer went away: nothing to tell anyone
        finally:
            self.device.sessions.discard(self)
            self.close()

    def close(self) -> None:
        self._closing = True
        self._stdout.channel.close()
        # A reply withheld by "hang" would otherwise wait forever on a dead channel.
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def _handle(self, msg: bytes) -> None:
        try:
            root = etree.fromstring(msg, _parser())
        except etree.XMLSyntaxError as exc:
            if not self._hello_done:
                self.close()  # RFC 6241 8.1: no valid hello, no session
                return
            await self._reply("", error_reply("", RpcError("malformed-message", f"bad XML: {exc}")))
            return
        if not self._hello_done:
            self._on_hello(root)
            return
        if root.tag != f"{{{NS_BASE}}}rpc":
            await self._reply("", error_reply("", RpcError("malformed-message", "not an <rpc>")))
            return
        attrs = "".join(
            f" {k}={quoteattr(v)}" for k, v in root.attrib.items() if not k.startswith("{")
        )
        if "message-id" not in root.attrib:
            err = RpcError("missing-attribute", "<rpc> without message-id", "rpc")
            await self._reply(attrs, error_reply(attrs, err))
            return
        op = next(iter(root), None)
        if op is None:
            err = RpcError("missing-element", "empty <rpc>", "rpc")
            await self._reply(attrs, error_reply(attrs, err))
            return
        try:
            await self._dispatch(op, attrs)
        except RpcError as err:
            await self._reply(attrs, error_reply(attrs, err))

    def _on_hello(self, root: etree._Element) -> None:
        if root.tag != f"{{{NS_BASE}}}hello":
            self.close()
            return
        caps = {(c.text or "").strip() for c in root.iter(f"{{{NS_BASE}}}capability")}
        if BASE_11 in caps:
            self.chunked = True
            self._decoder.chunked = True
        elif BASE_10 not in caps:
            self.close()
            return
        self._hello_done = True

    async def _dispatch(self, op: etree._Element, attrs: str) -> None:
        name = etree.QName(op)
        if name.namespace == NS_NOTIF and name.localname == "create-subscription":
            await self._reply(attrs, self._subscribe(op, attrs))
            return
        if name.namespace != NS_BASE:
            raise RpcError("operation-not-supported", f"unknown RPC {name.text}", "protocol")
        if name.localname == "get":
            await self._get(op, attrs)
        elif name.localname == "get-config":
            await self._get_config(op, attrs)
        elif name.localname == "close-session":
            await self._reply(attrs, self._ok(attrs))
            self.close()
        elif name.localname == "kill-session":
            await self._reply(attrs, self._kill(op, attrs))
        else:
            raise RpcError("operation-not-supported", f"unknown RPC {name.localname}", "protocol")

    # ---- operations ----------------------------------------------------------------

    async def _get(self, op: etree._Element, attrs: str) -> None:
        wanted = _filter(op)
        mode = self.device.take_hostile_reply()
        if mode is not None:
            kind, path, size = mode
            await self._wait_answering()
            await self._stream(hostile.reply(kind, attrs, path, size))
            return
        body = self.device.model.data(wanted)
        await self._reply(attrs, self._data(attrs, body))

    async def _get_config(self, op: etree._Element, attrs: str) -> None:
        source = op.find(f"{{{NS_BASE}}}source")
        if source is None or len(source) != 1:
            raise RpcError("missing-element", "get-config needs <source>", "rpc")
        if etree.QName(source[0]).localname != "running":
            raise RpcError("invalid-value", "only the running datastore exists", "application")
        wanted = _filter(op)
        body = self.device.model.config()
        if wanted is not None:
            keep = wanted & {"interfaces", "system"}
            parts = etree.fromstring(f"<x>{body}</x>")
            body = "".join(
                etree.tostring(el, encoding="unicode")
                for el in parts
                if etree.QName(el).localname in keep
            )
        await self._reply(attrs, self._data(attrs, body))

    def _subscribe(self, op: etree._Element, attrs: str) -> bytes:
        stream = op.findtext(f"{{{NS_NOTIF}}}stream")
        if stream not in (None, "NETCONF"):
            raise RpcError("invalid-value", f"no stream {stream!r}; only NETCONF", "application")
        if op.find(f"{{{NS_NOTIF}}}startTime") is not None:
            raise RpcError("operation-failed", "replay is not supported", "application")
        if self.subscribed:
            raise RpcError("operation-failed", "a subscription is already active", "protocol")
        self.subscribed = True
        return self._ok(attrs)

    def _kill(self, op: etree._Element, attrs: str) -> bytes:
        raw = op.findtext(f"{{{NS_BASE}}}session-id")
        try:
            target = int(raw or "")
        except ValueError:
            raise RpcError("invalid-value", "session-id must be a number", "protocol") from None
        if target == self.id:
            raise RpcError("invalid-value", "cannot kill the current session", "protocol")
        for session in list(self.device.sessions):
            if session.id == target:
                session.close()
                return self._ok(attrs)
        raise RpcError("invalid-value", f"no session {target}", "protocol")

    @staticmethod
    def _ok(attrs: str) -> bytes:
        return f'<rpc-reply xmlns="{NS_BASE}"{attrs}><ok/></rpc-reply>'.encode()

    @staticmethod
    def _data(attrs: str, body: str) -> bytes:
        return f'<rpc-reply xmlns="{NS_BASE}"{attrs}><data>{body}</data></rpc-reply>'.encode()

    # ---- output --------------------------------------------------------------------

    async def _wait_answering(self) -> None:
        """A hung device withholds replies; a slow one adds its delay to each."""
        await self.device.answering.wait()
        if self.device.delay > 0:
            await asyncio.sleep(self.device.delay)
            await self.device.answering.wait()

    async def _reply(self, attrs: str, message: bytes) -> None:
        await self._wait_answering()
        await self._send(message)

    async def _send(self, message: bytes, chunked: bool | None = None) -> None:
        async with self._write_lock:
            self._stdout.write(frame(message, self.chunked if chunked is None else chunked))

    async def _stream(self, pieces: Iterable[bytes]) -> None:
        """A reply too big to build in memory: one chunk per piece, draining as we go."""
        async with self._write_lock:
            for piece in pieces:
                if self._closing:
                    return
                self._stdout.write(chunk_header(len(piece)) + piece if self.chunked else piece)
                await self._stdout.drain()
            self._stdout.write(b"\n##\n" if self.chunked else b"]]>]]>")

    def notify(self, messages: list[bytes]) -> None:
        """Queue notifications behind any reply being written (keeps order)."""
        # A hung device sends nothing at all: those notifications are lost, as on a real one.
        if self.subscribed and not self._closing and self.device.answering.is_set():
            asyncio.get_running_loop().create_task(self._send_all(messages))

    async def _send_all(self, messages: list[bytes]) -> None:
        try:
            for msg in messages:
                await self._send(msg)
        except (asyncssh.Error, ConnectionError, BrokenPipeError):
            pass


def _filter(op: etree._Element) -> set[str] | None:
    """Top-level containers a subtree filter selects; None = no filter, everything."""
    flt = op.find(f"{{{NS_BASE}}}filter")
    if flt is None:
        return None
    if flt.get("type", "subtree") != "subtree":
        raise RpcError("bad-attribute", "only subtree filters are supported", "protocol")
    wanted: set[str] = set()
    for child in flt:
        if not isinstance(child.tag, str):
            continue  # comments
        qname = etree.QName(child)
        ns = TOP_LEVEL.get(qname.localname)
        if ns is not None and qname.namespace in (None, ns):
            wanted.add(qname.localname)
    return wanted
