"""Streaming stores (csrc/stream_store.h): row-norm kernels write outputs of at least half the
last-level cache around the cache. The results must be the same bits as with plain stores, and
right against the float64 textbook formulas; the threshold switch says and does what it claims.

The threshold is lowered to 0 here so that small tensors take the streaming path (rows of odd
lengths exercise the unaligned head and the tail of each streamed row)."""

import numpy as np
import pytest

import pydlk
import pydlk.functional as F
from pydlk import _C

NEVER = 2**62


@pytest.fixture
def restore_threshold():
    yield
    _C.set_stream_threshold(-1)


def _run(fn, arrays, threshold):
    """fn's output and the gradients of all inputs for a fixed upstream gradient."""
    _C.set_stream_threshold(threshold)
    ts = [pydlk.tensor(a).requires_grad_() for a in arrays]
    y = fn(*ts)
    dy = np.random.default_rng(7).standard_normal(y.shape).astype(y.dtype)
    y.backward(pydlk.tensor(dy))
    return [np.asarray(y.detach()).copy()] + [np.asarray(t.grad).copy() for t in ts], dy


def _layer_norm_ref(x, w, b, dy, eps):
    """float64 layer norm over the last axis and its gradients (the textbook formulas)."""
    x, w, b, dy = (a.astype(np.float64) for a in (x, w, b, dy))
    mu = x.mean(-1, keepdims=True)
    rstd = 1 / np.sqrt(x.var(-1, keepdims=True) + eps)
    xhat = (x - mu) * rstd
    g = dy * w
    D = x.shape[-1]
    dx = rstd / D * (D * g - g.sum(-1, keepdims=True) - xhat * (g * xhat).sum(-1, keepdims=True))
    axes = tuple(range(x.ndim - 1))
    return xhat * w + b, dx, (dy * xhat).sum(axes), dy.sum(axes)


@pytest.mark.parametrize("shape", [(37, 1003), (64, 256), (3, 7, 9), (2, 4096), (5, 4097)])
def test_layer_norm_streamed_equals_plain_and_reference(rng, shape, restore_threshold):
    # (5, 4097): rows longer than the stream buffer are written in place on both settings.
    D = shape[-1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    w = rng.standard_normal(D).astype(np.float32)
    b = rng.standard_normal(D).astype(np.float32)

    def fn(x, w, b):
        return F.layer_norm(x, (D,), w, b, 1e-5)

    plain, dy = _run(fn, [x, w, b], NEVER)
    streamed, _ = _run(fn, [x, w, b], 0)
    for p, s in zip(plain, streamed):
        np.testing.assert_array_equal(s, p)
    for got, want in zip(streamed, _layer_norm_ref(x, w, b, dy, 1e-5)):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * np.abs(want).max())


@pytest.mark.parametrize("shift", [0, 4, 12, 15])
def test_layer_norm_out_at_any_alignment(rng, shift, restore_threshold):
    """An out= that starts `shift` floats past a 64-byte line (np.empty_like gives 16-byte
    alignment only): rows stream whole lines and write the shared partial lines plainly; the
    values are the plain path's bits."""
    M, D = 6, 200
    x = rng.standard_normal((M, D)).astype(np.float32)
    w, b = rng.standard_normal(D).astype(np.float32), rng.standard_normal(D).astype(np.float32)
    _C.set_stream_threshold(NEVER)
    want = _C.layernorm_forward(x, w, b, 1e-5)[0]
    buf = np.zeros(M * D + 32, np.float32)
    start = (-buf.ctypes.data % 64) // 4 + shift
    out = buf[start : start + M * D].reshape(M, D)
    _C.set_stream_threshold(0)
    _C.layernorm_forward(x, w, b, 1e-5, out)
    np.testing.assert_array_equal(out, want)
    assert not buf[:start].any() and not buf[start + M * D :].any()  # nothing outside out


@pytest.mark.parametrize("shape,groups", [((4, 6, 5, 7), 3), ((2, 8, 16, 16), 2)])
def test_group_norm_streamed_equals_plain(rng, shape, groups, restore_threshold):
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(shape[1]).astype(np.float32)
    b = rng.standard_normal(shape[1]).astype(np.float32)

    def fn(x, w, b):
        return F.group_norm(x, groups, w, b, 1e-5)

    plain, _ = _run(fn, [x, w, b], NEVER)
    streamed, _ = _run(fn, [x, w, b], 0)
    for p, s in zip(plain, streamed):
        np.testing.assert_array_equal(s, p)


def _llc_from_sysfs():
    """The largest size among the highest-level caches of CPU 0, as Linux reports them."""
    from pathlib import Path

    best = (0, 0)
    for d in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            level = int((d / "level").read_text())
            size = (d / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        mult = {"K": 1 << 10, "M": 1 << 20}.get(size[-1], 1)
        value = int(size.rstrip("KM")) * mult
        if value and level >= best[0]:
            best = (level, value)
    return best[1]


def test_threshold_default_switch_and_errors(restore_threshold):
    llc = _llc_from_sysfs()
    default = _C.get_stream_threshold()
    assert default == (llc // 2 if llc else 16 << 20)
    assert _C.config()["stream_threshold"] == default
    _C.set_stream_threshold(12345)
    assert _C.get_stream_threshold() == 12345
    assert _C.config()["stream_threshold"] == 12345
    _C.set_stream_threshold(-1)
    assert _C.get_stream_threshold() == default
    for bad in (-2, 2**63, 1.5, "1", None):
        with pytest.raises((ValueError, TypeError), match="set_stream_threshold"):
            _C.set_stream_threshold(bad)
    assert _C.get_stream_threshold() == default
