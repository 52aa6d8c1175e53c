"""pydlk.save / pydlk.load: nested structures without pickle, atomic writes, safetensors."""
import json
import os
import zipfile

import numpy as np
import pytest

import pydlk
from pydlk import nn
from pydlk import serialization


def test_nested_round_trip(tmp_path):
    obj = {
        "model": {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(2)},
        "optimizer": {"state": {0: {"step": 3, "exp_avg": np.ones(4, np.float32)}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1],
                                        "nesterov": False, "name": None}]},
        "epoch": 7, "best": float("inf"), "note": "ünïcode", "t": pydlk.tensor([1.0, 2.0]),
        "scalar": np.float32(1.5), "ints": np.arange(3),
        "rng": pydlk.get_rng_state(),
    }
    path = tmp_path / "ckpt.npz"
    pydlk.save(obj, path)
    back = pydlk.load(path)
    np.testing.assert_array_equal(back["model"]["w"], obj["model"]["w"])
    assert back["model"]["w"].dtype == np.float32 and back["model"]["b"].dtype == np.float64
    st = back["optimizer"]["state"]
    assert list(st.keys()) == [0] and st[0]["step"] == 3
    g = back["optimizer"]["param_groups"][0]
    assert g["betas"] == (0.9, 0.999) and g["params"] == [0, 1] and g["name"] is None
    assert g["nesterov"] is False
    assert back["epoch"] == 7 and back["best"] == float("inf") and back["note"] == "ünïcode"
    assert isinstance(back["t"], pydlk.Tensor)
    np.testing.assert_array_equal(back["t"].data, [1, 2])
    assert back["scalar"] == np.float32(1.5) and back["scalar"].dtype == np.float32
    np.testing.assert_array_equal(back["ints"], [0, 1, 2])
    # the RNG state restores the streams
    pydlk.set_rng_state(back["rng"])
    a = pydlk._random.default_generator.numpy.random(3)
    pydlk.set_rng_state(obj["rng"])
    b = pydlk._random.default_generator.numpy.random(3)
    np.testing.assert_array_equal(a, b)


def test_no_pickle_inside(tmp_path):
    path = tmp_path / "c.npz"
    pydlk.save({"a": [1, {"b": np.ones(2)}]}, path)
    with np.load(path, allow_pickle=False) as z:  # would raise on an object array
        meta = json.loads(bytes(z["__structure__"]).decode())
    assert meta["format"] == "pydlk-checkpoint"
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["__structure__.npy", "a0.npy"]


def test_refuses_unsupported(tmp_path):
    with pytest.raises(TypeError, match="object"):
        pydlk.save({"x": object()}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="pickle"):
        pydlk.save({"x": np.array([{}], dtype=object)}, tmp_path / "x.npz")
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_model_state_dict_round_trip(tmp_path):
    pydlk.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 5), nn.LSTM(5, 3) if False else nn.Linear(5, 2))
    path = tmp_path / "m.npz"
    pydlk.save(m.state_dict(), path)
    pydlk.manual_seed(1)
    m2 = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 2))
    m2.load_state_dict(pydlk.load(path))
    for (k, a), (k2, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(a, b)


def test_atomic_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    pydlk.save({"v": np.ones(3)}, path)
    before = path.read_bytes()
    real = serialization._write_npz

    def crashing(f, obj):
        real(f, obj)
        f.write(b"partial")
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(serialization, "_write_npz", crashing)
    with pytest.raises(RuntimeError, match="simulated"):
        pydlk.save({"v": np.zeros(3)}, path)
    assert path.read_bytes() == before
    np.testing.assert_array_equal(pydlk.load(path)["v"], 1)
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]  # no temporary left behind


def test_safetensors_missing_gives_clear_error(tmp_path, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_st(name, *a, **k):
        if name.startswith("safetensors"):
            raise ImportError("no")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_st)
    with pytest.raises(ImportError, match="safetensors"):
        pydlk.save({"w": np.ones(2)}, tmp_path / "w.safetensors")


def test_safetensors_round_trip(tmp_path):
    pytest.importorskip("safetensors")
    pydlk.manual_seed(0)
    m = nn.Linear(3, 2)
    path = tmp_path / "m.safetensors"
    pydlk.save(m.state_dict(), path)
    m2 = nn.Linear(3, 2)
    m2.load_state_dict(pydlk.load(path))
    np.testing.assert_array_equal(m2.weight.data, m.weight.data)
    with pytest.raises(TypeError, match="flat"):
        pydlk.save([1, 2], tmp_path / "x.safetensors")


def test_torch_safetensors_loads_into_pydlk(tmp_path, rng):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    tl = torch.nn.LSTM(3, 4, batch_first=True)
    path = tmp_path / "torch.safetensors"
    st.save_file({**{f"mlp.{k}": v for k, v in tm.state_dict().items()},
                  **{f"lstm.{k}": v for k, v in tl.state_dict().items()}}, str(path))
    sd = pydlk.load(path)
    m = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    lstm = nn.LSTM(3, 4, batch_first=True)
    m.load_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("mlp.")})
    lstm.load_state_dict({k[5:]: v for k, v in sd.items() if k.startswith("lstm.")})
    x = rng.standard_normal((5, 6)).astype(np.float32)
    if hasattr(pydlk.functional, "relu"):
        np.testing.assert_allclose(m(pydlk.tensor(x)).data,
                                   tm(torch.from_numpy(x)).detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    xs = rng.standard_normal((2, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(lstm(pydlk.tensor(xs))[0].data,
                               tl(torch.from_numpy(xs))[0].detach().numpy(), rtol=1e-5,
                               atol=1e-6)
