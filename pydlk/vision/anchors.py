"""Anchor boxes as torchvision.models.detection.anchor_utils.AnchorGenerator lays them out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy
from .._typing import TensorOrArrayLike
from ..autograd import Tensor

__all__ = ["AnchorGenerator", "generate_anchors", "grid_anchors"]


def generate_anchors(
    scales: Sequence[float], aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0)
) -> Tensor:
    """Zero-centred anchors, (len(aspect_ratios) * len(scales), 4) xyxy, ratio-major: for ratio
    r = h/w and size s the box is ``w = s / sqrt(r)``, ``h = s * sqrt(r)`` (area s^2), rounded
    half-to-even to whole pixels as torchvision does."""
    sc = np.asarray(scales, np.float32)
    ar = np.asarray(aspect_ratios, np.float32)
    if sc.ndim != 1 or ar.ndim != 1 or np.any(ar <= 0) or np.any(sc <= 0):
        raise ValueError(
            f"generate_anchors: scales and aspect_ratios must be 1-D positive, got {sc!r}, {ar!r}"
        )
    h_ratios = np.sqrt(ar)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * sc[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * sc[None, :]).reshape(-1)
    return Tensor._wrap(np.round(np.stack([-ws, -hs, ws, hs], axis=1) / 2))


def grid_anchors(
    base_anchors: TensorOrArrayLike, grid_size: tuple[int, int], stride: tuple[int, int]
) -> Tensor:
    """Every base anchor shifted to every feature-map cell: (H * W * A, 4), row-major over the
    (H, W) grid, anchors innermost; cell (i, j) is at ``(j * stride_w, i * stride_h)``. On
    the device of ``base_anchors``."""
    if isinstance(base_anchors, Tensor):
        base = base_anchors._data
    else:
        base = base_anchors if is_cupy(base_anchors) else np.asarray(base_anchors)
    xp = get_array_module(base)
    gh, gw = grid_size
    sh, sw = stride
    sx = xp.arange(gw, dtype=np.float32) * sw
    sy = xp.arange(gh, dtype=np.float32) * sh
    yy, xx = xp.meshgrid(sy, sx, indexing="ij")
    x, y = xx.reshape(-1), yy.reshape(-1)
    shifts = xp.stack([x, y, x, y], axis=1)
    return Tensor._wrap((shifts[:, None, :] + base[None, :, :]).reshape(-1, 4))


class AnchorGenerator:
    """Anchors for several feature maps (torchvision's AnchorGenerator without the ImageList):
    ``sizes[i]`` and ``aspect_ratios[i]`` are used on feature map i, whose stride is
    ``image_size // feature_size`` (integer division, as torchvision).

    ``generator(image_size, feature_map_sizes)`` returns the (sum_i H_i W_i A_i, 4) anchors for
    one image, in the order torchvision concatenates them.
    """

    def __init__(
        self,
        sizes: Sequence[Sequence[int]] | Sequence[int] = ((128, 256, 512),),
        aspect_ratios: Sequence[Sequence[float]] | Sequence[float] = ((0.5, 1.0, 2.0),),
    ) -> None:
        # one sequence per feature map, after the single-map forms are expanded
        per_map_sizes: Sequence[Any] = sizes
        per_map_ratios: Sequence[Any] = aspect_ratios
        if not isinstance(sizes[0], (list, tuple)):
            per_map_sizes = tuple((s,) for s in sizes)
        if not isinstance(aspect_ratios[0], (list, tuple)):
            per_map_ratios = (aspect_ratios,) * len(per_map_sizes)
        if len(per_map_sizes) != len(per_map_ratios):
            raise ValueError(
                f"AnchorGenerator: sizes ({len(per_map_sizes)}) and aspect_ratios "
                f"({len(per_map_ratios)}) need one entry per feature map"
            )
        self.sizes, self.aspect_ratios = per_map_sizes, per_map_ratios
        self.cell_anchors = [generate_anchors(s, a) for s, a in zip(self.sizes, self.aspect_ratios)]

    def num_anchors_per_location(self) -> list[int]:
        return [len(s) * len(a) for s, a in zip(self.sizes, self.aspect_ratios)]

    def __call__(
        self, image_size: tuple[int, int], feature_map_sizes: Sequence[tuple[int, int]]
    ) -> Tensor:
        if len(feature_map_sizes) != len(self.cell_anchors):
            raise ValueError(
                f"AnchorGenerator: got {len(feature_map_sizes)} feature maps, "
                f"built for {len(self.cell_anchors)}"
            )
        H, W = image_size
        out = [
            grid_anchors(base, (fh, fw), (H // fh, W // fw))._data
            for base, (fh, fw) in zip(self.cell_anchors, feature_map_sizes)
        ]
        return Tensor._wrap(np.concatenate(out))
