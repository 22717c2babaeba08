"""snmpsim responders for tests: the data files of a directory over v2c, and over SNMPv3 as
one user (SHA-256 / AES keys of a ``V3User``), the data file's name as the context."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.netsnmp import V3User, free_udp_port, stop, wait_answering

Record = tuple[tuple[int, ...], str, str]  # OID, snmprec type, value


def write_snmprec(data: Path, name: str, records: Iterable[Record]) -> None:
    """``data/<name>.snmprec`` (community and v3 context ``name``), records sorted."""
    data.mkdir(parents=True, exist_ok=True)
    lines = [f"{'.'.join(map(str, o))}|{t}|{v}" for o, t, v in sorted(records)]
    (data / f"{name}.snmprec").write_text("\n".join(lines) + "\n")


def start_snmpsim(
    root: Path,
    port: int,
    user: V3User,
    *,
    engine_id: str = "auto",
    probe: tuple[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """snmpsim serving ``root/data`` on 127.0.0.1:port, logging to ``root/snmpsim.log``.

    ``probe`` (community, OID): return only once a v2c GET of it is answered (30 s at most);
    None returns at once (a test that times the start itself)."""
    exe = Path(sys.executable).with_name("snmpsim-command-responder")
    args = [
        str(exe),
        f"--cache-dir={root / 'cache'}",
        "--logging-method=null",
        f"--v3-engine-id={engine_id}",
        f"--v3-user={user.name}",
        f"--v3-auth-key={user.auth_key}",
        f"--v3-auth-proto={user.auth.upper()}",
        f"--v3-priv-key={user.priv_key}",
        f"--v3-priv-proto={user.priv.upper()}",
        f"--data-dir={root / 'data'}",
        f"--agent-udpv4-endpoint=127.0.0.1:{port}",
    ]
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
    log_path = root / "snmpsim.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    if probe is not None:
        community, oid = probe
        wait_answering(proc, port, community, oid, 30, log_path)
    return proc


@contextmanager
def running_snmpsim(root: Path, user: V3User, probe: tuple[str, str]) -> Iterator[int]:
    """``start_snmpsim`` on a free port once it answers ``probe``; yields the port."""
    port = free_udp_port()
    proc = start_snmpsim(root, port, user, probe=probe)
    try:
        yield port
    finally:
        stop(proc)
