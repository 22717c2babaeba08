"""One asyncio process answering SNMP for thousands of devices, each on its own address.

Every device has a UDP socket bound to its own loopback address (all on one port), read by
one reader callback, so an answer leaves from the address the request went to and a trap
from the device's own address, as with the snmpsim lab. Requests are decoded and answers
encoded with ``shared.ber`` / ``shared.usm``: a whole poll costs the responder a fraction
of what it costs the poller, so one core serves thousands of NEs.

Faults per device mirror the lab's (``lab.fleet.Lab``): an interface down or up (with a
linkDown/linkUp trap when a trap target is set), unreachable (requests dropped, sockets
kept), slow (answers delayed), restart (sysUpTime and the engine time start again, boots
grow; coldStart trap). For the benchmarks each device records the time of the last request
it answered, and since a mark the first one and which source ports asked.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterable, Sequence

from shared import ber
from shared.errors import BerDecodeError, LabError
from shared.smi import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    PDU_GET,
    PDU_GETBULK,
    PDU_GETNEXT,
    PDU_RESPONSE,
    PDU_TRAP_V2,
    SNMP_TRAP_OID_0,
    SYS_UPTIME_0,
    VERSION_V2C,
    VERSION_V3,
    Oid,
    ResponseVarBind,
    TimeTicks,
)

from .mib import Device, View
from .v3 import Engines, Request

log = logging.getLogger(__name__)

# Under the poller's decode limit (shared.ber_decode.MAX_VARBINDS = 512), like snmpsim's cap.
MAX_RESPONSE_VARBINDS = 500
RECV_BATCH = 64  # datagrams read per readable event before other sockets get a turn
NO_ACCESS = 6  # error-status for a SET: these devices are read-only

TRAPS: dict[str, Oid] = {
    "coldStart": (1, 3, 6, 1, 6, 3, 1, 1, 5, 1),
    "linkDown": (1, 3, 6, 1, 6, 3, 1, 1, 5, 3),
    "linkUp": (1, 3, 6, 1, 6, 3, 1, 1, 5, 4),
}
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)


class Responder:
    def __init__(
        self,
        devices: Sequence[Device],
        port: int,
        community: bytes,
        engines: Engines,
        trap_target: tuple[str, int] | None = None,
    ) -> None:
        self.devices = {d.name: d for d in devices}
        self.port = port
        self.community = community
        self.engines = engines
        self.trap_target = trap_target
        self.view = View()
        self.mark = 0.0
        self._sockets: dict[str, socket.socket] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = {
            "received": 0,
            "answered": 0,
            "dropped_unreachable": 0,
            "malformed": 0,
            "wrong_community": 0,
            "wrong_version": 0,
            "traps_sent": 0,
        }

    # ---- sockets ---------------------------------------------------------------------

    def open(self) -> None:
        """Bind every device's socket and start reading (inside the running loop)."""
        self._loop = loop = asyncio.get_running_loop()
        try:
            for dev in self.devices.values():
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._sockets[dev.name] = sock
                sock.setblocking(False)
                sock.bind((dev.address, self.port))
                loop.add_reader(sock.fileno(), self._readable, dev, sock)
        except OSError as exc:
            self.close()
            raise LabError(f"cannot bind {dev.address}:{self.port}: {exc}") from None

    def close(self) -> None:
        for sock in self._sockets.values():
            if self._loop is not None and sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()

    def _readable(self, dev: Device, sock: socket.socket) -> None:
        for _ in range(RECV_BATCH):
            try:
                data, source = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.stats["received"] += 1
            if dev.unreachable:
                self.stats["dropped_unreachable"] += 1
                continue
            now = time.time()
            try:
                reply = self.answer(dev, data, now)
            except BerDecodeError:
                self.stats["malformed"] += 1
                continue
            if reply is None:
                continue
            self.stats["answered"] += 1
            dev.last_request = now
            dev.requests += 1
            if now >= self.mark:
                if not dev.first_since_mark:
                    dev.first_since_mark = now
                dev.sources_since_mark.add(source[1])
            if dev.delay > 0 and self._loop is not None:
                self._loop.call_later(dev.delay, self._send, sock, reply, source)
            else:
                self._send(sock, reply, source)

    @staticmethod
    def _send(sock: socket.socket, data: bytes, target: tuple[str, int]) -> None:
        try:
            sock.sendto(data, target)
        except OSError:
            pass  # a full buffer is a lost datagram, as on a real network: the poller retries

    # ---- SNMP ------------------------------------------------------------------------

    def answer(self, dev: Device, data: bytes, now: float) -> bytes | None:
        """The datagram answering ``data`` (a Response or a Report), or None to drop it."""
        version = ber.peek_version(data)
        if version == VERSION_V3:
            if not dev.v3:
                self.stats["wrong_version"] += 1
                return None
            got = self.engines.receive(dev, data, now)
            if not isinstance(got, Request):
                return got
            pdu = self._pdu(dev, got.pdu, now)
            return self.engines.response(dev, got, pdu, now)
        if version != VERSION_V2C or dev.v3:
            self.stats["wrong_version"] += 1
            return None
        msg = ber.decode_pdu_message(data)
        if msg.community != self.community:
            self.stats["wrong_community"] += 1
            return None
        return ber.encode_message(VERSION_V2C, msg.community, self._pdu(dev, msg.pdu, now))

    def _pdu(self, dev: Device, pdu: ber.ResponsePdu, now: float) -> bytes:
        up = max(0.0, now - dev.started)
        oids = [o for o, _ in pdu.varbinds]
        status = index = 0
        if pdu.pdu_type == PDU_GET:
            varbinds = [(o, self._get(dev, o, up)) for o in oids]
        elif pdu.pdu_type == PDU_GETNEXT:
            varbinds = [self._next(dev, o, up) for o in oids]
        elif pdu.pdu_type == PDU_GETBULK:
            varbinds = self._bulk(dev, oids, pdu.error_status, pdu.error_index, up)
        else:
            varbinds = [(o, None) for o in oids]
            status, index = NO_ACCESS, 1 if oids else 0
        return ber.encode_pdu(
            PDU_RESPONSE, pdu.request_id, varbinds, error_status=status, error_index=index
        )

    def _get(self, dev: Device, oid: Oid, up: float) -> ber.ResponseValue:
        value = self.view.get(dev, oid, up)
        return NO_SUCH_INSTANCE if value is None else value

    def _next(self, dev: Device, oid: Oid, up: float) -> ResponseVarBind:
        got = self.view.next(dev, oid, up)
        return (oid, END_OF_MIB_VIEW) if got is None else got

    def _bulk(
        self, dev: Device, oids: list[Oid], non_repeaters: int, max_reps: int, up: float
    ) -> list[ResponseVarBind]:
        """RFC 3416 4.2.3, ending early once every repeater is at the end of the view."""
        n = min(max(non_repeaters, 0), len(oids))
        out: list[ResponseVarBind] = [self._next(dev, o, up) for o in oids[:n]]
        last = oids[n:]
        if not last:
            return out
        reps = max(0, min(max_reps, (MAX_RESPONSE_VARBINDS - n) // len(last)))
        for _ in range(reps):
            row = [self._next(dev, o, up) for o in last]
            out += row
            if all(v is END_OF_MIB_VIEW for _, v in row):
                break
            last = [o for o, _ in row]
        return out

    # ---- faults (by device name; the control socket calls these) ----------------------

    def device(self, name: str) -> Device:
        dev = self.devices.get(name)
        if dev is None:
            raise LabError(f"no device {name!r} in this scale lab")
        return dev

    def if_down(self, name: str, ifindex: int) -> None:
        self._set_oper(name, ifindex, up=False)

    def if_up(self, name: str, ifindex: int) -> None:
        self._set_oper(name, ifindex, up=True)

    def _set_oper(self, name: str, ifindex: int, up: bool) -> None:
        dev = self.device(name)
        if not 1 <= int(ifindex) <= dev.ports:
            raise LabError(f"{name} has no ifIndex {ifindex} (1..{dev.ports})")
        ifindex = int(ifindex)
        (dev.oper_down.discard if up else dev.oper_down.add)(ifindex)
        dev.last_change[ifindex] = int((time.time() - dev.started) * 100)
        self.send_trap(name, "linkUp" if up else "linkDown", ifindex)

    def unreachable(self, name: str) -> None:
        self.device(name).unreachable = True

    def reachable(self, name: str) -> None:
        self.device(name).unreachable = False

    def slow(self, name: str, ms: float) -> None:
        self.device(name).delay = max(0.0, float(ms)) / 1000.0

    def restart(self, name: str) -> None:
        """sysUpTime and the engine time from 0, boots + 1; cut links stay cut, as in the lab."""
        dev = self.device(name)
        dev.started, dev.boots = time.time(), dev.boots + 1
        dev.last_change.clear()
        dev.unreachable, dev.delay = False, 0.0
        self.send_trap(name, "coldStart")

    def set_trap_target(self, host: str | None, port: int | None) -> None:
        self.trap_target = None if host is None or port is None else (str(host), int(port))

    def send_trap(
        self,
        name: str,
        kind: str,
        ifindex: int | None = None,
        target: tuple[str, int] | None = None,
    ) -> bool:
        """Send a trap from the device's address (to the trap target); False if there is none."""
        dev = self.device(name)
        target = target or self.trap_target
        if target is None:
            return False
        if kind not in TRAPS:
            raise LabError(f"unknown trap {kind!r} (one of {', '.join(TRAPS)})")
        now = time.time()
        binds: list[ResponseVarBind] = [
            (SYS_UPTIME_0, TimeTicks(int((now - dev.started) * 100))),
            (SNMP_TRAP_OID_0, TRAPS[kind]),
        ]
        if kind != "coldStart":
            if ifindex is None:
                raise LabError(f"{kind} needs an ifIndex")
            up = kind == "linkUp"
            binds += [
                ((*IF_ENTRY, 1, ifindex), ifindex),
                ((*IF_ENTRY, 7, ifindex), 1),
                ((*IF_ENTRY, 8, ifindex), 1 if up else 2),
            ]
        request_id = int(now * 1000) & 0x7FFFFFFF
        pdu = ber.encode_pdu(PDU_TRAP_V2, request_id, binds)
        if dev.v3:
            data = self.engines.trap(dev, pdu, now)
        else:
            data = ber.encode_message(VERSION_V2C, self.community, pdu)
        sock = self._sockets.get(name)
        if sock is None:
            raise LabError("the responder is not serving")
        self._send(sock, data, target)
        self.stats["traps_sent"] += 1
        return True

    # ---- what the benchmarks read ------------------------------------------------------

    def set_mark(self) -> float:
        """From now on, record per device the first request answered and who asked."""
        self.mark = time.time()
        for dev in self.devices.values():
            dev.first_since_mark = 0.0
            dev.sources_since_mark.clear()
        return self.mark

    def polls(self, names: Iterable[str] | None = None) -> dict[str, list[float | int]]:
        """name -> [last request, first since the mark (0: none), requests, sources since]."""
        chosen = self.devices.values() if names is None else [self.device(n) for n in names]
        return {
            d.name: [d.last_request, d.first_since_mark, d.requests, len(d.sources_since_mark)]
            for d in chosen
        }

    def status(self) -> dict[str, object]:
        faults = {
            d.name: {
                "oper_down": sorted(d.oper_down),
                "unreachable": d.unreachable,
                "delay_ms": d.delay * 1000,
            }
            for d in self.devices.values()
            if d.oper_down or d.unreachable or d.delay
        }
        return {
            "devices": len(self.devices),
            "v3": sum(1 for d in self.devices.values() if d.v3),
            "port": self.port,
            "stats": self.stats | self.engines.stats,
            "faults": faults,
        }
