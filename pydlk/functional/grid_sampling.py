"""affine_grid and grid_sample (torch.nn.functional's spatial transformer ops) for 2-D images
and 3-D volumes, on the array module of the data (NumPy or CuPy).

grid_sample reads every output pixel from a few input pixels ("taps": 1 for 'nearest', 4 for
'bilinear' (8 in a volume), 16 for 'bicubic'), each with a flat index into the image and a
weight that depends on the grid. 'bilinear' and 'nearest' run the kernels' grid_sample
(csrc/grid_sample.cpp, the same formulas compiled; on the GPU pydlk/_cuda/grid_sample.py runs
the code here). The code here is the rest: 'bicubic', double backward, the GPU. The forward is
one gather per tap, the input's gradient one scatter-add per tap (the adjoint of the gather),
the grid's gradient the weights' derivatives times the gathered values.
Taps outside the image point at an extra zero pixel appended to each flattened image, so no mask
is needed and a NaN or inf elsewhere in the image never leaks into a zero-padded sample.

Coordinates follow torch's grid_sampler_2d: ``x = -1`` is the left edge of the left pixel
(align_corners=False) or its centre (True); 'border' clamps, 'reflection' mirrors about the
edges then clamps. A coordinate that is not finite samples NaN ('bilinear', 'bicubic') or zero
('nearest'), never reading outside the image (torch's CPU kernels agree for 'zeros' padding
and differ between its padding modes otherwise)."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence

import numpy as np

from .._backend import get_array_module, is_cupy, kernels_for
from ..autograd import Function, Tensor
from ..ops.joining import stack
from ._adjoint import LinearMap
from ._util import array_of, check_float

__all__ = ["affine_grid", "grid_sample"]

_MODES = ("bilinear", "nearest", "bicubic")
_PADDING = ("zeros", "border", "reflection")
_A = -0.75  # torch's cubic convolution constant
_OLD_DEFAULT = (
    "Default grid_sample and affine_grid behavior has changed to align_corners=False since "
    "1.3.0. Please specify align_corners=True if the old behavior is desired. See the "
    "documentation of grid_sample for details."
)


# ----------------------------------------------------------------------------- coordinates


def _unnormalize(coord, size, align_corners):
    """[-1, 1] -> pixel coordinate, and its derivative (a number)."""
    if align_corners:
        return (coord + 1) * ((size - 1) / 2), (size - 1) / 2
    return ((coord + 1) * size - 1) / 2, size / 2


def _clip(x, size, xp):
    """Clamp to [0, size - 1]; the derivative is 0 at and beyond either border (torch counts
    the borders as outside for the gradient)."""
    return xp.clip(x, 0, size - 1), ((x > 0) & (x < size - 1)).astype(x.dtype)


def _reflect(x, twice_low, twice_high, xp):
    """Mirror x about low and high (given doubled so that half-integers stay exact) until it
    falls between them; and the derivative (+1 or -1)."""
    if twice_low == twice_high:
        return xp.zeros_like(x), xp.zeros_like(x)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    v = x - low
    sign = xp.where(v < 0, -1.0, 1.0).astype(x.dtype)
    v = xp.abs(v)
    extra = xp.fmod(v, span)
    even = xp.fmod(xp.floor(v / span), 2) == 0
    return xp.where(even, extra + low, span - extra + low), xp.where(even, sign, -sign)


def _pad_coord(x, size, padding_mode, align_corners, xp):
    """torch's compute_coordinates: the padding mode applied to a pixel coordinate; and the
    derivative (1 for 'zeros')."""
    if padding_mode == "border":
        return _clip(x, size, xp)
    if padding_mode == "reflection":
        if align_corners:
            x, d = _reflect(x, 0, 2 * (size - 1), xp)
        else:
            x, d = _reflect(x, -1, 2 * size - 1, xp)
        x, dc = _clip(x, size, xp)
        return x, d * dc
    return x, None


def _safe(x, xp):
    """torch's safe_downgrade_to_int_range: a coordinate that is not finite (or too large for
    an int) becomes -100, outside the image."""
    bad = ~xp.isfinite(x) | (x > 2**31 - 2) | (x < -(2**31))
    return xp.where(bad, -100.0, x).astype(x.dtype)


def _cubic(t):
    """Weights of taps at offsets -1, 0, 1, 2 for the fraction t, and their derivatives."""

    def near(d):  # |d| <= 1
        return ((_A + 2) * d - (_A + 3)) * d * d + 1

    def near_d(d):
        return (3 * (_A + 2) * d - 2 * (_A + 3)) * d

    def far(d):  # 1 < |d| < 2
        return ((_A * d - 5 * _A) * d + 8 * _A) * d - 4 * _A

    def far_d(d):
        return (3 * _A * d - 10 * _A) * d + 8 * _A

    w = (far(t + 1), near(t), near(1 - t), far(2 - t))
    dw = (far_d(t + 1), near_d(t), -near_d(1 - t), -far_d(2 - t))
    return w, dw


# ----------------------------------------------------------------------------- taps


def _offsets(k):
    """The corner offsets of a linear tap set, per axis (x first), the outermost axis varying
    slowest (for 2-D: y outer, x inner)."""
    return [off[::-1] for off in itertools.product((0, 1), repeat=k)]


@np.errstate(all="ignore")  # a NaN or inf coordinate gives NaN, as torch
def _lattice(grid, sizes, mode, padding_mode, align_corners):
    """Where every output pixel reads: (flat indices, fractions, slopes). ``sizes`` are the
    input's spatial sizes ((H, W) or (D, H, W)); the grid's last dim holds (x, y[, z]). The
    flat indices (one (N, P) array per tap, P the output's pixel count) address the image
    flattened to prod(sizes) + 1 values, out-of-image taps the appended zero pixel. The
    fractions (N, P), one per axis (x first), are what the tap weights are functions of, the
    slopes their derivatives with respect to the grid's coordinate along that axis."""
    xp = get_array_module(grid)
    n, k = grid.shape[0], len(sizes)
    dims = tuple(sizes[::-1])  # the size along x, y[, z]
    total = math.prod(sizes)
    coords = [_unnormalize(grid[..., a].reshape(n, -1), dims[a], align_corners) for a in range(k)]

    def flat(pos):  # pos: integral coordinates per axis (x first) -> flat index or `total`
        inside = idx = None
        for a in reversed(range(k)):  # ((z * H) + y) * W + x
            ok = (pos[a] >= 0) & (pos[a] < dims[a])
            inside = ok if inside is None else inside & ok
            p = pos[a].astype(np.int64)
            idx = p if idx is None else idx * dims[a] + p
        return xp.where(inside, idx, total)

    if mode == "bicubic":  # (2-D only) taps on the unpadded lattice, each position then padded
        (ix, mx), (iy, my) = coords
        x0, y0 = xp.floor(ix), xp.floor(iy)
        xs = [
            _safe(_pad_coord(x0 + (j - 1), dims[0], padding_mode, align_corners, xp)[0], xp)
            for j in range(4)
        ]
        ys = [
            _safe(_pad_coord(y0 + (j - 1), dims[1], padding_mode, align_corners, xp)[0], xp)
            for j in range(4)
        ]
        idx = [flat([xs[i], ys[j]]) for j in range(4) for i in range(4)]
        return idx, [ix - x0, iy - y0], [mx, my]
    padded = [
        _pad_coord(c, dims[a], padding_mode, align_corners, xp) for a, (c, _) in enumerate(coords)
    ]
    if mode == "nearest":  # round half to even, as torch's nearbyint
        zero = xp.zeros_like(padded[0][0])
        return [flat([xp.rint(_safe(c, xp)) for c, _ in padded])], [zero] * k, [0.0] * k
    lows = [xp.floor(_safe(c, xp)) for c, _ in padded]
    idx = [flat([lows[a] + off[a] for a in range(k)]) for off in _offsets(k)]
    # the fractions from the coordinates as given, so that a NaN or inf one gives NaN weights
    # (a NaN sample, as torch's), while its taps sit safely outside the image;
    # d(fraction)/d(grid) = d(pixel coord)/d(padded) * unnormalize's
    fracs = [c - lo for (c, _), lo in zip(padded, lows)]
    slopes = [m if d is None else d * m for (_, m), (_, d) in zip(coords, padded)]
    return idx, fracs, slopes


def _weights(fracs, slopes, mode):
    """Per tap (in _lattice's order): the weight and its derivatives with respect to the
    grid's coordinates (x first). Plain arithmetic, so the fractions may be arrays or Tensors
    (recorded, for the grid's double backward)."""
    k = len(fracs)
    f0 = fracs[0]
    if mode == "nearest":
        return [(f0 * 0 + 1, [f0 * 0] * k)]
    if mode == "bicubic":
        (wx, dwx), (wy, dwy) = _cubic(fracs[0]), _cubic(fracs[1])
        sx, sy = slopes
        return [
            (wy[j] * wx[i], [wy[j] * dwx[i] * sx, dwy[j] * wx[i] * sy])
            for j in range(4)
            for i in range(4)
        ]
    pairs = [((1 - f, -s), (f, s)) for f, s in zip(fracs, slopes)]  # (weight, d/d grid) per end

    def product(off, along):  # outermost axis first, as the 2-D weights wy * wx
        out = None
        for a in reversed(range(k)):
            v = pairs[a][off[a]][1 if a == along else 0]
            out = v if out is None else out * v
        return out

    return [(product(off, None), [product(off, b) for b in range(k)]) for off in _offsets(k)]


@np.errstate(all="ignore")
def _taps(grid, sizes, mode, padding_mode, align_corners):
    """The taps of every output pixel: a list of (flat index (N, P), weight (N, P), [d weight /
    d grid coordinate, per axis])."""
    idx, fracs, slopes = _lattice(grid, sizes, mode, padding_mode, align_corners)
    return [(i, wt, dws) for i, (wt, dws) in zip(idx, _weights(fracs, slopes, mode))]


def _with_zero(x):
    """(N, C, *spatial) -> (N, C, prod(spatial) + 1): the image flattened, a zero appended."""
    xp = get_array_module(x)
    n, c = x.shape[:2]
    out = xp.zeros((n, c, math.prod(x.shape[2:]) + 1), dtype=x.dtype)
    out[:, :, :-1] = x.reshape(n, c, -1)
    return out


def _gather(xz, idx):
    """xz (N, C, K) at idx (N, P) for every channel -> (N, C, P), as one take from the flat
    array (several times faster than indexing with three broadcast index arrays)."""
    return xz.reshape(-1).take(_flat_rows(xz) + idx[:, None, :])


def _flat_rows(a):
    """The offset of each (n, c) row of a (N, C, K) array in its flat form, shaped (N, C, 1)."""
    xp = get_array_module(a)
    n, c, k = a.shape
    return (xp.arange(n * c, dtype=np.int64) * k).reshape(n, c, 1)


def _scatter_add(flat, idx, v):
    """flat[idx] += v with repeated indices accumulating (np.add.at's indexed loop is the
    fastest NumPy way here since NumPy 1.25; CuPy has cupyx's scatter_add)."""
    if is_cupy(flat):
        import cupyx

        cupyx.scatter_add(flat, idx, v)
    else:
        np.add.at(flat, idx, v)


@np.errstate(all="ignore")
def _sample(x, taps, out_sp):
    """The forward map (linear in x for fixed taps): (N, C, *spatial) -> (N, C, *out_sp)."""
    xz = _with_zero(x)
    y = None
    for idx, wt, _ in taps:
        v = _gather(xz, idx) * wt[:, None, :]
        y = v if y is None else y + v
    return y.reshape(x.shape[:2] + tuple(out_sp))


@np.errstate(all="ignore")
def _sample_adjoint(g, taps, in_sp):
    """The adjoint of _sample: each output gradient added onto the input pixels it read."""
    xp = get_array_module(g)
    n, c = g.shape[:2]
    g = g.reshape(n, c, -1)
    dx = xp.zeros((n, c, math.prod(in_sp) + 1), dtype=g.dtype)
    rows = _flat_rows(dx)
    flat = dx.reshape(-1)
    for idx, wt, _ in taps:
        _scatter_add(flat, (rows + idx[:, None, :]).ravel(), (g * wt[:, None, :]).ravel())
    return xp.ascontiguousarray(dx[:, :, :-1]).reshape((n, c) + tuple(in_sp))


@np.errstate(all="ignore")
def _grid_grad(x, g, taps, grid_shape):
    """d(sum(g * out)) / d grid: per tap, the channel sum of g times the tapped value, times
    the derivatives of the tap's weight."""
    xp = get_array_module(g)
    xz = _with_zero(x)
    g = g.reshape(g.shape[0], g.shape[1], -1)
    gs = [0] * grid_shape[-1]
    for idx, _, dws in taps:
        s = (_gather(xz, idx) * g).sum(axis=1)
        gs = [ga + s * dw for ga, dw in zip(gs, dws)]
    return xp.stack(gs, axis=-1).reshape(grid_shape)


def _kernel_path(x, mode):
    """Whether the kernels' grid_sample runs this call (csrc/grid_sample.cpp, its GPU
    counterpart): 'bilinear' and 'nearest' on float32/float64; 'bicubic' runs the taps here."""
    return mode != "bicubic" and x.dtype in (np.float32, np.float64)


class GridSample(Function):
    op_name = "grid_sampler_2d"

    @staticmethod
    def forward(ctx, x, grid, mode, padding_mode, align_corners):
        ctx.mode, ctx.opts = mode, (mode, padding_mode, align_corners)
        ctx.shapes = (x.shape[2:], grid.shape)
        ctx.x, ctx.grid = x, grid
        if _kernel_path(x, mode):
            xp = get_array_module(x)
            ctx.taps = None  # computed in backward_graph if a double backward asks for them
            return kernels_for(x).grid_sample_forward(
                xp.ascontiguousarray(x),
                xp.ascontiguousarray(grid),
                mode,
                padding_mode,
                align_corners,
            )
        ctx.taps = _taps(grid, x.shape[2:], mode, padding_mode, align_corners)
        return _sample(x, ctx.taps, grid.shape[1:-1])

    @staticmethod
    def backward(ctx, g):
        in_sp, grid_shape = ctx.shapes
        need_x, need_grid = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if ctx.taps is None:
            xp = get_array_module(g)
            dx, dgrid = kernels_for(g).grid_sample_backward(
                xp.ascontiguousarray(g),
                xp.ascontiguousarray(ctx.x),
                xp.ascontiguousarray(ctx.grid),
                *ctx.opts,
                input_grad=bool(need_x),
                grid_grad=bool(need_grid),
            )
            return dx, dgrid, None, None, None
        dx = _sample_adjoint(g, ctx.taps, in_sp) if need_x else None
        dgrid = None
        if need_grid and ctx.mode == "nearest":  # piecewise constant
            dgrid = get_array_module(g).zeros(grid_shape, dtype=g.dtype)
        elif need_grid:
            dgrid = _grid_grad(ctx.x, g, ctx.taps, grid_shape)
        return dx, dgrid, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        if ctx.needs_input_grad[1] and ctx.mode != "nearest":
            return _graph_grads(ctx, inputs, g) + (None, None, None)
        # Linear in the input for a fixed grid: the input's gradient is the adjoint map
        in_sp, grid_shape = ctx.shapes
        taps = ctx.taps
        if taps is None:
            taps = ctx.taps = _taps(ctx.grid, in_sp, *ctx.opts)
        dx = LinearMap.apply(
            g,
            lambda a: _sample_adjoint(a, taps, in_sp),
            lambda a: _sample(a, taps, grid_shape[1:-1]),
        )
        dgrid = None
        if ctx.needs_input_grad[1]:  # nearest: the grid's gradient is zero
            xp = get_array_module(dx._data)
            dgrid = Tensor._wrap(xp.zeros(grid_shape, dtype=dx._data.dtype))
        return dx, dgrid, None, None, None


class GridSample3d(GridSample):
    op_name = "grid_sampler_3d"


def _gather_image(a, idx):
    """(N, C, H, W) at the flat indices idx (N, P) -> (N, C, P); outside reads zero."""
    return _gather(_with_zero(a), idx)


def _scatter_image(b, idx, sp):
    """The adjoint of _gather_image: (N, C, P) added onto an (N, C, *sp) zero image."""
    xp = get_array_module(b)
    n, c = b.shape[:2]
    out = xp.zeros((n, c, math.prod(sp) + 1), dtype=b.dtype)
    _scatter_add(out.reshape(-1), (_flat_rows(out) + idx[:, None, :]).ravel(), b.ravel())
    return xp.ascontiguousarray(out[:, :, :-1]).reshape((n, c) + tuple(sp))


def _graph_grads(ctx, inputs, g):
    """create_graph=True with the grid requiring grad: both gradients as recorded ops. The tap
    indices are piecewise constant in the grid and the fractions linear in it between jumps
    (fx = fx0 + sx * (grid_x - grid_x0)), so the weights are recorded functions of the grid;
    the gathers and scatters, linear in the image, are LinearMaps."""
    in_sp, grid_shape = ctx.shapes
    mode, padding_mode, align_corners = ctx.opts
    x_t = inputs[0] if inputs[0] is not None else Tensor._wrap(ctx.x)
    grid, grid_t = ctx.grid, inputs[1]
    n, k = grid_shape[0], grid_shape[-1]
    idx, fracs, slopes = _lattice(grid, in_sp, mode, padding_mode, align_corners)

    def frac(a, f, s):  # the fraction as a recorded, locally linear function of the grid
        return (grid_t[..., a].reshape(n, -1) - Tensor._wrap(grid[..., a].reshape(n, -1))) * s + f

    weights = _weights([frac(a, fracs[a], slopes[a]) for a in range(k)], slopes, mode)
    gf = g.reshape(n, g.shape[1], -1)
    dx, gs = None, [None] * k
    for i, (wt, dws) in zip(idx, weights):
        gather = lambda a, i=i: _gather_image(a, i)  # noqa: E731
        scatter = lambda b, i=i: _scatter_image(b, i, in_sp)  # noqa: E731
        if ctx.needs_input_grad[0]:
            d = LinearMap.apply(gf * wt.unsqueeze(1), scatter, gather)
            dx = d if dx is None else dx + d
        s = (gf * LinearMap.apply(x_t, gather, scatter)).sum(1)
        gs = [s * dw if ga is None else ga + s * dw for ga, dw in zip(gs, dws)]
    return dx, stack(gs, -1).reshape(grid_shape)


def grid_sample(
    input: Tensor,
    grid: Tensor,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool | None = None,
) -> Tensor:
    """Sample ``input`` (N, C, H, W) at the locations ``grid`` (N, Hout, Wout, 2) gives, as
    torch's F.grid_sample: ``grid[n, i, j] = (x, y)`` in [-1, 1], x along the width, and the
    output is (N, C, Hout, Wout). Volumes as torch's too: input (N, C, D, H, W), grid
    (N, Dout, Hout, Wout, 3) holding (x, y, z), output (N, C, Dout, Hout, Wout); 'bilinear' is
    then trilinear. ``mode`` 'bilinear', 'nearest' (ties round to even) or 'bicubic' (cubic
    convolution, A = -0.75; 4-D only, as torch); ``padding_mode`` says what lies outside the
    image: 'zeros', 'border' (the edge pixel) or 'reflection' (the image mirrored at its
    edges). ``align_corners=None`` warns as torch does and means False.

    Differentiable in the input and the grid ('nearest' gives the grid a zero gradient, as
    torch), to any order (create_graph=True).
    """
    if mode not in _MODES:
        raise ValueError(
            "nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or "
            f"'bicubic', but got: '{mode}'"
        )
    if padding_mode not in _PADDING:
        raise ValueError(
            "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
            f"'reflection', but got: '{padding_mode}'"
        )
    if align_corners is None:
        warnings.warn(_OLD_DEFAULT, UserWarning, stacklevel=2)
        align_corners = False
    x = check_float(input, "grid_sample", "input")
    gr = check_float(grid, "grid_sample", "grid")
    sizes = f"input with sizes {list(x.shape)} and grid with sizes {list(gr.shape)}"
    if x.ndim not in (4, 5) or gr.ndim != x.ndim:
        want = f"{x.ndim}D" if x.ndim in (4, 5) else "4D or 5D"
        raise RuntimeError(
            f"grid_sampler(): expected {want} input and grid with same number of dimensions, "
            "but got " + sizes
        )
    if x.shape[0] != gr.shape[0]:
        raise RuntimeError(
            f"grid_sampler(): expected grid and input to have same batch size, but got {sizes}"
        )
    if gr.shape[-1] != x.ndim - 2:
        raise RuntimeError(
            f"grid_sampler(): expected grid to have size {x.ndim - 2} in last dimension, but got "
            f"grid with sizes {list(gr.shape)}"
        )
    if mode == "bicubic" and x.ndim == 5:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    for d in range(2, x.ndim):
        if x.shape[d] == 0:
            raise RuntimeError(
                "grid_sampler(): expected input to have non-empty spatial dimensions, but input "
                f"has sizes {list(x.shape)} with dimension {d} being empty"
            )
    if x.dtype != gr.dtype:
        raise RuntimeError(
            f"grid_sampler(): expected input and grid to have same dtype, but input has {x.dtype} "
            f"and grid has {gr.dtype}"
        )
    fn = GridSample if x.ndim == 4 else GridSample3d
    return fn.apply(input, grid, mode, padding_mode, bool(align_corners))


def _steps(n, align_corners, dtype):
    """torch's linspace_from_neg_one: pixel centres in [-1, 1] (the edges at +-1 when
    align_corners=False), rounded as torch's float32 linspace (a fused multiply-add from the
    nearer end) and scaling round them."""
    if n <= 1:
        return np.zeros(1, dtype)
    # the product exact in extended precision, rounded once after the addition, as an FMA
    step = np.longdouble(dtype.type(2.0) / dtype.type(n - 1))
    i = np.arange(n).astype(np.longdouble)
    r = np.where(i < n // 2, -1 + step * i, 1 - step * (n - 1 - i)).astype(dtype)
    if not align_corners:
        r = r * dtype.type(n - 1) / dtype.type(n)
    return r.astype(dtype)


def affine_grid(theta: Tensor, size: Sequence[int], align_corners: bool | None = None) -> Tensor:
    """The sampling grid of a batch of affine maps, as torch's F.affine_grid: ``theta``
    (N, 2, 3) and ``size`` (N, C, H, W) give (N, H, W, 2), the point ``theta @ (x, y, 1)`` for
    each output pixel's normalised coordinates (x, y); ``theta`` (N, 3, 4) and ``size``
    (N, C, D, H, W) give (N, D, H, W, 3). For grid_sample with the same ``align_corners``
    (None warns as torch does and means False). Differentiable in theta to any order (a
    matrix product).

    Raises ValueError for a non-float theta, a theta of the wrong shape or a non-positive size,
    NotImplementedError for a size of other than 4 or 5 values.
    """
    if align_corners is None:
        warnings.warn(_OLD_DEFAULT, UserWarning, stacklevel=2)
        align_corners = False
    a = array_of(theta)
    if not hasattr(a, "dtype") or a.dtype.kind != "f":
        got = getattr(a, "dtype", type(theta).__name__)
        raise ValueError(f"affine_grid: Expected theta to have floating point type, but got {got}")
    size = tuple(int(s) for s in size)
    if len(size) not in (4, 5):
        raise NotImplementedError(
            "affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
            f"respectively. Got size {size}."
        )
    k = len(size) - 2
    if a.ndim != 3 or a.shape[1:] != (k, k + 1):
        raise ValueError(
            f"affine_grid: Expected a batch of {k}D affine matrices of shape Nx{k}x{k + 1} for "
            f"size {size}. Got {tuple(a.shape)}."
        )
    spatial = size[2:]
    if align_corners and min(spatial) == 1:
        warnings.warn(
            "Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
            "align_corners=True. This is not an intended use case of affine_grid. See the "
            "documentation of affine_grid for details.",
            UserWarning,
            stacklevel=2,
        )
    elif min(size) <= 0:
        raise ValueError(f"affine_grid: Expected non-zero, positive output size. Got {size}")
    if a.shape[0] != size[0]:
        raise RuntimeError(
            f"affine_grid: theta holds {a.shape[0]} matrices but size asks for a batch of {size[0]}"
        )
    # base (prod(spatial), k): the coordinates (x, y[, z]) of each output pixel, x fastest
    axes = [_steps(n, align_corners, a.dtype) for n in reversed(spatial)]
    mesh = np.meshgrid(*axes[::-1], indexing="ij")[::-1]
    xp = get_array_module(a)
    base = xp.asarray(np.stack([m.ravel() for m in mesh], axis=1))
    t = (theta if isinstance(theta, Tensor) else Tensor._wrap(a)).unsqueeze(1)  # (N, 1, k, k+1)
    # theta @ (x, y[, z], 1) summed term by term in order, as torch's float32 product rounds
    grid = Tensor._wrap(base[:, 0:1]) * t[..., 0]
    for j in range(1, k):
        grid = grid + Tensor._wrap(base[:, j : j + 1]) * t[..., j]
    grid = grid + t[..., k]
    return grid.reshape(size[0], *spatial, k)
