"""The pysnmp request path: one GET / GETNEXT / GETBULK through pysnmp's command generators.

One job: what SnmpClient needs of pysnmp (DES, and the comparison benchmarks with
``native_v2c=False`` / ``native_v3=False``). It uses the low-level
``pysnmp.entity.rfc3413.cmdgen`` API rather than the hlapi coroutines: the hlapi wraps every
varbind into ObjectType/ObjectIdentity objects and back, and its LCD cache of targets never
shrinks. Here requests carry bare ObjectName/Null pairs and the per-target engine rows live
in a bounded LRU (see _targets.py). pysnmp's outcomes become our SnmpError kinds here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pyasn1.type.univ import Null
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.error import PySnmpError
from pysnmp.proto import errind
from pysnmp.proto import error as proto_error
from pysnmp.proto.rfc1902 import ObjectName

from shared import ber
from shared.errors import SnmpAuthError, SnmpError, SnmpProtocolError

from . import _values
from ._errors import timeout_error
from ._targets import Target
from .types import Oid, SnmpTarget

_NULL = Null("")

# USM (and community) outcomes that mean "your credentials are wrong", not "the NE is down".
_AUTH_INDICATIONS: tuple[type[errind.ErrorIndication], ...] = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.DecryptionError,
    errind.UnknownEngineID,
    errind.NotInTimeWindow,
    errind.UnknownSecurityName,
    errind.UnsupportedSecurityLevel,
    errind.AuthenticationError,
    errind.AuthenticationFailure,
    errind.UnknownCommunityName,
    errind.NoAuthentication,
    errind.NoEncryption,
    errind.EncryptionError,
    errind.UnsupportedAuthProtocol,
    errind.UnsupportedPrivProtocol,
)

# pysnmp counts timeouts in ticks of an asyncio.sleep(0.1) loop, which drifts late on a busy
# machine (measured: 1.75 s instead of 1.2 s at load 4 on 2 cores). Our own deadline is absolute,
# so a request never takes longer than timeout x (retries + 1) + this slack, whatever pysnmp's
# timer does. It is also the whole budget of a first SNMPv3 request, engine discovery included.
_DEADLINE_SLACK = 0.25

_Raw = tuple[Any, int, int, Sequence[tuple[Any, Any]]]


class PysnmpRequests:
    """Sends PDUs through the engines of _targets.py; ``close`` fails those still waiting."""

    def __init__(self) -> None:
        self._pending: set[asyncio.Future[_Raw]] = set()
        self._generators: dict[int, Any] = {
            ber.PDU_GET: cmdgen.GetCommandGenerator(),
            ber.PDU_GETNEXT: cmdgen.NextCommandGeneratorSingleRun(),
            ber.PDU_GETBULK: cmdgen.BulkCommandGeneratorSingleRun(),
        }

    async def request(
        self,
        target: SnmpTarget,
        entry: Target,
        pdu_type: int,
        oids: Sequence[Oid],
        repetitions: int | None,
    ) -> tuple[int, int, list[tuple[Oid, Any]]]:
        """Send one PDU: (error-status, error-index, varbinds with pysnmp's raw values)."""
        generator = self._generators[pdu_type]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Raw] = loop.create_future()

        def on_response(
            _engine: Any,
            _handle: Any,
            indication: Any,
            status: Any,
            index: Any,
            varbinds: Any,
            _ctx: Any,
        ) -> None:
            # Runs inside pysnmp's dispatcher: hand the raw answer over and nothing more.
            if not future.done():
                future.set_result((indication, status, index, varbinds))

        varbinds = [(ObjectName(oid), _NULL) for oid in oids]
        context = target.context.encode()
        try:
            if repetitions is None:
                generator.send_varbinds(
                    entry.engine, entry.addr_name, None, context, varbinds, on_response
                )
            else:
                generator.send_varbinds(
                    entry.engine,
                    entry.addr_name,
                    None,
                    context,
                    0,
                    repetitions,
                    varbinds,
                    on_response,
                )
        except proto_error.StatusInformation as exc:
            raise _indication_error(target, exc.get("errorIndication")) from None
        except PySnmpError as exc:
            raise SnmpProtocolError(
                f"{target.where}: request not sent ({type(exc).__name__})"
            ) from None
        self._pending.add(future)
        try:
            async with asyncio.timeout(target.timeout * (target.retries + 1) + _DEADLINE_SLACK):
                indication, status, index, answer = await future
        except TimeoutError:
            raise _indication_error(target, errind.requestTimedOut) from None
        finally:
            self._pending.discard(future)
        if indication:
            raise _indication_error(target, indication)
        return int(status), int(index), [(_values.name_to_oid(n), v) for n, v in answer]

    def close(self) -> None:
        for future in self._pending:
            if not future.done():
                future.set_exception(SnmpError("SNMP client closed"))
        self._pending.clear()


def _indication_error(target: SnmpTarget, indication: Any) -> SnmpError:
    # errind messages are fixed texts; they never carry a community or a key.
    text = str(indication)
    if isinstance(indication, errind.RequestTimedOut):
        return timeout_error(target)
    if isinstance(indication, _AUTH_INDICATIONS):
        return SnmpAuthError(f"{target.where}: {text}")
    return SnmpProtocolError(f"{target.where}: {text}")
