"""Babysitting plots: activation histograms per layer and first-layer filters as an image grid.

Figures are built as ``matplotlib.figure.Figure`` with an Agg canvas, so the global pyplot
backend is never switched, and written atomically as PNG.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._atomic import atomic_write
from ._backend import host_array
from ._typing import StrPath, TensorLike
from .autograd import Tensor, no_grad
from .nn.module import Module

__all__ = ["NONLINEARITIES", "activation_histograms", "filter_grid"]

# modules whose outputs are "activations after a nonlinearity" by default
NONLINEARITIES = (
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "SELU",
    "CELU",
    "GELU",
    "SiLU",
    "Mish",
    "ReLU6",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "Hardtanh",
    "Maxout",
)


def _figure(figsize: tuple[float, float]) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("pydlk.visualize needs matplotlib: pip install 'pydlk[plot]'") from None
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: StrPath) -> StrPath:
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)
    return path


def activation_histograms(
    model: Module,
    x: TensorLike,
    path: StrPath,
    layers: Sequence[str] | None = None,
    bins: int = 50,
) -> dict[str, np.ndarray]:
    """Run ``model(x)`` (no gradient) and plot a histogram of each chosen layer's output, with
    its mean, standard deviation and fraction of exact zeros in the title (dead ReLUs, saturated
    tanh units and collapsing activations show up here). ``layers`` are module names from
    ``model.named_modules()``; by default every nonlinearity module (``NONLINEARITIES``), in
    call order. Writes one PNG to ``path`` and returns ``{name: activations array}``."""
    named = dict(model.named_modules())
    if layers is None:
        chosen = [n for n, m in named.items() if type(m).__name__ in NONLINEARITIES]
    else:
        missing = [n for n in layers if n not in named]
        if missing:
            raise ValueError(f"activation_histograms: no module named {missing} in the model")
        chosen = list(layers)
    if not chosen:
        raise ValueError(
            "activation_histograms: the model has no nonlinearity modules; pass layers=[names]"
        )
    acts: dict[str, np.ndarray] = {}
    handles = []
    for name in chosen:

        def hook(module: Module, args: tuple[Any, ...], output: Any, name: str = name) -> None:
            a = output._data if isinstance(output, Tensor) else output
            acts[name] = np.array(host_array(a), copy=True)

        handles.append(named[name].register_forward_hook(hook))
    try:
        with no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    order = [n for n in chosen if n in acts]
    cols = min(4, len(order))
    rows = math.ceil(len(order) / cols)
    fig = _figure((3.2 * cols, 2.6 * rows))
    for i, name in enumerate(order):
        a = acts[name].ravel()
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.hist(a, bins=bins, color="tab:blue")
        ax.set_title(
            f"{name} ({type(named[name]).__name__})\nmean {a.mean():.3g} std "
            f"{a.std():.3g} zeros {np.mean(a == 0):.0%}",
            fontsize=8,
        )
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    _save(fig, path)
    return {n: acts[n] for n in order}


def filter_grid(
    weight: TensorLike, path: StrPath, ncols: int | None = None, padding: int = 1
) -> np.ndarray:
    """First-layer filters (K, C, R, S) as one image: a grid of the K filters, each min-max
    normalised to [0, 1] on its own; C = 3 is drawn as RGB, otherwise channel 0 in grey (one
    tile per filter). Writes a PNG to ``path`` and returns the grid array (H, W, 3)."""
    w = host_array(weight._data if isinstance(weight, Tensor) else weight).astype(np.float64)
    if w.ndim != 4:
        raise ValueError(f"filter_grid: weight must be (K, C, R, S), got {w.shape}")
    K, C, R, S = w.shape
    tiles = w if C == 3 else np.repeat(w[:, :1], 3, axis=1)
    lo = tiles.min(axis=(1, 2, 3), keepdims=True)
    hi = tiles.max(axis=(1, 2, 3), keepdims=True)
    tiles = (tiles - lo) / np.where(hi > lo, hi - lo, 1.0)
    ncols = ncols or math.ceil(math.sqrt(K))
    nrows = math.ceil(K / ncols)
    grid = np.ones((nrows * (R + padding) + padding, ncols * (S + padding) + padding, 3))
    for k in range(K):
        r, c = divmod(k, ncols)
        y, x0 = padding + r * (R + padding), padding + c * (S + padding)
        grid[y : y + R, x0 : x0 + S] = tiles[k].transpose(1, 2, 0)
    fig = _figure((max(2.0, ncols * 0.6), max(2.0, nrows * 0.6)))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"{K} filters {C}x{R}x{S}", fontsize=8)
    _save(fig, path)
    return grid
