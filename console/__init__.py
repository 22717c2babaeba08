"""emspool console package."""
