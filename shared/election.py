"""Bully election with a database lease and epoch fencing: a pure state machine.

Messages and timer expiries go in, messages, timer requests and lease requests come out
(``Action`` values); the caller owns the sockets, the clock and the database. Nothing here
sleeps or reads a clock: every input carries ``now`` (monotonic seconds of the caller).

Who may be master is decided twice, on purpose:
- the bully ranking (priority, node id) decides who *tries*: a node claims only when no
  higher-ranked node is alive (ELECTION / ALIVE / COORDINATOR, as in Garcia-Molina's
  algorithm), and a returning higher-ranked node waits ``preempt_delay`` before it bullies
  a working master, so a flapping node cannot cause an election storm;
- the master lease row in the database decides who *is*: nobody becomes master without it,
  each acquisition takes a new, larger epoch, and a master that has not renewed it for
  ``lease_hold`` seconds of its own clock steps down, before the database (whose lease lasts
  longer) would give it to anyone else. A paused or partitioned master therefore stops
  acting as one before a successor can exist, and every master message carries its epoch,
  so followers reject anything older (fencing).

A quorum on top of both: a node may claim or keep the master role only while it hears (bus
messages within ``dead_after``) a strict majority of the voters: itself, the members whose
database rows are live (a fresh heartbeat, see ``set_members``) and any peer it hears. A
master cut off from the other agents on the bus but still reaching the database would
otherwise keep renewing its lease and hold the master in the minority; instead it steps
down at once and releases the lease, so the majority can claim without waiting for it to
expire. A dead agent's row goes stale, so it stops counting: the lone survivor of real
deaths has 1 of 1. What this costs:
- in a pool of 2, the survivor of a death waits for the dead row to go stale (seconds)
  before it may claim; a partition between the two, both reaching the database, leaves
  no master at all (assignments in place keep polling: nothing moves, nothing is lost);
- likewise any split with no strict majority (2 | 2) has no master until it heals;
- a majority that loses the database while a minority keeps it: the majority's rows go
  stale, so the minority's side becomes the majority of live rows and may claim.
The pollers' side of the rule is the follower's gate (agent/follower.py): an agent that
neither reaches the database nor hears a majority stops polling.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from .electionmsg import (
    AcquireLease,
    Action,
    Became,
    Broadcast,
    ElectionConfig,
    Kind,
    Message,
    Rank,
    ReleaseLease,
    Relink,
    RenewLease,
    Role,
    Send,
    Timer,
)

__all__ = [
    "AcquireLease",
    "Action",
    "Became",
    "Broadcast",
    "Election",
    "ElectionConfig",
    "Kind",
    "Message",
    "Rank",
    "ReleaseLease",
    "Relink",
    "RenewLease",
    "Role",
    "Send",
    "Timer",
]


@dataclass(slots=True)
class _Peer:
    rank: Rank
    last_seen: float | None = None  # None: known from the database only
    # While we are master: (our epoch, since when) this peer's messages have not named us
    # its master. None: it knows us (or we are not master).
    unaware: tuple[int, float] | None = None


@dataclass(slots=True)
class Election:
    me: Rank
    config: ElectionConfig = field(default_factory=ElectionConfig)
    role: Role = Role.STARTING
    master: str = ""
    epoch: int = 0  # the highest epoch seen; ours while master
    stats: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "elections",
                "became_master",
                "stepped_down",
                "stale_rejected",
                "yields",
                "no_quorum",
                "stalls",
                "relinks",
            ),
            0,
        )
    )
    stepped_down_why: str = ""  # why this agent last stopped being master
    _peers: dict[str, _Peer] = field(default_factory=dict)
    _master_seen: float = 0.0
    _valid_until: float = 0.0  # while master: our own clock's end of the lease
    _started_at: float = 0.0
    _process_start: float = 0.0  # start(): not moved by a step-down
    _reported: tuple[bool, str, int] | None = None
    _live: frozenset[str] | None = None  # members with a live row (None: every member)

    # -- inputs ----------------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """Listen for a while (learn an existing master) before taking part."""
        self.role = Role.STARTING
        self._started_at = self._process_start = now
        return [
            Broadcast(self._msg(Kind.HEARTBEAT)),
            Timer("beat", now + self.config.heartbeat),
            Timer("startup", now + self.config.dead_after),
        ]

    def set_members(
        self, ranks: Mapping[str, int], now: float, live: Collection[str] | None = None
    ) -> list[Action]:
        """The pool's members as the database lists them (node id -> priority); ``live``:
        those whose rows are live (a fresh heartbeat), the voters of the quorum (None: all
        of ``ranks``)."""
        self._live = frozenset(ranks if live is None else live) - {self.me.node_id}
        for node, priority in ranks.items():
            if node == self.me.node_id:
                continue
            peer = self._peers.get(node)
            if peer is None:
                self._peers[node] = _Peer(Rank(priority, node))
            else:
                peer.rank = Rank(priority, node)
        for node in [n for n in self._peers if n not in ranks]:
            del self._peers[node]
        return []

    def on_message(self, m: Message, now: float) -> list[Action]:
        if m.sender == self.me.node_id:
            return []
        peer = self._peers.setdefault(m.sender, _Peer(m.rank))
        peer.rank, peer.last_seen = m.rank, now
        return self._unheard(peer, m, now) + self._on_message(m, now)

    def _unheard(self, peer: _Peer, m: Message, now: float) -> list[Action]:
        """While we are master: a peer whose messages reach us but never name us its
        master is not hearing ours (a link stuck one way: seen once at a start, a peer's
        handshake refused before our key reached its allow-list). Reopen our link to it,
        at most once per ``unaware_limit``."""
        if self.role is not Role.MASTER or m.master == self.me.node_id:
            peer.unaware = None
            return []
        if peer.unaware is None or peer.unaware[0] != self.epoch:
            peer.unaware = (self.epoch, now)
            return []
        if now - peer.unaware[1] < self.config.unaware_limit:
            return []
        peer.unaware = (self.epoch, now)
        self.stats["relinks"] += 1
        return [Relink(m.sender)]  # the next heartbeat goes on the new link

    def _on_message(self, m: Message, now: float) -> list[Action]:
        claims_master = m.kind is Kind.COORDINATOR or (
            m.kind is Kind.HEARTBEAT and m.master == m.sender
        )
        if claims_master and m.epoch < self.epoch:
            self.stats["stale_rejected"] += 1
            if self.role is Role.MASTER:  # tell the stale one who is master now
                return [Send(m.sender, self._msg(Kind.COORDINATOR))]
            return []
        if claims_master:
            return self._master_claim(m, now)
        if m.kind is Kind.ELECTION:
            return self._on_election(m, now)
        if m.kind is Kind.ALIVE:
            if self.role is Role.ELECTING and m.rank > self.me:
                self.role = Role.WAITING
                return [Timer("coordinator", now + self.config.coordinator_timeout)]
            return []
        if m.kind is Kind.YIELD:
            return self._on_yield(m, now)
        return []

    def on_timer(self, name: str, now: float) -> list[Action]:
        handler = {
            "beat": self._beat,
            "startup": self._startup,
            "election": self._election_timeout,
            "coordinator": self._coordinator_timeout,
            "preempt": self._preempt,
            "renew": self._renew,
            "lease_check": self._lease_check,
            "claim_retry": self._claim_retry,
        }.get(name)
        return handler(now) if handler else []

    def on_stall(self, lag: float, now: float) -> None:
        """This node's own loop stood still for ``lag`` seconds (a busy takeover, a paused
        process): what its peers sent meanwhile waits unread, so their silence over that
        time means nothing. Each peer's last sign of life moves on by ``lag`` (never past
        ``now``), so no peer, master or quorum is judged lost for our own stall; a peer
        that really died is still found dead ``dead_after`` after we listen again. Safety
        does not rest on this: the lease (database time) still ends a stalled master."""
        self.stats["stalls"] += 1
        for p in self._peers.values():
            if p.last_seen is not None:
                p.last_seen = min(now, p.last_seen + lag)

    def on_lease_acquired(self, epoch: int, sent_at: float, now: float) -> list[Action]:
        if self.role is not Role.CLAIMING:
            return [ReleaseLease(epoch)]  # we changed our mind meanwhile
        if not self.has_quorum(now):  # lost the majority while the database answered
            self.epoch = max(self.epoch, epoch)
            return [ReleaseLease(epoch), *self._no_quorum(now)]
        self.role, self.master, self.epoch = Role.MASTER, self.me.node_id, epoch
        self._valid_until = sent_at + self.config.lease_hold
        self.stats["became_master"] += 1
        return [
            Broadcast(self._msg(Kind.COORDINATOR)),
            Timer("renew", now + self.config.lease_renew),
            Timer("lease_check", self._valid_until),
            *self._report(),
        ]

    def on_lease_denied(
        self, holder: str, holder_epoch: int, expires_in: float, now: float
    ) -> list[Action]:
        if self.role is not Role.CLAIMING:
            return []
        self.epoch = max(self.epoch, holder_epoch)
        peer = self._peers.get(holder)
        retry = now + min(max(expires_in, 0.05), self.config.answer_timeout)
        if peer is not None and self._alive(peer, now):
            if peer.rank < self.me and now - self._started_at >= self.config.preempt_delay:
                # A working lower-ranked master, and our hold-down is over: ask it to step
                # down, then try again.
                self.stats["yields"] += 1
                return [Send(holder, self._msg(Kind.YIELD)), Timer("claim_retry", retry)]
            return self._follow(holder, holder_epoch, now)
        # The holder is dead, paused, unknown or cut off: its lease runs out by database
        # time, unless it gives it back first (a master that lost its quorum does).
        return [Timer("claim_retry", retry)]

    def on_lease_error(self, now: float) -> list[Action]:
        """The database did not answer: no master without the lease; try again later."""
        if self.role is Role.CLAIMING:
            return [Timer("claim_retry", now + self.config.heartbeat)]
        return []  # a master's renewal failure is judged by lease_check

    def on_lease_renewed(self, sent_at: float, now: float) -> list[Action]:
        if self.role is not Role.MASTER:
            return []
        self._valid_until = max(self._valid_until, sent_at + self.config.lease_hold)
        return [Timer("lease_check", self._valid_until)]

    def on_lease_lost(self, now: float) -> list[Action]:
        """The lease row no longer names us at our epoch: someone else has it."""
        if self.role is not Role.MASTER:
            return []
        return self._step_down(now, release=False, why="the lease row names another master")

    # -- queries ---------------------------------------------------------------------------

    @property
    def is_master(self) -> bool:
        return self.role is Role.MASTER

    def alive_peers(self, now: float) -> list[str]:
        return sorted(n for n, p in self._peers.items() if self._alive(p, now))

    def has_quorum(self, now: float, within: float | None = None) -> bool:
        """Does this node hear a strict majority of the voters (itself included)? A peer
        counts as heard if heard within ``within`` seconds (default ``dead_after``)."""
        heard, voters = self.quorum_view(now, within)
        return 2 * len(heard) > len(voters)

    def quorum_view(
        self, now: float, within: float | None = None
    ) -> tuple[frozenset[str], frozenset[str]]:
        """(the voters heard, every voter), this node included in both."""
        horizon = self.config.dead_after if within is None else within
        heard = {
            n
            for n, p in self._peers.items()
            if p.last_seen is not None and now - p.last_seen < horizon
        }
        voters = (self._peers.keys() if self._live is None else self._live) | heard
        me = {self.me.node_id}
        return frozenset(heard | me), frozenset(voters | me)

    def accepts(self, epoch: int) -> bool:
        """Fencing for the shell: is a master command of this epoch current?"""
        if epoch < self.epoch:
            self.stats["stale_rejected"] += 1
            return False
        return True

    # -- transitions -----------------------------------------------------------------------

    def _master_claim(self, m: Message, now: float) -> list[Action]:
        if self.role is Role.MASTER:
            if m.epoch > self.epoch:  # the database gave a newer lease to someone else
                out = self._step_down(
                    now, release=False, why=f"{m.sender} holds a newer lease (epoch {m.epoch})"
                )
                return out + self._follow(m.sender, m.epoch, now)
            return []  # same epoch from another node cannot happen: epochs are unique
        if self.role in (Role.ELECTING, Role.CLAIMING) and m.rank < self.me:
            # We are bullying a lower-ranked master: keep going, it will yield.
            self.epoch = max(self.epoch, m.epoch)
            self.master, self._master_seen = m.sender, now
            return []
        return self._follow(m.sender, m.epoch, now)

    def _follow(self, master: str, epoch: int, now: float) -> list[Action]:
        changed = self.master != master or self.role is not Role.FOLLOWER
        self.role, self.master, self.epoch = Role.FOLLOWER, master, max(self.epoch, epoch)
        self._master_seen = now
        out: list[Action] = []
        peer = self._peers.get(master)
        if changed and peer is not None and peer.rank < self.me:
            out.append(Timer("preempt", now + self.config.preempt_delay))
        return out + self._report()

    def _on_election(self, m: Message, now: float) -> list[Action]:
        if m.rank > self.me:
            return []  # ELECTION goes to higher-ranked nodes only; ignore a confused peer
        out: list[Action] = [Send(m.sender, self._msg(Kind.ALIVE))]
        if self.role is Role.MASTER:
            out.append(Send(m.sender, self._msg(Kind.COORDINATOR)))
        elif self.role is Role.FOLLOWER and self._master_alive(now):
            pass  # the sender lost sight of a master we still hear: no reason to bully it
        elif self.role in (Role.FOLLOWER, Role.STARTING, Role.WAITING):
            out += self._elect(now)
        return out

    def _on_yield(self, m: Message, now: float) -> list[Action]:
        if self.role is not Role.MASTER or m.rank < self.me:
            return []
        out = self._step_down(now, release=True, why=f"yielded to higher-ranked {m.sender}")
        self.role = Role.WAITING  # the claimant outranks us: wait for its COORDINATOR
        return [*out, Timer("coordinator", now + self.config.coordinator_timeout)]

    def _elect(self, now: float) -> list[Action]:
        self.stats["elections"] += 1
        higher = [n for n, p in self._peers.items() if p.rank > self.me and self._alive(p, now)]
        if not higher:
            return self._claim(now)
        self.role = Role.ELECTING
        msg = self._msg(Kind.ELECTION)
        return [
            *(Send(n, msg) for n in sorted(higher)),
            Timer("election", now + self.config.answer_timeout),
        ]

    def _claim(self, now: float) -> list[Action]:
        if not self.has_quorum(now):
            return self._no_quorum(now)
        if self._unheard_higher(now):
            # Just started: a higher-ranked agent runs (its row is live) but its first
            # message has not come yet (links still forming on a loaded host). Give it a
            # moment rather than win the lease from it only to be bullied later.
            self.role = Role.STARTING
            return [Timer("startup", now + self.config.heartbeat)]
        self.role = Role.CLAIMING
        return [AcquireLease(now)]

    def _unheard_higher(self, now: float) -> bool:
        if now - self._process_start >= 2 * self.config.dead_after or self._live is None:
            return False
        return any(
            p.last_seen is None and p.rank > self.me
            for n, p in self._peers.items()
            if n in self._live
        )

    def _no_quorum(self, now: float) -> list[Action]:
        """In a minority: listen, and look again a heartbeat later."""
        self.stats["no_quorum"] += 1
        self.role = Role.STARTING
        return [Timer("startup", now + self.config.heartbeat), *self._report()]

    def _step_down(self, now: float, *, release: bool, why: str) -> list[Action]:
        """Stop being master at once, then listen before taking part again (a resumed,
        paused master must learn its successor, not bully it)."""
        epoch = self.epoch
        self.stats["stepped_down"] += 1
        self.stepped_down_why = why
        self.role, self.master = Role.STARTING, ""
        self._started_at = now
        out: list[Action] = [ReleaseLease(epoch)] if release else []
        return [*out, Timer("startup", now + self.config.dead_after), *self._report()]

    # -- timers ----------------------------------------------------------------------------

    def _beat(self, now: float) -> list[Action]:
        out: list[Action] = []
        if self.role is Role.MASTER and now >= self._valid_until:
            # Checked before the heartbeat: a resumed, paused master must not announce itself.
            out += self._step_down(now, release=False, why=self._unrenewed(now))
        elif self.role is Role.MASTER and not self.has_quorum(now):
            # Cut off from the majority: give the lease back so the majority need not
            # wait for it to run out, and stop assigning before it has a master.
            self.stats["no_quorum"] += 1
            out += self._step_down(now, release=True, why="no majority of the pool heard")
        out += [Broadcast(self._msg(Kind.HEARTBEAT)), Timer("beat", now + self.config.heartbeat)]
        if self.role is Role.FOLLOWER and not self._master_alive(now):
            out += self._elect(now)
        return out

    def _startup(self, now: float) -> list[Action]:
        if self.role is not Role.STARTING:
            return []
        if self.master and self._master_alive(now):
            return self._follow(self.master, self.epoch, now)
        return self._elect(now)

    def _election_timeout(self, now: float) -> list[Action]:
        return self._claim(now) if self.role is Role.ELECTING else []

    def _coordinator_timeout(self, now: float) -> list[Action]:
        return self._elect(now) if self.role is Role.WAITING else []

    def _preempt(self, now: float) -> list[Action]:
        peer = self._peers.get(self.master)
        if self.role is Role.FOLLOWER and peer is not None and peer.rank < self.me:
            return self._elect(now)
        return []

    def _renew(self, now: float) -> list[Action]:
        if self.role is not Role.MASTER:
            return []
        return [RenewLease(self.epoch, now), Timer("renew", now + self.config.lease_renew)]

    def _lease_check(self, now: float) -> list[Action]:
        if self.role is Role.MASTER and now >= self._valid_until:
            return self._step_down(now, release=False, why=self._unrenewed(now))
        return []

    def _unrenewed(self, now: float) -> str:
        return f"lease not renewed for {now - self._valid_until + self.config.lease_hold:.1f} s"

    def _claim_retry(self, now: float) -> list[Action]:
        if self.role is not Role.CLAIMING:
            return []
        higher = [n for n, p in self._peers.items() if p.rank > self.me and self._alive(p, now)]
        return self._elect(now) if higher else self._claim(now)

    # -- helpers ---------------------------------------------------------------------------

    def _alive(self, peer: _Peer, now: float) -> bool:
        return peer.last_seen is not None and now - peer.last_seen < self.config.dead_after

    def _master_alive(self, now: float) -> bool:
        if self.master == self.me.node_id:
            return self.role is Role.MASTER
        peer = self._peers.get(self.master)
        return peer is not None and self._alive(peer, now)

    def _msg(self, kind: Kind) -> Message:
        return Message(kind, self.me.node_id, self.me.priority, self.epoch, self.master)

    def _report(self) -> list[Action]:
        state = (self.role is Role.MASTER, self.master, self.epoch)
        if state == self._reported:
            return []
        self._reported = state
        return [Became(self.role, self.master, self.epoch)]
