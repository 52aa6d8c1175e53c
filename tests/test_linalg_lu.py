"""The LU family (pydlk.linalg.lu_factor, lu_factor_ex, lu, lu_solve; pydlk.lu, lu_solve,
lu_unpack), householder_product with geqrf/orgqr/ormqr, vander, triangular_solve and
svd_lowrank/pca_lowrank: values and pivots against
torch 2.13 on the same data, textbook checks (P L U = A with a unit lower L whose entries are
at most 1 in magnitude, an upper U; Q orthonormal; x ** j), gradients against torch's and
central differences, and torch's errors."""

import itertools
import warnings

import numpy as np
import pytest

import pydlk
import pydlk.linalg as LA
from pydlk.linalg import _toplevel as top

torch = pytest.importorskip("torch")

rng = np.random.default_rng(11)
SHAPES = [(3, 3), (6, 6), (2, 40, 40), (3, 70, 70), (3, 5), (5, 3), (2, 37, 80), (2, 80, 37)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lu_factor_and_lu_match_torch_and_reconstruct_A(shape, dtype):
    a = rng.standard_normal(shape).astype(dtype)
    LU, piv = LA.lu_factor(pydlk.tensor(a))
    tLU, tpiv = torch.linalg.lu_factor(torch.tensor(a))
    assert LU.dtype == dtype and piv.dtype == np.int32
    np.testing.assert_array_equal(piv.numpy(), tpiv.numpy())  # the same row swaps as LAPACK
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(LU.numpy(), tLU.numpy(), rtol=tol, atol=tol)
    P, L, U = LA.lu(pydlk.tensor(a))
    m, n = shape[-2:]
    k = min(m, n)
    assert P.shape == shape[:-2] + (m, m) and L.shape == shape[:-2] + (m, k)
    assert U.shape == shape[:-2] + (k, n)
    p, l_, u = (t.numpy().astype(np.float64) for t in (P, L, U))
    np.testing.assert_allclose(p @ l_ @ u, a, rtol=tol, atol=tol * 10)
    np.testing.assert_array_equal(np.triu(l_, 1), 0)
    np.testing.assert_array_equal(np.diagonal(l_, axis1=-2, axis2=-1), 1)
    assert np.abs(l_).max() <= 1 + 1e-6  # partial pivoting: no multiplier above 1
    np.testing.assert_array_equal(np.tril(u, -1), 0)
    np.testing.assert_array_equal(np.sort(p.sum(-1), -1), np.ones(shape[:-2] + (m,)))


def test_singular_matrices_factor_with_info_and_lu_factor_raises_as_torch():
    a = np.array([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [2.0, 4.0]]])
    LU, piv, info = LA.lu_factor_ex(pydlk.tensor(a))
    tLU, tpiv, tinfo = torch.linalg.lu_factor_ex(torch.tensor(a))
    np.testing.assert_allclose(LU.numpy(), tLU.numpy())
    np.testing.assert_array_equal(piv.numpy(), tpiv.numpy())
    np.testing.assert_array_equal(info.numpy(), tinfo.numpy())
    assert info.dtype == np.int32 and info.numpy().tolist() == [0, 2]
    with pytest.raises(LA.LinAlgError, match=r"\(Batch element 1\): U\[2,2\] is zero"):
        LA.lu_factor(pydlk.tensor(a))
    with pytest.raises(RuntimeError, match="U\\[2,2\\] is zero"):
        LA.lu_factor_ex(pydlk.tensor(a), check_errors=True)
    z = LA.lu_factor_ex(pydlk.tensor(np.zeros((3, 3))))  # no swap on an all-zero column
    tz = torch.linalg.lu_factor_ex(torch.zeros(3, 3, dtype=torch.float64))
    for mine, theirs in zip(z, tz):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert int(top.lu(pydlk.tensor(a[1]), get_infos=True)[2]) == 2  # torch.lu does not raise


def test_without_pivoting_is_the_textbook_doolittle_factorization():
    a = rng.standard_normal((2, 5, 5)) + 5 * np.eye(5)
    LU, piv = LA.lu_factor(pydlk.tensor(a), pivot=False)
    np.testing.assert_array_equal(piv.numpy(), np.broadcast_to(np.arange(1, 6), (2, 5)))
    want = np.array(a)  # Doolittle: L[i, j] = (A[i, j] - sum_k L[i, k] U[k, j]) / U[j, j]
    for m in want:
        for j in range(5):
            m[j + 1 :, j] /= m[j, j]
            m[j + 1 :, j + 1 :] -= np.outer(m[j + 1 :, j], m[j, j + 1 :])
    np.testing.assert_allclose(LU.numpy(), want, rtol=1e-12, atol=1e-12)


def _check_grads(mine, theirs, atol=1e-9):
    for g, t in zip(mine, theirs):
        np.testing.assert_allclose(g, t, rtol=1e-7, atol=atol)


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 3), (3, 5), (5, 3), (2, 36, 36), (30, 45)])
def test_gradients_of_lu_and_lu_factor_match_torch(shape):
    a = rng.standard_normal(shape)
    m, n = shape[-2:]
    k = min(m, n)
    wl = rng.standard_normal(shape[:-2] + (m, k))
    wu = rng.standard_normal(shape[:-2] + (k, n))
    wlu = rng.standard_normal(shape)
    grads = []
    for T, lib in ((pydlk, LA), (torch, torch.linalg)):
        A = T.tensor(a, requires_grad=True)
        _, L, U = lib.lu(A)
        ((L * T.tensor(wl)).sum() + (U * T.tensor(wu)).sum()).backward()
        g1 = A.grad.numpy().copy()
        A.grad = None
        (lib.lu_factor(A)[0] * T.tensor(wlu)).sum().backward()
        grads.append((g1, A.grad.numpy()))
    _check_grads(grads[0], grads[1])


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("adjoint", [False, True])
def test_lu_solve_values_and_gradients_match_torch_and_numpy(left, adjoint):
    a = rng.standard_normal((2, 4, 4)) + 2 * np.eye(4)
    b = rng.standard_normal((3, 1, 4, 2) if left else (3, 1, 2, 4))
    out = []
    for T, lib in ((pydlk, LA), (torch, torch.linalg)):
        A, B = T.tensor(a, requires_grad=True), T.tensor(b, requires_grad=True)
        LU, piv = lib.lu_factor(A)
        X = lib.lu_solve(LU, piv, B, left=left, adjoint=adjoint)
        (X**2).sum().backward()
        out.append((X.detach().numpy(), A.grad.numpy(), B.grad.numpy()))
    _check_grads(out[0], out[1])
    op = np.swapaxes(a, -1, -2) if adjoint else a  # the textbook solve
    want = (
        np.linalg.solve(op, b)
        if left
        else np.swapaxes(np.linalg.solve(np.swapaxes(op, -1, -2), np.swapaxes(b, -1, -2)), -1, -2)
    )
    np.testing.assert_allclose(out[0][0], want, rtol=1e-10, atol=1e-12)


def test_central_differences_and_second_derivatives():
    a = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    b = rng.standard_normal((3, 2))
    A, B = (pydlk.tensor(x, requires_grad=True) for x in (a, b))
    assert pydlk.gradcheck(lambda x: LA.lu(x).L, (A,))
    assert pydlk.gradcheck(lambda x: LA.lu(x).U, (A,))
    assert pydlk.gradcheck(lambda x: LA.lu_factor(x).LU, (A,))
    wide = pydlk.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    assert pydlk.gradcheck(lambda x: LA.lu_factor(x).LU, (wide,))
    LU, piv = (t.detach() for t in LA.lu_factor(A))
    LU.requires_grad_(True)
    assert pydlk.gradcheck(lambda lu_, rhs: LA.lu_solve(lu_, piv, rhs), (LU, B))
    assert pydlk.gradgradcheck(lambda lu_, rhs: LA.lu_solve(lu_, piv, rhs), (LU, B))


def test_top_level_lu_lu_unpack_lu_solve_as_torch():
    a = rng.standard_normal((2, 4, 4))
    b = rng.standard_normal((2, 4, 3))
    LU, piv = top.lu(pydlk.tensor(a))
    with warnings.catch_warnings():  # torch.lu is deprecated in torch
        warnings.simplefilter("ignore")
        tLU, tpiv = torch.lu(torch.tensor(a))
    np.testing.assert_array_equal(piv.numpy(), tpiv.numpy())
    for mine, theirs in zip(top.lu_unpack(LU, piv), torch.lu_unpack(tLU, tpiv)):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), atol=1e-14)
    P, L, U = top.lu_unpack(LU, piv, unpack_pivots=False)
    assert P.numel() == 0 and L.shape == (2, 4, 4)
    x = top.lu_solve(pydlk.tensor(b), LU, piv)
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(a, b), rtol=1e-10)


def test_householder_product_geqrf_orgqr_match_torch():
    for shape, k in (((4, 3), 2), ((2, 5, 5), 5), ((3, 6, 4), 4), ((4, 3), 0)):
        a, t = rng.standard_normal(shape), rng.standard_normal(shape[:-2] + (k,))
        res = []
        for T, lib in ((pydlk, LA), (torch, torch.linalg)):
            A, tau = T.tensor(a, requires_grad=True), T.tensor(t, requires_grad=True)
            Q = lib.householder_product(A, tau)
            (Q * T.tensor(np.cos(np.arange(Q.numel())).reshape(Q.shape))).sum().backward()
            grads = (A.grad, tau.grad) if k else ()  # k = 0: torch leaves both None
            res.append([Q.detach().numpy()] + [g.numpy() for g in grads])
        _check_grads(res[0], res[1])
    a = rng.standard_normal((2, 6, 4)).astype(np.float32)
    h, tau = top.geqrf(pydlk.tensor(a))
    th, ttau = torch.geqrf(torch.tensor(a))
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(tau.numpy(), ttau.numpy(), rtol=1e-4, atol=1e-5)
    Q = top.orgqr(h, tau).numpy()  # textbook: orthonormal columns, and Q R = A
    np.testing.assert_allclose(
        np.swapaxes(Q, -1, -2) @ Q, np.broadcast_to(np.eye(4), (2, 4, 4)), atol=1e-5
    )
    np.testing.assert_allclose(Q @ np.triu(h.numpy()[..., :4, :]), a, atol=1e-5)


def test_vander_matches_torch_and_the_powers():
    x = rng.standard_normal((2, 3))
    x[0, 1] = 0  # the gradient stays finite at 0
    X, tX = pydlk.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    v, tv = LA.vander(X, N=4), torch.linalg.vander(tX, N=4)
    np.testing.assert_allclose(v.detach().numpy(), x[..., None] ** np.arange(4), rtol=1e-14)
    (v * v).sum().backward()
    (tv * tv).sum().backward()
    np.testing.assert_allclose(X.grad.numpy(), tX.grad.numpy(), rtol=1e-12)
    ints = LA.vander(pydlk.tensor([1, 2, 3]))
    assert ints.dtype == np.int64 and ints.numpy().tolist() == [[1, 1, 1], [1, 2, 4], [1, 3, 9]]
    y = pydlk.tensor([1.0, 2.0, 3.0])
    for N, inc in ((None, False), (2, True), (1, False), (0, False)):
        want = torch.vander(torch.tensor([1.0, 2.0, 3.0]), N=N, increasing=inc).numpy()
        np.testing.assert_array_equal(top.vander(y, N=N, increasing=inc).numpy(), want)


def _textbook_getrf(a):
    """Doolittle with partial pivoting, one column at a time, in float64 (the reference)."""
    lu = np.array(a, dtype=np.float64)
    m, n = lu.shape
    piv = []
    for j in range(min(m, n)):
        p = j + int(np.argmax(np.abs(lu[j:, j])))
        lu[[j, p]] = lu[[p, j]]
        piv.append(p + 1)
        if lu[j, j] != 0:
            lu[j + 1 :, j] /= lu[j, j]
        lu[j + 1 :, j + 1 :] -= np.outer(lu[j + 1 :, j], lu[j, j + 1 :])
    return lu, np.array(piv, np.int32)


# getf2 in the kernel up to 64**3 multiply-adds, OpenBLAS's getrf above (65x65), on the whole
# thread team for a lone large matrix (200x200)
@pytest.mark.parametrize(
    "shape", [(1, 1), (4, 4), (2, 7, 5), (2, 5, 7), (3, 2, 65, 65), (200, 200), (3, 90, 130)]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lapack_kernel_is_the_textbook_factorization_and_the_blocked_code(shape, dtype):
    # _C.lu_factor_ex (OpenBLAS's getrf) against the column-by-column textbook algorithm, and
    # against the blocked array code the GPU runs (another implementation of the same pivots)
    from pydlk import _C
    from pydlk.linalg._lu import _getrf_blocked

    a = rng.standard_normal(shape).astype(dtype)
    lu, piv, info = _C.lu_factor_ex(a)
    assert lu.dtype == dtype and lu.shape == a.shape
    assert piv.dtype == np.int32 and piv.shape == shape[:-2] + (min(shape[-2:]),)
    assert info.dtype == np.int32 and info.shape == shape[:-2] and not info.any()
    tol = 2e-4 if dtype == np.float32 else 1e-11
    flat_a, flat_lu = a.reshape((-1,) + shape[-2:]), lu.reshape((-1,) + shape[-2:])
    flat_piv = piv.reshape(-1, piv.shape[-1])
    for b in range(flat_a.shape[0]):
        ref_lu, ref_piv = _textbook_getrf(flat_a[b])
        np.testing.assert_array_equal(flat_piv[b], ref_piv)
        np.testing.assert_allclose(flat_lu[b], ref_lu, rtol=tol, atol=tol)
    blu, bpiv, binfo = _getrf_blocked(a, True)
    np.testing.assert_array_equal(bpiv, piv)
    np.testing.assert_array_equal(binfo, info)
    np.testing.assert_allclose(blu, lu, rtol=tol, atol=tol)


def test_lapack_kernel_edge_cases_and_errors():
    from pydlk import _C

    # empty batches and empty matrices keep torch's output shapes
    for shape in [(0, 3, 3), (2, 0, 3), (2, 3, 0)]:
        lu, piv, info = _C.lu_factor_ex(np.zeros(shape))
        t = torch.linalg.lu_factor_ex(torch.zeros(shape, dtype=torch.float64))
        assert lu.shape == tuple(t.LU.shape) and piv.shape == tuple(t.pivots.shape)
        np.testing.assert_array_equal(info, t.info.numpy())
    # a zero pivot mid-way: info names it and the factorization still completes
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 1.0, 1.0]])
    lu, piv, info = _C.lu_factor_ex(a)
    ref_lu, ref_piv = _textbook_getrf(a)
    np.testing.assert_allclose(lu, ref_lu, atol=1e-15)
    np.testing.assert_array_equal(piv, ref_piv)
    assert int(info) == 3
    # a NaN shows in the factors (LAPACK's getrf would skip the division by a NaN pivot and
    # leave finite multipliers below it)
    a = np.array([[np.nan, 1.0, 2.0], [2.0, 3.0, 1.0], [4.0, 1.0, 5.0]])
    lu, piv, info = _C.lu_factor_ex(a)
    assert np.isnan(lu[1:, 0]).all() and np.isnan(lu[1:, 1:]).all()
    big = rng.standard_normal((2, 80, 80))
    big[1, 0, 0] = np.nan  # the kernel's LAPACK path
    lu, piv, info = _C.lu_factor_ex(big)
    assert np.isnan(lu[1, 1:, 0]).all() and np.isnan(lu[1, 1:, 1:]).all()
    assert not np.isnan(lu[0]).any()
    assert np.isnan(torch.linalg.lu_factor(torch.tensor(a)).LU.numpy()[1:, 1:]).all()
    # the input is not written to
    a = rng.standard_normal((3, 4, 4))
    before = a.copy()
    _C.lu_factor_ex(a)
    np.testing.assert_array_equal(a, before)
    with pytest.raises(ValueError, match="lu_factor_ex: input must have at least 2 dim"):
        _C.lu_factor_ex(np.ones(3))
    with pytest.raises(TypeError, match="lu_factor_ex: input must be a C-contiguous float32"):
        _C.lu_factor_ex(np.ones((3, 3), np.int64))
    with pytest.raises(TypeError, match="not C-contiguous"):
        _C.lu_factor_ex(np.ones((4, 4))[:, ::2])


def test_errors_name_the_op_and_argument():
    with pytest.raises(
        ValueError, match="linalg.lu_factor: The input tensor A must have at least 2"
    ):
        LA.lu_factor(pydlk.ones(3))
    with pytest.raises(TypeError, match="linalg.lu_factor_ex: Expected a floating point"):
        LA.lu_factor_ex(pydlk.ones(3, 3, dtype=pydlk.int64))
    LU, piv = LA.lu_factor(pydlk.tensor(rng.standard_normal((3, 3))))
    with pytest.raises(
        ValueError, match=r"lu_solve: Incompatible shapes of A and B .*\(3x3 and 4x2\)"
    ):
        LA.lu_solve(LU, piv, pydlk.tensor(rng.standard_normal((4, 2))))
    with pytest.raises(TypeError, match="lu_solve: pivots should be a Tensor of scalar type int32"):
        LA.lu_solve(LU, piv.long(), pydlk.tensor(rng.standard_normal((3, 2))))
    with pytest.raises(ValueError, match="lu_solve: The input tensor B must have at least 2"):
        LA.lu_solve(LU, piv, pydlk.tensor(rng.standard_normal(3)))
    with pytest.raises(TypeError, match="lu_solve: B must have the dtype of LU"):
        LA.lu_solve(LU, piv, pydlk.ones(3, 2))
    with pytest.raises(ValueError, match="lu_unpack: pivots must have shape"):
        top.lu_unpack(LU, piv[:2])
    with pytest.raises(ValueError, match="shape\\[-2\\] must be greater than or equal to input"):
        LA.householder_product(pydlk.ones(3, 4), pydlk.ones(2))
    with pytest.raises(ValueError, match="must be greater than or equal to tau.shape"):
        LA.householder_product(pydlk.ones(4, 3), pydlk.ones(4))
    with pytest.raises(ValueError, match="batch dimensions of tau"):
        LA.householder_product(pydlk.ones(2, 4, 3), pydlk.ones(3, 2))
    with pytest.raises(ValueError, match="linalg.vander: N must be greater than 1"):
        LA.vander(pydlk.ones(3), N=1)


def test_gpu_tensors_match_the_cpu():
    # the blocked getrf and the solves on CuPy (or the host emulation): values, pivots and
    # gradients equal the CPU's, on the device
    from _gpu_helpers import cupy_or_skip, host

    cupy_or_skip()
    a = rng.standard_normal((2, 40, 40))
    b = rng.standard_normal((2, 40, 3))
    results = []
    for dev in ("cpu", "cuda"):
        A = pydlk.tensor(a, requires_grad=True, device=dev)
        B = pydlk.tensor(b, requires_grad=True, device=dev)
        LU, piv = LA.lu_factor(A)
        X = LA.lu_solve(LU, piv, B)
        assert X.device.type == dev and piv.device.type == dev
        ((X**2).sum() + LA.lu(A).L.sum()).backward()
        results.append([host(LU), host(piv), host(X), host(A.grad), host(B.grad)])
    for c, g in zip(*results):
        np.testing.assert_allclose(g, c, rtol=1e-9, atol=1e-10)
    with pytest.raises(LA.LinAlgError):
        LA.lu_factor(pydlk.tensor(np.zeros((3, 3)), device="cuda"))


def test_triangular_solve_and_ormqr_match_torch():
    a = np.triu(rng.standard_normal((2, 4, 4))) + 4 * np.eye(4)
    b = rng.standard_normal((2, 4, 3))
    for upper, transpose, unit in itertools.product((True, False), repeat=3):
        A = a if upper else np.swapaxes(a, -1, -2)
        res = []
        for T, fn in ((pydlk, top.triangular_solve), (torch, torch.triangular_solve)):
            At, bt = T.tensor(A, requires_grad=True), T.tensor(b, requires_grad=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's deprecation
                X, clone = fn(bt, At, upper, transpose, unit)
            (X**2).sum().backward()
            res.append(
                (X.detach().numpy(), clone.detach().numpy(), At.grad.numpy(), bt.grad.numpy())
            )
        _check_grads(res[0], res[1])
    for left, transpose in itertools.product((True, False), repeat=2):
        h, tau = torch.geqrf(torch.tensor(rng.standard_normal((2, 5, 3))))
        C = rng.standard_normal((2, 5, 4) if left else (2, 4, 5))
        res = []
        for T, fn in ((pydlk, top.ormqr), (torch, torch.ormqr)):
            ht, tt, Ct = (T.tensor(v, requires_grad=True) for v in (h.numpy(), tau.numpy(), C))
            out = fn(ht, tt, Ct, left, transpose)
            (out * T.tensor(np.sin(np.arange(out.numel())).reshape(out.shape))).sum().backward()
            res.append([out.detach().numpy()] + [v.grad.numpy() for v in (ht, tt, Ct)])
        _check_grads(res[0], res[1])


def test_svd_lowrank_and_pca_lowrank_recover_low_rank_matrices():
    # exact for a rank-q matrix (the textbook property of the randomized range finder)
    M = rng.standard_normal((50, 3)) @ rng.standard_normal((3, 40))
    for A in (M, M.T):
        U, S, V = top.svd_lowrank(pydlk.tensor(A), q=4)
        assert U.shape == (A.shape[0], 4) and V.shape == (A.shape[1], 4)
        np.testing.assert_allclose(((U * S.unsqueeze(0)) @ V.mT).numpy(), A, atol=1e-10)
        np.testing.assert_allclose(S.numpy()[:3], np.linalg.svd(A)[1][:3], rtol=1e-10)
        np.testing.assert_allclose(U.mT.numpy() @ U.numpy(), np.eye(4), atol=1e-10)
    X = rng.standard_normal((100, 3)) @ rng.standard_normal((3, 8)) + 5
    U, S, V = top.pca_lowrank(pydlk.tensor(X), q=3)
    tU, tS, tV = torch.pca_lowrank(torch.tensor(X), q=3)
    np.testing.assert_allclose(S.numpy(), tS.numpy(), rtol=1e-10)
    np.testing.assert_allclose(np.abs(V.numpy()), np.abs(tV.numpy()), atol=1e-10)  # signs free
    Xc = X - X.mean(0)
    np.testing.assert_allclose(S.numpy() ** 2, np.linalg.eigvalsh(Xc.T @ Xc)[::-1][:3], rtol=1e-9)
    A = pydlk.tensor(M, requires_grad=True)  # differentiable: the nuclear norm's gradient
    top.svd_lowrank(A, q=3)[1].sum().backward()
    u, _, vh = np.linalg.svd(M)
    np.testing.assert_allclose(A.grad.numpy(), u[:, :3] @ vh[:3], atol=1e-8)
    with pytest.raises(ValueError, match="svd_lowrank: q"):
        top.svd_lowrank(pydlk.tensor(M), q=41)
