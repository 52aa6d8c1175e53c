"""Neural style transfer losses (Gatys, Ecker and Bethge, 2016), built from differentiable ops."""

from __future__ import annotations

from .. import ops
from .._backend import get_array_module
from ..autograd import Tensor
from ._util import array_of
from .losses_extra import mse_loss

__all__ = ["content_loss", "gram_matrix", "style_loss"]


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor._wrap(get_array_module(x).asarray(x))


def gram_matrix(features, normalize: bool = True) -> Tensor:
    """Gram matrices ``G[b] = F[b] F[b]^T`` of features (B, C, H, W) (or (C, H, W)), with
    ``F[b]`` the (C, H*W) matrix of channel responses: (B, C, C), divided by ``C*H*W`` when
    ``normalize`` (as torch's style-transfer tutorial; Gatys's 1/(4 N^2 M^2) then differs only
    by a constant in the loss). Not in torch."""
    f = _tensor(features)
    if f.ndim not in (3, 4):
        raise ValueError(
            f"gram_matrix: features must be (B, C, H, W) or (C, H, W), got {tuple(f.shape)}"
        )
    if f.ndim == 3:
        f = f.unsqueeze(0)
    B, C, H, W = f.shape
    m = f.reshape(B, C, H * W)
    g = ops.bmm(m, m.transpose(1, 2))
    return g / float(C * H * W) if normalize else g


def content_loss(input: Tensor, target: Tensor) -> Tensor:
    """Content loss: the mean squared difference of feature maps, ``mse_loss(input, target)``
    (Gatys's 1/2 sum differs by a constant factor). The target is treated as a constant."""
    return mse_loss(_tensor(input), _tensor(array_of(target)))


def style_loss(input: Tensor, target: Tensor, normalize: bool = True) -> Tensor:
    """Style loss: ``mse_loss(gram_matrix(input), gram_matrix(target))``; ``target`` may be
    feature maps (B, C, H, W) or a precomputed Gram matrix (B, C, C) (broadcast over the
    batch). Sum these over the chosen layers, each with its weight."""
    g = gram_matrix(input, normalize)
    t = array_of(target)
    if t.ndim == 4 or (t.ndim == 3 and t.shape[-1] != t.shape[-2]):
        t = gram_matrix(t, normalize)._data
    if t.shape[-2:] != tuple(g.shape[-2:]):
        raise ValueError(
            f"style_loss: target Gram matrix {t.shape} does not match input's {tuple(g.shape)}"
        )
    xp = get_array_module(g._data)
    t = xp.broadcast_to(xp.asarray(t), g.shape)
    return mse_loss(g, Tensor._wrap(xp.ascontiguousarray(t)))
