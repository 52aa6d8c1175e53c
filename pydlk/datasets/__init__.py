"""Data sets. ``digits()`` is bundled with the package and needs no network; the others read
the canonical files from a directory and can download them (``download=True``)."""

from .cifar import cifar10  # noqa: F401
from .digits import digits  # noqa: F401
from .mnist import fashion_mnist, mnist  # noqa: F401
