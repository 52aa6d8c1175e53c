"""Weight initialisation (torch.nn.init's names, arguments and defaults).

Every function writes into ``tensor._data`` in place under no_grad and returns the tensor. The
random numbers come from ``pydlk._random.default_generator.numpy``, so ``pydlk.manual_seed``
makes initialisation reproducible (the streams differ from torch's: same distributions, not the
same numbers).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._backend import on_device_of
from .._random import default_generator
from ..autograd import Tensor, no_grad

__all__ = [
    "calculate_gain",
    "zeros_",
    "ones_",
    "constant_",
    "normal_",
    "uniform_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "trunc_normal_",
    "eye_",
    "dirac_",
    "sparse_",
    "_calculate_fan_in_and_fan_out",
]


def _rng(generator=None):
    if generator is None:
        return default_generator.numpy
    return getattr(generator, "numpy", generator)


def _arr(tensor):
    return tensor._data if isinstance(tensor, Tensor) else tensor


def _write(tensor, values):
    """Write host-drawn ``values`` into ``tensor`` in place, on its device (a GPU parameter
    gets the same numbers as a CPU one for the same seed)."""
    a = _arr(tensor)
    if a.dtype.kind == "f":
        values = np.asarray(values).astype(a.dtype, copy=False)
    with no_grad():
        a[...] = on_device_of(values, a) if isinstance(values, np.ndarray) else values
    return tensor


def calculate_gain(nonlinearity: str, param=None):
    """The recommended gain for a nonlinearity (torch's table)."""
    linear = [
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
    ]
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"calculate_gain: param {param} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight (out, in, *kernel): in * prod(kernel) and
    out * prod(kernel). Raises ValueError for fewer than 2 dims.
    """
    shape = _arr(tensor).shape
    if len(shape) < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive = 1
    for s in shape[2:]:
        receptive *= s
    return shape[1] * receptive, shape[0] * receptive


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming: mode {mode} not supported, please use fan_in or fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 0 in place; returns it."""
    return _write(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 1 in place; returns it."""
    return _write(tensor, 1)


def constant_(tensor: Tensor, val) -> Tensor:
    """Fill ``tensor`` with ``val`` in place; returns it."""
    return _write(tensor, val)


def eye_(tensor: Tensor):
    """Fill a 2-D ``tensor`` with the identity in place. Raises ValueError for other ranks."""
    a = _arr(tensor)
    if a.ndim != 2:
        raise ValueError("eye_: only tensors with 2 dimensions are supported")
    return _write(tensor, np.eye(*a.shape))


def uniform_(
    tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any | None = None
) -> Tensor:
    """Fill ``tensor`` with U(a, b) samples in place (from pydlk's generator unless
    ``generator`` is given); returns it.
    """
    return _write(tensor, _rng(generator).uniform(a, b, _arr(tensor).shape))


def normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any | None = None
) -> Tensor:
    """Fill ``tensor`` with N(mean, std^2) samples in place; returns it."""
    return _write(tensor, _rng(generator).normal(mean, std, _arr(tensor).shape))


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Any | None = None,
) -> Tensor | None:
    """Normal(mean, std) truncated to [a, b] (absolute bounds, as torch), by rejection."""
    if not a < b:
        raise ValueError(f"trunc_normal_: a ({a}) must be less than b ({b})")
    rng = _rng(generator)
    shape = _arr(tensor).shape
    n = int(np.prod(shape))
    out = np.empty(n)
    filled = 0
    while filled < n:
        draw = rng.normal(mean, std, max(2 * (n - filled), 16))
        draw = draw[(draw >= a) & (draw <= b)][: n - filled]
        out[filled : filled + draw.size] = draw
        filled += draw.size
    return _write(tensor, out.reshape(shape))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any | None = None) -> Tensor:
    """Glorot uniform: U(-b, b) with ``b = gain * sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any | None = None) -> Tensor:
    """Glorot normal: N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any | None = None,
) -> Tensor | None:
    """He uniform: U(-b, b) with ``b = gain * sqrt(3 / fan)``, ``fan`` by ``mode``
    (``'fan_in'`` or ``'fan_out'``, else ValueError) and gain from ``calculate_gain``.
    """
    if 0 in _arr(tensor).shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * gain / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any | None = None,
) -> Tensor:
    """He normal: N(0, std^2) with ``std = gain / sqrt(fan)``, ``fan`` by ``mode``."""
    if 0 in _arr(tensor).shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1, generator: Any | None = None) -> Tensor | None:
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian matrix, sign-fixed so
    the distribution is uniform (Saxe et al. 2013), reshaped to the tensor's shape."""
    a = _arr(tensor)
    if a.ndim < 2:
        raise ValueError("orthogonal_: only tensors with 2 or more dimensions are supported")
    if a.size == 0:
        return tensor
    rows = a.shape[0]
    cols = a.size // rows
    flat = _rng(generator).normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _write(tensor, gain * q.reshape(a.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """The Dirac delta in a 3-, 4- or 5-d convolution weight (out, in, *kernel): output channel
    ``d`` of each group copies input channel ``d`` at the kernel's centre, so the convolution
    starts as the identity on as many channels as it can. Raises ValueError for other ranks or
    when ``groups`` does not divide dimension 0."""
    a = _arr(tensor)
    if a.ndim not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    if a.shape[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_per = a.shape[0] // groups
    w = np.zeros(a.shape)
    centre = tuple(k // 2 for k in a.shape[2:])
    for g in range(groups):
        for d in range(min(out_per, a.shape[1])):
            w[(g * out_per + d, d) + centre] = 1
    return _write(tensor, w)


def sparse_(
    tensor: Tensor, sparsity: float, std: float = 0.01, generator: Any | None = None
) -> Tensor:
    """A 2-d sparse matrix (Martens 2010): N(0, std) entries, then ``ceil(sparsity * rows)``
    randomly chosen entries of each column set to zero. Raises ValueError unless 2-d."""
    a = _arr(tensor)
    if a.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = a.shape
    num_zeros = math.ceil(sparsity * rows)
    rng = _rng(generator)
    w = rng.normal(0.0, std, a.shape)
    for c in range(cols):
        w[rng.permutation(rows)[:num_zeros], c] = 0
    return _write(tensor, w)


def _make_deprecate(meth):
    new_name = meth.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args, **kwargs):
        import warnings

        warnings.warn(
            f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
            FutureWarning,
            stacklevel=2,
        )
        return meth(*args, **kwargs)

    deprecated_init.__doc__ = (
        f"``{old_name}(...)``: deprecated (a FutureWarning, as torch's) in favour of "
        f"``{new_name}``, which it calls."
    )
    deprecated_init.__name__ = deprecated_init.__qualname__ = old_name
    return deprecated_init


# torch's old spellings without the trailing underscore (a FutureWarning, then the new one)
uniform = _make_deprecate(uniform_)
normal = _make_deprecate(normal_)
constant = _make_deprecate(constant_)
xavier_uniform = _make_deprecate(xavier_uniform_)
xavier_normal = _make_deprecate(xavier_normal_)
kaiming_uniform = _make_deprecate(kaiming_uniform_)
kaiming_normal = _make_deprecate(kaiming_normal_)
orthogonal = _make_deprecate(orthogonal_)
sparse = _make_deprecate(sparse_)
eye = _make_deprecate(eye_)
dirac = _make_deprecate(dirac_)
