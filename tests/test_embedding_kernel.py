"""The kernels' embedding backward (csrc/embedding.cpp, ``_C.embedding_backward``): against a
per-row loop written here and torch 2.13's embedding gradient (repeated indices accumulate,
padding_idx and scale_grad_by_freq handled around it), both dtypes, wide rows split over the
threads, errors; the GPU counterpart against it."""

import numpy as np
import pytest

import pydlk
import pydlk.functional as F
from pydlk import _C

torch = pytest.importorskip("torch")


def _loop(dy, idx, v):
    dw = np.zeros((v, dy.shape[1]))
    for i, j in enumerate(idx):
        dw[j] += dy[i]
    return dw


@pytest.mark.parametrize(
    "n, d, v", [(0, 3, 4), (5, 1, 3), (40, 7, 6), (300, 256, 50), (64, 1000, 3)]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_is_the_row_loop(rng, n, d, v, dtype):
    dy = rng.standard_normal((n, d)).astype(dtype)
    idx = rng.integers(0, v, n)
    dw = _C.embedding_backward(dy, idx, v)
    assert dw.dtype == dtype and dw.shape == (v, d)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(dw, _loop(dy, idx, v), rtol=tol, atol=tol)


@pytest.mark.parametrize("padding_idx, freq", [(None, False), (2, False), (None, True), (0, True)])
def test_embedding_gradient_matches_torch(rng, padding_idx, freq):
    w = rng.standard_normal((7, 5))
    idx = rng.integers(0, 7, (4, 6))
    dy = rng.standard_normal((4, 6, 5))
    pw = pydlk.tensor(w, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    F.embedding(pydlk.tensor(idx), pw, padding_idx=padding_idx, scale_grad_by_freq=freq).backward(
        pydlk.tensor(dy)
    )
    torch.nn.functional.embedding(
        torch.tensor(idx), tw, padding_idx=padding_idx, scale_grad_by_freq=freq
    ).backward(torch.tensor(dy))
    np.testing.assert_allclose(pw.grad.numpy(), tw.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_kernel_errors_name_the_op_and_argument():
    dy = np.ones((3, 2))
    with pytest.raises(ValueError, match="embedding_backward: index 5 is out of range for 4"):
        _C.embedding_backward(dy, np.array([0, 5, 1]), 4)
    with pytest.raises(ValueError, match="embedding_backward: index -1 is out of range"):
        _C.embedding_backward(dy, np.array([0, -1, 1]), 4)
    with pytest.raises(ValueError, match="indices must hold one index per row of grad_output"):
        _C.embedding_backward(dy, np.array([0, 1]), 4)
    with pytest.raises(TypeError, match="embedding_backward: indices must be a C-contiguous int64"):
        _C.embedding_backward(dy, np.array([0, 1, 2], np.int32), 4)
    with pytest.raises(ValueError, match="num_weights must be in"):
        _C.embedding_backward(dy, np.array([0, 1, 2]), -1)
    with pytest.raises(ValueError, match="grad_output must be 2-D"):
        _C.embedding_backward(np.ones(3), np.array([0, 1, 2]), 4)


def test_gpu_counterpart_matches_the_cpu_kernel(rng):
    from _gpu_helpers import cupy_or_skip, host

    cp = cupy_or_skip()
    from pydlk import _cuda

    dy = rng.standard_normal((30, 8)).astype(np.float32)
    idx = rng.integers(0, 5, 30)
    got = _cuda.embedding_backward(cp.asarray(dy), cp.asarray(idx), 5)
    np.testing.assert_allclose(host(got), _C.embedding_backward(dy, idx, 5), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="out of range"):
        _cuda.embedding_backward(cp.asarray(dy), cp.asarray(idx + 5), 5)
