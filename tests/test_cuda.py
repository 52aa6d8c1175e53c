"""The CuPy path: the same Python code on GPU arrays. Skips cleanly without CuPy or a GPU."""

import numpy as np
import pytest

import pydlk
import pydlk.functional as F


def _cupy():
    cp = pytest.importorskip("cupy")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except Exception as e:  # no driver
        pytest.skip(f"no usable CUDA device: {e}")
    return cp


def test_linear_and_autograd_on_gpu_match_cpu(rng):
    cp = _cupy()
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in [(8, 5), (3, 5), (3,)])
    gx, gw, gb = (pydlk.tensor(cp.asarray(a), requires_grad=True) for a in (x, w, b))
    y = F.linear(gx, gw, gb)
    assert y.device == "cuda:0"
    (y * y).sum().backward()
    cx, cw, cb = (pydlk.tensor(a, requires_grad=True) for a in (x, w, b))
    yc = F.linear(cx, cw, cb)
    (yc * yc).sum().backward()
    np.testing.assert_allclose(np.asarray(y), np.asarray(yc), rtol=1e-5, atol=1e-5)
    for g, c in ((gx, cx), (gw, cw), (gb, cb)):
        np.testing.assert_allclose(cp.asnumpy(g.grad), c.grad, rtol=1e-4, atol=1e-4)


def test_ops_without_a_gpu_kernel_say_so():
    cp = _cupy()
    from pydlk import _cuda

    with pytest.raises(NotImplementedError, match="no CUDA"):
        _cuda.set_num_threads  # CPU-only (OpenMP): no GPU counterpart
    assert cp is not None


def test_cpu_path_never_imports_cupy():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, pydlk, pydlk.functional as F\n"
        "F.linear(np.ones((2, 3), np.float32), np.ones((4, 3), np.float32))\n"
        "assert 'cupy' not in sys.modules, 'cupy was imported'\n"
    )
    import os

    from conftest import child_env

    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=os.path.dirname(os.__file__),
    )  # not the checkout: it shadows pydlk
    assert r.returncode == 0, r.stderr
