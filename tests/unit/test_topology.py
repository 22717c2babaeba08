"""The console's topology view-model (shared/topology.py) on replies shaped like the real
``db.topology``, ``pool.ne_states`` and ``pool.health`` (agent/peered.py, agent/federation.py;
the system test checks them against a live pool)."""

from __future__ import annotations

from shared.model import Severity
from shared.topology import (
    DATABASE,
    MEMORY,
    SEVERITY_COLOURS,
    UNKNOWN_COLOUR,
    agent_id,
    colour_of,
    differences,
    from_database,
    from_memory,
    link_key,
    owner_changes,
    union,
    worst_severities,
)


def db_reply() -> dict:
    return {
        "source": "database",
        "agents": [
            {"node_id": "p1", "state": "master", "epoch": 4, "managed": 2},
            {"node_id": "p2", "state": "follower", "epoch": 4, "managed": 1},
            {"node_id": "p3", "state": "dead", "epoch": 3, "managed": 0},
        ],
        "master": "p1",
        "epoch": 4,
        "nes": [
            {
                "name": "rtr001",
                "kind": "router",
                "zone": "lon",
                "owner": "p1",
                "managed": True,
                "reachable": False,
            },
            {
                "name": "rtr002",
                "kind": "router",
                "zone": "lon",
                "owner": "p1",
                "managed": True,
                "reachable": True,
            },
            {
                "name": "sw001",
                "kind": "switch",
                "zone": "par",
                "owner": "p2",
                "managed": True,
                "reachable": None,
            },
            {
                "name": "sw002",
                "kind": "switch",
                "zone": "par",
                "owner": "",
                "managed": False,
                "reachable": None,
            },
        ],
        "links": [
            # LLDP and a manual link on the same ports are one edge with both sources.
            {
                "a": "rtr001",
                "a_port": "ge-0/0/0",
                "b": "rtr002",
                "b_port": "ge-0/0/0",
                "source": "lldp",
            },
            {
                "a": "rtr001",
                "a_port": "ge-0/0/0",
                "b": "rtr002",
                "b_port": "ge-0/0/0",
                "source": "manual",
            },
            {"a": "sw001", "a_port": "1", "b": "rtr002", "b_port": "ge-0/0/1", "source": "lldp"},
            {"a": "sw001", "a_port": "9", "b": "sw002", "b_port": "9", "source": "manual"},
        ],
        "fetched": 1796181416.5,
    }


def states_reply() -> dict:
    def lldp(*entries: tuple[str, str, str]) -> list[dict]:
        return [{"port": p, "remote": r, "remote_port": rp} for p, r, rp in entries]

    return {
        "items": [
            {"name": "rtr001", "agent": "p1", "reachable": False, "last_poll": 10.0,
             "last_error": "no SNMP answer", "interfaces_down": 4,
             "lldp": lldp(("ge-0/0/0", "rtr002", "ge-0/0/0"))},
            {"name": "rtr002", "agent": "p1", "reachable": True, "last_poll": 11.0,
             "interfaces_down": 0,
             "lldp": lldp(("ge-0/0/0", "rtr001", "ge-0/0/0"), ("ge-0/0/1", "sw001", "1"),
                          ("ge-0/0/5", "core-x", "eth1"))},
            {"name": "sw001", "agent": "p2", "reachable": True, "last_poll": 12.0,
             "lldp": lldp(("1", "rtr002", "ge-0/0/1"))},
        ],
        "answered": ["p1", "p2"],
        "missing": {"p3": "not alive (last heartbeat 30 s ago by the database)"},
        "partial": True,
        "fetched": 1796181417.0,
    }  # fmt: skip


def health_reply() -> dict:
    return {
        "items": [
            {"node_id": "p1", "election": {"role": "master", "master": "p1", "epoch": 4}},
            {"node_id": "p2", "election": {"role": "follower", "master": "p1", "epoch": 4}},
        ],
        "answered": ["p1", "p2"],
        "missing": {},
    }


def test_database_reply_gives_nodes_owners_agents_and_deduplicated_links():
    t = from_database(db_reply(), via="p2")
    assert t.source == DATABASE and t.fetched == 1796181416.5 and t.via == "p2"
    assert t.master == "p1" and t.epoch == 4
    assert t.owners() == {"rtr001": "p1", "rtr002": "p1", "sw001": "p2"}
    assert t.nes["rtr001"].site == "lon" and t.nes["rtr001"].reachable is False
    assert t.nes["sw001"].reachable is None and not t.nes["sw002"].managed
    assert len(t.links) == 3
    key = link_key("rtr002", "ge-0/0/0", "rtr001", "ge-0/0/0")  # either end first
    assert t.links[key].sources == {"lldp", "manual"}
    assert {(a.node, a.state, a.load) for a in t.agents.values()} == {
        ("p1", "master", 2),
        ("p2", "follower", 1),
        ("p3", "dead", 0),
    }
    assert agent_id("p1") in t.node_ids() and "sw002" in t.node_ids()


def test_memory_reply_gives_live_owners_links_from_both_ends_and_missing_agents():
    t = from_memory(states_reply(), health_reply(), via="p1")
    assert t.source == MEMORY and t.fetched == 1796181417.0
    assert t.owners() == {"rtr001": "p1", "rtr002": "p1", "sw001": "p2"}
    # rtr001<->rtr002 reported from both ends: one edge; core-x is outside the inventory.
    assert len(t.links) == 3
    assert t.nes["core-x"].external and "core-x" not in t.inventory()
    assert t.nes["rtr001"].last_error == "no SNMP answer" and t.nes["rtr001"].interfaces_down == 4
    assert t.agents["p1"].state == "master" and t.agents["p1"].epoch == 4
    assert t.agents["p1"].load == 2 and t.agents["p2"].load == 1
    assert not t.agents["p3"].answered and t.agents["p3"].state == "dead"
    assert t.master == "p1" and t.missing == {"p3": states_reply()["missing"]["p3"]}


def test_the_two_sources_agree_where_they_should():
    d = differences(from_database(db_reply()), from_memory(states_reply(), health_reply()))
    # sw002 is unmanaged (never in memory), the manual links are not LLDP's: no difference.
    assert not d.only_database and not d.only_memory and not d.owners
    assert not d.links_only_database
    # core-x's link is seen live and not yet synced to the links table.
    assert d.links_only_memory == {link_key("rtr002", "ge-0/0/5", "core-x", "eth1")}
    assert "1 links only in memory" in d.summary()


def test_differences_name_nes_owners_and_links_only_in_one_source():
    db = db_reply()
    db["nes"].append({"name": "rtr009", "kind": "router", "owner": "p3", "managed": True})
    db["nes"][2]["owner"] = "p3"  # sw001: the database still says p3, memory says p2
    mem = states_reply()
    mem["items"].append({"name": "rtr010", "agent": "p2", "lldp": []})
    mem["items"][1]["lldp"] = mem["items"][1]["lldp"][:1]  # rtr002 lost its link to sw001
    mem["items"][2]["lldp"] = []
    d = differences(from_database(db), from_memory(mem))
    assert d.only_database == {"rtr009"} and d.only_memory == {"rtr010"}
    assert d.owners == {"sw001": ("p3", "p2")}
    assert d.links_only_database == {link_key("sw001", "1", "rtr002", "ge-0/0/1")}
    assert d.nes() == {"rtr009", "rtr010", "sw001"} and not d.empty
    both = union(from_database(db), from_memory(mem))
    assert {"rtr009", "rtr010"} <= set(both.nes) and both.nes["sw001"].owner == "p3"


def test_colour_is_the_worst_standing_alarm_by_the_shared_severity_order():
    alarms = [
        {"ne": "rtr001", "severity": "minor", "active": True},
        {"ne": "rtr001", "severity": "critical", "active": True},
        {"ne": "rtr001", "severity": "major", "active": True},
        {"ne": "rtr002", "severity": "critical", "active": False},  # cleared: does not count
        {"ne": "rtr002", "severity": "warning", "active": True},
    ]
    worst = worst_severities(alarms)
    assert worst == {"rtr001": Severity.CRITICAL, "rtr002": Severity.WARNING}
    t = from_database(db_reply())
    assert colour_of(t.nes["rtr001"], worst) == SEVERITY_COLOURS[Severity.CRITICAL]
    assert colour_of(t.nes["rtr002"], worst) == SEVERITY_COLOURS[Severity.WARNING]
    assert colour_of(t.nes["sw001"], worst) == UNKNOWN_COLOUR  # never polled, no alarm
    polled = from_memory(states_reply())
    assert colour_of(polled.nes["sw001"], worst) == SEVERITY_COLOURS[Severity.CLEARED]
    assert len(set(SEVERITY_COLOURS.values())) == len(Severity)


def test_a_live_agent_message_moves_the_nes_it_took():
    t = from_database(db_reply())
    changes = owner_changes(t, "p2", {"managed": ["rtr001", "sw001", "unknown-ne"]})
    assert changes == {"rtr001": "p2"}  # sw001 was p2's already; unknown NEs ignored
    moved = t.with_owners(changes)
    assert moved.nes["rtr001"].owner == "p2"
    assert moved.agents["p1"].load == 1 and moved.agents["p2"].load == 2
    assert t.nes["rtr001"].owner == "p1"  # the original is untouched
    assert owner_changes(t, "p2", {"role": "master"}) == {}
