"""One management server: its components and live state, and where inputs become events.

Where each job lives (one hop from here):
- start-up, the TaskGroup and shutdown: agent/runtime.py;
- the election's I/O shell (heartbeats, the lease, the agents row): agent/electiond.py,
  around the pure state machine in shared/election.py;
- the master's assigner loop: agent/assigner.py (the placement itself: shared/assign.py);
- the assignment follower, which feeds the managed set: agent/follower.py;
- the managed set (pollers, trap sources, alarms of NEs coming and going): agent/managed.py;
- bus requests: agent/handlers.py; trap sources and v3 engine IDs: agent/trapsources.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from agent.bus import Bus
from agent.bussetup import BusSecurity
from agent.db import Database
from agent.managed import ManagedSet
from agent.netconf.poller import NetconfPoller
from agent.outbox import OutboxWriter
from agent.poller import Poller
from agent.runtime import Runtime
from agent.secretbox import box_for
from agent.traps import Notification, TrapReceiver
from agent.trapsources import TrapSources
from shared.config import AgentConfig
from shared.election import Became, Election
from shared.livefeed import Sequencer
from shared.model import CredentialProfile, Event, NetworkElement, Severity
from shared.nodal import NodalModel, Policy
from shared.wire import Topic

if TYPE_CHECKING:
    from agent.assigner import Assigner
    from agent.electiond import ElectionShell
    from agent.follower import Follower
    from agent.peers import Peers
    from agent.pooldb import PoolDb
    from agent.poolservice import PoolService
    from agent.trapforward import TrapForwarder

log = logging.getLogger(__name__)

FLUSH_GRACE = 1.0  # what is left of the final flush after a second stop signal


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.node_id = config.node_id
        self.model = NodalModel(
            config.node_id,
            Policy(
                unreachable_after=config.alarms.unreachable_after,
                restart_hold=config.alarms.restart_hold,
                alarm_never_up_ports=config.alarms.never_up_ports,
            ),
        )
        self.started = time.time()
        # A new run id at each start: a client sees a restarted agent, not old duplicates.
        self.sequencer = Sequencer(config.node_id, uuid.uuid4().hex[:12])
        self.pool_service: PoolService | None = None
        self.joined = asyncio.Event()  # a master is known: this agent is in the pool
        self.db: Database | None = None
        self.pool: PoolDb | None = None
        self.writer: OutboxWriter | None = None
        self.bus: Bus | None = None
        self.bus_security: BusSecurity | None = None
        self.peers: Peers | None = None
        self.poller: Poller | None = None
        self.nc_poller: NetconfPoller | None = None
        self.receiver: TrapReceiver | None = None
        self.follower: Follower | None = None
        self.election_shell: ElectionShell | None = None
        self.election: Election | None = None  # the state machine (metrics read it)
        self.assigner: Assigner | None = None
        self.ready = asyncio.Event()
        self.managed = ManagedSet(self)
        self.trap_sources = TrapSources(
            self.node_id, self.model, self.emit, on_learned=self.reload_inventory
        )
        self.forwarder: TrapForwarder | None = None
        self.announced = False  # "agent started" emitted: "agent stopped" will follow
        self._hurried = False

    # -- lifecycle ------------------------------------------------------------------
    async def run(self) -> None:
        """Run until cancelled (SIGTERM), then stop in order (agent/runtime.py)."""
        await Runtime(self).run()

    def hurry(self) -> None:
        """Another stop signal while stopping. The shutdown is never abandoned half way
        (that is what loses events), but the first extra signal cuts the final database
        flush to FLUSH_GRACE seconds: what is not written by then stays in the outbox file
        and goes first at the next start. Later signals are logged and ignored."""
        if self._hurried:
            log.warning("already stopping; signal ignored")
            return
        self._hurried = True
        log.warning(
            "already stopping; the event-log flush now ends within %g s "
            "(events not written stay in the outbox for the next start)",
            FLUSH_GRACE,
        )
        if self.writer is not None:
            self.writer.hurry(FLUSH_GRACE)

    # -- the managed set ----------------------------------------------------------------
    def set_managed(
        self,
        nes: list[NetworkElement],
        profiles: dict[str, CredentialProfile],
        learned_engines: dict[str, str] | None = None,
        *,
        owned: Collection[str] | None = None,
        poll_now: Collection[str] = (),
    ) -> None:
        """What this agent manages: see agent/managed.py (``owned`` None: every NE)."""
        self.managed.apply(nes, profiles, learned_engines, owned=owned, poll_now=poll_now)

    def reload_inventory(self) -> None:
        """Read the inventory (and the bus allow-list) now instead of at the next refresh."""
        if self.bus_security is not None:
            self.bus_security.wake.set()
        if self.follower is not None:
            self.follower.reload()
        if self.assigner is not None:
            self.assigner.wake()

    def reconfigure(self, new: AgentConfig) -> list[str]:
        """SIGHUP: take the new log level and local credentials profiles without dropping
        NEs, re-read the inventory; returns the other changed settings (they need a
        restart, and are left as they were)."""
        box = box_for(new.secrets.key_file)  # first: a bad key file changes nothing
        keep = dataclasses.replace(
            new,
            log_level=self.config.log_level,
            profiles=self.config.profiles,
            secrets=self.config.secrets,
        )
        ignored = [
            f.name
            for f in dataclasses.fields(AgentConfig)
            if getattr(keep, f.name) != getattr(self.config, f.name)
        ]
        if self.db is not None:
            # A rotation puts the new key first in the file: every agent takes it here.
            self.db.secrets = box
        self.config = dataclasses.replace(
            self.config, log_level=new.log_level, profiles=new.profiles, secrets=new.secrets
        )
        logging.getLogger().setLevel(new.log_level)
        self.reload_inventory()
        return ignored

    def on_became(self, b: Became) -> None:
        """The election's news: the master or our role changed."""
        log.info("pool: %s, master %s, epoch %d", b.role.value, b.master or "none", b.epoch)
        if b.master:
            self.joined.set()
        self.publish(Topic.AGENT, {"role": b.role.value, "master": b.master, "epoch": b.epoch})
        if self.assigner is not None:
            self.assigner.on_became(b)
        if self.follower is not None:
            self.follower.on_became(b)

    # -- inputs -> events -------------------------------------------------------------
    def emit(self, events: list[Event]) -> None:
        for e in events:
            if self.writer is not None:
                self.writer.submit(e)
            self.publish(Topic.EVENT, e.to_dict())

    def publish(self, topic: str, body: dict[str, Any]) -> None:
        """This agent's own live event, stamped with its origin, run and sequence number
        (shared/livefeed.py) so a client anywhere in the pool can tell a gap."""
        if self.bus is not None:
            body.setdefault("agent", self.node_id)
            self.bus.publish(topic, self.sequencer.stamp(body))

    def publish_relayed(self, topic: str, body: dict[str, Any]) -> None:
        """Another member's event, re-published as it came (its own stamp, ``via`` us)."""
        if self.bus is not None:
            self.bus.publish(topic, body)

    def on_notification(self, n: Notification) -> None:
        if n.ne not in self.model.states:
            # An authenticated trap from a pool NE another agent manages.
            if self.forwarder is not None:
                self.forwarder.forward(n)
            return
        events = self.model.notification(n.ne, n.trap_oid, n.varbinds, n.received)
        if events:
            self.emit(events)

    def agent_event(self, text: str) -> Event:
        return Event(
            time=time.time(),
            ne="",
            type="agent",
            severity=Severity.INDETERMINATE,
            text=text,
            agent=self.node_id,
        )
