"""Everyday tensor ops on GPU tensors against the same ops on the CPU and hand-worked values:
scatters that combine repeated indices (reduce='multiply', scatter_reduce, index_put and
index_add with accumulation) in the dtypes CuPy's scatter_add/scatter_max lack (int64,
complex, int8, float16), the gradient of advanced indexing of complex tensors, and NumPy
conversion of GPU tensors, refused as torch refuses it. They run under the host emulation
(tools/run_cuda_tests_on_host.py), which refuses what CuPy refuses, and skip without CuPy."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk

_IDX = np.array([[0, 0], [1, 1], [3, 3]])


def _both(a):
    """The same values as a CPU and a GPU tensor."""
    t = pydlk.tensor(np.asarray(a))
    return t, t.cuda()


def _same(g, c):
    assert str(g.device) == "cuda:0" and g.dtype == c.dtype and g.shape == c.shape
    np.testing.assert_array_equal(host(g), host(c))


@pytest.mark.filterwarnings("ignore:The reduce argument")
@pytest.mark.parametrize("dtype", ["float32", "int64", "complex64", "int8"])
def test_gpu_round2_scatter_reduce_multiply_matches_the_cpu(dtype):
    """scatter(..., reduce='multiply') raised NotImplementedError on the GPU."""
    cupy_or_skip()
    x = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [2, 1, 1, 3]]).astype(dtype)
    s = np.array([[2, 3], [-1, 2], [1, 2]]).astype(dtype)
    (xc, xg), (ic, ig), (sc, sg) = _both(x), _both(_IDX), _both(s)
    yc, yg = xc.scatter(1, ic, sc, reduce="multiply"), xg.scatter(1, ig, sg, reduce="multiply")
    _same(yg, yc)
    want = x.copy()
    want[0, 0], want[1, 1], want[2, 3] = 1 * 2 * 3, 6 * -1 * 2, 3 * 1 * 2
    np.testing.assert_array_equal(host(yg), want)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "float16"])
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_gpu_round2_scatter_reduce_matches_the_cpu(dtype, reduce, include_self):
    """scatter_reduce counted its hits with an int64 scatter_add (CuPy has none) and took
    prod/amax/amin with NumPy's multiply.at/maximum.at (CuPy has no multiply.at, and its
    maximum.at no int64/float16); include_self=False amax/amin on integers started from -inf."""
    cupy_or_skip()
    x = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [2, 1, 1, 3]]).astype(dtype)
    s = np.array([[2, 3], [-1, 2], [9, 2]]).astype(dtype)
    (xc, xg), (ic, ig), (sc, sg) = _both(x), _both(_IDX), _both(s)
    yc = xc.scatter_reduce(1, ic, sc, reduce, include_self=include_self)
    yg = xg.scatter_reduce(1, ig, sg, reduce, include_self=include_self)
    _same(yg, yc)
    if reduce == "amax":  # by hand: row 1 position 1 takes max(6?, -1, 2)
        assert host(yg)[1, 1] == (6 if include_self else 2)
        assert host(yg)[2, 3] == 9


@pytest.mark.parametrize("dtype", ["int64", "complex64", "int8", "bool"])
def test_gpu_round2_accumulating_writes_in_integer_and_complex_dtypes(dtype):
    """index_put(accumulate=True), index_add, put_(accumulate=True) and scatter_add in dtypes
    CuPy's scatter_add refuses (it has int32/uint32/uint64/float16/float32/float64 only)."""
    cupy_or_skip()
    x = np.array([[1, 0, 3], [4, 5, 0]]).astype(dtype)
    v = np.array([[1, 2, 0], [3, 1, 1], [0, 0, 2]]).astype(dtype)
    (xc, xg), (vc, vg) = _both(x), _both(v)
    ic, ig = _both(np.array([0, 0, 1]))
    yc, yg = xc.index_put((ic,), vc, accumulate=True), xg.index_put((ig,), vg, accumulate=True)
    _same(yg, yc)
    _same(xg.index_add(0, ig, vg), xc.index_add(0, ic, vc))
    _same(xg.clone().put_(ig, vg[0], accumulate=True), xc.clone().put_(ic, vc[0], accumulate=True))
    sc, sg = _both(np.array([[0, 0, 2], [1, 1, 1]]))
    _same(xg.scatter_add(1, sg, xg), xc.scatter_add(1, sc, xc))
    if dtype == "int64":  # by hand: row 0 gets rows 0 and 1 of v, row 1 gets row 2
        np.testing.assert_array_equal(host(yg), [[5, 3, 4], [4, 5, 2]])


def test_gpu_round2_int64_accumulation_wraps_like_the_cpu():
    """int64 sums through the uint64 scatter wrap as two's complement, as the CPU's do."""
    cupy_or_skip()
    big = np.iinfo(np.int64).max
    (xc, xg), (ic, ig) = _both(np.array([big, -5])), _both(np.array([0, 0, 1]))
    vc, vg = _both(np.array([1, -3, -7]))
    yc, yg = xc.index_put((ic,), vc, accumulate=True), xg.index_put((ig,), vg, accumulate=True)
    _same(yg, yc)
    np.testing.assert_array_equal(host(yg), [big - 2, -12])


def test_gpu_round2_complex_advanced_index_gradient_accumulates():
    """The gradient of z[idx] with a repeated index on a complex GPU tensor: the backward's
    scatter_add has no complex dtype on CuPy."""
    cupy_or_skip()
    z = (np.arange(6) + 1j * np.arange(6)[::-1]).astype(np.complex64).reshape(3, 2)
    (zc, zg), (ic, ig) = _both(z), _both(np.array([0, 0, 2]))
    for t in (zc, zg):
        t.requires_grad_(True)
    for t, i in ((zc, ic), (zg, ig)):
        (t[i] * (2 + 1j)).real.sum().backward()
    _same(zg.grad, zc.grad)
    # d/dz of Re((2+1j) z) summed: conj(2+1j) = 2-1j per use; row 0 is used twice
    np.testing.assert_allclose(host(zg.grad), [[4 - 2j] * 2, [0, 0], [2 - 1j] * 2])


def test_gpu_round2_index_reduce_prod_gradient_is_exact_with_zeros_and_signs():
    """index_reduce(..., 'prod')'s gradient on the GPU: the product of the other factors,
    exact (it went through logarithms of magnitudes on CuPy)."""
    cupy_or_skip()
    x = np.array([[1.0, 0.0, 2.0], [3.0, 4.0, -1.0]])
    s = np.array([[2.0, 3.0, 0.0], [-1.0, 5.0, 0.0], [0.5, 1.0, 2.0]])
    (xc, xg), (sc, sg), (ic, ig) = _both(x), _both(s), _both(np.array([0, 0, 1]))
    for t in (xc, xg, sc, sg):
        t.requires_grad_(True)
    yc, yg = xc.index_reduce(0, ic, sc, "prod"), xg.index_reduce(0, ig, sg, "prod")
    _same(yg.detach(), yc.detach())
    yc.sum().backward()
    yg.sum().backward()
    _same(xg.grad, xc.grad)
    _same(sg.grad, sc.grad)
    # row 0, column 0 is 1 * 2 * -1: each factor's gradient is the product of the others
    assert host(xg.grad)[0, 0] == -2.0 and host(sg.grad)[0, 0] == -1.0
    assert host(sg.grad)[1, 0] == 2.0


def test_gpu_round2_numpy_conversion_is_refused_as_torch_refuses_it():
    """np.asarray of a GPU tensor copied it to the host silently; torch raises TypeError (and
    so does .numpy()), pointing at .cpu()."""
    cupy_or_skip()
    g = pydlk.tensor(np.array([1.0, 2.0], np.float32)).cuda()
    msg = "can't convert cuda:0 device type tensor to numpy"
    for convert in (np.asarray, np.array, lambda t: t.numpy()):
        with pytest.raises(TypeError, match=msg):
            convert(g)
    np.testing.assert_array_equal(np.asarray(g.cpu()), [1.0, 2.0])
    assert g.tolist() == [1.0, 2.0] and g[1].item() == 2.0
