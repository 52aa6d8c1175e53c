"""norm: batch_norm, layer_norm, group_norm, instance_norm against float64 references written
from the formulas, gradient checks, torch as an oracle, properties, edge cases, bad input."""

import numpy as np
import pydlk._C as C
import pytest
from conftest import t64

import pydlk
import pydlk.functional as F

# ----------------------------------------------------------------------------- references


def stats_ref(v):
    """Mean and biased variance of a flat float64 vector, the textbook way."""
    v = np.asarray(v, np.float64).ravel()
    mu = v.sum() / v.size
    return mu, ((v - mu) ** 2).sum() / v.size


def batch_norm_ref(x, w, b, eps, mean=None, var=None):
    """y[n, c, ...] = (x - mean_c) / sqrt(var_c + eps) * w_c + b_c; batch stats unless given."""
    x = np.asarray(x, np.float64)
    Cn = x.shape[1]
    y = np.empty_like(x)
    for c in range(Cn):
        if mean is None:
            mu, var_c = stats_ref(x[:, c])
        else:
            mu, var_c = float(mean[c]), float(var[c])
        y[:, c] = (x[:, c] - mu) / np.sqrt(var_c + eps)
        y[:, c] = y[:, c] * (1.0 if w is None else float(w[c])) + (
            0.0 if b is None else float(b[c])
        )
    return y


def layer_norm_ref(x, nd, w, b, eps):
    """Each row of the trailing nd dims normalised by its own mean and biased variance."""
    x = np.asarray(x, np.float64)
    lead = x.shape[: x.ndim - nd]
    rows = x.reshape(int(np.prod(lead)), -1)
    y = np.empty_like(rows)
    for i, r in enumerate(rows):
        mu, var = stats_ref(r)
        y[i] = (r - mu) / np.sqrt(var + eps)
    y = y.reshape(x.shape)
    if w is not None:
        y = y * np.asarray(w, np.float64)
    if b is not None:
        y = y + np.asarray(b, np.float64)
    return y


def group_norm_ref(x, G, w, b, eps):
    """Each (n, group of C/G channels) normalised over its channels and positions."""
    x = np.asarray(x, np.float64)
    N, Cn = x.shape[:2]
    y = np.empty_like(x)
    k = Cn // G
    for n in range(N):
        for g in range(G):
            blk = x[n, g * k : (g + 1) * k]
            mu, var = stats_ref(blk)
            y[n, g * k : (g + 1) * k] = (blk - mu) / np.sqrt(var + eps)
    for c in range(Cn):
        y[:, c] = y[:, c] * (1.0 if w is None else float(w[c])) + (
            0.0 if b is None else float(b[c])
        )
    return y


def rand(rng, shape, dtype=np.float32, loc=0.0, scale=1.0):
    return (loc + scale * rng.standard_normal(shape)).astype(dtype)


SHAPES = [(6, 3), (5, 5, 7), (3, 17, 4, 5), (1, 3, 9), (2, 1, 3, 3)]

# ----------------------------------------------------------------------------- batch norm


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training_matches_reference(rng, shape, affine):
    x = rand(rng, shape, loc=3.0, scale=2.0)
    Cn = shape[1]
    w = rand(rng, Cn) if affine else None
    b = rand(rng, Cn) if affine else None
    y = F.batch_norm(x, None, None, w, b, training=True, eps=1e-5)
    assert y.dtype == np.float32 and y.shape == shape
    np.testing.assert_allclose(np.asarray(y), batch_norm_ref(x, w, b, 1e-5), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_eval_uses_running_stats(rng, shape):
    x = rand(rng, shape)
    Cn = shape[1]
    rm, rv = rand(rng, Cn), (rng.random(Cn) + 0.5).astype(np.float32)
    w, b = rand(rng, Cn), rand(rng, Cn)
    rm0, rv0 = rm.copy(), rv.copy()
    y = F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-3)
    np.testing.assert_allclose(
        np.asarray(y), batch_norm_ref(x, w, b, 1e-3, rm, rv), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_array_equal(rm, rm0)  # eval leaves the buffers alone
    np.testing.assert_array_equal(rv, rv0)


@pytest.mark.parametrize("shape", [(8, 3), (4, 5, 6), (2, 3, 4, 4)])
def test_running_stats_after_k_steps_follow_the_formula(rng, shape):
    Cn, m = shape[1], 0.3
    rm, rv = np.zeros(Cn, np.float64), np.ones(Cn, np.float64)
    em, ev = rm.copy(), rv.copy()
    M = shape[0] * int(np.prod(shape[2:]))
    for _ in range(4):
        x = rand(rng, shape, np.float64, loc=1.5, scale=3.0)
        F.batch_norm(x, rm, rv, training=True, momentum=m)
        for c in range(Cn):
            mu, var = stats_ref(x[:, c])
            em[c] = (1 - m) * em[c] + m * mu
            ev[c] = (1 - m) * ev[c] + m * var * M / (M - 1)  # unbiased
    np.testing.assert_allclose(rm, em, rtol=1e-12)
    np.testing.assert_allclose(rv, ev, rtol=1e-12)


def test_batch_norm_training_output_has_zero_mean_unit_variance(rng):
    x = rand(rng, (7, 5, 6, 3), np.float64, loc=-4.0, scale=5.0)
    y = np.asarray(F.batch_norm(x, None, None, training=True, eps=0.0))
    for c in range(5):
        mu, var = stats_ref(y[:, c])
        assert abs(mu) < 1e-12 and abs(var - 1) < 1e-10


def test_batch_norm_large_mean_is_accurate(rng):
    # mean >> std: a one-pass E[x^2] - E[x]^2 in float would lose everything here.
    x = (1e4 + rng.standard_normal((64, 3, 10))).astype(np.float32)
    y = np.asarray(F.batch_norm(x, None, None, training=True))
    np.testing.assert_allclose(y, batch_norm_ref(x, None, None, 1e-5), rtol=0, atol=5e-3)


def test_running_buffers_as_tensors_are_updated_and_stay_out_of_the_graph(rng):
    x = pydlk.tensor(rand(rng, (6, 4, 5)), requires_grad=True)
    rm, rv = pydlk.tensor(np.zeros(4, np.float32)), pydlk.tensor(np.ones(4, np.float32))
    before = np.asarray(rm)
    y = F.batch_norm(x, rm, rv, training=True)
    y.sum().backward()
    assert np.asarray(rm) is before and np.any(np.asarray(rm) != 0)
    assert not rm.requires_grad and rm.grad is None and rv.grad is None


def test_noncontiguous_running_buffers_are_written_back(rng):
    x = rand(rng, (6, 3, 4), np.float64)
    store = np.zeros((3, 2))
    rm, rv = store[:, 0], np.ones(6)[::2]  # strided views
    F.batch_norm(x, rm, rv, training=True, momentum=1.0)
    for c in range(3):
        mu, var = stats_ref(x[:, c])
        assert store[c, 0] == pytest.approx(mu, rel=1e-12)
        assert rv[c] == pytest.approx(var * 24 / 23, rel=1e-12)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4), (2, 3, 2, 3)])
def test_batch_norm_gradcheck(rng, training, shape):
    Cn = shape[1]
    x, w, b = (
        t64(rng.standard_normal(shape)),
        t64(rng.standard_normal(Cn)),
        t64(rng.standard_normal(Cn)),
    )
    rm, rv = rng.standard_normal(Cn), rng.random(Cn) + 0.5

    def f(x, w, b):  # fresh buffer copies: gradcheck calls f many times
        return F.batch_norm(x, rm.copy(), rv.copy(), w, b, training=training)

    assert pydlk.gradcheck(f, (x, w, b))
    assert pydlk.gradcheck(lambda x: F.batch_norm(x, rm.copy(), rv.copy(), training=training), (x,))


def test_batch_norm_closed_form_backward(rng):
    # dx = (w rstd / M) (M dy - sum dy - xhat sum(dy xhat)), dw = sum(dy xhat), db = sum(dy)
    x, dy = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 3, 5))
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    tx, tw, tb = t64(x), t64(w), t64(b)
    F.batch_norm(tx, None, None, tw, tb, training=True).backward(dy)
    for c in range(3):
        v, g = x[:, c], dy[:, c]
        mu, var = stats_ref(v)
        rstd = 1 / np.sqrt(var + 1e-5)
        xh, M = (v - mu) * rstd, v.size
        dx = w[c] * rstd / M * (M * g - g.sum() - xh * (g * xh).sum())
        np.testing.assert_allclose(tx.grad[:, c], dx, rtol=1e-10, atol=1e-12)
        assert np.asarray(tw.grad)[c] == pytest.approx((g * xh).sum(), rel=1e-10)
        assert np.asarray(tb.grad)[c] == pytest.approx(g.sum(), rel=1e-10)


# ----------------------------------------------------------------------------- layer norm


@pytest.mark.parametrize(
    "shape,nd", [((5, 7), 1), ((2, 3, 17), 1), ((3, 4, 5), 2), ((1, 1), 1), ((4, 33), 1)]
)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_reference(rng, shape, nd, affine):
    x = rand(rng, shape, loc=2.0, scale=3.0)
    ns = shape[len(shape) - nd :]
    w = rand(rng, ns) if affine else None
    b = rand(rng, ns) if affine else None
    y = F.layer_norm(x, ns, w, b)
    assert y.shape == shape and y.dtype == np.float32
    np.testing.assert_allclose(
        np.asarray(y), layer_norm_ref(x, nd, w, b, 1e-5), rtol=1e-4, atol=1e-4
    )


def test_layer_norm_rows_have_zero_mean_unit_variance(rng):
    x = rand(rng, (9, 31), np.float64, loc=7.0, scale=0.1)
    y = np.asarray(F.layer_norm(x, 31, np.ones(31), np.zeros(31), eps=0.0))
    np.testing.assert_allclose(y.mean(1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(1), 1, atol=1e-10)


@pytest.mark.parametrize("shape,nd", [((3, 5), 1), ((2, 2, 3), 2)])
def test_layer_norm_gradcheck(rng, shape, nd):
    ns = shape[len(shape) - nd :]
    x, w, b = (
        t64(rng.standard_normal(shape)),
        t64(rng.standard_normal(ns)),
        t64(rng.standard_normal(ns)),
    )
    assert pydlk.gradcheck(lambda x, w, b: F.layer_norm(x, ns, w, b), (x, w, b))
    assert pydlk.gradcheck(lambda x: F.layer_norm(x, ns), (x,))
    assert pydlk.gradcheck(lambda x, b: F.layer_norm(x, ns, None, b), (x, b))


# ----------------------------------------------------------------------------- group / instance


@pytest.mark.parametrize(
    "shape,G",
    [
        ((2, 6, 5), 3),
        ((3, 4, 2, 3), 2),
        ((2, 5, 7), 5),
        ((1, 6, 3, 3), 1),
        ((4, 6), 2),
        ((2, 17, 3), 17),
    ],
)
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_matches_reference(rng, shape, G, affine):
    x = rand(rng, shape, loc=-1.0, scale=2.0)
    w = rand(rng, shape[1]) if affine else None
    b = rand(rng, shape[1]) if affine else None
    y = F.group_norm(x, G, w, b)
    np.testing.assert_allclose(
        np.asarray(y), group_norm_ref(x, G, w, b, 1e-5), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("shape", [(2, 3, 5), (3, 5, 2, 3)])
def test_instance_norm_matches_reference_and_updates_running_stats(rng, shape):
    x = rand(rng, shape, np.float64, loc=1.0, scale=2.0)
    N, Cn = shape[:2]
    S = int(np.prod(shape[2:]))
    w, b = rand(rng, Cn, np.float64), rand(rng, Cn, np.float64)
    rm, rv = np.zeros(Cn), np.ones(Cn)
    y = F.instance_norm(x, rm, rv, w, b, momentum=0.2)
    np.testing.assert_allclose(
        np.asarray(y), group_norm_ref(x, Cn, w, b, 1e-5), rtol=1e-10, atol=1e-12
    )
    for c in range(Cn):
        st = [stats_ref(x[n, c]) for n in range(N)]
        mu = np.mean([s[0] for s in st])
        var = np.mean([s[1] * S / (S - 1) for s in st])
        assert rm[c] == pytest.approx(0.2 * mu, rel=1e-12)
        assert rv[c] == pytest.approx(0.8 + 0.2 * var, rel=1e-12)
    # use_input_stats=False normalises with the running stats, like batch norm in eval mode
    y2 = F.instance_norm(x, rm, rv, w, b, use_input_stats=False)
    np.testing.assert_allclose(np.asarray(y2), batch_norm_ref(x, w, b, 1e-5, rm, rv), rtol=1e-12)


@pytest.mark.parametrize("shape,G", [((2, 4, 3), 2), ((2, 3, 2, 2), 3), ((3, 4), 2)])
def test_group_norm_gradcheck(rng, shape, G):
    Cn = shape[1]
    x, w, b = (
        t64(rng.standard_normal(shape)),
        t64(rng.standard_normal(Cn)),
        t64(rng.standard_normal(Cn)),
    )
    assert pydlk.gradcheck(lambda x, w, b: F.group_norm(x, G, w, b), (x, w, b))
    assert pydlk.gradcheck(lambda x: F.group_norm(x, G), (x,))


@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm_gradcheck(rng, use_input_stats):
    x, w, b = (
        t64(rng.standard_normal((2, 3, 4))),
        t64(rng.standard_normal(3)),
        t64(rng.standard_normal(3)),
    )
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5

    def f(x, w, b):
        return F.instance_norm(x, rm.copy(), rv.copy(), w, b, use_input_stats=use_input_stats)

    assert pydlk.gradcheck(f, (x, w, b))


# ----------------------------------------------------------------------------- torch oracle


def _torch_pair(torch, arrays):
    return (
        [torch.tensor(a, requires_grad=True) if a is not None else None for a in arrays],
        [pydlk.tensor(a, requires_grad=True) if a is not None else None for a in arrays],
    )


def _compare(torch, ty, py, tins, pins, dy, tol=1e-4):
    ty.backward(torch.tensor(dy))
    py.backward(dy)
    np.testing.assert_allclose(np.asarray(py), ty.detach().numpy(), rtol=tol, atol=tol)
    for p, t in zip(pins, tins):
        if p is not None:
            np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("shape", [(8, 3), (40, 7), (4, 5, 9), (3, 17, 5, 6), (2, 5, 1, 1)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch(rng, shape, training):
    torch = pytest.importorskip("torch")
    Cn = shape[1]
    x, w, b, dy = rand(rng, shape, loc=1.0), rand(rng, Cn), rand(rng, Cn), rand(rng, shape)
    rm, rv = rand(rng, Cn), (rng.random(Cn) + 0.5).astype(np.float32)
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    (tx, tw, tb), (px, pw, pb) = _torch_pair(torch, (x, w, b))
    ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training, 0.3, 1e-4)
    py = F.batch_norm(px, rm, rv, pw, pb, training, 0.3, 1e-4)
    _compare(torch, ty, py, (tx, tw, tb), (px, pw, pb), dy)
    np.testing.assert_allclose(rm, trm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv, trv.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "shape,ns",
    [((6, 17), (17,)), ((2, 5, 3, 4), (3, 4)), ((3, 4, 1024), (1024,)), ((37, 50), (50,))],
)
def test_layer_norm_matches_torch(rng, shape, ns):
    torch = pytest.importorskip("torch")
    x, w, b, dy = rand(rng, shape, loc=2.0), rand(rng, ns), rand(rng, ns), rand(rng, shape)
    (tx, tw, tb), (px, pw, pb) = _torch_pair(torch, (x, w, b))
    ty = torch.nn.functional.layer_norm(tx, ns, tw, tb)
    py = F.layer_norm(px, ns, pw, pb)
    _compare(torch, ty, py, (tx, tw, tb), (px, pw, pb), dy)


@pytest.mark.parametrize(
    "shape,G", [((4, 6), 3), ((3, 15, 7), 5), ((2, 8, 5, 3), 4), ((2, 17, 2, 2), 17)]
)
def test_group_norm_matches_torch(rng, shape, G):
    torch = pytest.importorskip("torch")
    Cn = shape[1]
    x, w, b, dy = rand(rng, shape), rand(rng, Cn), rand(rng, Cn), rand(rng, shape)
    (tx, tw, tb), (px, pw, pb) = _torch_pair(torch, (x, w, b))
    ty = torch.nn.functional.group_norm(tx, G, tw, tb)
    py = F.group_norm(px, G, pw, pb)
    _compare(torch, ty, py, (tx, tw, tb), (px, pw, pb), dy)


@pytest.mark.parametrize("shape", [(3, 5, 7), (2, 17, 4, 3)])
@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm_matches_torch(rng, shape, use_input_stats):
    torch = pytest.importorskip("torch")
    Cn = shape[1]
    x, w, b, dy = rand(rng, shape, loc=0.5), rand(rng, Cn), rand(rng, Cn), rand(rng, shape)
    rm, rv = rand(rng, Cn), (rng.random(Cn) + 0.5).astype(np.float32)
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    (tx, tw, tb), (px, pw, pb) = _torch_pair(torch, (x, w, b))
    ty = torch.nn.functional.instance_norm(tx, trm, trv, tw, tb, use_input_stats, 0.2, 1e-5)
    py = F.instance_norm(px, rm, rv, pw, pb, use_input_stats, 0.2, 1e-5)
    _compare(torch, ty, py, (tx, tw, tb), (px, pw, pb), dy)
    np.testing.assert_allclose(rm, trm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv, trv.numpy(), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- edge cases


def test_zero_size_batch(rng):
    for op, args in [(F.batch_norm, None), (F.group_norm, 2), (F.instance_norm, None)]:
        x = pydlk.tensor(np.zeros((0, 4, 5), np.float32), requires_grad=True)
        w = pydlk.tensor(np.ones(4, np.float32), requires_grad=True)
        b = pydlk.tensor(np.ones(4, np.float32), requires_grad=True)
        rm, rv = np.full(4, 0.5, np.float32), np.full(4, 2.0, np.float32)
        if op is F.batch_norm:
            y = op(x, rm, rv, w, b, training=True)
        elif op is F.group_norm:
            y = op(x, args, w, b)
        else:
            y = op(x, rm, rv, w, b)
        assert y.shape == (0, 4, 5)
        y.sum().backward()
        assert x.grad.shape == (0, 4, 5)
        np.testing.assert_array_equal(w.grad, 0)
        np.testing.assert_array_equal(b.grad, 0)
        np.testing.assert_array_equal(rm, 0.5)  # nothing seen, nothing updated (as torch)
        np.testing.assert_array_equal(rv, 2.0)
    x = pydlk.tensor(np.zeros((0, 3, 6), np.float32), requires_grad=True)
    y = F.layer_norm(x, (6,), np.ones(6, np.float32))
    y.sum().backward()
    assert y.shape == x.grad.shape == (0, 3, 6)


def test_float64_and_noncontiguous_inputs(rng):
    base = rng.standard_normal((5, 4, 6))
    x = base.transpose(0, 2, 1)  # (5, 6, 4), not C-contiguous
    w = rng.standard_normal((6, 2))[:, 0]  # strided
    y = F.batch_norm(x, None, None, w, None, training=True)
    assert y.dtype == np.float64
    np.testing.assert_allclose(np.asarray(y), batch_norm_ref(x, w, None, 1e-5), rtol=1e-12)
    np.testing.assert_allclose(
        np.asarray(F.group_norm(x, 3, w)), group_norm_ref(x, 3, w, None, 1e-5), rtol=1e-12
    )
    np.testing.assert_allclose(
        np.asarray(F.layer_norm(x, 4)), layer_norm_ref(x, 1, None, None, 1e-5), rtol=1e-12
    )
    np.testing.assert_allclose(
        np.asarray(F.instance_norm(x)), group_norm_ref(x, 6, None, None, 1e-5), rtol=1e-12
    )


def test_nan_stays_in_its_channel(rng):
    x = rand(rng, (4, 3, 5))
    x[1, 1, 2] = np.nan
    y = np.asarray(F.batch_norm(x, None, None, training=True))
    assert np.all(np.isnan(y[:, 1])) and np.all(np.isfinite(y[:, [0, 2]]))
    y = np.asarray(F.layer_norm(x, 5))
    assert np.all(np.isnan(y[1, 1])) and np.isfinite(y).sum() == y.size - 5


def test_preallocated_outputs_are_used(rng):
    x, dy = rand(rng, (4, 3, 8)), rand(rng, (4, 3, 8))
    out, m, r = np.empty_like(x), np.empty(3, np.float32), np.empty(3, np.float32)
    y, m2, r2 = C.batchnorm_forward(x, None, None, None, None, True, 0.1, 1e-5, out, m, r)
    assert y is out and m2 is m and r2 is r
    gx = np.empty_like(x)
    dx, dw, db = C.batchnorm_backward(dy, x, None, m, r, True, True, False, True, grad_input=gx)
    assert dx is gx and dw is None and db.shape == (3,)
    y, mean, rstd = C.layernorm_forward(x.reshape(12, 8), out=out.reshape(12, 8))
    assert np.shares_memory(y, out)
    with pytest.raises(ValueError, match="out must have shape"):
        C.groupnorm_forward(x, 3, out=np.empty((4, 3, 7), np.float32))


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_name_the_argument(rng):
    x = rand(rng, (4, 3, 5))
    f3, f4 = np.ones(3, np.float32), np.ones(4, np.float32)
    with pytest.raises(ValueError, match="batch_norm: input must be at least 2-D"):
        F.batch_norm(np.ones(3, np.float32), None, None, training=True)
    with pytest.raises(ValueError, match="batch_norm: weight must have shape"):
        F.batch_norm(x, None, None, f4, training=True)
    with pytest.raises(ValueError, match="running_var must have shape"):
        F.batch_norm(x, f3.copy(), f4.copy(), training=True)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        F.batch_norm(rand(rng, (1, 3)), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean and running_var must be given"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(TypeError, match="momentum"):
        F.batch_norm(x, f3.copy(), f3.copy(), training=True, momentum=None)
    with pytest.raises(TypeError, match="batch_norm: input must be float32 or float64, got int64"):
        F.batch_norm(np.ones((4, 3), np.int64), None, None, training=True)
    with pytest.raises(TypeError, match="running_mean must have the same dtype"):
        F.batch_norm(x, np.zeros(3), np.ones(3), training=True)
    with pytest.raises(TypeError, match="bias must have the same dtype"):
        F.batch_norm(x, None, None, f3, np.zeros(3), training=True)
    with pytest.raises(ValueError, match="eps must be"):
        F.batch_norm(x, None, None, training=True, eps=-1.0)
    with pytest.raises(ValueError, match="layer_norm: normalized_shape=\\(4,\\) expects input"):
        F.layer_norm(x, (4,))
    with pytest.raises(ValueError, match="layer_norm: weight must have shape"):
        F.layer_norm(x, (3, 5), np.ones(15, np.float32))
    with pytest.raises(TypeError, match="normalized_shape"):
        F.layer_norm(x, "5")
    with pytest.raises(
        ValueError, match="num_groups=2 must divide the number of channels, input has 3"
    ):
        F.group_norm(x, 2)
    with pytest.raises(ValueError, match="num_groups must be in \\[1, 2\\*\\*31\\), got -1"):
        F.group_norm(x, -1)
    with pytest.raises(TypeError, match="num_groups must be an int"):
        F.group_norm(x, 1.5)
    with pytest.raises(ValueError, match="group_norm: weight must have shape"):
        F.group_norm(x, 3, f4)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        F.group_norm(rand(rng, (1, 2, 1)), 2)
    with pytest.raises(ValueError, match="instance_norm: Expected more than 1 spatial element"):
        F.instance_norm(rand(rng, (2, 3, 1)))
    with pytest.raises(
        ValueError, match="instance_norm: running_mean and running_var must be given"
    ):
        F.instance_norm(x, use_input_stats=False)
    with pytest.raises(ValueError, match="instance_norm: running_mean must have shape"):
        F.instance_norm(x, f4.copy(), f4.copy())
    with pytest.raises(ValueError, match="grad_output must have the input's shape"):
        C.batchnorm_backward(rand(rng, (4, 3, 4)), x, None, f3, f3, True)
    with pytest.raises(TypeError, match="input must be a C-contiguous"):
        C.groupnorm_forward(x.transpose(0, 2, 1), 1)


# ----------------------------------------------------------------------------- threads


def test_one_and_two_threads_agree(rng, threads):
    x4, dy4 = rand(rng, (16, 5, 24, 24)), rand(rng, (16, 5, 24, 24))
    w5 = rand(rng, 5)
    x2, dy2 = rand(rng, (700, 96)), rand(rng, (700, 96))
    w96 = rand(rng, 96)
    xg, dyg = rand(rng, (16, 8, 20, 20)), rand(rng, (16, 8, 20, 20))
    w8 = rand(rng, 8)

    def run():
        out = []
        y, m, r = C.batchnorm_forward(x4, w5, w5, None, None, True)
        out += [y, *C.batchnorm_backward(dy4, x4, w5, m, r, True)]
        y, m, r = C.batchnorm_forward(x2, w96, w96, None, None, True)
        out += [y, *C.batchnorm_backward(dy2, x2, w96, m, r, True)]
        y, m, r = C.layernorm_forward(x2, w96, w96)
        out += [y, *C.layernorm_backward(dy2, x2, w96, m, r)]
        y, m, r = C.groupnorm_forward(xg, 4, w8, w8)
        out += [y, *C.groupnorm_backward(dyg, xg, 4, w8, m, r)]
        return out

    def run_ref():
        # The same list from torch in float64: output, then the input, weight and bias grads.
        torch = pytest.importorskip("torch")
        tF = torch.nn.functional
        out = []
        for x, w, dy, norm in [
            (x4, w5, dy4, lambda t, w, b: tF.batch_norm(t, None, None, w, b, True)),
            (x2, w96, dy2, lambda t, w, b: tF.batch_norm(t, None, None, w, b, True)),
            (x2, w96, dy2, lambda t, w, b: tF.layer_norm(t, (96,), w, b)),
            (xg, w8, dyg, lambda t, w, b: tF.group_norm(t, 4, w, b)),
        ]:
            tx, tw, tb = (
                torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, w)
            )
            y = norm(tx, tw, tb)
            y.backward(torch.tensor(dy, dtype=torch.float64))
            out += [y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()]
        return out

    threads(1)
    one = run()
    threads(2)
    two = run()
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    for a, r in zip(one, run_ref(), strict=True):
        np.testing.assert_allclose(np.ravel(a), np.ravel(r), rtol=1e-4, atol=1e-3)
