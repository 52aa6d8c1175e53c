"""Linear algebra, FFT and grid sampling against plain NumPy (where it has them) and torch on
the same work, one run: lu_factor (NumPy has no LU; pydlk's kernel calls OpenBLAS's getrf, or
its own getf2 for small matrices) on a batch, one large matrix and many small ones, ldl_factor
and ldl_solve (NumPy has no sytrf either; pydlk's kernels call OpenBLAS's sytrf/sytrs, or their
own sytf2 for matrices up to n = 64), eig, rfft +
its gradient, and grid_sample forward and backward on images and volumes. Run with ``env -u
OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` (README).

torch 2.13's CPU wheel (oneMKL) on two threads returns out-of-range pivots for the batched
(8, 256, 256) case here and prints "Parameter 6 was incorrect on entry to DLASWP" (check with
``torch.linalg.lu``), so its time on that row is for a wrong result."""

import numpy as np
import pytest

import pydlk
import pydlk.functional as F
import pydlk.linalg as LA

LU_SHAPES = [(8, 256, 256), (1, 1024, 1024), (256, 16, 16)]


def _square(rng, n, batch=8):
    return rng.standard_normal((batch, n, n))


# ---------------------------------------------------------------------------- lu_factor


@pytest.mark.parametrize("shape", LU_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_lu_factor_pydlk(benchmark, rng, shape):
    benchmark.group = f"lu_factor {shape} float64"
    a = pydlk.tensor(rng.standard_normal(shape))
    benchmark(LA.lu_factor, a)


@pytest.mark.parametrize("shape", LU_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_lu_factor_torch(benchmark, rng, torch, shape):
    benchmark.group = f"lu_factor {shape} float64"
    a = torch.tensor(rng.standard_normal(shape))
    benchmark(torch.linalg.lu_factor, a)


# ---------------------------------------------------------------------------- ldl_factor

LDL_SHAPES = [(8, 128, 128), (256, 16, 16)]


def _symmetric(rng, shape):
    a = rng.standard_normal(shape)
    return a + np.swapaxes(a, -1, -2)


@pytest.mark.parametrize("shape", LDL_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_ldl_factor_pydlk(benchmark, rng, shape):
    """NumPy has no sytrf: pydlk's kernel (OpenBLAS's sytrf for (8, 128, 128), its own sytf2
    port for (256, 16, 16)), one matrix per thread."""
    benchmark.group = f"ldl_factor {shape} float64"
    a = pydlk.tensor(_symmetric(rng, shape))
    benchmark(LA.ldl_factor, a)


@pytest.mark.parametrize("shape", LDL_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_ldl_factor_torch(benchmark, rng, torch, shape):
    benchmark.group = f"ldl_factor {shape} float64"
    a = torch.tensor(_symmetric(rng, shape))
    benchmark(torch.linalg.ldl_factor, a)


@pytest.mark.parametrize("shape", LDL_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_ldl_solve_pydlk(benchmark, rng, shape):
    """OpenBLAS's sytrs on each matrix, four right-hand sides."""
    benchmark.group = f"ldl_solve {shape} float64, 4 right-hand sides"
    ld, piv = LA.ldl_factor(pydlk.tensor(_symmetric(rng, shape)))
    b = pydlk.tensor(rng.standard_normal(shape[:-1] + (4,)))
    benchmark(LA.ldl_solve, ld, piv, b)


@pytest.mark.parametrize("shape", LDL_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_ldl_solve_torch(benchmark, rng, torch, shape):
    benchmark.group = f"ldl_solve {shape} float64, 4 right-hand sides"
    ld, piv = torch.linalg.ldl_factor(torch.tensor(_symmetric(rng, shape)))
    b = torch.tensor(rng.standard_normal(shape[:-1] + (4,)))
    benchmark(torch.linalg.ldl_solve, ld, piv, b)


# ---------------------------------------------------------------------------- eig


def test_eig_pydlk(benchmark, rng):
    benchmark.group = "eig (8, 128, 128) float64"
    a = pydlk.tensor(_square(rng, 128))
    benchmark(LA.eig, a)


def test_eig_numpy(benchmark, rng):
    benchmark.group = "eig (8, 128, 128) float64"
    a = _square(rng, 128)
    benchmark(np.linalg.eig, a)


def test_eig_torch(benchmark, rng, torch):
    benchmark.group = "eig (8, 128, 128) float64"
    a = torch.tensor(_square(rng, 128))
    benchmark(torch.linalg.eig, a)


# ---------------------------------------------------------------------------- rfft


def _signal(rng):
    return rng.standard_normal((64, 4096)).astype(np.float32)


def test_rfft_pydlk(benchmark, rng):
    benchmark.group = "rfft fwd+bwd (64, 4096) float32"
    x = pydlk.tensor(_signal(rng), requires_grad=True)
    benchmark(lambda: pydlk.fft.rfft(x).abs().sum().backward())


def test_rfft_numpy(benchmark, rng):
    benchmark.group = "rfft fwd+bwd (64, 4096) float32"
    x = _signal(rng)

    def step():  # d sum|X| / dx = irfft-adjoint of X/|X| (the DC and Nyquist bins once)
        X = np.fft.rfft(x)
        g = X / np.maximum(np.abs(X), 1e-30)
        g[..., 1:-1] *= 0.5
        return np.fft.irfft(g, n=x.shape[-1]) * x.shape[-1]

    benchmark(step)


def test_rfft_torch(benchmark, rng, torch):
    benchmark.group = "rfft fwd+bwd (64, 4096) float32"
    x = torch.tensor(_signal(rng), requires_grad=True)
    benchmark(lambda: torch.fft.rfft(x).abs().sum().backward())


# ---------------------------------------------------------------------------- grid_sample 3-D


def _volume(rng):
    x = rng.standard_normal((2, 4, 16, 16, 16)).astype(np.float32)
    g = rng.uniform(-1, 1, (2, 16, 16, 16, 3)).astype(np.float32)
    return x, g


def test_grid_sample_3d_pydlk(benchmark, rng):
    benchmark.group = "grid_sample 3-D fwd+bwd (2, 4, 16^3)"
    x, g = (pydlk.tensor(v, requires_grad=True) for v in _volume(rng))
    benchmark(lambda: F.grid_sample(x, g, align_corners=False).sum().backward())


def test_grid_sample_3d_torch(benchmark, rng, torch):
    benchmark.group = "grid_sample 3-D fwd+bwd (2, 4, 16^3)"
    x, g = (torch.tensor(v, requires_grad=True) for v in _volume(rng))
    f = torch.nn.functional.grid_sample
    benchmark(lambda: f(x, g, align_corners=False).sum().backward())


def _image(rng):
    x = rng.standard_normal((32, 3, 64, 64)).astype(np.float32)
    g = rng.uniform(-1.1, 1.1, (32, 64, 64, 2)).astype(np.float32)
    return x, g


def test_grid_sample_2d_pydlk(benchmark, rng):
    benchmark.group = "grid_sample 2-D fwd+bwd (32, 3, 64^2)"
    x, g = (pydlk.tensor(v, requires_grad=True) for v in _image(rng))
    benchmark(lambda: F.grid_sample(x, g, align_corners=False).sum().backward())


def test_grid_sample_2d_torch(benchmark, rng, torch):
    benchmark.group = "grid_sample 2-D fwd+bwd (32, 3, 64^2)"
    x, g = (torch.tensor(v, requires_grad=True) for v in _image(rng))
    f = torch.nn.functional.grid_sample
    benchmark(lambda: f(x, g, align_corners=False).sum().backward())
