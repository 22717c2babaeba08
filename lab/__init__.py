"""emspool lab package."""
