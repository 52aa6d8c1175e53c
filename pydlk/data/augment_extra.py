"""More batch augmentation and test-time helpers, on float32 NCHW batches (NumPy loops; the
conventions of pydlk.data.augment: ``t(x, rng=None)`` draws per-sample parameters from a Philox
stream keyed by one seed taken from ``rng`` or pydlk's global generator).

* ``RandomShortSideResize``: ResNet's scale augmentation (short side uniform in [256, 480]).
* ``RandomAffineShearScale``: torchvision's RandomAffine with scale and shear.
* ``five_crop``, ``ten_crop``, ``multi_scale_predict``: multi-crop, multi-scale testing.

A GPU batch (CuPy array or GPU Tensor) stays on its GPU, as in pydlk.data.augment.
"""

import math

import numpy as np

from .._backend import get_array_module, host_array, is_cupy, on_device_of
from .augment import RandomAffine, _batch, _pair, _stream

__all__ = [
    "RandomAffineShearScale",
    "RandomShortSideResize",
    "affine_matrix",
    "five_crop",
    "multi_scale_predict",
    "resize",
    "ten_crop",
]


# ------------------------------------------------------------------------------ resampling


def _axis_weights(n_in, n_total, start, count):
    scale = n_in / n_total
    s = (np.arange(start, start + count) + 0.5) * scale - 0.5
    s = np.maximum(s, 0.0)
    i0 = np.minimum(np.floor(s).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, s - i0


def _resize_crop(img, size, top, left, out_hw):
    """Crop ``out_hw`` at (top, left) of ``img`` (C, H, W) resized bilinearly to ``size``."""
    _, H, W = img.shape
    xp = get_array_module(img)  # the index and weight arrays go where the image is
    y0, y1, wy = (xp.asarray(a) for a in _axis_weights(H, size[0], top, out_hw[0]))
    x0, x1, wx = (xp.asarray(a) for a in _axis_weights(W, size[1], left, out_hw[1]))
    wy, wx = wy[:, None].astype(np.float32), wx[None, :].astype(np.float32)
    rows0, rows1 = img[:, y0], img[:, y1]
    top_ = rows0[:, :, x0] * (1 - wx) + rows0[:, :, x1] * wx
    bot = rows1[:, :, x0] * (1 - wx) + rows1[:, :, x1] * wx
    return top_ * (1 - wy) + bot * wy


def resize(x, size) -> np.ndarray:
    """Bilinear resize of a batch to ``size`` (an int: the short side, the long side scaled to
    ``int(size * long / short)`` as torchvision; or (h, w)). Half-pixel centres and no
    antialiasing: torch's ``interpolate(mode='bilinear', align_corners=False)``."""
    x = _batch(x, "resize")
    H, W = x.shape[2:]
    if isinstance(size, (int, np.integer)):
        s = int(size)
        size = (s, int(s * W / H)) if H <= W else (int(s * H / W), s)
    size = _pair(size, "resize")
    xp = get_array_module(x)
    return xp.stack([_resize_crop(img, size, 0, 0, size) for img in x]).astype(np.float32)


class RandomShortSideResize:
    """Resize each image so that its short side is a uniform random integer in
    [min_size, max_size] (bilinear, aspect kept), then take a random ``crop`` (int or (h, w)) of
    it: the scale augmentation of He et al. (2016) with crop 224. The resize and crop are one
    resampling pass over the crop only. Without ``crop`` (images of one batch must share a
    size) one short side is drawn for the whole batch. Not a torchvision class (there:
    ``RandomResize(min, max + 1)`` followed by ``RandomCrop``)."""

    def __init__(self, min_size: int = 256, max_size: int = 480, crop=None):
        if not 0 < min_size <= max_size:
            raise ValueError(
                f"RandomShortSideResize: need 0 < min_size <= max_size, got {min_size}, {max_size}"
            )
        self.min_size, self.max_size = int(min_size), int(max_size)
        self.crop = None if crop is None else _pair(crop, "RandomShortSideResize")

    @staticmethod
    def _size(H, W, s):
        return (s, int(s * W / H)) if H <= W else (int(s * H / W), s)

    def params(self, x, g):
        N, _, H, W = x.shape
        if self.crop is None:
            s = np.full(N, g.integers(self.min_size, self.max_size + 1))
        else:
            s = g.integers(self.min_size, self.max_size + 1, N)
        sizes = [self._size(H, W, int(v)) for v in s]
        if self.crop is None:
            return sizes, [(0, 0)] * N
        ch, cw = self.crop
        if any(h < ch or w < cw for h, w in sizes):
            raise ValueError(
                f"RandomShortSideResize: crop {self.crop} is larger than a "
                f"resized image {min(sizes)}; raise min_size"
            )
        offs = [(int(g.integers(0, h - ch + 1)), int(g.integers(0, w - cw + 1))) for h, w in sizes]
        return sizes, offs

    def __call__(self, x, rng=None):
        x = _batch(x, "RandomShortSideResize")
        sizes, offs = self.params(x, _stream(rng))
        out_hw = self.crop or sizes[0]
        return (
            get_array_module(x)
            .stack(
                [_resize_crop(img, sz, t, l_, out_hw) for img, sz, (t, l_) in zip(x, sizes, offs)]
            )
            .astype(np.float32)
        )


# ------------------------------------------------------------------------------ affine


def affine_matrix(angle: float, translate, scale: float, shear) -> np.ndarray:
    """torchvision's inverse affine matrix (2, 3) for ``F.affine``: output pixel coordinates
    relative to the image centre map to input ones by it. The forward map is
    ``T * C * R(angle) * Shear(shear_x, shear_y) * Scale * C^-1``; angle and shears in degrees,
    positive angle clockwise (torchvision's convention for ``affine``)."""
    rot = math.radians(angle)
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = np.array([d, -b, 0.0, -c, a, 0.0]) / scale  # inverse of the unit-determinant RSS
    m[2] += m[0] * -tx + m[1] * -ty
    m[5] += m[3] * -tx + m[4] * -ty
    return m.reshape(2, 3)


def _warp(img, m, nearest):
    """Sample ``img`` (C, H, W) at the inverse-mapped pixel centres, zero outside."""
    _, H, W = img.shape
    xp = get_array_module(img)  # the grid is built where the image is
    m = [[float(v) for v in row] for row in m]
    yy, xx = xp.meshgrid(xp.arange(H) - (H - 1) / 2, xp.arange(W) - (W - 1) / 2, indexing="ij")
    sx = m[0][0] * xx + m[0][1] * yy + m[0][2] + (W - 1) / 2
    sy = m[1][0] * xx + m[1][1] * yy + m[1][2] + (H - 1) / 2
    out = xp.zeros_like(img)
    if nearest:
        ix, iy = xp.rint(sx).astype(np.int64), xp.rint(sy).astype(np.int64)
        ok = (ix >= 0) & (ix < W) & (iy >= 0) & (iy < H)
        return xp.where(ok, img[:, xp.clip(iy, 0, H - 1), xp.clip(ix, 0, W - 1)], out)
    x0, y0 = xp.floor(sx).astype(np.int64), xp.floor(sy).astype(np.int64)
    fx, fy = (sx - x0).astype(np.float32), (sy - y0).astype(np.float32)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            X, Y = x0 + dx, y0 + dy
            ok = (X >= 0) & (X < W) & (Y >= 0) & (Y < H)  # out-of-image corners count as 0
            w = xp.where(ok, wy * wx, 0).astype(img.dtype)
            out += img[:, xp.clip(Y, 0, H - 1), xp.clip(X, 0, W - 1)] * w
    return out


def _range(v, name):
    if v is None:
        return None
    if isinstance(v, (int, float)):
        if v < 0:
            raise ValueError(f"RandomAffineShearScale: {name} must be >= 0, got {v}")
        return (-float(v), float(v))
    return tuple(float(i) for i in v)


class RandomAffineShearScale(RandomAffine):
    """torchvision's ``RandomAffine(degrees, translate, scale, shear)``: angle ~ U(-degrees,
    degrees) (or the given range), translation ``round(U(-fx W, fx W))`` and likewise for y,
    scale ~ U(scale), shear_x ~ U(shear[0:2]) and shear_y ~ U(shear[2:4]) when 4 values (a
    number s means (-s, s) in x only), all about the image centre, zero fill.

    Differs from torchvision: ``interpolation`` defaults to 'bilinear' (as pydlk's
    RandomAffine; torchvision's default is 'nearest', also available); parameters are drawn
    per sample, not once per call."""

    def __init__(
        self, degrees=0.0, translate=None, scale=None, shear=None, interpolation: str = "bilinear"
    ):
        deg = _range(degrees, "degrees")
        super().__init__(degrees=max(abs(deg[0]), abs(deg[1])), translate=translate)
        self.degree_range = deg
        if scale is not None and not (len(scale) == 2 and 0 < scale[0] <= scale[1]):
            raise ValueError(
                f"RandomAffineShearScale: scale must be (lo, hi) with 0 < lo <= hi, got {scale}"
            )
        self.scale = scale
        sh = _range(shear, "shear")
        if sh is not None and len(sh) not in (2, 4):
            raise ValueError(
                f"RandomAffineShearScale: shear must be a number or 2 or 4 values, got {shear}"
            )
        self.shear = sh
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(
                f"RandomAffineShearScale: interpolation must be 'bilinear' or "
                f"'nearest', got {interpolation!r}"
            )
        self.interpolation = interpolation

    def params(self, x, g):
        N, _, H, W = x.shape
        out = []
        for _ in range(N):
            angle = float(g.uniform(*self.degree_range))
            if self.translate is not None:
                mx, my = self.translate[0] * W, self.translate[1] * H
                t = (int(round(g.uniform(-mx, mx))), int(round(g.uniform(-my, my))))
            else:
                t = (0, 0)
            s = float(g.uniform(*self.scale)) if self.scale is not None else 1.0
            shx = shy = 0.0
            if self.shear is not None:
                shx = float(g.uniform(self.shear[0], self.shear[1]))
                if len(self.shear) == 4:
                    shy = float(g.uniform(self.shear[2], self.shear[3]))
            out.append((angle, t, s, (shx, shy)))
        return out

    def __call__(self, x, rng=None):
        x = _batch(x, "RandomAffineShearScale")
        ps = self.params(x, _stream(rng))
        near = self.interpolation == "nearest"
        warped = [_warp(img, affine_matrix(*p), near) for img, p in zip(x, ps)]
        return get_array_module(x).stack(warped)


# ------------------------------------------------------------------------------ test time


def five_crop(x, size):
    """torchvision's five_crop on a batch: (top-left, top-right, bottom-left, bottom-right,
    centre) crops of ``size``; the centre offset is ``round((H - h) / 2)``."""
    x = _batch(x, "five_crop")
    h, w = _pair(size, "five_crop")
    H, W = x.shape[2:]
    if h > H or w > W:
        raise ValueError(f"five_crop: size {(h, w)} is larger than the images {(H, W)}")
    t, l_ = int(round((H - h) / 2.0)), int(round((W - w) / 2.0))
    return (
        x[..., :h, :w],
        x[..., :h, W - w :],
        x[..., H - h :, :w],
        x[..., H - h :, W - w :],
        x[..., t : t + h, l_ : l_ + w],
    )


def ten_crop(x, size, vertical_flip: bool = False):
    """The five crops of ``x`` and the five of its mirror image (torchvision's order: the five
    crops, then those of the flipped batch; flipped vertically with ``vertical_flip``)."""
    x = _batch(x, "ten_crop")
    xp = get_array_module(x)
    flipped = xp.ascontiguousarray(x[..., ::-1, :] if vertical_flip else x[..., ::-1])
    return five_crop(x, size) + five_crop(flipped, size)


def multi_scale_predict(
    model, x, scales, crop=None, flips: bool = True, batch_size: int = 256
) -> np.ndarray:
    """Mean softmax over views: for each short side in ``scales`` the batch is resized
    (bilinear), then either its ten crops of ``crop`` (AlexNet / ResNet-style testing) or, with
    ``crop=None``, the whole image and (with ``flips``) its mirror image (a fully convolutional
    model with global pooling takes any size). Returns (N, classes) probabilities (NumPy).
    For a model on a GPU a host batch is copied there once and the views are made there."""
    from ..autograd import Tensor, no_grad

    x = _batch(x, "multi_scale_predict")
    p = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    if p is not None and is_cupy(p._data):  # a GPU model: the batch goes to its device
        x = on_device_of(x, p._data)
    xp = get_array_module(x)
    if not scales:
        raise ValueError("multi_scale_predict: need at least one scale")
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    total: np.ndarray | float = 0.0
    count = 0
    try:
        with no_grad():
            for s in scales:
                xs = resize(x, int(s))
                if crop is not None:
                    views = ten_crop(xs, crop)
                else:
                    views = (xs, xp.ascontiguousarray(xs[..., ::-1])) if flips else (xs,)
                for v in views:
                    v = xp.ascontiguousarray(v)
                    outs = [
                        host_array(model(Tensor(v[i : i + batch_size]))._data).astype(np.float64)
                        for i in range(0, len(v), batch_size)
                    ]
                    z = np.concatenate(outs)
                    e = np.exp(z - z.max(1, keepdims=True))
                    total = total + e / e.sum(1, keepdims=True)
                    count += 1
    finally:
        if was_training:
            model.train()
    return np.asarray(total / count)  # an ndarray already (there is at least one view)
