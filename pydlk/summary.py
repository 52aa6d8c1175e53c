"""``pydlk.summary(model, input_shape)``: a Keras-style table of a model's layers.

One dummy forward pass (batch of ``batch_size``, eval mode, no_grad) with forward hooks on every
module records each layer's output shape; the table lists layer, output shape, parameters (the
module's own), whether they are trainable, the receptive field after each convolution/pooling
stage and the forward FLOPs per sample (multiply-adds x 2 for convolution, linear and recurrent
layers; other layers are counted as 0).

Receptive field, for a chain of layers with kernel F_j, stride S_j and dilation d_j:
``R_k = 1 + sum_{j<=k} (F_eff_j - 1) prod_{i<j} S_i`` with ``F_eff = d (F - 1) + 1``. It is
tracked per tensor through the forward pass, so a residual block's shortcut does not count
twice; a tensor made outside a module (a residual sum) takes the last value seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._typing import DTypeLike
from .autograd import Tensor, no_grad
from .functional._util import pair
from .nn.module import Module

__all__ = ["summary"]


def _shape_str(out: Any) -> str:
    if isinstance(out, Tensor) or hasattr(out, "shape"):
        return str((None,) + tuple(out.shape[1:]))
    t = _first_tensor(out)  # (output, states): the main output, as Keras shows it
    return _shape_str(t) if t is not None else ""


def _first_tensor(x: Any) -> Tensor | None:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (tuple, list)):
        for o in x:
            t = _first_tensor(o)
            if t is not None:
                return t
    return None


def _flops(module: Module, args: tuple[Any, ...], out: Any) -> int:
    from . import nn

    o = _first_tensor(out)
    # the layers counted here take and return Tensors (an RNN returns a tuple holding one)
    if isinstance(module, nn.Conv2d):
        assert o is not None
        kh, kw = module.kernel_size
        per_out = module.in_channels // module.groups * kh * kw
        return 2 * per_out * int(np.prod(o.shape[1:]))
    if isinstance(module, (nn.Linear,)):
        assert o is not None
        return 2 * module.in_features * int(np.prod(o.shape[1:]))
    if isinstance(module, nn.RNNBase):
        x = _first_tensor(args)
        assert x is not None
        S = x.shape[1] if module.batch_first and x.ndim == 3 else x.shape[0]
        G = {"LSTM": 4, "GRU": 3}.get(module.mode, 1)
        D = 2 if module.bidirectional else 1
        H, total = module.hidden_size, 0
        for layer in range(module.num_layers):
            I = module.input_size if layer == 0 else H * D
            total += D * 2 * G * H * (I + H)
        return total * S
    if isinstance(module, nn.MultiheadAttention):
        q = _first_tensor(args)
        assert q is not None
        L = q.shape[1] if module.batch_first else q.shape[0]
        E = module.embed_dim
        return 2 * (4 * L * E * E + 2 * L * L * E)
    return 0


def summary(
    model: Module,
    input_shape: int | Sequence[int],
    batch_size: int = 2,
    dtype: DTypeLike = np.float32,
    print_fn: Callable[[str], Any] | None = print,
) -> str:
    """Print and return the table for ``model`` on an input of shape ``(batch_size,) +
    input_shape``. ``input_shape`` leaves out the batch dimension (as Keras and torchsummary)."""
    from . import nn

    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    input_shape = tuple(int(s) for s in input_shape)
    if any(s <= 0 for s in input_shape):
        raise ValueError(f"summary: input_shape must be positive, got {input_shape}")
    containers = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    rows: list[tuple[str, str, int, str, str, int]] = []
    handles = []
    keep = []
    rf: dict[int, tuple[int, int]] = {}  # id(tensor) -> (R, J)
    last = [(1, 1)]

    def hook_for(name: str, module: Module) -> Callable[[Module, tuple[Any, ...], Any], None]:
        def hook(m: Module, args: tuple[Any, ...], out: Any) -> None:
            x = _first_tensor(args)
            R, J = rf.get(id(x), last[0]) if x is not None else last[0]
            stage = False
            if isinstance(m, nn.Conv2d) or isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
                F = pair(m.kernel_size, "summary", "kernel_size")[0]
                S = pair(m.stride, "summary", "stride")[0]
                d = pair(getattr(m, "dilation", 1), "summary", "dilation")[0]
                R = R + (d * (F - 1) + 1 - 1) * J
                J = J * S
                stage = True
            o = _first_tensor(out)
            if o is not None:
                rf[id(o)] = (R, J)
                keep.append(o)
            last[0] = (R, J)
            own = list(m.parameters(recurse=False))
            n = sum(p.numel() for p in own)
            nt = sum(p.numel() for p in own if p.requires_grad)
            trainable = "-" if n == 0 else ("Yes" if nt == n else ("No" if nt == 0 else "Partial"))
            rows.append(
                (
                    f"{name} ({type(m).__name__})",
                    _shape_str(out),
                    n,
                    trainable,
                    str(R) if stage else "",
                    _flops(m, args, out),
                )
            )

        return hook

    for name, m in model.named_modules():
        if m is model or isinstance(m, containers):
            continue
        if any(True for _ in m.children()) and not any(True for _ in m.parameters(recurse=False)):
            continue  # a composite block: its layers appear themselves
        handles.append(m.register_forward_hook(hook_for(name, m)))
    was_training = model.training
    model.eval()
    try:
        x = Tensor(np.zeros((batch_size,) + input_shape, dtype))
        with no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    flops = sum(r[5] for r in rows)
    head = ("Layer (type)", "Output Shape", "Param #", "Trainable", "RF", "FLOPs")
    table = [head] + [(r[0], r[1], f"{r[2]:,}", r[3], r[4], f"{r[5]:,}") for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]

    def fmt(row: Sequence[object]) -> str:
        return "  ".join(
            str(c).ljust(w) if i < 2 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths))
        )

    width = len(fmt(head))
    lines = [f"Model: {type(model).__name__}", "=" * width, fmt(head), "=" * width]
    lines += [fmt(r) for r in table[1:]]
    lines += [
        "=" * width,
        f"Input shape: {(None,) + input_shape}",
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        f"Forward FLOPs per sample: {flops:,}",
        "=" * width,
    ]
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text
