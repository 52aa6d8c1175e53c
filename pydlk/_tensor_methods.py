"""The one place where the operators of ``pydlk.ops`` become methods and operators of ``Tensor``
(``x + y``, ``x.sum()``, ``x[i]``, ``x.T``, ``x.relu()``, ...).

``pydlk/__init__.py`` imports this module once, after ``autograd`` and ``ops``; ``autograd``
defines ``Tensor`` without knowing the operators, so the import graph stays a tree:
``autograd`` <- ``ops`` <- ``functional`` and ``autograd``, ``ops`` <- ``_tensor_methods``.
"""

import numpy as np

from . import ops
from .autograd import Tensor
from .linalg import _toplevel as _linalg
from .ops import dtype_utils as _dtype_utils
from .ops import index_more as _index_more
from .ops import shape_more as _shape_more
from .ops import tensor_compat as _tensor_compat
from .ops import tensor_more as _tensor_more
from .ops._helpers import _arr, _nograd, _s, _xp
from .ops._promotion import promote
from .ops.arithmetic import (
    Abs,
    Add,
    Div,
    Mul,
    Neg,
    Pow,
    Sub,
)
from .ops.comparison import (
    eq,
    floor_divide,
    ge,
    gt,
    le,
    logical_not,
    lt,
    ne,
    remainder,
)
from .ops.conversions import (
    _bfloat16_method,
    _cast_method,
    _cpu,
    _cuda,
    _format,
    _is_floating_point,
    _type,
    _type_as,
    float16,
    float32,
    float64,
    int32,
    int64,
    to,
)
from .ops.diagonal import _fill_diagonal_
from .ops.draws import _bernoulli_, _random_
from .ops.factories import (
    _exponential_,
    _new_full,
    _new_method,
    _new_tensor,
    _normal_,
    _uniform_,
    empty,
    ones,
    zeros,
)
from .ops.indexing import _getitem, _iter, _setitem
from .ops.inplace import (
    add_,
    augmented,
    clamp_,
    clamp_max_,
    clamp_min_,
    copy_,
    div_,
    fill_,
    masked_fill_,
    mul_,
    sub_,
    zero_,
)
from .ops.inplace_math import (
    abs_,
    acos_,
    acosh_,
    addcdiv_,
    addcmul_,
    arctan2_,
    asin_,
    asinh_,
    atan2_,
    atan_,
    atanh_,
    ceil_,
    clip_,
    cos_,
    cosh_,
    deg2rad_,
    erf_,
    erfc_,
    erfinv_,
    exp2_,
    exp_,
    expm1_,
    floor_,
    frac_,
    hypot_,
    lerp_,
    log1p_,
    log2_,
    log10_,
    log_,
    logit_,
    neg_,
    pow_,
    rad2deg_,
    reciprocal_,
    relu_,
    round_,
    rsqrt_,
    sigmoid_,
    sign_,
    sin_,
    sinc_,
    sinh_,
    sqrt_,
    square_,
    tan_,
    tanh_,
    trunc_,
    xlogy_,
)
from .ops.joining import _split_method
from .ops.products import matmul
from .ops.scatter_extra import _index_add_, _scatter_, _scatter_add_, _scatter_reduce_
from .ops.shape import (
    _T,
    _contiguous,
    _is_contiguous,
    _mT,
    _repeat,
    _sum_to_size,
    _unfold,
    expand,
    flip,
    reshape,
)
from .ops.shape_extra import _tile_method
from .sparse import _methods as _sparse_methods
from .sparse._tensor import refuse_dense_methods as _sparse_refuse


def _eq(self, other):
    return False if other is None else eq(self, other)


def _ne(self, other):
    return True if other is None else ne(self, other)


def _bitwise(ufunc_name, reflected=False):
    def op(self, other):
        a, b = (_arr(other), self._data) if reflected else (self._data, _arr(other))
        return _nograd(getattr(_xp(a, b), ufunc_name)(a, b))

    return op


# Methods that are the public op of the same name (``x.sum(dim)`` is ``pydlk.sum(x, dim)``),
# taken from pydlk.ops by name.
_SAME_NAME_METHODS = """
add sub mul div pow neg abs exp log log1p sqrt rsqrt sin cos square reciprocal sign floor
ceil round trunc clamp clip maximum minimum eq ne lt le gt ge floor_divide remainder isnan
isinf isfinite logical_not allclose isclose masked_fill tril triu sinh cosh asinh acosh
atanh matmul mm bmm mv dot outer t sum mean prod max min amax amin argmax argmin var std
norm logsumexp cumsum all any count_nonzero reshape view flatten unflatten unsqueeze
squeeze permute transpose swapaxes swapdims movedim moveaxis expand broadcast_to clone
chunk unbind topk sort argsort gather scatter scatter_add index_select narrow relu
sigmoid tanh softmax log_softmax nonzero argwhere bincount unique bernoulli multinomial
diag diagonal trace equal clamp_min clamp_max lerp expm1 lgamma digamma erf erfc erfinv
roll rot90 index_add masked_select scatter_reduce quantile nanquantile median nanmedian
kthvalue cummax cummin aminmax nansum nanmean nan_to_num histc
tan asin acos atan arcsin arccos arctan atan2 arctan2 hypot log2 log10 exp2 sinc deg2rad
rad2deg frac logit xlogy addcmul addcdiv logical_and logical_or logical_xor addmm addmv
addbmm baddbmm cumprod repeat_interleave take_along_dim diff
""".split()

# Operators, and methods that differ from the op of the same name.
_methods = {
    # arithmetic
    # torch's type promotion first (ops/_promotion.py: int with float gives the float dtype)
    "__add__": lambda self, other: Add.apply(*promote(self, _s(other))),
    "__radd__": lambda self, other: Add.apply(*promote(_s(other), self)),
    "__sub__": lambda self, other: Sub.apply(*promote(self, _s(other))),
    "__rsub__": lambda self, other: Sub.apply(*promote(_s(other), self)),
    "__mul__": lambda self, other: Mul.apply(*promote(self, _s(other))),
    "__rmul__": lambda self, other: Mul.apply(*promote(_s(other), self)),
    "__truediv__": lambda self, other: Div.apply(*promote(self, _s(other), True)),
    "__rtruediv__": lambda self, other: Div.apply(*promote(_s(other), self, True)),
    "__pow__": lambda self, other: Pow.apply(*promote(self, _s(other))),
    "__rpow__": lambda self, other: Pow.apply(*promote(_s(other), self)),
    "__matmul__": lambda self, other: matmul(self, other),
    "__rmatmul__": lambda self, other: matmul(other, self),
    "__neg__": lambda self: Neg.apply(self),
    "__pos__": lambda self: self,
    "__abs__": lambda self: Abs.apply(self),
    "__floordiv__": floor_divide,
    "__rfloordiv__": lambda self, other: floor_divide(other, self),
    "__mod__": remainder,
    "__rmod__": lambda self, other: remainder(other, self),
    "__eq__": _eq,
    "__ne__": _ne,
    "__lt__": lt,
    "__le__": le,
    "__gt__": gt,
    "__ge__": ge,
    "__invert__": lambda self: (
        logical_not(self) if self.dtype == np.bool_ else _nograd(_xp(self._data).invert(self._data))
    ),
    "__and__": _bitwise("bitwise_and"),
    "__rand__": _bitwise("bitwise_and", True),
    "__or__": _bitwise("bitwise_or"),
    "__ror__": _bitwise("bitwise_or", True),
    "__xor__": _bitwise("bitwise_xor"),
    "__rxor__": _bitwise("bitwise_xor", True),
    "__lshift__": lambda self, other: ops.bitwise_left_shift(self, other),
    "__rlshift__": lambda self, other: ops.bitwise_left_shift(other, self),
    "__rshift__": lambda self, other: ops.bitwise_right_shift(self, other),
    "__rrshift__": lambda self, other: ops.bitwise_right_shift(other, self),
    "__getitem__": _getitem,
    "__setitem__": _setitem,
    "__iter__": _iter,
    # in place
    "zero_": zero_,
    "fill_": fill_,
    "copy_": copy_,
    "add_": add_,
    "sub_": sub_,
    "mul_": mul_,
    "div_": div_,
    "clamp_": clamp_,
    "clamp_min_": clamp_min_,
    "clamp_max_": clamp_max_,
    "masked_fill_": masked_fill_,
    "fill_diagonal_": _fill_diagonal_,
    "exp_": exp_,
    "log_": log_,
    "log1p_": log1p_,
    "log2_": log2_,
    "log10_": log10_,
    "exp2_": exp2_,
    "expm1_": expm1_,
    "sqrt_": sqrt_,
    "rsqrt_": rsqrt_,
    "square_": square_,
    "reciprocal_": reciprocal_,
    "neg_": neg_,
    "negative_": neg_,
    "abs_": abs_,
    "absolute_": abs_,
    "sin_": sin_,
    "cos_": cos_,
    "tan_": tan_,
    "asin_": asin_,
    "arcsin_": asin_,
    "acos_": acos_,
    "arccos_": acos_,
    "atan_": atan_,
    "arctan_": atan_,
    "sinh_": sinh_,
    "cosh_": cosh_,
    "asinh_": asinh_,
    "acosh_": acosh_,
    "atanh_": atanh_,
    "tanh_": tanh_,
    "sigmoid_": sigmoid_,
    "relu_": relu_,
    "erf_": erf_,
    "erfc_": erfc_,
    "erfinv_": erfinv_,
    "sinc_": sinc_,
    "deg2rad_": deg2rad_,
    "rad2deg_": rad2deg_,
    "frac_": frac_,
    "floor_": floor_,
    "ceil_": ceil_,
    "trunc_": trunc_,
    "fix_": trunc_,
    "sign_": sign_,
    "round_": round_,
    "logit_": logit_,
    "pow_": pow_,
    "atan2_": atan2_,
    "arctan2_": arctan2_,
    "hypot_": hypot_,
    "xlogy_": xlogy_,
    "lerp_": lerp_,
    "clip_": clip_,
    "addcmul_": addcmul_,
    "addcdiv_": addcdiv_,
    # products
    # linear algebra (pydlk/linalg/_toplevel.py: torch's top-level names)
    "inverse": _linalg.inverse,
    "det": _linalg.det,
    "logdet": _linalg.logdet,
    "slogdet": _linalg.slogdet,
    "cholesky": _linalg.cholesky,
    "cholesky_solve": _linalg.cholesky_solve,
    "cholesky_inverse": _linalg.cholesky_inverse,
    "svd": _linalg.svd,
    "qr": _linalg.qr,
    "pinverse": _linalg.pinverse,
    "matrix_exp": _linalg.matrix_exp,
    "matrix_power": _linalg.matrix_power,
    "cross": _linalg.cross,
    "lu": _linalg.lu,
    "lu_solve": _linalg.lu_solve,
    "triangular_solve": _linalg.triangular_solve,
    "geqrf": _linalg.geqrf,
    "orgqr": _linalg.orgqr,
    "ormqr": _linalg.ormqr,
    # reductions
    # shape
    "expand_as": lambda self, other: expand(self, other.shape),
    "view_as": lambda self, other: reshape(self, other.shape),
    "reshape_as": lambda self, other: reshape(self, other.shape),
    "repeat": _repeat,
    "tile": _tile_method,
    "flip": lambda self, *dims: flip(
        self, dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    ),
    "contiguous": _contiguous,
    "is_contiguous": _is_contiguous,
    "sum_to_size": _sum_to_size,
    "split": _split_method,
    # selection
    "scatter_": _scatter_,
    "scatter_add_": _scatter_add_,
    "scatter_reduce_": _scatter_reduce_,
    "index_add_": _index_add_,
    "unfold": _unfold,
    # conversions
    "to": to,
    "float": _cast_method(float32),
    "double": _cast_method(float64),
    "half": _cast_method(float16),
    "bfloat16": _bfloat16_method,
    "long": _cast_method(int64),
    "int": _cast_method(int32),
    "bool": _cast_method(np.dtype(np.bool_)),
    "cfloat": _cast_method(np.dtype(np.complex64)),
    "cdouble": _cast_method(np.dtype(np.complex128)),
    # complex tensors
    "conj": ops.conj,
    "conj_physical": ops.conj_physical,
    "resolve_conj": ops.resolve_conj,
    "angle": ops.angle,
    "sgn": ops.sgn,
    "is_complex": ops.is_complex,
    # the short-time Fourier transform
    "stft": ops.stft,
    "istft": ops.istft,
    "new_zeros": _new_method(zeros),
    "new_ones": _new_method(ones),
    "new_empty": _new_method(empty),
    "new_full": _new_full,
    "new_tensor": _new_tensor,
    "cpu": _cpu,
    "cuda": _cuda,
    "type_as": _type_as,
    "is_floating_point": _is_floating_point,
    "type": _type,
    "__format__": _format,
    "normal_": _normal_,
    "uniform_": _uniform_,
    "exponential_": _exponential_,
    "bernoulli_": _bernoulli_,
    "random_": _random_,
    # activations (pydlk.functional)
}

# shape_more, index_more, dtype_utils, tensor_more, tensor_compat (short, byte, char,
# __contains__, view(dtype)): each module's TENSOR_METHODS (and tensor_more's
# TENSOR_PROPERTIES, attached as properties: nbytes, itemsize, is_cpu, retains_grad, mH, H)
for _mod in (_shape_more, _index_more, _dtype_utils, _tensor_more, _tensor_compat):
    _methods.update(_mod.TENSOR_METHODS)
_methods.update({_n: property(_f) for _n, _f in _tensor_more.TENSOR_PROPERTIES.items()})
del _mod

# torch's further math, special and statistics methods (ops/math_more.py, special_more.py,
# special_extra.py, stats_more.py, tensor_extra.py: each module's TENSOR_METHODS, in-place
# variants included); the in-place products and addr (products_inplace.py), the legacy and
# layout methods (tensor_legacy.py: new, resize, apply_, as_strided, dim_order, ...) and the
# removed eig/lstsq/solve/symeig, which raise torch's migration messages (linalg_removed.py)
_methods.update(
    {
        k: v
        for m in (
            ops.math_more,
            ops.special_more,
            ops.special_extra,
            ops.stats_more,
            ops.tensor_extra,
            ops.products_inplace,
            ops.tensor_legacy,
            ops.linalg_removed,
        )
        for k, v in m.TENSOR_METHODS.items()
    }
)

# Python's augmented assignments (x += y, x &= y, x //= y, ...) are torch's in-place methods
# (x.add_(y), ...), so another reference to x sees the change (ops/inplace.py: augmented)
for _op, (_ip, _oop) in {
    "__iadd__": ("add_", "__add__"),
    "__isub__": ("sub_", "__sub__"),
    "__imul__": ("mul_", "__mul__"),
    "__itruediv__": ("div_", "__truediv__"),
    "__idiv__": ("div_", "__truediv__"),
    "__ifloordiv__": ("floor_divide_", "__floordiv__"),
    "__imod__": ("remainder_", "__mod__"),
    "__ipow__": ("pow_", "__pow__"),
    "__iand__": ("bitwise_and_", "__and__"),
    "__ior__": ("bitwise_or_", "__or__"),
    "__ixor__": ("bitwise_xor_", "__xor__"),
    "__ilshift__": ("bitwise_left_shift_", "__lshift__"),
    "__irshift__": ("bitwise_right_shift_", "__rshift__"),
}.items():
    _methods[_op] = augmented(_op, _methods[_ip], _methods[_oop])
del _op, _ip, _oop

# sparse COO (pydlk/sparse/_methods.py): to_sparse, to_dense, is_sparse, layout, sparse_dim,
# ... of a dense tensor; SparseTensor defines its own
_methods.update(_sparse_methods.TENSOR_METHODS)

for _name in _SAME_NAME_METHODS:
    setattr(Tensor, _name, getattr(ops, _name))
for _name, _fn in _methods.items():
    setattr(Tensor, _name, _fn)
Tensor.T = property(_T)
Tensor.mT = property(_mT)
Tensor.real = _tensor_compat.TENSOR_PROPERTIES["real"]  # assignable: z.real = v
Tensor.imag = _tensor_compat.TENSOR_PROPERTIES["imag"]
del _name, _fn
_sparse_refuse()  # SparseTensor: a refusal naming each Tensor method it does not support
