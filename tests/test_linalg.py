"""pydlk.linalg's values against torch 2.13 (float32 and float64, batched and not, on
well-conditioned random matrices; symmetric positive-definite ones for cholesky and eigh),
textbook NumPy checks (det as the product of the LU pivots, A inv(A) = I, L L^T = A, a Taylor
series for exp), torch's return types, the top-level aliases and Tensor methods, and the errors
torch raises (non-square, singular with LinAlgError and torch's message, wrong dims)."""

import re

import numpy as np
import pytest

import pydlk
import pydlk.linalg as LA

torch = pytest.importorskip("torch")
TLA = torch.linalg

rng = np.random.default_rng(3)
DTYPES = [np.float32, np.float64]
BATCHES = [(), (3,), (2, 3)]


def _tol(dtype):
    return {"rtol": 2e-4, "atol": 2e-4} if dtype == np.float32 else {"rtol": 1e-9, "atol": 1e-10}


def _gen(shape, dtype=np.float64):
    n = shape[-1]
    return (rng.standard_normal(shape) + n * np.eye(n)).astype(dtype)


def _spd(shape, dtype=np.float64):
    x = rng.standard_normal(shape)
    return (x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def _close(p, t, dtype=np.float64, **kw):
    tol = dict(_tol(dtype), **kw)
    assert p.dtype == np.dtype(dtype) if np.asarray(t).dtype.kind == "f" else True
    np.testing.assert_allclose(np.asarray(p), t.numpy() if hasattr(t, "numpy") else t, **tol)


def _both(fn_p, fn_t, *arrays):
    return fn_p(*[pydlk.tensor(a) for a in arrays]), fn_t(*[torch.tensor(a) for a in arrays])


def _cmp(name, arrays, *args, dtype=np.float64, tol=None, **kw):
    """linalg.<name>(*arrays, *args, **kw) of pydlk equals torch's (a single output)."""
    p, t = _both(
        lambda *x: getattr(LA, name)(*x, *args, **kw),
        lambda *x: getattr(TLA, name)(*x, *args, **kw),
        *arrays,
    )
    _close(p, t, dtype, **(tol or {}))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", BATCHES)
def test_inverse_determinants_and_solve(dtype, batch):
    a = _gen(batch + (4, 4), dtype)
    b = rng.standard_normal(batch + (4, 2)).astype(dtype)
    v = rng.standard_normal(batch + (4,)).astype(dtype)
    for pf, tf in [(LA.inv, TLA.inv), (LA.det, TLA.det), (pydlk.logdet, torch.logdet)]:
        _close(*_both(pf, tf, a), dtype)
    (ps, pl), (ts, tl) = _both(LA.slogdet, TLA.slogdet, a)
    _close(ps, ts, dtype)
    _close(pl, tl, dtype)
    _close(*_both(LA.solve, TLA.solve, a, b), dtype)
    _close(*_both(LA.solve, TLA.solve, a, v), dtype)
    bl = rng.standard_normal(batch + (2, 4)).astype(dtype)
    _cmp("solve", [a, bl], dtype=dtype, left=False)
    for up in (True, False):
        for uni in (True, False):
            kw = {"upper": up, "unitriangular": uni}
            _close(
                *_both(
                    lambda x, y: LA.solve_triangular(x, y, **kw),
                    lambda x, y: TLA.solve_triangular(x, y, **kw),
                    a,
                    b,
                ),
                dtype,
                rtol=1e-3 if dtype == np.float32 else 1e-9,
            )


def test_solve_broadcasts_batches_and_matches_numpy():
    a, b = _gen((1, 4, 4)), rng.standard_normal((3, 4, 2))
    x = LA.solve(pydlk.tensor(a), pydlk.tensor(b))
    assert x.shape == (3, 4, 2)
    np.testing.assert_allclose(a @ x.numpy(), b, atol=1e-12)
    _close(*_both(LA.solve, TLA.solve, a, b))


def _lu_det(a):
    """Textbook Gaussian elimination with partial pivoting: det = (-1)^swaps * prod(pivots)."""
    u = a.astype(np.float64).copy()
    n, sign = len(u), 1.0
    for k in range(n):
        p = k + int(np.argmax(np.abs(u[k:, k])))
        if p != k:
            u[[k, p]] = u[[p, k]]
            sign = -sign
        u[k + 1 :] -= np.outer(u[k + 1 :, k] / u[k, k], u[k])
    return sign * np.prod(np.diag(u))


def test_textbook_identities():
    a = _gen((5, 5))
    assert float(LA.det(pydlk.tensor(a))) == pytest.approx(_lu_det(a), rel=1e-12)
    inv = LA.inv(pydlk.tensor(a)).numpy()
    np.testing.assert_allclose(inv @ a, np.eye(5), atol=1e-12)
    s = _spd((5, 5))
    L = LA.cholesky(pydlk.tensor(s)).numpy()
    np.testing.assert_allclose(L @ L.T, s, atol=1e-12)
    assert np.allclose(np.triu(L, 1), 0)
    q, r = (t.numpy() for t in LA.qr(pydlk.tensor(a[:, :3])))
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(q @ r, a[:, :3], atol=1e-12)
    w, v = (t.numpy() for t in LA.eigh(pydlk.tensor(s)))
    np.testing.assert_allclose(s @ v, v * w, atol=1e-10)
    m = rng.standard_normal((4, 4)) * 0.3
    taylor, term = np.eye(4), np.eye(4)
    for k in range(1, 30):
        term = term @ m / k
        taylor = taylor + term
    np.testing.assert_allclose(LA.matrix_exp(pydlk.tensor(m)).numpy(), taylor, atol=1e-14)


@pytest.mark.filterwarnings("ignore:torch.cholesky is deprecated")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", BATCHES)
def test_cholesky_reads_the_lower_triangle(dtype, batch):
    s = _spd(batch + (4, 4), dtype)
    junk = s + np.triu(rng.standard_normal(s.shape), 1).astype(dtype)  # upper part ignored
    _close(*_both(LA.cholesky, TLA.cholesky, junk), dtype)
    _cmp("cholesky", [s], dtype=dtype, upper=True)
    _close(*_both(pydlk.cholesky, torch.cholesky, s), dtype)
    L = np.linalg.cholesky(s)
    b = rng.standard_normal(batch + (4, 3)).astype(dtype)
    _close(*_both(pydlk.cholesky_solve, torch.cholesky_solve, b, L), dtype, rtol=1e-3)
    _close(*_both(pydlk.cholesky_inverse, torch.cholesky_inverse, L), dtype, rtol=1e-3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (3, 5), (2, 5, 3), (2, 3, 5)])
def test_qr_against_torch(dtype, shape):
    a = rng.standard_normal(shape).astype(dtype)
    for mode in ("reduced", "complete"):
        (pq, pr), (tq, tr) = _both(lambda x: LA.qr(x, mode), lambda x: TLA.qr(x, mode), a)
        assert pq.shape == tq.shape and pr.shape == tr.shape
        _close(pq, tq, dtype, atol=1e-3 if dtype == np.float32 else 1e-9)
        _close(pr, tr, dtype, atol=1e-3 if dtype == np.float32 else 1e-9)
    q, r = LA.qr(pydlk.tensor(a), mode="r")
    assert q.numel() == 0
    _close(r, TLA.qr(torch.tensor(a), mode="r").R, dtype, atol=1e-3)
    assert repr(LA.qr(pydlk.tensor(a))).startswith("linalg_qr(Q=")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", BATCHES)
def test_eigh_and_svd_up_to_the_vectors_signs(dtype, batch):
    s = _spd(batch + (4, 4), dtype)
    (pw, pv), (tw, tv) = _both(LA.eigh, TLA.eigh, s)
    _close(pw, tw, dtype)
    vec_tol = 1e-3 if dtype == np.float32 else 1e-8
    _close(np.abs(pv.numpy()), np.abs(tv.numpy()), dtype, atol=vec_tol)
    _close(*_both(lambda x: LA.eigvalsh(x, "U"), lambda x: TLA.eigvalsh(x, "U"), s), dtype)
    a = rng.standard_normal(batch + (5, 3)).astype(dtype)
    for full in (True, False):
        (u, sv, vh), (tu, ts, tvh) = _both(
            lambda x: LA.svd(x, full_matrices=full), lambda x: TLA.svd(x, full_matrices=full), a
        )
        assert (u.shape, sv.shape, vh.shape) == (tu.shape, ts.shape, tvh.shape)
        _close(sv, ts, dtype)
        rec = (u.numpy()[..., :, :3] * sv.numpy()[..., None, :]) @ vh.numpy()
        np.testing.assert_allclose(rec, a, **_tol(dtype))
        _close(np.abs(vh.numpy()), np.abs(tvh.numpy()), dtype, atol=vec_tol)
    _close(*_both(LA.svdvals, TLA.svdvals, a), dtype)
    U, S, V = pydlk.svd(pydlk.tensor(a))
    rec = (U.numpy() * S.numpy()[..., None, :]) @ np.swapaxes(V.numpy(), -1, -2)
    np.testing.assert_allclose(rec, a, **_tol(dtype))
    U0, S0, V0 = pydlk.svd(pydlk.tensor(a), compute_uv=False)
    assert U0.shape == batch + (5, 5) and V0.shape == batch + (3, 3) and not U0.numpy().any()


def test_pinv_matrix_rank_and_lstsq():
    a = rng.standard_normal((2, 5, 3))
    _close(*_both(LA.pinv, TLA.pinv, a))
    _close(*_both(lambda x: LA.pinv(x, 0.5), lambda x: TLA.pinv(x, 0.5), a))
    _close(*_both(lambda x: LA.pinv(x, atol=1.0), lambda x: TLA.pinv(x, atol=1.0), a))
    _close(*_both(pydlk.pinverse, torch.pinverse, a))
    s = _spd((4, 4))
    _close(*_both(lambda x: LA.pinv(x, hermitian=True), lambda x: TLA.pinv(x, hermitian=True), s))
    low = rng.standard_normal((3, 6, 2)) @ rng.standard_normal((3, 2, 4))  # rank 2
    low[1] = 0
    _close(*_both(LA.matrix_rank, TLA.matrix_rank, low))
    sym = low @ np.swapaxes(low, -1, -2)
    _cmp("matrix_rank", [sym], hermitian=True)
    _cmp("matrix_rank", [low], atol=1.0, rtol=0.0)
    b = rng.standard_normal((2, 5, 2))
    for driver in (None, "gels", "gelsy", "gelsd", "gelss"):
        p = LA.lstsq(pydlk.tensor(a), pydlk.tensor(b), driver=driver)
        t = TLA.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
        for pi, ti in zip(p, t):
            assert tuple(pi.shape) == tuple(ti.shape), driver
            assert pi.dtype == ti.numpy().dtype, driver
            np.testing.assert_allclose(pi.numpy(), ti.numpy(), rtol=1e-9, atol=1e-10)
    p, t = _both(LA.lstsq, TLA.lstsq, a[0], b[0, :, 0])
    _close(p.solution, t.solution)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", BATCHES)
def test_matrix_exp_and_power(dtype, batch):
    for scale in (0.1, 1.0, 6.0):
        a = (rng.standard_normal(batch + (4, 4)) * scale).astype(dtype)
        _cmp("matrix_exp", [a], dtype=dtype, tol={"rtol": 2e-4 if dtype == np.float32 else 1e-10})
    g = _gen(batch + (3, 3), dtype)
    for n in (0, 1, 2, 5, -1, -3):
        _cmp("matrix_power", [g], n, dtype=dtype)
    x = pydlk.tensor(g, requires_grad=True)
    assert LA.matrix_power(x, 0).requires_grad  # as torch's: the identity joins the graph


@pytest.mark.parametrize("dtype", DTYPES)
def test_norms(dtype):
    x = rng.standard_normal((2, 3, 4)).astype(dtype)
    for ord in (2, 1, 0, 3.5, -1.5, np.inf, -np.inf):
        for dim in (None, -1, (0, 2)):
            for keepdim in (False, True):
                _cmp("vector_norm", [x], ord, dim, keepdim, dtype=dtype)
    for ord in ("fro", "nuc", np.inf, -np.inf, 1, -1, 2, -2):
        for dim in ((-2, -1), (2, 0)):
            for keepdim in (False, True):
                _cmp("matrix_norm", [x], ord, dim, keepdim, dtype=dtype)
        _close(*_both(lambda t: LA.norm(t[0], ord), lambda t: TLA.norm(t[0], ord), x), dtype)
    for ord, dim in [(None, None), (None, 1), (3, 1), (None, (0, 1)), ("nuc", (1, 2))]:
        _close(*_both(lambda t: LA.norm(t, ord, dim), lambda t: TLA.norm(t, ord, dim), x), dtype)
    _close(*_both(lambda t: LA.norm(t[0, 0], 3), lambda t: TLA.norm(t[0, 0], 3), x), dtype)
    y = LA.vector_norm(pydlk.tensor(x.astype(np.float32)), dtype=np.float64)
    assert y.dtype == np.float64


@pytest.mark.filterwarnings("ignore:Using torch.cross without specifying the dim")
def test_small_products_cond_diagonal_and_tensor_ops():
    u, v = rng.standard_normal((2, 4, 3)), rng.standard_normal((1, 4, 3))
    _close(*_both(LA.cross, TLA.cross, u, v))
    v = v[0]
    _cmp("cross", [np.swapaxes(u, -1, -2), np.swapaxes(u[::-1], -1, -2).copy()], dim=-2)
    vt, wt = v.T.copy(), v[::-1].T.copy()
    _close(
        pydlk.cross(pydlk.tensor(vt), pydlk.tensor(wt)),
        torch.cross(torch.tensor(vt), torch.tensor(wt)),
    )
    _close(*_both(LA.vecdot, TLA.vecdot, u, v))
    ms = [rng.standard_normal(s) for s in [(3,), (3, 4), (4, 5), (5,)]]
    _close(*_both(lambda *t: LA.multi_dot(t), lambda *t: TLA.multi_dot(t), *ms))
    _close(*_both(lambda *t: LA.multi_dot(t), lambda *t: TLA.multi_dot(t), *ms[1:3]))
    a = _gen((2, 4, 4))
    _close(*_both(lambda x: LA.diagonal(x, offset=1), lambda x: TLA.diagonal(x, offset=1), a))
    for p in (None, 2, -2, "fro", "nuc", np.inf, -np.inf, 1, -1):
        _close(*_both(lambda x: LA.cond(x, p), lambda x: TLA.cond(x, p), a), rtol=1e-8)
    t = _gen((6, 6)).reshape(2, 3, 6)
    _close(*_both(LA.tensorinv, TLA.tensorinv, t))
    b = rng.standard_normal((2, 3))
    _close(*_both(LA.tensorsolve, TLA.tensorsolve, t, b))
    t2 = np.moveaxis(t.reshape(2, 3, 2, 3), 2, 0).copy()  # dims=(0,) moves it back
    _cmp("tensorsolve", [t2, b], dims=(0,))


def test_ex_variants_report_info_as_torch():
    s = np.array([[1.0, 2.0], [2.0, 4.0]])
    a = np.stack([np.eye(2), s])
    p, t = _both(LA.inv_ex, TLA.inv_ex, a)
    assert p.info.dtype == np.int32 and p.info.tolist() == t.info.tolist() == [0, 2]
    np.testing.assert_allclose(p.inverse.numpy()[0], np.eye(2))
    b = np.ones((2, 2))
    p, t = _both(LA.solve_ex, TLA.solve_ex, a, b)
    assert p.info.tolist() == t.info.tolist()
    np.testing.assert_allclose(p.result.numpy()[0], t.result.numpy()[0])
    c = np.stack([np.eye(2), np.array([[1.0, 2.0], [2.0, 1.0]])])
    p, t = _both(LA.cholesky_ex, TLA.cholesky_ex, c)
    assert p.info.tolist() == t.info.tolist() == [0, 2]
    np.testing.assert_allclose(p.L.numpy()[0], np.eye(2))
    ok = LA.inv_ex(pydlk.tensor(np.eye(3)))
    assert ok.info.tolist() == 0
    with pytest.raises(LA.LinAlgError):
        LA.inv_ex(pydlk.tensor(a), check_errors=True)


@pytest.mark.filterwarnings("ignore:torch.cholesky is deprecated")
def test_tensor_methods_and_top_level_aliases():
    a = _gen((2, 3, 3))
    x, t = pydlk.tensor(a), torch.tensor(a)
    for name in ("inverse", "det", "logdet", "matrix_exp", "pinverse"):
        _close(getattr(x, name)(), getattr(t, name)())
        _close(getattr(pydlk, name)(x), getattr(torch, name)(t))
    _close(x.matrix_power(3), t.matrix_power(3))
    _close(x.slogdet().logabsdet, t.slogdet().logabsdet)
    assert type(pydlk.slogdet(x)).__name__ == "slogdet"
    s = torch.tensor(_spd((3, 3)))
    _close(pydlk.tensor(s.numpy()).cholesky(upper=True), s.cholesky(upper=True))
    q, r = pydlk.tensor(a[0]).qr(some=False)
    np.testing.assert_allclose(q.numpy() @ r.numpy(), a[0], atol=1e-12)
    u, sv, v = x.svd()
    _close(sv, t.svd().S)
    _close(x[0].cross(x[1]), t[0].cross(t[1], dim=0))


def _msg(fn):
    try:
        fn()
    except Exception as e:
        return type(e), str(e)
    return type(None), ""


@pytest.mark.parametrize(
    "p,t",
    [
        (LA.inv, TLA.inv),
        (LA.cholesky, TLA.cholesky),
        (lambda x: LA.solve(x, x[..., 0]), lambda x: TLA.solve(x, x[..., 0])),
    ],
)
def test_singular_and_indefinite_matrices_raise_linalgerror_with_torchs_words(p, t):
    bad = [np.array([[1.0, 2.0], [2.0, 4.0]]), np.zeros((3, 3)), -np.eye(3)]
    bad.append(np.stack([np.eye(2), bad[0]]))
    for a in bad:
        if p is LA.cholesky and a is bad[0]:
            a = np.array([[1.0, 2.0], [2.0, 1.0]])
        tt, tm = _msg(lambda: t(torch.tensor(a)))
        if not issubclass(tt, torch.linalg.LinAlgError):
            continue  # -I is not singular: only cholesky refuses it
        pt, pm = _msg(lambda: p(pydlk.tensor(a)))
        assert issubclass(pt, LA.LinAlgError) and issubclass(pt, RuntimeError)
        assert pm == re.sub(r"^torch\.", "", tm)


def test_shape_and_dtype_errors_name_the_op():
    rect, vec = pydlk.tensor(rng.standard_normal((2, 3))), pydlk.tensor(np.ones(3))
    square = ["inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh", "matrix_exp", "inv_ex"]
    for name in square:
        with pytest.raises(
            ValueError, match=rf"linalg\.{name}: A must be batches of square .* 2 by 3"
        ):
            getattr(LA, name)(rect)
        with pytest.raises(ValueError, match=rf"linalg\.{name}: The input tensor A must have at"):
            getattr(LA, name)(vec)
    for name in ("qr", "svd", "svdvals", "pinv", "matrix_rank", "matrix_norm"):
        with pytest.raises(ValueError, match=rf"linalg\.{name}: The input tensor A must have at"):
            getattr(LA, name)(vec)
    with pytest.raises(TypeError, match="linalg.inv: Expected a floating point tensor"):
        LA.inv(pydlk.tensor(np.eye(2, dtype=np.int64)))
    with pytest.raises(ValueError, match=r"Incompatible shapes of A and B .* \(2x2 and 3x1\)"):
        LA.solve(pydlk.tensor(np.eye(2)), pydlk.tensor(np.ones(3)))
    with pytest.raises(TypeError, match="same dtype"):
        LA.solve(pydlk.tensor(np.eye(2)), pydlk.tensor(np.ones(2, np.float32)))
    with pytest.raises(ValueError, match="unrecognized mode 'x'"):
        LA.qr(rect, mode="x")
    with pytest.raises(ValueError, match="UPLO argument to be 'L' or 'U'"):
        LA.eigh(pydlk.tensor(np.eye(2)), UPLO="X")
    with pytest.raises(ValueError, match="Order 3 not supported"):
        LA.matrix_norm(rect, 3)
    with pytest.raises(ValueError, match="dim must be a 2-tuple"):
        LA.matrix_norm(rect, dim=0)
    with pytest.raises(ValueError, match="input must be 1D or 2D. Got 3D"):
        LA.norm(pydlk.tensor(np.ones((2, 2, 2))), "fro")
    with pytest.raises(TypeError, match="ord must be a number"):
        LA.vector_norm(rect, "fro")
    with pytest.raises(ValueError, match="must have length 3. Got 3 and 4"):
        LA.cross(pydlk.tensor(np.ones((2, 3))), pydlk.tensor(np.ones((2, 4))))
    with pytest.raises(TypeError, match="n must be an int"):
        LA.matrix_power(pydlk.tensor(np.eye(2)), 1.5)
    with pytest.raises(ValueError, match="at least 2 tensors"):
        LA.multi_dot([rect])
    with pytest.raises(ValueError, match="driver"):
        LA.lstsq(rect, rect, driver="gelsx")
    with pytest.raises(ValueError, match="prod"):
        LA.tensorinv(pydlk.tensor(np.ones((2, 3))), ind=1)


def test_gpu_tensors_match_the_cpu():
    # CuPy's linalg on the GPU (or the host emulation of tools/cupy_host_emulator.py): values
    # and gradients equal the CPU's, and the results stay on the device
    from _gpu_helpers import cupy_or_skip, host

    cupy_or_skip()
    a, s = _gen((2, 4, 4)), _spd((2, 4, 4))
    b = rng.standard_normal((2, 4, 2))
    ops = [
        (LA.inv, [a]),
        (LA.det, [a]),
        (lambda x: LA.slogdet(x)[1], [a]),
        (LA.solve, [a, b]),
        (LA.cholesky, [s]),
        (lambda x: LA.qr(x)[1], [a]),
        (lambda x: LA.eigh(x)[0], [s]),
        (LA.svdvals, [a]),
        (LA.pinv, [b]),
        (LA.matrix_exp, [a * 0.3]),
        (lambda x: LA.matrix_norm(x, "nuc"), [a]),
        (lambda x: LA.lstsq(x, x[..., :2]).solution, [b]),
    ]
    for fn, arrays in ops:
        results = []
        for dev in ("cpu", "cuda"):
            xs = [pydlk.tensor(x, requires_grad=True, device=dev) for x in arrays]
            y = fn(*xs)
            assert y.device.type == dev
            y.sum().backward()
            results.append([host(y)] + [host(x.grad) for x in xs])
        for c, g in zip(*results):
            np.testing.assert_allclose(g, c, rtol=1e-9, atol=1e-10)
    with pytest.raises(LA.LinAlgError):
        LA.inv(pydlk.tensor(np.zeros((3, 3)), device="cuda"))
    with pytest.raises(LA.LinAlgError):
        LA.cholesky(pydlk.tensor(-np.eye(3), device="cuda"))
