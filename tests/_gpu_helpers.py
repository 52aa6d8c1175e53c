"""Helpers of the GPU tests (tests/test_cuda_*.py): CuPy with a device, or a skip; host copies."""

import numpy as np
import pytest

import pydlk


def cupy_or_skip():
    """The cupy module when CuPy imports and sees a CUDA device (or the host emulation of
    tools/cupy_host_emulator.py stands in for it); else the test skips."""
    cp = pytest.importorskip("cupy")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except Exception as e:  # noqa: BLE001  (no driver, no device)
        pytest.skip(f"no usable CUDA device: {e}")
    return cp


def host(a):
    """A Tensor's or array's values as a NumPy array (a CuPy array copied to the host)."""
    a = a._data if isinstance(a, pydlk.Tensor) else a
    return a.get() if hasattr(a, "get") else np.asarray(a)
