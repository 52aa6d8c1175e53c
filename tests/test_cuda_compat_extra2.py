"""The additions of tests/test_torch_compat_extra2.py on GPU tensors, each against the CPU:
diag/diagonal/trace, equal, clamp_min/max, lerp, expm1, lgamma/digamma, randint_like,
data_ptr, Size, pydlk.cuda's rng-state functions, ParameterList/ParameterDict moved to the GPU,
pixel_shuffle/unshuffle and parameters_to_vector. Results stay on the device and gradients come
back there. Run here by the host emulation of CuPy (tools/run_cuda_tests_on_host.py), which
refuses what CuPy refuses; skipped without either."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
import pydlk.functional as F
from pydlk import nn


@pytest.fixture(autouse=True)
def _keep_the_global_rng_state():
    """The tests here seed and draw from pydlk's generator; later tests see it unchanged."""
    state = pydlk.get_rng_state()
    yield
    pydlk.set_rng_state(state)


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


def _grads_match(cp, fn, arrays, seed=0, **kw):
    """fn on CPU and GPU copies of arrays: outputs and the gradients of sum(out * dy) agree."""
    pairs = [_pair(cp, a, requires_grad=True) for a in arrays]
    yc, yg = fn(*[c for c, _ in pairs]), fn(*[g for _, g in pairs])
    _same(yg, yc, **kw)
    dy = np.random.default_rng(seed).standard_normal(yc.shape).astype(yc.dtype)
    yc.backward(pydlk.tensor(dy))
    yg.backward(pydlk.tensor(cp.asarray(dy)))
    for c, g in pairs:
        _same(g.grad, c.grad, **kw)


def test_gpu_diagonal_diag_trace_match_the_cpu():
    cp = cupy_or_skip()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4, 5))
    _grads_match(cp, lambda x: x.diagonal(1, 2, 0), [a])
    _grads_match(cp, lambda x: pydlk.diag(x, -1), [a[0]])
    _grads_match(cp, lambda x: pydlk.diag(x, 2), [a[0, 0]])
    _grads_match(cp, pydlk.trace, [a[0]])
    x = pydlk.tensor(cp.asarray(a[0, 0]), requires_grad=True)
    (gx,) = pydlk.autograd.grad((pydlk.diag(x) ** 2).sum(), x, create_graph=True)
    gx.sum().backward()
    _same(x.grad, pydlk.full((5,), 2.0, dtype=pydlk.float64))


def test_gpu_equal_clamp_min_max_and_lerp_match_the_cpu():
    cp = cupy_or_skip()
    rng = np.random.default_rng(1)
    a, b, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.uniform(-1, 2, 4)
    c, g = _pair(cp, a)
    assert pydlk.equal(g, g.clone()) is True and g.equal(g + 1) is False
    try:
        pydlk.equal(g, c)
        raise AssertionError("equal across devices must raise")
    except RuntimeError as e:
        assert "equal: expected both tensors on the same device" in str(e)
    _grads_match(cp, lambda x: x.clamp_min(0.1), [a])
    _grads_match(cp, lambda x: pydlk.clamp_max(x, -0.1), [a])
    _grads_match(cp, lambda x, y: pydlk.lerp(x, y, 0.3), [a, b])
    _grads_match(cp, lambda x, y: x.lerp(y, 0.8), [a, b])
    _grads_match(cp, pydlk.lerp, [a, b, w])
    g.clamp_min_(0.0)
    _same(g, c.clamp_min(0.0))


def test_gpu_expm1_lgamma_digamma_match_the_cpu():
    cp = cupy_or_skip()
    v = np.array([1e-6, 0.3, 1.0, 2.5, 7.7, 30.2, -0.4, -2.6, -10.1])
    for dt in (np.float64, np.float32):
        a = v.astype(dt)
        for fn in (pydlk.expm1, pydlk.lgamma, pydlk.digamma):
            _grads_match(cp, lambda x, fn=fn: fn(x), [a], rtol=1e-6, atol=1e-6)
    poles = np.array([0.0, -1.0, np.inf, np.nan])
    for fn in (pydlk.lgamma, pydlk.digamma):
        c, g = _pair(cp, poles)
        np.testing.assert_array_equal(host(fn(g)), host(fn(c)))
    c, g = _pair(cp, np.array([1, 2, 5]))
    _same(pydlk.lgamma(g), pydlk.lgamma(c), atol=1e-6)
    x = pydlk.tensor(cp.asarray(v[:6]), requires_grad=True)
    (gx,) = pydlk.autograd.grad(pydlk.lgamma(x).sum(), x, create_graph=True)
    gx.sum().backward()  # through digamma's backward (trigamma)
    xc = pydlk.tensor(v[:6], requires_grad=True)
    (gc,) = pydlk.autograd.grad(pydlk.lgamma(xc).sum(), xc, create_graph=True)
    gc.sum().backward()
    _same(x.grad, xc.grad, rtol=1e-10)


def test_gpu_randint_like_data_ptr_and_size():
    cp = cupy_or_skip()
    _, g = _pair(cp, np.zeros((3, 4), np.float32))
    r = pydlk.randint_like(g, 2, 9)
    assert str(r.device) == "cuda:0" and r.dtype == np.float32 and r.shape == (3, 4)
    h = host(r)
    assert h.min() >= 2 and h.max() < 9 and np.all(h == np.round(h))
    assert g.data_ptr() == g._data.data.ptr and g.data_ptr() != g.clone().data_ptr()
    assert isinstance(g.shape, pydlk.Size) and g.size() == (3, 4) and g.shape[1:] == (4,)


def test_gpu_cuda_rng_state_round_trips():
    cupy_or_skip()
    pydlk.cuda.manual_seed(5)
    st = pydlk.cuda.get_rng_state()
    a = pydlk.randn(6, device="cuda")
    pydlk.cuda.set_rng_state_all(pydlk.cuda.get_rng_state_all()[:0] + [st])
    b = pydlk.randn(6, device="cuda")
    assert pydlk.equal(a, b) and pydlk.cuda.initial_seed() == 5
    with pydlk.random.fork_rng(devices=[0]):
        pydlk.randn(3, device="cuda")
    pydlk.cuda.set_rng_state(st)
    pydlk.randn(6, device="cuda")
    with pydlk.random.fork_rng():
        pydlk.randn(100, device="cuda")
    assert pydlk.cuda.get_rng_state() == pydlk.get_rng_state()


def test_gpu_parameter_containers_move_with_the_module():
    cupy_or_skip()
    m = nn.Module()
    m.scales = nn.ParameterList([nn.Parameter(pydlk.ones(2) * i) for i in range(3)])
    m.bias = nn.ParameterDict({"a": pydlk.zeros(2)})
    m.to("cuda")
    assert all(str(p.device) == "cuda:0" for p in m.parameters())
    assert str(m.scales[-1].device) == "cuda:0" and str(m.bias["a"].device) == "cuda:0"
    x = pydlk.ones(2, device="cuda")
    for s in m.scales:
        x = x * s
    (x + m.bias["a"]).sum().backward()
    assert str(m.scales[1].grad.device) == "cuda:0"
    np.testing.assert_array_equal(host(m.scales[1].grad), [0.0, 0.0])
    np.testing.assert_array_equal(host(m.bias["a"].grad), [1.0, 1.0])
    assert list(m.state_dict()) == ["scales.0", "scales.1", "scales.2", "bias.a"]


def test_gpu_pixel_shuffle_and_parameter_vectors_match_the_cpu():
    cp = cupy_or_skip()
    rng = np.random.default_rng(2)
    a = rng.standard_normal((2, 8, 3, 5)).astype(np.float32)
    _grads_match(cp, lambda x: F.pixel_shuffle(x, 2), [a])
    _grads_match(cp, nn.PixelUnshuffle(2), [a[:, :, :2, :4]])
    mc = nn.Linear(3, 2)
    mg = nn.Linear(3, 2)
    mg.load_state_dict(mc.state_dict())
    mg.to("cuda")
    vc = nn.utils.parameters_to_vector(mc.parameters())
    vg = nn.utils.parameters_to_vector(mg.parameters())
    _same(vg, vc)
    nn.utils.vector_to_parameters(vg * 2, mg.parameters())
    nn.utils.vector_to_parameters(vc * 2, mc.parameters())
    _same(mg.weight, mc.weight)
    assert str(mg.bias.device) == "cuda:0"
