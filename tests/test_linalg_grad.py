"""Gradients of pydlk.linalg against torch 2.13's on the same float64 data (first derivatives
of <W, f(A)> for a random W, batched and not), against central differences (pydlk.gradcheck),
and second derivatives (torch's, and pydlk.gradgradcheck) where pydlk has a double backward.

For eigh and svd only gauge-invariant losses are compared (eigenvalues, |vector entries|,
U diag(S) Vh): the vectors' signs are LAPACK's and may differ between the two libraries."""

import numpy as np
import pytest
from _second_order import check_second

import pydlk
import pydlk.linalg as LA

torch = pytest.importorskip("torch")
TLA = torch.linalg

rng = np.random.default_rng(7)


def _gen(*shape):
    """A well-conditioned general matrix (batch): Gaussian plus n I."""
    n = shape[-1]
    return rng.standard_normal(shape) + n * np.eye(n)


def _spd(*shape):
    """A symmetric positive-definite matrix (batch): X X^T + n I."""
    x = rng.standard_normal(shape)
    return x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])


def _grads(T, fn, arrays, w):
    xs = [T.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    outs = out if isinstance(out, tuple) else (out,)
    loss = None
    for o, wi in zip(outs, w):
        if wi is None:
            continue
        term = (o * T.tensor(wi)).sum()
        loss = term if loss is None else loss + term
    gs = T.autograd.grad(loss, xs)
    return [np.asarray(g.detach()) for g in gs]


def _same_grads(pfn, tfn, arrays, rtol=1e-8, atol=1e-10, weights=None):
    """pfn's gradients of <W, outputs> equal tfn's; W random (None: that output unused)."""
    touts = tfn(*[torch.tensor(a) for a in arrays])
    touts = touts if isinstance(touts, tuple) else (touts,)
    w = weights or [rng.standard_normal(tuple(o.shape)) for o in touts]
    for a, b in zip(_grads(pydlk, pfn, arrays, w), _grads(torch, tfn, arrays, w)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def _gradcheck(fn, *arrays):
    xs = [pydlk.tensor(a, requires_grad=True) for a in arrays]
    assert pydlk.gradcheck(fn, xs)


BATCHES = [(), (2,), (2, 3)]


@pytest.mark.parametrize("batch", BATCHES)
def test_inverse_and_determinants(batch):
    a = _gen(*batch, 4, 4)
    _same_grads(LA.inv, TLA.inv, [a])
    _same_grads(LA.det, TLA.det, [a])
    _same_grads(lambda x: LA.slogdet(x).logabsdet, lambda x: TLA.slogdet(x).logabsdet, [a])
    spd = _spd(*batch, 4, 4)
    _same_grads(pydlk.logdet, torch.logdet, [spd])
    _gradcheck(LA.inv, a)
    _gradcheck(LA.det, a)
    _gradcheck(lambda x: LA.slogdet(x)[1], a)


def _cofactors(a):
    """The cofactor matrix by minors (the textbook definition): d det / dA."""
    n = a.shape[0]
    c = np.empty_like(a)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(a, i, 0), j, 1)
            c[i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return c


def test_det_gradient_at_a_singular_matrix_is_the_cofactor_matrix():
    # rank n-1: det is 0 but its gradient (the cofactors) is not. pydlk takes them from the
    # SVD, as torch's create_graph path does (torch's first-order path gives 0 where its LU
    # finds an exactly zero pivot)
    a = _gen(4, 4)
    a[:, 3] = 0.0
    b = np.stack([a, _gen(4, 4)])
    x = pydlk.tensor(b, requires_grad=True)
    LA.det(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy()[0], _cofactors(a), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(x.grad.numpy()[1], _cofactors(b[1]), rtol=1e-9, atol=1e-9)
    t = torch.tensor(b, requires_grad=True)
    (tg,) = torch.autograd.grad(TLA.det(t).sum(), t, create_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), tg.detach().numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("left", [True, False])
def test_solve(batch, left):
    a, b = _gen(*batch, 4, 4), rng.standard_normal(batch + (4, 3))
    if not left:
        b = rng.standard_normal(batch + (3, 4))
    _same_grads(
        lambda x, y: LA.solve(x, y, left=left), lambda x, y: TLA.solve(x, y, left=left), [a, b]
    )
    _gradcheck(lambda x, y: LA.solve(x, y, left=left), a, b)


def test_solve_vector_and_broadcast_batches():
    a, v = _gen(2, 4, 4), rng.standard_normal((2, 4))
    _same_grads(LA.solve, TLA.solve, [a, v])
    _same_grads(LA.solve, TLA.solve, [_gen(4, 4), rng.standard_normal(4)])
    a1, b3 = _gen(1, 4, 4), rng.standard_normal((3, 4, 2))
    _same_grads(LA.solve, TLA.solve, [a1, b3])
    _gradcheck(LA.solve, a1, b3)


def test_solve_triangular_reads_one_triangle():
    a, b = _gen(4, 4), rng.standard_normal((4, 2))
    for upper in (True, False):
        for uni in (True, False):
            _same_grads(
                lambda x, y: LA.solve_triangular(x, y, upper=upper, unitriangular=uni),
                lambda x, y: TLA.solve_triangular(x, y, upper=upper, unitriangular=uni),
                [a, b],
            )


@pytest.mark.parametrize("batch", BATCHES)
def test_cholesky(batch):
    # the loss reads the factor of the symmetrised input, as torch's own gradcheck does
    x = _spd(*batch, 4, 4)
    _same_grads(LA.cholesky, TLA.cholesky, [x])
    _same_grads(lambda t: LA.cholesky(t, upper=True), lambda t: TLA.cholesky(t, upper=True), [x])
    _gradcheck(lambda t: LA.cholesky((t + t.mT) / 2), x)


def test_cholesky_solve_and_inverse_gradients():
    L = np.linalg.cholesky(_spd(4, 4))
    b = rng.standard_normal((4, 2))
    _same_grads(pydlk.cholesky_solve, torch.cholesky_solve, [b, L])
    _same_grads(
        lambda x, y: pydlk.cholesky_solve(x, y, upper=True),
        lambda x, y: torch.cholesky_solve(x, y, upper=True),
        [b, L.T.copy()],
    )
    _same_grads(pydlk.cholesky_inverse, torch.cholesky_inverse, [L])


@pytest.mark.parametrize("shape", [(5, 3), (3, 3), (3, 5), (2, 5, 3), (2, 3, 5)])
def test_qr_reduced(shape):
    a = rng.standard_normal(shape)
    _same_grads(LA.qr, TLA.qr, [a])
    _gradcheck(lambda x: LA.qr(x).Q, a)
    _gradcheck(lambda x: LA.qr(x).R, a)


def test_qr_complete_square_and_wide_and_its_refusals():
    for shape in [(3, 3), (3, 5)]:
        _same_grads(
            lambda x: LA.qr(x, mode="complete"),
            lambda x: TLA.qr(x, mode="complete"),
            [rng.standard_normal(shape)],
        )
    x = pydlk.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    q, r = LA.qr(x, mode="complete")
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete'"):
        (q.sum() + r.sum()).backward()
    q, r = LA.qr(x, mode="r")
    with pytest.raises(RuntimeError, match="depends on Q, which is not computed"):
        r.sum().backward()


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_gauge_invariant_losses(batch, uplo):
    a = rng.standard_normal(batch + (4, 4))  # not symmetric: only the UPLO triangle is read
    wv = rng.standard_normal(batch + (4,))
    wV = rng.standard_normal(batch + (4, 4))

    def p(x):
        w, v = LA.eigh(x, UPLO=uplo)
        return (w * pydlk.tensor(wv)).sum() + (v.abs() * pydlk.tensor(wV)).sum()

    def t(x):
        w, v = TLA.eigh(x, UPLO=uplo)
        return (w * torch.tensor(wv)).sum() + (v.abs() * torch.tensor(wV)).sum()

    _same_grads(p, t, [a], weights=[np.ones(())])
    _same_grads(lambda x: LA.eigvalsh(x, UPLO=uplo), lambda x: TLA.eigvalsh(x, UPLO=uplo), [a])
    _gradcheck(lambda x: p((x + x.mT) / 2), a)


def test_eigvalsh_gradient_is_finite_for_repeated_eigenvalues():
    q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    a = q @ np.diag([1.0, 1.0, 2.0, 3.0]) @ q.T
    # equal weights on the repeated pair: the loss is then a function of A
    _same_grads(LA.eigvalsh, TLA.eigvalsh, [a], weights=[np.array([0.5, 0.5, 2.0, -1.0])])
    x = pydlk.tensor(a, requires_grad=True)
    LA.eigvalsh(x).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("shape", [(5, 3), (3, 3), (3, 5), (2, 5, 3), (2, 3, 4)])
@pytest.mark.parametrize("full", [False, True])
def test_svd_gauge_invariant_losses(shape, full):
    a = rng.standard_normal(shape)
    k = min(shape[-2:])
    wU = rng.standard_normal(shape[:-1] + (k,))
    wVh = rng.standard_normal(shape[:-2] + (k, shape[-1]))

    def loss(lib, m):
        T = pydlk if lib is LA else torch
        U, S, Vh = lib.svd(m, full_matrices=full)
        U, Vh = U[..., :, :k], Vh[..., :k, :]
        rec = (U * S.unsqueeze(-2)) @ Vh
        return (rec * rec).sum() + (U.abs() * T.tensor(wU)).sum() + (Vh.abs() * T.tensor(wVh)).sum()

    _same_grads(lambda x: loss(LA, x), lambda x: loss(TLA, x), [a], weights=[np.ones(())])
    _same_grads(LA.svdvals, TLA.svdvals, [a])
    _gradcheck(lambda x: loss(LA, x), a)


def test_svd_old_api_and_pinv():
    a = rng.standard_normal((5, 3))
    _same_grads(
        lambda x: pydlk.svd(x)[1].sum() + (pydlk.svd(x)[2].abs()).sum(),
        lambda x: torch.svd(x)[1].sum() + (torch.svd(x)[2].abs()).sum(),
        [a],
        weights=[np.ones(())],
    )
    for shape in [(5, 3), (3, 5), (2, 4, 4)]:
        b = rng.standard_normal(shape)
        _same_grads(LA.pinv, TLA.pinv, [b])
        _gradcheck(LA.pinv, b)
    s = _spd(4, 4)
    _same_grads(lambda x: LA.pinv(x, hermitian=True), lambda x: TLA.pinv(x, hermitian=True), [s])


@pytest.mark.parametrize("batch", BATCHES)
def test_matrix_exp_and_power(batch):
    a = rng.standard_normal(batch + (4, 4)) * 0.7
    _same_grads(LA.matrix_exp, TLA.matrix_exp, [a])
    _gradcheck(LA.matrix_exp, a)
    big = rng.standard_normal(batch + (3, 3)) * 4  # scaled and squared several times
    _same_grads(LA.matrix_exp, TLA.matrix_exp, [big], rtol=1e-7)
    g = _gen(*batch, 3, 3)
    for n in (0, 1, 3, -2):
        _same_grads(lambda x: LA.matrix_power(x, n), lambda x: TLA.matrix_power(x, n), [g])


def test_lstsq_gradients():
    a, b = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    _same_grads(lambda x, y: LA.lstsq(x, y).solution, lambda x, y: TLA.lstsq(x, y).solution, [a, b])
    a2, b2 = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 3, 2))
    _same_grads(lambda x, y: LA.lstsq(x, y)[0], lambda x, y: TLA.lstsq(x, y)[0], [a2, b2])
    _same_grads(
        lambda x, y: LA.lstsq(x, y, driver="gelsd").residuals,
        lambda x, y: TLA.lstsq(x, y, driver="gelsd").residuals,
        [a, b],
    )
    _gradcheck(lambda x, y: LA.lstsq(x, y).solution, a, b)


@pytest.mark.parametrize(
    "ord,dim",
    [(None, None), (2, None), (1, 0), (np.inf, 1), (-np.inf, (0, 1)), (3.5, -1), (0.5, None)],
)
def test_vector_norms(ord, dim):
    x = rng.standard_normal((3, 4))
    kw = {} if ord is None else {"ord": ord}
    _same_grads(
        lambda t: LA.vector_norm(t, dim=dim, **kw), lambda t: TLA.vector_norm(t, dim=dim, **kw), [x]
    )
    _gradcheck(lambda t: LA.vector_norm(t, dim=dim, **kw), x)


@pytest.mark.parametrize("ord", ["fro", "nuc", np.inf, -np.inf, 1, -1, 2, -2])
def test_matrix_norms(ord):
    x = rng.standard_normal((2, 3, 4))
    _same_grads(lambda t: LA.matrix_norm(t, ord), lambda t: TLA.matrix_norm(t, ord), [x])
    _same_grads(
        lambda t: LA.matrix_norm(t, ord, dim=(0, 2), keepdim=True),
        lambda t: TLA.matrix_norm(t, ord, dim=(0, 2), keepdim=True),
        [x],
    )
    _same_grads(lambda t: LA.norm(t[0], ord), lambda t: TLA.norm(t[0], ord), [x])
    _gradcheck(lambda t: LA.matrix_norm(t, ord), x)


@pytest.mark.filterwarnings("ignore:Using torch.cross without specifying the dim")
def test_cond_cross_vecdot_multi_dot_and_tensor_ops():
    a = _gen(2, 3, 3)
    for p in (None, 2, -2):
        _same_grads(lambda x: LA.cond(x, p), lambda x: TLA.cond(x, p), [a])
    for p in ("fro", "nuc", np.inf, 1):  # torch's own cond backward trips over inv_ex here
        _same_grads(
            lambda x: LA.cond(x, p),
            lambda x: TLA.matrix_norm(x, p) * TLA.matrix_norm(TLA.inv(x), p),
            [a],
        )
    u, v = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    _same_grads(LA.cross, TLA.cross, [u, v])
    _same_grads(lambda x, y: pydlk.cross(x.mT, y.mT), lambda x, y: torch.cross(x.mT, y.mT), [u, v])
    _same_grads(LA.vecdot, TLA.vecdot, [u, v])
    m1, m2, m3 = (rng.standard_normal(s) for s in [(3,), (3, 4), (4, 2)])
    _same_grads(
        lambda x, y, z: LA.multi_dot([x, y, z]),
        lambda x, y, z: TLA.multi_dot([x, y, z]),
        [m1, m2, m3],
    )
    t = _gen(6, 6).reshape(2, 3, 6)
    _same_grads(LA.tensorinv, TLA.tensorinv, [t], rtol=1e-7)
    bb = rng.standard_normal((2, 3))
    _same_grads(LA.tensorsolve, TLA.tensorsolve, [t, bb])
    _gradcheck(LA.cross, u, v)


# -- second derivatives: against torch (check_second) and central differences


def _check2(pfn, tfn, arrays, **tol):
    check_second(pydlk, torch, pfn, tfn, arrays, rng, **tol)


def test_double_backward_of_inverse_determinants_and_solve():
    a = _gen(2, 3, 3)
    _check2(LA.inv, TLA.inv, [a])
    _check2(LA.det, TLA.det, [a])
    _check2(lambda x: LA.slogdet(x)[1], lambda x: TLA.slogdet(x)[1], [a])
    b = rng.standard_normal((2, 3, 2))
    _check2(LA.solve, TLA.solve, [a, b])
    _check2(LA.solve, TLA.solve, [a[0], b[0, :, 0]])
    x = pydlk.tensor(a, requires_grad=True)
    assert pydlk.gradgradcheck(LA.inv, [x])
    assert pydlk.gradgradcheck(LA.det, [x])
    assert pydlk.gradgradcheck(LA.solve, [x, pydlk.tensor(b, requires_grad=True)])


def test_double_backward_of_cholesky_matrix_exp_and_norms():
    s = _spd(2, 3, 3)
    _check2(LA.cholesky, TLA.cholesky, [s], rtol=1e-8, atol=1e-10)
    e = rng.standard_normal((3, 3)) * 0.5
    _check2(LA.matrix_exp, TLA.matrix_exp, [e], rtol=1e-8, atol=1e-10)
    x = rng.standard_normal((3, 4))
    _check2(lambda t: LA.vector_norm(t, 3.0, dim=1), lambda t: TLA.vector_norm(t, 3.0, dim=1), [x])
    _check2(lambda t: LA.norm(t), lambda t: TLA.norm(t), [x])
    c = pydlk.tensor(s, requires_grad=True)
    assert pydlk.gradgradcheck(lambda t: LA.cholesky((t + t.mT) / 2), [c])
    assert pydlk.gradgradcheck(LA.matrix_exp, [pydlk.tensor(e, requires_grad=True)])
    xt = pydlk.tensor(x, requires_grad=True)
    assert pydlk.gradgradcheck(lambda t: LA.matrix_norm(t, np.inf), [xt])


def test_no_double_backward_says_so():
    x = pydlk.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    for fn in (lambda t: LA.svdvals(t).sum(), lambda t: LA.qr(t).R.sum(), LA.pinv):
        y = fn(x)
        with pytest.raises(RuntimeError, match="double backward is not implemented"):
            pydlk.autograd.grad(y.sum(), x, create_graph=True)


def test_float32_gradients_are_float32_and_close_to_torch():
    a = _gen(2, 4, 4).astype(np.float32)
    for p, t in [(LA.inv, TLA.inv), (LA.det, TLA.det), (LA.matrix_exp, TLA.matrix_exp)]:
        x = pydlk.tensor(a, requires_grad=True)
        p(x).sum().backward()
        tx = torch.tensor(a, requires_grad=True)
        t(tx).sum().backward()
        assert x.grad.dtype == np.float32
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=2e-4, atol=2e-4)
