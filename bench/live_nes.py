"""What the live NE feed (shared/nefeed.py ``NeChanges``, run once a second by
agent/nestate.py's loop) costs an agent of ``--nes`` NEs with ``--ports`` interfaces each:
a tick when nothing happened, a tick after every NE was polled with only rates moving, a
takeover of ``--takeover`` NEs (their first states: the messages and bytes published), and
a tick after ports went down on ``--down`` NEs. CPU per tick, one core, the real classes.

    .venv/bin/python bench/live_nes.py [--nes 3000] [--ports 24] [--takeover 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402

from shared.model import InterfaceState, NeState, OperStatus  # noqa: E402
from shared.nefeed import NeChanges, ne_messages  # noqa: E402


def make(name: str, ports: int) -> NeState:
    st = NeState(name, reachable=True, last_poll=1.0, sys_name=name, sys_uptime=1000)
    st.interfaces = {
        i: InterfaceState(i, f"ge-0/0/{i}", oper_status=OperStatus.UP, in_bps=1e6)
        for i in range(1, ports + 1)
    }
    st.polls = st.revision = 1
    return st


def timed(what: str, fn: object) -> object:
    start = time.process_time()
    out = fn()  # type: ignore[operator]
    ms = (time.process_time() - start) * 1000
    print(f"{what}: {ms:.1f} CPU-ms")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--nes", type=int, default=3000)
    p.add_argument("--ports", type=int, default=24)
    p.add_argument("--takeover", type=int, default=1000)
    p.add_argument("--down", type=int, default=50)
    a = p.parse_args()
    states = [make(f"ne{i:05d}", a.ports) for i in range(a.nes)]
    feed = NeChanges(every=1.0)
    first = timed(f"first tick, {a.nes} NEs told", lambda: feed.due(states, "p1", 10.0))
    assert isinstance(first, list) and len(first) == a.nes
    timed("tick, nothing happened", lambda: feed.due(states, "p1", 11.0))
    for st in states:
        st.revision += 1
        for i in st.interfaces.values():
            i.in_bps = 2e6
    got = timed("tick, every NE polled, rates only", lambda: feed.due(states, "p1", 12.0))
    assert got == []
    for st in states[: a.down]:
        st.revision += 1
        st.interfaces[1].oper_status = OperStatus.DOWN
    got = timed(f"tick, ports down on {a.down} NEs", lambda: feed.due(states, "p1", 13.0))
    assert isinstance(got, list) and len(got) == a.down
    taker = NeChanges(every=1.0)
    taken = [make(f"tk{i:05d}", a.ports) for i in range(a.takeover)]
    items = timed(f"takeover of {a.takeover} NEs", lambda: taker.due(taken, "p2", 20.0))
    assert isinstance(items, list)
    bodies = ne_messages(items)
    size = [len(msgspec.json.encode(b)) for b in bodies]
    print(
        f"takeover of {a.takeover} NEs: {len(bodies)} messages, "
        f"{sum(size) / 1e3:.0f} kB ({max(size) / 1e3:.0f} kB the largest)"
    )


if __name__ == "__main__":
    main()
