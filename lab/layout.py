"""How a new lab is laid out: which device speaks what, on which address, as which engine.

One job: the choices ``Lab.create`` puts together, checked before anything is written:
loopback addresses, the devices spread evenly over SNMPv3 and NETCONF, deterministic
engine IDs, the quirks asked for, and the NETCONF simulator's keys and spec.
"""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path

from lab import recording
from lab.netconf import fleet as nc_fleet
from lab.state import NETCONF, LabState
from lab.topology import Topology
from shared.errors import LabError

DEFAULT_V3_USER = "emsv3"
# IANA example enterprise 32473 with the RFC 3411 high bit, format 5 (octets).
ENGINE_ID_PREFIX = "80007ed905"


def engine_id(name: str) -> str:
    """Deterministic, distinct per device name: a restart keeps its identity."""
    return ENGINE_ID_PREFIX + hashlib.sha256(name.encode()).hexdigest()[:16]


def addresses(base_address: str, count: int) -> list[str]:
    try:
        base = ipaddress.IPv4Address(base_address)
    except ValueError as exc:
        raise LabError(f"bad base address {base_address!r}: {exc}") from None
    if base not in ipaddress.IPv4Network("127.0.0.0/8"):
        raise LabError(f"base address {base} is not on loopback (127.0.0.0/8)")
    net = ipaddress.IPv4Network(f"{base}/24", strict=False)
    addrs = [base + k + 1 for k in range(count)]
    if count > 0 and (addrs[-1] not in net or addrs[-1] == net.broadcast_address):
        raise LabError(f"{count} devices do not fit in {net} from {base}")
    return [str(a) for a in addrs]


def _spread(names: list[str], share: float, what: str) -> set[str]:
    """Pick ``share`` of ``names`` evenly in order: with 0.5, the 2nd, 4th, 6th..."""
    if not 0.0 <= share <= 1.0:
        raise LabError(f"{what} share must be within 0..1, not {share}")
    return {n for i, n in enumerate(names) if int((i + 1) * share) > int(i * share)}


def v3_devices(names: list[str], share: float) -> set[str]:
    return _spread(names, share, "v3")


def netconf_devices(names: list[str], share: float) -> set[str]:
    """Every k-th device; at least one when asked for any and there are two or more."""
    chosen = _spread(names, share, "NETCONF")
    if share > 0 and not chosen and len(names) >= 2:
        chosen = {names[-1]}
    return chosen


def check_quirks(quirks: dict[str, list[str]], names: list[str], netconf: set[str]) -> None:
    for name, wanted in quirks.items():
        if name not in names:
            raise LabError(f"quirks for {name!r}: no such device in this lab")
        if name in netconf:
            raise LabError(f"quirks for {name!r}: it is a NETCONF device (quirks are SNMP)")
        unknown = set(wanted) - recording.QUIRKS.keys()
        if unknown:
            raise LabError(
                f"quirks for {name!r}: unknown {sorted(unknown)} "
                f"(known: {', '.join(recording.QUIRKS)})"
            )


def create_netconf(sdir: Path, state: LabState, topo: Topology, addrs: list[str]) -> None:
    """Keys, password and simulator spec of the NETCONF devices; fills ``state`` in."""
    names = {d.name for d in state.by_protocol(NETCONF)}
    specs = nc_fleet.specs_from_topology(topo, addrs, state.netconf_port, names)
    fragment = nc_fleet.create(sdir, specs)
    profile = fragment["profiles"][0]
    state.netconf_user = str(profile["user"])
    state.netconf_password = str(profile["password"])
    state.netconf_key_file = str(profile["key_file"])
    keys = {str(d["name"]): str(d["host_key"]) for d in fragment["devices"]}
    for dev in state.by_protocol(NETCONF):
        dev.host_key = keys[dev.name]
