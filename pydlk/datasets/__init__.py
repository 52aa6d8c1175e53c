"""Data sets. ``digits()`` is bundled with the package and needs no network."""
from .digits import digits  # noqa: F401
