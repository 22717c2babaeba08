"""Agent configuration: TOML text in, a validated frozen object out.

Parsing is pure (the caller reads the file) so every error can be unit-tested;
messages name the exact key, and never echo a secret's value.
"""

from __future__ import annotations

import re
import tomllib
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .model import CredentialProfile, SnmpVersion
from .snmp_security import AUTH_NAMES, PRIV_NAMES
from .wire import MAX_MESSAGE

_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_ZMQ_ENDPOINT = re.compile(r"^(tcp://[^\s]+:\d+|ipc://[^\s]+|inproc://[^\s]+)$")
_ZONE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_ARRAY_INDEX = re.compile(r"\[\d+\]")
_SECRET_KEYS = {"community", "auth_key", "priv_key", "password"}


@dataclass(frozen=True, slots=True)
class PollingConfig:
    interval: float = 60.0
    timeout: float = 2.0
    retries: int = 1
    concurrency: int = 200
    takeover_concurrency: int = 1000  # first polls of NEs taken over, a lane of their own
    lldp_every: int = 10  # cycles between refreshes of names, speeds and LLDP
    max_repetitions: int = 25


@dataclass(frozen=True, slots=True)
class AlarmConfig:
    unreachable_after: int = 1
    restart_hold: float = 300.0
    never_up_ports: bool = False  # also alarm admin-up ports never seen up (see LinkAlarms)


@dataclass(frozen=True, slots=True)
class NetconfConfig:
    timeout: float = 5.0
    workers: int = 16  # threads for blocking ncclient calls, shared by all sessions
    known_hosts: str = ""  # used for NEs without a pinned host key


@dataclass(frozen=True, slots=True)
class TrapConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 10162
    max_datagram: int = 16384


@dataclass(frozen=True, slots=True)
class SecretsConfig:
    # The pool secrets key that encrypts credentials profiles at rest (agent/secretbox.py);
    # empty: systemd's LoadCredential= file if the unit passes one, else none (plain text).
    key_file: str = ""


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    enabled: bool = False  # Prometheus exporter off unless asked for
    host: str = "127.0.0.1"
    port: int = 9464


@dataclass(frozen=True, slots=True)
class BusConfig:
    key_file: str = ""  # this agent's CURVE key pair; empty: bus.key in data_dir
    insecure: bool = False  # a lab only: no encryption, no authentication, no roles
    max_in_flight: int = 64  # requests of one caller answered at once
    max_message: int = MAX_MESSAGE  # bytes: larger requests are refused, larger replies too


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """How this agent takes part in the pool: what it can serve (zones, weight, capacity),
    where to find the others besides the database (seeds), and the election's timing."""

    zones: tuple[str, ...] = ()  # NEs of these zones may be assigned here (and zoneless ones)
    weight: float = 1.0  # share of the NEs, relative to the others (0: none)
    capacity: int | None = None  # NEs at most; None: no limit
    seeds: tuple[str, ...] = ()  # bus endpoints of other agents, besides the agents table
    heartbeat: float = 0.5  # seconds between election heartbeats
    dead_after: float = 1.5  # a peer unheard for this long is dead (about 3 beats)
    answer_timeout: float = 0.5  # how long an ELECTION waits for an ALIVE
    coordinator_timeout: float = 2.0  # how long an answered agent waits for COORDINATOR
    lease_ttl: float = 1.8  # the master lease, by database time
    lease_renew: float = 0.3  # the master renews it this often
    lease_hold: float = 1.2  # the master steps down this long after its last renewal
    preempt_delay: float = 10.0  # a returning higher-ranked agent follows this long first
    member_every: float = 1.0  # seconds between writes of this agent's row (and reads of all)


@dataclass(frozen=True, slots=True)
class AgentConfig:
    node_id: str
    priority: int = 100
    data_dir: str = "var"
    database_url: str = ""  # empty: SQLite file in data_dir
    router_endpoint: str = "tcp://127.0.0.1:7700"
    pub_endpoint: str = "tcp://127.0.0.1:7701"
    log_level: str = "INFO"
    log_format: str = "kv"  # kv (key=value text) or json, one line per record
    polling: PollingConfig = field(default_factory=PollingConfig)
    alarms: AlarmConfig = field(default_factory=AlarmConfig)
    traps: TrapConfig = field(default_factory=TrapConfig)
    netconf: NetconfConfig = field(default_factory=NetconfConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    secrets: SecretsConfig = field(default_factory=SecretsConfig)
    bus: BusConfig = field(default_factory=BusConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    profiles: tuple[CredentialProfile, ...] = ()

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir}/emspool.db"

    @property
    def effective_key_file(self) -> str:
        return self.bus.key_file or f"{self.data_dir}/bus.key"


def parse_config(text: str, source: str = "<config>") -> AgentConfig:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from None
    return config_from_dict(doc, source)


def config_from_dict(doc: dict[str, Any], source: str = "<config>") -> AgentConfig:
    r = _Reader(doc, source, "")
    agent = r.table("agent", required=True)
    node_id = agent.get_str("node_id", required=True)
    if not _NODE_ID.match(node_id):
        agent.fail("node_id", "must be 1-63 letters, digits, '.', '_' or '-'")
    bus = r.table("bus")
    db = r.table("database")
    polling = r.table("polling")
    alarms = r.table("alarms")
    traps = r.table("traps")
    netconf = r.table("netconf")
    metrics = r.table("metrics")
    pool = r.table("pool")
    secrets = r.table("secrets")
    cfg = AgentConfig(
        node_id=node_id,
        priority=agent.get_int("priority", 100, lo=0, hi=1_000_000),
        data_dir=agent.get_str("data_dir", "var"),
        log_level=agent.choice("log_level", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
        log_format=agent.choice("log_format", "kv", ("kv", "json")),
        database_url=db.get_str("url", ""),
        router_endpoint=bus.endpoint("router", "tcp://127.0.0.1:7700"),
        pub_endpoint=bus.endpoint("pub", "tcp://127.0.0.1:7701"),
        polling=PollingConfig(
            interval=polling.get_float("interval", 60.0, lo=1.0, hi=86400.0),
            timeout=polling.get_float("timeout", 2.0, lo=0.05, hi=60.0),
            retries=polling.get_int("retries", 1, lo=0, hi=10),
            concurrency=polling.get_int("concurrency", 200, lo=1, hi=10_000),
            takeover_concurrency=polling.get_int("takeover_concurrency", 1000, lo=1, hi=10_000),
            lldp_every=polling.get_int("lldp_every", 10, lo=1, hi=10_000),
            max_repetitions=polling.get_int("max_repetitions", 25, lo=1, hi=200),
        ),
        alarms=AlarmConfig(
            unreachable_after=alarms.get_int("unreachable_after", 1, lo=1, hi=100),
            restart_hold=alarms.get_float("restart_hold", 300.0, lo=0.0, hi=86400.0 * 7),
            never_up_ports=alarms.get_bool("never_up_ports", False),
        ),
        traps=TrapConfig(
            enabled=traps.get_bool("enabled", True),
            host=traps.get_str("host", "127.0.0.1"),
            port=traps.get_int("port", 10162, lo=0, hi=65535),
            max_datagram=traps.get_int("max_datagram", 16384, lo=484, hi=65535),
        ),
        netconf=NetconfConfig(
            timeout=netconf.get_float("timeout", 5.0, lo=0.1, hi=300.0),
            workers=netconf.get_int("workers", 16, lo=1, hi=512),
            known_hosts=netconf.get_str("known_hosts", ""),
        ),
        metrics=MetricsConfig(
            enabled=metrics.get_bool("enabled", False),
            host=metrics.get_str("host", "127.0.0.1"),
            port=metrics.get_int("port", 9464, lo=0, hi=65535),
        ),
        secrets=SecretsConfig(key_file=secrets.get_str("key_file", "")),
        bus=BusConfig(
            key_file=bus.get_str("key_file", ""),
            insecure=bus.get_bool("insecure", False),
            max_in_flight=bus.get_int("max_in_flight", 64, lo=1, hi=100_000),
            max_message=bus.get_int("max_message", MAX_MESSAGE, lo=1024, hi=MAX_MESSAGE),
        ),
        pool=_pool(pool),
        profiles=tuple(_profile(p) for p in r.array_of_tables("profiles")),
    )
    for t in (r, agent, bus, db, polling, alarms, traps, netconf, metrics, pool, secrets):
        t.reject_unknown()
    names = [p.name for p in cfg.profiles]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"{source}: profiles: duplicate name(s) {sorted(dup)}")
    return cfg


def _pool(p: _Reader) -> PoolConfig:
    zones = p.get_str_list("zones")
    for z in zones:
        if not _ZONE.match(z):
            p.fail("zones", f"{z!r} is not a zone name (1-100 letters, digits, '.', '_', '-')")
    seeds = p.get_str_list("seeds")
    for s in seeds:
        if not _ZMQ_ENDPOINT.match(s):
            p.fail("seeds", f"expected ZeroMQ endpoints like tcp://10.0.0.2:7700, got {s!r}")
    capacity = p.get_int("capacity", 0, lo=0, hi=10_000_000)
    cfg = PoolConfig(
        zones=tuple(zones),
        weight=p.get_float("weight", 1.0, lo=0.0, hi=1000.0),
        capacity=capacity or None,
        seeds=tuple(seeds),
        heartbeat=p.get_float("heartbeat", 0.5, lo=0.05, hi=30.0),
        dead_after=p.get_float("dead_after", 1.5, lo=0.1, hi=300.0),
        answer_timeout=p.get_float("answer_timeout", 0.5, lo=0.01, hi=60.0),
        coordinator_timeout=p.get_float("coordinator_timeout", 2.0, lo=0.05, hi=300.0),
        lease_ttl=p.get_float("lease_ttl", 1.8, lo=0.1, hi=600.0),
        lease_renew=p.get_float("lease_renew", 0.3, lo=0.01, hi=300.0),
        lease_hold=p.get_float("lease_hold", 1.2, lo=0.05, hi=600.0),
        preempt_delay=p.get_float("preempt_delay", 10.0, lo=0.0, hi=86400.0),
        member_every=p.get_float("member_every", 1.0, lo=0.05, hi=60.0),
    )
    # The timing only works in this order; say which key breaks it.
    if cfg.dead_after < 2 * cfg.heartbeat:
        p.fail("dead_after", f"must be at least twice pool.heartbeat ({cfg.heartbeat:g} s)")
    if cfg.lease_renew >= cfg.lease_hold:
        p.fail("lease_renew", f"must be shorter than pool.lease_hold ({cfg.lease_hold:g} s)")
    if cfg.lease_hold >= cfg.lease_ttl:
        # The master must stop acting before the database can give the lease to another.
        p.fail("lease_hold", f"must be shorter than pool.lease_ttl ({cfg.lease_ttl:g} s)")
    return cfg


def parse_profile(d: dict[str, Any], where: str = "profile") -> CredentialProfile:
    """Validate one credentials profile (from a config file or an inventory import)."""
    return _profile(_Reader(d, where, ""))


def _profile(p: _Reader) -> CredentialProfile:
    has_ssh = "password" in p.data or "key_file" in p.data
    # A profile with only SSH credentials is a NETCONF profile: no SNMP version needed.
    default_version = "none" if has_ssh and "community" not in p.data else "2c"
    version = SnmpVersion(p.choice("version", default_version, tuple(v.value for v in SnmpVersion)))
    prof = CredentialProfile(
        name=p.get_str("name", required=True),
        version=version,
        community=p.get_str("community", ""),
        user=p.get_str("user", ""),
        auth_protocol=p.choice("auth_protocol", "none", AUTH_NAMES, lower=True),
        auth_key=p.get_str("auth_key", ""),
        priv_protocol=p.choice("priv_protocol", "none", PRIV_NAMES, lower=True),
        priv_key=p.get_str("priv_key", ""),
        password=p.get_str("password", ""),
        key_file=p.get_str("key_file", ""),
        context=p.get_str("context", ""),
    )
    p.reject_unknown()
    if version is SnmpVersion.V3:
        if not prof.user:
            p.fail("user", "is required for SNMPv3")
        if prof.auth_protocol != "none" and len(prof.auth_key) < 8:
            p.fail("auth_key", "must be at least 8 characters (RFC 3414)")
        if prof.priv_protocol != "none":
            if prof.auth_protocol == "none":
                p.fail("priv_protocol", "privacy needs authentication (auth_protocol)")
            if len(prof.priv_key) < 8:
                p.fail("priv_key", "must be at least 8 characters (RFC 3414)")
    elif version is not SnmpVersion.NONE and not prof.community:
        p.fail("community", f"is required for SNMP v{version.value}")
    if has_ssh and not prof.user:
        p.fail("user", "is required with a password or key_file (NETCONF over SSH)")
    if version is SnmpVersion.NONE and not has_ssh:
        p.fail("version", "'none' needs NETCONF credentials (user with password or key_file)")
    return prof


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One configuration key as the reader takes it: the model the reference is made from."""

    path: str  # e.g. "polling.interval"; "profiles[].name" for array-of-tables keys
    kind: str  # string / boolean / integer / number / choice / endpoint / table
    default: object
    required: bool = False
    bounds: tuple[object, object] | None = None
    options: tuple[str, ...] = ()


_TRACE: ContextVar[list[KeySpec] | None] = ContextVar("config_trace", default=None)


def describe() -> list[KeySpec]:
    """Every key the agent's config reader takes, in reading order, with its type, default,
    bounds and choices: read from the reader itself, so it cannot drift from it."""
    sample = {
        "agent": {"node_id": "agent-1"},
        "profiles": [{"name": "example", "version": "2c", "community": "x"}],
    }
    out: list[KeySpec] = []
    token = _TRACE.set(out)
    try:
        config_from_dict(sample, "<describe>")
    finally:
        _TRACE.reset(token)
    seen: dict[str, KeySpec] = {}
    for spec in out:
        if spec.kind != "string" or spec.path not in seen:
            seen[spec.path] = spec  # a choice or endpoint is also read as a string: keep that
    return list(seen.values())


class _Reader:
    """Typed access to one TOML table that remembers which keys were used."""

    def __init__(self, data: Any, source: str, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: {path or 'top level'}: expected a table")
        self.data: dict[str, Any] = data
        self.source = source
        self.path = path
        self.used: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _note(self, key: str, kind: str, default: object, **more: Any) -> None:
        trace = _TRACE.get()
        if trace is not None:
            path = _ARRAY_INDEX.sub("[]", self.where(key))
            trace.append(KeySpec(path, kind, default, **more))

    def fail(self, key: str, why: str) -> None:
        raise ConfigError(f"{self.source}: {self.where(key)}: {why}")

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                self.fail(key, "is required")
            return None
        return self.data[key]

    def _shown(self, key: str, v: Any) -> str:
        return "<hidden>" if key in _SECRET_KEYS else repr(v)

    def table(self, key: str, required: bool = False) -> _Reader:
        v = self._get(key, required)
        return _Reader({} if v is None else v, self.source, self.where(key))

    def array_of_tables(self, key: str) -> list[_Reader]:
        v = self._get(key, False)
        if v is None:
            return []
        if not isinstance(v, list):
            self.fail(key, "expected an array of tables ([[...]])")
        return [_Reader(x, self.source, f"{self.where(key)}[{i}]") for i, x in enumerate(v)]

    def get_str(self, key: str, default: str = "", required: bool = False) -> str:
        self._note(key, "string", default, required=required)
        v = self._get(key, required)
        if v is None:
            return default
        if not isinstance(v, str):
            self.fail(key, f"expected a string, got {self._shown(key, v)}")
        return str(v)

    def get_str_list(self, key: str) -> list[str]:
        self._note(key, "list of strings", [])
        v = self._get(key, False)
        if v is None:
            return []
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            self.fail(key, f"expected a list of strings, got {v!r}")
        if len(set(v)) != len(v):
            self.fail(key, "lists the same value twice")
        return list(v)

    def get_bool(self, key: str, default: bool) -> bool:
        self._note(key, "boolean", default)
        v = self._get(key, False)
        if v is None:
            return default
        if not isinstance(v, bool):
            self.fail(key, f"expected true or false, got {v!r}")
        return bool(v)

    def get_int(self, key: str, default: int, lo: int, hi: int) -> int:
        self._note(key, "integer", default, bounds=(lo, hi))
        v = self._get(key, False)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(key, f"expected an integer, got {v!r}")
        if not lo <= v <= hi:
            self.fail(key, f"must be between {lo} and {hi}, got {v}")
        return int(v)

    def get_float(self, key: str, default: float, lo: float, hi: float) -> float:
        self._note(key, "number", default, bounds=(lo, hi))
        v = self._get(key, False)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int | float):
            self.fail(key, f"expected a number, got {v!r}")
        if not lo <= v <= hi:
            self.fail(key, f"must be between {lo} and {hi}, got {v}")
        return float(v)

    def choice(self, key: str, default: str, options: tuple[str, ...], lower: bool = False) -> str:
        self._note(key, "choice", default, options=options)
        v = self.get_str(key, default)
        if lower:
            v = v.lower()
        if v not in options:
            self.fail(key, f"must be one of {', '.join(options)}, got {v!r}")
        return v

    def endpoint(self, key: str, default: str) -> str:
        self._note(key, "endpoint", default)
        v = self.get_str(key, default)
        if not _ZMQ_ENDPOINT.match(v):
            self.fail(key, f"expected a ZeroMQ endpoint like tcp://127.0.0.1:7700, got {v!r}")
        return v

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(
                f"{self.source}: {self.path or 'top level'}: unknown key(s) {', '.join(unknown)}"
            )
