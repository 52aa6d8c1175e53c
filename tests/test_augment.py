"""Augmentation kernels (Cython): NumPy references given the same per-sample parameters,
geometric identities, statistics, and independence from the thread count."""

import numpy as np
import pytest

from pydlk.data import _augment
from pydlk.data import augment as A


def _x(rng, n=5, c=3, h=9, w=7):
    return rng.random((n, c, h, w)).astype(np.float32)


def test_random_crop_matches_padded_slice(rng):
    x = _x(rng)
    t = A.RandomCrop(size=(6, 5), padding=2)
    top, left, (oh, ow) = t.params(x, np.random.default_rng(1))
    out = np.empty((5, 3, oh, ow), np.float32)
    _augment.crop(x, out, top, left, 2, 1)
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for n in range(5):
        np.testing.assert_array_equal(out[n], xp[n, :, top[n] : top[n] + 6, left[n] : left[n] + 5])
    assert t(x).shape == (5, 3, 6, 5)
    with pytest.raises(ValueError, match="larger than the padded input"):
        A.RandomCrop(size=20)(x)


def test_hflip_flips_exactly_the_chosen_samples(rng):
    x = _x(rng, n=64)
    flip = A.RandomHorizontalFlip(0.5).params(x, np.random.default_rng(2))
    out = np.empty_like(x)
    _augment.hflip(x, out, flip, 2)
    for n in range(64):
        np.testing.assert_array_equal(out[n], x[n, :, :, ::-1] if flip[n] else x[n])
    assert 16 < flip.sum() < 48
    np.testing.assert_array_equal(A.RandomHorizontalFlip(1.0)(x), x[..., ::-1])


def test_affine_rotation_and_translation_identities(rng):
    x = _x(rng, n=2, h=8, w=8)
    out = np.empty_like(x)
    zeros = np.zeros(2)
    _augment.affine(x, out, zeros, zeros, zeros, 1)
    np.testing.assert_allclose(out, x, atol=1e-6)
    _augment.affine(x, out, np.full(2, 90.0), zeros, zeros, 1)
    np.testing.assert_allclose(out, np.rot90(x, 1, axes=(2, 3)), atol=1e-5)  # counter-clockwise
    _augment.affine(x, out, zeros, np.full(2, 2.0), np.full(2, -1.0), 1)
    ref = np.zeros_like(x)
    ref[:, :, 0:7, 2:] = x[:, :, 1:8, :6]  # right by 2, up by 1, zero fill
    np.testing.assert_allclose(out, ref, atol=1e-6)


def _bilinear_ref(img, y, x):
    """img (H, W) at (y, x), zero outside, written from the definition."""
    H, W = img.shape
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    wy, wx = y - y0, x - x0

    def v(i, j):
        return img[i, j] if 0 <= i < H and 0 <= j < W else 0.0

    return (1 - wy) * ((1 - wx) * v(y0, x0) + wx * v(y0, x0 + 1)) + wy * (
        (1 - wx) * v(y0 + 1, x0) + wx * v(y0 + 1, x0 + 1)
    )


def test_resized_crop_against_bilinear_reference(rng):
    x = _x(rng, n=2, c=2, h=10, w=12)
    top, left = np.array([1, 0]), np.array([2, 5])
    h, w = np.array([6, 10]), np.array([4, 7])
    out = np.empty((2, 2, 5, 5), np.float32)
    _augment.resized_crop(x, out, top, left, h, w, 2)
    for n in range(2):
        for c in range(2):
            for i in range(5):
                for j in range(5):
                    sy = np.clip(top[n] + (i + 0.5) * h[n] / 5 - 0.5, top[n], top[n] + h[n] - 1)
                    sx = np.clip(left[n] + (j + 0.5) * w[n] / 5 - 0.5, left[n], left[n] + w[n] - 1)
                    assert out[n, c, i, j] == pytest.approx(
                        _bilinear_ref(x[n, c], sy, sx), abs=1e-5
                    )
    full = A.RandomResizedCrop(size=(10, 12), scale=(1.0, 1.0), ratio=(1.2, 1.2))
    np.testing.assert_allclose(full(x), x, atol=1e-6)  # the whole image at its own size


def test_color_jitter_formula(rng):
    x = _x(rng, n=3)
    b, c, s = np.array([0.5, 1.0, 1.3]), np.array([1.0, 0.2, 1.5]), np.array([0.0, 1.0, 0.7])
    out = np.empty_like(x)
    _augment.color_jitter(x, out, b, c, s, 2)
    grey_w = np.array([0.299, 0.587, 0.114])
    for n in range(3):
        xb = b[n] * x[n].astype(np.float64)
        mean = np.tensordot(grey_w, xb, 1).mean()
        xc = c[n] * xb + (1 - c[n]) * mean
        g = np.tensordot(grey_w, xc, 1)
        np.testing.assert_allclose(out[n], s[n] * xc + (1 - s[n]) * g, rtol=1e-5, atol=1e-6)


def test_pca_color_shifts_each_sample_along_the_eigenvectors(rng):
    mix = np.array([[1.0, 0.5, 0.2], [0.0, 1.0, 0.3], [0.0, 0.0, 0.5]])
    train = np.einsum("dc,nchw->ndhw", mix, rng.standard_normal((50, 3, 6, 6))).astype(np.float32)
    t = A.PCAColorAugmentation(std=0.1).fit(train)
    pix = train.transpose(0, 2, 3, 1).reshape(-1, 3)
    np.testing.assert_allclose(
        t.eigvecs @ np.diag(t.eigvals) @ t.eigvecs.T, np.cov(pix.T), rtol=1e-6
    )
    x = _x(rng, n=400, h=2, w=2)
    out = t(x, np.random.default_rng(5))
    shift = (out - x)[:, :, 0, 0]
    np.testing.assert_allclose(
        out - x, np.broadcast_to(shift[:, :, None, None], x.shape), atol=1e-6
    )
    coeff = shift @ t.eigvecs  # alpha_k * lambda_k
    np.testing.assert_allclose(coeff.std(0) / t.eigvals, 0.1, rtol=0.15)
    with pytest.raises(RuntimeError, match="fit"):
        A.PCAColorAugmentation()(x)


def test_gaussian_noise_statistics_and_seed():
    x = np.zeros((8, 3, 32, 32), np.float32)
    a = A.GaussianNoise(0.5)(x, np.random.default_rng(7))
    b = A.GaussianNoise(0.5)(x, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean()) < 0.02 and abs(a.std() - 0.5) < 0.02
    assert np.all(np.isfinite(a))


def test_cutout_zeroes_the_square_only(rng):
    x = _x(rng, n=3, h=10, w=10) + 1
    cy, cx, apply = np.array([5, 0, 9]), np.array([5, 9, 0]), np.array([1, 1, 0], np.uint8)
    out = np.empty_like(x)
    _augment.cutout(x, out, cy, cx, apply, 4, 2)
    ref = x.copy()
    ref[0, :, 3:7, 3:7] = 0
    ref[1, :, 0:2, 7:10] = 0  # clipped at the border
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize(
    "transform",
    [
        A.RandomCrop(padding=3),
        A.RandomHorizontalFlip(),
        A.RandomResizedCrop(8),
        A.RandomAffine(15, (0.1, 0.1)),
        A.ColorJitter(0.4, 0.4, 0.4),
        A.GaussianNoise(0.1),
        A.Cutout(4),
        A.Compose([A.RandomCrop(padding=2), A.RandomHorizontalFlip(), A.Cutout(3)]),
    ],
)
def test_one_and_two_threads_give_identical_batches(rng, threads, transform):
    x = _x(rng, n=33, h=12, w=12)
    threads(1)
    a = transform(x, np.random.default_rng(11))
    threads(2)
    b = transform(x, np.random.default_rng(11))
    np.testing.assert_array_equal(a, b)
    assert np.all(np.isfinite(a))
    # and right: a reference from the same per-sample parameters (the noise, drawn inside the
    # kernel, is checked by its statistics)
    ref = _transform_ref(transform, x, np.random.default_rng(11))
    if ref is None:
        assert abs((a - x).mean()) < 0.01 and abs((a - x).std() - transform.std) < 0.01
    else:
        np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-5)


def _sample_ref(x, sy, sx):
    """x (N, C, H, W) read at source coordinates sy, sx (N, OH, OW): bilinear, zero outside,
    by torch's grid_sample (align_corners=True maps -1 and 1 to the first and last pixel)."""
    torch = pytest.importorskip("torch")
    H, W = x.shape[2:]
    grid = np.stack([2 * sx / (W - 1) - 1, 2 * sy / (H - 1) - 1], axis=-1)
    return torch.nn.functional.grid_sample(
        torch.tensor(x, dtype=torch.float64),
        torch.tensor(grid),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=True,
    ).numpy()


def _transform_ref(t, x, rng):
    """The documented effect of transform t on the batch x, in float64, with the per-sample
    parameters t draws from rng; None for GaussianNoise."""
    if isinstance(t, A.Compose):
        for u in t.transforms:
            x = _transform_ref(u, x, rng)
        return x
    if isinstance(t, A.GaussianNoise):
        return None
    x = x.astype(np.float64)
    g = A._stream(rng)
    N, _, H, W = x.shape
    if isinstance(t, A.RandomCrop):
        top, left, (oh, ow) = t.params(x, g)
        p = t.padding
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        return np.stack([xp[n, :, top[n] : top[n] + oh, left[n] : left[n] + ow] for n in range(N)])
    if isinstance(t, A.RandomHorizontalFlip):
        flip = t.params(x, g).astype(bool)
        return np.where(flip[:, None, None, None], x[..., ::-1], x)
    if isinstance(t, A.RandomResizedCrop):
        top, left, h, w = (v[:, None, None].astype(np.float64) for v in t.params(x, g))
        OH, OW = t.size
        i, j = np.arange(OH)[None, :, None], np.arange(OW)[None, None, :]
        sy = np.clip(top + (i + 0.5) * h / OH - 0.5, top, top + h - 1) + 0 * j
        sx = np.clip(left + (j + 0.5) * w / OW - 0.5, left, left + w - 1) + 0 * i
        return _sample_ref(x, sy, sx)
    if isinstance(t, A.RandomAffine):
        angle, tx, ty = (v[:, None, None] for v in t.params(x, g))
        a = np.deg2rad(angle)
        cy, cx = (H - 1) / 2, (W - 1) / 2
        dy = np.arange(H)[None, :, None] - cy - ty
        dx = np.arange(W)[None, None, :] - cx - tx
        # output pixel p reads the input at R^-1 (p - centre - t) + centre
        return _sample_ref(
            x, np.sin(a) * dx + np.cos(a) * dy + cy, np.cos(a) * dx - np.sin(a) * dy + cx
        )
    if isinstance(t, A.ColorJitter):
        b, c, s = (v[:, None, None, None] for v in t.params(x, g))
        grey = np.array([0.299, 0.587, 0.114])
        xb = b * x
        xc = c * xb + (1 - c) * np.einsum("c,nchw->n", grey, xb)[:, None, None, None] / (H * W)
        return s * xc + (1 - s) * np.einsum("c,nchw->nhw", grey, xc)[:, None]
    if isinstance(t, A.Cutout):
        cy, cx, apply = t.params(x, g)
        out = x.copy()
        for n in np.flatnonzero(apply):
            y0, x0 = cy[n] - t.size // 2, cx[n] - t.size // 2
            out[n, :, max(y0, 0) : max(y0 + t.size, 0), max(x0, 0) : max(x0 + t.size, 0)] = 0
        return out
    raise AssertionError(type(t))


def test_bad_inputs_name_the_transform(rng):
    with pytest.raises(ValueError, match="RandomCrop: expected a batch"):
        A.RandomCrop()(np.zeros((3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="p must be"):
        A.RandomHorizontalFlip(1.5)
    with pytest.raises(ValueError, match="scale"):
        A.RandomResizedCrop(8, scale=(0.5, 0.1))
    with pytest.raises(ValueError, match="std"):
        A.GaussianNoise(-1)
    out = A.RandomHorizontalFlip()(np.zeros((2, 1, 3, 3), np.float64))
    assert out.dtype == np.float32  # converted visibly at the boundary
