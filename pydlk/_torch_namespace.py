"""torch's top-level spellings of functional ops (``torch.dropout``, ``torch.batch_norm``,
``torch.lstm_cell``, ...), with torch's top-level argument order and defaults, which differ
from ``torch.nn.functional``'s in places:

* ``dropout(input, p, train)``, ``alpha_dropout``, ``feature_alpha_dropout``: ``train`` is
  positional and has no default;
* ``batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps,
  cudnn_enabled)`` and ``instance_norm(input, weight, bias, running_mean, running_var,
  use_input_stats, momentum, eps, cudnn_enabled)``: weight and bias come first, all required;
* ``embedding(weight, indices, padding_idx=-1, ...)``: the weight first, -1 for no padding;
* the losses take ``reduction`` as torch's enum int (0 'none', 1 'mean', 2 'sum'; the names
  are accepted too), and ``poisson_nll_loss``'s arguments are all required;
* ``grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners)`` takes ints
  (0 bilinear, 1 nearest, 2 bicubic; 0 zeros, 1 border, 2 reflection);
* ``max_pool1d``/``max_pool2d`` return no indices; ``adaptive_max_pool1d`` returns
  ``(output, indices)``;
* ``lstm_cell(input, (h, c), w_ih, w_hh, b_ih=None, b_hh=None)``, ``gru_cell``,
  ``rnn_tanh_cell`` and ``rnn_relu_cell``: one step of the recurrent cells, in torch's gate
  order (LSTM i, f, g, o; GRU r, z, n).

``cudnn_enabled``/``cudnn_enable`` are accepted and ignored. Each maps to ``pydlk.functional``
and is differentiable as that is.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from . import functional as F
from ._backend import is_cupy
from .autograd import Tensor
from .ops._helpers import _t
from .ops.activations import sigmoid, tanh
from .ops.arithmetic import where
from .ops.einsum import einsum
from .ops.joining import chunk
from .ops.shape import reshape, transpose

_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _reduction(r: int | str, op: str) -> str:
    if isinstance(r, str):
        if r not in ("none", "mean", "sum"):
            raise ValueError(f"{op}: {r!r} is not a valid value for reduction")
        return r
    if isinstance(r, bool) or r not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 0 (none), 1 (mean) or 2 (sum), got {r!r}")
    return _REDUCTIONS[int(r)]


conv2d = F.conv2d
avg_pool1d = F.avg_pool1d
adaptive_avg_pool1d = F.adaptive_avg_pool1d
pixel_shuffle = F.pixel_shuffle
pixel_unshuffle = F.pixel_unshuffle
hardshrink = F.hardshrink
rms_norm = F.rms_norm


def _empty_stride(stride: Any) -> Any:
    """torch's ``stride=()`` (or None) of the pooling spellings: the kernel size (None to F)."""
    return None if stride is None or (not isinstance(stride, int) and len(stride) == 0) else stride


def max_pool1d(
    input: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = (),
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
) -> Tensor:
    """torch.max_pool1d: F.max_pool1d without indices (``stride=()``: the kernel size)."""
    st = _empty_stride(stride)
    size: Any = kernel_size  # F's annotations take fixed-length tuples; lengths are checked there
    return F.max_pool1d(
        input, size, cast(Any, st), cast(Any, padding), cast(Any, dilation), ceil_mode
    )


def max_pool2d(
    input: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = (),
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
) -> Tensor:
    """torch.max_pool2d: F.max_pool2d without indices (``stride=()``: the kernel size)."""
    st = _empty_stride(stride)
    size: Any = kernel_size  # F's annotations take fixed-length tuples; lengths are checked there
    return F.max_pool2d(
        input, size, cast(Any, st), cast(Any, padding), cast(Any, dilation), ceil_mode
    )


def adaptive_max_pool1d(input: Tensor, output_size: int | Sequence[int]) -> tuple[Tensor, Tensor]:
    """torch.adaptive_max_pool1d: ``(output, indices)``."""
    return F.adaptive_max_pool1d(input, cast(Any, output_size), True)


def batch_norm(
    input: Tensor,
    weight: Tensor | None,
    bias: Tensor | None,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
    cudnn_enabled: bool,
) -> Tensor:
    """torch.batch_norm (weight and bias first, every argument required): F.batch_norm."""
    return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(
    input: Tensor,
    weight: Tensor | None,
    bias: Tensor | None,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    use_input_stats: bool,
    momentum: float,
    eps: float,
    cudnn_enabled: bool,
) -> Tensor:
    """torch.instance_norm (weight and bias first, every argument required): F.instance_norm."""
    return F.instance_norm(
        input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps
    )


def layer_norm(
    input: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
    cudnn_enable: bool = True,
) -> Tensor:
    """torch.layer_norm: F.layer_norm (``cudnn_enable`` ignored)."""
    return F.layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
    cudnn_enabled: bool = True,
) -> Tensor:
    """torch.group_norm: F.group_norm (``cudnn_enabled`` ignored)."""
    return F.group_norm(input, num_groups, weight, bias, eps)


def dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.dropout(input, p, train): ``train`` positional, no default (F.dropout)."""
    return F.dropout(input, p, train)


def alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.alpha_dropout(input, p, train) (F.alpha_dropout)."""
    return F.alpha_dropout(input, p, train)


def feature_alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.feature_alpha_dropout(input, p, train) (F.feature_alpha_dropout)."""
    return F.feature_alpha_dropout(input, p, train)


def embedding(
    weight: Tensor,
    indices: Tensor,
    padding_idx: int = -1,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """torch.embedding(weight, indices, padding_idx=-1, ...): the rows of ``weight`` at
    ``indices`` (F.embedding with the weight first; -1 means no padding index)."""
    pad = None if padding_idx is None or padding_idx < 0 else padding_idx
    return F.embedding(indices, weight, pad, None, 2.0, scale_grad_by_freq, sparse)


_BAG_MODES = {0: "sum", 1: "mean", 2: "max"}


def embedding_bag(
    weight: Tensor,
    indices: Tensor,
    offsets: Tensor,
    scale_grad_by_freq: bool = False,
    mode: int = 0,
    sparse: bool = False,
    per_sample_weights: Tensor | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """torch.embedding_bag(weight, indices, offsets, ..., mode) with mode an int (0 sum,
    1 mean, 2 max): ``(output, offset2bag, bag_size, max_indices)`` as torch's, the output
    from F.embedding_bag (differentiable in weight and per_sample_weights); the other three
    are integer bookkeeping: each index's bag (empty for a float32 sum, as torch's), each
    bag's size (zeros for sum), and for max the row that gave each maximum (else bag_size
    again; zeros for sum)."""
    if mode not in _BAG_MODES:
        raise ValueError(f"embedding_bag: mode must be 0 (sum), 1 (mean) or 2 (max), got {mode!r}")
    idx, offs = _t(indices), _t(offsets)
    if idx.ndim != 1 or offs.ndim != 1:
        raise ValueError(
            "embedding_bag: indices and offsets must be 1-d (torch.embedding_bag's form; "
            "F.embedding_bag also takes a 2-d input)"
        )
    pad = None if padding_idx is None or padding_idx < 0 else padding_idx
    out = F.embedding_bag(
        idx,
        weight,
        offs,
        scale_grad_by_freq=scale_grad_by_freq,
        mode=_BAG_MODES[mode],
        sparse=sparse,
        per_sample_weights=per_sample_weights,
        include_last_offset=include_last_offset,
        padding_idx=pad,
    )
    i = np.asarray(idx._data.get() if hasattr(idx._data, "get") else idx._data)
    o = np.asarray(offs._data.get() if hasattr(offs._data, "get") else offs._data)
    nb = o.size - 1 if include_last_offset else o.size
    starts = o[:nb]
    bag = (np.searchsorted(starts, np.arange(i.size), side="right") - 1).astype(np.int64)
    size = np.bincount(bag[bag >= 0], minlength=nb).astype(np.int64)[:nb]
    if mode == 0:  # torch's float32 sum path fills no offset2bag; its others do
        o2b = np.zeros(0, np.int64) if _t(weight).dtype == np.float32 else bag
        aux: tuple[Any, ...] = (o2b, np.zeros(nb, np.int64), np.zeros(nb, np.int64))
    elif mode == 1:
        aux = (bag, size, size.copy())
    else:
        w = _t(weight)._data
        w = np.asarray(w.get() if hasattr(w, "get") else w)
        top = np.zeros((nb, w.shape[1]), np.int64)
        for b in range(nb):
            rows = i[bag == b]
            if rows.size:
                top[b] = rows[np.argmax(w[rows], axis=0)]
        aux = (bag, size, top)
    dev = out.device
    t1, t2, t3 = (Tensor._wrap(x).to(dev) for x in aux)
    return out, t1, t2, t3


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o]``."""
    w = _t(weight)
    if w.ndim != 3:
        raise RuntimeError(f"bilinear: weight must be 3-d (out, in1, in2), got {w.ndim} dims")
    y = einsum("...i,oij,...j->...o", input1, w, input2)
    return y if bias is None else y + bias


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """Channels (dim 1) regrouped: (N, g * k, *) viewed as (N, g, k, *), the two swapped."""
    x = _t(input)
    if groups <= 0:
        raise ValueError(
            f"channel_shuffle: Number of groups to divide channels in must be positive. "
            f"Value of groups:{groups}"
        )
    if x.ndim < 3 or x.shape[1] % groups:
        raise RuntimeError(
            f"channel_shuffle: expected a tensor of at least 3 dims whose channels divide "
            f"into {groups} groups, got shape {tuple(x.shape)}"
        )
    n, c, rest = x.shape[0], x.shape[1], tuple(x.shape[2:])
    y = transpose(reshape(x, (n, groups, c // groups, *rest)), 1, 2)
    return reshape(y, (n, c, *rest))


def celu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """torch.celu (F.celu)."""
    return F.celu(input, alpha)


def selu(input: Tensor) -> Tensor:
    """torch.selu (F.selu)."""
    return F.selu(input)


def rrelu(
    input: Tensor,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    generator: Any = None,
) -> Tensor:
    """torch.rrelu (F.rrelu; ``generator`` is accepted, the global one draws)."""
    return F.rrelu(input, lower, upper, training)


def threshold(input: Tensor, threshold: float, value: float) -> Tensor:
    """torch.threshold: ``value`` where ``input <= threshold``, else input (F.threshold)."""
    return F.threshold(input, threshold, value)


def kl_div(
    input: Tensor, target: Tensor, reduction: int | str = 1, *, log_target: bool = False
) -> Tensor:
    """torch.kl_div: reduction an enum int (1: the mean over all elements, without F.kl_div's
    warning about 'batchmean', as torch.kl_div gives none)."""
    r = _reduction(reduction, "kl_div")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="reduction: 'mean' divides", category=UserWarning)
        return F.kl_div(input, target, reduction=r, log_target=log_target)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    pos_weight: Tensor | None = None,
    reduction: int | str = 1,
) -> Tensor:
    """torch.binary_cross_entropy_with_logits (pos_weight before reduction, an enum int)."""
    r = _reduction(reduction, "binary_cross_entropy_with_logits")
    return F.binary_cross_entropy_with_logits(
        input, target, weight, reduction=r, pos_weight=pos_weight
    )


def cosine_embedding_loss(
    input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, reduction: int | str = 1
) -> Tensor:
    """torch.cosine_embedding_loss (reduction an enum int)."""
    r = _reduction(reduction, "cosine_embedding_loss")
    return F.cosine_embedding_loss(input1, input2, target, margin, reduction=r)


def hinge_embedding_loss(
    input: Tensor, target: Tensor, margin: float = 1.0, reduction: int | str = 1
) -> Tensor:
    """torch.hinge_embedding_loss (reduction an enum int)."""
    r = _reduction(reduction, "hinge_embedding_loss")
    return F.hinge_embedding_loss(input, target, margin, reduction=r)


def margin_ranking_loss(
    input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, reduction: int | str = 1
) -> Tensor:
    """torch.margin_ranking_loss (reduction an enum int)."""
    r = _reduction(reduction, "margin_ranking_loss")
    return F.margin_ranking_loss(input1, input2, target, margin, reduction=r)


def poisson_nll_loss(
    input: Tensor, target: Tensor, log_input: bool, full: bool, eps: float, reduction: int | str
) -> Tensor:
    """torch.poisson_nll_loss: every argument required, reduction an enum int."""
    r = _reduction(reduction, "poisson_nll_loss")
    return F.poisson_nll_loss(input, target, log_input, full, eps=eps, reduction=r)


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: int | str = 1,
) -> Tensor:
    """torch.triplet_margin_loss (reduction an enum int)."""
    r = _reduction(reduction, "triplet_margin_loss")
    return F.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction=r)


def affine_grid_generator(theta: Tensor, size: Sequence[int], align_corners: bool) -> Tensor:
    """torch.affine_grid_generator: F.affine_grid with ``align_corners`` required."""
    return F.affine_grid(theta, list(size), align_corners=align_corners)


_MODES = {0: "bilinear", 1: "nearest", 2: "bicubic"}
_PADDINGS = {0: "zeros", 1: "border", 2: "reflection"}


def grid_sampler(
    input: Tensor, grid: Tensor, interpolation_mode: int, padding_mode: int, align_corners: bool
) -> Tensor:
    """torch.grid_sampler: F.grid_sample with the modes as torch's enum ints."""
    if interpolation_mode not in _MODES:
        raise ValueError(
            f"grid_sampler: interpolation_mode must be 0, 1 or 2, got {interpolation_mode!r}"
        )
    if padding_mode not in _PADDINGS:
        raise ValueError(f"grid_sampler: padding_mode must be 0, 1 or 2, got {padding_mode!r}")
    return F.grid_sample(
        input, grid, _MODES[interpolation_mode], _PADDINGS[padding_mode], align_corners
    )


def constant_pad_nd(input: Tensor, pad: Sequence[int], value: float = 0) -> Tensor:
    """torch.constant_pad_nd: F.pad with mode 'constant' (negative pads crop)."""
    return F.pad(input, list(pad), "constant", value)


def detach(input: Tensor) -> Tensor:
    """torch.detach: the tensor, cut from the graph (sharing memory)."""
    return _t(input).detach()


def fill(input: Tensor, value: Any) -> Tensor:
    """torch.fill: a new tensor of input's shape and dtype filled with ``value`` (a number or
    a 0-d tensor, which then gets the summed gradient; input's gradient is zero)."""
    x = _t(input)
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(
                "fill only supports 0-dimension value tensor but got tensor with "
                f"{value.ndim} dimensions."
            )
        v: Any = value.to(x.dtype) if value.dtype != x.dtype else value
    else:
        v = Tensor._wrap(np.asarray(value).astype(x.dtype))
        if is_cupy(x._data):
            v = v.to(x.device)
    mask = Tensor._wrap(np.ones((), np.bool_))
    if is_cupy(x._data):
        mask = mask.to(x.device)
    return where(mask.expand(tuple(x.shape)), v, x)


def _linear2(
    x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Any, b_hh: Any
) -> tuple[Tensor, Tensor]:
    return F.linear(x, w_ih, b_ih), F.linear(h, w_hh, b_hh)


def lstm_cell(
    input: Tensor,
    hx: Sequence[Tensor],
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One LSTM step: ``(h', c')`` from ``hx = (h, c)``, gates i, f, g, o (torch.lstm_cell)."""
    if len(hx) != 2:
        raise RuntimeError(f"lstm_cell: hx must be a pair (h, c), got {len(hx)} tensors")
    h, c = hx
    a, b = _linear2(input, h, w_ih, w_hh, b_ih, b_hh)
    i, f, g, o = chunk(a + b, 4, -1)
    c2 = sigmoid(f) * c + sigmoid(i) * tanh(g)
    return sigmoid(o) * tanh(c2), c2


def gru_cell(
    input: Tensor,
    hx: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> Tensor:
    """One GRU step (torch.gru_cell): gates r, z, n, ``n = tanh(x_n + r * h_n)``,
    ``h' = (1 - z) * n + z * h``."""
    a, b = _linear2(input, hx, w_ih, w_hh, b_ih, b_hh)
    ar, az, an = chunk(a, 3, -1)
    br, bz, bn = chunk(b, 3, -1)
    r, z = sigmoid(ar + br), sigmoid(az + bz)
    n = tanh(an + r * bn)
    return (1 - z) * n + z * hx


def rnn_tanh_cell(
    input: Tensor,
    hx: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> Tensor:
    """One Elman step with tanh: ``tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``."""
    a, b = _linear2(input, hx, w_ih, w_hh, b_ih, b_hh)
    return tanh(a + b)


def rnn_relu_cell(
    input: Tensor,
    hx: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> Tensor:
    """One Elman step with ReLU: ``relu(x W_ih^T + b_ih + h W_hh^T + b_hh)``."""
    a, b = _linear2(input, hx, w_ih, w_hh, b_ih, b_hh)
    return F.relu(a + b)


__all__ = [
    "conv2d",
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "adaptive_avg_pool1d",
    "adaptive_max_pool1d",
    "batch_norm",
    "layer_norm",
    "group_norm",
    "instance_norm",
    "rms_norm",
    "dropout",
    "alpha_dropout",
    "feature_alpha_dropout",
    "embedding",
    "embedding_bag",
    "bilinear",
    "pixel_shuffle",
    "pixel_unshuffle",
    "channel_shuffle",
    "celu",
    "selu",
    "rrelu",
    "threshold",
    "hardshrink",
    "kl_div",
    "binary_cross_entropy_with_logits",
    "cosine_embedding_loss",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "poisson_nll_loss",
    "triplet_margin_loss",
    "affine_grid_generator",
    "grid_sampler",
    "constant_pad_nd",
    "detach",
    "fill",
    "lstm_cell",
    "gru_cell",
    "rnn_tanh_cell",
    "rnn_relu_cell",
]
