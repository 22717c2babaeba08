"""emspool agent package."""
