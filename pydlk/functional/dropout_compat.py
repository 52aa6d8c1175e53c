"""dropout1d, dropout3d, alpha_dropout and feature_alpha_dropout (torch.nn.functional's), and
dropout2d on 2-D and 5-D inputs, as torch 2.x: a UserWarning (the same text as torch's), then
channel dropout over dimension 1 ((N, C) input: every element is its own channel, so each is
dropped independently; (N, C, D, H, W): whole (D, H, W) volumes). 3-D and 4-D inputs go to
pydlk.functional.dropout.dropout2d unchanged."""

from __future__ import annotations

import warnings

from ..autograd import Tensor
from .dropout import dropout2d as _channel_dropout

__all__ = ["dropout2d", "dropout1d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"]


def dropout2d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Tensor:
    """Channel dropout (torch.nn.functional.dropout2d): each ``input[n, c]`` is zeroed with
    probability ``p``, kept channels scaled by ``1/(1-p)``. 3-D input is read as (N, C, L);
    2-D and 5-D inputs warn (deprecated in torch) and are dropped per (n, c)."""
    ndim = getattr(input, "ndim", None)
    if ndim in (2, 5):
        warnings.warn(
            f"dropout2d: Received a {ndim}-D input to dropout2d, which is deprecated "
            "and will result in an error in a future release. To retain the behavior "
            "and silence this warning, please use dropout instead. Note that dropout2d "
            "exists to provide channel-wise dropout on inputs with 2 spatial "
            "dimensions, a channel dimension, and an optional batch dimension (i.e. "
            "3D or 4D inputs).",
            UserWarning,
            stacklevel=2,
        )
        shape = tuple(input.shape)
        x = input if isinstance(input, Tensor) else Tensor(input)
        y = _channel_dropout(x.reshape(shape[0], shape[1], -1, 1), p, training, inplace=False)
        y = y.reshape(*shape)
        if inplace:
            x._data[...] = y._data
            return x
        return y
    return _channel_dropout(input, p, training, inplace)


def _channel(input, p, training, inplace, op, nd):
    """Channel dropout of (N, C, *spatial) with ``nd`` spatial dims, or of unbatched
    (C, *spatial): the spatial dims flattened to L, then dropout2d's (N, C, L) path."""
    from .activation_extra import _maybe_inplace

    x = input if isinstance(input, Tensor) else Tensor(input)
    shape = tuple(x.shape)
    if len(shape) not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{op}: Expected {nd + 1}D or {nd + 2}D input, but received a {len(shape)}D input. "
            f"Note that {op} exists to provide channel-wise dropout on inputs with {nd} spatial "
            f"dimension{'s' if nd > 1 else ''}, a channel dimension, and an optional batch "
            "dimension"
        )
    batched = len(shape) == nd + 2
    n, c = (shape[0], shape[1]) if batched else (1, shape[0])

    def fn(t):
        y = _channel_dropout(t.reshape(n, c, -1), p, training, inplace=False)
        return y.reshape(*shape)

    if not training or p == 0.0:
        return x
    return _maybe_inplace(x, op, inplace, fn)


def dropout1d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Tensor:
    """Channel dropout of (N, C, L) or unbatched (C, L) (torch.nn.functional.dropout1d): each
    channel is zeroed with probability ``p``, kept ones scaled by ``1/(1-p)``. Raises
    RuntimeError for other ranks, as torch."""
    return _channel(input, p, training, inplace, "dropout1d", 1)


def dropout3d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Tensor:
    """Channel dropout of (N, C, D, H, W) or unbatched (C, D, H, W)
    (torch.nn.functional.dropout3d): whole (D, H, W) volumes are zeroed with probability ``p``.

    Differs from torch: other ranks raise RuntimeError (torch warns and guesses)."""
    return _channel(input, p, training, inplace, "dropout3d", 3)


_SELU_ALPHA = 1.7580993408473766  # -selu's scale * alpha: the value a dropped unit takes


def _alpha(input, p, training, inplace, op, feature):
    from .. import ops
    from .activation_extra import _maybe_inplace
    from .dropout import _check_p

    p = _check_p(p, op)
    x = input if isinstance(input, Tensor) else Tensor(input)
    if not training or p == 0.0:
        return x
    if feature and x.dim() < 2:
        raise RuntimeError(f"{op}: Feature dropout requires at least 2 dimensions in the input")
    if p == 1.0:
        return _maybe_inplace(x, op, inplace, lambda t: t * ops.zeros_like(t))
    shape = tuple(x.shape[:2]) + (1,) * (x.dim() - 2) if feature else tuple(x.shape)
    keep = ops.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1 - p)
    # torch's affine correction: kept units a * x, dropped ones the SELU floor, so that
    # zero mean and unit variance survive: a = ((alpha^2 p + 1)(1 - p))^(-1/2)
    a = 1.0 / ((_SELU_ALPHA**2 * p + 1) * (1 - p)) ** 0.5
    b = (keep - 1) * (_SELU_ALPHA * a) + _SELU_ALPHA * a * p
    return _maybe_inplace(x, op, inplace, lambda t: t * (keep * a) + b)


def alpha_dropout(
    input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False
) -> Tensor:
    """Alpha dropout for self-normalising (SELU) networks (torch.nn.functional.alpha_dropout):
    dropped units take SELU's negative saturation value and an affine map keeps the mean and
    variance. Note torch's default ``training=False`` (the identity) for the functional form."""
    return _alpha(input, p, training, inplace, "alpha_dropout", False)


def feature_alpha_dropout(
    input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False
) -> Tensor:
    """Alpha dropout of whole channels of (N, C, *) (torch.nn.functional's
    feature_alpha_dropout); ``training`` defaults to False, as torch's."""
    return _alpha(input, p, training, inplace, "feature_alpha_dropout", True)
