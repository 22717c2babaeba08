"""Agent processes for the demo, the system tests and the benchmarks: free loopback ports,
a config file, start, wait until it answers, stop; and AgentPool, several agents on one
database (start, kill -9, SIGSTOP/SIGCONT, restart, wait for one master, read the table).

This is harness, not product: the agent package never needs it (an installed agent is
started by systemd from a config an operator wrote).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import busclient
from shared.errors import EmspoolError


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_agent_config(
    path: Path,
    node_id: str,
    data_dir: Path,
    db_url: str,
    interval: float,
    **sections: Mapping[str, object],
) -> tuple[str, int]:
    """An agent config on free loopback ports; returns (request endpoint, trap port).

    ``sections`` add to or override the defaults, e.g. ``polling={"retries": 0}``."""
    router = f"tcp://127.0.0.1:{free_port()}"
    pub = f"tcp://127.0.0.1:{free_port()}"
    trap_port = free_port(socket.SOCK_DGRAM)
    config: dict[str, dict[str, object]] = {
        "agent": {"node_id": node_id, "data_dir": str(data_dir)},
        "database": {"url": db_url},
        "bus": {"router": router, "pub": pub},
        "traps": {"host": "127.0.0.1", "port": trap_port},
        "polling": {"interval": interval, "timeout": 1.0, "retries": 1},
        "alarms": {"restart_hold": 60},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    text = "# written by the emspool lab harness\n"
    for name, values in config.items():
        text += f"\n[{name}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in values.items())
    path.write_text(text, encoding="utf-8")
    return router, trap_port


def _toml(value: object) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string: JSON's escapes are TOML's


def sqlite_pool(db_path: Path, inventory: Mapping[str, Any]) -> str:
    """A migrated SQLite pool database at ``db_path`` holding ``inventory``; its URL."""
    from agent.db import Database, migrate  # SQLAlchemy: loaded only to build a database

    url = f"sqlite:///{db_path}"
    migrate(url)
    with Database.open(url) as db:
        db.import_inventory(inventory)
    return url


def start_agent(
    config: Path, log_path: Path, source: Path | None = None
) -> subprocess.Popen[bytes]:
    """``source``: run the agent of that source tree (another release's, for a rolling
    upgrade) instead of this one; it must need no other packages than this one's."""
    env = None
    if source is not None:
        env = dict(os.environ, PYTHONPATH=str(source))
    with open(log_path, "ab") as logf:
        return subprocess.Popen(
            [sys.executable, "-m", "agent.main", "--config", str(config)],
            stdout=logf,
            stderr=subprocess.STDOUT,
            cwd=source,
            env=env,
        )


def bus_key(db_url: str, directory: Path, name: str = "harness", role: str = "operator") -> Path:
    """A client key made as `emspool keys create` makes it; its secret file (made once)."""
    from agent.db import Database, migrate
    from agent.dbengine import current_revision
    from agent.keys import KeyStore, create_key, read_key_file
    from shared.wire import KeyRole

    path = directory / f"{name}.key"
    if current_revision(db_url) is None:
        migrate(db_url)  # a new database; one at an older release's schema stays so
    with Database.open(db_url) as db:
        if not path.exists():
            create_key(db, name, KeyRole(role), directory, "lab harness")
        else:  # a key kept from an earlier run, allowed in this (perhaps new) database
            KeyStore(db).allow(name, read_key_file(path).public, KeyRole(role), "lab harness")
    return path


def client_for(
    db_url: str, key: Path, agent: str | None = None, timeout: float = 5.0
) -> busclient.BusClient:
    """A bus client of the pool's agents (or only of ``agent``: node id or endpoint), their
    addresses and keys read from the pool database at each (re)connect."""
    from agent.keys import read_key_file

    agents = busclient.pool_endpoints(db_url, only=(agent,) if agent else ())
    return busclient.BusClient(agents, read_key_file(key), timeout=timeout)


def wait_for_agent(
    client: busclient.BusClient, proc: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmspoolError(f"the agent exited with code {proc.returncode}; see its log")
        try:
            client.request("ping", timeout=0.5)
            return
        except busclient.Unreachable:
            time.sleep(0.05)  # no agents row yet: do not spin
            continue
    raise EmspoolError(f"the agent did not answer within {timeout:g} s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# -- several agents on one database (the pool) ------------------------------------------


@dataclass
class PoolAgent:
    """One agent of an AgentPool: its config (ports fixed for its whole life, so a restart
    comes back on the same endpoints), its log and, while it runs, its process."""

    node_id: str
    priority: int
    config: Path
    log: Path
    router: str
    trap: tuple[str, int]
    proc: subprocess.Popen[bytes] | None = None
    paused: bool = False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


class AgentPool:
    """N real agent processes on one database, for system tests and benchmarks.

    ``add`` writes a config (distinct node id, priority, loopback ports, data dir);
    ``start``/``stop`` (SIGTERM)/``kill`` (SIGKILL)/``pause`` (SIGSTOP)/``resume``
    (SIGCONT)/``restart`` act on one agent by its PID; ``wait_for_master`` waits until the
    running agents agree on one master; ``assignment`` and ``members`` read the pool's rows
    from the database; ``status`` asks an agent over the bus. Leaving the ``with`` block
    (or ``close``) stops every agent this pool started, paused ones included::

        with AgentPool(root, db_url, interval=2.0) as pool:
            for i, prio in enumerate((300, 200, 100)):
                pool.add(f"a{i}", priority=prio)
            pool.start_all()
            master, epoch = pool.wait_for_master(30)
            pool.kill(master)
            new_master, new_epoch = pool.wait_for_master(30, exclude={master})

    ``sections`` (here and in ``add``) go to every config, e.g. ``pool={"preempt_delay": 5}``.
    """

    def __init__(
        self,
        root: Path,
        db_url: str,
        interval: float = 2.0,
        **sections: Mapping[str, object],
    ) -> None:
        self.root = root
        self.db_url = db_url
        self.interval = interval
        self.sections = sections
        self.agents: dict[str, PoolAgent] = {}
        self._db: Any = None  # agent.db.Database, opened when the pool's rows are read
        root.mkdir(parents=True, exist_ok=True)
        # Bus keys made the real way before any agent starts: an operator's for the
        # requests, an agent's for tests that play a pool member (a stale master).
        self._keys: dict[str, Path] = {}
        self._clients: dict[tuple[str, str], busclient.BusClient] = {}
        self.user("operator")
        self.user("member", "agent")

    def user(self, name: str, role: str = "operator") -> Path:
        """A bus key of this name (allowed now: before the agents start, or within their
        allow-list refresh); ``request(..., user=name)`` sends with it."""
        self._keys[name] = bus_key(self.db_url, self.root, name, role)
        return self._keys[name]

    def request(
        self,
        node_id: str,
        op: str,
        args: dict[str, Any] | None = None,
        timeout: float = 2.0,
        user: str = "operator",
    ) -> Any:
        """One request to one agent with ``user``'s key (a persistent client per pair)."""
        client = self._clients.get((node_id, user))
        if client is None:
            client = client_for(self.db_url, self._keys[user], node_id, timeout)
            self._clients[(node_id, user)] = client
        return client.request(op, args, timeout=timeout)

    def __enter__(self) -> AgentPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- membership of the test pool -----------------------------------------------------

    def add(self, node_id: str, priority: int = 100, **sections: Mapping[str, object]) -> PoolAgent:
        """Write ``node_id``'s config (not started yet)."""
        if node_id in self.agents:
            raise ValueError(f"agent {node_id!r} already added")
        merged: dict[str, dict[str, object]] = {k: dict(v) for k, v in self.sections.items()}
        for name, values in sections.items():
            merged.setdefault(name, {}).update(values)
        merged.setdefault("agent", {})["priority"] = priority
        home = self.root / node_id
        home.mkdir(parents=True, exist_ok=True)
        config = home / "agent.toml"
        router, trap_port = write_agent_config(
            config, node_id, home / "data", self.db_url, self.interval, **merged
        )
        agent = PoolAgent(
            node_id, priority, config, home / "agent.log", router, ("127.0.0.1", trap_port)
        )
        self.agents[node_id] = agent
        return agent

    def __getitem__(self, node_id: str) -> PoolAgent:
        return self.agents[node_id]

    @property
    def running(self) -> list[str]:
        """Agents whose process is alive (paused ones included)."""
        return [n for n, a in self.agents.items() if a.running]

    @property
    def live(self) -> list[str]:
        """Agents running and not paused: those that can answer."""
        return [n for n, a in self.agents.items() if a.running and not a.paused]

    # -- processes -----------------------------------------------------------------------

    def start(self, node_id: str, wait: float = 30.0, source: Path | None = None) -> PoolAgent:
        """Start one agent and wait until it answers on the bus (``wait`` 0: do not);
        ``source``: another release's source tree to run (see ``start_agent``)."""
        a = self.agents[node_id]
        if a.running:
            raise ValueError(f"agent {node_id!r} is already running")
        a.proc = start_agent(a.config, a.log, source)
        a.paused = False
        if wait:
            self._wait(a, wait)
        return a

    def _wait(self, a: PoolAgent, wait: float) -> None:
        assert a.proc is not None
        with client_for(self.db_url, self._keys["operator"], a.node_id) as client:
            try:
                wait_for_agent(client, a.proc, wait)
            except EmspoolError as e:
                # The test's temporary directory is gone by the time anyone reads it.
                lines = a.log.read_text(errors="replace").splitlines()[-15:]
                tail = "\n  ".join(lines)
                raise EmspoolError(f"{a.node_id}: {e}; last lines of {a.log}:\n  {tail}") from None

    def start_all(self, wait: float = 30.0) -> None:
        for node_id in self.agents:
            self.start(node_id, wait=0)
        for a in self.agents.values():
            self._wait(a, wait)

    def stop(self, node_id: str, timeout: float = 15.0) -> None:
        """SIGTERM (SIGCONT first if paused), wait; SIGKILL if it does not end in time."""
        a = self.agents[node_id]
        if a.proc is None:
            return
        if a.paused and a.proc.poll() is None:
            a.proc.send_signal(signal.SIGCONT)
        a.paused = False
        stop_process(a.proc, timeout)

    def kill(self, node_id: str) -> None:
        """kill -9: no shutdown at all (no lease release, no last row, outbox left)."""
        a = self.agents[node_id]
        if a.proc is not None and a.proc.poll() is None:
            a.proc.kill()
            a.proc.wait(10)
        a.paused = False

    def pause(self, node_id: str) -> None:
        """SIGSTOP: the process stands still (a VM freeze, a long GC) until ``resume``."""
        a = self.agents[node_id]
        assert a.proc is not None and a.proc.poll() is None, f"{node_id} is not running"
        a.proc.send_signal(signal.SIGSTOP)
        a.paused = True

    def resume(self, node_id: str) -> None:
        a = self.agents[node_id]
        assert a.proc is not None and a.proc.poll() is None, f"{node_id} is not running"
        a.proc.send_signal(signal.SIGCONT)
        a.paused = False

    def restart(self, node_id: str, *, hard: bool = False, wait: float = 30.0) -> PoolAgent:
        """Stop (SIGTERM, or kill -9 when ``hard``) and start again on the same ports."""
        if hard:
            self.kill(node_id)
        else:
            self.stop(node_id)
        return self.start(node_id, wait=wait)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for node_id in list(self.agents):
            self.stop(node_id)
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- looking at the pool -------------------------------------------------------------

    def status(self, node_id: str, timeout: float = 2.0) -> dict[str, Any]:
        """The agent's ``status`` reply (its ``pool`` part: role, master, epoch, alive,
        election, assignment, assigner and trap-forwarding counters)."""
        result: dict[str, Any] = self.request(node_id, "status", timeout=timeout)
        return result

    def statuses(self, timeout: float = 2.0) -> dict[str, dict[str, Any] | None]:
        """``status`` of every live agent; None for one that did not answer in time."""
        out: dict[str, dict[str, Any] | None] = {}
        for node_id in self.live:
            try:
                out[node_id] = self.status(node_id, timeout)
            except busclient.Unreachable:
                out[node_id] = None
        return out

    def master(self) -> tuple[str, int] | None:
        """(master, epoch) if every live agent answers and agrees on one master, which is
        itself one of them and says it is master; None otherwise."""
        found = self.statuses()
        if not found or any(s is None for s in found.values()):
            return None
        views = {(s["pool"]["master"], s["pool"]["epoch"]) for s in found.values() if s}
        if len(views) != 1:
            return None
        master, epoch = views.pop()
        mine = found.get(master)
        if not master or mine is None or mine["pool"]["role"] != "master":
            return None
        return master, int(epoch)

    def wait_for_master(
        self, timeout: float, exclude: Collection[str] = (), min_epoch: int = 0
    ) -> tuple[str, int]:
        """Wait until the live agents agree on one master (not in ``exclude``, at an
        epoch of at least ``min_epoch``); returns (master, epoch)."""
        deadline = time.monotonic() + timeout
        last: tuple[str, int] | None = None
        while time.monotonic() < deadline:
            last = self.master()
            if last is not None and last[0] not in exclude and last[1] >= min_epoch:
                return last
            time.sleep(0.1)
        raise EmspoolError(
            f"no single master among {self.live} within {timeout:g} s (last: {last}); "
            f"see the logs under {self.root}"
        )

    def _pooldb(self) -> Any:
        from agent.db import Database  # SQLAlchemy: loaded only when the rows are read
        from agent.pooldb import PoolDb

        if self._db is None:
            self._db = Database.open(self.db_url)
        return PoolDb(self._db)

    def assignment(self) -> Any:
        """The assignment table as the database has it (``agent.pooldb.AssignmentTable``:
        epoch, version, owners NE -> node id)."""
        return self._pooldb().read_assignment()

    def lease(self) -> Any:
        """The master lease row (``agent.pooldb.LeaseAnswer``: holder, epoch, expires_in)
        or None before any agent took it."""
        return self._pooldb().lease()

    def members(self) -> list[Any]:
        """The agents rows (``agent.pooldb.MemberRow``: state, epoch, managed, health...)."""
        return list(self._pooldb().members())

    def wait_for_assignment(
        self, check: Callable[[Any], bool], timeout: float, what: str = "the assignment"
    ) -> Any:
        """Wait until ``check(table)`` holds for the database's table; returns the table."""
        deadline = time.monotonic() + timeout
        table = None
        while time.monotonic() < deadline:
            table = self.assignment()
            if check(table):
                return table
            time.sleep(0.1)
        raise EmspoolError(f"{what} not reached within {timeout:g} s (last: {table})")

    def managed(self, node_id: str) -> set[str]:
        """The NEs an agent polls now, from its own answer (``ne_states``)."""
        states = self.request(node_id, "ne_states", timeout=2.0)
        return {str(s["name"]) for s in states}
