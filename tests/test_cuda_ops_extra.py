"""The ops of tests/test_torch_ops_extra.py on GPU tensors, each against the same op on the CPU:
nonzero/argwhere, bincount, unique, cdist, F.normalize, F.kl_div, nn.AdaptiveMaxPool2d,
pad_sequence, the default device and Module.half/bfloat16. Results must stay on the device and
gradients come back there. Real CuPy refuses ``np.asarray`` of its arrays and NumPy operands in
its ops; the host emulation (tools/run_cuda_tests_on_host.py) refuses them too, so these
``test_gpu_*`` tests run here as they would on a GPU, and skip without either."""

import math

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
import pydlk.functional as F
from pydlk import nn
from pydlk.nn.utils.rnn import pad_sequence


def _pair(cp, v, requires_grad=False):
    """The same values as a CPU and a GPU tensor."""
    v = np.asarray(v)
    rg = requires_grad and v.dtype.kind == "f"
    return pydlk.tensor(v, requires_grad=rg), pydlk.tensor(cp.asarray(v), requires_grad=rg)


def _same(g, c, **kw):
    """GPU result g equals CPU result c (values, shape, dtype) and lives on the GPU."""
    assert str(g.device) == "cuda:0", g.device
    assert g.shape == c.shape and g.dtype == c.dtype
    np.testing.assert_allclose(host(g), host(c), **kw)


def _backward_both(yc, yg, cp, seed=0):
    g = np.random.default_rng(seed).standard_normal(yc.shape).astype(yc.dtype)
    yc.backward(pydlk.tensor(g))
    yg.backward(pydlk.tensor(cp.asarray(g)))


def test_gpu_nonzero_and_argwhere_match_the_cpu():
    cp = cupy_or_skip()
    for v in (
        np.array([[1.0, 0, 2], [0, 0, 3]]),
        np.array([True, False, True]),
        np.array(4),
        np.zeros((2, 0)),
    ):
        c, g = _pair(cp, v)
        _same(pydlk.nonzero(g), pydlk.nonzero(c))
        _same(g.argwhere(), c.argwhere())
        for a, b in zip(pydlk.nonzero(g, as_tuple=True), pydlk.nonzero(c, as_tuple=True)):
            _same(a, b)


def test_gpu_bincount_matches_the_cpu_with_weights_and_gradient():
    cp = cupy_or_skip()
    (ic, ig) = _pair(cp, np.array([3, 1, 3, 0, 3]))
    _same(pydlk.bincount(ig), pydlk.bincount(ic))
    _same(ig.bincount(minlength=7), ic.bincount(minlength=7))
    for dt in (np.float32, np.float64, np.int64):
        wc, wg = _pair(cp, np.linspace(-1, 1, 5).astype(dt), requires_grad=True)
        yc, yg = pydlk.bincount(ic, wc, minlength=6), pydlk.bincount(ig, wg, minlength=6)
        _same(yg, yc, rtol=1e-6)
        if dt != np.int64:
            _backward_both(yc, yg, cp)
            _same(wg.grad, wc.grad)
    _same(
        pydlk.bincount(_pair(cp, np.zeros(0, np.int64))[1], minlength=3),
        pydlk.bincount(pydlk.zeros(0, dtype=pydlk.int64), minlength=3),
    )
    with pytest.raises(ValueError, match="bincount: input must be non-negative"):
        pydlk.bincount(_pair(cp, np.array([1, -2]))[1])


def test_gpu_unique_matches_the_cpu():
    cp = cupy_or_skip()
    c, g = _pair(cp, np.array([[3.0, 1.0, np.nan], [3.0, 2.0, 1.0]]))
    for a, b in zip(
        pydlk.unique(g, return_inverse=True, return_counts=True),
        pydlk.unique(c, return_inverse=True, return_counts=True),
    ):
        _same(a, b, equal_nan=True)
    rows = np.array([[1, 2, 1], [0, 5, 0], [1, 2, 1], [1, 0, 1]])
    c, g = _pair(cp, rows)
    for dim in (0, 1):
        for a, b in zip(
            g.unique(dim=dim, return_inverse=True, return_counts=True),
            c.unique(dim=dim, return_inverse=True, return_counts=True),
        ):
            _same(a, b)
    _same(
        pydlk.unique(_pair(cp, rows.astype(bool))[1], dim=0),
        pydlk.unique(pydlk.tensor(rows.astype(bool)), dim=0),
    )


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0, 2.0, 3.0, math.inf])
def test_gpu_cdist_matches_the_cpu(p):
    cp = cupy_or_skip()
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 1, 4, 3)), rng.standard_normal((3, 5, 3))
    b[0, 0] = a[0, 0, 0]  # a distance of 0
    (ac, ag), (bc, bg) = _pair(cp, a, True), _pair(cp, b, True)
    yc, yg = pydlk.cdist(ac, bc, p=p), pydlk.cdist(ag, bg, p=p)
    _same(yg, yc, rtol=1e-12, atol=1e-12)
    _backward_both(yc, yg, cp)
    _same(ag.grad, ac.grad, rtol=1e-10, atol=1e-12)
    _same(bg.grad, bc.grad, rtol=1e-10, atol=1e-12)


def test_gpu_cdist_matrix_product_form_float32_and_gradcheck():
    cp = cupy_or_skip()
    rng = np.random.default_rng(2)
    (ac, ag), (bc, bg) = (
        _pair(cp, rng.standard_normal(s).astype(np.float32), True) for s in ((30, 4), (6, 4))
    )
    yc, yg = pydlk.cdist(ac, bc), pydlk.cdist(ag, bg)
    _same(yg, yc, rtol=1e-5, atol=1e-5)
    _backward_both(yc, yg, cp)
    _same(ag.grad, ac.grad, rtol=1e-4, atol=1e-5)
    _same(bg.grad, bc.grad, rtol=1e-4, atol=1e-5)
    u, v = (
        pydlk.tensor(cp.asarray(rng.standard_normal(s)), requires_grad=True)
        for s in ((3, 4), (2, 4))
    )
    assert pydlk.gradcheck(lambda x, y: pydlk.cdist(x, y, p=3.0), (u, v))


def test_gpu_normalize_matches_the_cpu():
    cp = cupy_or_skip()
    a = np.random.default_rng(3).standard_normal((3, 4, 2))
    a[0, :, 1] = 0
    for p, dim in ((2.0, 1), (1.0, -1), (math.inf, (1, 2))):
        c, g = _pair(cp, a, True)
        yc, yg = F.normalize(c, p=p, dim=dim), F.normalize(g, p=p, dim=dim)
        _same(yg, yc, rtol=1e-12, atol=1e-14)
        _backward_both(yc, yg, cp)
        _same(g.grad, c.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["none", "sum", "batchmean"])
def test_gpu_kl_div_matches_the_cpu(reduction, log_target):
    cp = cupy_or_skip()
    rng = np.random.default_rng(4)
    x = np.log(rng.dirichlet(np.ones(4), 3))
    t = rng.dirichlet(np.ones(4), 3)
    t[0, 1] = 0.0
    if log_target:
        t = np.log(rng.dirichlet(np.ones(4), 3))
    (xc, xg), (tc, tg) = _pair(cp, x, True), _pair(cp, t, True)
    yc = F.kl_div(xc, tc, reduction=reduction, log_target=log_target)
    yg = F.kl_div(xg, tg, reduction=reduction, log_target=log_target)
    _same(yg, yc, rtol=1e-12)
    _backward_both(yc, yg, cp)
    _same(xg.grad, xc.grad, rtol=1e-12)
    _same(tg.grad, tc.grad, rtol=1e-12, equal_nan=True)
    _same(
        nn.KLDivLoss(reduction="batchmean")(xg.detach(), tg.detach()),
        nn.KLDivLoss(reduction="batchmean")(xc.detach(), tc.detach()),
        rtol=1e-12,
    )


def test_gpu_adaptive_max_pool2d_module_matches_the_cpu():
    cp = cupy_or_skip()
    a = np.random.default_rng(5).permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6).astype(np.float32)
    c, g = _pair(cp, a, True)
    m = nn.AdaptiveMaxPool2d((3, None), return_indices=True)
    (yc, ic), (yg, ig) = m(c), m(g)
    _same(yg, yc)
    _same(ig, ic)
    _backward_both(yc, yg, cp)
    _same(g.grad, c.grad)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_gpu_pad_sequence_matches_the_cpu(batch_first, side):
    cp = cupy_or_skip()
    rng = np.random.default_rng(6)
    pairs = [_pair(cp, rng.standard_normal((n, 2)).astype(np.float32), True) for n in (3, 1, 4)]
    kw = {"batch_first": batch_first, "padding_value": 7.0, "padding_side": side}
    yc, yg = pad_sequence([c for c, _ in pairs], **kw), pad_sequence([g for _, g in pairs], **kw)
    _same(yg, yc)
    _backward_both(yc, yg, cp)
    for c, g in pairs:
        _same(g.grad, c.grad)
    with pytest.raises(RuntimeError, match="same device"):
        pad_sequence([pairs[0][0], pairs[1][1]])


def test_gpu_default_device_puts_factories_on_the_gpu():
    cp = cupy_or_skip()
    try:
        pydlk.set_default_device("cuda")
        assert pydlk.get_default_device() == "cuda:0"
        for t in (
            pydlk.zeros(2, 3),
            pydlk.ones(2),
            pydlk.empty(1),
            pydlk.full((2,), 1.5),
            pydlk.arange(4),
            pydlk.linspace(0, 1, 3),
            pydlk.eye(2),
            pydlk.rand(2),
            pydlk.randn(2),
            pydlk.randint(0, 5, (3,)),
            pydlk.randperm(4),
            pydlk.tensor([1.0, 2.0]),
            pydlk.as_tensor(np.ones(2)),
            pydlk.zeros_like(pydlk.ones(2)),
        ):
            assert str(t.device) == "cuda:0", t
        assert pydlk.zeros(2, device="cpu").device == "cpu"
        assert pydlk.zeros_like(pydlk.zeros(2, device="cpu")).device == "cpu"  # input's device
        assert pydlk.tensor(cp.ones(2)).device == "cuda:0"
        lin = nn.Linear(3, 2)  # layers too, as in torch
        assert str(lin.weight.device) == "cuda:0" and str(lin.bias.device) == "cuda:0"
        assert str(nn.Linear(3, 2, device="cpu").weight.device) == "cpu"
        assert str(lin(pydlk.randn(4, 3)).device) == "cuda:0"
    finally:
        pydlk.set_default_device(None)
    assert pydlk.zeros(2).device == "cpu" and pydlk.tensor([1]).device == "cpu"


def test_gpu_module_half_and_bfloat16():
    cupy_or_skip()
    m = nn.Linear(3, 2).to("cuda").half()
    assert m.weight.dtype == np.float16 and str(m.weight.device) == "cuda:0"
    with pytest.raises(TypeError, match="bfloat16: CuPy has no bfloat16 dtype"):
        nn.Linear(3, 2).to("cuda").bfloat16()


def test_gpu_draws_land_on_the_inputs_device_with_the_cpu_numbers():
    cupy_or_skip()
    w = np.array([[1.0, 0.0, 3.0], [2.0, 2.0, 1.0]])
    outs = []
    for dev in ("cpu", "cuda"):
        pydlk.manual_seed(5)
        t = pydlk.tensor(w, device=dev)
        got = [
            pydlk.multinomial(t, 2),
            pydlk.bernoulli(t / 4),
            pydlk.poisson(t),
            pydlk.zeros(4, device=dev).bernoulli_(0.5),
            pydlk.zeros(4, device=dev, dtype=np.int64).random_(0, 9),
        ]
        assert all(str(g.device) == ("cpu" if dev == "cpu" else "cuda:0") for g in got)
        outs.append([host(g) for g in got])
    for c, g in zip(*outs):
        np.testing.assert_array_equal(g, c)
