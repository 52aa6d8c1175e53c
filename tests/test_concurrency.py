"""Kernels called from 4 Python threads at once give the serial results (the bindings release
the GIL, so the calls really overlap), and those results are right (NumPy / torch)."""

import threading

import numpy as np
import pytest
from test_conv2d import conv2d_ref

import pydlk.functional as F


def _work(rng):
    x = rng.standard_normal((4, 3, 12, 12)).astype(np.float32)
    w = rng.standard_normal((6, 3, 3, 3)).astype(np.float32)
    a = rng.standard_normal((64, 48)).astype(np.float32)
    b = rng.standard_normal((32, 48)).astype(np.float32)
    s = rng.standard_normal((50, 70)).astype(np.float32)

    def run():
        return [
            np.asarray(F.conv2d(x, w, padding=1)),
            np.asarray(F.linear(a, b)),
            np.asarray(F.softmax(s, 1)),
            np.asarray(F.max_pool2d(x, 2)),
        ]

    def ref():
        torch = pytest.importorskip("torch")
        s64 = s.astype(np.float64)
        e = np.exp(s64 - s64.max(1, keepdims=True))
        return [
            conv2d_ref(x, w, padding=1),
            a.astype(np.float64) @ b.T.astype(np.float64),
            e / e.sum(1, keepdims=True),
            torch.nn.functional.max_pool2d(torch.tensor(x), 2).numpy(),
        ]

    return run, ref


def test_four_threads_calling_kernels_at_once_give_the_serial_results(rng, threads):
    threads(2)
    run, ref = _work(rng)
    serial = run()
    for got, want in zip(serial, ref(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    results, errors = [[] for _ in range(4)], []
    start = threading.Barrier(4)

    def worker(i):
        try:
            start.wait()
            for _ in range(25):
                results[i].append(run())
        except BaseException as e:  # reported below, not lost in the thread
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    for per_thread in results:
        assert len(per_thread) == 25
        for outs in per_thread:
            for got, want in zip(outs, serial, strict=True):
                np.testing.assert_array_equal(got, want)
