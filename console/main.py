"""`emspool-console`: the Qt operator console (built in the console issue).

Until then this entry point says so plainly instead of pretending to work.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print(
        "emspool-console: the desktop console is not built yet; "
        "use `emspool watch` for a live alarm view.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
