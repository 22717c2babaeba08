"""The console's topology view-model: one graph of agents and NEs built from either source
the pool offers, and what differs between the two.

- **database** (peered, ``db.topology``): the inventory, the assignment table's owners, the
  stored reachability and the links table (LLDP as last synced, and manual links);
- **memory** (federated, ``pool.ne_states`` and optionally ``pool.health``): what every live
  agent holds now: the NEs it polls, their live state and their LLDP neighbours.

Nodes are NEs (by name) and agents (``agent:<node id>``, see ``agent_id``); edges are
"managed by" (agent -> NE, from each NE's owner) and links (NE - NE, one per pair of ports
whichever end reported it). An NE's colour is its worst standing alarm's severity, from a
mapping the caller keeps (the console's alarm view: ``worst_severities``).

Pure: no clock (the replies carry ``fetched``), no I/O, no Qt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .model import Severity

DATABASE = "database"
MEMORY = "memory"
SOURCES = (DATABASE, MEMORY)

AGENT_PREFIX = "agent:"

# NOC colours by perceived severity (the usual X.733 palette: red, orange, yellow, blue);
# an NE with no standing alarm is green, one never polled yet grey.
SEVERITY_COLOURS: dict[Severity, str] = {
    Severity.CRITICAL: "#e5322d",
    Severity.MAJOR: "#f08a24",
    Severity.MINOR: "#f2c230",
    Severity.WARNING: "#3d8fe0",
    Severity.INDETERMINATE: "#a070d0",
    Severity.CLEARED: "#3fae5a",
}
UNKNOWN_COLOUR = "#8a9099"

# (NE, port) of both ends, the lower end first: a link reported from either end is one key.
LinkKey = tuple[str, str, str, str]


def agent_id(node: str) -> str:
    return AGENT_PREFIX + node


def is_agent(node_id: str) -> bool:
    return node_id.startswith(AGENT_PREFIX)


def link_key(a: str, a_port: str, b: str, b_port: str) -> LinkKey:
    if (a, a_port) <= (b, b_port):
        return (a, a_port, b, b_port)
    return (b, b_port, a, a_port)


@dataclass(frozen=True, slots=True)
class AgentNode:
    node: str
    state: str = ""  # master / follower / starting / dead ("" if the source does not say)
    epoch: int = 0
    load: int = 0  # NEs it manages by this source
    answered: bool = True  # memory source: did it answer the federated request

    @property
    def id(self) -> str:
        return agent_id(self.node)


@dataclass(frozen=True, slots=True)
class NeNode:
    name: str
    owner: str = ""  # managing agent's node id, "" if none
    kind: str = ""
    site: str = ""  # the inventory's zone
    managed: bool = True
    reachable: bool | None = None  # None: not polled yet
    last_poll: float | None = None
    last_error: str | None = None
    interfaces_down: int | None = None  # memory source only
    external: bool = False  # only named by a neighbour's LLDP, not in the inventory


@dataclass(frozen=True, slots=True)
class LinkEdge:
    key: LinkKey
    sources: frozenset[str] = frozenset()  # "lldp", "manual" (memory: always "lldp")

    @property
    def a(self) -> str:
        return self.key[0]

    @property
    def b(self) -> str:
        return self.key[2]


@dataclass(frozen=True, slots=True)
class Topology:
    source: str  # DATABASE or MEMORY
    fetched: float  # the agent's clock when it answered (seconds since the epoch)
    agents: dict[str, AgentNode]  # by node id
    nes: dict[str, NeNode]  # by name, external neighbours included
    links: dict[LinkKey, LinkEdge]
    master: str = ""
    epoch: int = 0
    via: str = ""  # the agent that answered, when the caller says
    missing: dict[str, str] = field(default_factory=dict)  # agents without a part, and why

    def owners(self) -> dict[str, str]:
        return {n.name: n.owner for n in self.nes.values() if n.owner}

    def inventory(self) -> set[str]:
        return {n.name for n in self.nes.values() if not n.external}

    def node_ids(self) -> list[str]:
        return [a.id for a in self.agents.values()] + list(self.nes)

    def neighbours(self, name: str) -> list[LinkEdge]:
        return [e for e in self.links.values() if name in (e.a, e.b)]

    def with_owners(self, changes: Mapping[str, str]) -> Topology:
        """The same graph with some NEs managed by other agents (a failover seen live);
        agents' loads follow. NEs not in the graph are ignored."""
        nes = dict(self.nes)
        for ne, owner in changes.items():
            if ne in nes and nes[ne].owner != owner:
                nes[ne] = replace(nes[ne], owner=owner)
        agents = dict(self.agents)
        for node in {o for o in changes.values() if o and o not in agents}:
            agents[node] = AgentNode(node)
        load = _loads(nes.values())
        agents = {k: replace(a, load=load.get(k, 0)) for k, a in agents.items()}
        return replace(self, nes=nes, agents=agents)

    def with_states(self, items: Iterable[Mapping[str, Any]]) -> Topology:
        """The same graph with some NEs' live state replaced by ``pool.ne_states`` items
        (the live ``ne`` messages carry the same): reachability, error, ports down. Owners
        are left to ``with_owners``; NEs not in the graph are ignored."""
        nes = dict(self.nes)
        for d in items:
            old = nes.get(str(d.get("name")))
            if old is None or old.external:
                continue
            down = d.get("interfaces_down")
            nes[old.name] = replace(
                old,
                reachable=_opt_bool(d.get("reachable")),
                last_poll=_opt_float(d.get("last_poll")),
                last_error=str(d["last_error"]) if d.get("last_error") else None,
                interfaces_down=int(down) if isinstance(down, int) else old.interfaces_down,
            )
        return replace(self, nes=nes)


def adjacency(topology: Topology) -> dict[str, list[LinkEdge]]:
    """NE -> its links (one pass; ``Topology.neighbours`` scans every link)."""
    out: dict[str, list[LinkEdge]] = {}
    for e in topology.links.values():
        out.setdefault(e.a, []).append(e)
        if e.b != e.a:
            out.setdefault(e.b, []).append(e)
    return out


def _loads(nes: Iterable[NeNode]) -> dict[str, int]:
    load: dict[str, int] = {}
    for n in nes:
        if n.owner:
            load[n.owner] = load.get(n.owner, 0) + 1
    return load


def _opt_float(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _opt_bool(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


def _add_externals(nes: dict[str, NeNode], links: Iterable[LinkEdge]) -> None:
    for e in links:
        for end in (e.a, e.b):
            if end not in nes:
                nes[end] = NeNode(end, external=True)


def from_database(reply: Mapping[str, Any], via: str = "") -> Topology:
    """The graph of a ``db.topology`` reply (agent/peered.py)."""
    nes: dict[str, NeNode] = {}
    for d in reply.get("nes", []):
        name = str(d["name"])
        nes[name] = NeNode(
            name,
            owner=str(d.get("owner") or ""),
            kind=str(d.get("kind") or ""),
            site=str(d.get("zone") or ""),
            managed=bool(d.get("managed", True)),
            reachable=_opt_bool(d.get("reachable")),
        )
    sources: dict[LinkKey, set[str]] = {}
    for d in reply.get("links", []):
        key = link_key(str(d["a"]), str(d["a_port"]), str(d["b"]), str(d["b_port"]))
        sources.setdefault(key, set()).add(str(d.get("source") or "manual"))
    links = {k: LinkEdge(k, frozenset(s)) for k, s in sources.items()}
    _add_externals(nes, links.values())
    load = _loads(nes.values())
    agents = {}
    for d in reply.get("agents", []):
        node = str(d["node_id"])
        agents[node] = AgentNode(
            node, str(d.get("state") or ""), int(d.get("epoch") or 0), load.get(node, 0)
        )
    for node in load.keys() - agents.keys():  # an owner the members table no longer has
        agents[node] = AgentNode(node, "dead", 0, load[node])
    return Topology(
        DATABASE,
        float(reply.get("fetched") or 0.0),
        agents,
        nes,
        links,
        master=str(reply.get("master") or ""),
        epoch=int(reply.get("epoch") or 0),
        via=via,
    )


def from_memory(
    states: Mapping[str, Any], health: Mapping[str, Any] | None = None, via: str = ""
) -> Topology:
    """The graph of a ``pool.ne_states`` reply (each item tagged with the agent polling it,
    ``lldp`` its neighbours), with roles and epochs from a ``pool.health`` reply if given."""
    nes: dict[str, NeNode] = {}
    links: dict[LinkKey, LinkEdge] = {}
    for d in states.get("items", []):
        name = str(d["name"])
        down = d.get("interfaces_down")
        nes[name] = NeNode(
            name,
            owner=str(d.get("agent") or ""),
            reachable=_opt_bool(d.get("reachable")),
            last_poll=_opt_float(d.get("last_poll")),
            last_error=str(d["last_error"]) if d.get("last_error") else None,
            interfaces_down=int(down) if isinstance(down, int) else None,
        )
        for n in d.get("lldp", []):
            if n.get("remote"):
                key = link_key(name, str(n["port"]), str(n["remote"]), str(n["remote_port"]))
                links[key] = LinkEdge(key, frozenset({"lldp"}))
    _add_externals(nes, links.values())
    load = _loads(nes.values())
    answered = [str(n) for n in states.get("answered", [])]
    missing = {str(k): str(v) for k, v in dict(states.get("missing", {})).items()}
    roles: dict[str, Mapping[str, Any]] = {}
    for part in (health or {}).get("items", []):
        roles[str(part.get("node_id") or part.get("agent"))] = part.get("election") or {}
    agents = {}
    for node in sorted(set(answered) | set(missing) | set(load)):
        election = roles.get(node, {})
        agents[node] = AgentNode(
            node,
            str(election.get("role") or ("dead" if node in missing else "")),
            int(election.get("epoch") or 0),
            load.get(node, 0),
            answered=node not in missing,
        )
    masters = {str(e.get("master")) for e in roles.values() if e.get("master")}
    epochs = [int(e.get("epoch") or 0) for e in roles.values()]
    return Topology(
        MEMORY,
        float(states.get("fetched") or 0.0),
        agents,
        nes,
        links,
        master=masters.pop() if len(masters) == 1 else "",
        epoch=max(epochs, default=0),
        via=via,
        missing=missing,
    )


@dataclass(frozen=True, slots=True)
class TopologyDiff:
    """What the database says and the agents' memory does not, or the other way round.
    Unmanaged NEs are left out (no agent polls them, so memory never has them), and so are
    manual links (memory only knows LLDP)."""

    only_database: frozenset[str] = frozenset()
    only_memory: frozenset[str] = frozenset()
    owners: dict[str, tuple[str, str]] = field(default_factory=dict)  # NE -> (db, memory)
    links_only_database: frozenset[LinkKey] = frozenset()
    links_only_memory: frozenset[LinkKey] = frozenset()

    @property
    def empty(self) -> bool:
        return not (
            self.only_database
            or self.only_memory
            or self.owners
            or self.links_only_database
            or self.links_only_memory
        )

    def nes(self) -> set[str]:
        """Every NE the difference is about (to highlight)."""
        return set(self.only_database) | set(self.only_memory) | set(self.owners)

    def links(self) -> set[LinkKey]:
        return set(self.links_only_database) | set(self.links_only_memory)

    def summary(self) -> str:
        if self.empty:
            return "the database and the agents' memory agree"
        parts = [
            (len(self.only_database), "NEs only in the database"),
            (len(self.only_memory), "NEs only in memory"),
            (len(self.owners), "NEs with another owner"),
            (len(self.links_only_database), "links only in the database"),
            (len(self.links_only_memory), "links only in memory"),
        ]
        return ", ".join(f"{n} {what}" for n, what in parts if n)


def differences(database: Topology, memory: Topology) -> TopologyDiff:
    db_nes = {n.name for n in database.nes.values() if not n.external and n.managed}
    mem_nes = memory.inventory()
    db_owner, mem_owner = database.owners(), memory.owners()
    both = db_nes & mem_nes
    db_links = {k for k, e in database.links.items() if "lldp" in e.sources}
    return TopologyDiff(
        only_database=frozenset(db_nes - mem_nes),
        only_memory=frozenset(mem_nes - db_nes),
        owners={
            ne: (db_owner.get(ne, ""), mem_owner.get(ne, ""))
            for ne in sorted(both)
            if db_owner.get(ne, "") != mem_owner.get(ne, "")
        },
        links_only_database=frozenset(db_links - set(memory.links)),
        links_only_memory=frozenset(set(memory.links) - db_links),
    )


def worst_severities(alarms: Iterable[Mapping[str, Any]]) -> dict[str, Severity]:
    """NE -> its worst standing alarm's severity, from alarm items (``pool.alarms`` items
    or ``AlarmView.items()``); cleared alarms do not count."""
    worst: dict[str, Severity] = {}
    for a in alarms:
        if a.get("active") is False:
            continue
        sev = Severity.parse(str(a.get("severity", "indeterminate")))
        ne = str(a.get("ne", ""))
        if sev > worst.get(ne, Severity.CLEARED):
            worst[ne] = sev
    return worst


def colour_of(ne: NeNode, worst: Mapping[str, Severity]) -> str:
    """The NE's fill colour: its worst standing alarm, green without one, grey when it is
    outside the pool (an external neighbour) or was never polled and has no alarm."""
    sev = worst.get(ne.name)
    if sev is not None and sev > Severity.CLEARED:
        return SEVERITY_COLOURS[sev]
    if ne.external or ne.reachable is None:
        return UNKNOWN_COLOUR
    return SEVERITY_COLOURS[Severity.CLEARED]


def owner_changes(topology: Topology, origin: str, body: Mapping[str, Any]) -> dict[str, str]:
    """NE -> new owner from an agent's live ``agent`` message saying what it manages now
    (``{"managed": [...]}``, agent/managed.py): the NEs it took. NEs it dropped are left
    to the message of the agent taking them (or the next refresh)."""
    managed = body.get("managed")
    if not isinstance(managed, list):
        return {}
    return {
        str(ne): origin
        for ne in managed
        if str(ne) in topology.nes and topology.nes[str(ne)].owner != origin
    }


def union(database: Topology, memory: Topology) -> Topology:
    """Both sources in one graph, for showing their differences: the database's nodes and
    owners, plus what only memory has."""
    nes = dict(memory.nes) | dict(database.nes)
    links = dict(memory.links) | dict(database.links)
    agents = dict(memory.agents) | dict(database.agents)
    return replace(database, nes=nes, links=links, agents=agents)
