"""Plain-Python types of the SNMP adapter: what the rest of the agent sees instead of pysnmp's."""

from __future__ import annotations

from dataclasses import dataclass

from shared.model import CredentialProfile

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

    @property
    def where(self) -> str:
        """host:port for messages (never the credentials)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


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
