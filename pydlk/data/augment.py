"""Batch augmentation for float32 NCHW batches (the loops are Cython: pydlk/data/_augment.pyx).

Each transform is called as ``t(x, rng=None)`` on a whole batch and returns a new array. It
first draws its per-sample parameters (crop offsets, flip flags, angles, jitter factors) from a
counter-based Philox stream keyed by one seed; the kernel then runs in parallel over the batch.
So the result depends on the seed only, never on the thread count. The seed comes from ``rng``
(the DataLoader passes its per-epoch generator) or from pydlk's global generator.

A GPU batch (a CuPy array or a GPU Tensor) is transformed on its GPU and gives a CuPy array
(as a host batch or CPU Tensor gives a NumPy array): the same parameters are drawn on the host
and the loops run as array code (``_augment_gpu.py``), with the host loops' values.
"""

import math

import numpy as np

from .. import _random
from .._backend import get_array_module, is_cupy
from ..autograd import Tensor
from . import _augment, _augment_gpu


def _threads():
    from .. import get_num_threads

    return get_num_threads()


def _batch(x, name):
    """``x`` as a C-contiguous float32 (N, C, H, W) array on its device (a Tensor's array)."""
    if isinstance(x, Tensor):
        x = x._data
    xp = get_array_module(x)
    x = xp.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a batch of shape (N, C, H, W), got {x.shape}")
    if x.dtype != np.float32 or not x.flags.c_contiguous:
        x = xp.ascontiguousarray(x, dtype=np.float32)
    return x


def _kernels(x):
    """The loops for ``x``'s device: the Cython module, or its array-code twin for CuPy."""
    return _augment_gpu if is_cupy(x) else _augment


def _empty(x, shape=None):
    """An uninitialised float32 batch on ``x``'s device, of ``x``'s shape or ``shape``."""
    return get_array_module(x).empty(x.shape if shape is None else shape, np.float32)


def _seed(rng):
    src = rng if rng is not None else _random.default_generator.numpy
    return int(src.integers(1 << 63))


def _stream(rng):
    """A Philox-based NumPy generator for the per-sample parameters of one call."""
    return np.random.Generator(np.random.Philox(key=_seed(rng)))


def _pair(v, name):
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    v = tuple(int(i) for i in v)
    if len(v) != 2:
        raise ValueError(f"{name}: size must be an int or (height, width), got {v}")
    return v


class RandomCrop:
    """Zero-pad by ``padding`` then crop ``size`` (default: the input size) at a random place."""

    def __init__(self, size=None, padding=0):
        if padding < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding}")
        self.size = None if size is None else _pair(size, "RandomCrop")
        self.padding = int(padding)

    def params(self, x, g):
        N, _, H, W = x.shape
        oh, ow = self.size or (H, W)
        if oh > H + 2 * self.padding or ow > W + 2 * self.padding:
            raise ValueError(
                f"RandomCrop: size {(oh, ow)} is larger than the padded input "
                f"{(H + 2 * self.padding, W + 2 * self.padding)}"
            )
        top = g.integers(0, H + 2 * self.padding - oh + 1, N)
        left = g.integers(0, W + 2 * self.padding - ow + 1, N)
        return top.astype(np.int64), left.astype(np.int64), (oh, ow)

    def __call__(self, x, rng=None):
        x = _batch(x, "RandomCrop")
        top, left, (oh, ow) = self.params(x, _stream(rng))
        out = _empty(x, (x.shape[0], x.shape[1], oh, ow))
        _kernels(x).crop(x, out, top, left, self.padding, _threads())
        return out


class RandomHorizontalFlip:
    """Flip each image of a batch (N, C, H, W) left-right with probability ``p``; returns a new
    float32 batch. Raises ValueError unless 0 <= p <= 1 or for a non-4-d batch.
    """

    def __init__(self, p=0.5):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def params(self, x, g):
        return (g.random(x.shape[0]) < self.p).astype(np.uint8)

    def __call__(self, x, rng=None):
        x = _batch(x, "RandomHorizontalFlip")
        out = _empty(x)
        _kernels(x).hflip(x, out, self.params(x, _stream(rng)), _threads())
        return out


class RandomResizedCrop:
    """torchvision's sampling: up to 10 tries of a box with area fraction in ``scale`` and
    aspect ratio (log-uniform) in ``ratio``; else a centre crop clamped to ``ratio``. The box is
    resized bilinearly to ``size``."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
        if not (0 < scale[0] <= scale[1] <= 1) or not (0 < ratio[0] <= ratio[1]):
            raise ValueError(
                f"RandomResizedCrop: need 0 < scale[0] <= scale[1] <= 1 and "
                f"0 < ratio[0] <= ratio[1], got scale={scale}, ratio={ratio}"
            )
        self.size, self.scale, self.ratio = _pair(size, "RandomResizedCrop"), scale, ratio

    def _box(self, H, W, g):
        area = H * W
        lo, hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target = area * g.uniform(*self.scale)
            ar = math.exp(g.uniform(lo, hi))
            w = int(round(math.sqrt(target * ar)))
            h = int(round(math.sqrt(target / ar)))
            if 0 < w <= W and 0 < h <= H:
                return int(g.integers(0, H - h + 1)), int(g.integers(0, W - w + 1)), h, w
        in_ratio = W / H
        if in_ratio < self.ratio[0]:
            w, h = W, int(round(W / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            h, w = H, int(round(H * self.ratio[1]))
        else:
            h, w = H, W
        return (H - h) // 2, (W - w) // 2, h, w

    def params(self, x, g):
        boxes = np.array(
            [self._box(x.shape[2], x.shape[3], g) for _ in range(x.shape[0])], np.int64
        ).reshape(-1, 4)
        return tuple(np.ascontiguousarray(boxes[:, k]) for k in range(4))

    def __call__(self, x, rng=None):
        x = _batch(x, "RandomResizedCrop")
        top, left, h, w = self.params(x, _stream(rng))
        out = _empty(x, (x.shape[0], x.shape[1]) + self.size)
        _kernels(x).resized_crop(x, out, top, left, h, w, _threads())
        return out


class RandomAffine:
    """Rotation by U(-degrees, degrees) and translation by up to ``translate`` = (fx, fy) of the
    width/height, about the centre, bilinear, zero fill (torchvision's RandomAffine subset)."""

    def __init__(self, degrees=0.0, translate=None):
        if degrees < 0:
            raise ValueError(f"RandomAffine: degrees must be >= 0, got {degrees}")
        if translate is not None and not all(0 <= t <= 1 for t in translate):
            raise ValueError(
                f"RandomAffine: translate fractions must be in [0, 1], got {translate}"
            )
        self.degrees, self.translate = float(degrees), translate

    def params(self, x, g):
        N, _, H, W = x.shape
        angle = g.uniform(-self.degrees, self.degrees, N)
        fx, fy = self.translate or (0.0, 0.0)
        tx = np.round(g.uniform(-fx * W, fx * W, N))
        ty = np.round(g.uniform(-fy * H, fy * H, N))
        return angle, tx, ty

    def __call__(self, x, rng=None):
        x = _batch(x, "RandomAffine")
        angle, tx, ty = self.params(x, _stream(rng))
        out = _empty(x)
        _kernels(x).affine(x, out, angle, tx, ty, _threads())
        return out


class RandomRotation(RandomAffine):
    """Rotate each image by an angle drawn from U(-degrees, degrees) about its centre,
    bilinear, zero fill: ``RandomAffine(degrees=degrees)``. Raises ValueError for degrees < 0.
    """

    def __init__(self, degrees):
        super().__init__(degrees=degrees)


class ColorJitter:
    """Brightness, contrast and saturation factors drawn from U(max(0, 1 - v), 1 + v), applied
    in that fixed order (torchvision shuffles the order; a fixed order is easier to reason
    about)."""

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0):
        for name, v in (
            ("brightness", brightness),
            ("contrast", contrast),
            ("saturation", saturation),
        ):
            if v < 0:
                raise ValueError(f"ColorJitter: {name} must be >= 0, got {v}")
        self.b, self.c, self.s = brightness, contrast, saturation

    def params(self, x, g):
        n = x.shape[0]
        return tuple(g.uniform(max(0.0, 1 - v), 1 + v, n) for v in (self.b, self.c, self.s))

    def __call__(self, x, rng=None):
        x = _batch(x, "ColorJitter")
        b, c, s = self.params(x, _stream(rng))
        out = _empty(x)
        _kernels(x).color_jitter(x, out, b, c, s, _threads())
        return out


class PCAColorAugmentation:
    """Krizhevsky et al. (2012): add sum_k alpha_k lambda_k u_k to every pixel of a sample, with
    (u_k, lambda_k) the eigenvectors/values of the training set's channel covariance and
    alpha_k ~ N(0, std). Call ``fit`` on training images first (statistics in ``state_dict``)."""

    def __init__(self, std=0.1):
        self.std = std
        self.eigvecs = self.eigvals = None

    def fit(self, x):
        """Channel covariance eigenpairs of the images ``x`` (N, C, H, W); a GPU batch is read
        back once for it. Returns self."""
        x = x._data if isinstance(x, Tensor) else x
        x = np.asarray(x.get() if is_cupy(x) else x, np.float64)
        pix = x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])
        self.eigvals, self.eigvecs = np.linalg.eigh(
            np.cov(pix, rowvar=False).reshape(x.shape[1], -1)
        )
        return self

    def params(self, x, g):
        alpha = g.normal(0.0, self.std, (x.shape[0], len(self.eigvals)))
        return np.ascontiguousarray((alpha * self.eigvals) @ self.eigvecs.T)

    def __call__(self, x, rng=None):
        if self.eigvals is None:
            raise RuntimeError("PCAColorAugmentation: call fit() on training images first")
        x = _batch(x, "PCAColorAugmentation")
        if x.shape[1] != len(self.eigvals):
            raise ValueError(
                f"PCAColorAugmentation: fitted on {len(self.eigvals)} channels, "
                f"batch has {x.shape[1]}"
            )
        out = _empty(x)
        _kernels(x).add_channel_offset(x, out, self.params(x, _stream(rng)), _threads())
        return out

    def state_dict(self):
        return {"eigvals": self.eigvals, "eigvecs": self.eigvecs}

    def load_state_dict(self, state):
        self.eigvals, self.eigvecs = np.asarray(state["eigvals"]), np.asarray(state["eigvecs"])
        return self


class GaussianNoise:
    """Add N(0, std^2) noise to each element of a batch (N, C, H, W), drawn from pydlk's Philox
    stream. No torchvision counterpart. Raises ValueError for std < 0.
    """

    def __init__(self, std=0.05):
        if std < 0:
            raise ValueError(f"GaussianNoise: std must be >= 0, got {std}")
        self.std = std

    def __call__(self, x, rng=None):
        x = _batch(x, "GaussianNoise")
        out = _empty(x)
        _kernels(x).gaussian_noise(x, out, float(self.std), _seed(rng), 0, _threads())
        return out


class Cutout:
    """DeVries & Taylor (2017): zero a ``size`` x ``size`` square at a uniformly random centre
    (it may hang over the border), with probability ``p``."""

    def __init__(self, size, p=1.0):
        if size < 1:
            raise ValueError(f"Cutout: size must be >= 1, got {size}")
        self.size, self.p = int(size), p

    def params(self, x, g):
        N, _, H, W = x.shape
        return (
            g.integers(0, H, N).astype(np.int64),
            g.integers(0, W, N).astype(np.int64),
            (g.random(N) < self.p).astype(np.uint8),
        )

    def __call__(self, x, rng=None):
        x = _batch(x, "Cutout")
        cy, cx, apply = self.params(x, _stream(rng))
        out = _empty(x)
        _kernels(x).cutout(x, out, cy, cx, apply, self.size, _threads())
        return out


class Compose:
    """Apply transforms in order; each gets its own draw from ``rng``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng=None):
        for t in self.transforms:
            x = t(x, rng)
        return x


def tta_views(x, flips=True, shifts=0):
    """The views test-time augmentation averages over (``pydlk.train.tta_predict``): the
    batch, its mirror image (with ``flips``) and, for ``shifts`` = s > 0, the four diagonal
    shifts by s pixels (zero fill)."""
    x = _batch(x, "tta_views")
    xp = get_array_module(x)
    views = [x]
    if flips:
        views.append(xp.ascontiguousarray(x[..., ::-1]))
    if shifts:
        s = int(shifts)
        for dy, dx in ((s, s), (s, -s), (-s, s), (-s, -s)):
            v = xp.zeros_like(x)
            H, W = x.shape[2:]
            v[..., max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = x[
                ..., max(-dy, 0) : H + min(-dy, 0), max(-dx, 0) : W + min(-dx, 0)
            ]
            views.append(v)
    return views
