"""``python -m lab.scale serve --state-dir D [--trap-target HOST:PORT]``: serve an existing
scale lab (what ``ScaleLab.start`` runs); ``emspool lab scale`` creates one and serves it."""

from lab.scale.cli import main

raise SystemExit(main())
