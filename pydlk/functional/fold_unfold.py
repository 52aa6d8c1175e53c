"""unfold (im2col) and fold (col2im), torch.nn.functional's sliding-block ops, on the array module
of the data (NumPy or CuPy).

``unfold`` copies every kernel-sized block of a (N, C, H, W) input into a column: the result is
(N, C * kh * kw, L) with L the number of block positions, row ``c * kh * kw + i * kw + j`` holding
input channel c at kernel offset (i, j). ``fold`` is its adjoint: it adds each column back onto
the block it came from (overlaps are summed). Both loop over the kh * kw kernel offsets, each a
strided slice of the padded image, so the work per offset is one vectorised copy or add.

Each is linear in its input with the other as its adjoint, so each backward is the other op and
differentiates again to any order (create_graph=True)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._backend import get_array_module
from .._typing import _size_2_t
from ..autograd import Function, Tensor
from ._adjoint import LinearMap
from ._util import array_of

__all__ = ["fold", "unfold"]


class _Blocks(NamedTuple):
    """The geometry shared by a pair of unfold/fold calls."""

    k: tuple[int, int]
    d: tuple[int, int]
    p: tuple[int, int]
    s: tuple[int, int]
    hw: tuple[int, int]  # the image's (H, W)
    out: tuple[int, int]  # block positions along H and W
    batched: bool


def _two(v, op, name):
    """torch's _pair and the length check of im2col/col2im: an int or two ints."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v), int(v))
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise RuntimeError(f"{op}: It is expected {name} equals to 2, but got size {len(v)}")
        if all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in v):
            return (int(v[0]), int(v[1]))
    raise TypeError(f"{op}: {name} must be an int or a tuple of two ints, got {v!r}")


def _geometry(op, kernel_size, dilation, padding, stride):
    k, d = _two(kernel_size, op, "kernel_size"), _two(dilation, op, "dilation")
    p, s = _two(padding, op, "padding"), _two(stride, op, "stride")
    if min(k) <= 0:
        raise RuntimeError(
            f"{op}: kernel size should be greater than zero, but got kernel_height: {k[0]} "
            f"kernel_width: {k[1]}"
        )
    if min(d) <= 0:
        raise RuntimeError(
            f"{op}: dilation should be greater than zero, but got dilation_height: {d[0]} "
            f"dilation_width: {d[1]}"
        )
    if min(p) < 0:
        raise RuntimeError(
            f"{op}: padding should be non-negative, but got pad_height: {p[0]} pad_width: {p[1]}"
        )
    if min(s) <= 0:
        raise RuntimeError(
            f"{op}: stride should be greater than zero, but got stride_height: {s[0]} "
            f"stride_width: {s[1]}"
        )
    return k, d, p, s


def _positions(hw, k, d, p, s):
    return tuple((hw[a] + 2 * p[a] - d[a] * (k[a] - 1) - 1) // s[a] + 1 for a in range(2))


def _windows(g):
    """For each kernel offset (i, j): the slices of the padded image its column entries read."""
    (kh, kw), (dh, dw), (sh, sw), (oh, ow) = g.k, g.d, g.s, g.out
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
        for j in range(kw):
            yield i, j, rows, slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)


def _im2col(x, g):
    """(N, C, H, W) -> (N, C * kh * kw, L); (C, H, W) -> (C * kh * kw, L) when not batched."""
    xp = get_array_module(x)
    if not g.batched:
        x = x[None]
    n, c = x.shape[:2]
    (ph, pw), (h, w) = g.p, g.hw
    if ph or pw:
        padded = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
        padded[:, :, ph : ph + h, pw : pw + w] = x
        x = padded
    cols = xp.empty((n, c) + g.k + g.out, dtype=x.dtype)
    for i, j, rows, colz in _windows(g):
        cols[:, :, i, j] = x[:, :, rows, colz]
    cols = cols.reshape(n, c * g.k[0] * g.k[1], g.out[0] * g.out[1])
    return cols if g.batched else cols[0]


def _col2im(cols, g):
    """The adjoint of _im2col: each column entry added back to the pixel it was read from."""
    xp = get_array_module(cols)
    if not g.batched:
        cols = cols[None]
    n = cols.shape[0]
    c = cols.shape[1] // (g.k[0] * g.k[1])
    cols = cols.reshape((n, c) + g.k + g.out)
    (ph, pw), (h, w) = g.p, g.hw
    img = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i, j, rows, colz in _windows(g):
        img[:, :, rows, colz] += cols[:, :, i, j]  # one offset never hits a pixel twice
    img = xp.ascontiguousarray(img[:, :, ph : ph + h, pw : pw + w])
    return img if g.batched else img[0]


class Im2Col(Function):
    op_name = "unfold"

    @staticmethod
    def forward(ctx, x, g):
        ctx.g = g
        return _im2col(x, g)

    @staticmethod
    def backward(ctx, dy):
        return _col2im(dy, ctx.g), None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        g = ctx.g
        return LinearMap.apply(dy, lambda a: _col2im(a, g), lambda a: _im2col(a, g)), None


class Col2Im(Function):
    op_name = "fold"

    @staticmethod
    def forward(ctx, x, g):
        ctx.g = g
        return _col2im(x, g)

    @staticmethod
    def backward(ctx, dy):
        return _im2col(dy, ctx.g), None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        g = ctx.g
        return LinearMap.apply(dy, lambda a: _im2col(a, g), lambda a: _col2im(a, g)), None


def _check_dtype(a, op, kernel, allow_bool):
    if not hasattr(a, "dtype"):
        raise TypeError(f"{op}: input must be a Tensor or an array, got {type(a).__name__}")
    if a.dtype.kind == "f" or (allow_bool and a.dtype.kind == "b"):
        return
    raise NotImplementedError(
        f'{op}: "{kernel}" is not implemented for {a.dtype} (floating-point'
        f"{' or bool' if allow_bool else ''} input only)"
    )


def unfold(
    input: Tensor,
    kernel_size: _size_2_t,
    dilation: _size_2_t = 1,
    padding: _size_2_t = 0,
    stride: _size_2_t = 1,
) -> Tensor:
    """Extract sliding local blocks (im2col), as torch's F.unfold: (N, C, H, W) ->
    (N, C * kh * kw, L), or unbatched (C, H, W) -> (C * kh * kw, L), where L is the number of
    block positions, ``prod((size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride +
    1)`` over H and W. Each argument is an int or a pair (height, width); the input is
    zero-padded by ``padding`` on both sides. Float and bool inputs, as torch.

    Raises RuntimeError for a non-positive kernel_size, dilation or stride, negative padding, a
    kernel larger than the padded input, or an input that is not 3-D or 4-D.
    """
    a = array_of(input)
    _check_dtype(a, "unfold", "im2col", allow_bool=True)
    k, d, p, s = _geometry("unfold", kernel_size, dilation, padding, stride)
    if a.ndim not in (3, 4) or 0 in a.shape[-3:]:
        raise RuntimeError(
            "unfold: Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other "
            f"non-zero dimensions for input, but got: {list(a.shape)}"
        )
    hw = (int(a.shape[-2]), int(a.shape[-1]))
    out = _positions(hw, k, d, p, s)
    if min(out) < 1:
        raise RuntimeError(
            f"unfold: Given input with spatial size {hw}, kernel_size={k}, dilation={d}, "
            f"padding={p}, calculated shape of the array of sliding blocks as {out}, but its "
            "components must be at least one."
        )
    return Im2Col.apply(input, _Blocks(k, d, p, s, hw, out, a.ndim == 4))


def fold(
    input: Tensor,
    output_size: _size_2_t,
    kernel_size: _size_2_t,
    dilation: _size_2_t = 1,
    padding: _size_2_t = 0,
    stride: _size_2_t = 1,
) -> Tensor:
    """Combine sliding local blocks into an image (col2im), the adjoint of ``unfold``, as torch's
    F.fold: (N, C * kh * kw, L) -> (N, C, *output_size), or unbatched (C * kh * kw, L) ->
    (C, *output_size). Values that land on the same pixel are summed; ``padding`` is cropped
    away. ``fold(unfold(x))`` is ``x`` times the number of blocks covering each pixel.

    Raises RuntimeError unless the input is 2-D or 3-D, its dimension -2 divides by kh * kw and
    its last dimension L equals the number of block positions in ``output_size``.
    """
    a = array_of(input)
    _check_dtype(a, "fold", "col2im", allow_bool=False)
    hw = _two(output_size, "fold", "output_size")
    k, d, p, s = _geometry("fold", kernel_size, dilation, padding, stride)
    if min(hw) <= 0:
        raise RuntimeError(
            f"fold: output size should be greater than zero, but got output_height: {hw[0]} "
            f"output_width: {hw[1]}"
        )
    if a.ndim not in (2, 3) or 0 in a.shape[-2:]:
        raise RuntimeError(
            "fold: Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size "
            f"and non-zero dimensions for input, but got: {list(a.shape)}"
        )
    if a.shape[-2] % (k[0] * k[1]):
        raise RuntimeError(
            "fold: Expected size of input's dimension 1 to be divisible by the product of "
            f"kernel_size, but got input.size(1)={a.shape[-2]} and kernel_size={k}."
        )
    out = _positions(hw, k, d, p, s)
    if min(out) < 1 or out[0] * out[1] != a.shape[-1]:
        raise RuntimeError(
            f"fold: Given output_size={hw}, kernel_size={k}, dilation={d}, padding={p}, "
            f"stride={s}, expected size of input's dimension 2 to match the calculated number "
            f"of sliding blocks {max(out[0], 0)} * {max(out[1], 0)} = "
            f"{max(out[0], 0) * max(out[1], 0)}, but got input.size(2)={a.shape[-1]}."
        )
    return Col2Im.apply(input, _Blocks(k, d, p, s, hw, out, a.ndim == 3))
