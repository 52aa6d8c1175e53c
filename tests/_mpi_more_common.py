"""What the checks of tests/_mpi_more_worker.py share: the world size they are written for,
an assert-raises, the ranks' known inputs."""

import re

import numpy as np

import pydlk.distributed as dist

W = 3  # the checks are written for three ranks ("single" for one process)


def raises(exc, match, fn, *args, **kwargs):
    """fn(*args, **kwargs) raises ``exc`` whose text matches the regex ``match``."""
    try:
        fn(*args, **kwargs)
    except exc as e:
        assert re.search(match, str(e)), f"{type(e).__name__}: {e!r} does not match {match!r}"
        return e
    raise AssertionError(f"{getattr(fn, '__name__', fn)} did not raise {exc.__name__}")


def vals(k, dtype=np.float64, shape=(2, 3)):
    """Rank k's input: distinct per rank, exact in every dtype used."""
    return (np.arange(int(np.prod(shape))).reshape(shape) * (k + 1) - k).astype(dtype)


def rank():
    return dist.get_rank()


OPS = [
    (dist.ReduceOp.SUM, lambda xs: np.sum(xs, 0)),
    (dist.ReduceOp.AVG, lambda xs: np.mean(xs, 0)),
    (dist.ReduceOp.MAX, lambda xs: np.max(xs, 0)),
    (dist.ReduceOp.MIN, lambda xs: np.min(xs, 0)),
    (dist.ReduceOp.PRODUCT, lambda xs: np.prod(xs, 0)),
]


class Skip(Exception):
    """A check that cannot run here (reported as 'skip: ...')."""


OUT = ["."]  # the worker's output directory (set by main)
