"""Box utilities with torchvision.ops' names and semantics: boxes are (N, 4) ``(x1, y1, x2,
y2)`` with ``0 <= x1 < x2`` and ``0 <= y1 < y2`` (no +1 pixel convention). These are not
differentiable (as in torchvision, nms is an index selection); they take Tensors or arrays and
return Tensors, on the device of the boxes given (CuPy arrays stay on the GPU; nms and
batched_nms copy their (N, N) overlap mask to the host for the greedy pass, as torchvision's CUDA
nms does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_array_module, host_array, is_cupy, on_device_of
from .._typing import TensorOrArrayLike
from ..autograd import Tensor

__all__ = ["BoxCoder", "batched_nms", "box_area", "box_iou", "nms"]

# log(1000/16): no box grows more than 1000/16 times its anchor in one decode
_BBOX_XFORM_CLIP = math.log(1000.0 / 16)


def _array(v: TensorOrArrayLike) -> Any:
    """A Tensor's array, a CuPy array as it is, anything else through np.asarray."""
    if isinstance(v, Tensor):
        return v._data
    return v if is_cupy(v) else np.asarray(v)


def _boxes(b: TensorOrArrayLike, op: str, name: str = "boxes") -> Any:
    a = _array(b)
    if a.ndim != 2 or a.shape[1] != 4:
        raise ValueError(f"{op}: {name} must have shape (N, 4), got {a.shape}")
    if a.dtype.kind != "f":
        a = a.astype(np.float32)
    return a


def _t(a: Any) -> Tensor:
    return Tensor._wrap(get_array_module(a).ascontiguousarray(a))


def _area(b: np.ndarray) -> np.ndarray:
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def _iou(a: Any, b: Any) -> Any:
    xp = get_array_module(a)
    lt = xp.maximum(a[:, None, :2], b[None, :, :2])
    rb = xp.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = xp.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = _area(a)[:, None] + _area(b)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / union


def box_area(boxes: TensorOrArrayLike) -> Tensor:
    """Area ``(x2 - x1) * (y2 - y1)`` of each of the (N, 4) xyxy boxes: (N,)."""
    return _t(_area(_boxes(boxes, "box_area")))


def box_iou(boxes1: TensorOrArrayLike, boxes2: TensorOrArrayLike) -> Tensor:
    """Intersection over union of every pair: (N, M) for (N, 4) and (M, 4) xyxy boxes."""
    return _t(_iou(_boxes(boxes1, "box_iou", "boxes1"), _boxes(boxes2, "box_iou", "boxes2")))


def _scores(scores: TensorOrArrayLike, n: int, op: str) -> Any:
    s = _array(scores)
    if s.shape != (n,):
        raise ValueError(f"{op}: scores must have shape ({n},), got {s.shape}")
    return s


def _nms(b: Any, s: Any, thr: float, ix: Any = None) -> np.ndarray:
    """Host indices of the kept boxes, by decreasing score (ties: by ``ix``, then position).
    The overlaps are computed where the boxes are; the greedy pass reads them on the host."""
    over = _iou(b, b) > thr
    if ix is not None:  # only boxes of one category suppress each other
        over &= ix[:, None] == ix[None, :]
    over, s = host_array(over), host_array(s)
    order = np.argsort(-s, kind="stable")
    over = over[order][:, order]
    removed = np.zeros(len(order), bool)
    keep = []
    for i in range(len(order)):
        if removed[i]:
            continue
        keep.append(i)
        removed |= over[i]  # boxes overlapping a kept, higher-scoring box by more than thr
    kept = order[np.asarray(keep, np.int64)]
    if ix is None:
        return kept
    return kept[np.lexsort((kept, host_array(ix)[kept], -s[kept]))]


def nms(boxes: TensorOrArrayLike, scores: TensorOrArrayLike, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression (torchvision.ops.nms): visit boxes by decreasing score,
    keep a box unless a kept box overlaps it with IoU > ``iou_threshold``. Returns the int64
    indices of the kept boxes, by decreasing score. Ties in score keep their input order."""
    b = _boxes(boxes, "nms")
    s = _scores(scores, len(b), "nms")
    if len(b) == 0:
        return _t(get_array_module(b).zeros(0, np.int64))
    return _t(on_device_of(_nms(b, s, float(iou_threshold)), b))


def batched_nms(
    boxes: TensorOrArrayLike,
    scores: TensorOrArrayLike,
    idxs: TensorOrArrayLike,
    iou_threshold: float,
) -> Tensor:
    """NMS done independently per category ``idxs`` (torchvision.ops.batched_nms): boxes of
    different categories never suppress each other. Indices by decreasing score."""
    b = _boxes(boxes, "batched_nms")
    s = _scores(scores, len(b), "batched_nms")
    ix = _array(idxs)
    if ix.shape != (len(b),):
        raise ValueError(f"batched_nms: idxs must have shape ({len(b)},), got {ix.shape}")
    if len(b) == 0:
        return _t(get_array_module(b).zeros(0, np.int64))
    ix = on_device_of(ix, b)
    return _t(on_device_of(_nms(b, s, float(iou_threshold), ix), b))


class BoxCoder:
    """Faster R-CNN box parametrisation (torchvision.models.detection._utils.BoxCoder).

    ``encode_single(reference_boxes, proposals)``: for proposal P and ground truth G (xyxy),
    ``t = (wx (Gx - Px) / Pw, wy (Gy - Py) / Ph, ww log(Gw / Pw), wh log(Gh / Ph))`` with
    centres (x, y) and sizes (w, h). ``decode_single(rel_codes, boxes)`` inverts it, clamping
    ``dw, dh`` at ``bbox_xform_clip`` (default log(1000/16)) before the exp so that a wild
    prediction cannot overflow. ``rel_codes`` may hold K boxes per row, (N, 4K).
    """

    def __init__(
        self,
        weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
        bbox_xform_clip: float = _BBOX_XFORM_CLIP,
    ) -> None:
        if len(weights) != 4:
            raise ValueError(f"BoxCoder: weights must be 4 numbers, got {weights!r}")
        self.weights = tuple(float(w) for w in weights)
        self.bbox_xform_clip = float(bbox_xform_clip)

    @staticmethod
    def _centres(b: Any) -> tuple[Any, Any, Any, Any]:
        w = b[:, 2] - b[:, 0]
        h = b[:, 3] - b[:, 1]
        return b[:, 0] + 0.5 * w, b[:, 1] + 0.5 * h, w, h

    def encode_single(
        self, reference_boxes: TensorOrArrayLike, proposals: TensorOrArrayLike
    ) -> Tensor:
        g = _boxes(reference_boxes, "BoxCoder.encode", "reference_boxes")
        p = _boxes(proposals, "BoxCoder.encode", "proposals")
        if g.shape != p.shape:
            raise ValueError(
                f"BoxCoder.encode: reference_boxes {g.shape} and proposals "
                f"{p.shape} must have the same shape"
            )
        wx, wy, ww, wh = self.weights
        px, py, pw, ph = self._centres(p)
        gx, gy, gw, gh = self._centres(g)
        xp = get_array_module(p)
        return _t(
            xp.stack(
                [
                    wx * (gx - px) / pw,
                    wy * (gy - py) / ph,
                    ww * xp.log(gw / pw),
                    wh * xp.log(gh / ph),
                ],
                axis=1,
            )
        )

    def encode(
        self,
        reference_boxes: TensorOrArrayLike | Sequence[TensorOrArrayLike],
        proposals: TensorOrArrayLike | Sequence[TensorOrArrayLike],
    ) -> Tensor | list[Tensor]:
        """One (N_i, 4) target array per image for lists of boxes, or one for arrays."""
        if isinstance(reference_boxes, (list, tuple)):
            return [self.encode_single(g, p) for g, p in zip(reference_boxes, proposals)]
        return self.encode_single(reference_boxes, proposals)

    def decode_single(self, rel_codes: TensorOrArrayLike, boxes: TensorOrArrayLike) -> Tensor:
        r = _array(rel_codes)
        b = _boxes(boxes, "BoxCoder.decode")
        xp = get_array_module(b)
        if r.ndim != 2 or r.shape[0] != len(b) or r.shape[1] % 4:
            raise ValueError(
                f"BoxCoder.decode: rel_codes must have shape ({len(b)}, 4K), got {r.shape}"
            )
        r = r.astype(b.dtype, copy=False)
        wx, wy, ww, wh = self.weights
        cx, cy, w, h = self._centres(b)
        dx, dy = r[:, 0::4] / wx, r[:, 1::4] / wy
        dw = xp.minimum(r[:, 2::4] / ww, self.bbox_xform_clip)
        dh = xp.minimum(r[:, 3::4] / wh, self.bbox_xform_clip)
        pcx, pcy = dx * w[:, None] + cx[:, None], dy * h[:, None] + cy[:, None]
        pw, ph = xp.exp(dw) * w[:, None], xp.exp(dh) * h[:, None]
        out = xp.stack([pcx - 0.5 * pw, pcy - 0.5 * ph, pcx + 0.5 * pw, pcy + 0.5 * ph], axis=2)
        return _t(out.reshape(len(b), -1))

    def decode(
        self,
        rel_codes: TensorOrArrayLike,
        boxes: TensorOrArrayLike | Sequence[TensorOrArrayLike],
    ) -> Tensor:
        """``boxes`` a list of per-image (N_i, 4) arrays (torchvision) or one array; returns
        (sum N_i, K, 4)."""
        if isinstance(boxes, (list, tuple)):
            parts = [_boxes(b, "BoxCoder.decode") for b in boxes]
            boxes = get_array_module(parts[0]).concatenate(parts) if parts else np.zeros((0, 4))
        out = self.decode_single(rel_codes, boxes)._data
        return _t(out.reshape(out.shape[0], -1, 4))
