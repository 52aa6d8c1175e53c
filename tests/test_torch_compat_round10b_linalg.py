"""linalg.ldl_factor, ldl_factor_ex and ldl_solve against torch 2.x (LAPACK's sytrf/sytrs): the
compact LD and the pivots element by element on many random symmetric indefinite matrices (real,
complex symmetric, Hermitian, batched, with ties and zero columns), A = P L D L^T P^T rebuilt in
NumPy from LAPACK's pivot encoding in the test, solves with torch's factors and torch solving
with pydlk's, errors, and no derivative (as torch). The ``test_gpu_*`` test runs them on CuPy
arrays against the CPU (on a GPU, or under tools/run_cuda_tests_on_host.py)."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk

torch = pytest.importorskip("torch")
LA = pydlk.linalg


def _np(t):
    if isinstance(t, pydlk.Tensor):
        return host(t.detach())
    return t.detach().numpy()


def _sym(rng, shape, dtype, herm, kind):
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    if kind == "ties":
        a = np.round(a)  # many equal magnitudes: first-index tie breaking
    if kind == "zero_col":
        a[..., 1, :] = 0
        a[..., :, 1] = 0
    at = np.swapaxes(a, -1, -2)
    return (a + (at.conj() if herm else at)).astype(dtype)


_CASES = [
    (np.float64, False),
    (np.float32, False),
    (np.complex128, False),
    (np.complex128, True),
    (np.complex64, True),
]


@pytest.mark.parametrize("dtype,herm", _CASES, ids=[f"{d.__name__}-{h}" for d, h in _CASES])
@pytest.mark.parametrize("kind", ["plain", "ties", "zero_col"])
def test_ldl_factor_matches_torch_element_by_element(rng, dtype, herm, kind):
    for n in (1, 2, 3, 5, 8, 13, 31, 64):
        a = _sym(rng, (4, n, n), dtype, herm, kind if n > 2 else "plain")
        ld, piv, info = LA.ldl_factor_ex(pydlk.tensor(a), hermitian=herm)
        tld, tpiv, tinfo = torch.linalg.ldl_factor_ex(torch.tensor(a), hermitian=herm)
        assert piv.dtype == np.int32 and info.dtype == np.int32 and ld.dtype == dtype
        np.testing.assert_array_equal(_np(piv), _np(tpiv))
        np.testing.assert_array_equal(_np(info), _np(tinfo))
        scale = max(1.0, np.abs(_np(tld)).max())
        tol = 1e-4 if np.dtype(dtype).itemsize <= 8 and dtype != np.float64 else 1e-12
        np.testing.assert_allclose(_np(ld), _np(tld), rtol=0, atol=tol * scale)


def test_ldl_factor_pivots_match_torch_on_many_random_matrices():
    rng = np.random.default_rng(2024)
    mismatched = 0
    for trial in range(200):
        n = int(rng.integers(2, 40))
        a = rng.standard_normal((n, n))
        if trial % 3 == 0:
            a = np.round(2 * a)
        a = a + a.T
        _, piv, info = LA.ldl_factor_ex(pydlk.tensor(a))
        t = torch.linalg.ldl_factor_ex(torch.tensor(a))
        mismatched += not np.array_equal(_np(piv), _np(t.pivots)) or int(info) != int(t.info)
    assert mismatched == 0


def _reconstruct(ld, piv, herm):
    """P L D L^T P^T from LAPACK's lower sytrf output, in NumPy: A = L(1) ... with
    L(k) = P(k) L_k the k-th block step (dsytrf's documentation: A = L D L^T with
    L = P(1) L(1) P(2) L(2) ..., each P(k) the interchange recorded in pivots[k])."""
    n = ld.shape[0]
    d = np.zeros_like(ld)
    total = np.eye(n, dtype=ld.dtype)
    k = 0
    while k < n:
        step = np.eye(n, dtype=ld.dtype)
        if piv[k] > 0:
            s, kp = 1, piv[k] - 1
            d[k, k] = ld[k, k]
            step[k + 1 :, k] = ld[k + 1 :, k]
            perm_row = k
        else:
            s, kp = 2, -piv[k] - 1
            d[k, k], d[k + 1, k + 1] = ld[k, k], ld[k + 1, k + 1]
            d[k + 1, k] = ld[k + 1, k]
            d[k, k + 1] = np.conj(ld[k + 1, k]) if herm else ld[k + 1, k]
            step[k + 2 :, k : k + 2] = ld[k + 2 :, k : k + 2]
            perm_row = k + 1
        p = np.eye(n, dtype=ld.dtype)
        p[[perm_row, kp]] = p[[kp, perm_row]]
        total = total @ p @ step
        k += s
    lt = total.conj().T if herm else total.T
    return total @ d @ lt


@pytest.mark.parametrize(
    "dtype,herm", [(np.float64, False), (np.complex128, False), (np.complex128, True)]
)
def test_ldl_factor_rebuilds_a_from_lapacks_encoding(rng, dtype, herm):
    for n in (1, 4, 9, 20):
        a = _sym(rng, (n, n), dtype, herm, "plain")
        ld, piv = LA.ldl_factor(pydlk.tensor(a), hermitian=herm)
        ld, piv = _np(ld), _np(piv)
        assert np.all(np.triu(ld, 1) == 0)
        np.testing.assert_allclose(_reconstruct(ld, piv, herm), a, rtol=0, atol=1e-12 * n)
        if n >= 9:
            assert (piv < 0).any()  # random indefinite matrices take 2x2 blocks


def test_ldl_factor_reads_the_lower_triangle_only(rng):
    a = _sym(rng, (6, 6), np.float64, False, "plain")
    b = np.tril(a) + np.triu(rng.standard_normal((6, 6)), 1)
    for x, y in zip(LA.ldl_factor(pydlk.tensor(a)), LA.ldl_factor(pydlk.tensor(b))):
        np.testing.assert_array_equal(_np(x), _np(y))


@pytest.mark.parametrize("dtype,herm", _CASES, ids=[f"{d.__name__}-{h}" for d, h in _CASES])
def test_ldl_solve_matches_torch_and_interoperates(rng, dtype, herm):
    a = _sym(rng, (3, 12, 12), dtype, herm, "plain")
    b = rng.standard_normal((3, 12, 2)).astype(dtype)
    ld, piv = LA.ldl_factor(pydlk.tensor(a), hermitian=herm)
    tld, tpiv = torch.linalg.ldl_factor(torch.tensor(a), hermitian=herm)
    x = _np(LA.ldl_solve(ld, piv, pydlk.tensor(b), hermitian=herm))
    tx = _np(torch.linalg.ldl_solve(tld, tpiv, torch.tensor(b), hermitian=herm))
    # each solving with the other's factorisation
    x2 = _np(
        LA.ldl_solve(
            pydlk.tensor(_np(tld)), pydlk.tensor(_np(tpiv)), pydlk.tensor(b), hermitian=herm
        )
    )
    tx2 = torch.linalg.ldl_solve(
        torch.tensor(_np(ld)), torch.tensor(_np(piv)), torch.tensor(b), hermitian=herm
    ).numpy()
    tol = 1e-3 if np.finfo(dtype).bits <= 32 else 1e-10
    sc = np.abs(tx).max()
    for y in (x, x2, tx2):
        np.testing.assert_allclose(y, tx, rtol=0, atol=tol * sc)
    np.testing.assert_allclose(a @ x, b, rtol=0, atol=tol * sc * 10)


def test_ldl_solve_broadcasts_batches_as_torch(rng):
    a = _sym(rng, (2, 5, 5), np.float64, False, "plain")
    ld, piv = LA.ldl_factor(pydlk.tensor(a))
    b = rng.standard_normal((5, 3))
    x = LA.ldl_solve(ld, piv, pydlk.tensor(b))
    assert tuple(x.shape) == (2, 5, 3)
    np.testing.assert_allclose(a @ _np(x), np.broadcast_to(b, (2, 5, 3)), atol=1e-12)
    b3 = rng.standard_normal((4, 1, 5, 2))  # torch 2.13 crashes on this broadcast
    x3 = LA.ldl_solve(ld, piv, pydlk.tensor(b3))
    assert tuple(x3.shape) == (4, 2, 5, 2)
    np.testing.assert_allclose(_np(x3), np.linalg.solve(a, b3), atol=1e-12)


def test_ldl_info_singular_matrices_and_empty_input():
    z = np.diag([1.0, 0.0, 2.0])
    ld, piv, info = LA.ldl_factor_ex(pydlk.tensor(z))
    t = torch.linalg.ldl_factor_ex(torch.tensor(z))
    assert int(info) == int(t.info) == 2
    np.testing.assert_array_equal(_np(ld), _np(t.LD))
    np.testing.assert_array_equal(_np(piv), _np(t.pivots))
    with pytest.raises(LA.LinAlgError, match=r"D\[1,1\] is exactly zero"):
        LA.ldl_factor(pydlk.tensor(z))
    with pytest.raises(RuntimeError, match=r"\(Batch element 1\)"):
        LA.ldl_factor_ex(pydlk.tensor(np.stack([np.eye(3), z])), check_errors=True)
    zb = np.zeros((2, 3, 3))
    info_b = LA.ldl_factor_ex(pydlk.tensor(zb)).info
    np.testing.assert_array_equal(
        _np(info_b), _np(torch.linalg.ldl_factor_ex(torch.tensor(zb)).info)
    )
    e = LA.ldl_factor(pydlk.zeros(2, 0, 0))
    assert tuple(e.LD.shape) == (2, 0, 0) and tuple(e.pivots.shape) == (2, 0)
    nan = np.array([[np.nan, 1.0], [1.0, 2.0]])
    assert int(LA.ldl_factor_ex(pydlk.tensor(nan)).info) == int(
        torch.linalg.ldl_factor_ex(torch.tensor(nan)).info
    )


def test_ldl_errors_and_no_derivative():
    with pytest.raises(ValueError, match="must be batches of square matrices, but they are 3 by 4"):
        LA.ldl_factor(pydlk.zeros(3, 4))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        LA.ldl_factor_ex(pydlk.zeros(4))
    with pytest.raises(TypeError, match="floating point or complex"):
        LA.ldl_factor(pydlk.zeros(3, 3, dtype=pydlk.int64))
    a = pydlk.tensor(np.array([[2.0, 1.0], [1.0, -3.0]]))
    ld, piv = LA.ldl_factor(a)
    with pytest.raises(ValueError, match="Incompatible matrix sizes"):
        LA.ldl_solve(ld, piv, pydlk.zeros(3, 1, dtype=pydlk.float64))
    with pytest.raises(TypeError, match="same dtype"):
        LA.ldl_solve(ld, piv, pydlk.zeros(2, 1))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        LA.ldl_solve(ld, piv, pydlk.zeros(2, dtype=pydlk.float64))
    x = pydlk.tensor(np.array([[2.0, 1.0], [1.0, -3.0]]), requires_grad=True)
    with pytest.raises(RuntimeError, match="derivative for aten::linalg_ldl_factor_ex is not"):
        LA.ldl_factor(x).LD.sum().backward()
    b = pydlk.tensor(np.ones((2, 1)), requires_grad=True)
    with pytest.raises(RuntimeError, match="derivative for aten::linalg_ldl_solve is not"):
        LA.ldl_solve(ld, piv, b).sum().backward()
    tx = torch.tensor(_np(x), requires_grad=True)
    with pytest.raises(RuntimeError, match="derivative for aten::linalg_ldl_factor_ex is not"):
        torch.linalg.ldl_factor(tx).LD.sum().backward()
    assert type(LA.ldl_factor(a)).__name__ == "linalg_ldl_factor"
    assert type(LA.ldl_factor_ex(a)).__name__ == "linalg_ldl_factor_ex"


def test_gpu_ldl_factor_and_solve_like_the_cpu(rng):
    cp = cupy_or_skip()
    a = _sym(rng, (3, 9, 9), np.float64, False, "plain")
    b = rng.standard_normal((3, 9, 2))
    ld, piv, info = LA.ldl_factor_ex(pydlk.tensor(cp.asarray(a)))
    cld, cpiv, cinfo = LA.ldl_factor_ex(pydlk.tensor(a))
    assert isinstance(ld._data, cp.ndarray) and isinstance(piv._data, cp.ndarray)
    np.testing.assert_array_equal(host(piv), _np(cpiv))
    np.testing.assert_array_equal(host(info), _np(cinfo))
    np.testing.assert_allclose(host(ld), _np(cld), rtol=0, atol=1e-12)
    x = LA.ldl_solve(ld, piv, pydlk.tensor(cp.asarray(b)))
    assert isinstance(x._data, cp.ndarray)
    np.testing.assert_allclose(host(x), _np(LA.ldl_solve(cld, cpiv, pydlk.tensor(b))), atol=1e-12)
    c = _sym(rng, (5, 5), np.complex128, True, "plain")
    h = LA.ldl_factor(pydlk.tensor(cp.asarray(c)), hermitian=True)
    hc = LA.ldl_factor(pydlk.tensor(c), hermitian=True)
    np.testing.assert_array_equal(host(h.pivots), _np(hc.pivots))
    np.testing.assert_allclose(host(h.LD), _np(hc.LD), atol=1e-12)


def test_gpu_ldl_kernels_like_the_cpu_kernels(rng):
    """pydlk._cuda's ldl_factor and ldl_solve (the array code) against _C's (LAPACK, and its
    sytf2 port for n <= 64) on the same inputs, every dtype, symmetric and Hermitian, batched,
    unbatched and empty; both refuse pivots LAPACK would index out of range with."""
    cp = cupy_or_skip()
    from pydlk import _C, _cuda

    for dtype, herm in _CASES + [(np.float32, True), (np.complex64, False)]:
        for shape in ((2, 5, 5), (7, 7), (1, 70, 70), (2, 0, 0)):
            a = np.ascontiguousarray(_sym(rng, shape, dtype, herm, "plain"))
            ld, piv, info = _cuda.ldl_factor(cp.asarray(a), herm)
            cld, cpiv, cinfo = _C.ldl_factor(a, herm)
            assert isinstance(ld, cp.ndarray) and isinstance(piv, cp.ndarray)
            assert ld.dtype == dtype and piv.dtype == np.int32 and info.dtype == np.int32
            np.testing.assert_array_equal(host(piv), cpiv)
            np.testing.assert_array_equal(host(info), cinfo)
            tol = 1e-4 if np.finfo(dtype).bits <= 32 else 1e-11
            scale = max(1.0, float(np.abs(cld).max())) if cld.size else 1.0
            np.testing.assert_allclose(host(ld), cld, rtol=0, atol=tol * scale)
            b = rng.standard_normal(shape[:-1] + (2,)).astype(dtype)
            x = _cuda.ldl_solve(ld, piv, cp.asarray(b), herm)
            cx = _C.ldl_solve(cld, cpiv, b, herm)
            assert isinstance(x, cp.ndarray) and x.shape == b.shape
            xs = max(1.0, float(np.abs(cx).max())) if cx.size else 1.0
            np.testing.assert_allclose(host(x), cx, rtol=0, atol=100 * tol * xs)
    eye, ones = np.eye(3), np.ones((3, 1))
    for bad, what in (([1, 2, -3], "last row"), ([-1, 2, 3], "first row"), ([0, 2, 3], "pivot")):
        bad = np.array(bad, np.int32)
        with pytest.raises(ValueError, match=f"ldl_solve: pivots .*{what}"):
            _C.ldl_solve(eye, bad, ones)
        with pytest.raises(ValueError, match=f"ldl_solve: pivots .*{what}"):
            _cuda.ldl_solve(cp.asarray(eye), cp.asarray(bad), cp.asarray(ones))
