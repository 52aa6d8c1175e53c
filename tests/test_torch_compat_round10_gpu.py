"""The tenth round's ops on CuPy arrays against the CPU (on a GPU, or under
tools/run_cuda_tests_on_host.py -k r10): as_strided and its scatter and in-place forms with
gradients, addr and the in-place products, nonzero_static, histogramdd, binomial, the legacy
constructors and strided factories, apply_/map_ refused, share_memory_/is_shared,
record_stream, get_device, the ``*_copy`` variants, the in-place function forms and the
native norms."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk


def _pair(cp, a, requires_grad=False):
    return (
        pydlk.tensor(a, requires_grad=requires_grad),
        pydlk.tensor(cp.asarray(a), requires_grad=requires_grad),
    )


def test_gpu_r10_as_strided_family_matches_the_cpu():
    cp = cupy_or_skip()
    base = np.arange(12.0)
    xc, xg = _pair(cp, base, True)
    for args in (((3, 3), (1, 1)), ((2, 2), (1, 2), 4), ((2, 3), (0, 2), 1)):
        yc, yg = xc.reshape(3, 4).as_strided(*args), xg.reshape(3, 4).as_strided(*args)
        assert str(yg.device) == "cuda:0"
        np.testing.assert_array_equal(host(yg), host(yc))
        (gc,) = pydlk.autograd.grad((yc**2).sum(), xc)
        (gg,) = pydlk.autograd.grad((yg**2).sum(), xg)
        assert str(gg.device) == "cuda:0"
        np.testing.assert_allclose(host(gg), host(gc))
    vc, vg = xc.detach().reshape(3, 4).t(), xg.detach().reshape(3, 4).t()
    assert vg.storage_offset() == vc.storage_offset() == 0
    np.testing.assert_array_equal(
        host(vg[1:].as_strided((2,), (3,))), host(vc[1:].as_strided((2,), (3,)))
    )
    src = np.array([[-1.0, -2.0], [-3.0, -4.0]])
    sc, sg = _pair(cp, src, True)
    oc = pydlk.as_strided_scatter(xc.reshape(3, 4).t(), sc, (2, 2), (1, 2))
    og = pydlk.as_strided_scatter(xg.reshape(3, 4).t(), sg, (2, 2), (1, 2))
    assert str(og.device) == "cuda:0"
    np.testing.assert_array_equal(host(og), host(oc))
    w = np.arange(12.0).reshape(4, 3)
    gc = pydlk.autograd.grad((oc * pydlk.tensor(w)).sum(), (xc, sc))
    gg = pydlk.autograd.grad((og * pydlk.tensor(cp.asarray(w))).sum(), (xg, sg))
    for a, b in zip(gg, gc):
        np.testing.assert_allclose(host(a), host(b))
    cc, cg = pydlk.arange(12.0), pydlk.arange(12.0, device="cuda")
    cc.as_strided_((3,), (2,), 1)
    cg.as_strided_((3,), (2,), 1)
    assert str(cg.device) == "cuda:0" and cg.storage_offset() == 1
    np.testing.assert_array_equal(host(cg), host(cc))
    np.testing.assert_array_equal(
        host(pydlk.as_strided_copy(xg.detach(), (2, 2), (1, 2))), [[0.0, 2.0], [1.0, 3.0]]
    )


def test_gpu_r10_addr_and_in_place_products_match_the_cpu(rng):
    cp = cupy_or_skip()
    m, v1, v2 = rng.standard_normal((3, 2)), rng.standard_normal(3), rng.standard_normal(2)
    (mc, mg), (ac, ag), (bc, bg) = (_pair(cp, a, True) for a in (m, v1, v2))
    yc, yg = pydlk.addr(mc, ac, bc, beta=0.5, alpha=-2), pydlk.addr(mg, ag, bg, beta=0.5, alpha=-2)
    assert str(yg.device) == "cuda:0"
    np.testing.assert_allclose(host(yg), host(yc), rtol=1e-12)
    gc = pydlk.autograd.grad(yc.sum(), (mc, ac, bc))
    gg = pydlk.autograd.grad(yg.sum(), (mg, ag, bg))
    for a, b in zip(gg, gc):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-12)
    s, a3, b3 = (
        rng.standard_normal((5, 3, 2)),
        rng.standard_normal((5, 3, 4)),
        rng.standard_normal((5, 4, 2)),
    )
    for name, args in (
        ("baddbmm_", (s, a3, b3)),
        ("addbmm_", (s[0], a3, b3)),
        ("addmm_", (s[0], a3[0], b3[0])),
        ("addmv_", (s[0, :, 0], a3[0], b3[0, :, 0])),
        ("addr_", (s[0], a3[0, :, 0], b3[0, 0])),
    ):
        tc = pydlk.tensor(args[0])
        tg = pydlk.tensor(cp.asarray(args[0]))
        getattr(tc, name)(*(pydlk.tensor(a) for a in args[1:]), beta=2, alpha=0.5)
        getattr(tg, name)(*(pydlk.tensor(cp.asarray(a)) for a in args[1:]), beta=2, alpha=0.5)
        assert str(tg.device) == "cuda:0"
        np.testing.assert_allclose(host(tg), host(tc), rtol=1e-12)


def test_gpu_r10_counting_histograms_and_draws():
    cp = cupy_or_skip()
    v = np.array([[0, 1], [3, 0], [2, 2]])
    nc, ng = (pydlk.nonzero_static(t, size=5, fill_value=-7) for t in _pair(cp, v))
    assert str(ng.device) == "cuda:0"
    np.testing.assert_array_equal(host(ng), host(nc))
    pts = np.random.default_rng(0).random((40, 2)).astype(np.float32)
    hc, hg = (
        pydlk.histogramdd(t, bins=[3, 2], weight=pydlk.ones(40).to(t.device))
        for t in _pair(cp, pts)
    )
    assert str(hg.hist.device) == "cuda:0" and str(hg.bin_edges[0].device) == "cuda:0"
    np.testing.assert_allclose(host(hg.hist), host(hc.hist))
    for e, f in zip(hg.bin_edges, hc.bin_edges):
        np.testing.assert_array_equal(host(e), host(f))
    pydlk.manual_seed(3)
    bc = pydlk.binomial(pydlk.full((50,), 10.0), pydlk.full((50,), 0.4))
    pydlk.manual_seed(3)
    bg = pydlk.binomial(
        pydlk.full((50,), 10.0, device="cuda"), pydlk.full((50,), 0.4, device="cuda")
    )
    assert str(bg.device) == "cuda:0"
    np.testing.assert_array_equal(host(bg), host(bc))  # the same host generator draws


def test_gpu_r10_constructors_layouts_and_memory():
    cp = cupy_or_skip()
    x = pydlk.ones(3, device="cuda", dtype=pydlk.float64)
    for t in (x.new(2, 3), x.new([1, 2]), x.new(), x.new_empty_strided((2, 3), (1, 2))):
        assert str(t.device) == "cuda:0" and t.dtype == pydlk.float64
    assert x.new_empty_strided((2, 3), (1, 2)).stride() == (1, 2)
    e = pydlk.empty_permuted((2, 3, 4), (2, 0, 1), device="cuda")
    assert str(e.device) == "cuda:0" and e.stride() == (3, 1, 6)  # torch's strides
    assert pydlk.ones(2, 3, 4, device="cuda").permute(2, 0, 1).dim_order() == (1, 2, 0)
    with pytest.raises(TypeError, match="apply_ is only implemented on CPU tensors"):
        x.apply_(lambda v: v)
    with pytest.raises(TypeError, match="map_ is only implemented on CPU tensors"):
        x.map_(pydlk.ones(3, device="cuda", dtype=pydlk.float64), lambda a, b: a)
    assert x.is_shared() and x.share_memory_() is x and str(x.device) == "cuda:0"
    assert pydlk.get_device(x) == x.get_device() == 0
    s = pydlk.cuda.Stream()
    y = pydlk.arange(4.0, device="cuda")
    with pydlk.cuda.stream(s):
        z = y * 2
    y.record_stream(s)
    del y
    s.synchronize()
    np.testing.assert_array_equal(host(z), [0.0, 2.0, 4.0, 6.0])
    with pytest.raises(TypeError, match="record_stream"):
        z.record_stream(3)
    assert np.allclose(host(x.adjoint() if x.ndim > 1 else x), 1.0)
    assert cp is not None


def test_gpu_r10_copies_in_place_forms_and_native_norms(rng):
    cp = cupy_or_skip()
    a = np.arange(12.0).reshape(3, 4)
    xc, xg = _pair(cp, a)
    for name, args in (
        ("t_copy", ()),
        ("select_copy", (1, 2)),
        ("slice_copy", (1, 1, 3)),
        ("split_copy", (2, 1)),
        ("unfold_copy", (1, 2, 1)),
        ("diagonal_copy", (1,)),
    ):
        rc, rg = getattr(pydlk, name)(xc, *args), getattr(pydlk, name)(xg, *args)
        for p, q in zip(
            rg if isinstance(rg, tuple) else (rg,), rc if isinstance(rc, tuple) else (rc,)
        ):
            assert str(p.device) == "cuda:0"
            np.testing.assert_array_equal(host(p), host(q))
    v = rng.standard_normal(6) * 0.5
    for name, args in (
        ("sin_", ()),
        ("clamp_", (-0.2, 0.2)),
        ("exp_", ()),
        ("selu_", ()),
        ("threshold_", (0.0, 3.0)),
        ("nan_to_num_", ()),
    ):
        tc, tg = _pair(cp, v)
        assert getattr(pydlk, name)(tg, *args) is tg
        getattr(pydlk, name)(tc, *args)
        np.testing.assert_allclose(host(tg), host(tc), rtol=1e-12)
    w = np.arange(15.0).reshape(5, 3)
    wc, wg = _pair(cp, w)
    pydlk.embedding_renorm_(wc, pydlk.tensor([0, 3]), 4.0, 2.0)
    pydlk.embedding_renorm_(wg, pydlk.tensor(cp.asarray([0, 3])), 4.0, 2.0)
    np.testing.assert_allclose(host(wg), host(wc), rtol=1e-12)
    b = rng.standard_normal((2, 3, 4, 5))
    bc, bg = _pair(cp, b)
    for f in (
        lambda t: pydlk.native_layer_norm(t, [4, 5], None, None, 1e-5),
        lambda t: pydlk.native_batch_norm(t, None, None, None, None, True, 0.1, 1e-5),
        lambda t: pydlk.native_group_norm(t, None, None, 2, 3, 20, 3, 1e-5),
    ):
        for p, q in zip(f(bg), f(bc)):
            assert str(p.device) == "cuda:0"
            np.testing.assert_allclose(host(p), host(q), rtol=1e-6, atol=1e-8)
