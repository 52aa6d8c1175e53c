"""pydlk.cpu: torch.cpu's names for device-agnostic code (the CPU as a device, streams and events
that do nothing) and the deprecated torch.cpu.amp aliases, checked against torch.cpu."""

import inspect
import os

import numpy as np
import pytest

import pydlk
import pydlk.functional as F
from pydlk import _C


def test_device_functions():
    assert pydlk.cpu.is_available() is True and pydlk.cpu.is_initialized() is True
    assert pydlk.cpu.device_count() == 1 and pydlk.cpu.current_device() == "cpu"
    assert pydlk.cpu.set_device("cpu") is None and pydlk.cpu.synchronize() is None
    s = pydlk.cpu.current_stream()
    assert isinstance(s, pydlk.cpu.Stream) and pydlk.cpu.current_stream("cpu") is s
    with pydlk.cpu.stream(pydlk.cpu.Stream()) as ctx:
        assert isinstance(ctx, pydlk.cpu.StreamContext)
    e = s.record_event()
    assert isinstance(e, pydlk.cpu.Event) and e.query() is True
    s.wait_event(e), s.wait_stream(pydlk.cpu.Stream()), e.synchronize(), e.wait()


def test_names_and_signatures_follow_torch():
    torch = pytest.importorskip("torch")
    public = {n for n in dir(torch.cpu) if not n.startswith("_") and n[0].islower()}
    public -= {"torch", "lru_cache"}  # torch.cpu's own imports
    assert public <= set(dir(pydlk.cpu))
    for name in ["set_device", "synchronize", "current_stream", "stream"]:
        want = list(inspect.signature(getattr(torch.cpu, name)).parameters)
        assert list(inspect.signature(getattr(pydlk.cpu, name)).parameters) == want, name
    for cls in ["autocast", "GradScaler"]:
        want = list(inspect.signature(getattr(torch.cpu.amp, cls).__init__).parameters)
        got = list(inspect.signature(getattr(pydlk.cpu.amp, cls).__init__).parameters)
        assert got == want, cls


def test_capabilities_match_torch():
    torch = pytest.importorskip("torch")
    want = dict(torch.cpu.get_capabilities())
    got = pydlk.cpu.get_capabilities()
    with pytest.raises(TypeError):
        got["avx2"] = False  # immutable, as torch's
    assert set(got) == set(want)
    if not os.path.exists("/proc/cpuinfo"):
        pytest.skip("no /proc/cpuinfo here")
    flags = {k: v for k, v in want.items() if isinstance(v, bool)}
    assert {k: got[k] for k in flags} == flags
    for k in ["architecture", "num_logical_cores", "l1d_cache_size", "l2_cache_size"]:
        assert got[k] == want[k], k


@pytest.mark.skipif(not _C.bf16_supported(), reason="CPU has no AVX512_BF16")
def test_cpu_amp_autocast_is_pydlk_autocast(rng):
    x = pydlk.tensor(rng.standard_normal((8, 64)).astype(np.float32))
    w = pydlk.tensor(rng.standard_normal((16, 64)).astype(np.float32))
    with pydlk.cpu.amp.autocast():
        assert pydlk.is_autocast_enabled("cpu")
        assert pydlk.get_autocast_dtype("cpu") == pydlk.bfloat16
        y = F.linear(x, w)
    with pydlk.autocast("cpu", dtype=pydlk.bfloat16):
        want = F.linear(x, w)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(want))
    assert not pydlk.is_autocast_enabled("cpu")
    with pydlk.cpu.amp.autocast(enabled=False):
        assert not pydlk.is_autocast_enabled("cpu")


def test_cpu_amp_grad_scaler():
    p = pydlk.nn.Parameter(pydlk.tensor(np.ones(3, np.float32)))
    opt = pydlk.optim.SGD([p], lr=0.1)
    scaler = pydlk.cpu.amp.GradScaler(init_scale=4.0)
    assert scaler.get_scale() == 4.0
    scaler.scale((p * 2).sum()).backward()
    np.testing.assert_array_equal(np.asarray(p.grad), 8.0)  # scaled by 4
    scaler.step(opt)  # unscaled to 2 before the step
    scaler.update()
    np.testing.assert_allclose(np.asarray(p.detach()), 0.8)
