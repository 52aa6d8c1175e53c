"""Box IoU, NMS, anchors and the box coder against hand-worked cases and NumPy references."""

import math

import numpy as np
import pytest

from pydlk.vision import (
    AnchorGenerator,
    BoxCoder,
    batched_nms,
    box_area,
    box_iou,
    generate_anchors,
    grid_anchors,
    nms,
)


def _rand_boxes(rng, n, size=50.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(1, size / 2, (n, 2))
    return np.concatenate([xy, xy + wh], 1)


def _iou_loop(a, b):
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            inter = iw * ih
            out[i, j] = inter / (
                (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
            )
    return out


def _nms_naive(b, s, thr):
    """Textbook greedy NMS: repeatedly take the best remaining box, drop everything over thr."""
    remaining = list(range(len(b)))
    keep = []
    while remaining:
        best = max(remaining, key=lambda i: (s[i], -i))
        keep.append(best)
        remaining = [
            i for i in remaining if i != best and _iou_loop(b[[best]], b[[i]])[0, 0] <= thr
        ]
    return keep


def test_hand_worked():
    a = np.array([[0, 0, 2, 2], [1, 1, 3, 3], [10, 10, 11, 12]], np.float64)
    np.testing.assert_allclose(box_area(a).numpy(), [4, 4, 2])
    iou = box_iou(a, a).numpy()
    np.testing.assert_allclose(iou[0, 1], 1 / 7)  # intersection 1, union 4 + 4 - 1
    np.testing.assert_allclose(np.diag(iou), 1)
    assert iou[0, 2] == 0
    # box 1 overlaps box 0 by 1/7: kept at thr 0.1? no (1/7 > 0.1); kept at thr 0.2
    assert nms(a, np.array([0.9, 0.8, 0.1]), 0.1).tolist() == [0, 2]
    assert nms(a, np.array([0.9, 0.8, 0.1]), 0.2).tolist() == [0, 1, 2]
    assert nms(a, np.array([0.1, 0.8, 0.5]), 0.1).tolist() == [1, 2]


def test_iou_random(rng):
    a, b = _rand_boxes(rng, 13), _rand_boxes(rng, 7)
    np.testing.assert_allclose(box_iou(a, b).numpy(), _iou_loop(a, b), rtol=1e-12)


@pytest.mark.parametrize("thr", [0.0, 0.3, 0.5, 0.7])
def test_nms_vs_naive(rng, thr):
    for _ in range(5):
        b = _rand_boxes(rng, 60)
        s = rng.uniform(size=60)
        assert nms(b, s, thr).tolist() == _nms_naive(b, s, thr)


def test_batched_nms(rng):
    b = _rand_boxes(rng, 80)
    s = rng.uniform(size=80)
    idx = rng.integers(0, 3, 80)
    ref = []
    for c in range(3):
        sel = np.nonzero(idx == c)[0]
        ref += [sel[k] for k in _nms_naive(b[sel], s[sel], 0.4)]
    ref = sorted(ref, key=lambda i: -s[i])
    assert batched_nms(b, s, idx, 0.4).tolist() == ref
    with pytest.raises(ValueError, match="batched_nms: idxs"):
        batched_nms(b, s, idx[:3], 0.4)
    with pytest.raises(ValueError, match="nms: boxes must have shape"):
        nms(b[:, :3], s, 0.5)


def test_anchors_hand_worked():
    # size 32, ratio 0.5: w = 32*sqrt(2) = 45.25, h = 22.63; halves 22.6, 11.3 -> 23, 11
    a = generate_anchors((32, 64), (0.5, 1.0, 2.0)).numpy()
    np.testing.assert_array_equal(
        a[:3], [[-23, -11, 23, 11], [-45, -23, 45, 23], [-16, -16, 16, 16]]
    )
    # ratio h/w and area preserved before rounding
    g = grid_anchors(a, (2, 3), (16, 8)).numpy()
    assert g.shape == (2 * 3 * 6, 4)
    np.testing.assert_array_equal(g[6 * 4 + 2], a[2] + [8, 16, 8, 16])  # cell (1, 1)
    gen = AnchorGenerator(((32,), (64,)), ((1.0,), (0.5, 2.0)))
    out = gen((64, 64), [(4, 4), (2, 2)]).numpy()
    assert out.shape == (16 + 2 * 2 * 2, 4)
    np.testing.assert_array_equal(out[5], [16 - 16, 16 - 16, 16 + 16, 16 + 16])
    assert gen.num_anchors_per_location() == [1, 2]


def test_box_coder_hand_worked_and_roundtrip(rng):
    p = np.array([[0.0, 0.0, 10.0, 20.0]])
    g = np.array([[5.0, 0.0, 25.0, 20.0]])
    t = BoxCoder((10, 10, 5, 5)).encode_single(g, p).numpy()
    # centres 5 -> 15 (dx = 10/10 * 10 = 10), same y, width 10 -> 20 (5 log 2)
    np.testing.assert_allclose(t, [[10.0, 0.0, 5 * math.log(2), 0.0]])
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    props, gts = _rand_boxes(rng, 20), _rand_boxes(rng, 20)
    codes = coder.encode(gts, props)
    np.testing.assert_allclose(coder.decode_single(codes, props).numpy(), gts, rtol=1e-10)
    assert coder.decode(codes, [props[:5], props[5:]]).shape == (20, 1, 4)
    # a huge dw is clamped at log(1000/16)
    big = coder.decode_single(np.array([[0, 0, 1e4, 0]], np.float64), p).numpy()
    np.testing.assert_allclose(big[0, 2] - big[0, 0], 10 * 1000 / 16, rtol=1e-10)


def test_vs_torchvision(rng):
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    b = _rand_boxes(rng, 50).astype(np.float32)
    s = rng.uniform(size=50).astype(np.float32)
    assert nms(b, s, 0.5).tolist() == tv.ops.nms(torch.tensor(b), torch.tensor(s), 0.5).tolist()
    np.testing.assert_allclose(
        box_iou(b, b).numpy(), tv.ops.box_iou(torch.tensor(b), torch.tensor(b)).numpy(), rtol=1e-6
    )
    from torchvision.models.detection.anchor_utils import AnchorGenerator as TA

    ta = TA(((32, 64),), ((0.5, 1.0, 2.0),))
    np.testing.assert_array_equal(
        generate_anchors((32, 64)).numpy(), ta.generate_anchors([32, 64], [0.5, 1.0, 2.0]).numpy()
    )
