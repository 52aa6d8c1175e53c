"""The kernels' batched matrix product (csrc/matmul.cpp, ``_C.matmul``) that pydlk.matmul, bmm,
mm and attention run on: against the textbook sum over k in float64 NumPy, for row-major,
transposed, stepped, broadcast (zero-stride) and transposed-batch operands, empty dims, both
dtypes; pydlk.matmul's NumPy rules (1-D operands, broadcasting) against torch 2.13; gradients;
errors."""

import numpy as np
import pytest

import pydlk
from pydlk import _C
from pydlk._matmul import matmul as array_matmul

torch = pytest.importorskip("torch")


def _textbook(a, b):
    """sum_k a[..., i, k] b[..., k, j] in float64, one loop over k."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    out = np.zeros(a.shape[:-1] + (b.shape[-1],))
    for k in range(a.shape[-1]):
        out += a[..., :, k : k + 1] * b[..., k : k + 1, :]
    return out


def _layout(x, kind):
    if kind == "c":
        return x
    if kind == "t":  # column-major matrices: a transposed view of a contiguous array
        return np.ascontiguousarray(np.swapaxes(x, -1, -2)).swapaxes(-1, -2)
    return np.repeat(x, 2, axis=-1)[..., ::2]  # stepped columns: copied by the binding


SHAPES = [((), 3, 4, 5), ((2,), 1, 7, 1), ((3, 2), 5, 1, 4), ((4,), 6, 0, 3), ((2, 3), 0, 4, 2)]
SHAPES += [((8,), 33, 17, 40), ((1,), 1, 1, 1), ((2,), 120, 90, 70)]


@pytest.mark.parametrize("batch, m, k, n", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_is_the_textbook_product_for_every_layout(rng, batch, m, k, n, dtype):
    a = rng.standard_normal(batch + (m, k)).astype(dtype)
    b = rng.standard_normal(batch + (k, n)).astype(dtype)
    ref = _textbook(a, b)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for la in ("c", "t", "s"):
        for lb in ("c", "t", "s"):
            c = _C.matmul(_layout(a, la), _layout(b, lb))
            assert c.dtype == dtype and c.shape == ref.shape and c.flags.c_contiguous
            np.testing.assert_allclose(c, ref, rtol=tol, atol=tol)


def test_kernel_reads_broadcast_and_transposed_batches_in_place(rng):
    # a zero batch stride (one matrix for every batch element) and attention's q: a
    # (B, T, H, E) array seen as (B, H, T, E), whose batch dims cannot be merged
    w = rng.standard_normal((5, 3)).astype(np.float32)
    x = rng.standard_normal((4, 6, 5)).astype(np.float32)
    c = _C.matmul(x, np.broadcast_to(w, (4, 5, 3)))
    np.testing.assert_allclose(c, _textbook(x, np.broadcast_to(w, (4, 5, 3))), rtol=1e-5, atol=1e-5)
    qkv = rng.standard_normal((2, 7, 3, 4)).astype(np.float64)
    q = qkv.transpose(0, 2, 1, 3)
    s = _C.matmul(q, q.swapaxes(-1, -2))
    np.testing.assert_allclose(s, _textbook(q, q.swapaxes(-1, -2)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "sa, sb",
    [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((5, 2, 3), (3, 4)), ((2, 1, 2, 3), (4, 3, 2))],
)
def test_pydlk_matmul_follows_numpy_and_torch_rules(rng, sa, sb):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    np.testing.assert_allclose(array_matmul(a, b), np.matmul(a, b), rtol=1e-12, atol=1e-12)
    pa, pb = pydlk.tensor(a, requires_grad=True), pydlk.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    y, ty = pydlk.matmul(pa, pb), torch.matmul(ta, tb)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    (y**2).sum().backward()
    (ty**2).sum().backward()
    np.testing.assert_allclose(pa.grad.numpy(), ta.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pb.grad.numpy(), tb.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_other_dtypes_keep_the_array_modules_product():
    a = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(array_matmul(a, a.T), a @ a.T)  # integers
    z = np.ones((2, 2), np.complex64)
    np.testing.assert_array_equal(array_matmul(z, z), z @ z)
    mixed = array_matmul(np.ones((2, 2), np.float32), np.ones((2, 2)))
    assert mixed.dtype == np.float64


def test_kernel_errors_name_the_op_and_argument():
    with pytest.raises(TypeError, match="matmul: a must be a float32 or float64 array, got int64"):
        _C.matmul(np.ones((2, 2), np.int64), np.ones((2, 2)))
    with pytest.raises(TypeError, match="matmul: b must have the dtype of a"):
        _C.matmul(np.ones((2, 2)), np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="matmul: a's columns must equal b's rows"):
        _C.matmul(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="matmul: a and b must have the same batch shape"):
        _C.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 2)))
    with pytest.raises(ValueError, match="matmul: a and b must be stacks of matrices"):
        _C.matmul(np.ones(3), np.ones(3))


def test_gpu_counterpart_matches_the_cpu_kernel(rng):
    from _gpu_helpers import cupy_or_skip, host

    cp = cupy_or_skip()
    from pydlk import _cuda

    a = rng.standard_normal((3, 4, 5)).astype(np.float32)
    b = rng.standard_normal((3, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(
        host(_cuda.matmul(cp.asarray(a), cp.asarray(b))), _C.matmul(a, b), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match="matmul: a's columns must equal b's rows"):
        _cuda.matmul(cp.asarray(a), cp.asarray(a))
