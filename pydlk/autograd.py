"""Reverse-mode automatic differentiation on NumPy (or CuPy) arrays.

``Tensor`` holds an array and, when it was computed from tensors that require grad, the graph
node that made it. ``Function`` is one differentiable op: ``forward(ctx, *arrays)`` computes with
plain arrays (usually by calling a ``pydlk._C`` kernel) and saves what ``backward(ctx, *grads)``
needs; ``backward`` returns one gradient (or None) per forward argument. ``Tensor.backward()``
walks the graph in reverse topological order and adds gradients into the leaves' ``.grad``.

A leaf may own a slot in an optimiser's flat gradient buffer (see ``pydlk/_arena.py``). Its
gradient is then written into that slot, so the optimiser's fused step sees every gradient in
one contiguous array without copying.
"""

from __future__ import annotations

import importlib
import sys
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np

from . import _arena, _grad_mode, _oom, _saved_hooks
from ._autograd_graph import RecordedNode, node_type
from ._backend import device_of, get_array_module, host_array, is_cupy
from ._device import default_device_str as _default_device
from ._device import device as _device
from ._device_check import check_same_device as _check_same_device
from ._device_check import scalar_to as _scalar_to
from ._dtype_infer import sequence_dtype
from ._grad_mode import (  # noqa: F401  (pydlk.autograd's names, as torch.autograd's)
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from ._legacy_types import tensor_ctor_data
from ._size import Size

if TYPE_CHECKING:
    from ._tensor_api import _TensorMethods as _TensorBase
    from ._typing import DTypeLike, TensorLike
else:
    _TensorBase = object  # the methods are attached by _tensor_methods.py

_F = TypeVar("_F", bound=Callable[..., Any])

# ----------------------------------------------------------------------------- grad mode
# is_grad_enabled, set_grad_enabled, no_grad, enable_grad, inference_mode: pydlk/_grad_mode.py

_anomaly = None  # the enabled anomaly-detection state (_anomaly.py), None when off


# ----------------------------------------------------------------------------- graph nodes


class Context:
    """What a Function's forward leaves for its backward."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.saved_tensors = ()

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    def __getattr__(self, name):  # saved_tensors, once saved-tensor hooks packed them
        if name == "saved_tensors" and "_packed" in self.__dict__:
            return _saved_hooks.unpack(self)
        raise AttributeError(f"'Context' object has no attribute '{name}'")

    def mark_non_differentiable(self, *tensors):
        """Outputs of a Function's forward that carry no gradient (torch's ``ctx`` method:
        indices, masks returned next to values)."""
        self._non_differentiable = tuple(getattr(t, "_data", t) for t in tensors)

    def mark_dirty(self, *tensors):
        """torch's in-place marker for inputs; accepted (the output is a new tensor anyway)."""

    def set_materialize_grads(self, value):
        """torch's switch for zero-filled gradients of unused outputs; zeros are always given."""


# True once an in-place op has been recorded in this process (ops/_helpers.py: _new_version);
# until then no node needs its inputs' versions, and none records them.
_inplace_seen = False


# Node: the recorded call of a Function, its class named as torch names it (``MulBackward0``);
# pydlk/_autograd_graph.py, which also holds torch's Node API (next_functions, hooks).
Node = RecordedNode


class Function:
    """A differentiable op. Subclasses define ``forward(ctx, *args)`` and ``backward(ctx, *grads)``
    as static methods and are called with ``Sub.apply(*args)``.

    A subclass written outside pydlk follows torch's protocol: forward and backward see and
    return Tensors, forward runs under ``no_grad``, ``ctx.save_for_backward`` keeps Tensors and
    ``ctx.mark_non_differentiable`` is honoured (``pydlk/_custom_function.py``). pydlk's own ops
    set ``array_io = True`` (the default for classes defined in the pydlk package): Tensors
    among ``args`` reach forward as their arrays, backward gets and returns arrays, and other
    arguments pass through unchanged."""

    array_io = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "array_io" not in cls.__dict__ and cls.__module__.split(".")[0] == "pydlk":
            cls.array_io = True
        cls._node_type = node_type(cls)  # its recorded calls' class (MulBackward0)

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    @staticmethod
    def setup_context(ctx, inputs, output):
        """torch 2's split form: a Function that defines it has ``forward(*args)`` called
        without ctx, then ``setup_context(ctx, args, result)`` to save what backward needs."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        if not cls.array_io:
            from ._custom_function import apply_tensor_io

            return apply_tensor_io(
                cls, args, Context(tuple(isinstance(a, Tensor) and a._requires_grad for a in args))
            )
        # One pass over the arguments (this runs for every op of every step): their arrays,
        # which need a gradient, and the Tensors among them for the graph.
        raw, needs, inputs = [], [], []
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a._data)
                needs.append(a._requires_grad)
                inputs.append(a)
            else:
                raw.append(a)
                needs.append(False)
                inputs.append(None)
        gpu = _check_same_device(cls.__name__, raw)
        if gpu is not None:  # 0-d CPU operands of a GPU op: copied there first (rare)
            args = tuple(_scalar_to(a, gpu) for a in args)
            inputs = [a if isinstance(a, Tensor) else None for a in args]
            raw = [a._data if isinstance(a, Tensor) else a for a in args]
            needs = [a._requires_grad if isinstance(a, Tensor) else False for a in args]
        record = True in needs and is_grad_enabled()
        ctx = Context(tuple(needs))
        try:
            out = cls.forward(ctx, *raw)
        except (MemoryError, RuntimeError) as e:  # CuPy's failed allocation: torch's class
            if (oom := _oom.cuda_oom(e)) is None:
                raise
            raise oom from e
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        # NumPy returns scalars for 0-d results; a Tensor always holds an array
        tensors = tuple(
            Tensor._wrap(np.asarray(o) if isinstance(o, np.generic) else o) for o in outs
        )
        node = None
        if record:
            if _saved_hooks.active:  # saved_tensors_hooks are open (on some thread)
                _saved_hooks.pack(ctx)
            node = cls._node_type(cls, ctx, inputs, tensors, _inplace_seen)
            for i, t in enumerate(tensors):
                if _differentiable(t._data.dtype):  # integer outputs (indices) carry none
                    t._requires_grad = True  # a fresh output: the setter's checks hold
                    t._node = (node, i)
                    node.outputs[i] = weakref.ref(t)
        if _anomaly is not None:  # detect_anomaly: see _anomaly.py
            _anomaly.forward(cls, tensors, node)
        return tensors[0] if single else tensors


# ----------------------------------------------------------------------------- the tensor


def _default_floats():
    """The default float and complex dtypes (pydlk.set_default_dtype; float32 and complex64
    until pydlk.ops.dtype_utils is loaded)."""
    m = sys.modules.get("pydlk.ops.dtype_utils")
    if m is None:
        return np.dtype(np.float32), np.dtype(np.complex64)
    return m.default_float(), m.default_complex()


def _default_dtype_array(data, dtype, xp):
    """torch.tensor's dtype rules: Python floats become the default dtype (float32 unless
    pydlk.set_default_dtype), ints int64, bools bool; an existing array keeps its dtype."""
    if dtype is not None:
        return xp.asarray(data, dtype=np.dtype(dtype) if xp is np else dtype)
    if hasattr(data, "dtype"):
        return xp.asarray(data)
    arr = np.asarray(data)
    if isinstance(data, (list, tuple)) and arr.dtype.kind in "biufc":
        inferred = sequence_dtype(data, _default_floats())
        if inferred is not None:  # NumPy scalars, arrays or Tensors inside: their dtypes
            return arr.astype(inferred)
    if arr.dtype == np.float64:
        arr = arr.astype(_default_floats()[0])
    elif arr.dtype == np.complex128:  # Python complex numbers: complex64, as torch
        arr = arr.astype(_default_floats()[1])
    elif arr.dtype.kind in "iu":
        arr = arr.astype(np.int64)
    return arr


def _to_numpy_refused(a):
    """torch's words when a GPU tensor is asked for a NumPy array."""
    return (
        f"can't convert cuda:{a.device.id} device type tensor to numpy. Use Tensor.cpu() to "
        "copy the tensor to host memory first."
    )


def _differentiable(dtype):
    """Floating (and complex) dtypes carry gradients; bfloat16 (ml_dtypes, kind 'V') is one."""
    return dtype.kind in "fc" or dtype.name == "bfloat16"


class Tensor(_TensorBase):
    """An array with an optional gradient: ``grad``, ``requires_grad``, ``data`` (torch's: a
    detached Tensor sharing memory). The NumPy (or CuPy) array it holds is ``np.asarray(t)``,
    ``t.numpy()`` or DLPack, without a copy; inside pydlk it is ``t._data``. ``Tensor()``,
    ``Tensor(2, 3)`` and ``Tensor(Size)`` are torch's legacy constructor (uninitialised, the
    default float dtype); one argument is data, its dtype kept (``_legacy_types``).

    Type promotion: ``+ - * / **``, maximum/minimum and where follow torch's rules
    (``ops/_promotion.py``: an integer tensor with a float tensor or a Python float gives the
    float dtype, 0-d tensors promote weakly); other ops follow NumPy's. In-place updates
    (``add_``, ``mul_``, ``exp_``, ``copy_``, ``t[key] = v``, ...) on a tensor of the graph are
    recorded as torch records them, but only where nothing else holds the tensor's memory (no
    view a variable names, no value a backward saved); otherwise, without torch's version
    counters, they are refused with a RuntimeError naming the op (clone() first, use the
    out-of-place op, or write under ``no_grad()``). ``normal_``, ``uniform_``, ``scatter_`` and
    a few others are refused on a tensor that requires grad while grad mode is on.
    """

    # The operators and op methods are not defined here: pydlk/_tensor_methods.py attaches them
    # (imported once by pydlk/__init__.py), taking them from pydlk/ops/. They are:
    #   operators (__x__): add radd sub rsub mul rmul truediv rtruediv pow rpow matmul rmatmul
    #       neg pos abs floordiv rfloordiv mod rmod eq ne lt le gt ge invert
    #       and rand or ror xor rxor lshift rlshift rshift rrshift getitem setitem iter contains
    #   augmented assignment (__x__): iadd isub imul itruediv idiv ifloordiv imod ipow iand ior
    #       ixor ilshift irshift
    #   arithmetic: add sub mul div pow neg abs exp log log1p sqrt rsqrt sin cos square reciprocal
    #       sign floor ceil round trunc clamp clip maximum minimum eq ne lt le gt ge floor_divide
    #       remainder isnan isinf isfinite logical_not allclose isclose masked_fill tril triu
    #       sinh cosh asinh acosh atanh clamp_min clamp_max lerp expm1 lgamma digamma erf erfc
    #       erfinv equal tan asin acos atan arcsin arccos arctan atan2 arctan2 hypot log2 log10
    #       exp2 sinc deg2rad rad2deg frac logit xlogy addcmul addcdiv logical_and logical_or
    #       logical_xor
    #   diagonals: diag diagonal trace
    #   in place: zero_ fill_ copy_ add_ sub_ mul_ div_ clamp_ clamp_min_ clamp_max_ masked_fill_
    #       fill_diagonal_ exp_ log_ log1p_ log2_ log10_ exp2_ expm1_ sqrt_ rsqrt_ square_
    #       reciprocal_ neg_ negative_ abs_ absolute_ sin_ cos_ tan_ asin_ arcsin_ acos_ arccos_
    #       atan_ arctan_ sinh_ cosh_ asinh_ acosh_ atanh_ tanh_ sigmoid_ relu_ erf_ erfc_
    #       erfinv_ sinc_ deg2rad_ rad2deg_ frac_ floor_ ceil_ trunc_ fix_ sign_ round_ logit_
    #       pow_ atan2_ arctan2_ hypot_ xlogy_ lerp_ clip_ addcmul_ addcdiv_
    #   products: matmul mm bmm mv dot outer t addmm addmv addbmm baddbmm
    #   linear algebra: inverse det logdet slogdet cholesky cholesky_solve cholesky_inverse svd qr
    #       pinverse matrix_exp matrix_power cross lu lu_solve triangular_solve geqrf orgqr ormqr
    #   reductions: sum mean prod max min amax amin argmax argmin var std norm logsumexp cumsum all
    #       any count_nonzero cumprod sum_to_size
    #   shape: reshape view flatten unflatten unsqueeze squeeze permute transpose swapaxes swapdims
    #       movedim moveaxis expand expand_as broadcast_to view_as reshape_as repeat flip contiguous
    #       is_contiguous clone split chunk unbind tile repeat_interleave take_along_dim diff
    #   selection: topk sort argsort gather scatter scatter_ scatter_add scatter_add_ index_select
    #       narrow scatter_reduce scatter_reduce_ index_add index_add_ masked_select unfold roll
    #       rot90
    #   statistics: quantile nanquantile median nanmedian kthvalue cummax cummin aminmax nansum
    #       nanmean nan_to_num histc
    #   counting: nonzero argwhere bincount unique
    #   draws: bernoulli multinomial bernoulli_ random_
    #   conversions: to float double half bfloat16 long int short byte char bool new_zeros
    #       new_ones new_empty new_full
    #       new_tensor cpu cuda type_as is_floating_point type format normal_ uniform_
    #       exponential_
    #   complex: cfloat cdouble conj conj_physical resolve_conj angle sgn is_complex is_conj
    #       is_neg resolve_neg
    #   spectral: stft istft
    #   activations: relu sigmoid tanh softmax log_softmax
    #   more shapes: ravel select take tensor_split hsplit vsplit dsplit
    #       split_with_sizes unsafe_split unsafe_chunk fliplr flipud diag_embed diagflat
    #       narrow_copy select_scatter slice_scatter diagonal_scatter
    #   index writes: index_copy index_copy_ index_fill index_fill_ index_put
    #       index_put_ masked_scatter masked_scatter_ put put_ index_reduce index_reduce_
    #   dtype tests: is_signed is_nonzero is_same_size
    #   conveniences: element_size nelement ndimension stride storage_offset
    #       where unsqueeze_ squeeze_ t_ transpose_ swapaxes_ swapdims_ tril_ triu_ cumsum_
    #       cumprod_ eq_ ne_ lt_ le_ gt_ ge_ logical_and_ logical_or_ logical_xor_
    #       logical_not_ lgamma_ digamma_ nan_to_num_ remainder_ floor_divide_
    #   more math: absolute negative positive divide true_divide multiply subtract greater
    #       greater_equal less less_equal not_equal arccosh arcsinh arctanh fix fmod fmax fmin
    #       copysign heaviside signbit isposinf isneginf isreal gcd lcm bitwise_and bitwise_or
    #       bitwise_xor bitwise_not bitwise_left_shift bitwise_right_shift logaddexp logaddexp2
    #       nextafter ldexp frexp float_power divide_ true_divide_ multiply_ subtract_ greater_
    #       greater_equal_ less_ less_equal_ not_equal_ arccosh_ arcsinh_ arctanh_ fmod_
    #       copysign_ heaviside_ gcd_ lcm_ bitwise_and_ bitwise_or_ bitwise_xor_ bitwise_not_
    #       bitwise_left_shift_ bitwise_right_shift_ nextafter_ ldexp_ float_power_
    #   special functions: i0 polygamma mvlgamma i0_ polygamma_ mvlgamma_
    #       igamma igammac igamma_ igammac_
    #   more tensor ops: vdot resize_ resize_as_ geometric_ cauchy_ log_normal_
    #   more statistics: logcumsumexp cov corrcoef msort mode unique_consecutive renorm dist
    #       kron inner histogram renorm_
    #   legacy and strided: addr addr_ addmm_ addmv_ addbmm_ baddbmm_ new resize resize_as
    #       new_empty_strided apply_ map_ map2_ sgn_ conj_physical_ prelu hardshrink adjoint
    #       nonzero_static dim_order const_data_ptr share_memory_ is_shared record_stream chalf
    #       as_strided as_strided_ as_strided_scatter eig lstsq solve symeig
    #   properties: T mT real imag nbytes itemsize is_cpu retains_grad mH H
    #   sparse: to_sparse to_dense is_sparse layout sparse_dim dense_dim coalesce is_coalesced
    #       indices values _indices _values _nnz
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator
    # (the signatures of the attached methods, for type checkers: pydlk/_tensor_api.pyi)

    _version = 0  # recorded in-place writes so far (torch's name; see Node.versions)
    _inference = False  # made inside inference_mode (is_inference)
    _data: Any  # a NumPy or CuPy array
    _grad: Any  # the gradient's array, or None
    _grad_t: Tensor | None  # the Tensor wrapper last returned by .grad
    _hooks: list[Callable[[Tensor], Tensor | None]] | None

    def __init__(self, *args: Any, requires_grad: bool = False, dtype: DTypeLike | None = None):
        data = args[0] if len(args) == 1 else None
        if isinstance(data, Tensor):
            data = data._data
        elif (legacy := tensor_ctor_data(args, dtype or _default_floats()[0])) is not None:
            data = legacy  # torch's legacy forms: Tensor(), Tensor(2, 3), Tensor(Size)
        xp = get_array_module(data)
        self._data = _default_dtype_array(data, dtype, xp)
        self._grad = None
        self._grad_t = None
        self._node = None
        self._hooks = None
        self._retain_grad = False
        self._requires_grad = False
        self.requires_grad = requires_grad
        if _grad_mode.inference_blocks and is_inference_mode_enabled():
            self._inference = True

    @classmethod
    def _wrap(cls, array: Any) -> Tensor:
        t = cls.__new__(cls)
        t._data = array
        t._grad = None
        t._grad_t = None
        t._node = None
        t._hooks = None
        t._retain_grad = False
        t._requires_grad = False
        if _grad_mode.inference_blocks and is_inference_mode_enabled():
            t._inference = True
        return t

    # -- requires_grad ----------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if value and not _differentiable(self._data.dtype):
            raise RuntimeError(
                f"requires_grad: only floating-point tensors can require "
                f"gradients, this one is {self._data.dtype}"
            )
        if not value and self._node is not None:
            raise RuntimeError(
                "requires_grad: cannot turn it off on a non-leaf tensor; use .detach()"
            )
        self._requires_grad = value

    @property
    def grad(self) -> Tensor | None:
        """The gradient as a Tensor (or None), sharing memory with the stored gradient -- the
        arena slot when an optimiser packed this tensor -- so ``p.grad.zero_()`` and
        ``p.grad.mul_(s)`` change the real gradient. The same wrapper is returned while the
        gradient array is unchanged, so ``p.grad is p.grad`` as in torch."""
        g = self._grad
        if g is None:
            return None
        w = self._grad_t
        if w is None or w._data is not g:
            w = Tensor._wrap(g)
            self._grad_t = w
        return w

    @grad.setter
    def grad(self, value: Tensor | np.ndarray | None) -> None:
        # None, a Tensor or an array. With an arena slot of the same shape and dtype the values
        # are copied into the slot, so the optimiser's flat gradient buffer stays in use.
        if value is None:
            self._grad = None
            self._grad_t = None
            return
        g = value._data if isinstance(value, Tensor) else value
        if not (isinstance(g, np.ndarray) or is_cupy(g)):
            g = np.asarray(g)  # a torch tensor or a nested list
        if g.shape != self._data.shape:
            raise RuntimeError(
                f"grad: assigned grad has data of a different size: "
                f"{tuple(g.shape)}, expected {tuple(self._data.shape)}"
            )
        slot = _arena.grad_slot(self)
        if slot is not None and g is not slot and slot.dtype == g.dtype:
            slot[...] = g
            g = slot
        self._grad = g
        self._grad_t = value if isinstance(value, Tensor) and value._data is g else None

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    def is_inference(self) -> bool:
        """Whether this tensor was made inside ``inference_mode()`` (torch's inference tensor)."""
        return self._inference

    @property
    def grad_fn(self) -> Any:
        """The node that made this tensor (``MulBackward0``: its ``next_functions``, hooks and
        ``metadata`` as torch's; pydlk/_autograd_graph.py), None for a leaf."""
        return self._node[0] if self._node is not None else None

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        self._retain_grad = True

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Any:
        """``hook(grad) -> new grad or None`` runs when this tensor's gradient is computed."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: tensor does not require grad")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        hooks = self._hooks

        class _Handle:
            def remove(self_):
                if hook in hooks:
                    hooks.remove(hook)

        return _Handle()

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> Any:
        """``hook(tensor)`` runs on a leaf after its gradient for this backward pass has been
        accumulated into ``.grad`` (torch's name; data-parallel training starts its gradient
        all-reduce from it)."""
        if not self.is_leaf:
            raise RuntimeError(
                "register_post_accumulate_grad_hook: only leaf tensors take "
                "post-accumulate-grad hooks"
            )
        hooks = self.__dict__.setdefault("_post_acc_hooks", [])
        hooks.append(hook)

        class _Handle:
            def remove(self_):
                if hook in hooks:
                    hooks.remove(hook)

        return _Handle()

    # -- the backward pass ------------------------------------------------------------
    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Tensor | list[Tensor] | tuple[Tensor, ...] | None = None,
    ) -> None:
        """torch's ``Tensor.backward``: see ``pydlk.autograd.backward``."""
        backward(self, gradient, retain_graph, create_graph, inputs)

    # -- views of the data ------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        """torch's ``.data``: a Tensor that shares this tensor's memory and is outside autograd
        (``requires_grad=False``), so ``p.data.add_(...)`` or ``p.data.mul_(0.5)`` change ``p``.
        The array itself is ``np.asarray(t)`` or ``t.detach().numpy()`` (no copy)."""
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value: Tensor | np.ndarray) -> None:
        # ``p.data = x``: x's values and shape become p's. A parameter an optimiser packed into
        # its arena keeps its slot when the shape and dtype agree (the values are copied in, so
        # the optimiser goes on stepping it; differs from torch, where p then aliases x); any
        # other value is rebound and leaves the arena (the optimiser no longer sees it).
        a = value._data if isinstance(value, Tensor) else value
        if not (isinstance(a, np.ndarray) or is_cupy(a)):
            a = np.asarray(a)
        slot = _arena.grad_slot(self)
        if slot is not None and a.shape == self._data.shape and a.dtype == self._data.dtype:
            if a is not self._data:
                self._data[...] = a
            return
        if slot is not None:
            _arena.unbind(self)
        self._data = a

    def detach(self) -> Tensor:
        return Tensor._wrap(self._data)

    def detach_(self) -> Tensor:
        self._node = None
        self._requires_grad = False
        return self

    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError(
                "numpy: can't call numpy() on a tensor that requires grad; "
                "use tensor.detach().numpy()"
            )
        if is_cupy(self._data):
            raise TypeError(_to_numpy_refused(self._data))
        return self._data

    def __array__(self, dtype: DTypeLike | None = None, copy: bool | None = None) -> np.ndarray:
        """The NumPy array itself (a CPU tensor); a GPU tensor refuses, as torch's does, rather
        than copy to the host behind the caller's back (``t.cpu()`` copies)."""
        if is_cupy(self._data):
            raise TypeError(_to_numpy_refused(self._data))
        a = self._data
        if dtype is not None:
            a = a.astype(dtype, copy=False)
        return np.array(a, copy=True) if copy else a

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._data.__dlpack_device__()

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        """An independent copy (values, grad, requires_grad; a Parameter stays one). A parameter
        packed by an optimiser copies its values out of the optimiser's buffers and is not in
        them: the copy belongs to no optimiser, as in torch. Non-leaf tensors refuse, as
        torch's do."""
        if self._node is not None:
            raise RuntimeError(
                "deepcopy: only tensors created explicitly by the user (graph leaves) support "
                "the deepcopy protocol; use .detach() first"
            )
        import copy

        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            if k not in ("_arena", "_grad_slot"):  # the optimiser's buffers stay behind
                setattr(new, k, copy.deepcopy(v, memo))
        return new

    def __getstate__(self) -> dict[str, Any]:
        """For pickle (``save`` of a whole Module): values, grad and requires_grad, without an
        optimiser's buffers or the graph (a non-leaf is stored as a leaf)."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_arena", "_grad_slot")}
        state["_node"] = None
        return state

    def pin_memory(self) -> Tensor:
        """This CPU tensor copied into page-locked host memory (CuPy's pinned allocator), so a
        ``.to('cuda', non_blocking=True)`` of it is asynchronous; itself when already pinned.
        Raises RuntimeError for a GPU tensor and, as torch does, without a GPU."""
        if is_cupy(self._data):
            raise RuntimeError("pin_memory: only CPU tensors can be pinned; this one is on a GPU")
        from ._pinned import pin_memory

        return pin_memory(self)

    def is_pinned(self) -> bool:
        """True when the array lives in pinned host memory (from ``pin_memory()``, or a view of
        such a tensor)."""
        from ._pinned import is_pinned_array

        return is_pinned_array(self._data)

    def data_ptr(self) -> int:
        """The address of the first element (the NumPy array's, or the CuPy array's on the GPU)."""
        a = self._data
        return int(a.data.ptr) if is_cupy(a) else int(a.__array_interface__["data"][0])

    def item(self) -> Any:
        if self._data.size != 1:
            raise ValueError(f"item: tensor has {self._data.size} elements, need exactly one")
        return self._data.reshape(-1)[0].item()

    def tolist(self) -> Any:
        return host_array(self._data).tolist()

    # -- metadata ---------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return tuple.__new__(Size, self._data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def device(self) -> _device:
        return _device(device_of(self._data))

    @property
    def is_cuda(self) -> bool:
        return is_cupy(self._data)

    def get_device(self) -> int:
        """The CUDA device index, -1 on the CPU (torch's)."""
        return self._data.device.id if is_cupy(self._data) else -1

    def dim(self) -> int:
        return self._data.ndim

    @overload
    def size(self, dim: None = None) -> Size: ...
    @overload
    def size(self, dim: int) -> int: ...
    def size(self, dim: int | None = None) -> Size | int:
        return tuple.__new__(Size, self._data.shape) if dim is None else self._data.shape[dim]

    def numel(self) -> int:
        return int(self._data.size)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __repr__(self) -> str:
        from ._tensor_str import tensor_repr  # torch's layout and notation

        return tensor_repr(self)

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError("bool: a tensor with more than one element is ambiguous")
        return bool(self._data.reshape(-1)[0])

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu":
            raise TypeError("only integer tensors can be used as an index")
        return int(self.item())

    __hash__ = object.__hash__  # tensors are hashable by identity, as in torch

    # -- the in-place rule ---------------------------------------------------------------
    # With nothing to record, in-place updates write into the tensor's own array: they are how
    # optimisers, init and torch code's ``p.data.add_(...)`` / ``p.grad.zero_()`` change
    # values. The arithmetic ones (ops/inplace.py, ops/inplace_math.py), assignments and fills
    # are recorded on graph tensors where nothing else holds the memory (ops/_helpers.py:
    # _sole_holder); the rest (normal_, uniform_, scatter_, ...) are refused while grad mode is
    # on (_check_inplace_write) rather than let backward read changed values.
    def _check_inplace(self, op):
        if self.requires_grad and self.is_leaf and is_grad_enabled():
            raise RuntimeError(
                f"{op}: a leaf tensor that requires grad is being used in an "
                "in-place operation; wrap it in pydlk.no_grad()"
            )

    def _check_inplace_write(self, op, *operands, hint="use the out-of-place op"):
        """Refuse, while grad mode is on, an in-place write that the graph would not see: into a
        leaf that requires grad, into a non-leaf that requires grad (nodes that saved its array
        would compute wrong gradients), or from an operand that requires grad (its gradient
        would be dropped). Under ``no_grad()`` every write is allowed, as in torch."""
        if not is_grad_enabled():
            return
        self._check_inplace(op)
        if self.requires_grad:
            raise RuntimeError(
                f"{op}: in place into a tensor that is part of the autograd graph is not "
                f"supported (its backward may need the values it holds); {hint}, clone() it "
                "first, or write under pydlk.no_grad()"
            )
        if any(isinstance(o, Tensor) and o.requires_grad for o in operands):
            raise RuntimeError(
                f"{op}: an operand requires grad and an in-place op does not record it; "
                "pass it .detach(), or use the out-of-place op"
            )


# ----------------------------------------------------------------------------- engine


# The engine (backward, grad) is pydlk/_engine.py, imported at the end of this file.


def _on_device(arr, device):
    """``arr`` on ``device`` (None: where it is), copied only when it has to move."""
    if device is None:
        return arr
    from .ops.conversions import _device_str, _move, _parse_device

    dev = _parse_device(device)
    return arr if dev == _device_str(arr) else _move(arr, dev)


def tensor(
    data: TensorLike | Any,
    dtype: DTypeLike | None = None,
    requires_grad: bool = False,
    *,
    device: Any = None,
    pin_memory: bool = False,
) -> Tensor:
    """A new leaf tensor (copies ``data``, as torch.tensor does), on ``device`` if given, else
    on the default device if ``pydlk.set_default_device`` set one, else where ``data`` is
    (``pin_memory`` is accepted and ignored: use ``.pin_memory()`` on the result)."""
    if isinstance(data, Tensor):
        data = data._data
    xp = get_array_module(data)
    arr = xp.array(_default_dtype_array(data, dtype, xp), copy=True)
    device = _default_device() if device is None else device
    return Tensor(_on_device(arr, device), requires_grad=requires_grad)


def as_tensor(data: TensorLike | Any, dtype: DTypeLike | None = None, device: Any = None) -> Tensor:
    """A tensor that shares memory with ``data`` where it can (no copy for a matching array on
    ``device``; None: the default device if ``pydlk.set_default_device`` set one)."""
    device = _default_device() if device is None else device
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)):
        return data if device is None else data.to(device)
    t = Tensor(data, dtype=dtype)
    return t if device is None else Tensor(_on_device(t._data, device))


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing memory with the NumPy array ``array``. Raises TypeError for anything
    else.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def from_dlpack(obj: Any) -> Tensor:
    """A tensor sharing memory with any DLPack producer (a torch tensor, a NumPy/CuPy array)."""
    dev = obj.__dlpack_device__()[0] if hasattr(obj, "__dlpack_device__") else 1
    if dev == 1:  # kDLCPU
        return Tensor(np.from_dlpack(obj))
    import cupy

    return Tensor(cupy.from_dlpack(obj))


from ._anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly  # noqa: E402,F401
from ._engine import backward, grad, no_double_backward  # noqa: E402,F401

backward, grad = _oom.maps_cuda_oom(backward), _oom.maps_cuda_oom(grad)  # OutOfMemoryError

# torch.autograd.functional: jacobian, hessian, vjp, jvp, hvp, vhp. Registered as a submodule
# so that ``from pydlk.autograd.functional import hessian`` works as in torch. (It imports grad
# from this module, so it comes after the engine.)
from .gradcheck import gradcheck, gradgradcheck  # noqa: E402,F401

functional = importlib.import_module(".._autograd_functional", __name__)
sys.modules[__name__ + ".functional"] = functional

# torch.autograd.graph (Node, the nodes' API), registered as a submodule as torch's
graph = importlib.import_module(".._autograd_graph", __name__)
sys.modules[__name__ + ".graph"] = graph

# torch.autograd.forward_ad (dual tensors by the double-vjp trick), as torch's submodule
forward_ad = sys.modules[__name__ + ".forward_ad"] = importlib.import_module(
    ".._forward_ad", __name__
)

# torch.autograd.function (Function, FunctionCtx, once_differentiable) and torch's deprecated
# Variable, registered as submodules as torch's (pydlk/_autograd_function.py)
function = importlib.import_module(".._autograd_function", __name__)
variable = sys.modules[__name__ + ".function"] = sys.modules[__name__ + ".variable"] = function
Variable, once_differentiable = function.Variable, function.once_differentiable
