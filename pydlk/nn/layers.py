"""Layers on the functional ops: linear, convolution, pooling, normalisation, dropout and its
relatives, activations and embedding. Constructor arguments, parameter names and shapes, and
default initialisation follow torch.nn."""
import math

import numpy as np

from .. import functional as F
from .._random import default_generator
from ..autograd import Tensor
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Linear", "Bilinear", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
           "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "InstanceNorm2d",
           "Dropout", "Dropout2d", "DropConnect", "StochasticDepth", "Embedding",
           "ReLU", "LeakyReLU", "ELU", "SELU", "Sigmoid", "Tanh", "ReLU6", "SiLU", "Mish",
           "GELU", "Softmax", "LogSoftmax", "Maxout", "BasicBlock"]


def _dtype(dtype):
    return np.dtype(np.float32 if dtype is None else dtype)


def _pos_int(v, cls, name, allow_zero=False):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{cls}: {name} must be an int, got {type(v).__name__}")
    if v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{cls}: {name} must be {'>= 0' if allow_zero else 'positive'}, got {v}")
    return int(v)


def _prob(p, cls, name="p"):
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{cls}: {name} must be between 0 and 1, got {p}")
    return float(p)


def _pair(v, cls, name, allow_zero=False):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v), int(v))
    v = tuple(int(i) for i in v)
    if len(v) != 2:
        raise ValueError(f"{cls}: {name} must be an int or a pair, got {v}")
    if any(i < 0 or (i == 0 and not allow_zero) for i in v):
        raise ValueError(f"{cls}: {name} must be {'>= 0' if allow_zero else 'positive'}, got {v}")
    return v


def _empty(shape, dtype):
    return Parameter(np.empty(shape, _dtype(dtype)))


# ----------------------------------------------------------------------------- linear

class Linear(Module):
    """``y = x W^T + b``; weight (out_features, in_features) kaiming_uniform_(a=sqrt(5)), bias
    uniform(-1/sqrt(in_features), 1/sqrt(in_features)), as torch."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = _pos_int(in_features, "Linear", "in_features", allow_zero=True)
        self.out_features = _pos_int(out_features, "Linear", "out_features", allow_zero=True)
        self.weight = _empty((out_features, in_features), dtype)
        if bias:
            self.bias = _empty((out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Bilinear(Module):
    """``y_k = x1^T W_k x2 + b_k``; weight (out, in1, in2), init uniform(+-1/sqrt(in1))."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None,
                 dtype=None):
        super().__init__()
        self.in1_features = _pos_int(in1_features, "Bilinear", "in1_features")
        self.in2_features = _pos_int(in2_features, "Bilinear", "in2_features")
        self.out_features = _pos_int(out_features, "Bilinear", "out_features")
        self.weight = _empty((out_features, in1_features, in2_features), dtype)
        if bias:
            self.bias = _empty((out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        # (N, in1) @ W viewed (in1, out*in2) -> (N, out, in2), times x2, summed over in2
        o, i1, i2 = self.weight.shape
        w = self.weight.reshape(o, i1 * i2)
        lead = input1.shape[:-1]
        x1 = input1.reshape(-1, i1)
        x2 = input2.reshape(-1, 1, i2)
        # outer(x1, x2) flattened: (N, i1*i2), then a linear layer
        outer = (x1.reshape(-1, i1, 1) * x2).reshape(-1, i1 * i2)
        y = F.linear(outer, w, self.bias)
        return y.reshape(tuple(lead) + (o,))

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class DropConnect(Linear):
    """A Linear layer whose weights (not activations) are dropped with probability ``p`` during
    training, the kept ones scaled by 1/(1-p) (inverted DropConnect, Wan et al. 2013); in eval
    mode it is the plain Linear layer. The bias is not dropped. The mask comes from F.dropout's
    counter-based generator."""

    def __init__(self, in_features, out_features, bias=True, p=0.5, device=None, dtype=None):
        self.p = _prob(p, "DropConnect")
        super().__init__(in_features, out_features, bias, device, dtype)

    def forward(self, input):
        w = F.dropout(self.weight, self.p, self.training) if self.training and self.p > 0 \
            else self.weight
        return F.linear(input, w, self.bias)

    def extra_repr(self):
        return super().extra_repr() + f", p={self.p}"


# ----------------------------------------------------------------------------- convolution

class Conv2d(Module):
    """2-D convolution, weight (out_channels, in_channels/groups, kH, kW) and bias, initialised
    as torch (kaiming_uniform_(a=sqrt(5)), bias uniform(+-1/sqrt(fan_in))). padding may be an
    int, a pair, 'valid' or 'same' (stride 1); padding_mode 'zeros' (others are refused)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        self.in_channels = _pos_int(in_channels, "Conv2d", "in_channels")
        self.out_channels = _pos_int(out_channels, "Conv2d", "out_channels")
        self.groups = _pos_int(groups, "Conv2d", "groups")
        if in_channels % groups:
            raise ValueError("Conv2d: in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("Conv2d: out_channels must be divisible by groups")
        self.kernel_size = _pair(kernel_size, "Conv2d", "kernel_size")
        self.stride = _pair(stride, "Conv2d", "stride")
        self.dilation = _pair(dilation, "Conv2d", "dilation")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: padding must be 'same', 'valid', an int or a pair, "
                                 f"got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError("Conv2d: padding='same' is not supported for strided "
                                 "convolutions")
            self.padding = padding
        else:
            self.padding = _pair(padding, "Conv2d", "padding", allow_zero=True)
        if padding_mode != "zeros":
            raise ValueError(f"Conv2d: padding_mode {padding_mode!r} is not supported "
                             "(only 'zeros')")
        self.padding_mode = padding_mode
        kh, kw = self.kernel_size
        self.weight = _empty((out_channels, in_channels // groups, kh, kw), dtype)
        if bias:
            self.bias = _empty((out_channels,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _explicit_padding(self):
        """The (top, bottom, left, right) zero padding; 'same' may be asymmetric."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            out = []
            for d, k in zip(self.dilation, self.kernel_size):
                total = d * (k - 1)
                out += [total // 2, total - total // 2]
            return tuple(out)
        ph, pw = self.padding
        return (ph, ph, pw, pw)

    def forward(self, input):
        t, b, l, r = self._explicit_padding()
        if t == b and l == r:
            return F.conv2d(input, self.weight, self.bias, self.stride, (t, l), self.dilation,
                            self.groups)
        # asymmetric 'same' padding (even kernels): pad the symmetric part in the kernel and
        # the one extra row/column at the end by slicing a larger symmetric output
        y = F.conv2d(input, self.weight, self.bias, self.stride, (b, r), self.dilation,
                     self.groups)
        dh, dw = b - t, r - l
        return y[:, :, dh:, dw:]

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) \
                else f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


# ----------------------------------------------------------------------------- pooling

class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode
        _pair(kernel_size, "MaxPool2d", "kernel_size")
        _pair(self.stride, "MaxPool2d", "stride")
        _pair(padding, "MaxPool2d", "padding", allow_zero=True)

    def forward(self, input):
        kw = {}
        if self.return_indices:
            kw["return_indices"] = True
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, **kw)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override
        _pair(kernel_size, "AvgPool2d", "kernel_size")
        _pair(self.stride, "AvgPool2d", "stride")
        _pair(padding, "AvgPool2d", "padding", allow_zero=True)

    def forward(self, input):
        kw = {}
        if self.divisor_override is not None:
            kw["divisor_override"] = self.divisor_override
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, **kw)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


# ----------------------------------------------------------------------------- normalisation

class _NormBase(Module):
    _ndims = None

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None):
        super().__init__()
        cls = type(self).__name__
        self.num_features = _pos_int(num_features, cls, "num_features")
        if eps <= 0:
            raise ValueError(f"{cls}: eps must be positive, got {eps}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{cls}: momentum must be between 0 and 1 or None, got {momentum}")
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dt = _dtype(dtype)
        if affine:
            self.weight = Parameter(np.ones(num_features, dt))
            self.bias = Parameter(np.zeros(num_features, dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dt)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dt)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input_dim(self, input):
        pass

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    frozen = False  # set by pydlk.models.freeze: stays in eval mode (running statistics fixed)

    def train(self, mode=True):
        return super().train(mode and not self.frozen)

    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.data)
        use_batch = self.training or not self.track_running_stats
        rm = self.running_mean if not self.training or self.track_running_stats else None
        rv = self.running_var if not self.training or self.track_running_stats else None
        return F.batch_norm(input, rm, rv, self.weight, self.bias, use_batch, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L)."""

    def _check_input_dim(self, input):
        if input.ndim not in (2, 3):
            raise ValueError(f"BatchNorm1d: expected 2D or 3D input (got {input.ndim}D input)")


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W)."""

    def _check_input_dim(self, input):
        if input.ndim != 4:
            raise ValueError(f"BatchNorm2d: expected 4D input (got {input.ndim}D input)")


class InstanceNorm2d(_NormBase):
    """torch's defaults: affine=False, track_running_stats=False."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, input):
        if input.ndim != 4:
            raise ValueError(f"InstanceNorm2d: expected 4D input (got {input.ndim}D input)")
        use_input_stats = self.training or not self.track_running_stats
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight,
                               self.bias, use_input_stats,
                               0.1 if self.momentum is None else self.momentum, self.eps)


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        if any(s <= 0 for s in self.normalized_shape):
            raise ValueError(f"LayerNorm: normalized_shape must be positive, got "
                             f"{self.normalized_shape}")
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dt = _dtype(dtype)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dt))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GroupNorm(Module):
    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None):
        super().__init__()
        _pos_int(num_groups, "GroupNorm", "num_groups")
        _pos_int(num_channels, "GroupNorm", "num_channels")
        if num_channels % num_groups:
            raise ValueError("GroupNorm: num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = \
            num_groups, num_channels, eps, affine
        dt = _dtype(dtype)
        if affine:
            self.weight = Parameter(np.ones(num_channels, dt))
            self.bias = Parameter(np.zeros(num_channels, dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


# ----------------------------------------------------------------------------- dropout

class Dropout(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        self.p, self.inplace = _prob(p, "Dropout"), inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    def __init__(self, p=0.5, inplace=False):
        super().__init__(p, inplace)

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training)


class StochasticDepth(Module):
    """Drops a residual branch with probability ``p`` (torchvision.ops.StochasticDepth):
    ``mode='row'`` draws one Bernoulli per sample, ``'batch'`` one for the whole batch; kept
    branches are scaled by 1/(1-p). Identity in eval mode or with p=0. The mask is drawn from
    the pydlk generator (seeded by pydlk.manual_seed)."""

    def __init__(self, p, mode):
        super().__init__()
        self.p = _prob(p, "StochasticDepth")
        if mode not in ("batch", "row"):
            raise ValueError(f"StochasticDepth: mode has to be either 'batch' or 'row', "
                             f"but got {mode}")
        self.mode = mode

    def forward(self, input):
        if not self.training or self.p == 0.0:
            return input
        x = input.data if isinstance(input, Tensor) else input
        survival = 1.0 - self.p
        shape = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = (default_generator.numpy.random(shape) < survival).astype(x.dtype)
        if survival > 0.0:
            noise /= survival
        return input * Tensor(noise)

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode}"


# ----------------------------------------------------------------------------- activations

def _act(name, fn_name, params=(), doc=""):
    """A module that calls F.<fn_name>(input, **its constructor arguments)."""
    names = [p[0] for p in params]

    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        vals = dict(params)
        if len(args) > len(names):
            raise TypeError(f"{name}: too many arguments")
        for k, v in zip(names, args):
            vals[k] = v
        for k, v in kwargs.items():
            if k not in vals:
                raise TypeError(f"{name}: unexpected argument {k!r}")
            vals[k] = v
        for k, v in vals.items():
            setattr(self, k, v)
        self._check()

    def forward(self, input):
        kw = {k: getattr(self, k) for k in names if k != "inplace"}
        return getattr(F, fn_name)(input, **kw)

    def extra_repr(self):
        return ", ".join(f"{k}={getattr(self, k)}" for k in names if k != "inplace"
                         or getattr(self, k))

    return type(name, (Module,), {"__init__": __init__, "forward": forward,
                                  "extra_repr": extra_repr, "_check": lambda self: None,
                                  "__doc__": doc or f"Module form of F.{fn_name}."})


ReLU = _act("ReLU", "relu", [("inplace", False)])
LeakyReLU = _act("LeakyReLU", "leaky_relu", [("negative_slope", 0.01), ("inplace", False)])
ELU = _act("ELU", "elu", [("alpha", 1.0), ("inplace", False)])
SELU = _act("SELU", "selu", [("inplace", False)])
Sigmoid = _act("Sigmoid", "sigmoid")
Tanh = _act("Tanh", "tanh")
ReLU6 = _act("ReLU6", "relu6", [("inplace", False)])
SiLU = _act("SiLU", "silu", [("inplace", False)])
Mish = _act("Mish", "mish", [("inplace", False)])
GELU = _act("GELU", "gelu", [("approximate", "none")])
Softmax = _act("Softmax", "softmax", [("dim", None)])
LogSoftmax = _act("LogSoftmax", "log_softmax", [("dim", None)])
Maxout = _act("Maxout", "maxout", [("pool_size", 2), ("dim", 1)],
              "Maxout over groups of ``pool_size`` along ``dim`` (Goodfellow et al. 2013).")


def _gelu_check(self):
    if self.approximate not in ("none", "tanh"):
        raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {self.approximate!r}")


def _maxout_check(self):
    _pos_int(self.pool_size, "Maxout", "pool_size")


def _elu_check(self):
    if self.alpha < 0:
        raise ValueError(f"ELU: alpha must be >= 0, got {self.alpha}")


GELU._check = _gelu_check
ELU._check = _elu_check
Maxout._check = _maxout_check


# ----------------------------------------------------------------------------- embedding

class Embedding(Module):
    """A lookup table, weight (num_embeddings, embedding_dim) ~ N(0, 1) with the padding_idx row
    zeroed, as torch. The padding_idx row gets no gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None,
                 _freeze=False, device=None, dtype=None):
        super().__init__()
        self.num_embeddings = _pos_int(num_embeddings, "Embedding", "num_embeddings")
        self.embedding_dim = _pos_int(embedding_dim, "Embedding", "embedding_dim")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError("Embedding: padding_idx must be within num_embeddings")
            padding_idx %= num_embeddings
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise ValueError("Embedding: max_norm, scale_grad_by_freq and sparse are not "
                             "supported")
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = Parameter(np.empty((num_embeddings, embedding_dim), _dtype(dtype)),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            self.weight = Parameter(np.asarray(_weight.data if isinstance(_weight, Tensor)
                                               else _weight), requires_grad=not _freeze)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        e = embeddings.data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        return cls(e.shape[0], e.shape[1], padding_idx=padding_idx, _weight=e.copy(),
                   _freeze=freeze)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


# ----------------------------------------------------------------------------- residual block

class BasicBlock(Module):
    """ResNet's basic block: conv3x3-BN-ReLU-conv3x3-BN, plus the input (through a 1x1
    conv + BN when the shape changes), then ReLU. Names as torchvision (conv1, bn1, conv2, bn2,
    downsample). ``stochastic_depth`` > 0 drops the residual branch per sample in training."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, stochastic_depth=0.0):
        super().__init__()
        self.conv1 = Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU()
        self.conv2 = Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        if downsample is None and (stride != 1 or inplanes != planes):
            from .container import Sequential
            downsample = Sequential(Conv2d(inplanes, planes, 1, stride, bias=False),
                                    BatchNorm2d(planes))
        self.downsample = downsample
        self.stochastic_depth = StochasticDepth(stochastic_depth, "row") \
            if stochastic_depth > 0 else None
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.stochastic_depth is not None:
            out = self.stochastic_depth(out)
        return self.relu(out + identity)
