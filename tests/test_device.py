"""pydlk.device, Tensor.device, .to(device), pydlk.cuda and pydlk.accelerator against torch."""

import importlib.util
import pickle
import sys

import numpy as np
import pytest

import pydlk

torch = pytest.importorskip("torch")

SPECS = [
    ("cpu",),
    ("cuda",),
    ("cuda:0",),
    ("cuda:1",),
    ("cuda", 1),
    ("cpu", 0),
    ("cpu:0",),
    ("cuda", 0),
    ("cuda:12",),
]
HAS_CUPY = importlib.util.find_spec("cupy") is not None


@pytest.mark.parametrize("spec", SPECS)
def test_type_index_str_repr_match_torch(spec):
    d, t = pydlk.device(*spec), torch.device(*spec)
    assert (d.type, d.index, str(d), repr(d)) == (t.type, t.index, str(t), repr(t))
    assert repr(pydlk.device(d)) == repr(torch.device(t))


def test_equality_between_devices_matches_torch():
    ds = [pydlk.device(*s) for s in SPECS]
    ts = [torch.device(*s) for s in SPECS]
    for a, ta in zip(ds, ts):
        for b, tb in zip(ds, ts):
            assert (a == b) == (ta == tb), (a, b)
            assert (a != b) == (ta != tb), (a, b)
            if a == b:
                assert hash(a) == hash(b)
    assert len({pydlk.device("cuda:0"), pydlk.device("cuda", 0), pydlk.device("cuda")}) == 2
    assert (pydlk.device("cpu") == 3) == (torch.device("cpu") == 3)


def test_string_comparison_parses_the_string():
    # torch answers False for any string; pydlk parses the string and compares devices,
    # so it agrees with torch.device(s) == torch.device(string).
    for spec in SPECS:
        for s in ("cpu", "cuda", "cuda:0", "cuda:1", "cpu:0"):
            assert (pydlk.device(*spec) == s) == (torch.device(*spec) == torch.device(s))
            assert (s == pydlk.device(*spec)) == (pydlk.device(*spec) == s)
    assert pydlk.device("cpu") != "tpu" and pydlk.device("cpu") != "cuda:x"
    assert {pydlk.device("cpu"): 1}["cpu"] == 1  # hash agrees with the equal string


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cuda:-1", "", "cuda:", "cuda:1:2"])
def test_invalid_strings_raise_like_torch(bad):
    with pytest.raises(RuntimeError):
        torch.device(bad)
    with pytest.raises(RuntimeError, match="device"):
        pydlk.device(bad)


def test_index_given_twice_or_bad_types():
    with pytest.raises(RuntimeError, match="must not include an index"):
        pydlk.device("cuda:0", 1)
    with pytest.raises(RuntimeError):
        pydlk.device("cuda", -1)
    with pytest.raises(TypeError, match="device"):
        pydlk.device(1.5)


def test_an_int_is_a_cuda_index():
    # torch reads an int as an index of the current accelerator (and refuses one on a CPU
    # build); CUDA is pydlk's only accelerator.
    assert pydlk.device(3) == pydlk.device("cuda", 3)
    assert repr(pydlk.device(3)) == "device(type='cuda', index=3)"


def test_device_is_immutable_and_pickles():
    d = pydlk.device("cuda", 2)
    with pytest.raises(AttributeError):
        d.index = 3
    assert pickle.loads(pickle.dumps(d)) == d


def test_tensor_device_and_to():
    t = pydlk.tensor([1.0, 2.0])
    assert isinstance(t.device, pydlk.device) and t.device == pydlk.device("cpu")
    assert t.device.type == torch.tensor([1.0]).device.type
    assert "device" not in repr(t)
    assert t.to("cpu") is t and t.to(pydlk.device("cpu")) is t and t.cpu() is t
    for args in [(np.float64,), ("cpu", np.float64), (pydlk.device("cpu"), np.float64)]:
        u = t.to(*args)
        assert u.dtype == np.float64 and u.device == pydlk.device("cpu")
        np.testing.assert_array_equal(u.numpy(), [1.0, 2.0])
    assert t.to(device=pydlk.device("cpu"), dtype=np.float64).dtype == np.float64
    assert t.to(pydlk.tensor([1], dtype=np.int64)).dtype == np.int64


@pytest.mark.skipif(HAS_CUPY, reason="checks the answers of a machine without CuPy")
def test_cpu_only_machine_answers_honestly_and_never_imports_cupy():
    assert pydlk.cuda.is_available() is False and torch.cuda.is_available() is False
    assert pydlk.cuda.device_count() == 0 == torch.cuda.device_count()
    assert pydlk.cuda.is_initialized() is False
    assert pydlk.accelerator.is_available() is torch.accelerator.is_available()
    assert pydlk.accelerator.current_accelerator() is None
    assert torch.accelerator.current_accelerator() is None
    assert pydlk.accelerator.device_count() == torch.accelerator.device_count() == 0
    for f in (pydlk.cuda.current_device, pydlk.cuda.synchronize, pydlk.cuda.get_device_name):
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            f()
    with pytest.raises(RuntimeError, match="none is available"):
        pydlk.accelerator.current_device_index()
    with pytest.raises(RuntimeError, match="CuPy"):
        pydlk.tensor([1.0]).to("cuda")
    with pytest.raises(RuntimeError, match="CuPy"):
        pydlk.tensor([1.0]).cuda()
    assert "cupy" not in sys.modules


@pytest.mark.skipif(not HAS_CUPY, reason="CuPy is not installed")
def test_gpu_queries_agree_with_cupy():
    import cupy

    n = cupy.cuda.runtime.getDeviceCount()
    assert pydlk.cuda.device_count() == n and pydlk.cuda.is_available() == (n > 0)
    if n:
        assert pydlk.accelerator.current_accelerator() == pydlk.device("cuda")
        assert pydlk.cuda.current_device() == cupy.cuda.runtime.getDevice()
        assert isinstance(pydlk.cuda.get_device_name(), str)
        pydlk.cuda.synchronize()
        t = pydlk.tensor([1.0, 2.0]).to(pydlk.device("cuda", 0))
        assert t.device == pydlk.device("cuda:0") and t.cpu().device == pydlk.device("cpu")


def test_cuda_manual_seed_seeds_pydlks_generator():
    pydlk.cuda.manual_seed(11)
    a = pydlk.rand(5).numpy()
    pydlk.cuda.manual_seed_all(11)
    b = pydlk.rand(5).numpy()
    pydlk.manual_seed(11)
    c = pydlk.rand(5).numpy()
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(b, c)


def test_generator_matches_torchs_interface():
    g = pydlk.Generator(device="cpu")
    assert g.manual_seed(3) is g and g.initial_seed() == 3
    assert torch.Generator(device="cpu").manual_seed(3).initial_seed() == 3
