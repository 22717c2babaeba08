"""The bully election's vocabulary (shared/election.py is the machine): the roles a node
goes through, the messages nodes exchange, the actions the machine asks of its shell
(send, broadcast, timers, the database lease) and its timings. Pure data."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    STARTING = "starting"  # listening for a master before taking part
    FOLLOWER = "follower"
    ELECTING = "electing"  # asked the higher-ranked nodes, waiting for ALIVE
    WAITING = "waiting"  # a higher-ranked node answered: waiting for its COORDINATOR
    CLAIMING = "claiming"  # no higher-ranked node alive: asking the database for the lease
    MASTER = "master"


class Kind(enum.StrEnum):
    HEARTBEAT = "heartbeat"
    ELECTION = "election"
    ALIVE = "alive"
    COORDINATOR = "coordinator"
    YIELD = "yield"  # a higher-ranked claimant asks the lower-ranked lease holder to step down


@dataclass(frozen=True, slots=True, order=True)
class Rank:
    priority: int
    node_id: str


@dataclass(frozen=True, slots=True)
class Message:
    kind: Kind
    sender: str
    priority: int
    epoch: int  # the epoch the sender knows (its own when it is master)
    master: str = ""  # who the sender takes for master ("" none)

    @property
    def rank(self) -> Rank:
        return Rank(self.priority, self.sender)


@dataclass(frozen=True, slots=True)
class Send:
    to: str
    message: Message


@dataclass(frozen=True, slots=True)
class Broadcast:
    message: Message


@dataclass(frozen=True, slots=True)
class Timer:
    """Call ``on_timer(name, now)`` at ``at``; a new Timer of the same name replaces it."""

    name: str
    at: float


@dataclass(frozen=True, slots=True)
class AcquireLease:
    """Take the lease if it is free, expired or ours, with a new epoch (answer with
    on_lease_acquired / on_lease_denied / on_lease_error)."""

    sent_at: float


@dataclass(frozen=True, slots=True)
class RenewLease:
    """Extend the lease if we still hold it at this epoch (on_lease_renewed / _lost / _error)."""

    epoch: int
    sent_at: float


@dataclass(frozen=True, slots=True)
class ReleaseLease:
    epoch: int


@dataclass(frozen=True, slots=True)
class Became:
    """The master or our role changed: the shell starts or stops assigning."""

    role: Role
    master: str
    epoch: int


@dataclass(frozen=True, slots=True)
class Relink:
    """Our messages do not reach this peer although its own reach us (it is alive, and it
    has not known us for master for ``ElectionConfig.unaware_limit`` seconds): reopen our
    link to it."""

    node: str


Action = Send | Broadcast | Timer | AcquireLease | RenewLease | ReleaseLease | Became | Relink


@dataclass(frozen=True, slots=True)
class ElectionConfig:
    heartbeat: float = 0.5  # every node broadcasts a heartbeat this often
    dead_after: float = 1.6  # a node unheard for this long is dead (~3 missed beats)
    answer_timeout: float = 0.5  # how long an ELECTION waits for ALIVE
    coordinator_timeout: float = 2.0  # how long an ALIVE'd node waits for COORDINATOR
    lease_renew: float = 0.3  # the master renews this often
    lease_hold: float = 1.4  # the master steps down after this long without a renewal
    preempt_delay: float = 10.0  # a higher-ranked node follows this long before it bullies

    @property
    def unaware_limit(self) -> float:
        """How long a live peer may go on not knowing its master before the master's link
        to it is taken for broken: a working link tells it within a heartbeat."""
        return 4 * self.heartbeat + self.dead_after

    def __post_init__(self) -> None:
        if not 0 < self.lease_renew < self.lease_hold:
            raise ValueError("lease_renew must be shorter than lease_hold")
        if self.dead_after <= self.heartbeat:
            raise ValueError("dead_after must be longer than the heartbeat")
