"""The device modules beside pydlk.cuda, checked against torch's: pydlk.cpu (the CPU as a device,
streams and events that do nothing, the deprecated torch.cpu.amp aliases), pydlk.mps, pydlk.xpu
and pydlk.backends.mps (devices pydlk does not have: device-selection code must run and pick
another), pydlk.backends.openmp/mkl/mkldnn and pydlk.version (what this build has)."""

import importlib.util
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


def test_devices_pydlk_does_not_have():
    assert pydlk.backends.mps.is_available() is False and pydlk.backends.mps.is_built() is False
    assert pydlk.backends.mps.is_macos_or_newer(13, 0) is False
    assert pydlk.backends.mps.is_macos13_or_newer() is False
    assert pydlk.mps.is_available() is False and pydlk.mps.device_count() == 0
    assert pydlk.xpu.is_available() is False and pydlk.xpu.device_count() == 0
    assert pydlk.xpu.is_initialized() is False
    with pytest.raises(RuntimeError, match="pydlk.mps.synchronize: pydlk has no MPS backend"):
        pydlk.mps.synchronize()
    with pytest.raises(RuntimeError, match="pydlk.xpu.current_device: pydlk has no XPU"):
        pydlk.xpu.current_device()
    with pytest.raises(RuntimeError, match="pydlk.backends.mps.get_name: pydlk has no MPS"):
        pydlk.backends.mps.get_name()
    # the usual device-selection line picks the CPU (or CUDA where CuPy sees a GPU)
    torch = pydlk
    device = (
        "cuda"
        if torch.cuda.is_available()
        else "mps"
        if torch.backends.mps.is_available()
        else "xpu"
        if torch.xpu.is_available()
        else "cpu"
    )
    assert device == ("cuda" if pydlk.cuda.is_available() else "cpu")


def test_build_queries():
    assert pydlk.backends.openmp.is_available() == (not pydlk.config()["openmp"].startswith("none"))
    assert pydlk.backends.mkl.is_available() is False
    assert pydlk.backends.mkldnn.is_available() is False
    assert pydlk.version.__version__ == pydlk.__version__
    assert pydlk.version.hip is None and pydlk.version.debug is False
    if importlib.util.find_spec("cupy") is None:
        assert pydlk.version.cuda is None
    else:
        assert pydlk.version.cuda is None or pydlk.version.cuda.count(".") == 1


def test_device_module_names_follow_torch():
    torch = pytest.importorskip("torch")
    for ours, theirs in [(pydlk.backends.mps, torch.backends.mps), (pydlk.version, torch.version)]:
        names = {n for n in dir(theirs) if not n.startswith("_") and n[0].islower()}
        names -= {"torch", "annotations"}
        assert names <= set(dir(ours)) | {"cuda"}, theirs.__name__
    for name in ["is_available", "is_built", "is_macos_or_newer", "is_macos13_or_newer"]:
        want = list(inspect.signature(getattr(torch.backends.mps, name)).parameters)
        assert list(inspect.signature(getattr(pydlk.backends.mps, name)).parameters) == want
    for mod in ["openmp", "mkl"]:
        assert callable(getattr(pydlk.backends, mod).is_available)
    assert pydlk.mps.is_available() == torch.mps.is_available()
    assert pydlk.xpu.is_available() == torch.xpu.is_available()
