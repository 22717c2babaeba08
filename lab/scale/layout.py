"""A scale lab's files: ``scale.json`` (settings and secrets) and ``inventory.json``.

Layout of ``<state_dir>``::

    scale.json       count, topology, base address, port, v3 share, community, v3 keys; 0600
    inventory.json   what ``emspool ne import`` reads, the format of ``lab.state.inventory_dict``
    scale.sock       the responder's control socket (``lab.scale.control``), 0600
    scale.log        the responder process's output (when started by ``ScaleLab``)

Devices are not listed in scale.json: names, kinds, links, addresses and engine IDs follow
from the settings (``lab.topology.build``, ``lab.layout.engine_id``), so ten thousand of
them cost a few bytes of state and every process derives the same ones.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab import layout
from lab.state import (
    V2C_PROFILE,
    V3_PROFILE,
    DeviceRuntime,
    LabState,
    _write_private,
    read_json,
    write_inventory,
)
from lab.topology import TOPOLOGIES
from lab.topology import build as build_topology
from shared.errors import LabError

from . import DEFAULT_BASE, DEFAULT_PORT, SETTINGS_FILE
from .mib import Device, Neighbour, Template, template_key


@dataclass(slots=True)
class ScaleSettings:
    count: int
    topology: str
    base_address: str
    port: int
    v3_share: float
    community: str = field(repr=False)
    v3_user: str
    auth_key: str = field(repr=False)
    priv_key: str = field(repr=False)


def addresses(base_address: str, count: int) -> list[str]:
    """``count`` loopback addresses after ``base_address``, skipping the .0 and .255 of each
    /24 (they confuse people reading a table, not the kernel)."""
    try:
        base = ipaddress.IPv4Address(base_address)
    except ValueError as exc:
        raise LabError(f"bad base address {base_address!r}: {exc}") from None
    loopback = ipaddress.IPv4Network("127.0.0.0/8")
    out: list[str] = []
    addr = int(base)
    while len(out) < count:
        addr += 1
        if addr & 0xFF in (0, 255):
            continue
        a = ipaddress.IPv4Address(addr)
        if a not in loopback or a == loopback.broadcast_address:
            raise LabError(f"{count} devices do not fit in 127.0.0.0/8 from {base}")
        out.append(str(a))
    return out


def create(
    state_dir: Path,
    count: int,
    topology: str = "ring",
    base_address: str = DEFAULT_BASE,
    port: int = DEFAULT_PORT,
    v3_share: float = 0.5,
) -> ScaleSettings:
    """Write scale.json and inventory.json (fresh secrets); start nothing."""
    if count < 1:
        raise LabError("a scale lab needs at least one device")
    if topology not in TOPOLOGIES:
        raise LabError(f"unknown topology {topology!r} (one of {', '.join(TOPOLOGIES)})")
    if not 0 < port < 65536:
        raise LabError(f"port {port} out of range")
    settings = ScaleSettings(
        count=count,
        topology=topology,
        base_address=base_address,
        port=port,
        v3_share=v3_share,
        community="public-" + secrets.token_hex(6),
        v3_user=layout.DEFAULT_V3_USER,
        auth_key=secrets.token_hex(16),
        priv_key=secrets.token_hex(16),
    )
    state = lab_state(settings)  # checks the layout before anything is written
    state_dir.mkdir(parents=True, exist_ok=True)
    _write_private(state_dir / SETTINGS_FILE, json.dumps(asdict(settings), indent=1) + "\n")
    write_inventory(state_dir, state)
    return settings


def load(state_dir: Path) -> ScaleSettings:
    raw = read_json(state_dir / SETTINGS_FILE, f"no scale lab in {state_dir}")
    return ScaleSettings(**raw)


def lab_state(settings: ScaleSettings) -> LabState:
    """The devices as the lab's own state type, so the inventory is written by the lab's code."""
    try:
        topo = build_topology(settings.topology, settings.count)
    except ValueError as exc:
        raise LabError(str(exc)) from None
    names = [d.name for d in topo.devices]
    v3 = layout.v3_devices(names, settings.v3_share)
    addrs = addresses(settings.base_address, settings.count)
    state = LabState(
        topology=settings.topology,
        base_address=settings.base_address,
        port=settings.port,
        community=settings.community,
        v3_user=settings.v3_user,
        auth_key=settings.auth_key,
        priv_key=settings.priv_key,
        links=list(topo.links),
    )
    for plan, addr in zip(topo.devices, addrs, strict=True):
        profile = V3_PROFILE if plan.name in v3 else V2C_PROFILE
        state.devices.append(
            DeviceRuntime(
                plan.name,
                plan.kind,
                plan.ports,
                addr,
                settings.port,
                profile,
                layout.engine_id(plan.name),
            )
        )
    return state


def devices(settings: ScaleSettings, started: float) -> list[Device]:
    """The responder's devices, sharing one template per device shape."""
    state = lab_state(settings)
    kinds = {d.name: d.kind for d in state.devices}
    neighbours: dict[str, list[Neighbour]] = {d.name: [] for d in state.devices}
    for link in state.links:
        neighbours[link.a].append(Neighbour(link.port_a, link.b, kinds[link.b], link.port_b))
        neighbours[link.b].append(Neighbour(link.port_b, link.a, kinds[link.a], link.port_a))
    templates: dict[tuple[str, int, frozenset[int]], Template] = {}
    out: list[Device] = []
    for d in state.devices:
        mine = tuple(sorted(neighbours[d.name], key=lambda n: n.local_port))
        key = template_key(d.kind, d.ports, mine)
        template = templates.get(key)
        if template is None:
            template = templates[key] = Template(d.kind, d.ports, key[2])
        out.append(
            Device(
                name=d.name,
                kind=d.kind,
                ports=d.ports,
                address=d.address,
                v3=d.profile == V3_PROFILE,
                engine_id=bytes.fromhex(d.engine_id),
                template=template,
                neighbours=mine,
                started=started,
            )
        )
    return out
