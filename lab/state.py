"""Everything a lab knows lives in its state directory, so another process can act on it.

Layout of ``<state_dir>``::

    inventory.json          what the agent imports (see ``inventory_dict``), mode 0600
    lab.json                runtime: settings, secrets, PIDs, injected faults, mode 0600
    lock                    flock()ed around every read-modify-write of lab.json
    devices/<name>/data/    the device's one .snmprec (community or ``self`` for v3)
    devices/<name>/cache/   snmpsim's index files (private per device: no cross-talk)
    devices/<name>/args     snmpsim engine options incl. keys (kept off the command line)
    devices/<name>/stderr.log
    devices/<name>/ssh_host_key(.pub)   NETCONF devices: persisted host key
    netconf.json, netconf.sock, ...     the NETCONF simulator's files (``lab.netconf.fleet``)

A device speaks one protocol: SNMP devices run one snmpsim process each; all
NETCONF devices share one simulator process (``LabState.netconf_pid``).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab.recording import if_name
from lab.topology import Link
from shared.errors import LabError
from shared.model import CredentialProfile, SnmpVersion

STATE_FILE = "lab.json"
INVENTORY_FILE = "inventory.json"
DEFAULT_BASE = "127.0.10.0"  # the lab's /24 on loopback: device k is .k+1
DEFAULT_PORT = 16100
DEFAULT_NETCONF_PORT = 8300
SNMP = "snmp"
NETCONF = "netconf"
V2C_PROFILE = "lab-v2c"
V3_PROFILE = "lab-v3"
NETCONF_PROFILE = "lab-netconf"
AUTH_PROTOCOL = "sha256"
PRIV_PROTOCOL = "aes128"


@dataclass(slots=True)
class DeviceRuntime:
    name: str
    kind: str
    ports: int
    address: str
    port: int  # SNMP (UDP) or NETCONF (TCP) port, after ``protocol``
    profile: str  # V2C_PROFILE, V3_PROFILE or NETCONF_PROFILE
    engine_id: str  # hex; "" for NETCONF devices
    pid: int | None = None
    started_at: float | None = None  # wall clock of the current process's start
    suspended: bool = False  # SIGSTOPped by the "unreachable" fault
    oper_down: list[int] = field(default_factory=list)
    last_change: dict[str, int] = field(default_factory=dict)  # ifIndex -> TimeTicks
    protocol: str = SNMP  # SNMP or NETCONF
    host_key: str = ""  # NETCONF: "ssh-ed25519 AAAA..." as the device presents it
    quirks: list[str] = field(default_factory=list)  # SNMP: keys of lab.recording.QUIRKS


@dataclass(slots=True)
class LabState:
    topology: str
    base_address: str
    port: int
    community: str = field(repr=False)
    v3_user: str
    auth_key: str = field(repr=False)
    priv_key: str = field(repr=False)
    devices: list[DeviceRuntime] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    netconf_port: int = DEFAULT_NETCONF_PORT
    netconf_user: str = ""  # "" while the lab has no NETCONF device
    netconf_password: str = field(default="", repr=False)
    netconf_key_file: str = ""  # absolute path of the client private key
    netconf_pid: int | None = None  # the one simulator process of all NETCONF devices

    def device(self, name: str) -> DeviceRuntime:
        for dev in self.devices:
            if dev.name == name:
                return dev
        raise LabError(f"no device {name!r} in this lab")

    def profiles(self) -> dict[str, CredentialProfile]:
        return {
            V2C_PROFILE: CredentialProfile(V2C_PROFILE, SnmpVersion.V2C, community=self.community),
            V3_PROFILE: CredentialProfile(
                V3_PROFILE,
                SnmpVersion.V3,
                user=self.v3_user,
                auth_protocol=AUTH_PROTOCOL,
                auth_key=self.auth_key,
                priv_protocol=PRIV_PROTOCOL,
                priv_key=self.priv_key,
            ),
        } | self._netconf_profile()

    def _netconf_profile(self) -> dict[str, CredentialProfile]:
        if not self.netconf_user:
            return {}
        profile = CredentialProfile(
            NETCONF_PROFILE,
            SnmpVersion.NONE,
            user=self.netconf_user,
            password=self.netconf_password,
            key_file=self.netconf_key_file,
        )
        return {NETCONF_PROFILE: profile}

    def by_protocol(self, protocol: str) -> list[DeviceRuntime]:
        return [d for d in self.devices if d.protocol == protocol]


def device_dir(state_dir: Path, name: str) -> Path:
    return state_dir / "devices" / name


def _write_private(path: Path, text: str) -> None:
    """Atomic replace, owner-only: these files hold secrets."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def save(state_dir: Path, state: LabState) -> None:
    _write_private(state_dir / STATE_FILE, json.dumps(asdict(state), indent=1))


def read_json(path: Path, missing: str) -> Any:
    """A JSON file of a lab: LabError(``missing``) when there is none, or why it is unreadable."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise LabError(missing) from None
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot read {path}: {exc}") from exc


def load(state_dir: Path) -> LabState:
    raw = read_json(state_dir / STATE_FILE, f"no lab in {state_dir} (missing {STATE_FILE})")
    raw["devices"] = [DeviceRuntime(**d) for d in raw["devices"]]
    raw["links"] = [Link(**link) for link in raw["links"]]
    return LabState(**raw)


@contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """Serialise lab.json updates between the lab owner and CLI fault injectors."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def inventory_dict(state: LabState) -> dict[str, object]:
    """The inventory the agent imports (``emspool ne import FILE``).

    Format (version 1)::

        {"version": 1,
         "profiles": [{"name", "version": "2c", "community"},
                      {"name", "version": "3", "user", "auth_protocol": "sha256",
                       "auth_key", "priv_protocol": "aes128", "priv_key"},
                      {"name": "lab-netconf", "user", "password", "key_file"}],
         "devices": [{"name", "kind": "router"|"switch", "address", "port",
                      "profile", "protocols": ["snmp"], "engine_id": hex},
                     {"name", "kind", "address", "port", "netconf_port",
                      "profile": "lab-netconf", "protocols": ["netconf"],
                      "host_key": "ssh-ed25519 AAAA..."}],
         "links": [{"a", "a_port", "b", "b_port"}]}   # ports as each device names them

    v3 devices answer with the empty context name (plain GET/GETBULK work) and
    only over v3; v2c devices answer the community and also the v3 user with
    context name = community. ``engine_id`` is the device's authoritative
    engine ID, which a trap receiver needs for v3 traps. The NETCONF profile has
    no "version" (no SNMP credentials); NETCONF devices accept its password or
    its private key (``key_file``) and present ``host_key`` (pin it); their
    ``port`` is the NETCONF port too. SNMP devices name ports by ifName, NETCONF
    devices by interface name, and the lab makes the two schemes one.
    """
    profiles: list[dict[str, str]] = []
    for prof in state.profiles().values():
        if prof.version is SnmpVersion.NONE:
            entry = {"name": prof.name, "user": prof.user, "password": prof.password}
            entry["key_file"] = prof.key_file
        elif prof.version is SnmpVersion.V3:
            entry = {
                "name": prof.name,
                "version": prof.version.value,
                "user": prof.user,
                "auth_protocol": prof.auth_protocol,
                "auth_key": prof.auth_key,
                "priv_protocol": prof.priv_protocol,
                "priv_key": prof.priv_key,
            }
        else:
            entry = {"name": prof.name, "version": prof.version.value}
            entry["community"] = prof.community
        profiles.append(entry)
    return {
        "version": 1,
        "profiles": profiles,
        "devices": [_inventory_device(d) for d in state.devices],
        "links": [
            {
                "a": link.a,
                "a_port": if_name(state.device(link.a).kind, link.port_a),
                "b": link.b,
                "b_port": if_name(state.device(link.b).kind, link.port_b),
            }
            for link in state.links
        ],
    }


def _inventory_device(dev: DeviceRuntime) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": dev.name,
        "kind": dev.kind,
        "address": dev.address,
        "port": dev.port,
        "profile": dev.profile,
        "protocols": [dev.protocol],
    }
    if dev.protocol == NETCONF:
        entry |= {"netconf_port": dev.port, "host_key": dev.host_key}
    else:
        entry["engine_id"] = dev.engine_id
    return entry


def write_inventory(state_dir: Path, state: LabState) -> Path:
    path = state_dir / INVENTORY_FILE
    _write_private(path, json.dumps(inventory_dict(state), indent=1) + "\n")
    return path
