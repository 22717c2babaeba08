"""The federated service over real ZeroMQ sockets: three agents' buses on loopback, one of
them dead, answers merged by the one that received the request."""

from __future__ import annotations

import asyncio
import time

import pytest
import zmq.asyncio

from agent.bus import Bus
from agent.federation import AlarmParts, Federation, NeStateParts
from agent.peers import Peers
from shared.alarms import Alarm, AlarmStore
from shared.errors import Expired, NotFound
from shared.federated import worst_first
from shared.model import AlarmKey, Severity
from shared.wire import Reply

pytestmark = pytest.mark.timeout(30)


def alarm(ne: str, sev: str, t: float) -> Alarm:
    return Alarm(AlarmKey(ne, "", "x"), Severity.parse(sev), ne, t, t, t)


def item(a: Alarm, agent: str) -> dict:
    """What a client reads of an alarm in ``pool.alarms``."""
    return a.to_dict() | {"agent": agent}


async def ask(fed: Federation, args: dict) -> dict:
    """``pool.alarms`` as a client gets it: its remote parts are spliced in as the members
    sent them (``msgspec.Raw``), so the answer is read back through the wire encoding."""
    reply = await fed.alarms(args)
    return Reply.decode(Reply("r", True, reply).encode()).result


class Member:
    """One agent's memory as the federated ops see it, served on a real bus."""

    def __init__(
        self, node: str, alarms: list[Alarm], delay: float = 0.0, unpaged: bool = False
    ) -> None:
        """``unpaged``: a member of a release that answers ``ne_states`` whole only."""
        self.node = node
        self.unpaged = unpaged
        self.alarms = alarms
        self.delay = delay
        self.acks: list[dict] = []
        # One keeper of its snapshots, for its bus and for a Federation of its own alike.
        self.parts = AlarmParts(node, lambda nes: list(self.alarms))
        self.ne_parts = NeStateParts(node, lambda: [{"name": a.key.ne} for a in self.alarms])
        self.bus = Bus("tcp://127.0.0.1:0", "tcp://127.0.0.1:0")
        self.bus.bind()
        for op, fn in self.ops().items():
            self.bus.route(op, fn)
        self.task = asyncio.create_task(self.bus.serve())

    def ops(self) -> dict:
        async def alarms_page(args):
            await asyncio.sleep(self.delay)
            return await self.parts.page(args)

        async def ne_states_page(args):
            await asyncio.sleep(self.delay)
            return await self.ne_parts.page(args)

        async def status_part(args):
            return [{"node_id": self.node, "managed": len(self.alarms)}]

        async def ack_local(args):
            self.acks.append(args)
            return {"ne": args["ne"], "acked_by": args["user"]}

        async def ne_states(args):
            return [{"name": a.key.ne} for a in self.alarms]

        if self.unpaged:
            return {"alarms.page": alarms_page, "ne_states": ne_states}
        return {
            "alarms.page": alarms_page,
            "ne_states.page": ne_states_page,
            "status.part": status_part,
            "ack.local": ack_local,
        }

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.bus.aclose()


async def test_merged_answer_names_who_answered_and_a_dead_or_slow_member_costs_one_deadline():
    a1 = Member("a1", [alarm("sw1", "minor", 3.0), alarm("sw2", "critical", 1.0)])
    a2 = Member("a2", [alarm("sw3", "major", 2.0)])
    slow = Member("a4", [alarm("sw9", "major", 2.0)], delay=5.0)
    ctx = zmq.asyncio.Context()
    peers = Peers(ctx, "a1")
    owners = {"sw1": "a1", "sw2": "a1", "sw3": "a2"}
    try:
        await peers.update(
            {
                "a2": a2.bus.router_endpoint,
                "a3": "tcp://127.0.0.1:9",
                "a4": slow.bus.router_endpoint,
            }
        )
        fed = Federation("a1", peers, lambda: ["a1", "a2", "a3", "a4"], owners.get, a1.ops())
        t0 = time.monotonic()
        reply = await ask(fed, {"deadline": 1.0})
        took = time.monotonic() - t0
        assert [a["ne"] for a in reply["items"]] == ["sw2", "sw3", "sw1"]
        assert [a["agent"] for a in reply["items"]] == ["a1", "a2", "a1"]
        assert reply["answered"] == ["a1", "a2"]
        assert set(reply["missing"]) == {"a3", "a4"} and reply["partial"] is True
        assert took < 4.0, f"a dead and a slow member cost {took:.1f} s, not one deadline"

        only = await ask(fed, {"min_severity": "major", "agent": ["a2"], "deadline": 1.0})
        assert [a["ne"] for a in only["items"]] == ["sw3"]

        health = await fed.health({"deadline": 1.0})
        assert {p["node_id"] for p in health["items"]} == {"a1", "a2", "a4"}  # a4: slow alarms only
        assert list(health["missing"]) == ["a3"]

        # An ack goes to the NE's owner, with the authenticated user, not a client's string.
        done = await fed.ack({"ne": "sw3", "type": "x", "user": "spoofed"}, user="alice")
        assert done["acked_by"] == "alice" and done["via"] == "a1"
        assert a2.acks and a2.acks[0]["user"] == "alice" and not a1.acks
        await fed.ack({"ne": "sw1", "type": "x"}, user="bob")
        assert a1.acks[0]["user"] == "bob"
        with pytest.raises(NotFound):
            await fed.ack({"ne": "nowhere", "type": "x"}, user="bob")
        with pytest.raises(ValueError, match="deadline"):
            await ask(fed, {"deadline": 60})
    finally:
        await peers.aclose()
        ctx.term()
        for m in (a1, a2, slow):
            await m.close()


def spread(node: str, n: int, t0: float) -> list[dict]:
    sevs = ("critical", "major", "minor")
    return [alarm(f"{node}-ne{i}", sevs[i % 3], t0 + i % 4) for i in range(n)]


async def walk(fed: Federation, args: dict, between=None) -> tuple[list[dict], dict]:
    """Every page; ``between(n)`` runs after page n."""
    items: list[dict] = []
    reply = await ask(fed, args)
    snapshot = reply["snapshot"]
    pages = 1
    items += reply["items"]
    while reply["next"] is not None:
        if between is not None:
            await between(pages)
        reply = await ask(fed, args | {"cursor": reply["next"]})
        assert reply["snapshot"] == snapshot
        items += reply["items"]
        pages += 1
    return items, reply | {"pages": pages}


async def test_pages_are_one_snapshot_a_cursor_goes_to_any_agent_and_a_member_gone_is_named():
    from shared.federated import worst_first

    a1, a2, a3 = (Member(n, spread(n, k, 10.0)) for n, k in (("a1", 9), ("a2", 11), ("a3", 7)))
    ctx = zmq.asyncio.Context()
    peers, peers2 = Peers(ctx, "a1"), Peers(ctx, "a2")
    everyone = ["a1", "a2", "a3"]
    try:
        await peers.update({"a2": a2.bus.router_endpoint, "a3": a3.bus.router_endpoint})
        await peers2.update({"a1": a1.bus.router_endpoint, "a3": a3.bus.router_endpoint})
        fed = Federation("a1", peers, lambda: everyone, {}.get, a1.ops())
        fed2 = Federation("a2", peers2, lambda: everyone, {}.get, a2.ops())
        truth = worst_first(item(a, m.node) for m in (a1, a2, a3) for a in m.alarms)

        async def churn(page: int) -> None:  # the live sets change between pages
            a2.alarms.append(alarm(f"late{page}", "critical", 99.0))
            a1.alarms.pop(0)

        items, last = await walk(fed, {"limit": 4, "deadline": 2.0}, churn)
        assert items == truth and last["pages"] == 7 and last["total"] == 27
        assert last["answered"] == everyone and not last["partial"]

        # The second page asked of another agent: rebuilt from the cursor, same rows.
        first = await ask(fed, {"limit": 5, "deadline": 2.0})
        elsewhere = await ask(fed2, {"limit": 5, "cursor": first["next"], "deadline": 2.0})
        here = await ask(fed, {"limit": 5, "cursor": first["next"], "deadline": 2.0})
        assert elsewhere["items"] == here["items"] and elsewhere["next"] == here["next"]

        # A member gone between pages: named missing from then on, the answer partial.
        async def kill(page: int) -> None:
            if page == 1:
                await a3.close()

        t0 = time.monotonic()
        items, last = await walk(fed, {"limit": 3, "deadline": 1.0}, kill)
        assert time.monotonic() - t0 < 8.0
        assert last["partial"] and list(last["missing"]) == ["a3"]
        assert last["answered"] == ["a1", "a2"]
        got = {(a["agent"], a["ne"]) for a in items}
        assert {(m.node, a.key.ne) for m in (a1, a2) for a in m.alarms} <= got
        assert 0 < sum(a["agent"] == "a3" for a in items) < 7  # what it gave before it went
    finally:
        await peers.aclose()
        await peers2.aclose()
        ctx.term()
        for m in (a1, a2):
            await m.close()


async def test_ne_states_come_in_pages_by_name_with_the_agent_polling_each():
    """``pool.ne_states`` is paged like ``pool.alarms`` (one snapshot per member, a keyset
    cursor): small pages put back every state once, by name, and a member gone is named; a
    member of the release before (``ne_states`` whole only) is still part of the answer."""
    a1, a2 = (Member(n, spread(n, k, 10.0)) for n, k in (("a1", 5), ("a2", 8)))
    a3 = Member("a3", spread("a3", 3, 10.0), unpaged=True)
    ctx = zmq.asyncio.Context()
    peers = Peers(ctx, "a1")
    everyone = ["a1", "a2", "a3", "a4"]
    try:
        await peers.update(
            {"a2": a2.bus.router_endpoint, "a3": a3.bus.router_endpoint, "a4": "tcp://127.0.0.1:9"}
        )
        fed = Federation("a1", peers, lambda: everyone, {}.get, a1.ops())
        args = {"limit": 2, "deadline": 1.0}
        reply = Reply.decode(Reply("r", True, await fed.ne_states(args)).encode()).result
        items, pages = list(reply["items"]), 1
        while reply["next"] is not None:
            a2.alarms.append(alarm("zz-late", "critical", 99.0))  # after the snapshot: unseen
            nxt = await fed.ne_states(args | {"cursor": reply["next"]})
            reply = Reply.decode(Reply("r", True, nxt).encode()).result
            items += reply["items"]
            pages += 1
        want = sorted((a.key.ne, m.node) for m in (a1, a2, a3) for a in m.alarms[:8])
        assert [(s["name"], s["agent"]) for s in items] == [w for w in want if w[0] != "zz-late"]
        assert pages == 8 and reply["total"] == 16
        assert reply["answered"] == ["a1", "a2", "a3"] and list(reply["missing"]) == ["a4"]
        with pytest.raises(ValueError, match="limit"):
            await fed.ne_states({"limit": 2001})
    finally:
        await peers.aclose()
        ctx.term()
        for m in (a1, a2, a3):
            await m.close()


class StoreMember(Member):
    """A member whose alarms are in a real ``AlarmStore``, wired as agent/poolservice.py
    does: the full list comes from its kept rows (``EntryCache``)."""

    def __init__(self, node: str, alarms: list[Alarm], delay: float = 0.0) -> None:
        super().__init__(node, alarms, delay)
        self.store = AlarmStore()
        self.store.restore(alarms)
        self.parts = AlarmParts(node, lambda nes: iter(self.store), lambda: self.store)


async def test_the_next_pages_rows_are_asked_while_the_client_reads_and_stay_one_snapshot():
    t0 = 10.0
    a1 = StoreMember("a1", spread("a1", 9, t0))
    a2 = StoreMember("a2", spread("a2", 12, t0), delay=0.4)  # every page of it takes 0.4 s
    a3 = StoreMember("a3", spread("a3", 7, t0))
    ctx = zmq.asyncio.Context()
    peers = Peers(ctx, "a1")
    everyone = ["a1", "a2", "a3"]
    try:
        await peers.update({"a2": a2.bus.router_endpoint, "a3": a3.bus.router_endpoint})
        fed = Federation("a1", peers, lambda: everyone, {}.get, a1.ops())
        for ahead in (True, False):
            fed.prefetch = ahead
            truth = worst_first(item(a, m.node) for m in (a1, a2, a3) for a in m.store)
            args = {"limit": 4, "deadline": 2.0}
            reply = await ask(fed, args)
            items, took = list(reply["items"]), []
            while reply["next"] is not None:
                # The client reads the page; meanwhile the members' live alarms change.
                late = AlarmKey(f"late{ahead}{len(took)}", "", "x")
                a2.store.raise_(late, Severity.CRITICAL, "", 9.0)
                await asyncio.sleep(0.6)
                t = time.monotonic()
                reply = await ask(fed, args | {"cursor": reply["next"]})
                took.append(time.monotonic() - t)
                items += reply["items"]
            assert items == truth and len(took) == -(-len(truth) // 4) - 1 and not reply["partial"]
            if ahead:
                assert max(took) < 0.3, f"a page waited for a member: {took}"
            else:  # without it some page waits for a2's 0.4 s: the test can tell
                assert max(took) >= 0.3, took
        assert a2.parts.kept.rebuilt == 12 + 6  # its NEs, and the late ones of round 1

        # A member whose snapshot expired under a prefetch: the next page says expired.
        fed.prefetch = True
        a2.parts.snapshots.ttl = 0.3

        async def slow_reader(page: int) -> None:
            await asyncio.sleep(0.8)

        with pytest.raises(Expired):
            await walk(fed, {"limit": 4, "deadline": 2.0}, slow_reader)
    finally:
        await fed.aclose()
        await peers.aclose()
        ctx.term()
        for m in (a1, a2, a3):
            await m.close()
