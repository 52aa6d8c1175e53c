"""How the GPU kernels are launched: the row launcher's grid limit (everywhere), and cuDNN's
stream and buffer pointers (a fake cuDNN frontend on the host emulation:
tools/run_cuda_tests_on_host.py runs this file's ``test_gpu_*`` tests)."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip

_cupy = cupy_or_skip


def test_launch_rows_refuses_more_rows_than_a_grid_holds():
    """CuPy hands the block count to the driver modulo 2^32: past CUDA's limit the rows beyond
    it would silently stay uncomputed, so the launcher raises first (no GPU needed)."""
    from pydlk._cuda._common import MAX_ROWS, launch_rows

    calls = []
    launch_rows(lambda *a: calls.append(a), MAX_ROWS, (), op="softmax")
    assert calls == [((MAX_ROWS,), (256,), ())]
    with pytest.raises(ValueError, match=r"softmax: 2147483648 rows .* exceed CUDA's grid limit"):
        launch_rows(lambda *a: calls.append(a), MAX_ROWS + 1, (), op="softmax")
    assert len(calls) == 1


class _FakeCudnn:
    """Records how pydlk._cuda.conv2d drives the cuDNN frontend (host emulation only)."""

    class data_type:
        FLOAT, DOUBLE = "float", "double"

    class heur_mode:
        A, FALLBACK = "A", "FALLBACK"

    def __init__(self):
        self.calls = []

    def create_handle(self):
        self.calls.append(("create_handle",))
        return 1000 + len(self.calls)

    def set_stream(self, handle, stream):
        self.calls.append(("set_stream", handle, stream))

    def pygraph(self, handle, **kw):
        return _FakeGraph(self, handle)


class _FakeNode:
    def __getattr__(self, name):  # set_output, set_dim, set_stride, set_data_type: chained
        return lambda *a, **k: self


class _FakeGraph:
    def __init__(self, owner, handle):
        self.owner, self.handle = owner, handle

    def __getattr__(self, name):  # tensor, conv_*: nodes; validate, build_*, ...: nothing
        return lambda *a, **k: _FakeNode() if name in ("tensor", "conv_fprop") else None

    def get_workspace_size(self):
        return 0

    def execute(self, buffers, workspace, handle=None):
        self.owner.calls.append(("execute", handle, list(buffers.values()), workspace))


def test_gpu_conv2d_cudnn_runs_on_the_current_stream_with_raw_pointers(rng):
    """cuDNN launches on its handle's stream: conv2d sets it to CuPy's current stream before
    each call and hands raw device pointers (a DLPack export would order the legacy stream),
    one handle per device. A fake frontend records the calls (no cuDNN without a GPU)."""
    cp = _cupy()
    if not getattr(cp, "__host_emulator__", False):
        pytest.skip("drives a fake cuDNN frontend; on a GPU the conv tests run the real one")
    from pydlk._cuda import conv2d as cv

    saved = dict(cv._state)
    fake = _FakeCudnn()
    cv._state.update(cudnn=fake, graphs={}, failed=set(), handles={})
    try:
        x = cp.asarray(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
        w = cp.asarray(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
        side = cp.cuda.Stream(non_blocking=True)
        with side:
            y = cv.conv2d_forward(x, w, None, 1, 1)
            cv.conv2d_forward(x, w, None, 1, 1)
        assert cv.conv2d_backend() == "cudnn"
        made, (s1, h1, p1), (e1, h2, b1, ws1), (s2, h3, p2), _ = fake.calls
        assert made == ("create_handle",) and (s1, s2, e1) == ("set_stream",) * 2 + ("execute",)
        assert h1 == h2 == h3 and p1 == p2 == side.ptr != 0
        assert all(type(p) is int for p in b1 + [ws1])
        assert sorted(b1) == sorted([x.data.ptr, w.data.ptr, y.data.ptr])
    finally:
        cv._state.clear()
        cv._state.update(saved)


def test_gpu_cudnn_enabled_false_runs_im2col(rng):
    """pydlk.backends.cudnn.enabled = False: convolutions on im2col + cuBLAS, cuDNN untouched."""
    cp = _cupy()
    if not getattr(cp, "__host_emulator__", False):
        pytest.skip("drives a fake cuDNN frontend; on a GPU the conv tests run the real one")
    import pydlk
    from pydlk._cuda import conv2d as cv

    saved = dict(cv._state)
    fake = _FakeCudnn()
    cv._state.update(cudnn=fake, graphs={}, failed=set(), handles={})
    pydlk.backends.cudnn.enabled = False
    try:
        x = cp.asarray(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
        w = cp.asarray(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
        cv.conv2d_forward(x, w, None, 1, 1)
        assert cv.conv2d_backend() == "im2col" and fake.calls == []
    finally:
        pydlk.backends.cudnn.enabled = True
        cv._state.clear()
        cv._state.update(saved)
