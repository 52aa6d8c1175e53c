"""Random draws shaped by a tensor's values: bernoulli, multinomial, poisson, and the in-place
fills bernoulli_ and random_, under torch's names, arguments and dtypes.

Numbers come from pydlk's generator (``pydlk.manual_seed``) on the host, as the other
factories' do, and the result goes to the input's device: the same seed gives the same draws on
the CPU and the GPU. torch's streams differ from NumPy's, so the numbers (not their
distribution) differ from torch's. No draw carries a gradient.
"""

from __future__ import annotations

import numpy as np

from .._backend import host_array, on_device_of
from .._random import Generator
from ..autograd import Tensor
from ._helpers import _arr, _nograd, _t
from .factories import _gen


def _probabilities(a: np.ndarray, op: str, name: str) -> None:
    if a.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be a floating-point tensor, got {a.dtype}")
    if a.size and not (np.isfinite(a).all() and (a >= 0).all()):
        raise RuntimeError(f"{op}: {name} must hold finite, non-negative values")


def bernoulli(
    input: Tensor, p: float | None = None, *, generator: Generator | None = None
) -> Tensor:
    """0/1 draws, 1 with probability ``input`` (elementwise, each in [0, 1]) or ``p`` if given;
    the input's shape, dtype and device."""
    a = _arr(_t(input))
    h = host_array(a)
    prob = h if p is None else np.full(h.shape, float(p))
    _probabilities(np.asarray(prob, np.float64), "bernoulli", "input" if p is None else "p")
    if prob.size and (np.asarray(prob) > 1).any():
        raise RuntimeError("bernoulli: probabilities must be in [0, 1]")
    draws = (_gen(generator).random(h.shape) < prob).astype(h.dtype)
    return _nograd(on_device_of(draws, a))


def _bernoulli_(
    self: Tensor, p: float | Tensor = 0.5, *, generator: Generator | None = None
) -> Tensor:
    """Fill in place with 0/1 draws, 1 with probability ``p`` (a number, or a tensor that
    broadcasts to this one's shape)."""
    self._check_inplace_write("bernoulli_")
    prob = host_array(_arr(p)) if isinstance(p, Tensor) else np.float64(p)
    prob = np.broadcast_to(np.asarray(prob, np.float64), self.shape)
    _probabilities(prob, "bernoulli_", "p")
    if prob.size and (prob > 1).any():
        raise RuntimeError("bernoulli_: p must be in [0, 1]")
    draws = (_gen(generator).random(self.shape) < prob).astype(self.dtype)
    self._data[...] = on_device_of(draws, self._data)
    return self


def _random_(
    self: Tensor, from_: int = 0, to: int | None = None, *, generator: Generator | None = None
) -> Tensor:
    """Fill in place with integers drawn uniformly from [from_, to - 1] (torch's ``from``, a
    Python keyword: positional use is the same); ``to=None`` (or only one number, which is then
    ``to``) draws up to 2^mantissa for floating dtypes, the dtype's maximum for integers."""
    self._check_inplace_write("random_")
    dt = self.dtype
    if to is None and from_ != 0:  # random_(to): torch's one-argument form
        from_, to = 0, from_
    if to is None:
        to = (2 ** (np.finfo(dt).nmant + 1) + 1) if dt.kind == "f" else int(np.iinfo(dt).max) + 1
    if dt.kind == "b":
        raise TypeError("random_: a bool tensor takes bernoulli_, not random_")
    if not from_ < to:
        raise RuntimeError(
            f"random_: expects 'from' to be less than 'to', got from={from_} >= to={to}"
        )
    draws = _gen(generator).integers(from_, to, size=self.shape, dtype=np.int64).astype(dt)
    self._data[...] = on_device_of(draws, self._data)
    return self


def multinomial(
    input: Tensor,
    num_samples: int,
    replacement: bool = False,
    *,
    generator: Generator | None = None,
) -> Tensor:
    """``num_samples`` category indices per row of ``input`` (1-d or 2-d non-negative weights,
    not necessarily normalised), int64; without replacement each category at most once per
    row, so a row needs at least ``num_samples`` non-zero weights (torch's errors)."""
    op = "multinomial"
    a = _arr(_t(input))
    if a.ndim not in (1, 2):
        raise RuntimeError(f"{op}: prob_dist must be 1 or 2 dim, got {a.ndim}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise TypeError(f"{op}: num_samples must be an int, got {type(num_samples).__name__}")
    if num_samples <= 0:
        raise RuntimeError(f"{op}: cannot sample n_sample <= 0 samples, got {num_samples}")
    h = np.asarray(host_array(a), np.float64)
    _probabilities(h, op, "input")
    rows = h.reshape(-1, h.shape[-1])
    if rows.shape[1] == 0:
        raise RuntimeError(f"{op}: the number of categories cannot be 0")
    if not replacement and num_samples > rows.shape[1]:
        raise RuntimeError(
            f"{op}: cannot sample n_sample > prob_dist.size(-1) samples without replacement "
            f"({num_samples} > {rows.shape[1]})"
        )
    rng = _gen(generator)
    out = np.empty((rows.shape[0], num_samples), np.int64)
    for i, w in enumerate(rows):
        total = w.sum()
        if not total > 0:
            raise RuntimeError(
                f"{op}: invalid multinomial distribution (sum of probabilities <= 0)"
            )
        if not replacement and np.count_nonzero(w) < num_samples:
            raise RuntimeError(
                f"{op}: invalid multinomial distribution (with replacement=False, not enough "
                f"non-negative category to sample)"
            )
        out[i] = rng.choice(w.size, size=num_samples, replace=replacement, p=w / total)
    return _nograd(on_device_of(out.reshape(h.shape[:-1] + (num_samples,)), a))


def poisson(input: Tensor, generator: Generator | None = None) -> Tensor:
    """Poisson draws with rates ``input`` (non-negative), in its shape, dtype and device."""
    a = _arr(_t(input))
    h = host_array(a)
    _probabilities(np.asarray(h, np.float64), "poisson", "input")
    # np.asarray: NumPy's poisson gives a Python int for a 0-d rate
    return _nograd(on_device_of(np.asarray(_gen(generator).poisson(h)).astype(h.dtype), a))
