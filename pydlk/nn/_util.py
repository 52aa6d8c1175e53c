"""Constructor argument checks and parameter set-up shared by the layers (torch.nn's factory
arguments, sizes, and torch's default initialisation of a weight and a bias)."""

import math

import numpy as np

from ..autograd import _default_floats
from ..functional._util import pair  # noqa: F401  (the one int-or-pair parser)
from ..ops.conversions import _parse_device
from . import init
from .parameter import Parameter


def check_device(device, cls):
    """Check a layer's ``device=`` before it is built, naming the layer: a malformed device, or a
    CUDA device where none is available, raises here. The layer is built on the CPU and moved to
    ``device`` when its constructor returns (``Module.__init_subclass__``)."""
    try:
        dev = _parse_device(device)
    except ValueError as e:
        raise ValueError(f"{cls}: {e}") from None
    if dev not in (None, "cpu"):
        from .. import cuda

        if not cuda.is_available():
            raise RuntimeError(
                f"{cls}: device={device!r} needs a CUDA GPU and CuPy, and none is available"
            )


def dtype_of(dtype):
    """A layer's parameter dtype: unless given, the default float dtype (float32 unless
    ``pydlk.set_default_dtype`` changed it), as torch's layers follow
    ``torch.set_default_dtype``."""
    return _default_floats()[0] if dtype is None else np.dtype(dtype)


def empty_param(shape, dtype):
    """An uninitialised Parameter (the layer's reset_parameters fills it)."""
    return Parameter(np.empty(shape, dtype_of(dtype)))


def pos_int(v, cls, name, allow_zero=False):
    """``v`` as a positive (or, with allow_zero, non-negative) int, else TypeError/ValueError."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{cls}: {name} must be an int, got {type(v).__name__}")
    if v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{cls}: {name} must be {'>= 0' if allow_zero else 'positive'}, got {v}")
    return int(v)


def conv_channels(in_channels, out_channels, groups, cls):
    """A convolution's in_channels, out_channels and groups as positive ints, both channel counts
    divisible by groups (torch's checks)."""
    in_channels = pos_int(in_channels, cls, "in_channels")
    out_channels = pos_int(out_channels, cls, "out_channels")
    groups = pos_int(groups, cls, "groups")
    if in_channels % groups:
        raise ValueError(f"{cls}: in_channels must be divisible by groups")
    if out_channels % groups:
        raise ValueError(f"{cls}: out_channels must be divisible by groups")
    return in_channels, out_channels, groups


def check_padding_string(padding, stride, cls, numeric="an int or a pair"):
    """A convolution's padding given as a string: 'same' or 'valid', and 'same' only with
    stride 1, as torch (``numeric`` names the other accepted forms in the message)."""
    if padding not in ("same", "valid"):
        raise ValueError(f"{cls}: padding must be 'same', 'valid', {numeric}, got {padding!r}")
    if padding == "same" and any(s != 1 for s in stride):
        raise ValueError(f"{cls}: padding='same' is not supported for strided convolutions")


_PADDING_MODES = {"zeros", "reflect", "replicate", "circular"}


def check_padding_mode(padding_mode, cls, transposed=False):
    """A convolution's padding_mode: torch's 'zeros', 'reflect', 'replicate' or 'circular'
    (a transposed convolution takes only 'zeros', as torch's); ValueError otherwise."""
    if padding_mode not in _PADDING_MODES:
        raise ValueError(
            f"{cls}: padding_mode must be one of {sorted(_PADDING_MODES)}, but got "
            f"padding_mode='{padding_mode}'"
        )
    if transposed and padding_mode != "zeros":
        raise ValueError(f'Only "zeros" padding mode is supported for {cls}')


def conv_pad_amounts(padding, kernel_size, dilation):
    """A convolution's explicit padding as F.pad wants it (last dimension first, each as
    (before, after)); 'same' may be asymmetric (the extra one after), as torch's
    ``_reversed_padding_repeated_twice``."""
    out = []
    for i in reversed(range(len(kernel_size))):
        if padding == "valid":
            out += [0, 0]
        elif padding == "same":
            total = dilation[i] * (kernel_size[i] - 1)
            out += [total // 2, total - total // 2]
        else:
            out += [padding[i], padding[i]]
    return tuple(out)


def prob(p, cls, name="p"):
    """``p`` as a float probability in [0, 1], else ValueError."""
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{cls}: {name} must be between 0 and 1, got {p}")
    return float(p)


def add_weight_and_bias(module, weight_shape, bias, dtype):
    """Give ``module`` an uninitialised ``weight`` of ``weight_shape`` and, when ``bias``, a
    ``bias`` of ``weight_shape[0]`` (else the parameter slot ``bias`` is None)."""
    module.weight = empty_param(weight_shape, dtype)
    if bias:
        module.bias = empty_param((weight_shape[0],), dtype)
    else:
        module.register_parameter("bias", None)


def reset_kaiming_uniform(weight, bias):
    """torch's default for Linear and Conv: weight kaiming_uniform_(a=sqrt(5)), bias
    uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) (zero when fan_in is 0)."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)
