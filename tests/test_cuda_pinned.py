"""Pinned host memory and the memory statistics of the GPU path: ``Tensor.pin_memory()`` /
``is_pinned()``, ``to('cuda', non_blocking=True)`` of a pinned tensor, ``DataLoader(pin_memory=
True)``, ``pydlk.cuda.memory_stats()`` / ``memory_summary()`` / ``max_memory_reserved()``.

The ``test_gpu_*`` tests run on a GPU and under the host emulation
(tools/run_cuda_tests_on_host.py, whose pinned memory is ordinary memory and whose copies are
synchronous), and skip without either; the others check the behaviour without CUDA against
torch's CPU build."""

import collections
import re

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
from pydlk import _pinned
from pydlk.data import DataLoader, Dataset, TensorDataset

Pair = collections.namedtuple("Pair", "image label")


def _no_gpu_or_skip():
    if pydlk.cuda.is_available():
        pytest.skip("a GPU is present")


# ----------------------------------------------------------------------------- on a GPU


def test_gpu_pin_memory_gives_a_pinned_cpu_copy(rng):
    cupy_or_skip()
    v = rng.standard_normal((3, 4)).astype(np.float32)
    t = pydlk.tensor(v)
    assert not t.is_pinned()
    p = t.pin_memory()
    assert p is not t and not p.is_cuda and p.is_pinned()
    assert p.data_ptr() != t.data_ptr() and type(p._data) is np.ndarray
    np.testing.assert_array_equal(p.numpy(), v)
    # views of a pinned tensor are pinned; a copy of it is not (as torch's clone)
    assert p[1:].is_pinned() and p.T.is_pinned() and p.reshape(-1).is_pinned()
    assert not p.clone().is_pinned()
    assert p.pin_memory() is p  # pinned already: itself, as torch
    # a non-contiguous source gives a contiguous pinned copy of the same values
    q = t.T.pin_memory()
    assert q.is_pinned() and q._data.flags.c_contiguous
    np.testing.assert_array_equal(q.numpy(), v.T)
    for dtype, values in ((np.int64, [5, -7, 9]), (np.bool_, [True, False, True])):
        w = pydlk.tensor(np.array(values, dtype=dtype)).pin_memory()
        assert w.is_pinned() and w.dtype == dtype and w.tolist() == values
    e = pydlk.zeros(0, 3).pin_memory()
    assert e.is_pinned() and e.shape == (0, 3)


def test_gpu_pin_memory_passes_the_gradient_through(rng):
    cupy_or_skip()
    t = pydlk.tensor([1.0, -2.0, 3.0], requires_grad=True)
    p = t.pin_memory()
    assert p.requires_grad and p.is_pinned()
    (p * p).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [2.0, -4.0, 6.0])
    # pinned, then to the GPU without blocking: the gradient comes back to the CPU leaf
    t.grad = None
    g = t.pin_memory().to("cuda", non_blocking=True)
    (g * 3.0).sum().backward()
    assert not t.grad.is_cuda
    np.testing.assert_array_equal(t.grad.numpy(), [3.0, 3.0, 3.0])


def test_gpu_pinned_non_blocking_copy_matches_the_cpu(rng):
    cp = cupy_or_skip()
    v = rng.standard_normal((5, 6)).astype(np.float32)
    p = pydlk.tensor(v).pin_memory()
    g = p.to("cuda", non_blocking=True)
    # enqueued on the current stream: its source stays referenced until the copy has passed
    assert any(a is p._data for _, a in _pinned._in_flight)
    pydlk.cuda.synchronize()
    assert g.is_cuda and type(g._data) is type(cp.asarray(np.zeros(1)))
    np.testing.assert_array_equal(host(g), v)
    np.testing.assert_array_equal(host(p.cuda(non_blocking=True) * 2), 2 * v)
    # on another stream, under torch's idiom
    s = pydlk.cuda.Stream()
    with pydlk.cuda.stream(s):
        h = p.to("cuda", non_blocking=True)
    s.synchronize()
    np.testing.assert_array_equal(host(h), v)
    # a non-pinned tensor and a non-contiguous pinned view are copied synchronously
    before = len(_pinned._in_flight)
    for src, want in ((pydlk.tensor(v), v), (p.T, v.T)):
        d = src.to("cuda", non_blocking=True)
        np.testing.assert_array_equal(host(d), want)
    assert len(_pinned._in_flight) <= before
    # back to the CPU: synchronous, and the values survive the round trip
    np.testing.assert_array_equal(g.to("cpu", non_blocking=True).numpy(), v)


class _Records(Dataset):
    """Samples as dicts, namedtuples and strings, as datasets of real projects give them."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = np.full((2, 2), float(i), dtype=np.float32)
        return {"pair": Pair(x, i), "name": f"item{i}", "extra": [x[0], i * 10]}


def test_gpu_dataloader_pin_memory_pins_every_tensor_in_a_batch():
    cupy_or_skip()
    xs = np.arange(24, dtype=np.float32).reshape(6, 4)
    ys = np.arange(6)
    plain = list(DataLoader(TensorDataset(xs, ys), batch_size=4))
    pinned = list(DataLoader(TensorDataset(xs, ys), batch_size=4, pin_memory=True))
    assert len(pinned) == 2
    for (x0, y0), (x1, y1) in zip(plain, pinned):
        assert x1.is_pinned() and y1.is_pinned() and not x0.is_pinned()
        np.testing.assert_array_equal(x1.numpy(), x0.numpy())
        np.testing.assert_array_equal(y1.numpy(), y0.numpy())
    np.testing.assert_array_equal(pinned[1][0].numpy(), xs[4:])
    (batch,) = list(DataLoader(_Records(3), batch_size=3, pin_memory=True))
    pair = batch["pair"]
    assert type(pair) is Pair and pair.image.is_pinned() and pair.label.is_pinned()
    np.testing.assert_array_equal(pair.image.numpy()[:, 0, 0], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(pair.label.numpy(), [0, 1, 2])
    assert batch["name"] == ["item0", "item1", "item2"]
    first, tens = batch["extra"]
    assert first.is_pinned() and tens.is_pinned()
    np.testing.assert_array_equal(tens.numpy(), [0, 10, 20])
    # the batch goes to the GPU without blocking, as a torch training loop moves it
    d = pair.image.to("cuda", non_blocking=True)
    pydlk.cuda.synchronize()
    np.testing.assert_array_equal(host(d)[:, 1, 1], [0.0, 1.0, 2.0])


def test_gpu_fit_takes_pinned_batches_without_restaging(rng):
    cupy_or_skip()
    from pydlk.train.device_batch import to_device

    v = rng.standard_normal((3, 2)).astype(np.float32)
    p = pydlk.tensor(v).pin_memory()
    d = to_device(p._data, "cuda:0")
    pydlk.cuda.synchronize()
    np.testing.assert_array_equal(host(d), v)


def test_gpu_memory_stats_follow_allocations():
    cupy_or_skip()
    c = pydlk.cuda
    c.empty_cache()
    c.reset_peak_memory_stats()
    s0 = c.memory_stats()
    assert list(s0) == [
        "allocated_bytes.all.current",
        "allocated_bytes.all.peak",
        "reserved_bytes.all.current",
        "reserved_bytes.all.peak",
    ]
    assert s0["allocated_bytes.all.peak"] == s0["allocated_bytes.all.current"]
    mib4 = 4 << 20
    x = pydlk.empty(1 << 20, dtype=pydlk.float32, device="cuda")  # 4 MiB
    s1 = c.memory_stats()
    assert s1["allocated_bytes.all.current"] - s0["allocated_bytes.all.current"] >= mib4
    assert s1["allocated_bytes.all.peak"] >= s1["allocated_bytes.all.current"]
    assert s1["reserved_bytes.all.current"] >= s1["allocated_bytes.all.current"]
    assert s1["reserved_bytes.all.peak"] >= s1["reserved_bytes.all.current"]
    assert c.memory_allocated() == s1["allocated_bytes.all.current"]
    assert c.memory_reserved() == s1["reserved_bytes.all.current"]
    assert c.max_memory_allocated() == s1["allocated_bytes.all.peak"]
    assert c.max_memory_reserved() == s1["reserved_bytes.all.peak"]
    cur = s1["allocated_bytes.all.current"]
    if 768 << 10 <= cur < 768 << 20:  # torch's rule: KiB from 768 KiB to 768 MiB (4 MiB: 4096)
        row = next(r for r in c.memory_summary().splitlines() if "Allocated memory" in r)
        assert re.search(rf"\|\s+{cur >> 10} KiB \|", row), row
    del x
    s2 = c.memory_stats()
    assert s2["allocated_bytes.all.current"] == s0["allocated_bytes.all.current"]
    assert s2["allocated_bytes.all.peak"] >= s0["allocated_bytes.all.current"] + mib4
    assert s2["reserved_bytes.all.current"] >= s0["reserved_bytes.all.current"] + mib4  # cached
    c.empty_cache()
    assert c.memory_reserved() <= s2["reserved_bytes.all.current"] - mib4
    assert c.max_memory_reserved() >= s0["reserved_bytes.all.current"] + mib4
    with pytest.warns(FutureWarning, match="reset_peak_memory_stats"):
        c.reset_max_memory_allocated()
    s3 = c.memory_stats()
    assert s3["allocated_bytes.all.peak"] == s3["allocated_bytes.all.current"]
    assert s3["reserved_bytes.all.peak"] == s3["reserved_bytes.all.current"]


def test_gpu_memory_summary_has_torch_layout():
    cupy_or_skip()
    text = pydlk.cuda.memory_summary()
    lines = text.splitlines()
    assert "memory summary, device ID 0" in lines[1]
    assert len({len(line) for line in lines}) == 1  # one width, a closed table
    assert "| Cur Usage  | Peak Usage |" in text
    for name in ("Allocated memory", "GPU reserved memory", "Cached, unused memory"):
        assert sum(name in line for line in lines) == 1
    assert pydlk.cuda.memory_summary(abbreviated=True) == pydlk.cuda.memory_summary()


# ----------------------------------------------------------------------------- without CUDA


def test_pin_memory_without_cuda_raises_as_torch():
    _no_gpu_or_skip()
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("torch sees a GPU")
    with pytest.raises(RuntimeError, match="Cannot access accelerator device"):
        torch.arange(3.0).pin_memory()
    t = pydlk.arange(3.0)
    with pytest.raises(RuntimeError, match="Cannot access accelerator device"):
        t.pin_memory()
    assert t.is_pinned() is torch.arange(3.0).is_pinned() is False
    assert t.to("cpu", non_blocking=True) is t  # as torch: nothing to move


def test_memory_stats_without_cuda_answer_as_torch():
    _no_gpu_or_skip()
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("torch sees a GPU")
    assert pydlk.cuda.memory_stats() == torch.cuda.memory_stats() == {}
    assert pydlk.cuda.max_memory_reserved() == torch.cuda.max_memory_reserved() == 0
    text = pydlk.cuda.memory_summary()  # torch's raises KeyError here; this shows zeros
    assert "Allocated memory      |      0 B   |      0 B   |" in text
    with pytest.warns(FutureWarning, match="reset_peak_memory_stats"):
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            pydlk.cuda.reset_max_memory_allocated()


def test_dataloader_pin_memory_without_cuda_leaves_batches_unpinned():
    _no_gpu_or_skip()
    x = np.arange(8.0).reshape(4, 2)
    with pytest.warns(UserWarning, match="pin_memory"):
        (batch,) = list(DataLoader(TensorDataset(x), batch_size=4, pin_memory=True))
    assert not batch[0].is_pinned()
    np.testing.assert_array_equal(batch[0].numpy(), x)


class _Pinnable:
    """An object with its own pin_memory(), as torch's pin_memory() lets a batch type have."""

    def __init__(self, tag):
        self.tag = tag

    def pin_memory(self):
        return _Pinnable(self.tag + "+pinned")


def test_pin_batch_keeps_the_batch_structure():
    """torch's pin_memory(data) walk: containers rebuilt with their types, strings and
    numbers as they are, objects pinned by their own pin_memory()."""
    data = {
        "pair": Pair(_Pinnable("a"), 3),
        "ordered": collections.OrderedDict(k=_Pinnable("b")),
        "items": [_Pinnable("c"), "text", 2.5],
        "tuple": (_Pinnable("d"), b"raw"),
    }
    out = _pinned.pin_batch(data)
    assert type(out["pair"]) is Pair and out["pair"].image.tag == "a+pinned"
    assert out["pair"].label == 3
    assert type(out["ordered"]) is collections.OrderedDict
    assert out["ordered"]["k"].tag == "b+pinned"
    assert out["items"][0].tag == "c+pinned" and out["items"][1:] == ["text", 2.5]
    assert type(out["tuple"]) is tuple and out["tuple"][0].tag == "d+pinned"
    assert out["tuple"][1] == b"raw"
