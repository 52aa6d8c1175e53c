"""pydlk.save / pydlk.load: nested structures without pickle, atomic writes, safetensors."""

import json
import os
import zipfile

import numpy as np
import pytest

import pydlk
from pydlk import nn, serialization


def test_nested_round_trip(tmp_path):
    obj = {
        "model": {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(2)},
        "optimizer": {
            "state": {0: {"step": 3, "exp_avg": np.ones(4, np.float32)}},
            "param_groups": [
                {
                    "lr": 1e-3,
                    "betas": (0.9, 0.999),
                    "params": [0, 1],
                    "nesterov": False,
                    "name": None,
                }
            ],
        },
        "epoch": 7,
        "best": float("inf"),
        "note": "ünïcode",
        "t": pydlk.tensor([1.0, 2.0]),
        "scalar": np.float32(1.5),
        "ints": np.arange(3),
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
    np.testing.assert_array_equal(np.asarray(back["t"]), [1, 2])
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


def test_refuses_what_cannot_be_pickled_and_leaves_no_file(tmp_path):
    import threading

    with pytest.raises(TypeError, match=r"builtins\.generator.*pickling it failed"):
        pydlk.save({"x": (i for i in range(2))}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"_thread\.lock"):
        pydlk.save({"x": threading.Lock()}, tmp_path / "x.npz")
    assert not any(tmp_path.iterdir())  # atomic: nothing half-written is left
    pydlk.save({"x": np.array([{}], dtype=object)}, tmp_path / "o.npz")  # pickled, not refused
    with pytest.raises(ValueError, match="pickled numpy.ndarray"):
        pydlk.load(tmp_path / "o.npz")
    assert pydlk.load(tmp_path / "o.npz", weights_only=False)["x"][0] == {}


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
    np.testing.assert_array_equal(np.asarray(m2.weight), np.asarray(m.weight))
    with pytest.raises(TypeError, match="flat"):
        pydlk.save([1, 2], tmp_path / "x.safetensors")


def test_torch_safetensors_loads_into_pydlk(tmp_path, rng):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    tl = torch.nn.LSTM(3, 4, batch_first=True)
    path = tmp_path / "torch.safetensors"
    st.save_file(
        {
            **{f"mlp.{k}": v for k, v in tm.state_dict().items()},
            **{f"lstm.{k}": v for k, v in tl.state_dict().items()},
        },
        str(path),
    )
    sd = pydlk.load(path)
    m = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    lstm = nn.LSTM(3, 4, batch_first=True)
    m.load_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("mlp.")})
    lstm.load_state_dict({k[5:]: v for k, v in sd.items() if k.startswith("lstm.")})
    x = rng.standard_normal((5, 6)).astype(np.float32)
    if hasattr(pydlk.functional, "relu"):
        np.testing.assert_allclose(
            np.asarray(m(pydlk.tensor(x))),
            tm(torch.from_numpy(x)).detach().numpy(),
            rtol=1e-5,
            atol=1e-6,
        )
    xs = rng.standard_normal((2, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(lstm(pydlk.tensor(xs))[0]),
        tl(torch.from_numpy(xs))[0].detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


# ----------------------------------------------------------------------------- corrupt files


def _craft(path, structure, arrays=(), raw_structure=None):
    """An npz laid out like a checkpoint, with a structure written by hand."""
    meta = raw_structure if raw_structure is not None else json.dumps(structure).encode()
    members = {f"a{i}": a for i, a in enumerate(arrays)}
    members["__structure__"] = np.frombuffer(meta, np.uint8)
    np.savez(path, **members)
    return path


def _obj(o):
    return {"format": "pydlk-checkpoint", "version": 1, "object": o}


@pytest.mark.parametrize(
    "structure, raw, problem",
    [
        (_obj({"w": {"__array__": -1}}), None, "refers to array -1"),
        (_obj({"w": {"__array__": 5}}), None, "refers to array 5"),
        (_obj({"w": {"__array__": "0"}}), None, "refers to array"),
        (_obj({"w": {"__array__": 0}, "v": {"__array__": 0}}), None, "referenced twice"),
        (_obj({"__dict__": 3}), None, "expected a list"),
        (_obj({"__dict__": [[1]]}), None, "pairs"),
        (_obj({"__dict__": [[[1], 2]]}), None, "dict key"),
        (_obj({"__tuple__": {"a": 1}}), None, "expected a list"),
        (_obj({"__scalar__": 0}), None, "shape"),
        (_obj({"__tensor__": 0, "requires_grad": False, "device": "tpu"}), None, "device is 'tpu'"),
        (_obj({"__tensor__": 0, "requires_grad": False, "device": 0}), None, "device is 0"),
        ({"format": "pydlk-checkpoint", "version": 99, "object": 1}, None, "version 99"),
        ({"format": "other", "version": 1, "object": 1}, None, "format"),
        ([1, 2], None, "format"),
        (None, b"\xff\xfe{", "not UTF-8"),
        (None, b"{not json", "not JSON"),
        (None, b"[" * 100000 + b"]" * 100000, "nested too deeply"),
        (_obj(None), None, None),  # valid: the control case
    ],
)
def test_corrupt_structure_names_file_and_problem(tmp_path, structure, raw, problem):
    path = _craft(tmp_path / "checkpoint.npz", structure, [np.ones((2, 2), np.float32)], raw)
    if problem is None:
        assert pydlk.load(path) is None
        return
    with pytest.raises(
        serialization.CheckpointError,
        match=r"checkpoint\.npz is not a valid pydlk checkpoint: .*" + problem,
    ):
        pydlk.load(path)


def test_deep_structure_does_not_recurse_past_the_limit(tmp_path):
    deep = b"[" * 600 + b"]" * 600  # deeper than the decoder's limit, within JSON's
    raw = b'{"format": "pydlk-checkpoint", "version": 1, "object": ' + deep + b"}"
    path = _craft(tmp_path / "checkpoint.npz", None, raw_structure=raw)
    with pytest.raises(serialization.CheckpointError, match="checkpoint.npz.*deeper"):
        pydlk.load(path)


def test_corrupt_and_foreign_files(tmp_path):
    p = tmp_path / "x.npz"
    p.write_bytes(b"hello, not a checkpoint")
    with pytest.raises(serialization.CheckpointError, match="x.npz is not a valid"):
        pydlk.load(p)
    good = tmp_path / "good.npz"
    pydlk.save({"w": np.arange(1000.0)}, good)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:300])
    with pytest.raises(serialization.CheckpointError, match="cut.npz"):
        pydlk.load(cut)
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(serialization.CheckpointError, match="foreign.zip.*readme.txt"):
        pydlk.load(foreign)
    import pickle

    pk = tmp_path / "p.pt"
    pk.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(serialization.CheckpointError, match="p.pt.*pickle"):
        pydlk.load(pk)
    objs = tmp_path / "objs.npz"
    np.savez(objs, a=np.array([{}, 1], dtype=object))
    with pytest.raises(serialization.CheckpointError, match="objs.npz.*Python objects"):
        pydlk.load(objs)


def _bomb(path, nbytes):
    """A compressed npz whose one member inflates to ``nbytes`` zeros, written in chunks."""
    header = {"descr": "|u1", "fortran_order": False, "shape": (nbytes,)}
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open("a.npy", "w", force_zip64=True) as f,
    ):
        np.lib.format.write_array_header_1_0(f, header)
        chunk = bytes(1 << 20)
        for _ in range(nbytes >> 20):
            f.write(chunk)


def test_size_limit_is_checked_before_inflating(tmp_path, monkeypatch):
    path = tmp_path / "bomb.npz"
    _bomb(path, 64 << 20)
    assert path.stat().st_size < 1 << 20
    inflated = []
    real = zipfile.ZipFile.open
    monkeypatch.setattr(
        zipfile.ZipFile, "open", lambda self, *a, **k: inflated.append(a) or real(self, *a, **k)
    )
    with pytest.raises(serialization.CheckpointError, match=r"bomb.npz.*max_bytes=1048576"):
        pydlk.load(path, max_bytes=1 << 20)
    assert inflated == []  # refused from the zip directory alone
    assert pydlk.load(path, max_bytes=128 << 20)["a"].nbytes == 64 << 20
    assert serialization.DEFAULT_MAX_BYTES >= 1 << 30


def test_npy_header_must_match_the_zip_size(tmp_path):
    path = tmp_path / "liar.npz"
    header = {"descr": "<f4", "fortran_order": False, "shape": (1 << 30,)}
    with zipfile.ZipFile(path, "w") as zf, zf.open("a.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(bytes(16))
    with pytest.raises(serialization.CheckpointError, match="liar.npz.*claims 4.0 GiB"):
        pydlk.load(path)


def test_unbalanced_npy_header_names_the_file(tmp_path):
    # A flipped byte in a header that leaves a bracket open: NumPy's header parser raises
    # tokenize.TokenError, which must not escape as itself.
    import struct

    h = b"{'descr': '<f8', 'fortran_order': False, 'shape': (3, "
    h += b" " * (117 - len(h)) + b"\n"
    path = tmp_path / "open.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + bytes(24))
    with pytest.raises(
        serialization.CheckpointError, match=r"open.npz .*'a.npy' has a bad .npy header"
    ):
        pydlk.load(path)


def test_file_objects(tmp_path):
    import io

    buf = io.BytesIO()
    pydlk.save({"w": pydlk.tensor([1.0, 2.0]), "k": (1, "a")}, buf)
    buf.seek(0)
    back = pydlk.load(buf)
    np.testing.assert_array_equal(np.asarray(back["w"]), [1, 2])
    assert back["k"] == (1, "a")
    with pytest.raises(serialization.CheckpointError, match="<file object>"):
        pydlk.load(io.BytesIO(b"garbage!"))
    with open(tmp_path / "f.npz", "wb") as f:
        pydlk.save([np.ones(2)], f)
    with open(tmp_path / "f.npz", "rb") as f:
        np.testing.assert_array_equal(pydlk.load(f)[0], 1)


def test_map_location(tmp_path):
    path = tmp_path / "c.npz"
    pydlk.save({"w": np.ones(2)}, path)
    np.testing.assert_array_equal(pydlk.load(path, map_location="cpu")["w"], 1)
    np.testing.assert_array_equal(pydlk.load(path, map_location={"cuda:0": "cpu"})["w"], 1)
    with pytest.raises(ValueError, match="map_location"):
        pydlk.load(path, map_location="tpu")
    try:
        import cupy

        has_gpu = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 (no CuPy, no driver or no device: all mean no GPU)
        has_gpu = False
    if has_gpu:
        assert type(pydlk.load(path, map_location="cuda")["w"]).__module__.startswith("cupy")
    else:
        with pytest.raises(RuntimeError, match="map_location='cuda'.*no"):
            pydlk.load(path, map_location="cuda")


def test_tensors_record_their_device_and_cpu_ones_load_on_the_cpu(tmp_path):
    """save notes each Tensor's device in the structure; 'cpu' (and no device at all, as files
    written before it was recorded) load on the CPU."""
    path = tmp_path / "c.npz"
    pydlk.save({"w": pydlk.tensor([1.0, 2.0], requires_grad=True), "a": np.ones(2)}, path)
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(np.load(zf.open("__structure__.npy")).tobytes())
    assert meta["object"]["w"] == {"__tensor__": 0, "requires_grad": True, "device": "cpu"}
    back = pydlk.load(path)
    assert str(back["w"].device) == "cpu" and back["w"].requires_grad
    np.testing.assert_array_equal(back["w"].detach().numpy(), [1.0, 2.0])
    old = _craft(
        tmp_path / "old.npz", _obj({"w": {"__tensor__": 0, "requires_grad": False}}), [np.ones(3)]
    )
    w = pydlk.load(old)["w"]
    assert isinstance(w, pydlk.Tensor) and str(w.device) == "cpu" and w.tolist() == [1.0] * 3


def test_cuda_tensors_without_cuda_raise_unless_mapped(tmp_path, monkeypatch):
    """A file saved from GPU tensors, loaded where CUDA is not available: torch's error that
    suggests map_location='cpu'; mapped to the CPU (a string, a dict of saved locations or a
    callable, which is told the saved location) it loads."""
    monkeypatch.setattr(pydlk.cuda, "device_count", lambda: 0)
    gpu = {"__tensor__": 0, "requires_grad": True, "device": "cuda:0"}
    path = _craft(
        tmp_path / "gpu.npz", _obj({"w": gpu, "c": {"__tensor__": 1}}), [np.ones(2), np.zeros(1)]
    )
    with pytest.raises(
        RuntimeError,
        match=r"Attempting to deserialize object on a CUDA device \(cuda:0.*map_location='cpu'",
    ):
        pydlk.load(path)
    for where in ("cpu", pydlk.device("cpu"), {"cuda:0": "cpu"}):
        back = pydlk.load(path, map_location=where)
        assert str(back["w"].device) == "cpu" and back["w"].requires_grad
        assert back["w"].tolist() == [1.0, 1.0] and back["c"].tolist() == [0.0]
    seen = []
    back = pydlk.load(path, map_location=lambda s, loc: seen.append(loc) or s)
    assert sorted(seen) == ["cpu", "cuda:0"] and back["w"].tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match=r"map_location=\{'cuda:0': 'cuda:1'\} needs a CUDA GPU"):
        pydlk.load(path, map_location={"cuda:0": "cuda:1"})


# ----------------------------------------------------------------------------- torch .pt files


def test_torch_pt_state_dict(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    tm(torch.randn(6, 3))  # running statistics move off their initial values
    path = tmp_path / "m.pt"
    torch.save(tm.state_dict(), path)
    sd = pydlk.load(path)
    ref = tm.state_dict()
    assert list(sd) == list(ref)
    for k, v in ref.items():
        assert isinstance(sd[k], pydlk.Tensor)
        assert sd[k].dtype == v.numpy().dtype
        np.testing.assert_array_equal(np.asarray(sd[k]), v.numpy())
    assert int(np.asarray(sd["1.num_batches_tracked"])) == 1
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    m.load_state_dict(sd)
    np.testing.assert_array_equal(np.asarray(m[1].running_var), ref["1.running_var"].numpy())


def test_torch_pt_nested_and_views(tmp_path):
    torch = pytest.importorskip("torch")
    base = torch.arange(12.0).reshape(3, 4)
    obj = {
        "a": {"b": [base.t(), base[1:, 2:]], "n": 3, "s": "x"},
        "t": (1.5, None),
        "i": torch.tensor([1, 2], dtype=torch.int32),
        "h": torch.ones(2, dtype=torch.float16),
        "m": torch.tensor([True, False]),
        "u": torch.tensor([7], dtype=torch.uint8),
        "bf": torch.tensor([1.5, -2.25], dtype=torch.bfloat16),
        "d": torch.ones(2, dtype=torch.float64),
    }
    path = tmp_path / "n.pt"
    torch.save(obj, path)
    back = pydlk.load(path)
    np.testing.assert_array_equal(np.asarray(back["a"]["b"][0]), base.t().numpy())
    np.testing.assert_array_equal(np.asarray(back["a"]["b"][1]), base[1:, 2:].numpy())
    assert back["a"]["n"] == 3 and back["a"]["s"] == "x" and back["t"] == (1.5, None)
    for k in ("i", "h", "m", "u", "d"):
        assert back[k].dtype == obj[k].numpy().dtype
        np.testing.assert_array_equal(np.asarray(back[k]), obj[k].numpy())
    np.testing.assert_array_equal(np.asarray(back["bf"]), [1.5, -2.25])


def test_torch_pt_optimizer_state_dict(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(tm.parameters(), lr=0.01)
    tm(torch.randn(4, 3)).sum().backward()
    opt.step()
    path = tmp_path / "opt.pt"
    torch.save(opt.state_dict(), path)
    back = pydlk.load(path)
    ref = opt.state_dict()
    assert back["param_groups"][0]["lr"] == 0.01 and back["param_groups"][0]["params"] == [0, 1]
    assert back["param_groups"][0]["betas"] == (0.9, 0.999)
    for i in (0, 1):
        for k in ("exp_avg", "exp_avg_sq", "step"):
            np.testing.assert_array_equal(
                np.asarray(back["state"][i][k]), ref["state"][i][k].numpy()
            )


def test_torch_pt_without_torch_installed(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    path = tmp_path / "w.pt"
    torch.save({"w": torch.arange(3.0)}, path)
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails
    np.testing.assert_array_equal(np.asarray(pydlk.load(path)["w"]), [0, 1, 2])


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def _torch_like_zip(path, payload):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/version", "3\n")


def test_malicious_pickles_are_refused_without_running(tmp_path, monkeypatch):
    import pickle

    monkeypatch.chdir(tmp_path)
    _torch_like_zip(tmp_path / "x.pt", pickle.dumps({"w": _Evil()}, protocol=2))
    with pytest.raises(
        serialization.CheckpointError, match=r"x.pt: refusing to unpickle '(os|posix)\.system'"
    ):
        pydlk.load(tmp_path / "x.pt")
    assert not (tmp_path / "pwned").exists()
    # a global hidden behind an allowed name's module, and builtins
    for mod, name in (
        ("torch._utils", "_load_from_bytes"),
        ("builtins", "eval"),
        ("torch", "load"),
    ):
        payload = b"\x80\x02c" + f"{mod}\n{name}\n".encode() + b"X\x01\x00\x00\x001\x85R."
        _torch_like_zip(tmp_path / "y.pt", payload)
        with pytest.raises(
            serialization.CheckpointError, match=f"y.pt: refusing to unpickle '{mod}.{name}'"
        ):
            pydlk.load(tmp_path / "y.pt")
    # a tensor whose geometry reaches outside its storage
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.arange(4.0)}, tmp_path / "g.pt")
    with zipfile.ZipFile(tmp_path / "g.pt") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    pkl = next(n for n in members if n.endswith("data.pkl"))
    members[pkl] = members[pkl].replace(b"K\x04\x85", b"K\x09\x85")  # size (4,) -> (9,)
    with zipfile.ZipFile(tmp_path / "g2.pt", "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    with pytest.raises(
        serialization.CheckpointError, match="g2.pt is not a valid torch file.*past its storage"
    ):
        pydlk.load(tmp_path / "g2.pt")


def test_callable_map_location_as_torch(tmp_path):
    """torch's idiom for loading GPU checkpoints anywhere: map_location=lambda storage, loc:
    storage (called on each value, as a Tensor)."""
    path = tmp_path / "c.pt"
    pydlk.save({"w": pydlk.ones(2, requires_grad=True), "a": np.arange(3.0), "n": 3}, path)
    seen = []

    def keep(storage, loc):
        seen.append((type(storage).__name__, loc))
        return storage

    out = pydlk.load(path, map_location=keep)
    assert seen == [("Tensor", "cpu"), ("Tensor", "cpu")]
    assert isinstance(out["w"], pydlk.Tensor) and out["w"].requires_grad
    np.testing.assert_array_equal(out["w"].detach().numpy(), [1.0, 1.0])
    assert type(out["a"]) is np.ndarray and out["n"] == 3
    doubled = pydlk.load(path, map_location=lambda s, loc: s * 2)
    np.testing.assert_array_equal(doubled["a"], [0.0, 2.0, 4.0])


def test_whole_module_and_other_objects_are_pickled_and_need_weights_only_false(tmp_path):
    """torch.save(model), a Namespace of hyperparameters, a set: pickled into their own members;
    load refuses them by default (weights_only=True, torch's default since 2.6), naming the
    type, and unpickles them with weights_only=False. Weights-only content loads either way."""
    import argparse

    pydlk.manual_seed(0)
    model = pydlk.nn.Sequential(pydlk.nn.Linear(3, 4), pydlk.nn.ReLU(), pydlk.nn.Linear(4, 2))
    opt = pydlk.optim.SGD(model.parameters(), lr=0.1)  # packs the parameters: still picklable
    model(pydlk.ones(2, 3)).sum().backward()
    opt.step()
    path = tmp_path / "m.pt"
    args = argparse.Namespace(lr=0.1, layers=[3, 4])
    pydlk.save({"model": model, "args": args, "tags": {"a", "b"}, "w": pydlk.ones(2)}, path)
    with pytest.raises(ValueError, match=r"pickled pydlk\.nn.*weights_only=False"):
        pydlk.load(path)
    out = pydlk.load(path, weights_only=False)
    assert out["args"] == args and out["tags"] == {"a", "b"}
    x = pydlk.randn(5, 3)
    np.testing.assert_array_equal(out["model"](x).detach().numpy(), model(x).detach().numpy())
    w = next(out["model"].parameters())
    assert w.requires_grad and not hasattr(w, "_arena")  # the copy is in no optimiser
    pydlk.save({"w": pydlk.ones(2)}, tmp_path / "w.pt")  # no pickle: loads by default
    assert pydlk.load(tmp_path / "w.pt")["w"].shape == (2,)
    with pytest.raises(TypeError, match="cannot save an object of type builtins.function"):
        pydlk.save({"f": lambda v: v}, tmp_path / "f.pt")


def test_state_dict_metadata_survives_save_and_load(tmp_path):
    # torch keeps a state_dict's _metadata (per-module versions) through torch.save; so does
    # pydlk.save, and load_state_dict then sees the saved versions
    m = pydlk.nn.Sequential(pydlk.nn.Linear(2, 3), pydlk.nn.BatchNorm1d(3))
    sd = m.state_dict()
    path = tmp_path / "m.pt"
    pydlk.save({"model": sd, "epoch": 3}, path)
    back = pydlk.load(path)
    assert back["epoch"] == 3
    got = back["model"]
    assert list(got) == list(sd)
    assert dict(got._metadata) == {"": {"version": 1}, "0": {"version": 1}, "1": {"version": 2}}
    seen = []
    m[1]._register_load_state_dict_pre_hook(
        lambda sd_, prefix, meta, *rest: seen.append((prefix, dict(meta)))
    )
    m.load_state_dict(got)
    assert seen == [("1.", {"version": 2})]
    pydlk.save({"plain": 1}, path)  # a dict without _metadata is saved as before
    assert not hasattr(pydlk.load(path), "_metadata")
