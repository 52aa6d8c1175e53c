"""Benchmarks: pydlk against plain NumPy and torch (when installed) on the same work, one run.

Run with ``pytest bench`` (see README). Each benchmark records the thread count; torch is set to
the same count. Outputs and inputs are allocated outside the timed call.
"""

import numpy as np
import pytest

import pydlk


def pytest_configure(config):
    threads = pydlk.get_num_threads()
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _record_threads(request):
    bm = request.node.funcargs.get("benchmark")
    if bm is not None:
        bm.extra_info["threads"] = pydlk.get_num_threads()


@pytest.fixture
def record_bandwidth(benchmark):
    """``record_bandwidth(nbytes, key="GB/s")`` records ``nbytes`` over the median time, in GB/s,
    in the benchmark's extra_info (call it after ``benchmark(...)``)."""

    def record(nbytes, key="GB/s"):
        benchmark.extra_info[key] = round(nbytes / benchmark.stats.stats.median / 1e9, 1)

    return record


@pytest.fixture
def rng():
    return np.random.default_rng(0)
