"""Cost of decoding one v1/v2c Response-PDU with ``shared.ber`` (the hot path of every poll).

The message is the one docs/benchmarks.md quotes: a 150-varbind v2c response of Counter64
values (ifHCInOctets.1..150, about 3.5 kB). Each repeat decodes it ``--count`` times; the best
repeat is printed (the least disturbed by other load on the machine), with the median beside it.

    .venv/bin/python bench/ber_decode.py [--count 10000] [--repeat 5] [--varbinds 150]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.ber import Counter64, decode_response, encode_response_pdu

IF_HC_IN_OCTETS = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6)


def message(varbinds: int) -> bytes:
    rows = [((*IF_HC_IN_OCTETS, i), Counter64(2**40 + 7919 * i)) for i in range(1, varbinds + 1)]
    return encode_response_pdu(1, b"public", 123456, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--varbinds", type=int, default=150)
    args = ap.parse_args()
    data = message(args.varbinds)
    assert len(decode_response(data).varbinds) == args.varbinds
    per_call: list[float] = []
    for _ in range(max(1, args.repeat)):
        start = time.process_time()
        for _ in range(max(1, args.count)):
            decode_response(data)
        per_call.append((time.process_time() - start) / args.count * 1000)
    print(
        f"decode_response, {args.varbinds} Counter64 varbinds ({len(data)} B): "
        f"best {min(per_call):.3f} ms, median {statistics.median(per_call):.3f} ms per message "
        f"({args.count} x {args.repeat}, CPU time)"
    )


if __name__ == "__main__":
    main()
