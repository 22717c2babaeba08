"""SnmpClient: GET and GETBULK/GETNEXT walks over our own v1/v2c and v3 transports (or pysnmp).

SNMP v1/v2c requests go through ``_v2c.V2cTransport`` (one shared UDP socket, ``shared.ber``
codec): pyasn1 decoding was ~85 % of a poll's CPU. SNMPv3 goes through ``_v3.V3Transport``
(``shared.usm`` codec, our own USM: discovery, keys, HMAC, DES and AES, the same machinery as
the trap receiver); ``native_v2c=False`` / ``native_v3=False`` send those versions through
pysnmp instead (comparison benchmarks).

The pysnmp request path (command generators, its error indications) is in _pysnmp.py; what
a failed request means (error-status names, auth reports, timeouts) is in _errors.py.

Walk results are all-or-nothing: a walk either returns every row of every subtree asked for
(sorted, even from an agent that serves them out of order: see _walk.py), or raises
(SnmpTimeout, SnmpAuthError, SnmpProtocolError) and the rows read so far are discarded, so a
caller never mistakes half a table for the whole one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pysnmp.entity.engine import SnmpEngine

from shared import ber
from shared.errors import ConfigError, SnmpError, SnmpProtocolError
from shared.model import CredentialProfile

from . import _values
from ._errors import NO_SUCH_NAME, TOO_BIG, report_error, status_error, timeout_error
from ._pysnmp import PysnmpRequests
from ._targets import Target, TargetKey, TargetRegistry
from ._udp import RequestTimeout
from ._v2c import V2cTransport
from ._v3 import UsmReport, UsmTimeout, V3Transport
from ._walk import ColumnWalk, WalkLoop, WalkResult
from .types import Oid, SnmpTarget, SnmpValue


@dataclass(frozen=True, slots=True)
class _Codec:
    """How to read the raw values of one request path."""

    is_end: Callable[[Any], bool]  # no data here: stop this column
    convert: Callable[[Any], SnmpValue]


def _ber_is_end(value: Any) -> bool:
    return value is None or isinstance(value, ber.ExceptionValue)


def _ber_to_python(value: Any) -> SnmpValue:
    return None if isinstance(value, ber.ExceptionValue) else value


_BER = _Codec(_ber_is_end, _ber_to_python)
_PYSNMP = _Codec(_values.is_end_marker, _values.to_python)


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    index: int
    varbinds: Sequence[tuple[Oid, Any]]
    codec: _Codec


class SnmpClient:
    """SNMP v1/v2c/v3 manager for many NEs: one shared UDP socket for v1/v2c (per address
    family), one shared SnmpEngine for v3.

    Create it and use it inside one running event loop (socket and engine bind to that loop on
    first use). Safe for many concurrent requests, to the same or different targets. The
    target's timeout x (retries + 1) bounds each request; a walk is several requests.
    ``native_v2c=False`` routes v1/v2c through pysnmp as well (for comparison benchmarks).
    """

    def __init__(
        self,
        *,
        max_repetitions: int = 25,
        max_targets: int = 4096,
        max_varbinds: int = 250,
        native_v2c: bool = True,
        native_v3: bool = True,
    ) -> None:
        if max_repetitions < 1 or max_targets < 1 or max_varbinds < 1:
            raise ValueError("max_repetitions, max_targets and max_varbinds must be >= 1")
        self._max_repetitions = max_repetitions
        self._max_targets = max_targets
        # Cap on varbinds asked per GETBULK (columns x repetitions), so a wide table does not
        # ask for a response too big for one UDP datagram.
        self._max_varbinds = max_varbinds
        self._native_v2c = native_v2c
        self._native_v3 = native_v3
        self._v3_transport: V3Transport | None = None
        self._registry: TargetRegistry | None = None
        self._transport: V2cTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._pysnmp = PysnmpRequests()

    # -- public API -------------------------------------------------------------------------

    async def get(self, target: SnmpTarget, oids: Sequence[Oid]) -> dict[Oid, SnmpValue]:
        """GET the given instances; a missing one (noSuchObject/noSuchInstance) maps to None."""
        result: dict[Oid, SnmpValue] = {}
        pending = [tuple(o) for o in oids]
        # Each pass either answers everything or removes one OID (v1 noSuchName) or splits the
        # request (tooBig), so the loop is bounded by a small multiple of len(oids).
        queue: list[list[Oid]] = [pending] if pending else []
        passes = 0
        while queue:
            passes += 1
            if passes > 4 * len(oids) + 4:
                raise SnmpProtocolError(f"{target.where}: GET does not converge")
            batch = queue.pop()
            answer = await self._request(target, ber.PDU_GET, batch)
            status, index, varbinds = answer.status, answer.index, answer.varbinds
            if status == NO_SUCH_NAME and 1 <= index <= len(batch):  # SNMPv1 "not there"
                result[batch[index - 1]] = None
                rest = batch[: index - 1] + batch[index:]
                if rest:
                    queue.append(rest)
                continue
            if status == TOO_BIG and len(batch) > 1:
                half = len(batch) // 2
                queue += [batch[:half], batch[half:]]
                continue
            if status:
                raise status_error(target, status, index)
            if len(varbinds) != len(batch):
                raise SnmpProtocolError(
                    f"{target.where}: GET answered {len(varbinds)} varbinds for {len(batch)}"
                )
            for asked, (oid, raw) in zip(batch, varbinds, strict=True):
                if oid != asked:
                    raise SnmpProtocolError(f"{target.where}: GET answered another OID")
                result[asked] = self._convert(target, answer.codec, raw)
        return result

    async def walk(
        self, target: SnmpTarget, root: Oid, *, max_rows: int = 100_000
    ) -> list[tuple[Oid, SnmpValue]]:
        """Every (OID, value) under ``root``, in order. GETBULK (GETNEXT for SNMPv1)."""
        return (await self.walk_many(target, [root], max_rows=max_rows))[tuple(root)]

    async def walk_many(
        self,
        target: SnmpTarget,
        roots: Sequence[Oid],
        *,
        max_rows: int = 100_000,
        strict: bool = False,
    ) -> WalkResult:
        """Walk several subtrees (e.g. table columns) together, several varbinds per request.

        Each subtree stops on its own at its end. An agent that serves a subtree out of OID
        order is followed as ``snmpwalk -Cc`` would, with a cycle guard (see _walk.py): the
        rows come back sorted and ``result.out_of_order`` says which roots needed it
        (``strict=True`` makes any non-increasing OID an error instead). ``max_rows`` bounds
        each subtree; more rows, a repeated OID or an empty answer raise SnmpProtocolError.
        All or nothing: on any error no partial result is returned.
        """
        if not roots:
            return WalkResult({}, {})
        walk = ColumnWalk(roots, max_rows=max_rows, strict=strict)
        v1 = target.profile.version.value == "1"
        repetitions = self._max_repetitions
        while not walk.done:
            oids = walk.next_oids()
            if v1:
                answer = await self._request(target, ber.PDU_GETNEXT, oids)
            else:
                reps = max(1, min(repetitions, self._max_varbinds // len(oids)))
                answer = await self._request(target, ber.PDU_GETBULK, oids, repetitions=reps)
            status, index = answer.status, answer.index
            if status == NO_SUCH_NAME and v1 and 1 <= index <= len(oids):
                walk.finish_position(index - 1)  # SNMPv1 way of saying "end of MIB"
                continue
            if status == TOO_BIG and not v1 and reps > 1:
                repetitions = max(1, reps // 2)
                continue
            if status:
                raise status_error(target, status, index)
            try:
                walk.feed(answer.varbinds, answer.codec.is_end, answer.codec.convert)
            except WalkLoop as exc:
                raise SnmpProtocolError(f"{target.where}: {exc}") from None
            except TypeError as exc:
                raise SnmpProtocolError(f"{target.where}: {exc}") from None
        return walk.result()

    def invalidate_profile(self, name: str) -> int:
        """Drop the cached engine rows and keys of every target using profile ``name``.

        A profile that reappears with changed settings is detected on its own; call this when
        a profile is deleted, so its secrets do not linger in the engine.
        """
        dropped = self._registry.invalidate_profile(name) if self._registry else 0
        self._retain_keys()
        return dropped

    def retain_profiles(self, current: Iterable[CredentialProfile]) -> int:
        """Keep only what was built from these profiles as they are now: targets, engine rows
        and v3 keys of changed or deleted profiles go. Returns the targets dropped."""
        dropped = self._registry.retain_profiles(current) if self._registry else 0
        self._retain_keys()
        return dropped

    def _retain_keys(self) -> None:
        if self._v3_transport is not None:
            users = self._registry.v3_users() if self._registry else set()
            self._v3_transport.retain(users)

    @property
    def cached_targets(self) -> int:
        return len(self._registry) if self._registry else 0

    @property
    def transport_stats(self) -> dict[str, int]:
        """Counters of the v1/v2c transport: sent, retries, dropped answers by reason, ..."""
        return dict(self._transport.stats) if self._transport else {}

    @property
    def v3_transport_stats(self) -> dict[str, int]:
        """Counters of the native v3 transport: sent, discoveries, resyncs, dropped answers..."""
        return dict(self._v3_transport.stats) if self._v3_transport else {}

    def close(self) -> None:
        """Close the socket and fail requests still waiting. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._pysnmp.close()
        if self._transport is not None:
            self._transport.close()
        self._transport = None
        if self._v3_transport is not None:
            self._v3_transport.close()
        self._v3_transport = None
        if self._registry is not None:
            self._registry.close()
        self._registry = None

    # -- internals --------------------------------------------------------------------------

    def _ensure_engine(self) -> TargetRegistry:
        if self._closed:
            raise SnmpError("SNMP client is closed")
        loop = asyncio.get_running_loop()
        if self._registry is None:
            # SnmpEngine() costs ~0.1 s and binds to the running loop: once per client (plus
            # one per conflicting v3 user, see _targets.py).
            self._registry = TargetRegistry(
                SnmpEngine,
                max_targets=self._max_targets,
                lean_v1v2c=self._native_v2c,
                lean_v3=self._native_v3,
            )
            if self._native_v2c:
                self._transport = V2cTransport()
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError("SnmpClient used from a different event loop than it started in")
        return self._registry

    async def _target(self, target: SnmpTarget) -> Target:
        registry = self._ensure_engine()
        key: TargetKey = (
            target.host,
            target.port,
            target.profile,
            target.timeout,
            target.retries,
        )
        cached = registry.lookup(key)
        if cached is not None:
            return cached
        if not 0 < target.port < 65536:
            raise ConfigError(f"{target.where}: port out of range")
        if target.timeout <= 0 or target.retries < 0:
            raise ConfigError(f"{target.where}: timeout must be > 0 and retries >= 0")
        address, ipv6 = await self._resolve(target)
        return registry.add(key, address, ipv6)

    @staticmethod
    async def _resolve(target: SnmpTarget) -> tuple[tuple[str, int], bool]:
        try:
            ip = ipaddress.ip_address(target.host)
        except ValueError:
            pass
        else:
            return (str(ip), target.port), ip.version == 6
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise SnmpError(f"{target.where}: cannot resolve host ({exc.strerror})") from None
        family, _, _, _, sockaddr = infos[0]
        return (str(sockaddr[0]), int(sockaddr[1])), family == socket.AF_INET6

    async def _request(
        self,
        target: SnmpTarget,
        pdu_type: int,
        oids: Sequence[Oid],
        *,
        repetitions: int | None = None,
    ) -> _Answer:
        """Send one GET / GETNEXT / GETBULK PDU and wait for its answer."""
        entry = await self._target(target)
        if entry.usm is not None:
            return await self._request_v3(target, entry, pdu_type, oids, repetitions)
        if entry.engine is None:
            return await self._request_native(target, entry, pdu_type, oids, repetitions)
        status, index, varbinds = await self._pysnmp.request(
            target, entry, pdu_type, oids, repetitions
        )
        return _Answer(status, index, varbinds, _PYSNMP)

    async def _request_native(
        self,
        target: SnmpTarget,
        entry: Target,
        pdu_type: int,
        oids: Sequence[Oid],
        repetitions: int | None,
    ) -> _Answer:
        transport = self._transport
        if transport is None:
            raise SnmpError("SNMP client is closed")
        try:
            response = await transport.request(
                entry.address,
                entry.ipv6,
                entry.version,
                entry.community,
                pdu_type,
                oids,
                max_repetitions=repetitions or 0,
                timeout=target.timeout,
                retries=target.retries,
            )
        except RequestTimeout:
            raise timeout_error(target) from None
        except ValueError as exc:  # an OID or field BER cannot carry
            raise SnmpProtocolError(f"{target.where}: request not sent ({exc})") from None
        return _Answer(response.error_status, response.error_index, response.varbinds, _BER)

    async def _request_v3(
        self,
        target: SnmpTarget,
        entry: Target,
        pdu_type: int,
        oids: Sequence[Oid],
        repetitions: int | None,
    ) -> _Answer:
        assert entry.usm is not None
        transport = self._v3_transport
        if transport is None:
            if self._closed:
                raise SnmpError("SNMP client is closed")
            transport = self._v3_transport = V3Transport()
        try:
            pinned = bytes.fromhex(target.engine_id)
        except ValueError:
            raise ConfigError(
                f"{target.where}: engine ID {target.engine_id!r} is not hex"
            ) from None
        try:
            pdu = await transport.request(
                entry.address,
                entry.ipv6,
                entry.usm,
                target.context.encode(),
                pdu_type,
                oids,
                pinned=pinned,
                max_repetitions=repetitions or 0,
                timeout=target.timeout,
                retries=target.retries,
            )
        except UsmTimeout as exc:
            raise timeout_error(target, exc.note) from None
        except UsmReport as report:
            raise report_error(target, report.name) from None
        except ValueError as exc:  # an OID or field BER cannot carry
            raise SnmpProtocolError(f"{target.where}: request not sent ({exc})") from None
        return _Answer(pdu.error_status, pdu.error_index, pdu.varbinds, _BER)

    @staticmethod
    def _convert(target: SnmpTarget, codec: _Codec, raw: Any) -> SnmpValue:
        try:
            return codec.convert(raw)
        except TypeError as exc:
            raise SnmpProtocolError(f"{target.where}: {exc}") from None
