"""bfloat16: the dtype, the bf16 GEMM (csrc/bf16_gemm.cpp) and autocast for linear and conv2d.

References: float64 NumPy products of the bf16-rounded operands (ml_dtypes does the rounding),
torch's bf16 matmul, and torch.autocast(device_type='cpu', dtype=torch.bfloat16)."""

import ml_dtypes
import numpy as np
import pytest

import pydlk
import pydlk.functional as F
from pydlk import _C, amp

needs_bf16 = pytest.mark.skipif(not _C.bf16_supported(), reason="CPU has no AVX512_BF16")


def rounded(a):
    """a rounded to bf16 (round to nearest even), back in float64."""
    return np.asarray(a, np.float32).astype(ml_dtypes.bfloat16).astype(np.float64)


def gemm_ref(a, b):
    """Exact products of the bf16 operands, and the scale |a| @ |b| of the sums' rounding."""
    ra, rb = rounded(a), rounded(b)
    return ra @ rb, np.abs(ra) @ np.abs(rb)


def assert_fp32_sum(c, ref, scale, K):
    # float32 sums of K exact products: |error| <= K * 2**-24 * sum |products| (a loose bound).
    assert np.all(np.abs(c - ref) <= (K + 2) * 2.0**-24 * scale + 1e-30)


@pytest.fixture(autouse=True)
def _kernels_on():
    amp.set_bf16_kernels(True)
    yield
    amp.set_bf16_kernels(True)


def test_bfloat16_dtype_and_casts(rng):
    x = pydlk.tensor(rng.standard_normal((3, 5)).astype(np.float32), requires_grad=True)
    b = x.bfloat16()
    assert b.dtype == pydlk.bfloat16 == np.dtype(ml_dtypes.bfloat16)
    assert b.is_floating_point() and b.type() == "torch.BFloat16Tensor"
    np.testing.assert_array_equal(np.asarray(b.float().detach()), rounded(np.asarray(x.detach())))
    assert x.to(pydlk.bfloat16).dtype == pydlk.bfloat16
    (b.float() * 3).sum().backward()  # the cast is differentiable, the gradient comes back fp32
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(x.grad), 3)


@needs_bf16
@pytest.mark.parametrize(
    "M,K,N",
    # AMX edges too: whole 16- and 32-row tiles with whole and partial 32-column panels, a depth
    # past one 256-pair block and not a multiple of 32, rows split over two threads (M = 96)
    [(1, 1, 1), (7, 3, 5), (8, 32, 32), (17, 33, 65), (64, 576, 300), (130, 1001, 7),
     (16, 40, 64), (32, 64, 96), (48, 513, 64), (96, 70, 40), (33, 600, 1000),
     # two threads splitting C's rows (at least as many rows as columns) and its columns
     (520, 600, 130), (130, 300, 520)],
)  # fmt: skip
def test_gemm_matches_rounded_float64(rng, bf16_path, M, K, N):
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    c = _C.gemm_bf16(a, b)
    assert c.dtype == np.float32 and c.shape == (M, N)
    ref, scale = gemm_ref(a, b)
    assert_fp32_sum(c, ref, scale, K)
    # bf16 operands (as their bits) give the same products
    bits = [v.astype(ml_dtypes.bfloat16).view(np.uint16) for v in (a, b)]
    assert_fp32_sum(_C.gemm_bf16(*bits), ref, scale, K)
    if K >= 32:  # the operands really were rounded: the float32 product is far from c
        exact = a.astype(np.float64) @ b
        assert np.max(np.abs(c - exact) / scale) > 10 * np.max(np.abs(c - ref) / scale)


@needs_bf16
@pytest.mark.parametrize("M,K,N", [(7, 9, 5), (520, 600, 130), (130, 1100, 520), (300, 40, 300)])
def test_linear_bias_added_once_as_tiles_are_stored(rng, bf16_path, M, K, N):
    # the bias goes in with the first depth block's stores (K > 512: later blocks accumulate)
    x = rng.standard_normal((M, K)).astype(np.float32)
    w = rng.standard_normal((N, K)).astype(np.float32)
    b = (rng.standard_normal(N) * 10).astype(np.float32)
    ref, scale = gemm_ref(x, w.T)
    assert_fp32_sum(_C.linear_bf16_forward(x, w, b), ref + b, scale + np.abs(b), K)
    assert_fp32_sum(_C.linear_bf16_forward(x, w), ref, scale, K)


@needs_bf16
def test_gemm_rounds_to_nearest_even_as_ml_dtypes(rng):
    # a @ I = bf16(a) exactly: the packer's rounding, ties and signed zeros included
    a = rng.standard_normal((9, 40)).astype(np.float32)
    a[0, :4] = np.array([1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8), -0.0], np.float32)  # ties
    c = _C.gemm_bf16(a, np.eye(40, dtype=np.float32))
    np.testing.assert_array_equal(c, rounded(a).astype(np.float32))


@needs_bf16
@pytest.mark.parametrize("M,K,N", [(64, 576, 256), (33, 100, 70)])
def test_gemm_matches_torch_bf16_matmul(rng, M, K, N):
    torch = pytest.importorskip("torch")
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    t = (torch.tensor(a).bfloat16() @ torch.tensor(b).bfloat16()).float().numpy()
    c = _C.gemm_bf16(a, b)
    _, scale = gemm_ref(a, b)
    # torch rounds its output to bf16 (2**-8 relative); the products agree beyond that
    assert np.all(np.abs(c - t) <= 2.0**-8 * np.abs(t) + (K + 2) * 2.0**-24 * scale)


def test_gemm_bad_input():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="gemm_bf16: a is"):
        _C.gemm_bf16(a, np.ones((5, 2), np.float32))
    with pytest.raises(TypeError, match="gemm_bf16: b must be a C-contiguous float32 or bfloat16"):
        _C.gemm_bf16(a, np.ones((4, 2), np.float64))
    with pytest.raises(ValueError, match="gemm_bf16: a and b must have the same dtype"):
        _C.gemm_bf16(a, np.ones((4, 2), np.uint16))


def test_allow_amx_switch_and_what_show_config_says(rng, capsys):
    cpu = pydlk.backends.cpu
    assert cpu.allow_amx is True
    with pytest.raises(TypeError, match="allow_amx must be True or False, got 1"):
        cpu.allow_amx = 1
    a = rng.standard_normal((40, 70)).astype(np.float32)
    b = rng.standard_normal((70, 50)).astype(np.float32)
    try:
        cpu.allow_amx = False
        assert cpu.allow_amx is False
        pydlk.show_config()
        off = capsys.readouterr().out
        c_avx = _C.gemm_bf16(a, b) if _C.bf16_supported() else None
    finally:
        cpu.allow_amx = True
    pydlk.show_config()
    on = capsys.readouterr().out
    if not _C.bf16_supported():
        assert "none (no AVX512_BF16" in on
    elif cpu.amx_supported():
        assert "AMX tiles" in on and "AMX present, off" in off
        # the same exact products, summed in another order: equal to float32 rounding
        ref, scale = gemm_ref(a, b)
        assert_fp32_sum(c_avx, ref, scale, 70)
        assert_fp32_sum(_C.gemm_bf16(a, b), ref, scale, 70)
    else:
        assert "AVX512_BF16 (vdpbf16ps; direct convolutions)" in on


def _torch_pair(torch, shape_x, weight, bias, rng):
    x = rng.standard_normal(shape_x).astype(np.float32)
    return (
        pydlk.tensor(x, requires_grad=True),
        pydlk.tensor(weight, requires_grad=True),
        pydlk.tensor(bias, requires_grad=True),
        torch.tensor(x, requires_grad=True),
        torch.tensor(weight, requires_grad=True),
        torch.tensor(bias, requires_grad=True),
    )


def _check_vs_torch(y, yt, grads, tgrads):
    yt = yt.float().detach().numpy()
    assert y.dtype == np.float32  # pydlk keeps float32 outputs (see pydlk/amp.py)
    np.testing.assert_allclose(np.asarray(y.detach()), yt, atol=2e-2 * np.abs(yt).max())
    for g, gt in zip(grads, tgrads):
        gt = gt.float().numpy()
        assert g.dtype == np.float32
        np.testing.assert_allclose(np.asarray(g), gt, atol=2e-2 * np.abs(gt).max())


@needs_bf16
@pytest.mark.parametrize("shape", [(37, 70), (4, 5, 64)])
def test_autocast_linear_matches_torch_and_rounded_reference(rng, bf16_path, shape):
    torch = pytest.importorskip("torch")
    w = rng.standard_normal((19, shape[-1])).astype(np.float32)
    b = rng.standard_normal(19).astype(np.float32)
    x, wp, bp, xt, wt, bt = _torch_pair(torch, shape, w, b, rng)
    with pydlk.autocast(device_type="cpu", dtype=pydlk.bfloat16):
        y = F.linear(x, wp, bp)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        yt = torch.nn.functional.linear(xt, wt, bt)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(pydlk.tensor(dy))
    yt.float().backward(torch.tensor(dy))
    _check_vs_torch(y, yt, [x.grad, wp.grad, bp.grad], [xt.grad, wt.grad, bt.grad])
    # tight: float64 products of the bf16-rounded operands
    x2, dy2 = np.asarray(x.detach()).reshape(-1, shape[-1]), dy.reshape(-1, 19)
    ref, scale = gemm_ref(x2, w.T)
    assert_fp32_sum(np.asarray(y.detach()).reshape(-1, 19) - b, ref, scale + np.abs(b), shape[-1])
    ref, scale = gemm_ref(dy2, w)
    assert_fp32_sum(np.asarray(x.grad).reshape(x2.shape), ref, scale, 19)
    ref, scale = gemm_ref(dy2.T, x2)
    assert_fp32_sum(np.asarray(wp.grad), ref, scale, x2.shape[0])
    np.testing.assert_allclose(np.asarray(bp.grad), dy2.sum(0), rtol=1e-5, atol=1e-5)


@needs_bf16
@pytest.mark.parametrize(
    "N,C,H,K,k,stride,pad,dil",
    [(3, 5, 9, 7, 3, 1, 1, 1), (2, 4, 8, 6, 1, 1, 0, 1), (4, 3, 11, 8, 3, 2, 0, 1),
     (2, 3, 10, 4, 3, 1, 2, 2), (8, 16, 16, 32, 3, 1, 1, 1),
     # the packing's edges: 3 channels and an odd pixel count, more than one depth block
     # (C*R*S > 512; H*W > 512 pixel pairs), padding wider than the kernel, stride 2 on odd sizes
     (2, 3, 7, 10, 3, 1, 1, 1), (2, 64, 5, 9, 3, 1, 1, 1), (1, 2, 40, 3, 3, 1, 1, 1),
     (2, 4, 6, 5, 1, 1, 1, 1), (3, 5, 9, 7, 3, 2, 1, 1), (1, 6, 12, 8, 5, 3, 2, 1),
     # AMX's whole tiles: 16 and 64 output channels over 32-pixel panels (ResNet's layers)
     (4, 16, 16, 16, 3, 1, 1, 1), (2, 32, 8, 64, 3, 2, 1, 1), (2, 64, 8, 48, 3, 1, 1, 1),
     # the direct kernels (csrc/bf16_conv_direct.cpp): odd channels (a half-empty pair),
     # output blocks of 1-7 channels, dilation at stride 2 without padding, rows of several
     # 32-column stride-2 blocks and a remainder, 1x1 at stride 2, stride 3 (scalar phases),
     # several weight-gradient chunks per thread (64 channels of 32x32)
     (3, 5, 13, 9, 3, 2, 0, 2), (2, 7, 70, 12, 3, 2, 1, 1), (2, 6, 9, 20, 1, 2, 0, 1),
     (3, 3, 12, 16, 5, 3, 2, 1), (9, 64, 32, 8, 3, 1, 1, 1),
     # input gradients: by output phase at strides 2 and 3 (2x2 at stride 2: one tap per phase;
     # dilation, odd sizes; dilation 2 at stride 2: odd phases without taps), and padding wider
     # than a 1x1 kernel (the stride-1 form's negative padding)
     (2, 9, 15, 8, 3, 2, 1, 1), (2, 16, 11, 12, 2, 2, 0, 1), (2, 10, 17, 9, 3, 3, 2, 2),
     (2, 12, 13, 16, 5, 2, 2, 1), (2, 8, 13, 8, 3, 2, 0, 2), (2, 8, 6, 8, 1, 1, 1, 1)],
)  # fmt: skip
def test_autocast_conv2d_matches_torch_and_rounded_reference(
    rng, bf16_path, monkeypatch, N, C, H, K, k, stride, pad, dil
):
    _check_autocast_conv(rng, monkeypatch, (N, C, H, H), (K, C, k, k), stride, pad, dil)


@needs_bf16
@pytest.mark.parametrize(
    "xshape,wshape,stride,pad,dil",
    [  # the input gradient by output phases with other strides across than down: a plain row
     # copy (stride 1 across), two phases interleaved per row (stride 2 across, odd and
     # multi-vector widths), the general interleave (stride 3 across); phases of different
     # tap counts and negative offsets (padding past the kernel's reach)
     ((2, 8, 14, 11), (12, 8, 3, 3), (2, 1), (1, 1), (1, 1)),
     ((2, 8, 9, 37), (20, 8, 3, 3), (1, 2), (1, 1), (1, 1)),
     ((2, 6, 10, 13), (7, 6, 3, 5), (3, 2), (1, 2), (1, 1)),
     ((2, 5, 12, 16), (9, 5, 4, 2), (2, 3), (3, 0), (1, 2)),
     ((1, 4, 9, 9), (6, 4, 3, 3), (4, 4), (1, 1), (1, 1)),
     # 16 outputs or fewer: the forward's four-pixel-tile blocks, with a short last block;
     # more than 32: two output groups and a remainder
     ((3, 10, 20, 20), (16, 10, 3, 3), (1, 1), (1, 1), (1, 1)),
     ((2, 33, 7, 9), (5, 33, 3, 3), (1, 1), (1, 1), (1, 1)),
     ((2, 40, 10, 10), (40, 40, 3, 3), (2, 2), (1, 1), (1, 1))],
)  # fmt: skip
def test_autocast_conv2d_rectangular_and_mixed_strides(
    rng, bf16_path, monkeypatch, xshape, wshape, stride, pad, dil
):
    _check_autocast_conv(rng, monkeypatch, xshape, wshape, stride, pad, dil)


def _check_autocast_conv(rng, monkeypatch, xshape, wshape, stride, pad, dil):
    torch = pytest.importorskip("torch")
    # every shape on the bf16 kernels, narrow 1x1 ones included (autocast runs those in
    # float32: test_autocast_narrow_pointwise_conv_stays_float32)
    monkeypatch.setattr(pydlk.functional.conv, "_POINTWISE_FP32_MAX", 0)
    w = rng.standard_normal(wshape).astype(np.float32)
    b = rng.standard_normal(wshape[0]).astype(np.float32)
    x, wp, bp, xt, wt, bt = _torch_pair(torch, xshape, w, b, rng)
    with pydlk.autocast(device_type="cpu", dtype=pydlk.bfloat16):
        y = F.conv2d(x, wp, bp, stride, pad, dil)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        yt = torch.nn.functional.conv2d(xt, wt, bt, stride, pad, dil)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(pydlk.tensor(dy))
    yt.float().backward(torch.tensor(dy))
    _check_vs_torch(y, yt, [x.grad, wp.grad, bp.grad], [xt.grad, wt.grad, bt.grad])
    # tight: the same convolution in float64 on the bf16-rounded operands (torch as calculator)
    xr = torch.tensor(rounded(np.asarray(x.detach())), requires_grad=True)
    wr = torch.tensor(rounded(w), requires_grad=True)
    yr = torch.nn.functional.conv2d(xr, wr, torch.tensor(b, dtype=torch.float64), stride, pad, dil)
    yr.backward(torch.tensor(rounded(dy)))
    for got, want in [(y.detach(), yr.detach()), (x.grad, xr.grad), (wp.grad, wr.grad)]:
        want = want.numpy()
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-5 * np.abs(want).max())


@needs_bf16
@pytest.mark.parametrize(
    "C,K,k,stride,fp32",
    [(16, 32, 1, 2, True), (64, 128, 1, 1, True), (64, 160, 1, 1, False), (16, 32, 3, 2, False)],
)
def test_autocast_narrow_pointwise_conv_stays_float32(rng, bf16_path, C, K, k, stride, fp32):
    """Under autocast a 1x1 convolution with at most 64 * 128 channel products runs the float32
    kernels (the same bits as outside autocast, gradients included); wider 1x1 and 3x3 layers
    take bf16 products (results differ from float32 in the low bits)."""
    x = rng.standard_normal((3, C, 9, 9)).astype(np.float32)
    w = rng.standard_normal((K, C, k, k)).astype(np.float32)
    got = []
    for ac in (True, False):
        xt, wt = pydlk.tensor(x, requires_grad=True), pydlk.tensor(w, requires_grad=True)
        with pydlk.autocast(device_type="cpu", dtype=pydlk.bfloat16, enabled=ac):
            y = F.conv2d(xt, wt, None, stride, k // 2)
        y.sum().backward()
        got.append([np.asarray(y.detach()), np.asarray(xt.grad), np.asarray(wt.grad)])
    for a, b in zip(*got):
        assert a.dtype == np.float32
        if fp32:
            np.testing.assert_array_equal(a, b)
        else:
            assert not np.array_equal(a, b)
            np.testing.assert_allclose(a, b, atol=2e-2 * np.abs(b).max())


@needs_bf16
@pytest.mark.parametrize(
    "C,H,K,stride",
    [(16, 32, 16, 1), (16, 32, 32, 2), (3, 8, 16, 1), (3, 8, 16, 2), (64, 8, 64, 1)],
)
def test_autocast_conv2d_empty_batch_gives_zero_gradients(bf16_path, C, H, K, stride):
    # Every path (direct, packed, AMX) with no samples: an empty output and zero weight and bias
    # gradients, as torch gives (a weight-gradient path once summed uninitialised partials).
    x = pydlk.tensor(np.zeros((0, C, H, H), np.float32)).requires_grad_()
    w = pydlk.tensor(np.ones((K, C, 3, 3), np.float32)).requires_grad_()
    b = pydlk.tensor(np.ones(K, np.float32)).requires_grad_()
    with pydlk.autocast(device_type="cpu", dtype=pydlk.bfloat16):
        y = F.conv2d(x, w, b, stride, 1)
    assert y.shape == (0, K, (H - 1) // stride + 1, (H - 1) // stride + 1)
    y.sum().backward()
    assert x.grad.shape == x.shape
    np.testing.assert_array_equal(np.asarray(w.grad), np.zeros((K, C, 3, 3), np.float32))
    np.testing.assert_array_equal(np.asarray(b.grad), np.zeros(K, np.float32))


@needs_bf16
def test_fallback_gives_float32_results_and_says_so_once(rng):
    x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    xl = rng.standard_normal((4, 27)).astype(np.float32)
    with pydlk.autocast():
        fast = np.asarray(F.conv2d(x, w, padding=1))
    amp.set_bf16_kernels(False)
    with pytest.warns(RuntimeWarning, match="autocast: the bf16 kernels are switched off"):
        with pydlk.autocast():
            slow = np.asarray(F.conv2d(x, w, padding=1))
            lin = np.asarray(F.linear(xl, w.reshape(5, -1)))
    with pydlk.autocast():  # once: no second warning (warnings are errors in this suite)
        F.conv2d(x, w, padding=1)
    np.testing.assert_array_equal(slow, np.asarray(F.conv2d(x, w, padding=1)))
    np.testing.assert_array_equal(lin, np.asarray(F.linear(xl, w.reshape(5, -1))))
    np.testing.assert_allclose(fast, slow, atol=2e-2 * np.abs(slow).max())


def test_autocast_state_and_arguments():
    assert not pydlk.is_autocast_enabled()
    with pydlk.autocast(device_type="cpu", dtype=pydlk.bfloat16):
        assert pydlk.is_autocast_enabled("cpu")
        with pydlk.autocast(enabled=False):
            assert not pydlk.is_autocast_enabled()
        assert pydlk.is_autocast_enabled()
    assert not pydlk.is_autocast_enabled()
    assert pydlk.get_autocast_dtype("cpu") == pydlk.bfloat16
    with pytest.raises(ValueError, match="autocast: device_type must be 'cpu' or 'cuda'"):
        pydlk.autocast(device_type="xla")
    with pytest.raises(ValueError, match="autocast: dtype must be pydlk.bfloat16"):
        pydlk.autocast(dtype=pydlk.float16)


def test_bfloat16_outside_autocast_is_refused_and_float64_stays(rng):
    x = pydlk.tensor(rng.standard_normal((3, 4)).astype(np.float32)).bfloat16()
    w = pydlk.tensor(rng.standard_normal((2, 4)).astype(np.float32))
    with pytest.raises(TypeError, match="linear: input must be float32 or float64.*autocast"):
        F.linear(x, w)
    x64, w64 = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    with pydlk.autocast():  # torch's CPU autocast leaves float64 alone; so does pydlk
        y = F.linear(x64, w64)
    np.testing.assert_allclose(np.asarray(y), x64 @ w64.T, rtol=1e-12)


@needs_bf16
def test_bfloat16_inputs_inside_autocast(rng):
    x = pydlk.tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    w = rng.standard_normal((2, 4)).astype(np.float32)
    with pydlk.autocast():
        y = F.linear(x.bfloat16(), w)
    assert y.dtype == np.float32
    ref, scale = gemm_ref(np.asarray(x.detach()), w.T)
    assert_fp32_sum(np.asarray(y.detach()), ref, scale, 4)
    y.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.shape == (3, 4)


@needs_bf16
def test_autocast_training_matches_float32_accuracy_on_digits():
    # LeNet-5+BN on the bundled digits with the CLI's defaults (examples/autocast_digits.py),
    # float32 and autocast from the same seeds: autocast's mean test accuracy may not fall more
    # than half a point below float32's (270 test images: one image is 0.37 points, so the
    # mean over three seeds is compared, not single runs). 10 epochs instead of 30 to keep it short.
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "examples", "autocast_digits.py")
    spec = importlib.util.spec_from_file_location("autocast_digits", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    fp32, bf16 = (
        np.mean([example.train_digits(seed, ac, epochs=10) for seed in range(3)])
        for ac in (False, True)
    )
    assert fp32 > 95  # the float32 runs trained at all
    assert bf16 >= fp32 - 0.5, (fp32, bf16)
