"""The ops and optimisers added for torch compatibility against plain NumPy and torch on the same
work, one run: cdist (p=2, matrix-product form), unique with counts, bincount with weights, lerp,
lgamma, digamma, erf, erfinv (NumPy has none of them), torch.special's Cephes functions (i0, i0e,
i1, i1e, erfcx, ndtri, log_ndtr, entr), and one Adamax/NAdam/RAdam step over 4M float32
parameters (one fused kernel over the arena). Run with
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` (README)."""

import numpy as np
import pytest

import pydlk


def _mats(rng):
    return (rng.standard_normal((1024, 64)).astype(np.float32),
            rng.standard_normal((2048, 64)).astype(np.float32))  # fmt: skip


def _ints(rng):
    return rng.integers(0, 1000, 1 << 22), rng.standard_normal(1 << 22).astype(np.float32)


# ------------------------------------------------------------------------------ cdist


def test_cdist_pydlk(benchmark, rng):
    benchmark.group = "cdist (1024, 64) x (2048, 64)"
    a, b = (pydlk.tensor(v) for v in _mats(rng))
    benchmark(pydlk.cdist, a, b)


def test_cdist_numpy(benchmark, rng):
    benchmark.group = "cdist (1024, 64) x (2048, 64)"
    a, b = _mats(rng)

    def cdist():
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        return np.sqrt(np.maximum(d2, 0))

    benchmark(cdist)


def test_cdist_torch(benchmark, rng, torch):
    benchmark.group = "cdist (1024, 64) x (2048, 64)"
    a, b = (torch.tensor(v) for v in _mats(rng))
    benchmark(torch.cdist, a, b)


# ------------------------------------------------------------------------------ counting


def test_unique_pydlk(benchmark, rng):
    benchmark.group = "unique with counts, 4M int64 in [0, 1000)"
    x = pydlk.tensor(_ints(rng)[0])
    benchmark(pydlk.unique, x, return_counts=True)


def test_unique_numpy(benchmark, rng):
    benchmark.group = "unique with counts, 4M int64 in [0, 1000)"
    x = _ints(rng)[0]
    benchmark(np.unique, x, return_counts=True)


def test_unique_torch(benchmark, rng, torch):
    benchmark.group = "unique with counts, 4M int64 in [0, 1000)"
    x = torch.tensor(_ints(rng)[0])
    benchmark(torch.unique, x, return_counts=True)


def test_bincount_pydlk(benchmark, rng):
    benchmark.group = "bincount with weights, 4M"
    i, w = _ints(rng)
    benchmark(pydlk.bincount, pydlk.tensor(i), pydlk.tensor(w))


def test_bincount_numpy(benchmark, rng):
    benchmark.group = "bincount with weights, 4M"
    i, w = _ints(rng)
    benchmark(np.bincount, i, w)


def test_bincount_torch(benchmark, rng, torch):
    benchmark.group = "bincount with weights, 4M"
    i, w = _ints(rng)
    benchmark(torch.bincount, torch.tensor(i), torch.tensor(w))


# ------------------------------------------------------------------------------ elementwise

N = 1 << 22


def test_lerp_pydlk(benchmark, rng):
    benchmark.group = "lerp, 4M float32"
    a, b = (pydlk.tensor(rng.standard_normal(N).astype(np.float32)) for _ in range(2))
    benchmark(pydlk.lerp, a, b, 0.3)


def test_lerp_numpy(benchmark, rng):
    benchmark.group = "lerp, 4M float32"
    a, b = (rng.standard_normal(N).astype(np.float32) for _ in range(2))
    benchmark(lambda: a + np.float32(0.3) * (b - a))


def test_lerp_torch(benchmark, rng, torch):
    benchmark.group = "lerp, 4M float32"
    a, b = (torch.tensor(rng.standard_normal(N).astype(np.float32)) for _ in range(2))
    benchmark(torch.lerp, a, b, 0.3)


def test_lgamma_pydlk(benchmark, rng):
    benchmark.group = "lgamma, 4M float32"
    x = pydlk.tensor(rng.uniform(0.1, 20, N).astype(np.float32))
    benchmark(pydlk.lgamma, x)


def test_lgamma_torch(benchmark, rng, torch):
    benchmark.group = "lgamma, 4M float32"
    x = torch.tensor(rng.uniform(0.1, 20, N).astype(np.float32))
    benchmark(torch.lgamma, x)


def test_digamma_pydlk(benchmark, rng):
    benchmark.group = "digamma, 4M float32"
    x = pydlk.tensor(rng.uniform(0.1, 20, N).astype(np.float32))
    benchmark(pydlk.digamma, x)


def test_digamma_torch(benchmark, rng, torch):
    benchmark.group = "digamma, 4M float32"
    x = torch.tensor(rng.uniform(0.1, 20, N).astype(np.float32))
    benchmark(torch.digamma, x)


@pytest.mark.parametrize("fn", ["erf", "erfinv"])
def test_erf_pydlk(benchmark, rng, fn):
    benchmark.group = f"{fn}, 4M float32"
    x = pydlk.tensor(rng.uniform(-0.99, 0.99, N).astype(np.float32))
    benchmark(getattr(pydlk, fn), x)


@pytest.mark.parametrize("fn", ["erf", "erfinv"])
def test_erf_torch(benchmark, rng, torch, fn):
    benchmark.group = f"{fn}, 4M float32"
    x = torch.tensor(rng.uniform(-0.99, 0.99, N).astype(np.float32))
    benchmark(getattr(torch, fn), x)


# ------------------------------------------------------------------------------ optimisers

OPTIMISERS = ["Adamax", "NAdam", "RAdam"]


@pytest.mark.parametrize("name", OPTIMISERS)
def test_step_pydlk(benchmark, rng, name):
    benchmark.group = f"{name} step, 4M float32 parameters"
    p = pydlk.tensor(rng.standard_normal(N).astype(np.float32), requires_grad=True)
    opt = getattr(pydlk.optim, name)([p], lr=1e-3)
    p.grad = pydlk.tensor(rng.standard_normal(N).astype(np.float32))
    benchmark(opt.step)


@pytest.mark.parametrize("name", OPTIMISERS)
def test_step_numpy(benchmark, rng, name):
    """The same update written directly in NumPy (NAdam's and RAdam's formulas with their
    step-dependent scalars taken as constants): the array work alone."""
    benchmark.group = f"{name} step, 4M float32 parameters"
    p, g = (rng.standard_normal(N).astype(np.float32) for _ in range(2))
    m, v = np.zeros(N, np.float32), np.zeros(N, np.float32)

    def step():
        m[...] = 0.9 * m + 0.1 * g
        if name == "Adamax":
            np.maximum(v * np.float32(0.999), np.abs(g) + np.float32(1e-8), out=v)
            p[...] -= np.float32(1e-3) * m / v
        else:
            v[...] = 0.999 * v + 0.001 * g * g
            p[...] -= np.float32(1e-3) * m / (np.sqrt(v) + np.float32(1e-8))

    benchmark(step)


@pytest.mark.parametrize("name", OPTIMISERS)
def test_step_torch(benchmark, rng, torch, name):
    benchmark.group = f"{name} step, 4M float32 parameters"
    p = torch.tensor(rng.standard_normal(N).astype(np.float32), requires_grad=True)
    opt = getattr(torch.optim, name)([p], lr=1e-3, foreach=True)
    p.grad = torch.tensor(rng.standard_normal(N).astype(np.float32))
    benchmark(opt.step)


# torch.special's Cephes functions, 4M float32 inside their usual range: pydlk's compiled loops
# (csrc/special_cephes.cpp), torch, and NumPy: entr's textbook form -x log x in float32; NumPy
# has none of the others, so their NumPy row is the float64 Cephes array code
# (pydlk/ops/_cephes.py, what pydlk ran before the kernels and still runs on CuPy arrays) and
# NumPy's own i0
_SPECIAL = {
    "i0": (-30.0, 30.0),
    "i0e": (-30.0, 30.0),
    "i1": (-30.0, 30.0),
    "i1e": (-30.0, 30.0),
    "erfcx": (-3.0, 30.0),
    "ndtri": (0.001, 0.999),
    "log_ndtr": (-30.0, 5.0),
    "entr": (0.001, 5.0),
}


@pytest.mark.parametrize("fn", list(_SPECIAL))
def test_special_pydlk(benchmark, rng, fn):
    benchmark.group = f"special.{fn}, 4M float32"
    x = pydlk.tensor(rng.uniform(*_SPECIAL[fn], N).astype(np.float32))
    benchmark(getattr(pydlk.special, fn), x)


@pytest.mark.parametrize("fn", list(_SPECIAL))
def test_special_numpy(benchmark, rng, fn):
    from pydlk.ops import _cephes

    benchmark.group = f"special.{fn}, 4M float32"
    x = rng.uniform(*_SPECIAL[fn], N).astype(np.float32)
    if fn == "entr":
        benchmark(lambda: -x * np.log(x))
    elif fn == "i0":
        benchmark(lambda: np.i0(x).astype(np.float32))
    else:
        f = getattr(_cephes, fn)

        def cephes():
            with np.errstate(all="ignore"):  # exp overflows in the branch not taken
                return f(x.astype(np.float64)).astype(np.float32)

        benchmark(cephes)


@pytest.mark.parametrize("fn", list(_SPECIAL))
def test_special_torch(benchmark, rng, torch, fn):
    benchmark.group = f"special.{fn}, 4M float32"
    x = torch.tensor(rng.uniform(*_SPECIAL[fn], N).astype(np.float32))
    benchmark(getattr(torch.special, fn), x)
