"""A new lab's state directory: which device speaks what, where, with which credentials.

One job: from a topology and the shares of SNMPv3 and NETCONF devices to the files a lab
runs on (lab.json, each SNMP device's recording and snmpsim options, the NETCONF
simulator's keys and spec, the agent's inventory). Nothing is started here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from lab import devicefiles, recording
from lab.netconf import fleet as nc_fleet
from lab.state import (
    NETCONF,
    NETCONF_PROFILE,
    SNMP,
    V2C_PROFILE,
    V3_PROFILE,
    DeviceRuntime,
    LabState,
    locked,
    save,
    write_inventory,
)
from lab.topology import Topology
from lab.topology import build as build_topology
from shared.errors import LabError

DEFAULT_V3_USER = "emsv3"
# IANA example enterprise 32473 with the RFC 3411 high bit, format 5 (octets).
ENGINE_ID_PREFIX = "80007ed905"


def engine_id(name: str) -> str:
    """Deterministic, distinct per device name: a restart keeps its identity."""
    return ENGINE_ID_PREFIX + hashlib.sha256(name.encode()).hexdigest()[:16]


def _addresses(base_address: str, count: int) -> list[str]:
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


def _v3_devices(names: list[str], share: float) -> set[str]:
    return _spread(names, share, "v3")


def _netconf_devices(names: list[str], share: float) -> set[str]:
    """Every k-th device; at least one when asked for any and there are two or more."""
    chosen = _spread(names, share, "NETCONF")
    if share > 0 and not chosen and len(names) >= 2:
        chosen = {names[-1]}
    return chosen


def write_lab(
    sdir: Path,
    *,
    count: int,
    topology_kind: str,
    base_address: str,
    port: int,
    v3_share: float,
    v3_user: str,
    netconf_share: float,
    netconf_port: int,
    quirks: Mapping[str, Iterable[str]] | None,
) -> None:
    """Lay the lab out in ``sdir`` (see ``Lab.create`` for the parameters)."""
    try:
        topo = build_topology(topology_kind, count)
    except ValueError as exc:
        raise LabError(str(exc)) from None
    names = [d.name for d in topo.devices]
    netconf = _netconf_devices(names, netconf_share)
    wanted = {name: sorted(set(q)) for name, q in (quirks or {}).items()}
    _check_quirks(wanted, names, netconf)
    v3 = _v3_devices([n for n in names if n not in netconf], v3_share)
    addrs = _addresses(base_address, count)
    if netconf and not 0 < netconf_port < 65536:
        raise LabError(f"NETCONF port {netconf_port} out of range")
    state = LabState(
        topology=topology_kind,
        base_address=base_address,
        port=port,
        community="public-" + secrets.token_hex(6),
        v3_user=v3_user,
        auth_key=secrets.token_hex(16),
        priv_key=secrets.token_hex(16),
        links=list(topo.links),
        netconf_port=netconf_port,
    )
    for plan, addr in zip(topo.devices, addrs, strict=True):
        if plan.name in netconf:
            dev = DeviceRuntime(
                plan.name, plan.kind, plan.ports, addr, netconf_port, NETCONF_PROFILE, ""
            )
            dev.protocol = NETCONF
        else:
            profile = V3_PROFILE if plan.name in v3 else V2C_PROFILE
            dev = DeviceRuntime(
                plan.name, plan.kind, plan.ports, addr, port, profile, engine_id(plan.name)
            )
            dev.quirks = wanted.get(plan.name, [])
        state.devices.append(dev)
    with locked(sdir):
        for dev in state.by_protocol(SNMP):
            for sub in ("data", "cache"):
                (sdir / "devices" / dev.name / sub).mkdir(parents=True, exist_ok=True)
            devicefiles.write_recording(sdir, state, dev)
            devicefiles.write_args(sdir, state, dev)
        if netconf:
            _create_netconf(sdir, state, topo, addrs)
        save(sdir, state)
        write_inventory(sdir, state)


def _check_quirks(quirks: dict[str, list[str]], names: list[str], netconf: set[str]) -> None:
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


def _create_netconf(sdir: Path, state: LabState, topo: Topology, addrs: list[str]) -> None:
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
