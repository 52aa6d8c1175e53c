"""Tensors where torch has Tensors: state_dict values, Module.to's device arguments, and
exchanging model weights with torch."""
import numpy as np
import pytest

import pydlk
from pydlk import nn


def _mlp():
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))


# ----------------------------------------------------------------------------- state_dict

def test_state_dict_values_are_detached_tensors_sharing_memory():
    m = _mlp()
    sd = m.state_dict()
    for k, v in sd.items():
        assert isinstance(v, pydlk.Tensor), k
        assert not v.requires_grad
    # sharing memory: a write through the state_dict value shows in the parameter
    w = sd["0.weight"]
    with pydlk.no_grad():
        w[0, 0] = 123.0
    assert m[0].weight.data[0, 0] == 123.0
    # clone() snapshots: later changes to the parameter leave it alone
    snap = {k: v.clone() for k, v in sd.items()}
    with pydlk.no_grad():
        m[0].weight[...] = 0.0
    assert snap["0.weight"].numpy()[0, 0] == 123.0
    assert not np.shares_memory(np.asarray(snap["0.weight"]), m[0].weight.data)


def test_state_dict_keep_vars_gives_the_parameters():
    m = _mlp()
    sd = m.state_dict(keep_vars=True)
    assert sd["0.weight"] is m[0].weight and sd["0.weight"].requires_grad


def test_load_state_dict_accepts_tensors_arrays_and_torch_tensors():
    torch = pytest.importorskip("torch")
    src, dst = _mlp(), _mlp()
    sd = src.state_dict()
    for conv in (lambda v: v.clone(), lambda v: np.asarray(v).copy(),
                 lambda v: torch.from_numpy(np.asarray(v).copy())):
        pydlk.manual_seed(0)
        dst = _mlp()
        w_before = dst[0].weight.data
        dst.load_state_dict({k: conv(v) for k, v in sd.items()})
        assert dst[0].weight.data is w_before  # copied in place
        for k, v in dst.state_dict().items():
            np.testing.assert_array_equal(np.asarray(v), np.asarray(sd[k]))


def test_save_load_round_trip_gives_tensors(tmp_path):
    m = _mlp()
    path = tmp_path / "m.npz"
    pydlk.save(m.state_dict(), path)
    back = pydlk.load(path)
    for k, v in m.state_dict().items():
        assert isinstance(back[k], pydlk.Tensor)
        np.testing.assert_array_equal(back[k].numpy(), v.numpy())
    m2 = _mlp()
    m2.load_state_dict(back)
    x = pydlk.randn(5, 4)
    np.testing.assert_array_equal(m2(x).detach().numpy(), m(x).detach().numpy())


def _torch_mlp(torch):
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))


def test_weights_exchange_with_torch_both_ways():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    # pydlk -> torch
    m = _mlp()
    t = _torch_mlp(torch)
    t.load_state_dict({k: torch.from_numpy(np.asarray(v).copy())
                       for k, v in m.state_dict().items()})
    with torch.no_grad():
        ref = t(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(m(pydlk.tensor(x)).detach().numpy(), ref, rtol=1e-6, atol=1e-6)
    # torch -> pydlk (the torch tensors straight, and via numpy)
    torch.manual_seed(3)
    t2 = _torch_mlp(torch)
    with torch.no_grad():
        ref2 = t2(torch.from_numpy(x)).numpy()
    for sd in (t2.state_dict(), {k: pydlk.tensor(v.numpy()) for k, v in t2.state_dict().items()}):
        m2 = _mlp()
        m2.load_state_dict(sd)
        np.testing.assert_allclose(m2(pydlk.tensor(x)).detach().numpy(), ref2, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- Module.to

def test_module_to_cpu_forms_return_self():
    m = _mlp()
    w = m[0].weight.data
    for arg in (pydlk.device("cpu"), "cpu", "cpu:0", pydlk.device("cpu", 0)):
        assert m.to(arg) is m
        assert m[0].weight.data is w  # nothing moved, nothing copied
    assert m.to(device="cpu") is m and m.cpu() is m


def test_module_to_dtype_and_tensor_forms():
    m = _mlp()
    assert m.to(pydlk.float64) is m
    assert m[0].weight.dtype == np.float64 and m[2].bias.dtype == np.float64
    m.to("cpu", pydlk.float32)
    assert m[0].weight.dtype == np.float32
    m.to(pydlk.zeros(1, dtype=pydlk.float64))
    assert m[0].weight.dtype == np.float64
    m.to(device=pydlk.device("cpu"), dtype=pydlk.float32)
    assert m[0].weight.dtype == np.float32
    with pytest.raises(TypeError, match="floating point"):
        m.to(pydlk.int64)
    with pytest.raises(TypeError, match="to: expected a device, a dtype or a Tensor"):
        m.to("xpu")


@pytest.mark.skipif(pydlk.cuda.is_available(), reason="checks the error without a GPU")
def test_module_to_cuda_without_gpu_raises_clearly():
    m = _mlp()
    for arg in ("cuda", "cuda:0", pydlk.device("cuda", 1)):
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            m.to(arg)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        m.cuda()
    assert m[0].weight.device == "cpu"  # left where it was
