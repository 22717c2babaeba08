"""`emspool doctor`: checks an agent host the way an operator would, and says how to fix
what is wrong. Each check is a function returning Findings; none changes anything (no
migration, no file created, ports bound only for an instant to see whether they are free).

Exit code: 0 all good (warnings allowed), 1 something is wrong, 2 the config is unreadable.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.cliopts import output, sqlite_file
from agent.keys import KeyPair
from shared.config import AgentConfig
from shared.errors import EmspoolError

OK, WARN, FAIL = "ok", "warn", "fail"
CLOCK_WARN = 0.5  # seconds of skew against the database: leases and heartbeats use its clock
CLOCK_FAIL = 2.0


@dataclass(frozen=True, slots=True)
class Finding:
    level: str
    check: str
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"level": self.level, "check": self.check, "detail": self.detail, "fix": self.fix}


Check = Callable[[AgentConfig], Iterator[Finding]]


def check_data_dir(cfg: AgentConfig) -> Iterator[Finding]:
    d = Path(cfg.data_dir)
    if not d.exists():
        yield Finding(WARN, "data_dir", f"{d} does not exist yet", "the agent creates it")
    elif not os.access(d, os.W_OK | os.X_OK):
        yield Finding(
            FAIL,
            "data_dir",
            f"{d} is not writable by uid {os.getuid()}",
            f"chown the directory to the agent's user: chown -R emspool: {d}",
        )
    else:
        yield Finding(OK, "data_dir", f"{d} writable")
    bus_key = Path(cfg.effective_key_file)
    if not cfg.bus.insecure and not bus_key.exists():
        yield Finding(OK, "key file", f"no bus key at {bus_key} yet: the agent makes it")
    secrets = {*d.glob("*.key_secret"), *d.glob("*secrets.key"), *d.glob("*.key")}
    if bus_key.exists():
        secrets.add(bus_key)
    for secret in sorted(secrets):
        mode = secret.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            yield Finding(
                FAIL,
                "key file",
                f"{secret} is readable by others ({stat.filemode(mode)})",
                f"chmod 600 {secret}",
            )
        else:
            yield Finding(OK, "key file", f"{secret} private (0600)")


def check_database(cfg: AgentConfig) -> Iterator[Finding]:
    from agent.cli_db import schema_state
    from agent.db import Database
    from agent.dbengine import current_revision, head_revision, safe_url

    url = cfg.effective_database_url
    where = safe_url(url)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        yield Finding(
            FAIL,
            "database",
            f"{where}: no such file",
            "emspool --db URL db upgrade (or import an inventory)",
        )
        return
    try:
        current = current_revision(url)
    except EmspoolError as e:
        yield Finding(
            FAIL, "database", str(e), "is the server up and reachable from here, and the URL right?"
        )
        return
    state = schema_state(current, head_revision())
    fixes = {
        "empty": "emspool --db URL db upgrade",
        "behind": "emspool --db URL db upgrade (agents on older releases keep working)",
        "newer": "upgrade emspool on this host to the pool's release",
    }
    level = OK if state == "current" else WARN if state == "behind" else FAIL
    yield Finding(
        level,
        "database",
        f"{where}: reachable, schema {current or '(none)'} ({state})",
        fixes.get(state, ""),
    )
    if state in ("empty", "newer"):
        return
    with Database.open(url) as db:
        try:
            before = time.time()
            theirs = db.db_time()
            skew = theirs - (before + time.time()) / 2
        except EmspoolError as e:
            yield Finding(FAIL, "clock", f"cannot read the database clock: {e}")
            return
    level = OK if abs(skew) < CLOCK_WARN else WARN if abs(skew) < CLOCK_FAIL else FAIL
    yield Finding(
        level,
        "clock",
        f"{skew:+.3f} s against the database",
        "" if level == OK else "run NTP (chrony) on this host and the database host",
    )
    if state == "current":
        yield from _text_search(url)


def _text_search(url: str) -> Iterator[Finding]:
    """Whether the event log's free text is indexed (migration 0007 skips the index when
    PostgreSQL refuses pg_trgm or SQLite lacks the trigram tokenizer)."""
    import sqlite3

    from agent.db import Database
    from agent.textsearch import TRGM_DDL

    with Database.open(url) as db:
        try:
            indexed = db.has_text_index()
            lag = db.text_index_lag() if indexed else 0
        except EmspoolError as e:
            yield Finding(WARN, "text search", f"cannot tell whether event text is indexed: {e}")
            return
        dialect = db.dialect
    if indexed:
        kind = "pg_trgm GIN" if dialect == "postgresql" else f"FTS5 trigram, {lag} to index"
        yield Finding(OK, "text search", f"event text indexed ({kind})")
        return
    scans = "a free-text event search that matches few events reads the whole log"
    if dialect == "postgresql":
        yield Finding(
            WARN,
            "text search",
            f"no pg_trgm index on event_log.text (the extension could not be created): {scans}",
            f"as a superuser in the pool database: CREATE EXTENSION pg_trgm; {TRGM_DDL}",
        )
    else:
        yield Finding(
            WARN,
            "text search",
            f"no FTS5 trigram index (SQLite {sqlite3.sqlite_version} here): {scans}",
            "the index is made by the upgrade to schema 0007 on SQLite >= 3.35 with FTS5",
        )


def _port_free(kind: int, host: str, port: int) -> tuple[bool, int]:
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind)
    try:
        s.bind((host, port))
    except OSError as e:
        return False, e.errno or 0
    finally:
        s.close()
    return True, 0


def check_ports(cfg: AgentConfig) -> Iterator[Finding]:
    if cfg.traps.enabled:
        free, err = _port_free(socket.SOCK_DGRAM, cfg.traps.host, cfg.traps.port)
        where = f"udp {cfg.traps.host}:{cfg.traps.port}"
        if free:
            yield Finding(OK, "trap port", f"{where} free")
        elif err == errno.EACCES:
            yield Finding(
                FAIL,
                "trap port",
                f"{where}: permission denied",
                "ports below 1024 need CAP_NET_BIND_SERVICE (the unit grants it)",
            )
        else:
            yield Finding(
                WARN,
                "trap port",
                f"{where} in use (by this agent if it runs; "
                "otherwise by another trap receiver such as snmptrapd)",
            )
    for name, endpoint in (("bus router", cfg.router_endpoint), ("bus pub", cfg.pub_endpoint)):
        if not endpoint.startswith("tcp://"):
            continue
        host, _, port = endpoint[len("tcp://") :].rpartition(":")
        if port in ("0", "*"):
            continue
        free, _ = _port_free(socket.SOCK_STREAM, host.strip("[]"), int(port))
        yield Finding(
            OK if free else WARN,
            name,
            f"{endpoint} " + ("free" if free else "in use (by this agent if it runs)"),
        )


def check_peers(cfg: AgentConfig) -> Iterator[Finding]:
    """Every member the database lists, asked for a ping over the bus."""
    from agent import busclient
    from agent.db import Database
    from agent.pooldb import PoolDb
    from agent.poolview import member_state

    url = cfg.effective_database_url
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return
    try:
        with Database.open(url) as db:
            pool = PoolDb(db)
            members, lease = pool.members(), pool.lease()
    except EmspoolError:
        return  # check_database said why
    if not members:
        yield Finding(OK, "peers", "no agent has joined this database yet")
        return
    key = _ping_key(cfg)
    for m in members:
        state = member_state(m, lease)
        if state == "dead":
            yield Finding(
                WARN,
                "peer",
                f"{m.node_id}: not seen for {m.age:.0f} s",
                f"if it is gone for good: emspool pool forget {m.node_id}",
            )
            continue
        try:
            ep = busclient.Endpoint(m.endpoint, m.public_key, m.node_id)
            busclient.request(ep, "ping", {}, timeout=2.0, key=key)
        except EmspoolError as e:
            yield Finding(
                FAIL,
                "peer",
                f"{m.node_id} at {m.endpoint}: {e}",
                "firewall between the hosts? the agent's bus.router must be an "
                "address the others can reach",
            )
        else:
            yield Finding(OK, "peer", f"{m.node_id} at {m.endpoint} answers ({state})")


def _ping_key(cfg: AgentConfig) -> KeyPair | None:
    """The key peers are pinged with: this host's agent key when we may read it (run as
    the agent's user), else the operator's (EMSPOOL_KEY or the default path)."""
    from agent.cliopts import default_key
    from agent.keys import read_key_file

    operator = Path(os.environ.get("EMSPOOL_KEY") or default_key())
    for path in (Path(cfg.effective_key_file), operator):
        try:
            return read_key_file(path)
        except EmspoolError:
            continue
    return None


CHECKS: tuple[Check, ...] = (check_data_dir, check_database, check_ports, check_peers)


def run_checks(cfg: AgentConfig) -> list[Finding]:
    out: list[Finding] = []
    for check in CHECKS:
        try:
            out += list(check(cfg))
        except Exception as e:  # a broken check must not hide the others
            out.append(Finding(FAIL, check.__name__, f"check crashed: {type(e).__name__}: {e}"))
    return out


_MARK = {OK: " ok ", WARN: "warn", FAIL: "FAIL"}


def cmd_doctor(args: argparse.Namespace) -> int:
    from agent.main import load_config

    path = args.config or "/etc/emspool/agent.toml"
    try:
        cfg = load_config(path)
    except EmspoolError as e:
        output(
            args,
            {"config": path, "findings": [Finding(FAIL, "config", str(e)).to_dict()]},
            f"[FAIL] config: {e}",
        )
        return 2
    findings = [Finding(OK, "config", f"{path} valid (node {cfg.node_id})"), *run_checks(cfg)]
    lines = []
    for f in findings:
        lines.append(f"[{_MARK[f.level]}] {f.check}: {f.detail}")
        if f.fix and f.level != OK:
            lines.append(f"       fix: {f.fix}")
    bad = sum(f.level == FAIL for f in findings)
    lines.append(f"\n{bad} problem(s)" if bad else "\nno problems found")
    data: dict[str, Any] = {"config": path, "findings": [f.to_dict() for f in findings]}
    output(args, data, "\n".join(lines))
    return 1 if bad else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "doctor",
        help="check this host's agent set-up: config, database, keys, ports, peers, clock "
        "(uses --config, default /etc/emspool/agent.toml)",
    )
    p.set_defaults(func=cmd_doctor)
