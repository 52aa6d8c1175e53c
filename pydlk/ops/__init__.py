"""Differentiable tensor operators (arithmetic, matmul, reductions, shape ops, indexing),
conversions and factories, under torch's names, argument names and defaults.

Each op is a ``Function`` with forward and backward side by side, written with
``xp = get_array_module(x)`` (NumPy or CuPy) so both devices share them. Backward passes undo
broadcasting (``_unbroadcast``) and hand each input a gradient of its own dtype.

One module per topic: ``arithmetic``, ``comparison``, ``hyperbolic``, ``products``,
``einsum``, ``reductions``, ``shape``, ``diagonal`` (diag, trace), ``special`` (erf, erfc,
erfinv, expm1, lgamma, digamma, lerp), ``indexing``, ``selection`` (sort, topk, gather,
scatter), ``scatter_extra`` (index_add, scatter_reduce, masked_select), ``statistics``
(quantile, median, kthvalue, cummax, nan-aware reductions, histc, searchsorted), ``counting``
(nonzero, bincount, unique), ``distance`` (cdist), ``draws``
(bernoulli, multinomial, poisson), ``joining``, ``conversions``, ``factories``,
``activations``, ``inplace`` (``_helpers`` holds what they share). The functions listed in
``__all__`` become ``pydlk.<name>``;
``pydlk/_tensor_methods.py`` attaches them to ``Tensor`` as methods and operators. Some carry
the builtins' names (sum, max, min, abs, all, any, round, pow; bool, float and int are served by
``__getattr__`` below); inside the package the builtins are reached as ``_b.sum``, ... .

Where pydlk differs from torch:

* Type promotion is NumPy's (NEP 50): ``float32 + Python float`` stays float32, as in torch, but
  ``int64 / int64`` and ``int64 * 0.5`` give float64 where torch gives float32.
* Bad arguments raise ``ValueError``/``TypeError`` (torch: ``RuntimeError``); a dim out of range
  raises ``IndexError`` as in torch.
* ``view`` is ``reshape``: it copies a non-contiguous tensor instead of refusing it.
* No version counters: modifying in place (``x[...] = v``, ``x += 1`` under ``no_grad``) a tensor
  that an op saved for its backward silently changes that backward. In-place ops on a tensor that
  is part of the graph, or on a leaf that requires grad, are refused while grad mode is on, except
  the overwrites ``x[key] = v``, ``masked_fill_`` and ``fill_diagonal_``, recorded as torch
  records them (their backward reads none of the values they replace).
* Elementwise ops never warn (log(0) is -inf, 0/0 is nan), as in torch.
* ``topk(..., sorted=False)`` and ``unique(..., sorted=False)`` still return sorted values (torch
  leaves the order open); ``bincount`` is differentiable in its weights (torch refuses);
  ``einsum`` promotes operands of different dtypes (torch refuses them); ``gather``'s
  ``sparse_grad`` is accepted and ignored (dense gradient).
* ``scatter_``/``scatter_add_`` and the in-place samplers (``normal_``,
  ``uniform_``, ``exponential_``) write the data outside the graph: refused on a tensor that
  requires grad while grad mode is on.
"""

from .activations import log_softmax, relu, sigmoid, softmax, tanh
from .arithmetic import (
    abs,
    add,
    ceil,
    clamp,
    clamp_max,
    clamp_min,
    clip,
    cos,
    div,
    exp,
    floor,
    log,
    log1p,
    masked_fill,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    reciprocal,
    round,
    rsqrt,
    sign,
    sin,
    sqrt,
    square,
    sub,
    tril,
    triu,
    trunc,
    where,
)
from .comparison import (
    allclose,
    eq,
    equal,
    floor_divide,
    ge,
    gt,
    isclose,
    isfinite,
    isinf,
    isnan,
    le,
    logical_not,
    lt,
    ne,
    remainder,
)
from .conversions import (
    _DTYPE_ALIASES,
    complex64,
    complex128,
    double,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    uint8,
)
from .counting import argwhere, bincount, nonzero, unique
from .diagonal import diag, diagonal, trace
from .distance import cdist
from .draws import bernoulli, multinomial, poisson
from .einsum import einsum
from .factories import (
    arange,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    get_default_device,
    is_tensor,
    linspace,
    normal,
    numel,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    set_default_device,
    zeros,
    zeros_like,
)
from .hyperbolic import acosh, asinh, atanh, cosh, sinh
from .joining import (
    cat,
    chunk,
    concat,
    concatenate,
    hstack,
    meshgrid,
    split,
    stack,
    unbind,
    vstack,
)
from .products import bmm, dot, matmul, mm, mv, outer
from .reductions import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    count_nonzero,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    return_types,
    std,
    sum,
    var,
)
from .scatter_extra import index_add, masked_select, scatter_reduce
from .selection import (
    argsort,
    gather,
    index_select,
    narrow,
    scatter,
    scatter_add,
    sort,
    topk,
)
from .shape import (
    broadcast_to,
    clone,
    expand,
    flatten,
    flip,
    moveaxis,
    movedim,
    permute,
    reshape,
    roll,
    rot90,
    squeeze,
    swapaxes,
    swapdims,
    t,
    transpose,
    unflatten,
    unsqueeze,
    view,
)
from .special import digamma, erf, erfc, erfinv, expm1, lerp, lgamma
from .statistics import (
    aminmax,
    bucketize,
    cummax,
    cummin,
    histc,
    kthvalue,
    median,
    nan_to_num,
    nanmean,
    nanmedian,
    nanquantile,
    nansum,
    quantile,
    searchsorted,
    std_mean,
    var_mean,
)


# bool, float and int (torch.bool, torch.float, torch.int) are served here so that no module of
# the package shadows the builtins of the same names.
def __getattr__(name):
    if name in _DTYPE_ALIASES:
        return _DTYPE_ALIASES[name]
    if name == "bfloat16":  # made on first use: importing ml_dtypes takes seconds
        from .conversions import bfloat16_dtype

        return bfloat16_dtype()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    # arithmetic
    "add",
    "sub",
    "mul",
    "div",
    "pow",
    "neg",
    "abs",
    "exp",
    "log",
    "log1p",
    "sqrt",
    "rsqrt",
    "sin",
    "cos",
    "square",
    "reciprocal",
    "sign",
    "floor",
    "ceil",
    "round",
    "trunc",
    "clamp",
    "clip",
    "maximum",
    "minimum",
    "where",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "floor_divide",
    "remainder",
    "isnan",
    "isinf",
    "isfinite",
    "logical_not",
    "allclose",
    "isclose",
    "masked_fill",
    "tril",
    "triu",
    "sinh",
    "cosh",
    "asinh",
    "acosh",
    "atanh",
    "clamp_min",
    "clamp_max",
    "equal",
    "lerp",
    "expm1",
    "lgamma",
    "digamma",
    "erf",
    "erfc",
    "erfinv",
    # diagonals
    "diag",
    "diagonal",
    "trace",
    # products
    "matmul",
    "mm",
    "bmm",
    "mv",
    "dot",
    "outer",
    "t",
    "einsum",
    # selection
    "topk",
    "sort",
    "argsort",
    "gather",
    "scatter",
    "scatter_add",
    "index_select",
    "narrow",
    # data-sized outputs
    "nonzero",
    "argwhere",
    "bincount",
    "unique",
    "bernoulli",
    "multinomial",
    "poisson",
    # distances
    "cdist",
    # reductions
    "sum",
    "mean",
    "prod",
    "max",
    "min",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "var",
    "std",
    "norm",
    "logsumexp",
    "cumsum",
    "all",
    "any",
    "count_nonzero",
    "return_types",
    # shape
    "reshape",
    "view",
    "flatten",
    "unflatten",
    "unsqueeze",
    "squeeze",
    "permute",
    "transpose",
    "swapaxes",
    "swapdims",
    "movedim",
    "moveaxis",
    "expand",
    "broadcast_to",
    "flip",
    "clone",
    "cat",
    "concat",
    "concatenate",
    "stack",
    "hstack",
    "vstack",
    "split",
    "chunk",
    "unbind",
    "meshgrid",
    # dtypes
    "float16",
    "half",
    "float32",
    "float64",
    "double",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "long",
    "complex64",
    "complex128",
    "bool",
    "float",
    "int",
    # factories
    "zeros",
    "ones",
    "empty",
    "full",
    "zeros_like",
    "ones_like",
    "empty_like",
    "full_like",
    "arange",
    "linspace",
    "eye",
    "rand",
    "randn",
    "randint",
    "randint_like",
    "randperm",
    "rand_like",
    "randn_like",
    "numel",
    "is_tensor",
    "normal",
    "set_default_device",
    "get_default_device",
    # activations
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    # scatter_extra
    "index_add",
    "masked_select",
    "scatter_reduce",
    # shape (windows, rotations)
    "roll",
    "rot90",
    # statistics
    "aminmax",
    "bucketize",
    "cummax",
    "cummin",
    "histc",
    "kthvalue",
    "median",
    "nan_to_num",
    "nanmean",
    "nanmedian",
    "nanquantile",
    "nansum",
    "quantile",
    "searchsorted",
    "std_mean",
    "var_mean",
]
