"""What notes add to a page of ``pool.alarms``: the encoded size of ``--alarms`` alarms as a
member sends them (``shared.alarmpage.alarm_entry``), without notes and with a note of
``--chars`` characters on every alarm (the worst case: only the count and the newest note,
cut to ``shared.notes.PREVIEW_CHARS``, travel in the list). The bus caps a message at 4 MiB.

    .venv/bin/python bench/note_pages.py [--alarms 5000] [--chars 1000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402

from shared.alarmpage import alarm_entry  # noqa: E402
from shared.alarms import AlarmStore  # noqa: E402
from shared.model import AlarmKey, Severity  # noqa: E402
from shared.wire import MAX_MESSAGE  # noqa: E402


def page_bytes(store: AlarmStore) -> int:
    return len(msgspec.json.encode([alarm_entry(a, "p1")[1] for a in store]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alarms", type=int, default=5000)
    ap.add_argument("--chars", type=int, default=1000)
    args = ap.parse_args()
    store = AlarmStore()
    for i in range(args.alarms):
        key = AlarmKey(f"rtr{i:05d}", f"ifIndex={i % 48}", "link-down")
        store.raise_(key, Severity.MAJOR, f"Link down ge-0/0/{i % 48}", 1e9 + i)
    plain = page_bytes(store)
    for a in store:
        store.note(a.key, "noc-desk-1", "x" * args.chars, 2e9)
    noted = page_bytes(store)
    for label, size in (("without notes", plain), (f"a {args.chars}-char note on each", noted)):
        print(
            f"{args.alarms:,} alarms, {label}: {size / 1e6:.2f} MB "
            f"({size / args.alarms:.0f} B each, {size / MAX_MESSAGE:.0%} of the bus's cap)"
        )


if __name__ == "__main__":
    main()
