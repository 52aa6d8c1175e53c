"""RNNCell, LSTMCell and GRUCell: one time step, with torch's parameter names and layouts
(weight_ih (G*hidden, input), weight_hh (G*hidden, hidden), bias_ih, bias_hh), gate order
(LSTM: i, f, g, o; GRU: r, z, n) and initialisation (uniform(+-1/sqrt(hidden_size))), so that
a torch state_dict loads unchanged."""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .._backend import get_array_module
from .._typing import DeviceLike, DTypeLike
from ..autograd import Tensor
from . import init
from ._util import dtype_of
from .module import Module
from .parameter import Parameter

__all__ = ["GRUCell", "LSTMCell", "RNNCell", "RNNCellBase"]


def _t(x):
    return x if isinstance(x, Tensor) else Tensor(x)


class RNNCellBase(Module):
    """The shared base of RNNCell, LSTMCell and GRUCell: ``weight_ih`` (G*H, input_size),
    ``weight_hh`` (G*H, H) and optional biases, with G gates. Raises TypeError/ValueError for
    non-int or non-positive sizes.
    """

    _gates = 1

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool, dtype: DTypeLike | None = None
    ) -> None:
        super().__init__()
        cls = type(self).__name__
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{cls}: {name} should be of type int, got {type(v).__name__}")
            if v <= 0:
                raise ValueError(f"{cls}: {name} must be greater than zero, got {v}")
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bias
        G, H = self._gates, int(hidden_size)
        dt = dtype_of(dtype)
        self.weight_ih = Parameter(np.empty((G * H, self.input_size), dt))
        self.weight_hh = Parameter(np.empty((G * H, H), dt))
        if bias:
            self.bias_ih = Parameter(np.empty(G * H, dt))
            self.bias_hh = Parameter(np.empty(G * H, dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        nl = getattr(self, "nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity={nl!r}"
        return s

    def _prepare(self, input, hx, n_states):
        """(batched input, list of batched states, was the input batched)."""
        cls = type(self).__name__
        x = _t(input)
        if x.ndim not in (1, 2):
            raise ValueError(f"{cls}: Expected input to be 1D or 2D, got {x.ndim}D instead")
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{cls}: input has {x.shape[-1]} features, expected input_size={self.input_size}"
            )
        batched = x.ndim == 2
        if not batched:
            x = x.unsqueeze(0)
        N = x.shape[0]
        if hx is None:
            zeros = Tensor(get_array_module(x._data).zeros((N, self.hidden_size), x.dtype))
            states = [zeros] * n_states
        else:
            states = list(hx) if n_states > 1 else [hx]
            if len(states) != n_states:
                raise ValueError(f"{cls}: hx must be a tuple of {n_states} tensors")
            states = [_t(s) for s in states]
            for s in states:
                if s.ndim != x.ndim - (0 if batched else 1) or s.shape[-1] != self.hidden_size:
                    raise ValueError(
                        f"{cls}: hidden state of shape {tuple(s.shape)} does not "
                        f"match input of shape {tuple(_t(input).shape)} and "
                        f"hidden_size={self.hidden_size}"
                    )
            if not batched:
                states = [s.unsqueeze(0) for s in states]
        return x, states, batched

    def _gates_of(self, x, h):
        return (
            F.linear(x, self.weight_ih, self.bias_ih),
            F.linear(h, self.weight_hh, self.bias_hh),
        )


class RNNCell(RNNCellBase):
    """``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"RNNCell: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, dtype)

    def forward(self, input: Tensor, hx=None) -> Tensor:
        x, (h,), batched = self._prepare(input, hx, 1)
        gi, gh = self._gates_of(x, h)
        a = gi + gh
        h = a.tanh() if self.nonlinearity == "tanh" else F.relu(a)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """``i, f, g, o`` gates; ``c' = f*c + i*g``, ``h' = o*tanh(c')``; returns (h', c')."""

    _gates = 4

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, dtype)

    def forward(self, input: Tensor, hx=None) -> tuple[Tensor, Tensor]:
        x, (h, c), batched = self._prepare(input, hx, 2)
        gi, gh = self._gates_of(x, h)
        i, f, g, o = (gi + gh).chunk(4, 1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """``r, z, n`` gates; ``n = tanh(W_in x + b_in + r*(W_hn h + b_hn))``,
    ``h' = (1-z)*n + z*h``."""

    _gates = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, dtype)

    def forward(self, input: Tensor, hx=None) -> Tensor:
        x, (h,), batched = self._prepare(input, hx, 1)
        gi, gh = self._gates_of(x, h)
        ir, iz, inn = gi.chunk(3, 1)
        hr, hz, hn = gh.chunk(3, 1)
        r = (ir + hr).sigmoid()
        z = (iz + hz).sigmoid()
        n = (inn + r * hn).tanh()
        h = (1 - z) * n + z * h
        return h if batched else h.squeeze(0)
