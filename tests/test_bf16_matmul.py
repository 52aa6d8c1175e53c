"""bf16 matrix products under autocast: ``_C.matmul_bf16`` (csrc/bf16_ops.cpp) and what calls it,
``matmul``/``bmm``/``baddbmm`` and ``scaled_dot_product_attention`` inside ``pydlk.autocast``.

References: float64 NumPy products of the bf16-rounded operands (the kernel's products are exact,
its sums float32), and torch.autocast(device_type='cpu', dtype=torch.bfloat16)."""

import numpy as np
import pytest
from test_bf16 import assert_fp32_sum, gemm_ref, needs_bf16

import pydlk
import pydlk.functional as F
from pydlk import _C


@needs_bf16
@pytest.mark.parametrize(
    "batch,M,K,N",
    # one matrix split over the threads; many small ones shared out over the batch (attention's
    # heads); a depth past one 512-value block; 1-wide edges
    [((), 300, 600, 200), ((64,), 128, 64, 128), ((2, 3), 17, 33, 9), ((8,), 1, 5, 1),
     ((5,), 40, 1030, 30), ((4,), 64, 0, 8)],
)  # fmt: skip
def test_matmul_bf16_matches_rounded_float64(rng, bf16_path, batch, M, K, N):
    a = rng.standard_normal(batch + (M, K)).astype(np.float32)
    b = rng.standard_normal(batch + (K, N)).astype(np.float32)
    nb = int(np.prod(batch))
    c = _C.matmul_bf16(a.reshape((nb, M, K)), b.reshape((nb, K, N)))
    assert c.dtype == np.float32 and c.shape == (nb, M, N)
    for i, (ai, bi) in enumerate(zip(a.reshape(nb, M, K), b.reshape(nb, K, N))):
        ref, scale = gemm_ref(ai, bi)
        assert_fp32_sum(c[i], ref, scale, K)


@needs_bf16
def test_matmul_bf16_reads_views_in_place(rng, bf16_path):
    # transposed operands (k^T in attention) and a broadcast one (zero batch stride)
    q = rng.standard_normal((6, 32, 16)).astype(np.float32)
    k = rng.standard_normal((6, 40, 16)).astype(np.float32)
    w = np.broadcast_to(rng.standard_normal((40, 24)).astype(np.float32), (6, 40, 24))
    s = _C.matmul_bf16(q, k.swapaxes(-1, -2))
    o = _C.matmul_bf16(s, w)
    for i in range(6):
        ref, scale = gemm_ref(q[i], k[i].T)
        assert_fp32_sum(s[i], ref, scale, 16)
        ref, scale = gemm_ref(s[i], w[i])
        assert_fp32_sum(o[i], ref, scale, 40)


@needs_bf16
@pytest.mark.parametrize(
    "M,K,N", [(1, 5, 3), (9, 7, 40), (64, 33, 16), (65, 100, 70), (200, 1031, 9)]
)
def test_matmul_bf16_transposed_a(rng, bf16_path, M, K, N):
    # a read column-major (dy^T in a weight gradient): packed 64 rows of a at a time
    at = rng.standard_normal((3, K, M)).astype(np.float32)
    b = rng.standard_normal((3, K, N)).astype(np.float32)
    c = _C.matmul_bf16(at.swapaxes(-1, -2), b)
    for i in range(3):
        ref, scale = gemm_ref(at[i].T, b[i])
        assert_fp32_sum(c[i], ref, scale, K)


@needs_bf16
def test_matmul_bf16_errors_name_the_op():
    a = np.ones((2, 3, 4), np.float32)
    with pytest.raises(TypeError, match="matmul_bf16: a must be a float32 array, got float64"):
        _C.matmul_bf16(a.astype(np.float64), a.astype(np.float64))
    with pytest.raises(ValueError, match="matmul_bf16: a's columns must equal b's rows"):
        _C.matmul_bf16(a, a)


def _pair(torch, arrays):
    """pydlk and torch leaves holding the same float32 values."""
    return ([pydlk.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])  # fmt: skip


@needs_bf16
def test_autocast_matmul_and_bmm_forward_backward(rng):
    torch = pytest.importorskip("torch")
    a = rng.standard_normal((4, 30, 50)).astype(np.float32)
    b = rng.standard_normal((4, 50, 20)).astype(np.float32)
    dy = rng.standard_normal((4, 30, 20)).astype(np.float32)
    (pa, pb), (ta, tb) = _pair(torch, [a, b])
    with pydlk.autocast(device_type="cpu", dtype=pydlk.bfloat16):
        y = pydlk.bmm(pa, pb)
    assert y.dtype == pydlk.float32  # float32 out (pydlk/amp.py)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        yt = torch.bmm(ta, tb)
    y.backward(pydlk.tensor(dy))
    yt.float().backward(torch.tensor(dy))
    for i in range(4):  # tight: float32 sums of the rounded operands' exact products
        ref, scale = gemm_ref(a[i], b[i])
        assert_fp32_sum(np.asarray(y.detach())[i], ref, scale, 50)
        ref, scale = gemm_ref(dy[i], b[i].T)  # backward in bf16 too
        assert_fp32_sum(np.asarray(pa.grad)[i], ref, scale, 20)
        ref, scale = gemm_ref(a[i].T, dy[i])
        assert_fp32_sum(np.asarray(pb.grad)[i], ref, scale, 30)
    for got, want in [(y.detach(), yt), (pa.grad, ta.grad), (pb.grad, tb.grad)]:
        want = want.float().detach().numpy()
        np.testing.assert_allclose(np.asarray(got), want, atol=2e-2 * np.abs(want).max())
    # outside the region: float32 products again
    np.testing.assert_allclose(np.asarray((pa @ pb).detach()), a @ b, rtol=1e-5, atol=1e-4)


@needs_bf16
def test_autocast_attention_matches_torch(rng):
    torch = pytest.importorskip("torch")
    q, k, v = (rng.standard_normal((2, 4, 48, 16)).astype(np.float32) for _ in range(3))
    dy = rng.standard_normal((2, 4, 48, 16)).astype(np.float32)
    ps, ts = _pair(torch, [q, k, v])
    with pydlk.autocast(device_type="cpu", dtype=pydlk.bfloat16):
        y = F.scaled_dot_product_attention(*ps, is_causal=True)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        yt = torch.nn.functional.scaled_dot_product_attention(*ts, is_causal=True)
    y.backward(pydlk.tensor(dy))
    yt.float().backward(torch.tensor(dy))
    for got, want in [(y.detach(), yt)] + [(p.grad, t.grad) for p, t in zip(ps, ts)]:
        want = want.float().detach().numpy()
        np.testing.assert_allclose(np.asarray(got), want, atol=3e-2 * np.abs(want).max())
    # the products were bf16: further from the float32 attention than float32 rounding
    with pydlk.no_grad():
        y32 = F.scaled_dot_product_attention(*(pydlk.tensor(a) for a in (q, k, v)), is_causal=True)
    gap = np.abs(np.asarray(y.detach()) - np.asarray(y32)).max()
    assert 1e-4 < gap < 3e-2
