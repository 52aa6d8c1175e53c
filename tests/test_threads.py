"""One thread setting for every pool pydlk uses: pydlk.set_num_threads and threadpoolctl."""

import os
import subprocess
import sys

import numpy as np
import pytest
import threadpoolctl
from conftest import child_env

import pydlk
from pydlk import _blas


def _same_file(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def _info():
    return threadpoolctl.threadpool_info()


def _pydlk_entries():
    return [i for i in _info() if i["internal_api"] == "pydlk"]


def _numpy_blas_threads():
    """Thread counts of every BLAS in the process but pydlk's own (NumPy's)."""
    found = [
        i["num_threads"]
        for i in _info()
        if i["user_api"] == "blas" and not _same_file(i["filepath"], _blas.PATH)
    ]
    if not found:
        pytest.skip("threadpoolctl finds no BLAS besides pydlk's own")
    return found


def _own_blas_threads():
    return [i["num_threads"] for i in _info() if _same_file(i["filepath"], _blas.PATH)]


def test_pydlk_is_listed_once_by_threadpoolctl(threads):
    pytest.importorskip("torch")  # torch has a module named _C too: it must not be taken
    threads(2)
    (entry,) = _pydlk_entries()
    assert _same_file(entry["filepath"], pydlk._C.__file__)
    assert entry["user_api"] == "openmp" and entry["version"] == pydlk.__version__
    assert entry["num_threads"] == 2
    threads(1)
    assert _pydlk_entries()[0]["num_threads"] == 1


@pytest.mark.parametrize("user_api", [None, "openmp"])
def test_threadpool_limits_limits_pydlk_and_restores(threads, user_api):
    threads(2)
    with threadpoolctl.threadpool_limits(1, user_api=user_api):
        assert pydlk.get_num_threads() == 1 and pydlk.config()["num_threads"] == 1
        assert _pydlk_entries()[0]["num_threads"] == 1
    assert pydlk.get_num_threads() == 2 and pydlk.config()["num_threads"] == 2


def test_threadpool_limits_blas_leaves_pydlk_kernels(threads):
    threads(2)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert pydlk.get_num_threads() == 2
        assert set(_numpy_blas_threads()) == {1}
    assert pydlk.get_num_threads() == 2


def test_set_num_threads_sets_numpy_blas_and_keeps_pydlks_own_at_one(threads):
    threads(1)
    assert set(_numpy_blas_threads()) == {1}
    assert _own_blas_threads() == [1]
    threads(2)
    assert set(_numpy_blas_threads()) == {2}
    assert _own_blas_threads() == [1]


def test_pydlks_own_blas_goes_back_to_one_thread_before_a_kernel(threads):
    # threadpool_limits(n) sets every BLAS, pydlk's own included; inside pydlk's team it would
    # be a second pool, so each kernel puts it back to one.
    threads(2)
    x = pydlk.tensor(np.ones((2, 3, 8, 8), np.float32))
    w = pydlk.tensor(np.ones((4, 3, 3, 3), np.float32))
    with threadpoolctl.threadpool_limits(2):
        if _own_blas_threads() != [2]:
            # OpenBLAS may cap its count below the asked one (seen under a loaded machine);
            # then there is nothing for the kernel to put back
            pytest.skip(f"OpenBLAS kept {_own_blas_threads()} threads under the limit")
        y = pydlk.functional.conv2d(x, w, padding=1)
        assert _own_blas_threads() == [1]
    # 27 ones times ones in the interior, fewer at the zero-padded border
    assert float(y.numpy()[0, 0, 4, 4]) == 27.0 and float(y.numpy()[0, 0, 0, 0]) == 12.0


def _conv_ref(x, w, pad):
    """conv2d (cross-correlation, stride 1) in float64 by explicit patches."""
    n, _, h, wd = x.shape
    k = w.shape[2]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, w.shape[0], h + 2 * pad - k + 1, wd + 2 * pad - k + 1))
    for i in range(k):
        for j in range(k):
            patch = xp[:, :, i : i + out.shape[2], j : j + out.shape[3]]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j].astype(np.float64))
    return out


def test_conv_and_matmul_agree_across_thread_counts_and_with_numpy(threads):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 8, 16, 16)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    a = rng.standard_normal((96, 130)).astype(np.float32)
    b = rng.standard_normal((130, 70)).astype(np.float32)

    def run():
        y = pydlk.functional.conv2d(pydlk.tensor(x), pydlk.tensor(w), padding=1).numpy()
        return y, pydlk.matmul(pydlk.tensor(a), pydlk.tensor(b)).numpy()

    threads(2)
    y2, m2 = run()
    with threadpoolctl.threadpool_limits(1):
        y1, m1 = run()
    np.testing.assert_allclose(y1, y2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m1, m2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y1, _conv_ref(x, w, 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(m1, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


def _fresh(code, **env):
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env=child_env(**env),
        cwd=os.path.dirname(os.__file__),
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_threadpool_limits_one_starts_no_openmp_worker():
    # In a fresh process no OpenMP worker exists yet: under threadpool_limits(1) a conv and a
    # matmul must not start one; the same conv after the limit is lifted starts pydlk's team.
    code = """
import os
import numpy as np
import pydlk
import threadpoolctl
count = lambda: len(os.listdir('/proc/self/task'))
x = pydlk.tensor(np.ones((8, 16, 32, 32), np.float32))
w = pydlk.tensor(np.ones((32, 16, 3, 3), np.float32))
a = pydlk.tensor(np.ones((256, 256), np.float32))
before = count()
with threadpoolctl.threadpool_limits(1):
    pydlk.functional.conv2d(x, w, padding=1)
    pydlk.matmul(a, a)
    inside = pydlk.get_num_threads()
during = count()
pydlk.functional.conv2d(x, w, padding=1)
print(before, during, count(), inside, pydlk.get_num_threads())
"""
    before, during, after, inside, restored = map(int, _fresh(code, OMP_NUM_THREADS="2"))
    assert (inside, restored) == (1, 2)
    assert during == before
    assert after == before + 1  # one OpenMP worker joins the calling thread


def test_omp_num_threads_sets_every_pool_at_start():
    code = """
import os
import threadpoolctl
import pydlk
from pydlk import _blas
same = lambda p: os.path.realpath(p) == os.path.realpath(_blas.PATH)
info = threadpoolctl.threadpool_info()
print(pydlk.get_num_threads())
print(*[i["num_threads"] for i in info if i["internal_api"] == "pydlk"])
print(*[i["num_threads"] for i in info if i["user_api"] == "blas" and not same(i["filepath"])])
"""
    out = _fresh(code, OMP_NUM_THREADS="1")
    assert out[0] == "1" and out[1] == "1" and set(out[2:]) <= {"1"}
