"""Bounded, seeded mutations of valid datagrams for decoder robustness tests."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence


def mutations(seeds: Sequence[bytes], count: int, seed: int) -> Iterator[bytes]:
    """``count`` variants of the seeds: truncated, bit-flipped, byte-replaced or grown."""
    rng = random.Random(seed)
    for i in range(count):
        data = bytearray(seeds[i % len(seeds)])
        mode = rng.randrange(4)
        if mode == 0:
            data = data[: rng.randrange(len(data))]
        elif mode == 1:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif mode == 2:
            data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            pos = rng.randrange(len(data))
            data[pos:pos] = rng.randbytes(rng.randint(1, 8))
        yield bytes(data)
