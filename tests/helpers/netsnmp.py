"""net-snmp processes for tests: an snmpd with v3 users, and the command-line senders."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared import snmp_security as sec
from shared.model import CredentialProfile, SnmpVersion

PROBE_COMMUNITY = "emspool-probe"


@dataclass(frozen=True)
class V3User:
    name: str
    auth: str  # our profile name ("none", "sha256", ...)
    priv: str
    auth_key: str = "auth-secret-1"
    priv_key: str = "priv-secret-1"

    @property
    def level(self) -> str:
        if self.auth == "none":
            return "noAuthNoPriv"
        return "authNoPriv" if self.priv == "none" else "authPriv"

    def create_user(self) -> str:
        """snmpd.conf line creating this user."""
        line = f"createUser {self.name}"
        if self.auth != "none":
            line += f" {sec.AUTH_PROTOCOLS[self.auth].netsnmp} {self.auth_key}"
            if self.priv != "none":
                line += f" {sec.PRIV_PROTOCOLS[self.priv].netsnmp} {self.priv_key}"
        access = {"noAuthNoPriv": "noauth", "authNoPriv": "auth", "authPriv": "priv"}
        return f"{line}\nrouser {self.name} {access[self.level]}\n"

    def profile(self, name: str = "", **changes: str) -> CredentialProfile:
        """Our credentials profile for this user (``name`` defaults to p-<user>)."""
        fields: dict[str, Any] = {
            "name": name or f"p-{self.name}",
            "version": SnmpVersion.V3,
            "user": self.name,
            "auth_protocol": self.auth,
            "auth_key": self.auth_key if self.auth != "none" else "",
            "priv_protocol": self.priv,
            "priv_key": self.priv_key if self.priv != "none" else "",
        }
        return CredentialProfile(**(fields | changes))

    def args(self) -> list[str]:
        """net-snmp command-line options for this user (secrets: tests only)."""
        out = ["-v3", "-u", self.name, "-l", self.level]
        if self.auth != "none":
            out += ["-a", sec.AUTH_PROTOCOLS[self.auth].netsnmp, "-A", self.auth_key]
            if self.priv != "none":
                out += ["-x", sec.PRIV_PROTOCOLS[self.priv].netsnmp, "-X", self.priv_key]
        return out


def netsnmp_text_engine_id(text: str) -> str:
    """The engine ID (hex) snmpd derives from ``engineID <text>``: enterprise 8072, format 4."""
    return "80001f8804" + text.encode().hex()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_snmpd(
    root: Path, port: int, users: list[V3User], extra: str = "", engine_text: str = ""
) -> subprocess.Popen[bytes]:
    """snmpd on 127.0.0.1:port with these users; returns once it answers (15 s at most).

    ``engine_text``: snmpd's engineID directive, a text net-snmp turns into the engine ID
    80001f8804 + the text's octets (see ``netsnmp_text_engine_id``)."""
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "snmpd.conf"
    conf.write_text(
        f"[snmp] persistentDir {root / 'persist'}\n"
        f"agentaddress udp:127.0.0.1:{port}\n"
        + (f"engineID {engine_text}\n" if engine_text else "")
        + f"rocommunity {PROBE_COMMUNITY} 127.0.0.1\n"
        + "".join(u.create_user() for u in users)
        + extra
    )
    conf.chmod(0o600)
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(root / "persist"), "MIBS": ""}
    log = (root / "snmpd.log").open("ab")
    proc = subprocess.Popen(
        ["snmpd", "-f", "-Lo", "-I", "-smux", "-C", "-c", str(conf), "-M", "/nonexistent"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    wait_answering(proc, port, PROBE_COMMUNITY, "1.3.6.1.2.1.1.3.0", 15, root / "snmpd.log")
    return proc


@contextmanager
def running_snmpd(
    root: Path, users: list[V3User], extra: str = "", engine_text: str = ""
) -> Iterator[int]:
    """``start_snmpd`` on a free port; yields the port, stops snmpd at the end."""
    port = free_udp_port()
    proc = start_snmpd(root, port, users, extra, engine_text)
    try:
        yield port
    finally:
        stop(proc)


def wait_answering(
    proc: subprocess.Popen[bytes], port: int, community: str, oid: str, timeout: float, log: Path
) -> None:
    """Until a v2c GET of ``oid`` (net-snmp's snmpget, not the code under test) is answered
    on 127.0.0.1:port; stops ``proc`` and raises with its log's end if it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        get = ["snmpget", "-v2c", "-c", community, "-r0", "-t0.3", "-On"]
        probe = subprocess.run(
            [*get, f"udp:127.0.0.1:{port}", oid],
            capture_output=True,
            env={**os.environ, "MIBS": "", "SNMPCONFPATH": "/nonexistent"},
        )
        if probe.returncode == 0:
            return
        if proc.poll() is not None:
            break
    stop(proc)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"{log.stem} did not answer within {timeout:g} s: {tail}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def run_tool(*args: str, timeout: float = 15) -> subprocess.CompletedProcess[str]:
    """Run a net-snmp command without blocking the event loop of the test."""
    env = {**os.environ, "MIBS": "", "SNMPCONFPATH": "/nonexistent"}
    return await asyncio.to_thread(
        subprocess.run, list(args), capture_output=True, text=True, timeout=timeout, env=env
    )
