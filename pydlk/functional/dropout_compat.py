"""dropout2d on 2-D and 5-D inputs, as torch 2.x: a UserWarning (the same text as torch's), then
channel dropout over dimension 1 ((N, C) input: every element is its own channel, so each is
dropped independently; (N, C, D, H, W): whole (D, H, W) volumes). 3-D and 4-D inputs go to
pydlk.functional.dropout.dropout2d unchanged."""

from __future__ import annotations

import warnings

from ..autograd import Tensor
from .dropout import dropout2d as _channel_dropout

__all__ = ["dropout2d"]


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
