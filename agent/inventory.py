"""Inventory records (credential profiles, NEs, manual links) in their outside forms.

One job: validate and convert. The JSON inventory document (``emspool ne import``,
the lab's inventory, what ``emspool ne add/set`` build) becomes records or a
``ConfigError`` naming the place and the field; records map to and from database rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.secretbox import SecretBox, SecretsKeyError, is_sealed
from shared.config import parse_profile
from shared.errors import ConfigError
from shared.model import CredentialProfile, LinkAlarms, NetworkElement, Protocol, SnmpVersion
from shared.schema import Link

if TYPE_CHECKING:
    from sqlalchemy import Row


def parse_inventory(
    data: Mapping[str, Any],
) -> tuple[list[CredentialProfile], list[NetworkElement], list[Link]]:
    """Validate the whole document before touching the database; ConfigError says where."""
    if not isinstance(data, Mapping):
        raise ConfigError("inventory: expected a JSON object")
    profiles = [_parse_profile(i, p) for i, p in enumerate(_list(data, "profiles"))]
    nes = [_parse_device(i, d) for i, d in enumerate(_list(data, "devices"))]
    for kind, names in (("profile", [p.name for p in profiles]), ("device", [n.name for n in nes])):
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"inventory: duplicate {kind} name(s): {', '.join(dupes)}")
    found_links = [_parse_link(i, x) for i, x in enumerate(_list(data, "links"))]
    return profiles, nes, found_links


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"inventory: {key!r} must be a list")
    return value


def _field(where: str, d: Mapping[str, Any], key: str, default: Any = None) -> Any:
    if key in d and d[key] is not None:
        return d[key]
    if default is None:
        raise ConfigError(f"{where}: missing {key!r}")
    return default


def _parse_profile(i: int, d: Any) -> CredentialProfile:
    # The same validation as profiles in an agent's config file.
    if not isinstance(d, Mapping):
        raise ConfigError(f"inventory: profiles[{i}]: expected an object")
    fields = {k: v for k, v in d.items() if v is not None}
    if isinstance(fields.get("version"), str):
        fields["version"] = fields["version"].lower().removeprefix("v")
    return parse_profile(fields, f"inventory: profiles[{i}]")


def _parse_device(i: int, d: Any) -> NetworkElement:
    return parse_ne(d, f"inventory: devices[{i}]")


def ne_changes(old: NetworkElement, new: NetworkElement) -> dict[str, Any]:
    """The fields of ``new`` that differ from ``old`` (what `ne set` and ``db.ne.set``
    write with ``Database.update_ne``)."""
    return {
        k: getattr(new, k)
        for k in NetworkElement.__dataclass_fields__
        if getattr(new, k) != getattr(old, k)
    }


def parse_ne(d: Any, where: str) -> NetworkElement:
    """One NE record in the inventory's JSON form (also what `emspool ne add/set` build);
    ConfigError names ``where``, the NE and the bad field."""
    if not isinstance(d, Mapping):
        raise ConfigError(f"{where}: expected an object")
    name = str(_field(where, d, "name"))
    where = f"{where} ({name})"
    try:
        port = int(_field(where, d, "port", 161))
        raw_protocols = d.get("protocols") or ["snmp"]
        if isinstance(raw_protocols, str):
            raw_protocols = raw_protocols.split(",")
        protocols = frozenset(Protocol(str(p).strip().lower()) for p in raw_protocols)
        interval = d.get("poll_interval")
        poll_interval = None if interval is None else float(interval)
        netconf_port = int(d.get("netconf_port") or 830)
        managed = d.get("managed", True)
        if not isinstance(managed, bool):
            raise ValueError(f"managed must be true or false, got {managed!r}")
        link_alarms = LinkAlarms(str(d.get("link_alarms") or "default").lower())
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{where}: port {port} out of range")
    return NetworkElement(
        name=name,
        address=str(_field(where, d, "address")),
        port=port,
        profile=str(_field(where, d, "profile", "default")),
        kind=str(_field(where, d, "kind", "router")),
        protocols=protocols,
        poll_interval=poll_interval,
        netconf_port=netconf_port,
        host_key=str(d.get("host_key") or ""),
        managed=managed,
        engine_id=_engine_id(d.get("engine_id"), where),
        context=str(d.get("context") or ""),
        link_alarms=link_alarms,
        interface_alarms=_interface_alarms(d.get("interface_alarms") or {}, where),
        zone=_pool_name(d.get("zone"), "zone", where),
        pin=_pool_name(d.get("pin"), "pin", where),
    )


_POOL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def _pool_name(v: Any, key: str, where: str) -> str:
    """A zone or a pinned agent's node id ("" none)."""
    if v is None or v == "":
        return ""
    if not isinstance(v, str) or not _POOL_NAME.match(v):
        raise ConfigError(
            f"{where}: {key} must be 1-100 letters, digits, '.', '_' or '-', got {v!r}"
        )
    return v


def _parse_link(i: int, d: Any) -> Link:
    where = f"inventory: links[{i}]"
    if not isinstance(d, Mapping):
        raise ConfigError(f"{where}: expected an object")
    return Link(
        a_ne=str(_field(where, d, "a")),
        a_port=str(_field(where, d, "a_port")),
        b_ne=str(_field(where, d, "b")),
        b_port=str(_field(where, d, "b_port")),
        source="manual",
    )


# The stored fields that are secrets: sealed with the pool secrets key when the agent or
# the CLI has one (agent/secretbox.py), so the database alone logs in to no NE.
SECRET_FIELDS = ("community", "auth_key", "priv_key", "password")


def profile_values(p: CredentialProfile, box: SecretBox | None = None) -> dict[str, str]:
    values = {
        "version": p.version.value,
        "community": p.community,
        "user": p.user,
        "auth_protocol": p.auth_protocol,
        "auth_key": p.auth_key,
        "priv_protocol": p.priv_protocol,
        "priv_key": p.priv_key,
        "password": p.password,
        "key_file": p.key_file,
        "context": p.context,
    }
    if box is not None:
        for f in SECRET_FIELDS:
            values[f] = box.seal(values[f])
    return values


def profile_from_row(row: Row[Any], box: SecretBox | None = None) -> CredentialProfile:
    def secret(field_name: str) -> str:
        stored = str(getattr(row, field_name))
        if not is_sealed(stored):
            return stored
        what = f"credentials profile {row.name!r} ({field_name})"
        if box is None:
            raise SecretsKeyError(
                f"{what} is encrypted and no pool secrets key is configured here "
                "(set secrets.key_file, or --secrets-key / EMSPOOL_SECRETS_KEY for the CLI)"
            )
        return box.open(stored, what)

    return CredentialProfile(
        name=row.name,
        version=SnmpVersion(row.version),
        community=secret("community"),
        user=row.user,
        auth_protocol=row.auth_protocol,
        auth_key=secret("auth_key"),
        priv_protocol=row.priv_protocol,
        priv_key=secret("priv_key"),
        password=secret("password"),
        key_file=row.key_file,
        context=row.context,
    )


def ne_values(ne: NetworkElement) -> dict[str, object]:
    return {
        "address": ne.address,
        "port": ne.port,
        "profile": ne.profile,
        "kind": ne.kind,
        "protocols": ",".join(sorted(p.value for p in ne.protocols)),
        "poll_interval": ne.poll_interval,
        "netconf_port": ne.netconf_port,
        "host_key": ne.host_key,
        "managed": ne.managed,
        "engine_id": ne.engine_id,
        "context": ne.context,
        "link_alarms": ne.link_alarms.value,
        "interface_alarms": json.dumps(dict(ne.interface_alarms), sort_keys=True),
        "zone": ne.zone,
        "pin": ne.pin,
    }


def ne_from_row(row: Row[Any]) -> NetworkElement:
    return NetworkElement(
        name=row.name,
        address=row.address,
        port=row.port,
        profile=row.profile,
        kind=row.kind,
        protocols=frozenset(Protocol(p) for p in row.protocols.split(",") if p),
        poll_interval=row.poll_interval,
        netconf_port=row.netconf_port,
        host_key=row.host_key,
        managed=bool(row.managed),
        engine_id=row.engine_id,
        context=row.context,
        link_alarms=LinkAlarms(row.link_alarms),
        interface_alarms=_interface_alarms(json.loads(row.interface_alarms or "{}"), "stored"),
        zone=row.zone,
        pin=row.pin,
    )


def _interface_alarms(raw: Any, where: str) -> tuple[tuple[str, LinkAlarms], ...]:
    """{"ge-0/0/1": "ignore", "3": "monitor"} -> sorted pairs; ConfigError names the bad one."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: interface_alarms must be an object of name -> mode")
    out: list[tuple[str, LinkAlarms]] = []
    for key, mode in raw.items():
        try:
            out.append((str(key), LinkAlarms(str(mode).lower())))
        except ValueError:
            modes = ", ".join(m.value for m in LinkAlarms)
            raise ConfigError(
                f"{where}: interface_alarms[{key!r}]: {mode!r} is not one of {modes}"
            ) from None
    return tuple(sorted(out))


def _engine_id(raw: Any, where: str) -> str:
    """A pinned engine ID as hex (RFC 3411: 5..32 octets); ConfigError otherwise."""
    text = str(raw or "").strip().lower().removeprefix("0x").replace(":", "")
    if not text:
        return ""
    try:
        octets = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"{where}: engine_id {raw!r} is not hex") from None
    if not 5 <= len(octets) <= 32:
        raise ConfigError(f"{where}: engine_id must be 5 to 32 octets, got {len(octets)}")
    return octets.hex()
