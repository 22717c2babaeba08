"""Start and end one snmpsim process per device, by PID, never by name."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lab.devicefiles import args_file
from lab.state import V3_PROFILE, DeviceRuntime, device_dir
from shared.errors import LabError


def _variation_dir(state_dir: Path) -> Path:
    """A modules dir holding only ``numeric``: the stock set logs load errors (sql,
    redis) and takes longer to import at every start."""
    vdir = state_dir / "variation"
    link = vdir / "numeric.py"
    if not link.exists():
        # snmpsim/variation/ is a plain directory shadowed by snmpsim/variation.py.
        spec = importlib.util.find_spec("snmpsim")
        if spec is None or not spec.submodule_search_locations:
            raise LabError("snmpsim is not installed (pip install 'emspool[lab]')")
        origin = Path(spec.submodule_search_locations[0]) / "variation" / "numeric.py"
        if not origin.is_file():
            raise LabError(f"snmpsim's numeric variation module is missing ({origin})")
        vdir.mkdir(parents=True, exist_ok=True)
        link.symlink_to(origin)
    return vdir


def spawn(state_dir: Path, dev: DeviceRuntime) -> subprocess.Popen[bytes]:
    ddir = device_dir(state_dir, dev.name)
    vdir = _variation_dir(state_dir)
    cmd = [
        sys.executable,
        "-m",
        "snmpsim.commands.responder",
        # info level would log the v3 keys; errors still reach stderr.log.
        "--log-level=error",
        f"--cache-dir={ddir / 'cache'}",
        f"--variation-modules-dir={vdir}",
        f"--args-from-file={args_file(state_dir, dev.name)}",
    ]
    if dev.profile == V3_PROFILE:
        cmd.insert(3, "--v3-only")
    env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")
    with open(ddir / "stderr.log", "ab") as log:
        try:
            # Own session: a Ctrl-C meant for `lab run` must not kill devices before
            # it can stop them in order (and a restarted device outlives the CLI).
            return subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise LabError(f"cannot start snmpsim for {dev.name}: {exc}") from exc


# Stands for the one NETCONF simulator process where a device name is expected.
NETCONF_SIM = "<netconf-sim>"


def is_ours(pid: int, state_dir: Path, name: str) -> bool:
    """True if ``pid`` is still this device's snmpsim, or this lab's NETCONF simulator
    for ``NETCONF_SIM`` (guards against PID reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if name == NETCONF_SIM:
        argv = cmdline.split(b"\0")
        return b"lab.netconf" in argv and str(state_dir.resolve()).encode() in argv
    return str(args_file(state_dir, name)).encode() in cmdline


def _gone(pid: int, popen: subprocess.Popen[bytes] | None) -> bool:
    if popen is not None:
        return popen.poll() is not None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # A zombie (state Z) has exited; its parent (not us) will reap it.
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _wait_gone(pid: int, popen: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid, popen):
            return True
        time.sleep(0.02)
    return _gone(pid, popen)


def signal_device(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def terminate(
    pid: int,
    state_dir: Path,
    name: str,
    popen: subprocess.Popen[bytes] | None = None,
    timeout: float = 3.0,
) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; only if the PID is still this device."""
    if popen is None and not is_ours(pid, state_dir, name):
        return
    if popen is not None and popen.poll() is not None:
        return
    signal_device(pid, signal.SIGTERM)
    # A SIGSTOPped device would sit on the SIGTERM forever.
    signal_device(pid, signal.SIGCONT)
    if not _wait_gone(pid, popen, timeout):
        signal_device(pid, signal.SIGKILL)
        _wait_gone(pid, popen, timeout)
    if popen is not None:
        popen.wait(timeout=timeout)


def log_tail(state_dir: Path, name: str, limit: int = 2000) -> str:
    try:
        text = (device_dir(state_dir, name) / "stderr.log").read_text(errors="replace")
    except OSError:
        return ""
    return text[-limit:]
