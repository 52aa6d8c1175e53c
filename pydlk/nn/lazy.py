"""LazyLinear, LazyConv1d/2d/3d, LazyConvTranspose1d/2d/3d, LazyBatchNorm1d/2d/3d and
LazyInstanceNorm1d/2d/3d: the input
size is taken from the first forward, as torch's lazy modules do. Until then the weights are
UninitializedParameter placeholders; the first forward materialises them in place (the same
Parameter objects, so references held elsewhere stay valid), runs torch's initialisation and
turns the module into its ordinary class (LazyLinear becomes Linear, ...).

An optimiser created before the first forward works, as in torch: it packed the empty
placeholders into its flat arena, so materialising re-packs that parameter group's arena (the
other parameters keep their values and optimiser state). ``load_state_dict`` materialises a
lazy module (itself or a submodule) from the state_dict's shapes first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .._arena import owning_arena
from .._backend import get_array_module
from .._typing import DeviceLike, DTypeLike, _size_1_t, _size_2_t
from ..autograd import Tensor
from ._util import dtype_of
from .conv import Conv2d
from .conv_extra import Conv1d, ConvTranspose1d, ConvTranspose2d
from .linear import Linear
from .module import Module
from .normalization import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
)
from .parameter import Parameter
from .volumetric import Conv3d, ConvTranspose3d

__all__ = [
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
    "LazyLinear",
    "LazyModuleMixin",
    "UninitializedBuffer",
    "UninitializedParameter",
]


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet (an empty placeholder until materialised)."""

    def __init__(
        self,
        requires_grad: bool = True,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(
            np.empty(0, dtype_of(dtype)),
            requires_grad=requires_grad,
        )

    def __repr__(self):
        return "<UninitializedParameter>"

    def materialize(
        self, shape, device: DeviceLike | None = None, dtype: DTypeLike | None = None
    ) -> None:
        """Give the parameter an (uninitialised) array of ``shape``; it becomes a Parameter."""
        dt = self._data.dtype if dtype is None else np.dtype(dtype)
        arena = owning_arena(self)
        self._data = np.empty(tuple(int(s) for s in shape), dt)
        self.grad = None
        self.__class__ = Parameter  # type: ignore[assignment]  # becomes a Parameter in place
        if arena is not None:
            _repack(arena)


class UninitializedBuffer(Tensor):
    """A buffer whose shape is not known yet."""

    def __init__(self, dtype: DTypeLike | None = None) -> None:
        super().__init__(np.empty(0, dtype_of(dtype)))

    def materialize(
        self, shape, device: DeviceLike | None = None, dtype: DTypeLike | None = None
    ) -> None:
        dt = self._data.dtype if dtype is None else np.dtype(dtype)
        self._data = np.empty(tuple(int(s) for s in shape), dt)
        self.__class__ = Tensor  # type: ignore[assignment]  # becomes a Tensor in place


def _repack(arena):
    """Rebuild the arenas of the optimiser group that ``arena`` belongs to (a placeholder in it
    changed size), carrying over the step count and the state of every parameter that kept it."""
    from .._arena import Arena as _Arena

    opt = arena.owner
    gi = next(i for i, arenas in enumerate(opt._arenas) if any(a is arena for a in arenas))
    group, old = opt.param_groups[gi], opt._arenas[gi]
    saved = {}
    for a in old:
        for i, p in enumerate(a.params):
            saved[id(p)] = (
                a.step,
                {k: buf[a.offsets[i] : a.offsets[i + 1]].copy() for k, buf in a.state.items()},
            )
    trainable = [p for p in group["params"] if p.requires_grad]
    new = []
    for dt in (np.float32, np.float64):
        sub = [p for p in trainable if p._data.dtype == dt]
        if not sub:
            continue
        a = _Arena(sub, dt, opt)
        opt._init_arena(a, group)
        for i, p in enumerate(sub):
            step, states = saved.get(id(p), (0, {}))
            a.step = max(a.step, step)
            for k, v in states.items():
                if k not in a.state:
                    a.new_state(k)
                if v.size == p._data.size:  # a parameter that kept its size keeps its state
                    a.state[k][a.offsets[i] : a.offsets[i + 1]] = v
        new.append(a)
    opt._arenas[gi] = new


class LazyModuleMixin:
    """Materialise on the first call: ``_infer(input)`` gives the sizes, ``_materialize`` makes
    the parameters, then the module becomes ``cls_to_become``."""

    cls_to_become: type[Module] | None = None
    if TYPE_CHECKING:  # provided by the Module class the mixin is combined with
        _parameters: dict[str, Any]
        _buffers: dict[str, Any]
        _min_ndim: int

        def _infer(self, input: Tensor) -> Any: ...
        def _size_from_state(self, state_dict: Mapping[str, Any]) -> Any: ...

    def has_uninitialized_params(self) -> bool:
        return any(
            isinstance(t, (UninitializedParameter, UninitializedBuffer))
            for t in list(self._parameters.values()) + list(self._buffers.values())
        )

    def initialize_parameters(self, input: Tensor) -> None:
        if input.ndim < self._min_ndim:
            raise ValueError(
                f"{type(self).__name__}: expected an input with at least "
                f"{self._min_ndim} dimensions to infer its size, got shape "
                f"{tuple(input.shape)}"
            )
        self._materialize(self._infer(input))
        xp = get_array_module(input._data if isinstance(input, Tensor) else input)
        if xp is not np:  # a GPU input: the new weights go to its device (initialised on CPU)
            for t in list(self._parameters.values()) + list(self._buffers.values()):
                if t is not None and isinstance(t._data, np.ndarray):
                    t._data = xp.asarray(t._data)

    def _call_impl(self, *args, **kwargs):
        if self.has_uninitialized_params():
            if not args:
                raise TypeError(
                    f"{type(self).__name__}: the first call needs the input as its "
                    "first positional argument (to infer its size)"
                )
            self.initialize_parameters(args[0])
        # not super(): the module may have just become its ordinary class
        return Module._call_impl(self, *args, **kwargs)

    __call__ = _call_impl  # Module binds __call__ to its own _call_impl

    def _materialize(self, size):
        self._set_size(size)
        for name, t in list(self._parameters.items()) + list(self._buffers.items()):
            if isinstance(t, (UninitializedParameter, UninitializedBuffer)):
                t.materialize(self._shape_of(name, size))
        self.reset_parameters()
        if self.cls_to_become is not None:
            self.__class__ = self.cls_to_become

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        """Materialise from the shapes under ``prefix`` first (torch's lazy load pre-hook), so
        a lazy module loads wherever it sits in the model."""
        args = (state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys)
        cls = type(self)
        if self.has_uninitialized_params():
            own = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
            size = self._size_from_state(own)
            if size is not None:
                self._materialize(size)
        if type(self) is not cls:  # now its ordinary class, which super() no longer reaches
            return type(self)._load_from_state_dict(self, *args, error_msgs)
        return super()._load_from_state_dict(*args, error_msgs)  # type: ignore[misc]


def _shape(v):
    return tuple((v._data if isinstance(v, Tensor) else np.asarray(v)).shape)


class LazyLinear(LazyModuleMixin, Linear):
    """Linear whose in_features is the last dimension of the first input."""

    cls_to_become = Linear
    _min_ndim = 1

    def __init__(
        self,
        out_features: int,
        bias: bool = True,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(0, out_features, bias, dtype=dtype)
        self.weight = UninitializedParameter(dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def _infer(self, input):
        return input.shape[-1]

    def _set_size(self, n):
        self.in_features = int(n)

    def _shape_of(self, name, n):
        return (self.out_features, n) if name == "weight" else (self.out_features,)

    def _size_from_state(self, sd):
        w = sd.get("weight")
        return None if w is None else _shape(w)[1]


class _LazyConvMixin(LazyModuleMixin):
    def _lazy_init(self, bias, dtype):
        self.in_channels = 0
        self.weight = UninitializedParameter(dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def _infer(self, input):
        return input.shape[1] if input.ndim == self._min_ndim + 1 else input.shape[0]

    def _set_size(self, c):
        if c % self.groups:
            raise ValueError(
                f"{type(self).__name__}: the input has {c} channels, not divisible "
                f"by groups={self.groups}"
            )
        self.in_channels = int(c)

    def _shape_of(self, name, c):
        if name == "weight":
            return (self.out_channels, c // self.groups) + tuple(self.kernel_size)
        return (self.out_channels,)

    def _size_from_state(self, sd):
        w = sd.get("weight")
        return None if w is None else _shape(w)[1] * self.groups


class LazyConv1d(_LazyConvMixin, Conv1d):
    """Conv1d whose in_channels is taken from the first input."""

    cls_to_become = Conv1d
    _min_ndim = 2

    def __init__(
        self,
        out_channels: int,
        kernel_size: _size_1_t,
        stride: _size_1_t = 1,
        padding: _size_1_t | str = 0,
        dilation: _size_1_t = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(
            groups,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            dtype=dtype,
        )
        self._lazy_init(bias, dtype)


class LazyConv2d(_LazyConvMixin, Conv2d):
    """Conv2d whose in_channels is taken from the first input."""

    cls_to_become = Conv2d
    _min_ndim = 3

    def __init__(
        self,
        out_channels: int,
        kernel_size: _size_2_t,
        stride: _size_2_t = 1,
        padding: _size_2_t | str = 0,
        dilation: _size_2_t = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(
            groups,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            dtype=dtype,
        )
        self._lazy_init(bias, dtype)


class _LazyNormMixin(LazyModuleMixin):
    _min_ndim = 2

    def _lazy_init(self, dtype):
        self.num_features = 0
        if self.affine:
            self.weight = UninitializedParameter(dtype=dtype)
            self.bias = UninitializedParameter(dtype=dtype)
        if self.track_running_stats:
            self.running_mean = UninitializedBuffer(dtype=dtype)
            self.running_var = UninitializedBuffer(dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def _infer(self, input):
        return input.shape[1]

    def _set_size(self, c):
        self.num_features = int(c)

    def _shape_of(self, name, c):
        return (c,)

    def _size_from_state(self, sd):
        for k in ("weight", "running_mean"):
            if k in sd:
                return _shape(sd[k])[0]
        return None


class LazyBatchNorm1d(_LazyNormMixin, BatchNorm1d):
    """BatchNorm1d whose num_features is dimension 1 of the first input."""

    cls_to_become = BatchNorm1d

    def __init__(
        self,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(1, eps, momentum, affine, track_running_stats, dtype=dtype)
        self._lazy_init(dtype)


class LazyBatchNorm2d(_LazyNormMixin, BatchNorm2d):
    """BatchNorm2d whose num_features is dimension 1 of the first input."""

    cls_to_become = BatchNorm2d

    def __init__(
        self,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(1, eps, momentum, affine, track_running_stats, dtype=dtype)
        self._lazy_init(dtype)


class LazyBatchNorm3d(_LazyNormMixin, BatchNorm3d):
    """BatchNorm3d whose num_features is dimension 1 of the first input."""

    cls_to_become = BatchNorm3d

    def __init__(
        self,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(1, eps, momentum, affine, track_running_stats, dtype=dtype)
        self._lazy_init(dtype)


class _LazyInstanceNormMixin(_LazyNormMixin):
    def _infer(self, input):
        # the channel dimension: 1 of a batched input, 0 of an unbatched one
        return input.shape[input.ndim - self._spatial - 1]


def _lazy_instance_norm(base):
    class LazyInstanceNorm(_LazyInstanceNormMixin, base):
        cls_to_become = base
        _min_ndim = base._spatial + 1

        def __init__(
            self,
            eps: float = 1e-5,
            momentum: float = 0.1,
            affine: bool = True,  # torch's lazy instance norms default to both True
            track_running_stats: bool = True,
            device: DeviceLike | None = None,
            dtype: DTypeLike | None = None,
        ) -> None:
            super().__init__(1, eps, momentum, affine, track_running_stats, dtype=dtype)
            self._lazy_init(dtype)

    name = "Lazy" + base.__name__
    LazyInstanceNorm.__name__ = LazyInstanceNorm.__qualname__ = name
    LazyInstanceNorm.__doc__ = f"{base.__name__} whose num_features is taken from the first input."
    return LazyInstanceNorm


LazyInstanceNorm1d = _lazy_instance_norm(InstanceNorm1d)
LazyInstanceNorm2d = _lazy_instance_norm(InstanceNorm2d)
LazyInstanceNorm3d = _lazy_instance_norm(InstanceNorm3d)


class LazyConv3d(_LazyConvMixin, Conv3d):
    """Conv3d whose in_channels is taken from the first input."""

    cls_to_become = Conv3d
    _min_ndim = 4

    def __init__(
        self,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(
            groups,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            dtype=dtype,
        )
        self._lazy_init(bias, dtype)


class _LazyConvTransposeMixin(_LazyConvMixin):
    """The transposed layout: weight (in_channels, out_channels / groups, *kernel_size)."""

    def _shape_of(self, name, c):
        if name == "weight":
            return (c, self.out_channels // self.groups) + tuple(self.kernel_size)
        return (self.out_channels,)

    def _size_from_state(self, sd):
        w = sd.get("weight")
        return None if w is None else _shape(w)[0]


def _lazy_conv_transpose(base, n):
    class LazyConvTranspose(_LazyConvTransposeMixin, base):
        cls_to_become = base
        _min_ndim = n + 1

        def __init__(
            self,
            out_channels: int,
            kernel_size: Any,
            stride: Any = 1,
            padding: Any = 0,
            output_padding: Any = 0,
            groups: int = 1,
            bias: bool = True,
            dilation: Any = 1,
            padding_mode: str = "zeros",
            device: DeviceLike | None = None,
            dtype: DTypeLike | None = None,
        ) -> None:
            super().__init__(
                groups,
                out_channels,
                kernel_size,
                stride,
                padding,
                output_padding,
                groups,
                bias,
                dilation,
                padding_mode,
                dtype=dtype,
            )
            self._lazy_init(bias, dtype)

    name = "Lazy" + base.__name__
    LazyConvTranspose.__name__ = LazyConvTranspose.__qualname__ = name
    LazyConvTranspose.__doc__ = (
        f"{base.__name__} whose in_channels is taken from the first input (dimension 1 of a "
        f"batched, 0 of an unbatched one); the weight, (in_channels, out_channels / groups, "
        f"*kernel_size), is made and initialised then, as torch's, and the module becomes a "
        f"{base.__name__}. Same arguments as {base.__name__} without in_channels."
    )
    return LazyConvTranspose


LazyConvTranspose1d = _lazy_conv_transpose(ConvTranspose1d, 1)
LazyConvTranspose2d = _lazy_conv_transpose(ConvTranspose2d, 2)
LazyConvTranspose3d = _lazy_conv_transpose(ConvTranspose3d, 3)
