"""``python -m lab ...``: the lab CLI without the emspool entry point."""

from lab.cli import main

raise SystemExit(main())
