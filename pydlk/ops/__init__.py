"""Differentiable tensor operators (arithmetic, matmul, reductions, shape ops, indexing),
conversions and factories, under torch's names, argument names and defaults.

Each op is a ``Function`` with forward and backward side by side, written with
``xp = get_array_module(x)`` (NumPy or CuPy) so both devices share them. Backward passes undo
broadcasting (``_unbroadcast``) and hand each input a gradient of its own dtype.

One module per topic: ``arithmetic``, ``comparison``, ``hyperbolic``, ``products``,
``einsum``, ``complex_ops`` (real, imag, conj, angle, polar, view_as_real), ``windows``
(hann_window, ...), ``spectral`` (stft, istft), ``reductions``,
``shape``, ``diagonal`` (diag, trace), ``special`` (erf, erfc, erfinv, expm1, lgamma, digamma,
lerp), ``indexing``, ``selection`` (sort, topk, gather,
scatter), ``scatter_extra`` (index_add, scatter_reduce, masked_select), ``statistics``
(quantile, median, kthvalue, cummax, nan-aware reductions, histc, searchsorted), ``counting``
(nonzero, bincount, unique), ``distance`` (cdist), ``draws``
(bernoulli, multinomial, poisson), ``joining``, ``conversions``, ``factories``,
``activations``, ``inplace`` and ``inplace_math`` (recorded in-place ops), ``math_extra``
(tan, asin, log2, logit, xlogy, atan2, hypot, addcmul, ...), ``cumulative`` (cumprod),
``shape_extra`` (repeat_interleave, tile, take_along_dim, diff, block_diag, cartesian_prod,
tril_indices), ``math_more`` (absolute, fmod, fmax, copysign,
bitwise ops, logaddexp, frexp, ...), ``special_more`` (i0, polygamma, mvlgamma),
``special_extra`` (igamma, igammac, and torch.special's i0e, zeta, ndtri, Bessel functions,
...), ``tensor_extra`` (vdot, resize_, geometric_, cauchy_, log_normal_), ``stats_more``
(logcumsumexp, cov, corrcoef, mode, histogram, kron, ...), ``calculus`` (trapezoid, gradient),
``shape_more`` (tensor_split, diag_embed, select_scatter, ...),
``index_more`` (index_copy, index_put, masked_scatter, put, index_reduce),
``dtype_utils`` (default dtype, promote_types, asarray, logspace, print options),
``tensor_more`` (Tensor conveniences: stride, nbytes, unsqueeze_, eq_, ...), ``strided``
(as_strided, as_strided_scatter), ``products_inplace`` (addr, addmm_, baddbmm_, ...),
``tensor_legacy`` (Tensor.new, resize, apply_, nonzero_static, dim_order, share_memory_, ...),
``linalg_removed`` (torch's removed eig/lstsq/solve/symeig, chain_matmul), ``misc_more``
(binomial, histogramdd) and ``view_copies`` (the ``*_copy`` view variants)
(``_helpers`` holds what they share). The functions listed in
``__all__`` become ``pydlk.<name>``;
``pydlk/_tensor_methods.py`` attaches them to ``Tensor`` as methods and operators. Some carry
the builtins' names (sum, max, min, abs, all, any, round, pow; bool, float and int are served by
``__getattr__`` below); inside the package the builtins are reached as ``_b.sum``, ... .

Where pydlk differs from torch:

* Type promotion is torch's (``_promotion``: ``int64 / int64`` and ``int64 * 0.5`` are float32,
  ``sin`` of an integer tensor the default float dtype); ops torch refuses for mixed dtypes
  (``matmul``, ``dot``, ``tensordot``, ``einsum`` of int64 with float32) promote as NumPy does.
* Bad arguments raise ``ValueError``/``TypeError`` (torch: ``RuntimeError``); a dim out of range
  raises ``IndexError`` as in torch.
* ``view`` is ``reshape``: it copies a non-contiguous tensor instead of refusing it.
* No version counters: modifying in place under ``no_grad`` a tensor that an op saved for its
  backward silently changes that backward. While grad mode is on, in-place ops on a tensor of
  the graph (``add_``, ``mul_``, ``exp_``, ``x[key] = v``, ``masked_fill_``, ...) are recorded as
  torch records them where nothing else holds the tensor's memory, and refused (naming the op)
  where something does (a view of it that a variable still names, a value a backward saved:
  torch would raise at backward when that value is needed); a leaf that requires grad is
  refused, as in torch.
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
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    ne,
    remainder,
)
from .complex_ops import (
    angle,
    complex,
    conj,
    conj_physical,
    imag,
    is_complex,
    polar,
    real,
    resolve_conj,
    sgn,
    view_as_complex,
    view_as_real,
)
from .conversions import (
    _DTYPE_ALIASES,
    cdouble,
    cfloat,
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
from .cumulative import cumprod
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
from .math_extra import (
    acos,
    addcdiv,
    addcmul,
    arccos,
    arcsin,
    arctan,
    arctan2,
    asin,
    atan,
    atan2,
    deg2rad,
    exp2,
    frac,
    hypot,
    log2,
    log10,
    logit,
    rad2deg,
    sinc,
    tan,
    xlogy,
)
from .products import (
    addbmm,
    addmm,
    addmv,
    baddbmm,
    bmm,
    dot,
    matmul,
    mm,
    mv,
    outer,
    tensordot,
)
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
from .shape_extra import (
    block_diag,
    cartesian_prod,
    diff,
    repeat_interleave,
    take_along_dim,
    tile,
    tril_indices,
    triu_indices,
)
from .special import digamma, erf, erfc, erfinv, expm1, lerp, lgamma
from .spectral import istft, stft
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
from .triangular import tril, triu
from .windows import (
    bartlett_window,
    blackman_window,
    hamming_window,
    hann_window,
    kaiser_window,
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
    # complex tensors
    "real",
    "imag",
    "conj",
    "conj_physical",
    "resolve_conj",
    "angle",
    "sgn",
    "polar",
    "complex",
    "view_as_real",
    "view_as_complex",
    "is_complex",
    # windows and the short-time Fourier transform
    "hann_window",
    "hamming_window",
    "blackman_window",
    "bartlett_window",
    "kaiser_window",
    "stft",
    "istft",
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
    "cfloat",
    "cdouble",
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
    # math_extra
    "acos",
    "addcdiv",
    "addcmul",
    "arccos",
    "arcsin",
    "arctan",
    "arctan2",
    "asin",
    "atan",
    "atan2",
    "deg2rad",
    "exp2",
    "frac",
    "hypot",
    "log10",
    "log2",
    "logit",
    "rad2deg",
    "sinc",
    "tan",
    "xlogy",
    "logical_and",
    "logical_or",
    "logical_xor",
    # products
    "addbmm",
    "addmm",
    "addmv",
    "baddbmm",
    "tensordot",
    # cumulative, shape_extra
    "cumprod",
    "block_diag",
    "cartesian_prod",
    "diff",
    "repeat_interleave",
    "take_along_dim",
    "tile",
    "tril_indices",
    "triu_indices",
]

# torch's further namespace functions, exported whole: each module's __all__ becomes pydlk.<name>
from . import (  # noqa: E402
    calculus,
    dtype_utils,
    index_more,
    linalg_removed,
    math_more,
    memory_formats,
    misc_more,
    products_inplace,
    shape_more,
    special_extra,
    special_more,
    stats_more,
    strided,
    tensor_extra,
    tensor_legacy,
    view_copies,
)
from .calculus import *  # noqa: E402,F401,F403
from .dtype_utils import *  # noqa: E402,F401,F403
from .index_more import *  # noqa: E402,F401,F403
from .linalg_removed import *  # noqa: E402,F401,F403
from .math_more import *  # noqa: E402,F401,F403
from .memory_formats import *  # noqa: E402,F401,F403
from .misc_more import *  # noqa: E402,F401,F403
from .products_inplace import *  # noqa: E402,F401,F403
from .shape_more import *  # noqa: E402,F401,F403
from .special_extra import *  # noqa: E402,F401,F403
from .special_more import *  # noqa: E402,F401,F403
from .stats_more import *  # noqa: E402,F401,F403
from .strided import *  # noqa: E402,F401,F403
from .tensor_extra import *  # noqa: E402,F401,F403
from .tensor_legacy import *  # noqa: E402,F401,F403
from .view_copies import *  # noqa: E402,F401,F403

__all__ += [
    n
    for m in (
        calculus,
        dtype_utils,
        index_more,
        linalg_removed,
        math_more,
        memory_formats,
        misc_more,
        products_inplace,
        shape_more,
        special_extra,
        special_more,
        stats_more,
        strided,
        tensor_extra,
        tensor_legacy,
        view_copies,
    )
    for n in m.__all__
]
