"""Notes on alarms through real agent processes on the real lab (issue 13): a note written
through one agent on an alarm another agent owns is done by the owner under the key's
name, seen through every agent and in the event log, kept when the NE moves to another
agent; a viewer key and a bad text are refused; the CLI does the same."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.busclient import RequestFailed
from lab.fleet import Lab
from lab.harness import AgentPool
from tests.helpers.poollab import all_placed, lab_fixture, make_pool
from tests.helpers.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

lab = lab_fixture("notelab", 6)


@pytest.fixture
def pool(lab: Lab, tmp_path: Path) -> Iterator[AgentPool]:
    with make_pool(lab, tmp_path) as p:
        p.user("vera", "viewer")  # allowed before the agents start: no refresh to wait for
        p.start_all()
        yield p


def unreachable_alarm(pool: AgentPool, node: str, ne: str) -> dict[str, Any] | None:
    reply = pool.request(node, "pool.alarms", {"ne": ne}, timeout=5.0)
    found = [a for a in reply["items"] if a["type"] == "ne-unreachable"]
    return found[0] if found else None


def note_events(pool: AgentPool, node: str, ne: str) -> list[dict[str, Any]]:
    page = pool.request(
        node, "events.search", {"ne": ne, "types": ["alarm-note"], "order": "oldest"}
    )
    return list(page["events"])


def test_a_note_through_any_agent_is_the_owners_and_survives_a_handover(
    lab: Lab, pool: AgentPool
) -> None:
    master, _ = pool.wait_for_master(60)
    owners = all_placed(lab, pool, set(pool.agents))
    # C owns the NE and is a follower (its kill is a quick handover); A is another agent.
    target, owner = next((ne, a) for ne, a in sorted(owners.items()) if a != master)
    via = next(n for n in sorted(pool.agents) if n != owner)
    key = {"ne": target, "type": "ne-unreachable", "obj": ""}
    lab.unreachable(target)
    try:
        wait_until(lambda: unreachable_alarm(pool, via, target), 60, 0.5, "the alarm raised")

        noted = pool.request(
            via, "pool.note", key | {"text": "  fibre cut reported by the carrier  ",
                                     "user": "someone-else"},
            timeout=5.0, user="carol",
        )  # fmt: skip
        assert noted["agent"] == owner and noted["via"] == via
        assert noted["note_count"] == 1
        assert [(n["user"], n["text"]) for n in noted["notes"]] == [
            ("carol", "fibre cut reported by the carrier")
        ]
        for node in pool.agents:  # the pool's alarms, whichever agent is asked
            seen = wait_until(
                lambda n=node: (a := unreachable_alarm(pool, n, target))
                and a.get("note_count") == 1 and a,
                10, 0.2, f"the note through {node}",
            )  # fmt: skip
            assert seen["last_note"]["user"] == "carol"
            assert seen["last_note"]["text"] == "fibre cut reported by the carrier"

        # Refused: a viewer's key (by the bus, before any hop), a text that is not one line.
        with pytest.raises(RequestFailed) as ei:
            pool.request(via, "pool.note", key | {"text": "x"}, timeout=5.0, user="vera")
        assert ei.value.code == "forbidden"
        with pytest.raises(RequestFailed) as ei:
            pool.request(via, "pool.note", key | {"text": "a\nb"}, timeout=5.0, user="carol")
        assert ei.value.code == "bad-request" and "control character U+000A" in str(ei.value)

        # The CLI takes the alarm as `emspool ack` does, with carol's key.
        cli = subprocess.run(
            [sys.executable, "-m", "agent.cli", "--db", pool.db_url, "--key",
             str(pool._keys["carol"]), "--agent", via, "note", target, "ne-unreachable",
             "splice", "crew", "on", "site"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert f"note 2 on {target}//ne-unreachable" in cli.stdout

        # In the event log under the key's name, the same from every agent.
        def logged() -> list[dict[str, Any]] | None:
            rows = note_events(pool, via, target)
            return rows if len(rows) == 2 else None

        rows = wait_until(logged, 20, 0.3, "both notes in the event log")
        assert [r["text"] for r in rows] == [
            "fibre cut reported by the carrier (note 1 by carol)",
            "splice crew on site (note 2 by carol)",
        ]
        assert {r["agent"] for r in rows} == {owner}
        assert note_events(pool, owner, target) == rows

        # The owner goes: the taker rebuilds the alarm with its notes, and numbering goes on.
        pool.kill(owner)
        after = all_placed(lab, pool, set(pool.agents) - {owner})
        taker = after[target]

        def rebuilt() -> dict[str, Any] | None:
            mine = pool.request(taker, "alarms", {"ne": target}, timeout=5.0)
            found = [a for a in mine if a["type"] == "ne-unreachable"]
            return found[0] if found and found[0].get("note_count") == 2 else None

        alarm = wait_until(rebuilt, 30, 0.3, f"the alarm with its notes on {taker}")
        assert [(n["number"], n["user"], n["text"]) for n in alarm["notes"]] == [
            (1, "carol", "fibre cut reported by the carrier"),
            (2, "carol", "splice crew on site"),
        ]
        third = pool.request(
            via, "pool.note", key | {"text": "restored"}, timeout=5.0, user="carol"
        )
        assert third["agent"] == taker and third["note_count"] == 3
        shown = unreachable_alarm(pool, via, target)
        assert shown is not None and shown["last_note"]["number"] == 3
    finally:
        lab.reachable(target)
