"""The GPU kernels' launch layouts against the CPU kernels: the paths that only some shapes take
(dropout's tiles and their tails, batch-norm sums split over several blocks per channel,
adaptive average pooling with a warp per output, softmax and cross-entropy with a thread per
slice when the reduced dim has stride > 1). GPU only, as test_cuda_kernels.py's ``test_gpu_*``
(skipped without CuPy or a device; tools/run_cuda_tests_on_host.py runs them on the CPU)."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip
from test_cuda_kernels import DTYPES, _r, assert_gpu_matches_cpu

from pydlk import _C

_cupy = cupy_or_skip


@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_dropout_tiles_tails_and_offsets(dtype, rng):
    """Several 1024-element tiles, sizes that end inside a Philox block and inside a mask word,
    offsets that are not multiples of 4 (only offset / 4 counts), no saved mask, and more tiles
    than blocks (each block then loops over tiles): masks bit for bit as the CPU's."""
    from pydlk._cuda import dropout as dr

    for n, seed, offset, p in [
        (5003, 11, 4097 + 2, 0.4),
        (3 * 1024, 2**40 + 1, 3, 0.25),
        (2049, 5, 2**64 - 7, 0.6),
        (30, 9, 1, 0.5),
    ]:
        x = _r(rng, (n,), dtype)
        assert_gpu_matches_cpu("dropout_forward", [x, p, seed, offset], dtype=dtype)
        assert_gpu_matches_cpu(
            "dropout_forward", [x, p, seed, offset], {"save_mask": False}, dtype=dtype
        )
        _, mask = _C.dropout_forward(x, p, seed, offset)
        g = _r(rng, (n,), dtype)
        assert_gpu_matches_cpu("dropout_backward", [g, mask, p, seed, offset], dtype=dtype)
        assert_gpu_matches_cpu("dropout_backward", [g, None, p, seed, offset], dtype=dtype)
    saved = dr._TILE_BLOCKS
    dr._TILE_BLOCKS = 2
    try:
        x = _r(rng, (5 * 1024 + 7,), dtype)
        assert_gpu_matches_cpu("dropout_forward", [x, 0.3, 7, 12], dtype=dtype)
        assert_gpu_matches_cpu("dropout_backward", [x, None, 0.3, 7, 12], dtype=dtype)
    finally:
        dr._TILE_BLOCKS = saved


def test_gpu_dropout_writes_into_given_mask_and_out(rng):
    """out= and mask= are written in place, every word of the mask (the tail word's bits past n
    are 0, as the CPU's)."""
    cp = _cupy()
    from pydlk import _cuda

    n = 1024 + 37
    x = _r(rng, (n,), np.float32)
    y_cpu, m_cpu = _C.dropout_forward(x, 0.5, 3, 8)
    out = cp.zeros(n, cp.float32)
    mask = cp.full((n + 31) // 32, 0xFFFFFFFF, cp.uint32)
    y, m = _cuda.dropout_forward(cp.asarray(x), 0.5, 3, 8, out=out, mask=mask)
    assert y is out and m is mask
    np.testing.assert_array_equal(cp.asnumpy(mask), m_cpu)
    np.testing.assert_array_equal(cp.asnumpy(out), y_cpu)
    assert int(m_cpu[-1]) >> (n % 32) == 0


def _bn_case(rng, shape, dtype, training):
    C = shape[1]
    x = _r(rng, shape, dtype) + 3
    w, b = _r(rng, (C,), dtype), _r(rng, (C,), dtype)
    rm, rv = _r(rng, (C,), dtype), _r(rng, (C,), dtype, 0.5, 2)
    assert_gpu_matches_cpu(
        "batchnorm_forward", [x, w, b, rm, rv, training, 0.2, 1e-3], dtype=dtype, inplace=(3, 4)
    )
    _, m, r = _C.batchnorm_forward(x, w, b, rm.copy(), rv.copy(), training, 0.2, 1e-3)
    assert_gpu_matches_cpu(
        "batchnorm_backward", [_r(rng, x.shape, dtype), x, w, m, r, training], dtype=dtype
    )
    if len(shape) == 4 and shape[2] >= 2 and shape[3] >= 2:
        assert_gpu_matches_cpu(
            "batchnorm_relu_maxpool2d_forward",
            [x - 3, w, b, rm, rv, training, 0.2, 1e-3],
            dtype=dtype,
            inplace=(3, 4),
        )
        y, m, s, arg = _C.batchnorm_relu_maxpool2d_forward(
            x - 3, w, b, rm.copy(), rv.copy(), training, 0.2, 1e-3
        )
        assert_gpu_matches_cpu(
            "batchnorm_relu_maxpool2d_backward",
            [_r(rng, y.shape, dtype), arg, x - 3, w, b, m, s, training],
            dtype=dtype,
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_batchnorm_sums_over_several_blocks_per_channel(dtype, rng):
    """The two-stage batch-norm sums: a size that gets several blocks per channel by itself
    (chunks that start inside a row), many channels, (N, C) input (one value per row), one
    sample with a large plane, and with tiny chunks forced: chunks shorter than a row, blocks
    past the end of a channel (empty), the pooled sums' (n, oh, ow) walk across rows and planes."""
    from pydlk._cuda import norm

    for shape in [(8, 5, 33, 40), (2, 300, 3, 3), (64, 7), (1, 2, 91, 97)]:
        _bn_case(rng, shape, dtype, True)
    _bn_case(rng, (8, 5, 33, 40), dtype, False)
    assert norm._parts(5, 8 * 33 * 40) > 1 and norm._parts(64, 256 * 64 * 64) == 16
    saved = norm._PART_BLOCKS, norm._MIN_CHUNK
    try:
        for blocks, chunk, shapes in [
            (64, 7, [(3, 4, 5, 6), (5, 3, 7, 19), (9, 2)]),
            (4096, 1, [(2, 3, 4, 5), (9, 2)]),
        ]:
            norm._PART_BLOCKS, norm._MIN_CHUNK = blocks, chunk
            for shape in shapes:
                _bn_case(rng, shape, dtype, True)
    finally:
        norm._PART_BLOCKS, norm._MIN_CHUNK = saved


@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_adaptive_avg_pool_large_windows(dtype, rng):
    """Global average pooling of large planes and other windows of 32 values or more (a warp per
    output: full-width windows as one span, others walked row by row), the sizes on either side
    of that threshold, and windows larger than their input (H < OH); the backward gathers a
    thread per input value."""
    from pydlk._cuda import pool2d

    cases = [
        ((2, 3, 64, 70), (1, 1)),
        ((2, 5, 40, 50), (2, 3)),
        ((3, 2, 37, 9), (2, 1)),
        ((2, 3, 8, 4), (1, 1)),
        ((2, 3, 5, 6), (1, 1)),
        ((1, 2, 3, 4), (7, 9)),
        ((0, 2, 9, 9), (1, 1)),
    ]
    assert -(-8 // 1) * -(-4 // 1) >= pool2d._WARP_WINDOW > 5 * 6
    for shape, out in cases:
        x = _r(rng, shape, dtype)
        assert_gpu_matches_cpu("adaptive_avg_pool2d_forward", [x, out], dtype=dtype)
        dy = _r(rng, (shape[0], shape[1], *out), dtype)
        assert_gpu_matches_cpu("adaptive_avg_pool2d_backward", [dy, shape[2:]], dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_softmax_one_thread_per_slice(dtype, rng):
    """Softmax and log_softmax along a dim with stride > 1: a thread per slice when the slices
    interleave (inner >= 32, or few values per slice), a block per slice otherwise; NaN and
    -inf rows as the CPU's."""
    from pydlk._cuda._common import by_column

    cases = [((3, 7, 5, 9), 1), ((2, 300, 40), 1), ((5, 40), 0), ((4, 10, 3), 1), ((2, 300, 3), 1)]
    assert [by_column(s[d], int(np.prod(s[d + 1 :]))) for s, d in cases] == [1, 1, 1, 1, 0]
    for shape, dim in cases:
        x = _r(rng, shape, dtype, -5, 5)
        if shape == (3, 7, 5, 9):
            x[1, :, 2, 3] = -np.inf
            x[2, 4, 0, 0] = np.nan
        for log in (False, True):
            assert_gpu_matches_cpu("softmax_forward", [x, dim, log], dtype=dtype)
            y = _C.softmax_forward(x, dim, log)
            dy = _r(rng, shape, dtype)
            assert_gpu_matches_cpu("softmax_backward", [dy, y, dim, log], dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_gpu_cross_entropy_one_thread_per_sample(smoothing, dtype, rng):
    """Cross-entropy over (N, C, d1, d2) with many spatial positions (a thread per sample) and
    over many classes with few positions (a block per sample): class and probability targets,
    weights, ignored targets, the backward with per-sample and scalar upstream gradients."""
    for shape in [(3, 6, 7, 9), (2, 300, 3)]:
        x = _r(rng, shape, dtype, -3, 3)
        per = (shape[0], *shape[2:])
        t = rng.integers(0, shape[1], per)
        t.flat[::5] = -100
        prob = _r(rng, shape, dtype, 0, 1)
        for weight in (None, _r(rng, (shape[1],), dtype, 0.1, 2)):
            for target in (t, prob):
                args = [x, target, weight, -100, smoothing]
                assert_gpu_matches_cpu("cross_entropy_forward", args, dtype=dtype)
                _, lse, _, _ = _C.cross_entropy_forward(*args)
                g = _r(rng, per, dtype)
                for up, scale in ((g, 1.0), (None, 0.25)):
                    assert_gpu_matches_cpu(
                        "cross_entropy_backward",
                        [up, scale, x, lse, target, weight, -100, smoothing],
                        dtype=dtype,
                    )
