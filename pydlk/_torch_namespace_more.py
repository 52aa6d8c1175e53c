"""More of torch's top-level spellings: the in-place function forms (``torch.abs_(x)``,
``torch.clamp_(x, min, max)``, ``torch.zero_(x)``, ... ``torch.selu_``, ``torch.dropout_``,
``torch.embedding_renorm_``) and functional ops under torch's top-level names and argument
orders (``torch.conv3d``, ``conv_transpose3d``, ``max_pool3d``, ``max_pool1d_with_indices``,
``ctc_loss``, ``convolution``, ``native_layer_norm``, ``native_batch_norm``,
``native_group_norm``).

The in-place forms that are Tensor methods are made from the one list ``_METHOD_FORMS``: each
is ``input.<name>(...)``, the method itself (recorded on a graph tensor as the methods are),
returning ``input``. A NumPy or CuPy array is wrapped without a copy, so its own memory
changes; anything else is a TypeError, as torch's. Those without a Tensor method
(``selu_``, ``celu_``, ``rrelu_``, ``threshold_``, the dropouts, ``embedding_renorm_``) call
``pydlk.functional`` with ``inplace=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from . import functional as F
from ._backend import get_array_module, is_cupy
from ._torch_namespace import _empty_stride, _reduction
from .autograd import Tensor, is_grad_enabled

_METHOD_FORMS = """
abs_ acos_ acosh_ asin_ asinh_ atan_ atanh_ arccos_ arccosh_ arcsin_ arcsinh_ arctan_ arctanh_
ceil_ clamp_ clamp_max_ clamp_min_ clip_ cos_ cosh_ deg2rad_ erf_ erfc_ exp2_ exp_ expm1_ fill_
fix_ floor_ frac_ gcd_ i0_ lcm_ ldexp_ log10_ log1p_ log2_ log_ logit_ nan_to_num_ neg_ negative_
rad2deg_ reciprocal_ relu_ round_ rsqrt_ sigmoid_ sin_ sinc_ sinh_ sqrt_ square_ tan_ tanh_
trunc_ xlogy_ zero_ detach_ index_put_ resize_as_ conj_physical_
""".split()


def _tensor(input: Any, op: str) -> Tensor:
    """``input`` as a Tensor: a Tensor itself, an array wrapped over its own memory."""
    if isinstance(input, Tensor):
        return input
    if isinstance(input, np.ndarray) or is_cupy(input):
        return Tensor._wrap(input)
    raise TypeError(
        f"{op}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}"
    )


def _method_form(name: str) -> Callable[..., Tensor]:
    def fn(input: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return cast(Tensor, getattr(_tensor(input, name), name)(*args, **kwargs))

    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = __name__
    fn.__doc__ = f"torch.{name}(input, ...): ``input.{name}(...)`` in place; returns ``input``."
    return fn


for _name in _METHOD_FORMS:
    globals()[_name] = _method_form(_name)
del _name


def selu_(input: Tensor) -> Tensor:
    """torch.selu_: ``F.selu(input, inplace=True)``."""
    return F.selu(_tensor(input, "selu_"), inplace=True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """torch.celu_: ``F.celu(input, alpha, inplace=True)``."""
    return F.celu(_tensor(input, "celu_"), alpha, inplace=True)


def rrelu_(
    input: Tensor,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    generator: Any = None,
) -> Tensor:
    """torch.rrelu_: ``F.rrelu(..., inplace=True)`` (``generator`` accepted; pydlk's draws)."""
    return F.rrelu(_tensor(input, "rrelu_"), lower, upper, training, inplace=True)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """torch.threshold_: ``value`` where ``input <= threshold``, in place."""
    return F.threshold(_tensor(input, "threshold_"), threshold, value, inplace=True)


def dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.dropout_(input, p, train): ``F.dropout(..., inplace=True)``."""
    return F.dropout(_tensor(input, "dropout_"), p, train, inplace=True)


def alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.alpha_dropout_(input, p, train): ``F.alpha_dropout(..., inplace=True)``."""
    return F.alpha_dropout(_tensor(input, "alpha_dropout_"), p, train, inplace=True)


def feature_alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.feature_alpha_dropout_(input, p, train): whole channels, in place."""
    x = _tensor(input, "feature_alpha_dropout_")
    return F.feature_alpha_dropout(x, p, train, inplace=True)


def _feature_dropout(input: Tensor, p: float, train: bool, inplace: bool, op: str) -> Tensor:
    from .functional.activation_extra import _maybe_inplace
    from .functional.dropout import _check_p
    from .ops.factories import empty

    p = _check_p(p, op)
    x = _tensor(input, op)
    if not train or p == 0.0:
        return x
    if x.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    shape = tuple(x.shape[:2]) + (1,) * (x.ndim - 2)
    keep = empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1 - p)
    scale = keep if p == 1.0 else keep / (1 - p)
    return _maybe_inplace(x, op, inplace, lambda t: t * scale)


def feature_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.feature_dropout(input, p, train): each channel ``input[n, c]`` (of (N, C, *)) is
    zeroed with probability ``p``, kept ones scaled by ``1/(1-p)``; at least 2 dims."""
    return _feature_dropout(input, p, train, False, "feature_dropout")


def feature_dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    """torch.feature_dropout_: ``feature_dropout`` written into ``input``."""
    return _feature_dropout(input, p, train, True, "feature_dropout")


def embedding_renorm_(input: Tensor, indices: Tensor, max_norm: float, norm_type: float) -> Tensor:
    """torch.embedding_renorm_: each row of the weight ``input`` named in ``indices`` whose
    ``norm_type``-norm exceeds ``max_norm`` is scaled in place to norm ``max_norm`` (by
    ``max_norm / (norm + 1e-7)``); returns ``input``. Refused on a weight that requires grad
    while grad mode is on, as torch's in-place ops on a leaf."""
    from .functional.embedding import _renorm_rows

    w = _tensor(input, "embedding_renorm_")
    if w.requires_grad and is_grad_enabled():
        raise RuntimeError(
            "embedding_renorm_: a leaf Variable that requires grad is being used in an in-place "
            "operation."
        )
    idx = indices._data if isinstance(indices, Tensor) else indices
    if w.ndim != 2:
        raise RuntimeError(f"embedding_renorm_: weight must be 2-D, got {w.ndim}-D")
    if getattr(idx, "size", 0):
        _renorm_rows(w._data, idx, float(max_norm), float(norm_type))
    return w


# -- functional ops under torch's top-level names

conv3d = F.conv3d
conv_transpose3d = F.conv_transpose3d


def max_pool3d(
    input: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = (),
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
) -> Tensor:
    """torch.max_pool3d: F.max_pool3d without indices (``stride=()``: the kernel size)."""
    return cast(
        Tensor,
        F.max_pool3d(input, kernel_size, _empty_stride(stride), padding, dilation, ceil_mode),
    )


def max_pool1d_with_indices(
    input: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = (),
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
) -> tuple[Tensor, Tensor]:
    """torch.max_pool1d_with_indices: ``(output, indices)`` of F.max_pool1d."""
    size: Any = kernel_size
    out = F.max_pool1d(
        input,
        size,
        cast(Any, _empty_stride(stride)),
        cast(Any, padding),
        cast(Any, dilation),
        ceil_mode,
        return_indices=True,
    )
    return cast(tuple[Tensor, Tensor], out)


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
    reduction: int | str = 0,
    zero_infinity: bool = False,
) -> Tensor:
    """torch.ctc_loss: F.ctc_loss with ``reduction`` as torch's enum int (0 none, 1 mean,
    2 sum). Its default is 0, the per-sample losses: torch's signature text reads Mean, but
    torch 2.13's binding applies 0 when the argument is left out, and pydlk does what torch
    does."""
    r = _reduction(reduction, "ctc_loss")
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, r, zero_infinity)


def _expand_param(v: Sequence[int] | int, n: int, name: str) -> tuple[int, ...]:
    t = (int(v),) if isinstance(v, (int, np.integer)) else tuple(int(e) for e in v)
    if len(t) == 1:
        return t * n
    if len(t) != n:
        raise RuntimeError(
            f"convolution: expected {name} to be a single integer value or a list of {n} values "
            f"to match the convolution dimensions, but got {name}={list(t)}"
        )
    return t


_CONV: tuple[Callable[..., Tensor], ...] = (F.conv1d, F.conv2d, F.conv3d)
_CONV_T: tuple[Callable[..., Tensor], ...] = (
    F.conv_transpose1d,
    F.conv_transpose2d,
    F.conv_transpose3d,
)


def convolution(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool,
    output_padding: Sequence[int],
    groups: int,
) -> Tensor:
    """torch.convolution: the 1-, 2- or 3-d convolution (or, ``transposed``, transposed
    convolution) that ``weight``'s rank picks, every argument required; one-element lists
    stand for every spatial dim, as torch's."""
    n = weight.ndim - 2
    if n not in (1, 2, 3):
        raise RuntimeError(
            f"convolution: expected a weight of 3, 4 or 5 dims, got {weight.ndim} "
            f"(shape {tuple(weight.shape)})"
        )
    st, pd = _expand_param(stride, n, "stride"), _expand_param(padding, n, "padding")
    dl = _expand_param(dilation, n, "dilation")
    if transposed:
        opd = _expand_param(output_padding, n, "output_padding")
        return _CONV_T[n - 1](input, weight, bias, st, pd, opd, groups, dl)
    return _CONV[n - 1](input, weight, bias, st, pd, dl, groups)


def _stats(x: Tensor, dims: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor]:
    """Mean and 1/sqrt(biased var + eps) over ``dims`` (kept), without gradient, in x's dtype."""
    a = x.detach()._data
    acc = a.astype(np.float64) if a.dtype != np.float64 else a
    mean = acc.mean(axis=dims, keepdims=True)
    var = ((acc - mean) ** 2).mean(axis=dims, keepdims=True)
    rstd = 1.0 / (var + eps) ** 0.5
    return Tensor._wrap(mean.astype(a.dtype)), Tensor._wrap(rstd.astype(a.dtype))


def native_layer_norm(
    input: Tensor,
    normalized_shape: Sequence[int],
    weight: Tensor | None,
    bias: Tensor | None,
    eps: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """torch.native_layer_norm: ``(output, mean, rstd)``, the statistics over the last
    ``len(normalized_shape)`` dims kept as size-1 dims (no gradient); the output is
    F.layer_norm's, differentiable."""
    shape = tuple(int(s) for s in normalized_shape)
    out = F.layer_norm(input, shape, weight, bias, eps)
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    mean, rstd = _stats(input, dims, eps)
    return out, mean, rstd


def native_batch_norm(
    input: Tensor,
    weight: Tensor | None,
    bias: Tensor | None,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """torch.native_batch_norm: ``(output, save_mean, save_invstd)``; in training the batch's
    per-channel mean and 1/sqrt(biased var + eps) (no gradient; the running statistics are
    updated as F.batch_norm updates them), in evaluation two empty tensors, as torch's."""
    out = F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    if not training:
        xp = get_array_module(input._data)
        return out, Tensor._wrap(xp.empty(0, input.dtype)), Tensor._wrap(xp.empty(0, input.dtype))
    dims = (0, *range(2, input.ndim))
    mean, rstd = _stats(input, dims, eps)
    return out, mean.reshape(-1), rstd.reshape(-1)


def native_group_norm(
    input: Tensor,
    weight: Tensor | None,
    bias: Tensor | None,
    N: int,
    C: int,
    HxW: int,
    group: int,
    eps: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """torch.native_group_norm: ``(output, mean, rstd)`` with the statistics of each (sample,
    group) as (N, group) tensors (no gradient); the output is F.group_norm's."""
    if input.shape[0] != N or input.shape[1] != C or input.numel() != N * C * HxW:
        raise RuntimeError(
            f"native_group_norm: input of shape {tuple(input.shape)} does not match N={N}, "
            f"C={C}, HxW={HxW}"
        )
    out = F.group_norm(input, group, weight, bias, eps)
    mean, rstd = _stats(input.reshape(N, group, -1), (2,), eps)
    return out, mean.reshape(N, group), rstd.reshape(N, group)


__all__ = [
    *_METHOD_FORMS,
    "selu_",
    "celu_",
    "rrelu_",
    "threshold_",
    "dropout_",
    "alpha_dropout_",
    "feature_alpha_dropout_",
    "feature_dropout",
    "feature_dropout_",
    "embedding_renorm_",
    "conv3d",
    "conv_transpose3d",
    "max_pool3d",
    "max_pool1d_with_indices",
    "ctc_loss",
    "convolution",
    "native_layer_norm",
    "native_batch_norm",
    "native_group_norm",
]
