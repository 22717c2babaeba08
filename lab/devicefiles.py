"""Write a device's snmpsim inputs: its recording and its engine options file."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lab import recording
from lab.state import V3_PROFILE, DeviceRuntime, LabState, device_dir

# snmpsim maps a v3 request with an empty context name to the data file whose
# community is "" - which is what a file named self.snmprec becomes.
V3_DATA_FILE = "self.snmprec"


def data_file(state_dir: Path, state: LabState, dev: DeviceRuntime) -> Path:
    name = V3_DATA_FILE if dev.profile == V3_PROFILE else f"{state.community}.snmprec"
    return device_dir(state_dir, dev.name) / "data" / name


def args_file(state_dir: Path, name: str) -> Path:
    return device_dir(state_dir, name) / "args"


def facts(state: LabState, dev: DeviceRuntime) -> recording.DeviceFacts:
    by_name = {d.name: d for d in state.devices}
    neighbours: dict[int, recording.RemoteEnd] = {}
    for link in state.links:
        for (local, lport), (remote, rport) in (link.ends(), link.ends()[::-1]):
            if local == dev.name:
                neighbours[lport] = recording.RemoteEnd(remote, by_name[remote].kind, rport)
    return recording.DeviceFacts(
        name=dev.name,
        kind=dev.kind,
        ports=dev.ports,
        neighbours=neighbours,
        oper_down=frozenset(dev.oper_down),
        last_change={int(k): v for k, v in dev.last_change.items()},
        quirks=frozenset(dev.quirks),
    )


def write_recording(state_dir: Path, state: LabState, dev: DeviceRuntime) -> Path:
    """(Re)write the device's .snmprec so a running snmpsim notices on its next request.

    snmpsim re-indexes when ``int(st_mtime)`` differs from what it saw, so the new
    mtime must land in a later whole second than the old one even when two
    faults come within a second: we set it explicitly (possibly a little ahead).
    """
    path = data_file(state_dir, state, dev)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        previous = int(path.stat().st_mtime)
    except FileNotFoundError:
        previous = 0
    tmp = path.with_name(".tmp-" + path.name)
    tmp.write_text(recording.render(facts(state, dev)))
    mtime = max(time.time(), previous + 1.0)
    os.utime(tmp, (mtime, mtime))
    # Atomic: a request in flight reads the old or the new file, never half of one.
    os.replace(tmp, path)
    return path


def write_args(state_dir: Path, state: LabState, dev: DeviceRuntime) -> Path:
    """snmpsim engine options; keys go in a 0600 file so ``ps`` never shows them."""
    ddir = device_dir(state_dir, dev.name)
    lines = [
        f"--v3-engine-id={dev.engine_id}",
        f"--v3-user={state.v3_user}",
        f"--v3-auth-key={state.auth_key}",
        "--v3-auth-proto=SHA256",
        f"--v3-priv-key={state.priv_key}",
        "--v3-priv-proto=AES128",
        f"--data-dir={ddir / 'data'}",
        f"--agent-udpv4-endpoint={dev.address}:{dev.port}",
    ]
    path = args_file(state_dir, dev.name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path
