"""Lab topologies are pure: check wiring invariants without starting anything."""

from __future__ import annotations

from collections import Counter

import pytest

from lab import recording, topology


def _degree(topo: topology.Topology) -> Counter[str]:
    deg: Counter[str] = Counter()
    for link in topo.links:
        deg[link.a] += 1
        deg[link.b] += 1
    return deg


@pytest.mark.timeout(10)
@pytest.mark.parametrize("kind", topology.TOPOLOGIES)
@pytest.mark.parametrize("count", [2, 3, 5, 10, 50, 200])
def test_every_topology_uses_distinct_existing_ports(kind: str, count: int) -> None:
    topo = topology.build(kind, count)
    assert len(topo.devices) == count
    assert len({d.name for d in topo.devices}) == count
    topology.validate(topo)  # raises on a reused or missing port
    assert topo.links, "a lab of several devices must be wired"
    # Every device is connected to something.
    assert set(_degree(topo)) == {d.name for d in topo.devices}


@pytest.mark.timeout(10)
def test_ring_is_a_cycle() -> None:
    topo = topology.build("ring", 6)
    assert len(topo.links) == 6
    assert set(_degree(topo).values()) == {2}


@pytest.mark.timeout(10)
def test_mesh_degree_is_bounded_whatever_the_size() -> None:
    for count in (5, 40, 200):
        deg = _degree(topology.build("mesh", count))
        assert max(deg.values()) <= 2 * topology.MESH_REACH


@pytest.mark.timeout(10)
def test_leaf_spine_leaves_only_uplink_to_spines() -> None:
    topo = topology.build("leaf-spine", 10)
    spines = {d.name for d in topo.devices[: topology.spine_count(10)]}
    assert all(d.kind == topology.SWITCH for d in topo.devices)
    for link in topo.links:
        assert (link.a in spines) != (link.b in spines), link
    deg = _degree(topo)
    for name in deg.keys() - spines:
        assert deg[name] == min(topology.LEAF_UPLINKS, len(spines))


@pytest.mark.timeout(10)
def test_neighbours_are_symmetric() -> None:
    topo = topology.build("mesh", 7)
    for dev in topo.devices:
        for local, (remote, rport) in topo.neighbours(dev.name).items():
            assert topo.neighbours(remote)[rport] == (dev.name, local)


@pytest.mark.timeout(10)
def test_bad_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown topology"):
        topology.build("star", 4)
    with pytest.raises(ValueError):
        topology.build("ring", 0)
    bad = topology.Topology(
        "ring",
        (topology.DevicePlan("a", topology.ROUTER, 24), topology.DevicePlan("b", "switch", 48)),
        (topology.Link("a", 1, "b", 1), topology.Link("a", 1, "b", 2)),
    )
    with pytest.raises(ValueError, match="used twice"):
        topology.validate(bad)


@pytest.mark.timeout(10)
def test_recording_is_sorted_and_lldp_ends_agree() -> None:
    topo = topology.build("ring", 3)
    kinds = {d.name: d.kind for d in topo.devices}
    texts = {}
    for dev in topo.devices:
        facts = recording.DeviceFacts(
            dev.name,
            dev.kind,
            dev.ports,
            {
                lp: recording.RemoteEnd(r, kinds[r], rp)
                for lp, (r, rp) in topo.neighbours(dev.name).items()
            },
            oper_down=frozenset({3}),
        )
        texts[dev.name] = recording.render(facts)
    for text in texts.values():
        oids = [tuple(map(int, line.split("|")[0].split("."))) for line in text.splitlines()]
        assert oids == sorted(oids) and len(set(oids)) == len(oids)
        assert f"{recording.IF_ENTRY}.{recording.IF_OPER_STATUS}.3|2|2\n" in text
    # rtr001 port 1 faces sw001 port 1: its remote port id is sw001's local port id.
    link = topo.links[0]
    remote_id = f"{recording.LLDP_REM_ENTRY}.7.0.{link.port_a}.1|4|"
    line = next(x for x in texts[link.a].splitlines() if x.startswith(remote_id))
    local_id = f"{recording.LLDP_LOC}.7.1.3.{link.port_b}|4|"
    assert any(x == local_id + line.split("|")[2] for x in texts[link.b].splitlines())
