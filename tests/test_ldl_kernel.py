"""The LDL kernels _C.ldl_factor and _C.ldl_solve (csrc/linalg_ldl.cpp: OpenBLAS's LAPACK
?sytrf/?hetrf and ?sytrs/?hetrs, uplo='L'; a row-major port of the unblocked sytf2 for n <= 64
and for matrices holding a NaN) and pydlk.linalg's ldl functions on them, against torch 2.13
(LAPACK's factors through MKL) and NumPy: real factors bit for bit up to n = 64, every dtype and
hermitian=True close (pivots equal) up to n = 200, batched and unbatched, A = P L D L^T P^T
rebuilt in NumPy from LAPACK's pivot encoding, solves, info of singular and NaN matrices, one
thread against two, and what the bindings refuse."""

import re

import numpy as np
import pytest

import pydlk
from pydlk import _C
from pydlk.linalg._ldl import _sytrf

torch = pytest.importorskip("torch")
LA = pydlk.linalg

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]
# hermitian=True on a real dtype is the symmetric factorization, as torch's
CASES = [(d, h) for d in DTYPES for h in (False, True)]
IDS = [f"{np.dtype(d).name}-{'herm' if h else 'sym'}" for d, h in CASES]


def _sym(rng, shape, dtype, herm, kind="plain"):
    """Random symmetric (Hermitian) indefinite matrices; "ties": small integers, so that many
    pivot candidates have equal sizes."""
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    if kind == "ties":
        a = np.round(a)
    at = np.swapaxes(a, -1, -2)
    return np.ascontiguousarray((a + (at.conj() if herm else at)).astype(dtype))


def _well_conditioned(rng, b, n, dtype, herm):
    """Q diag(s) Q^T (Q^H) with |s| in [1, 4] of both signs: indefinite, condition <= 4."""
    z = rng.standard_normal((b, n, n))
    if np.dtype(dtype).kind == "c":
        z = z + 1j * rng.standard_normal((b, n, n))
    q, _ = np.linalg.qr(z)
    s = rng.uniform(1, 4, (b, 1, n)) * rng.choice([-1.0, 1.0], (b, 1, n))
    qt = np.swapaxes(q, -1, -2)
    return np.ascontiguousarray(((q * s) @ (qt.conj() if herm else qt)).astype(dtype))


def _eps(dtype):
    return float(np.finfo(dtype).eps)


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


# ------------------------------------------------------------------------------ vs torch


@pytest.mark.parametrize("herm", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_real_factors_equal_torchs_bit_for_bit_up_to_n_64(dtype, herm):
    rng = np.random.default_rng(11)
    for n in range(1, 65):
        for kind in ("plain", "ties"):
            a = _sym(rng, (3, n, n), dtype, herm, kind)
            ld, piv, info = _C.ldl_factor(a, herm)
            t = torch.linalg.ldl_factor_ex(_t(a), hermitian=herm)
            assert ld.dtype == dtype and piv.dtype == np.int32 and info.dtype == np.int32
            np.testing.assert_array_equal(piv, t.pivots.numpy(), err_msg=f"n={n} {kind}")
            np.testing.assert_array_equal(info, t.info.numpy(), err_msg=f"n={n} {kind}")
            np.testing.assert_array_equal(ld, t.LD.numpy(), err_msg=f"n={n} {kind}")
            # unbatched, through the public function
            u = LA.ldl_factor_ex(pydlk.tensor(a[1]), hermitian=herm)
            assert tuple(u.LD.shape) == (n, n) and tuple(u.info.shape) == ()
            np.testing.assert_array_equal(u.LD.numpy(), t.LD.numpy()[1])
            np.testing.assert_array_equal(u.pivots.numpy(), t.pivots.numpy()[1])


@pytest.mark.parametrize("dtype,herm", CASES, ids=IDS)
def test_factors_match_torch_from_n_1_to_200(dtype, herm):
    rng = np.random.default_rng(12)
    wide = np.finfo(dtype).bits <= 32
    tol = 5e-4 if wide else 1e-11
    other_pivots = checked = 0
    for n in (1, 2, 3, 5, 17, 33, 64, 65, 80, 100, 129, 200):
        for shape in ((4, n, n), (n, n), (2, 1, n, n)):
            a = _sym(rng, shape, dtype, herm)
            if herm and np.dtype(dtype).kind == "c":
                # the diagonal's imaginary part is ignored, as LAPACK's hetrf ignores it
                i = np.arange(n)
                a[..., i, i] += 1j * rng.standard_normal(shape[:-1]).astype(dtype)
            ld, piv, info = LA.ldl_factor_ex(pydlk.tensor(a), hermitian=herm)
            ld, piv, info = ld.numpy(), piv.numpy(), info.numpy()
            t = torch.linalg.ldl_factor_ex(_t(a), hermitian=herm)
            tld, tpiv = t.LD.numpy(), t.pivots.numpy()
            assert ld.shape == a.shape and piv.shape == a.shape[:-1] and info.shape == a.shape[:-2]
            np.testing.assert_array_equal(info, t.info.numpy())
            assert np.all(np.triu(ld, 1) == 0), "LD is lower triangular"
            if herm and np.dtype(dtype).kind == "c":
                assert np.all(np.diagonal(ld, 0, -2, -1).imag == 0)
            same = (piv == tpiv).all(-1)
            if not wide or n <= 64:
                assert same.all(), f"n={n}: pivots differ from torch's"
            other_pivots += int((~same).sum())
            checked += same.size
            scale = max(1.0, float(np.abs(tld).max()))
            np.testing.assert_allclose(ld[same], tld[same], rtol=0, atol=tol * scale)
    # 32-bit rounding may tip a near-tie the other way in a large matrix; rarely
    assert other_pivots <= checked // 8


@pytest.mark.parametrize("dtype,herm", CASES, ids=IDS)
def test_factors_rebuild_a_as_p_l_d_lt_pt(dtype, herm):
    """A = L(1) ... D ... L(1)^T with L(k) = P(k) L_k, each P(k) the interchange pivots[k] records
    (dsytrf's documentation), rebuilt here from LD and the pivots alone."""
    rng = np.random.default_rng(13)
    herm_c = herm and np.dtype(dtype).kind == "c"
    for n in (1, 2, 3, 8, 31, 64, 65, 120, 200):
        a = _sym(rng, (2, n, n), dtype, herm)
        ld_all, piv_all, info = _C.ldl_factor(a, herm)
        assert np.all(info == 0)
        for b in range(2):
            ld, piv = ld_all[b].astype(np.complex128), piv_all[b]
            d = np.zeros((n, n), np.complex128)
            total = np.eye(n, dtype=np.complex128)  # L(1) L(2) ... applied so far
            k = 0
            while k < n:
                if piv[k] > 0:
                    s, kp, row = 1, piv[k] - 1, k
                    d[k, k] = ld[k, k]
                else:
                    assert k + 1 < n and piv[k + 1] == piv[k], "a 2x2 block spans two pivots"
                    s, kp, row = 2, -piv[k] - 1, k + 1
                    d[k : k + 2, k : k + 2] = ld[k : k + 2, k : k + 2]
                    d[k, k + 1] = np.conj(ld[k + 1, k]) if herm_c else ld[k + 1, k]
                assert row <= kp < n
                total[:, [row, kp]] = total[:, [kp, row]]  # total @ P(k)
                # total @ L_k: the block's columns of L below it
                total[:, k : k + s] += total[:, k + s :] @ ld[k + s :, k : k + s]
                k += s
            rebuilt = total @ d @ (total.conj().T if herm_c else total.T)
            err = np.abs(rebuilt - a[b]).max()
            growth = max(1.0, float(np.abs(total).max()) ** 2 * float(np.abs(d).max()))
            assert err <= 20 * n * _eps(dtype) * growth, f"n={n}: |A - PLDL^TP^T| = {err}"
            if n >= 31:
                assert (piv < 0).any(), "random indefinite matrices take 2x2 blocks"


@pytest.mark.parametrize("dtype,herm", CASES, ids=IDS)
def test_solve_matches_torch_and_solves(dtype, herm):
    rng = np.random.default_rng(14)
    tol = 2e-4 if np.finfo(dtype).bits <= 32 else 1e-11
    for n in (1, 2, 7, 64, 65, 150):
        for k in (1, 3):
            a = _well_conditioned(rng, 3, n, dtype, herm)
            b = rng.standard_normal((3, n, k)).astype(dtype)
            ld, piv, _ = _C.ldl_factor(a, herm)
            x = _C.ldl_solve(ld, piv, b, herm)
            tld, tpiv = torch.linalg.ldl_factor(_t(a), hermitian=herm)
            tx = torch.linalg.ldl_solve(tld, tpiv, _t(b), hermitian=herm).numpy()
            assert x.dtype == dtype and x.shape == b.shape
            scale = float(np.abs(tx).max())
            np.testing.assert_allclose(x, tx, rtol=0, atol=tol * scale, err_msg=f"n={n} k={k}")
            np.testing.assert_allclose(a @ x, b, rtol=0, atol=tol * 10 * scale)
            # torch's factors solved here, through the public function (int64 pivots too)
            x2 = LA.ldl_solve(
                pydlk.tensor(tld.numpy()),
                pydlk.tensor(tpiv.numpy().astype(np.int64)),
                pydlk.tensor(b),
                hermitian=herm,
            )
            np.testing.assert_allclose(x2.numpy(), tx, rtol=0, atol=tol * scale)


def test_solve_broadcasts_one_factorization_over_many_right_hand_sides():
    rng = np.random.default_rng(15)
    a = _well_conditioned(rng, 1, 70, np.float64, False)
    ld, piv = LA.ldl_factor(pydlk.tensor(a[0]))
    b = rng.standard_normal((5, 2, 70, 3))
    x = LA.ldl_solve(ld, piv, pydlk.tensor(b))
    assert tuple(x.shape) == (5, 2, 70, 3)
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(a[0], b), rtol=0, atol=1e-12)


# ------------------------------------------------------------------------- info, NaN


@pytest.mark.parametrize("n", [3, 9, 64, 65, 130])
def test_info_of_singular_matrices_is_torchs(n):
    rng = np.random.default_rng(16)
    a = _sym(rng, (6, n, n), np.float64, False)
    for b, zero in enumerate([0, 1, n // 2, n - 1]):  # a zero row and column
        a[b, zero, :] = 0
        a[b, :, zero] = 0
    a[4, :2, :2] = 0  # two zero columns of the leading block, not zero below it
    a[5] = 0
    ld, piv, info = _C.ldl_factor(a)
    t = torch.linalg.ldl_factor_ex(_t(a))
    np.testing.assert_array_equal(info, t.info.numpy())
    np.testing.assert_array_equal(piv, t.pivots.numpy())
    np.testing.assert_allclose(ld, t.LD.numpy(), rtol=0, atol=1e-11 * np.abs(ld).max())
    assert (info[:4] > 0).all() and info[5] == 1
    with pytest.raises(LA.LinAlgError, match=r"\(Batch element 0\).*is exactly zero"):
        LA.ldl_factor(pydlk.tensor(a))
    ok = LA.ldl_factor_ex(pydlk.tensor(_sym(rng, (n, n), np.float64, False)), check_errors=True)
    assert int(ok.info) == 0


@pytest.mark.parametrize("n", [2, 5, 70, 100])
def test_a_nan_diagonal_is_singular_only_over_a_zero_column_as_in_torch(n):
    """torch's LAPACK tests max(|a_kk|, colmax) == 0 with x86's max (a NaN |a_kk| gives colmax),
    so a NaN on the diagonal ends its column only when the column below it is zero. Reference
    LAPACK (OpenBLAS's) also ends it there when it is not (its DISNAN test)."""
    cases = []
    a = np.diag(np.arange(2.0, n + 2))
    a[1, 0] = a[0, 1] = 1.0
    a[0, 0] = np.nan  # nonzero column below: pivots on row 2, not singular there
    cases.append(a)
    for k in (n // 2, n - 1):  # zero column below: singular at k
        a = np.diag(np.arange(2.0, n + 2))
        a[k, k] = np.nan
        cases.append(a)
    a = np.stack(cases)
    ld, piv, info = _C.ldl_factor(a)
    t = torch.linalg.ldl_factor_ex(_t(a))
    np.testing.assert_array_equal(info, t.info.numpy())
    np.testing.assert_array_equal(piv, t.pivots.numpy())
    np.testing.assert_array_equal(np.isnan(ld), np.isnan(t.LD.numpy()))
    assert info[0] == 2 and info[1] == n // 2 + 1 and info[2] == n
    assert int(LA.ldl_factor_ex(pydlk.tensor(cases[0])).info) == 2


@pytest.mark.parametrize("dtype,herm", CASES, ids=IDS)
def test_matrices_with_a_nan_factor_as_the_array_code(dtype, herm):
    """NaN matrices go to the C++ port of the array code (the GPU path) at every size: the same
    info and pivots, NaN in the same places; finite matrices of n > 64 do not (LAPACK)."""
    rng = np.random.default_rng(17)
    for n in (2, 6, 40, 70):
        a = _sym(rng, (8, n, n), dtype, herm)
        for b in range(8):
            i, j = sorted(rng.integers(0, n, 2))[::-1]
            a[b, i, j] = np.nan
            if b % 2:
                a[b, j, i] = np.nan  # the upper triangle is not read
        ld, piv, info = _C.ldl_factor(a, herm)
        with np.errstate(all="ignore"):  # NumPy warns of the NaN the array code divides by
            rl, rp, ri = _sytrf(a, herm)
        np.testing.assert_array_equal(piv, rp, err_msg=f"n={n}")
        np.testing.assert_array_equal(info, ri, err_msg=f"n={n}")
        np.testing.assert_array_equal(np.isnan(ld), np.isnan(rl), err_msg=f"n={n}")
        assert np.isnan(ld).any(axis=(-1, -2)).all()


@pytest.mark.parametrize("n", [10, 64, 65, 150])
def test_only_the_lower_triangle_is_read(n):
    rng = np.random.default_rng(18)
    a = _sym(rng, (2, n, n), np.complex128, True)
    junk = np.triu(rng.standard_normal((2, n, n)) + np.nan * (rng.random((2, n, n)) < 0.1), 1)
    for herm in (False, True):
        clean = _C.ldl_factor(a, herm)
        dirty = _C.ldl_factor(np.ascontiguousarray(np.tril(a) + junk), herm)
        for x, y in zip(clean, dirty):
            np.testing.assert_array_equal(x, y)


def test_one_thread_gives_what_two_give():
    rng = np.random.default_rng(19)
    shapes = [(64, 16, 16), (6, 100, 100), (1, 300, 300), (3, 5, 5)]
    inputs = [(_sym(rng, s, np.float64, False), rng.standard_normal(s[:-1] + (2,))) for s in shapes]
    runs = []
    before = pydlk.get_num_threads()
    try:
        for threads in (1, 2):
            pydlk.set_num_threads(threads)
            out = []
            for a, b in inputs:
                ld, piv, info = _C.ldl_factor(a)
                out += [ld, piv, info, _C.ldl_solve(ld, piv, b)]
            runs.append(out)
    finally:
        pydlk.set_num_threads(before)
    for x, y in zip(*runs):
        np.testing.assert_array_equal(x, y)


def test_empty_shapes():
    ld, piv, info = _C.ldl_factor(np.zeros((2, 0, 0)))
    assert ld.shape == (2, 0, 0) and piv.shape == (2, 0) and info.shape == (2,)
    ld, piv, info = _C.ldl_factor(np.zeros((0, 3, 3), np.complex64), True)
    assert ld.shape == (0, 3, 3) and piv.shape == (0, 3) and info.shape == (0,)
    x = _C.ldl_solve(np.eye(3), np.array([1, 2, 3], np.int32), np.zeros((3, 0)))
    assert x.shape == (3, 0)


# ----------------------------------------------------------------------- what is refused

_I = np.eye(3)
_P = np.array([1, 2, 3], np.int32)
_B = np.ones((3, 2))

REFUSED = [
    (lambda: _C.ldl_factor(np.eye(3, dtype=np.float16)), TypeError, "ldl_factor: input .*float16"),
    (lambda: _C.ldl_factor(np.eye(3, dtype=np.int64)), TypeError, "ldl_factor: input .*int64"),
    (lambda: _C.ldl_factor(np.ones((4, 4))[::2, ::2]), TypeError, "not C-contiguous"),
    (lambda: _C.ldl_factor(np.ones((3, 4))), ValueError, r"ldl_factor: input must be square"),
    (lambda: _C.ldl_factor(np.ones(3)), ValueError, r"ldl_factor: input .*\(3,\)"),
    (lambda: _C.ldl_factor([[1.0]]), TypeError, "ldl_factor"),
    (lambda: _C.ldl_solve(_I, _P.astype(np.int64), _B), TypeError, "ldl_solve: pivots .*int32"),
    (lambda: _C.ldl_solve(_I, _P[:2], _B), ValueError, r"ldl_solve: pivots must have shape"),
    (lambda: _C.ldl_solve(_I, _P, _B[:2]), ValueError, r"ldl_solve: B must have shape \(3, k\)"),
    (lambda: _C.ldl_solve(_I, _P, np.ones(3)), ValueError, "ldl_solve: B must have shape"),
    (lambda: _C.ldl_solve(_I, _P, _B.astype(np.float32)), TypeError, "ldl_solve: B .*dtype"),
    (lambda: _C.ldl_solve(_I, _P, _B.T), TypeError, "ldl_solve: B .*not C-contiguous"),
    (lambda: _C.ldl_solve(_I, _P, np.asfortranarray(np.ones((3, 2)))), TypeError, "ldl_solve: B"),
    (lambda: _C.ldl_solve(np.ones((3, 2)), _P, _B), ValueError, "ldl_solve: LD must be square"),
    (lambda: _C.ldl_solve(_I, np.array([0, 1, 2], np.int32), _B), ValueError, r"\|pivot\|"),
    (lambda: _C.ldl_solve(_I, np.array([1, 2, 4], np.int32), _B), ValueError, r"\|pivot\|"),
    (lambda: _C.ldl_solve(_I, np.array([1, 2, -4], np.int32), _B), ValueError, r"\|pivot\|"),
    (lambda: _C.ldl_solve(_I, np.array([1, 2, -3], np.int32), _B), ValueError, "last row"),
    (lambda: _C.ldl_solve(_I, np.array([-1, 2, 3], np.int32), _B), ValueError, "first row"),
]


@pytest.mark.parametrize("i", range(len(REFUSED)))
def test_the_bindings_refuse_bad_input_naming_op_and_argument(i):
    call, exc, pattern = REFUSED[i]
    with pytest.raises(exc, match=pattern):
        call()


def test_public_functions_refuse_what_torch_refuses_and_take_any_integer_pivots():
    with pytest.raises(TypeError, match=re.escape("linalg.ldl_factor_ex: Expected a float32")):
        LA.ldl_factor_ex(pydlk.tensor(np.eye(3, dtype=np.float16)))
    ld, piv = LA.ldl_factor(pydlk.tensor(np.array([[2.0, 1.0], [1.0, -3.0]])))
    b = pydlk.tensor(np.array([[1.0], [2.0]]))
    x32 = LA.ldl_solve(ld, piv, b).numpy()
    x64 = LA.ldl_solve(ld, pydlk.tensor(piv.numpy().astype(np.int64)), b).numpy()
    np.testing.assert_array_equal(x32, x64)
    np.testing.assert_allclose(np.array([[2.0, 1.0], [1.0, -3.0]]) @ x32, b.numpy(), atol=1e-15)
    with pytest.raises(ValueError, match="ldl_solve: pivots must satisfy"):
        LA.ldl_solve(ld, pydlk.tensor(np.array([1, 2**32 + 1])), b)
    with pytest.raises(ValueError, match="ldl_solve: pivots"):
        LA.ldl_solve(ld, pydlk.tensor(np.array([1, -2], np.int32)), b)
