"""RNN (tanh/relu), LSTM and GRU modules with torch's arguments, parameter names
(weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ..._reverse), gate order and default
initialisation (every weight and bias uniform(-1/sqrt(hidden_size), 1/sqrt(hidden_size)))."""

from __future__ import annotations

import math

import numpy as np

from .._backend import get_array_module, host_array
from .._typing import DeviceLike, DTypeLike
from ..autograd import Tensor
from ..functional._lstm_proj import lstm_proj as _lstm_proj
from ..functional.rnn import rnn as _rnn
from ..functional.rnn import rnn_packed as _rnn_packed
from ..ops.selection import index_select
from . import init
from ._arrays import as_array
from ._util import check_device, dtype_of
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence

__all__ = ["RNNBase", "RNN", "LSTM", "GRU"]


class RNNBase(Module):
    """The shared base of RNN, LSTM and GRU (``mode`` picks the cell), as torch.nn.RNNBase.
    Weights are named ``weight_ih_l{k}[_reverse]`` etc. as torch's, so state_dicts exchange.
    Raises TypeError/ValueError for non-int or non-positive sizes.

    ``forward`` also takes a ``PackedSequence`` (``nn.utils.rnn.pack_padded_sequence``) and
    then returns one, as torch: each sequence runs for its own length, h_n (c_n) holds its
    state at its own last step (for the reverse direction, after its first), in the batch's
    original order; ``batch_first`` does not apply to packed data.

    LSTM's ``proj_size > 0`` projects each step's hidden state to ``proj_size`` features
    (``weight_hr_l{k}``, (proj_size, hidden_size)): h0, h_n and the output have proj_size
    features, c0 and c_n hidden_size (``pydlk/functional/_lstm_proj.py``; runs as recorded ops,
    not on the fused kernels).
    """

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__()
        cls = {"LSTM": "LSTM", "GRU": "GRU"}.get(mode, "RNN")
        check_device(device, cls)
        for name, v in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{cls}: {name} should be of type int, got {type(v).__name__}")
            if v <= 0:
                raise ValueError(f"{cls}: {name} must be greater than zero, got {v}")
        if not (isinstance(dropout, (int, float)) and 0 <= dropout <= 1) or isinstance(
            dropout, bool
        ):
            raise ValueError(f"{cls}: dropout should be a number in range [0, 1], got {dropout}")
        if isinstance(proj_size, bool) or not isinstance(proj_size, (int, np.integer)):
            raise TypeError(
                f"{cls}: proj_size should be of type int, got {type(proj_size).__name__}"
            )
        if proj_size < 0:
            raise ValueError(
                f"{cls}: proj_size should be a positive integer or zero to disable projections"
            )
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if proj_size >= hidden_size:
            raise ValueError(f"{cls}: proj_size has to be smaller than hidden_size")
        self.mode, self.input_size, self.hidden_size = mode, int(input_size), int(hidden_size)
        self.num_layers, self.bias, self.batch_first = int(num_layers), bool(bias), batch_first
        self.dropout, self.bidirectional = float(dropout), bidirectional
        self.proj_size = int(proj_size)
        real = self.proj_size or hidden_size  # features of h and of each direction's output
        G = {"LSTM": 4, "GRU": 3}.get(mode, 1)
        D = 2 if bidirectional else 1
        dt = dtype_of(dtype)
        self._flat_weights_names = []
        for layer in range(num_layers):
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                in_sz = input_size if layer == 0 else real * D
                shapes: list[tuple[str, tuple[int, ...]]] = [
                    ("weight_ih", (G * hidden_size, in_sz)),
                    ("weight_hh", (G * hidden_size, real)),
                ]
                if bias:
                    shapes += [("bias_ih", (G * hidden_size,)), ("bias_hh", (G * hidden_size,))]
                if self.proj_size:
                    shapes.append(("weight_hr", (self.proj_size, hidden_size)))
                for name, shape in shapes:
                    setattr(self, name + sfx, Parameter(np.empty(shape, dt)))
                    self._flat_weights_names.append(name + sfx)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for name in self._flat_weights_names:
            init.uniform_(getattr(self, name), -stdv, stdv)

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        per = (4 if self.bias else 2) + (1 if self.proj_size else 0)
        w = self._flat_weights
        return [w[i : i + per] for i in range(0, len(w), per)]

    def _prepare(self, input, hx):
        x = as_array(input)
        cls = type(self).__name__
        if x.ndim not in (2, 3):
            raise ValueError(f"{cls}: Expected input to be 2D or 3D, got {x.ndim}D instead")
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{cls}: input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {x.shape[-1]}"
            )
        batched = x.ndim == 3
        if not batched:
            input = (
                input.reshape(x.shape[0], 1, x.shape[1])
                if isinstance(input, Tensor)
                else x[:, None]
            )
        N = (x.shape[0] if self.batch_first else x.shape[1]) if batched else 1
        D = 2 if self.bidirectional else 1

        def state(h, name):
            want = (self.num_layers * D, N, self.proj_size or self.hidden_size)
            if name == "c0":
                want = want[:2] + (self.hidden_size,)
            if h is None:  # zeros on the input's device
                return get_array_module(x).zeros(want, x.dtype)
            a = as_array(h)
            if not batched:
                if a.ndim != 2:
                    raise ValueError(
                        f"{cls}: for unbatched 2-D input, {name} should also be "
                        f"2-D but got {a.ndim}-D"
                    )
                h = h.reshape(a.shape[0], 1, a.shape[1]) if isinstance(h, Tensor) else a[:, None]
                a = a[:, None]
            if a.shape != want:
                raise ValueError(f"{cls}: Expected hidden size {want}, got {a.shape} for {name}")
            return h

        if self.mode == "LSTM":
            h0, c0 = (None, None) if hx is None else hx
            hx = (state(h0, "h0"), state(c0, "c0"))
        else:
            hx = state(hx, "hx")
        return input, hx, batched

    def _forward_packed(self, input: PackedSequence, hx):
        """torch's packed path: hx is given in the batch's original order and permuted into the
        sorted order on the way in; h_n (c_n) are permuted back on the way out."""
        cls = type(self).__name__
        data, batch_sizes, sorted_indices, unsorted_indices = input
        x = data._data
        if x.ndim != 2:
            raise ValueError(
                f"{cls}: a PackedSequence's data must be 2-D (packed steps, input_size), "
                f"got {x.ndim}-D"
            )
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{cls}: input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {x.shape[-1]}"
            )
        bs = [int(b) for b in host_array(batch_sizes._data)]
        D = 2 if self.bidirectional else 1

        def state(h, name):
            want = (self.num_layers * D, bs[0], self.proj_size or self.hidden_size)
            if name == "c0":
                want = want[:2] + (self.hidden_size,)
            if h is None:
                return Tensor(get_array_module(x).zeros(want, x.dtype))
            h = h if isinstance(h, Tensor) else Tensor(h)
            if tuple(h.shape) != want:
                raise ValueError(
                    f"{cls}: Expected hidden size {want}, got {tuple(h.shape)} for {name}"
                )
            return h if sorted_indices is None else index_select(h, 1, sorted_indices)

        if self.mode == "LSTM":
            h0, c0 = (None, None) if hx is None else hx
            hx = (state(h0, "h0"), state(c0, "c0"))
        else:
            hx = state(hx, "hx")
        outs: tuple[Tensor, ...]
        if self.proj_size:
            L, bias, p, training, bidir = self._config()
            h0, c0 = hx
            outs = _lstm_proj(data, bs, h0, c0, self._flat_weights, L, bias, p, training, bidir)
        else:
            outs = _rnn_packed(
                self.mode, data, bs, hx, self._flat_weights, *self._config()
            )  # fmt: skip
        states = [
            s if unsorted_indices is None else index_select(s, 1, unsorted_indices)
            for s in outs[1:]
        ]
        y = PackedSequence(outs[0], batch_sizes, sorted_indices, unsorted_indices)
        if self.mode == "LSTM":
            return y, (states[0], states[1])
        return y, states[0]

    def forward(self, input: Tensor | PackedSequence, hx=None):
        """Run the layer over ``input`` (S, N, I), (N, S, I) with ``batch_first``, (S, I)
        unbatched, or a PackedSequence, from ``hx`` (zeros when None); returns (output, h_n) or,
        for LSTM, (output, (h_n, c_n))."""
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        x, hx, batched = self._prepare(input, hx)
        if self.proj_size:
            return self._forward_proj(x, hx, batched)
        outs = _rnn(
            self.mode,
            x,
            hx,
            self._flat_weights,
            self.num_layers,
            self.bias,
            self.dropout,
            self.training,
            self.bidirectional,
            self.batch_first and batched,
        )
        y = outs[0]
        states = outs[1:]
        if not batched:
            y = y.reshape(y.shape[0], y.shape[2])
            states = tuple(s.reshape(s.shape[0], s.shape[2]) for s in states)
        if self.mode == "LSTM":
            return y, (states[0], states[1])
        return y, states[0]

    def _config(self):
        return self.num_layers, self.bias, self.dropout, self.training, self.bidirectional

    def _forward_proj(self, x, hx, batched):
        """LSTM with proj_size: the steps as recorded ops (functional/_lstm_proj.py)."""
        x = x if isinstance(x, Tensor) else Tensor(x)
        h0, c0 = (h if isinstance(h, Tensor) else Tensor(h) for h in hx)
        bf = self.batch_first and batched
        if bf:
            x = x.transpose(0, 1)
        if x.shape[0] == 0:
            raise RuntimeError("LSTM: Expected sequence length to be larger than 0 in RNN")
        y, h_n, c_n = _lstm_proj(x, None, h0, c0, self._flat_weights, *self._config())
        if bf:
            y = y.transpose(0, 1)
        if not batched:
            y = y.reshape(y.shape[0], y.shape[2])
            h_n, c_n = (s.reshape(s.shape[0], s.shape[2]) for s in (h_n, c_n))
        return y, (h_n, c_n)

    def flatten_parameters(self) -> None:
        """No-op: torch packs weights for cuDNN here; pydlk's weights are used as they are."""

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        return s


class RNN(RNNBase):
    """Elman RNN, ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, act tanh or relu."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"RNN: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        self.nonlinearity = nonlinearity
        super().__init__(
            "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )

    def extra_repr(self):
        s = super().extra_repr()
        return s + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


class LSTM(RNNBase):
    """LSTM, gates (i, f, g, o) as torch; forward(input, (h0, c0)) -> output, (h_n, c_n)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
        )


class GRU(RNNBase):
    """GRU, gates (r, z, n) with torch's ``n = tanh(W_in x + b_in + r (W_hn h + b_hn))``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )
