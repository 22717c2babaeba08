"""Plain-Python types of the SNMP adapter: what the rest of the agent sees instead of pysnmp's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from shared.model import CredentialProfile, NetworkElement

Oid = tuple[int, ...]

# int: Integer32/Counter32/Gauge32/TimeTicks/Counter64/Unsigned32; bytes: OCTET STRING, Opaque,
# BITS (raw, never decoded); Oid: OBJECT IDENTIFIER; str: IpAddress as a dotted quad;
# None: noSuchObject/noSuchInstance/endOfMibView/NULL.
SnmpValue = int | bytes | Oid | str | None


@dataclass(frozen=True, slots=True)
class SnmpTarget:
    """One NE as the SNMP adapter addresses it."""

    host: str
    port: int
    profile: CredentialProfile
    timeout: float = 2.0
    retries: int = 1
    context: str = ""  # SNMPv3 context name
    engine_id: str = ""  # SNMPv3: the NE's pinned authoritative engine ID (hex); "": discover

    @property
    def where(self) -> str:
        """host:port for messages (never the credentials)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def resolve_context(ne: NetworkElement, profile: CredentialProfile) -> str:
    """The SNMPv3 context name to poll an NE in: its own, else its profile's (else "")."""
    return ne.context or profile.context


class V3Fields(TypedDict):
    context: str
    engine_id: str


def v3_fields(ne: NetworkElement, profile: CredentialProfile) -> V3Fields:
    """The SnmpTarget fields an NE's inventory record sets for SNMPv3: the context name and
    the pinned engine ID (``SnmpTarget(..., **v3_fields(ne, profile))``)."""
    return {"context": resolve_context(ne, profile), "engine_id": ne.engine_id}


def parse_oid(text: str) -> Oid:
    """'1.3.6.1.2.1.1.1.0' (leading dot allowed) -> (1, 3, 6, 1, 2, 1, 1, 1, 0)."""
    try:
        oid = tuple(int(part) for part in text.strip().lstrip(".").split("."))
    except ValueError:
        raise ValueError(f"not a numeric OID: {text!r}") from None
    if len(oid) < 2 or any(arc < 0 for arc in oid):
        raise ValueError(f"not a numeric OID: {text!r}")
    return oid


def format_oid(oid: Oid) -> str:
    return ".".join(map(str, oid))
