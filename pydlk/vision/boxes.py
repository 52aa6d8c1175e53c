"""Box utilities with torchvision.ops' names and semantics: boxes are (N, 4) ``(x1, y1, x2,
y2)`` with ``0 <= x1 < x2`` and ``0 <= y1 < y2`` (no +1 pixel convention). These are not
differentiable (as in torchvision, nms is an index selection); they take Tensors or arrays and
return Tensors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._typing import TensorOrArrayLike
from ..autograd import Tensor

__all__ = ["BoxCoder", "batched_nms", "box_area", "box_iou", "nms"]

# log(1000/16): no box grows more than 1000/16 times its anchor in one decode
_BBOX_XFORM_CLIP = math.log(1000.0 / 16)


def _boxes(b: TensorOrArrayLike, op: str, name: str = "boxes") -> np.ndarray:
    a = b._data if isinstance(b, Tensor) else np.asarray(b)
    if a.ndim != 2 or a.shape[1] != 4:
        raise ValueError(f"{op}: {name} must have shape (N, 4), got {a.shape}")
    if a.dtype.kind != "f":
        a = a.astype(np.float32)
    return a


def _t(a: np.ndarray) -> Tensor:
    return Tensor._wrap(np.ascontiguousarray(a))


def _area(b: np.ndarray) -> np.ndarray:
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
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


def _scores(scores: TensorOrArrayLike, n: int, op: str) -> np.ndarray:
    s = scores._data if isinstance(scores, Tensor) else np.asarray(scores)
    if s.shape != (n,):
        raise ValueError(f"{op}: scores must have shape ({n},), got {s.shape}")
    return s


def _nms(b: np.ndarray, s: np.ndarray, thr: float) -> np.ndarray:
    order = np.argsort(-s, kind="stable")
    b = b[order]
    iou = _iou(b, b)
    removed = np.zeros(len(order), bool)
    keep = []
    for i in range(len(order)):
        if removed[i]:
            continue
        keep.append(i)
        removed |= iou[i] > thr  # boxes overlapping a kept, higher-scoring box by more than thr
    return order[np.asarray(keep, np.int64)]


def nms(boxes: TensorOrArrayLike, scores: TensorOrArrayLike, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression (torchvision.ops.nms): visit boxes by decreasing score,
    keep a box unless a kept box overlaps it with IoU > ``iou_threshold``. Returns the int64
    indices of the kept boxes, by decreasing score. Ties in score keep their input order."""
    b = _boxes(boxes, "nms")
    s = _scores(scores, len(b), "nms")
    if len(b) == 0:
        return _t(np.zeros(0, np.int64))
    return _t(_nms(b, s, float(iou_threshold)))


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
    ix = idxs._data if isinstance(idxs, Tensor) else np.asarray(idxs)
    if ix.shape != (len(b),):
        raise ValueError(f"batched_nms: idxs must have shape ({len(b)},), got {ix.shape}")
    if len(b) == 0:
        return _t(np.zeros(0, np.int64))
    keep = np.concatenate(
        [
            np.nonzero(ix == c)[0][_nms(b[ix == c], s[ix == c], float(iou_threshold))]
            for c in np.unique(ix)
        ]
    )
    return _t(keep[np.argsort(-s[keep], kind="stable")].astype(np.int64))


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
    def _centres(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
        return _t(
            np.stack(
                [
                    wx * (gx - px) / pw,
                    wy * (gy - py) / ph,
                    ww * np.log(gw / pw),
                    wh * np.log(gh / ph),
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
        r = rel_codes._data if isinstance(rel_codes, Tensor) else np.asarray(rel_codes)
        b = _boxes(boxes, "BoxCoder.decode")
        if r.ndim != 2 or r.shape[0] != len(b) or r.shape[1] % 4:
            raise ValueError(
                f"BoxCoder.decode: rel_codes must have shape ({len(b)}, 4K), got {r.shape}"
            )
        r = r.astype(b.dtype, copy=False)
        wx, wy, ww, wh = self.weights
        cx, cy, w, h = self._centres(b)
        dx, dy = r[:, 0::4] / wx, r[:, 1::4] / wy
        dw = np.minimum(r[:, 2::4] / ww, self.bbox_xform_clip)
        dh = np.minimum(r[:, 3::4] / wh, self.bbox_xform_clip)
        pcx, pcy = dx * w[:, None] + cx[:, None], dy * h[:, None] + cy[:, None]
        pw, ph = np.exp(dw) * w[:, None], np.exp(dh) * h[:, None]
        out = np.stack([pcx - 0.5 * pw, pcy - 0.5 * ph, pcx + 0.5 * pw, pcy + 0.5 * ph], axis=2)
        return _t(out.reshape(len(b), -1))

    def decode(
        self,
        rel_codes: TensorOrArrayLike,
        boxes: TensorOrArrayLike | Sequence[TensorOrArrayLike],
    ) -> Tensor:
        """``boxes`` a list of per-image (N_i, 4) arrays (torchvision) or one array; returns
        (sum N_i, K, 4)."""
        if isinstance(boxes, (list, tuple)):
            boxes = np.concatenate([_boxes(b, "BoxCoder.decode") for b in boxes])
        out = self.decode_single(rel_codes, boxes)._data
        return _t(out.reshape(out.shape[0], -1, 4))
