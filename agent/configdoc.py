"""The configuration reference (docs/configuration.md) and the installed default config
(every option commented out, with its default), both made from the config reader itself
(shared.config.describe) plus one line of text per key here. A test checks that every key
the reader takes has its text and that docs/configuration.md is up to date:
`emspool-agent --config-reference > docs/configuration.md` regenerates it."""

from __future__ import annotations

from shared.config import KeySpec, describe

DOCS: dict[str, str] = {
    "agent.node_id": "This agent's name in the pool: unique, 1-63 letters, digits, '.', '_', '-'.",
    "agent.priority": "Bully rank: the live agent with the highest (priority, node_id) is master.",
    "agent.data_dir": "Local state: outbox, SNMP engine boots, keys (the unit uses "
    "/var/lib/emspool).",
    "agent.log_level": "Log level; SIGHUP applies a change without a restart.",
    "agent.log_format": "kv (key=value text) or json, one line per record on stdout/journald.",
    "database.url": "SQLAlchemy URL of the pool database; empty: SQLite file in data_dir. "
    "Several hosts: postgresql+psycopg://user@host/db.",
    "bus.router": "ZeroMQ endpoint where the agent takes requests from peers, CLI and consoles.",
    "bus.pub": "ZeroMQ endpoint where the agent publishes live events.",
    "bus.key_file": "This agent's CURVE key pair (0600, made at first start; empty: "
    "bus.key in data_dir). Its public key goes to the agents row.",
    "bus.insecure": "A lab only: no CURVE, no authentication, every client may do "
    "everything. Warned about at start and in status.",
    "bus.max_in_flight": "Requests of one caller answered at once; more are told busy.",
    "bus.max_message": "Largest request taken and reply sent, in bytes; beyond, the caller is "
    "told too-large at once (paged answers such as pool.alarms fit by their page size).",
    "polling.interval": "Seconds between polls of an NE (an NE's own poll_interval wins).",
    "polling.timeout": "Seconds an SNMP request waits for an answer before a retry.",
    "polling.retries": "SNMP retries after the first timeout.",
    "polling.concurrency": "Polls in progress at once.",
    "polling.takeover_concurrency": "First polls of NEs taken over from another agent in "
    "progress at once, besides the others: a takeover does not queue behind routine polls.",
    "polling.lldp_every": "Poll cycles between refreshes of interface names, speeds and LLDP.",
    "polling.max_repetitions": "GETBULK max-repetitions of table walks.",
    "alarms.unreachable_after": "Failed polls in a row before an NE is alarmed unreachable.",
    "alarms.restart_hold": "Seconds a restart alarm stands before it clears by itself.",
    "alarms.never_up_ports": "Also alarm admin-up ports never seen up since the NE was managed.",
    "traps.enabled": "Receive SNMP traps and informs.",
    "traps.host": "Address the trap receiver binds.",
    "traps.port": "UDP port of the trap receiver (162 needs CAP_NET_BIND_SERVICE).",
    "traps.max_datagram": "Largest trap datagram accepted, bytes; larger ones are counted and "
    "dropped.",
    "netconf.timeout": "Seconds a NETCONF operation may take.",
    "netconf.workers": "Threads for blocking NETCONF calls, shared by all sessions.",
    "netconf.known_hosts": "known_hosts file for NEs without a pinned host key.",
    "secrets.key_file": "Pool secrets key (0600) that encrypts credentials profiles in the "
    "database; the same file on every agent. Empty: systemd LoadCredential=, else none.",
    "metrics.enabled": "Serve Prometheus metrics over HTTP.",
    "metrics.host": "Address of the metrics endpoint (keep it local or firewalled).",
    "metrics.port": "Port of the metrics endpoint.",
    "pool.zones": "Zones this agent serves: an NE with a zone goes only to agents listing it "
    "(NEs without a zone go to any agent).",
    "pool.weight": "This agent's share of the NEs relative to the others (0: none).",
    "pool.capacity": "NEs this agent manages at most (0: no limit).",
    "pool.seeds": "Bus endpoints of other agents, besides those the agents table lists.",
    "pool.heartbeat": "Seconds between election heartbeats.",
    "pool.dead_after": "Seconds unheard before a peer counts as dead (at least 2 heartbeats).",
    "pool.answer_timeout": "Seconds an ELECTION waits for a higher-ranked agent's ALIVE.",
    "pool.coordinator_timeout": "Seconds an answered agent waits for the COORDINATOR.",
    "pool.lease_ttl": "The master lease, seconds of database time: a dead master is replaced "
    "in about this long.",
    "pool.lease_renew": "Seconds between the master's lease renewals (< lease_hold).",
    "pool.lease_hold": "The master steps down this long after its last renewal, by its own "
    "clock (< lease_ttl).",
    "pool.preempt_delay": "Seconds a returning higher-ranked agent follows before it takes "
    "over (hold-down against flapping).",
    "pool.member_every": "Seconds between writes of this agent's row in the agents table.",
    "profiles[].name": "Local credentials profile name; it wins over a database profile of the "
    "same name.",
    "profiles[].version": "SNMP version, or none for a NETCONF-only profile.",
    "profiles[].community": "SNMP v1/v2c community (secret).",
    "profiles[].user": "SNMPv3 user, or the NETCONF SSH user.",
    "profiles[].auth_protocol": "SNMPv3 authentication protocol.",
    "profiles[].auth_key": "SNMPv3 authentication passphrase, 8 characters or more (secret).",
    "profiles[].priv_protocol": "SNMPv3 privacy protocol (aes192c/aes256c: the Cisco key "
    "extension).",
    "profiles[].priv_key": "SNMPv3 privacy passphrase, 8 characters or more (secret).",
    "profiles[].password": "NETCONF SSH password (secret).",
    "profiles[].key_file": "NETCONF SSH private key file.",
    "profiles[].context": "SNMPv3 context name polled (an NE's own context wins).",
}


def missing_docs(specs: list[KeySpec] | None = None) -> tuple[list[str], list[str]]:
    """(keys without text, texts of keys the reader no longer takes)."""
    paths = [s.path for s in specs or describe()]
    return [p for p in paths if p not in DOCS], sorted(set(DOCS) - set(paths))


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _allowed(s: KeySpec) -> str:
    if s.options:
        return ", ".join(s.options)
    if s.bounds is not None:
        lo, hi = s.bounds
        return f"{_toml_value(lo)} to {_toml_value(hi)}"
    return ""


def _tables(specs: list[KeySpec]) -> dict[str, list[KeySpec]]:
    out: dict[str, list[KeySpec]] = {}
    for s in specs:
        table, _, _key = s.path.rpartition(".")
        out.setdefault(table, []).append(s)
    return out


def markdown() -> str:
    specs = describe()
    lines = [
        "# Agent configuration reference",
        "",
        "Generated from the config reader (`emspool-agent --config-reference`); a test",
        "keeps it in step. The agent refuses unknown keys and names the key of any error;",
        "`emspool-agent --check-config FILE` validates a file without starting (exit 2).",
        "",
    ]
    for table, keys in _tables(specs).items():
        head = f"[[{table[:-2]}]]" if table.endswith("[]") else f"[{table}]"
        lines += [f"## `{head}`", "", "| key | type | default | allowed | meaning |"]
        lines.append("|---|---|---|---|---|")
        for s in keys:
            key = s.path.rpartition(".")[2]
            default = "(required)" if s.required else f"`{_toml_value(s.default)}`"
            lines.append(
                f"| `{key}` | {s.kind} | {default} | {_allowed(s)} | {DOCS.get(s.path, '')} |"
            )
        lines.append("")
    return "\n".join(lines)


def default_toml(node_id: str = "agent-1") -> str:
    """A config with every option present but commented out at its default (the node id is
    the one key that must be set)."""
    lines = [
        "# emspool-agent configuration. Every option is shown at its default, commented out;",
        "# uncomment to change. Reference: docs/configuration.md. Check: emspool-agent",
        "# --check-config FILE. SIGHUP (systemctl reload emspool-agent) re-reads it.",
        "",
    ]
    for table, keys in _tables(describe()).items():
        if table.endswith("[]"):
            lines.append(f"# [[{table[:-2]}]]   (one table per profile)")
        else:
            lines.append(f"[{table}]")
        for s in keys:
            key = s.path.rpartition(".")[2]
            lines.append(f"# {DOCS.get(s.path, '')}")
            allowed = _allowed(s)
            if allowed:
                lines.append(f"#   allowed: {allowed}")
            if s.path == "agent.node_id":
                lines.append(f"{key} = {_toml_value(node_id)}")
            else:
                lines.append(f"# {key} = {_toml_value(s.default)}")
        lines.append("")
    return "\n".join(lines)
