"""A fixed-bucket latency histogram (Prometheus semantics: cumulative ``le`` buckets, a sum
and a count), cheap enough to observe every poll. Pure: the agent observes, the metrics
exporter reads ``snapshot``."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# Seconds: a LAN SNMP poll is a few ms, a slow NETCONF device seconds, a timeout ~retries x 2 s.
POLL_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(slots=True)
class Histogram:
    bounds: tuple[float, ...] = POLL_BUCKETS
    counts: list[int] = field(default_factory=list)  # per bucket, the last one is +Inf
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        if list(self.bounds) != sorted(self.bounds):
            raise ValueError("bucket bounds must be sorted")
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.n += 1

    def snapshot(self) -> tuple[list[tuple[str, int]], float]:
        """Cumulative (le, count) pairs ending with +Inf, and the sum."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return out, self.total
