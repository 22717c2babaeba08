"""The NETCONF simulator as a separate process, defined by files in a state directory.

    specs = specs_from_topology(build("ring", 3), ["127.0.42.1", ...], port)
    create(state_dir, specs)                 # keys, password, spec, inventory fragment
    proc = start(state_dir)                  # python -m lab.netconf serve; waits ready
    NetconfControl(state_dir).if_down("rtr001", 3)
    stop(proc)                               # by this Popen only

Files in ``<state_dir>`` (secrets owner-only)::

    netconf.json              spec: user, password, devices (see DeviceSpec), 0600
    netconf_client_key(.pub)  the ed25519 key the devices also accept, 0600
    netconf-inventory.json    inventory fragment for the lead's importer, 0600
    netconf_known_hosts       one pinned host key line per device
    netconf.sock              control socket (lab.netconf.control), 0600
    netconf.log               the simulator process's stderr
    devices/<name>/ssh_host_key(.pub)
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncssh

from lab.netconf import shapes
from lab.netconf.control import NetconfControl, socket_path
from lab.netconf.model import DeviceSpec, Neighbour, chassis_id
from lab.netconf.sim import Credentials, load_host_key
from lab.recording import if_name
from lab.state import read_json
from lab.topology import Topology
from shared.errors import LabError

SPEC_FILE = "netconf.json"
CLIENT_KEY_FILE = "netconf_client_key"
INVENTORY_FILE = "netconf-inventory.json"
KNOWN_HOSTS_FILE = "netconf_known_hosts"
LOG_FILE = "netconf.log"
PROFILE = "lab-netconf"
DEFAULT_USER = "emsnc"
DEFAULT_PORT = 18300


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


# A fleet mixes the ways real devices report interfaces and announce link changes (see
# lab.netconf.shapes), k-th NETCONF device -> FLEET_MIX[k % 3]: an NMDA server with the lab's
# notifications and ietf-alarms link alarms; one serving both trees in a new order on every
# reply that sends IF-MIB linkDown/linkUp (as IOS-XE does); a pre-NMDA one with a sparse
# /interfaces-state (no if-index, admin-status, type) and yuma123 link-down/link-up.
FLEET_MIX: tuple[dict[str, object], ...] = (
    {"shape": shapes.NMDA},
    {
        "shape": shapes.BOTH,
        "shuffle": True,
        "link_notifications": (shapes.IF_MIB,),
        "link_alarm": False,
    },
    {
        "shape": shapes.LEGACY,
        "sparse": True,
        "shuffle": True,
        "link_notifications": (shapes.IFNOTIF,),
        "link_alarm": False,
    },
)


def specs_from_topology(
    topo: Topology, addresses: list[str], port: int, names: set[str] | None = None
) -> list[DeviceSpec]:
    """Device specs with LLDP neighbours from a lab topology (``names``: only these).

    Far ends are named as the SNMP lab names them, so mixed fleets share one topology.
    Devices take their reporting shape from ``FLEET_MIX`` in turn.
    """
    kinds = {d.name: d.kind for d in topo.devices}
    specs: list[DeviceSpec] = []
    for plan, addr in zip(topo.devices, addresses, strict=True):
        if names is not None and plan.name not in names:
            continue
        neighbours = {
            local: Neighbour(remote, if_name(kinds[remote], rport), chassis_id(remote))
            for local, (remote, rport) in topo.neighbours(plan.name).items()
        }
        mix = FLEET_MIX[len(specs) % len(FLEET_MIX)]
        spec = DeviceSpec(plan.name, addr, port, plan.kind, plan.ports, neighbours)
        specs.append(DeviceSpec.from_json(spec.to_json() | mix))
    return specs


def create(
    state_dir: Path | str, specs: list[DeviceSpec], user: str = DEFAULT_USER
) -> dict[str, Any]:
    """Write everything ``serve`` and clients need; returns the inventory fragment.

    Keeps the password, client key and host keys of an earlier ``create`` in the
    same directory, so clients that pinned them keep working.
    """
    sdir = Path(state_dir).resolve()
    sdir.mkdir(parents=True, exist_ok=True)
    socket_path(sdir)  # fail now if the control socket path would be too long
    for spec in specs:
        if spec.port == 0:
            raise LabError(f"{spec.name}: a fleet device needs a fixed port, not 0")
    old = _read_spec(sdir) if (sdir / SPEC_FILE).exists() else {}
    password = str(old.get("password") or secrets.token_urlsafe(18))
    key_path = sdir / CLIENT_KEY_FILE
    if key_path.exists():
        client_key = asyncssh.read_private_key(key_path)
    else:
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        _write_private(key_path, client_key.export_private_key())
    pub = client_key.export_public_key().decode().strip()
    (sdir / (CLIENT_KEY_FILE + ".pub")).write_text(pub + "\n")
    spec_doc = {
        "user": user,
        "password": password,
        "authorized_keys": [pub],
        "devices": [s.to_json() for s in specs],
    }
    _write_private(sdir / SPEC_FILE, json.dumps(spec_doc, indent=1).encode())
    known: list[str] = []
    devices: list[dict[str, Any]] = []
    for spec in specs:
        host_key = " ".join(load_host_key(sdir, spec.name).export_public_key().decode().split()[:2])
        known.append(f"[{spec.address}]:{spec.port} {host_key}")
        devices.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "address": spec.address,
                "netconf_port": spec.port,
                "profile": PROFILE,
                "protocols": ["netconf"],
                "host_key": host_key,
            }
        )
    (sdir / KNOWN_HOSTS_FILE).write_text("".join(line + "\n" for line in known))
    inventory = {
        "profiles": [
            {
                "name": PROFILE,
                "version": "netconf",
                "user": user,
                "password": password,
                "key_file": str(key_path),
            }
        ],
        "devices": devices,
    }
    _write_private(sdir / INVENTORY_FILE, (json.dumps(inventory, indent=1) + "\n").encode())
    return inventory


def _read_spec(sdir: Path) -> dict[str, Any]:
    path = sdir / SPEC_FILE
    raw = read_json(path, f"no NETCONF lab in {sdir} (missing {SPEC_FILE})")
    if not isinstance(raw, dict):
        raise LabError(f"{path}: not a JSON object")
    return raw


def load(state_dir: Path | str) -> tuple[Credentials, list[DeviceSpec]]:
    raw = _read_spec(Path(state_dir).resolve())
    try:
        creds = Credentials(
            str(raw["user"]), str(raw["password"]), tuple(raw.get("authorized_keys", ()))
        )
        specs = [DeviceSpec.from_json(d) for d in raw["devices"]]
    except (KeyError, TypeError) as exc:
        raise LabError(f"bad {SPEC_FILE}: missing or wrong {exc}") from None
    return creds, specs


def spawn(state_dir: Path | str) -> subprocess.Popen[bytes]:
    sdir = Path(state_dir).resolve()
    load(sdir)  # fail here, with a clear message, rather than in the child
    with open(sdir / LOG_FILE, "ab") as log:
        try:
            # Own session: a Ctrl-C meant for the CLI must not kill the devices mid-stop.
            return subprocess.Popen(
                [sys.executable, "-m", "lab.netconf", "serve", "--state-dir", str(sdir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        except OSError as exc:
            raise LabError(f"cannot start the NETCONF simulator: {exc}") from exc


def wait_ready(state_dir: Path | str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Until the control socket answers (the server opens it after every listener)."""
    control = NetconfControl(state_dir, timeout=2.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(
                f"NETCONF simulator exited with {proc.returncode}:\n{log_tail(state_dir)}"
            )
        if control.ping():
            return
        time.sleep(0.05)
    raise LabError(f"NETCONF simulator not ready after {timeout} s:\n{log_tail(state_dir)}")


def start(state_dir: Path | str, timeout: float = 30.0) -> subprocess.Popen[bytes]:
    """Spawn ``serve`` and wait until it is ready; on failure it is stopped again."""
    proc = spawn(state_dir)
    try:
        wait_ready(state_dir, proc, timeout)
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM this process (it closes its sessions), SIGKILL after ``timeout``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def log_tail(state_dir: Path | str, limit: int = 2000) -> str:
    try:
        return (Path(state_dir) / LOG_FILE).read_text(errors="replace")[-limit:]
    except OSError:
        return ""
