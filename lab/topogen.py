"""Synthetic pool topologies at NOC scale for the console's benchmark and tests: the replies
a pool of that size would send (``db.topology`` and ``pool.ne_states`` + ``pool.health``),
without starting thousands of simulated devices.

Each site is a small network of its own: a ring of border routers and a leaf-spine fabric
plus a ring of access switches (lab/topology.py wires both), the routers uplinked to the
spines; the sites' first routers form a core ring. NEs go to agents the way the pool places
them (shared/assign.py, rendezvous hashing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lab.topology import build
from shared.assign import Member, Placement, assign

ROUTERS_PER_SITE = 4


@dataclass(frozen=True, slots=True)
class SyntheticPool:
    agents: list[str]
    kinds: dict[str, str]  # NE -> router / switch
    sites: dict[str, str]  # NE -> site
    owners: dict[str, str]
    links: list[tuple[str, str, str, str]]  # a, a_port, b, b_port
    master: str
    epoch: int = 3

    def topology_reply(self, fetched: float = 1.8e9) -> dict[str, Any]:
        """What ``db.topology`` answers (agent/peered.py)."""
        return {
            "source": "database",
            "agents": [
                {
                    "node_id": a,
                    "state": "master" if a == self.master else "follower",
                    "epoch": self.epoch,
                    "managed": sum(1 for o in self.owners.values() if o == a),
                }
                for a in self.agents
            ],
            "master": self.master,
            "epoch": self.epoch,
            "nes": [
                {
                    "name": ne,
                    "kind": kind,
                    "zone": self.sites[ne],
                    "owner": self.owners.get(ne, ""),
                    "managed": True,
                    "reachable": True,
                }
                for ne, kind in self.kinds.items()
            ],
            "links": [
                {"a": a, "a_port": ap, "b": b, "b_port": bp, "source": "lldp"}
                for a, ap, b, bp in self.links
            ],
            "fetched": fetched,
        }

    def ne_states_reply(self, fetched: float = 1.8e9) -> dict[str, Any]:
        """What every page of ``pool.ne_states`` puts back (agent/alarmpages.py): both ends
        see each link."""
        lldp: dict[str, list[dict[str, str]]] = {ne: [] for ne in self.kinds}
        for a, ap, b, bp in self.links:
            lldp[a].append({"port": ap, "remote": b, "remote_port": bp})
            lldp[b].append({"port": bp, "remote": a, "remote_port": ap})
        items = [
            {
                "name": ne,
                "agent": self.owners[ne],
                "reachable": True,
                "last_poll": fetched - 5.0,
                "last_error": None,
                "interfaces_down": 0,
                "lldp": lldp[ne],
            }
            for ne in sorted(self.kinds)
        ]
        return {"items": items, "answered": list(self.agents), "missing": {}, "fetched": fetched}

    def health_reply(self) -> dict[str, Any]:
        return {
            "items": [
                {
                    "node_id": a,
                    "election": {
                        "role": "master" if a == self.master else "follower",
                        "master": self.master,
                        "epoch": self.epoch,
                    },
                }
                for a in self.agents
            ],
            "answered": list(self.agents),
            "missing": {},
        }


def synthetic_pool(sites: int = 50, per_site: int = 100, agents: int = 3) -> SyntheticPool:
    """``sites`` x ``per_site`` NEs over ``agents`` agents (50 x 100 over 3: 5,000 NEs and
    about 8,000 links)."""
    kinds: dict[str, str] = {}
    where: dict[str, str] = {}
    links: list[tuple[str, str, str, str]] = []
    fabric_size = (per_site - ROUTERS_PER_SITE) // 2
    access_size = per_site - ROUTERS_PER_SITE - fabric_size
    for s in range(sites):
        site = f"site{s + 1:02d}"
        routers = [f"{site}-rtr{i + 1}" for i in range(ROUTERS_PER_SITE)]
        for i, r in enumerate(routers):
            kinds[r], where[r] = "router", site
            links.append((r, "xe-0/0/1", routers[(i + 1) % len(routers)], "xe-0/0/2"))
        fabric = build("leaf-spine", fabric_size)
        access = build("ring", access_size)
        for part, plan in (("fab", fabric), ("acc", access)):
            for d in plan.devices:
                name = f"{site}-{part}-{d.name}"
                kinds[name], where[name] = d.kind, site
            links += [
                (
                    f"{site}-{part}-{k.a}",
                    f"ge-0/0/{k.port_a}",
                    f"{site}-{part}-{k.b}",
                    f"ge-0/0/{k.port_b}",
                )
                for k in plan.links
            ]
        # Every border router uplinks to both spines; the access ring has a chord every
        # sixth switch and reaches the routers at two points.
        spines = [f"{site}-fab-{d.name}" for d in fabric.devices[:2]]
        for i, r in enumerate(routers):
            for j, spine in enumerate(spines):
                links.append((r, f"xe-0/1/{j}", spine, f"xe-1/0/{i}"))
        ring = [f"{site}-acc-{d.name}" for d in access.devices]
        for i in range(0, len(ring) - 3, 6):
            links.append((ring[i], "ge-1/0/1", ring[i + 3], "ge-1/0/2"))
        links.append((routers[2], "xe-0/2/2", ring[0], "xe-1/0/1"))
        links.append((routers[3], "xe-0/2/2", ring[len(ring) // 2], "xe-1/0/1"))
        nxt = f"site{(s + 1) % sites + 1:02d}-rtr1"
        if sites > 1:
            links.append((routers[0], "xe-0/2/0", nxt, "xe-0/2/1"))
    names = [f"p{i + 1}" for i in range(agents)]
    owners = assign((Placement(ne) for ne in kinds), (Member(n) for n in names)).owners
    return SyntheticPool(names, kinds, where, owners, links, master=names[0])
