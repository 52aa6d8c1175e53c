"""DataLoader, collation and samplers against torch.utils.data; worker processes."""

import collections
import os
import time

import numpy as np
import pytest

import pydlk
from pydlk.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)

torch = pytest.importorskip("torch")
tud = torch.utils.data

Point = collections.namedtuple("Point", ["x", "y"])


def _same(p, t, path="batch"):
    """pydlk's batch ``p`` has torch's structure, dtypes and values ``t``."""
    if isinstance(t, torch.Tensor):
        assert isinstance(p, pydlk.Tensor), f"{path}: {type(p)} is not a Tensor"
        assert str(p.dtype) == str(t.dtype).removeprefix("torch."), f"{path}: {p.dtype}/{t.dtype}"
        assert tuple(p.shape) == tuple(t.shape), path
        np.testing.assert_array_equal(p.numpy(), t.numpy(), err_msg=path)
    elif isinstance(t, dict):
        assert type(p) is type(t) and list(p) == list(t), path
        for k in t:
            _same(p[k], t[k], f"{path}[{k!r}]")
    elif isinstance(t, (list, tuple)):
        assert type(p).__name__ == type(t).__name__ and len(p) == len(t), f"{path}: {type(p)}"
        for i, (a, b) in enumerate(zip(p, t)):
            _same(a, b, f"{path}[{i}]")
    else:
        assert type(p) is type(t) and p == t, f"{path}: {p!r} != {t!r}"


def _to_torch(sample):
    """The same sample with pydlk Tensors replaced by torch tensors (arrays stay arrays)."""
    if isinstance(sample, pydlk.Tensor):
        return torch.from_numpy(sample.numpy().copy())
    if isinstance(sample, dict):
        return {k: _to_torch(v) for k, v in sample.items()}
    if isinstance(sample, Point):
        return Point(*(_to_torch(v) for v in sample))
    if isinstance(sample, (list, tuple)):
        return type(sample)(_to_torch(v) for v in sample)
    return sample


def _samples(kind, rng):
    n = 3
    if kind == "array_int":
        return [(rng.random((2, 3)), i) for i in range(n)]
    if kind == "list_float32_array_and_float":
        return [[rng.random(4).astype(np.float32), float(i) / 3] for i in range(n)]
    if kind == "dict":
        return [
            {"img": rng.random((1, 2, 2)), "label": i, "name": f"s{i}", "flag": i % 2 == 0}
            for i in range(n)
        ]
    if kind == "namedtuple":
        return [Point(rng.integers(0, 9, 3).astype(np.int32), np.float32(i)) for i in range(n)]
    if kind == "numbers":
        return [float(i) + 0.5 for i in range(n)]
    if kind == "ints":
        return list(range(n))
    if kind == "bools":
        return [True, False, True]
    if kind == "strings":
        return ["a", "bb", "ccc"]
    if kind == "numpy_scalars":
        return [(np.float64(i), np.int16(i), np.uint8(i)) for i in range(n)]
    if kind == "tensors":
        return [
            (pydlk.tensor(rng.random((2, 2)).astype(np.float32)), pydlk.tensor(i)) for i in range(n)
        ]
    if kind == "nested":
        return [
            {"a": [(rng.random(2), i), {"b": f"x{i}"}], "c": Point(i, float(i))} for i in range(n)
        ]
    raise AssertionError(kind)


KINDS = [
    "array_int",
    "list_float32_array_and_float",
    "dict",
    "namedtuple",
    "numbers",
    "ints",
    "bools",
    "strings",
    "numpy_scalars",
    "tensors",
    "nested",
]


@pytest.mark.parametrize("kind", KINDS)
def test_default_collate_matches_torch(kind):
    samples = _samples(kind, np.random.default_rng(0))
    _same(default_collate(samples), tud.default_collate([_to_torch(s) for s in samples]))


@pytest.mark.parametrize("kind", KINDS)
def test_default_convert_matches_torch(kind):
    sample = _samples(kind, np.random.default_rng(1))[0]
    _same(default_convert(sample), tud.default_convert(_to_torch(sample)))


def test_collate_errors_match_torch():
    for bad, err in [
        ([[1, 2], [3]], RuntimeError),
        ([object(), object()], TypeError),
        ([np.array(["a"]), np.array(["b"])], TypeError),
    ]:
        with pytest.raises(err):
            tud.default_collate(bad)
        with pytest.raises(err):
            default_collate(bad)


def test_stacked_arrays_are_contiguous_and_fast_path_wraps_without_copy():
    x = np.arange(24, dtype=np.float64).reshape(6, 4)
    ds = TensorDataset(x, np.arange(6))
    xb, yb = next(iter(DataLoader(ds, batch_size=3, prefetch=0)))
    assert np.asarray(xb).flags.c_contiguous and xb.dtype == np.float64 and yb.dtype == np.int64
    assert np.asarray(xb) is xb.numpy()  # NumPy users get the array itself, no copy


class _TorchDS(tud.Dataset):
    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]


class _ListDS(Dataset):
    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]


@pytest.mark.parametrize(
    "kw",
    [
        {"batch_size": 4},
        {"batch_size": 4, "drop_last": True},
        {"batch_size": None},
        {"batch_size": 1},
        {"batch_sampler": [[3, 1], [0], [5, 6, 2]]},
        {"batch_size": 3, "sampler": [9, 8, 1, 0, 4]},
    ],
)
def test_loader_batches_match_torch_without_shuffling(kw):
    rng = np.random.default_rng(2)
    samples = [
        {"x": rng.random((1, 2, 2)).astype(np.float32), "y": i, "id": f"s{i}"} for i in range(10)
    ]
    ours = list(DataLoader(_ListDS(samples), **kw))
    theirs = list(tud.DataLoader(_TorchDS(samples), **kw))
    assert len(ours) == len(theirs)
    assert len(DataLoader(_ListDS(samples), **kw)) == len(tud.DataLoader(_TorchDS(samples), **kw))
    for a, b in zip(ours, theirs):
        _same(a, b)


def test_tensor_dataset_batches_match_torch():
    x = np.random.default_rng(3).random((11, 3))
    y = np.arange(11, dtype=np.int32)
    ours = list(DataLoader(TensorDataset(x, y), batch_size=4))
    theirs = list(
        tud.DataLoader(tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=4)
    )
    for a, b in zip(ours, theirs, strict=True):
        _same(a, b)


@pytest.mark.skipif(pydlk.cuda.is_available(), reason="pins nothing only without a GPU")
def test_pin_memory_without_a_gpu_warns_like_torch_and_changes_nothing():
    x = np.arange(6.0)
    with pytest.warns(UserWarning, match="pin_memory"):
        theirs = list(
            tud.DataLoader(tud.TensorDataset(torch.from_numpy(x)), batch_size=4, pin_memory=True)
        )
    with pytest.warns(UserWarning, match="pin_memory"):
        ours = list(DataLoader(TensorDataset(x), batch_size=4, pin_memory=True))
    for a, b in zip(ours, theirs, strict=True):
        _same(a, b)


def test_argument_errors_match_torch():
    ds = _ListDS(list(range(6)))
    tds = _TorchDS(list(range(6)))
    for kw in [
        {"sampler": [0, 1], "shuffle": True},
        {"batch_sampler": [[0]], "batch_size": 2},
        {"batch_sampler": [[0]], "drop_last": True},
        {"batch_size": None, "drop_last": True},
        {"prefetch_factor": 2},
        {"persistent_workers": True},
        {"num_workers": -1},
        {"timeout": -1},
    ]:
        with pytest.raises(ValueError):
            tud.DataLoader(tds, **kw)
        with pytest.raises(ValueError):
            DataLoader(ds, **kw)


# ----------------------------------------------------------------------------- samplers


@pytest.mark.parametrize(
    "n,bs,drop", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False), (0, 2, False)]
)
def test_batch_sampler_matches_torch(n, bs, drop):
    order = list(np.random.default_rng(n).permutation(n))
    ours, theirs = BatchSampler(order, bs, drop), tud.BatchSampler(order, bs, drop)
    assert list(ours) == list(theirs)
    assert len(BatchSampler(SequentialSampler(range(n)), bs, drop)) == len(
        tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop)
    )
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            BatchSampler(order, bad, drop)


def test_random_sampler_coverage_and_replacement_like_torch():
    data = range(13)
    perm = list(RandomSampler(data))
    assert sorted(perm) == list(range(13)) and len(RandomSampler(data)) == 13
    # num_samples beyond len without replacement: whole permutations, then part of one (torch)
    for ours, theirs in [
        (RandomSampler(data, num_samples=30), tud.RandomSampler(data, num_samples=30))
    ]:
        a, b = list(ours), list(theirs)
        assert len(a) == len(b) == 30
        assert sorted(np.bincount(a, minlength=13)) == sorted(np.bincount(b, minlength=13))
        assert sorted(a[:13]) == list(range(13)) and sorted(a[13:26]) == list(range(13))
    draws = list(RandomSampler(range(5), replacement=True, num_samples=2000))
    assert len(draws) == 2000 and set(draws) == set(range(5))
    assert max(np.bincount(draws)) < 520 and min(np.bincount(draws)) > 280
    with pytest.raises(ValueError):
        RandomSampler(data, num_samples=0)
    with pytest.raises(TypeError):
        RandomSampler(data, replacement=1)


def test_samplers_follow_their_generator():
    g1, g2 = pydlk.Generator().manual_seed(5), pydlk.Generator().manual_seed(5)
    assert list(RandomSampler(range(50), generator=g1)) == list(
        RandomSampler(range(50), generator=g2)
    )
    sub = [3, 7, 11, 19]
    a = list(SubsetRandomSampler(sub, generator=pydlk.Generator().manual_seed(1)))
    assert sorted(a) == sub
    assert a == list(SubsetRandomSampler(sub, generator=pydlk.Generator().manual_seed(1)))
    pydlk.manual_seed(4)
    a = list(RandomSampler(range(40)))
    pydlk.manual_seed(4)
    assert a == list(RandomSampler(range(40)))


def test_weighted_random_sampler_semantics():
    w = [0.0, 1.0, 3.0, 0.0, 4.0]
    draws = np.array(list(WeightedRandomSampler(w, 16000, generator=pydlk.Generator())))
    counts = np.bincount(draws, minlength=5)
    assert counts[0] == counts[3] == 0
    np.testing.assert_allclose(counts / 16000, np.array(w) / 8, atol=0.015)
    once = list(WeightedRandomSampler(w, 3, replacement=False))
    assert sorted(once) == [1, 2, 4]
    # torch: without replacement, zero weights are drawn last once the others are used up
    for s in (
        WeightedRandomSampler(w, 5, replacement=False),
        tud.WeightedRandomSampler(w, 5, replacement=False),
    ):
        a = list(s)
        assert sorted(a[:3]) == [1, 2, 4] and sorted(a[3:]) == [0, 3]
    for s in (
        WeightedRandomSampler(w, 6, replacement=False),
        tud.WeightedRandomSampler(w, 6, replacement=False),
    ):
        with pytest.raises(RuntimeError):
            list(s)
    with pytest.raises(ValueError):
        WeightedRandomSampler(w, 0)
    with pytest.raises(ValueError):
        WeightedRandomSampler([-1.0, 2.0], 2)


def test_loader_shuffle_follows_generator_and_seed():
    ds = TensorDataset(np.arange(40))

    def order(**kw):
        return np.concatenate([b[0].numpy() for b in DataLoader(ds, batch_size=7, **kw)])

    a = order(shuffle=True, generator=pydlk.Generator().manual_seed(1))
    assert sorted(a.tolist()) == list(range(40))
    np.testing.assert_array_equal(
        a, order(shuffle=True, generator=pydlk.Generator().manual_seed(1))
    )
    assert not np.array_equal(a, order(shuffle=True, generator=pydlk.Generator().manual_seed(2)))
    np.testing.assert_array_equal(order(shuffle=True, seed=3), order(shuffle=True, seed=3))


def test_datasets_match_torch():
    a, b = _ListDS([0, 1, 2]), _ListDS([10, 11])
    ta, tb = _TorchDS([0, 1, 2]), _TorchDS([10, 11])
    cat, tcat = ConcatDataset([a, b]), tud.ConcatDataset([ta, tb])
    assert len(cat) == len(tcat) and [cat[i] for i in range(-5, 5)] == [
        tcat[i] for i in range(-5, 5)
    ]
    assert (a + b)[4] == (ta + tb)[4] == 11
    sub = Subset(cat, [4, 0])
    assert [sub[0], sub[1]] == [tud.Subset(tcat, [4, 0])[i] for i in range(2)]
    parts = random_split(cat, [0.6, 0.4], generator=pydlk.Generator().manual_seed(0))
    tparts = tud.random_split(tcat, [0.6, 0.4])
    assert [len(p) for p in parts] == [len(p) for p in tparts]
    assert sorted([p[i] for p in parts for i in range(len(p))]) == [0, 1, 2, 10, 11]


# ----------------------------------------------------------------------------- workers


class _Images(Dataset):
    """Samples drawn from the sample index only, so they do not depend on the process."""

    def __len__(self):
        return 21

    def __getitem__(self, i):
        return np.random.default_rng(i).random((1, 3, 3)).astype(np.float32), i


def _jitter(x, rng):
    return x + rng.normal(size=x.shape).astype(np.float32)


@pytest.mark.parametrize("ds", ["generic", "tensor"])
def test_batches_identical_for_any_num_workers(ds):
    data = _Images()
    if ds == "tensor":
        data = TensorDataset(np.stack([data[i][0] for i in range(21)]), np.arange(21))
    runs = {}
    for nw in (0, 1, 2, 3):
        pydlk.manual_seed(9)
        dl = DataLoader(data, batch_size=4, shuffle=True, num_workers=nw, transform=_jitter)
        runs[nw] = [[(b[0].numpy(), b[1].numpy()) for b in dl] for _ in range(2)]
    for nw in (1, 2, 3):
        for epoch in range(2):
            assert len(runs[nw][epoch]) == len(runs[0][epoch]) == 6
            for (x0, y0), (x1, y1) in zip(runs[0][epoch], runs[nw][epoch]):
                np.testing.assert_array_equal(y0, y1)
                np.testing.assert_array_equal(x0, x1)
    e0, e1 = runs[0]
    assert not np.array_equal(e0[0][1], e1[0][1])  # a new order per epoch


class _Broken(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise KeyError(f"sample {i} is missing")
        return np.zeros(2), i


def test_worker_error_is_raised_with_the_worker_traceback():
    with pytest.raises(KeyError) as info:
        list(DataLoader(_Broken(), batch_size=2, num_workers=2))
    msg = str(info.value)
    assert "Caught KeyError in DataLoader worker process 0" in msg
    assert "sample 5 is missing" in msg and "__getitem__" in msg and "Traceback" in msg


class _Whoami(Dataset):
    def __len__(self):
        return 12

    def __getitem__(self, i):
        info = get_worker_info()
        return np.array(
            [
                info.id,
                info.num_workers,
                info.seed - info.id,
                os.getpid(),
                int(np.random.randint(1 << 30)),
                int(pydlk.rand(1).numpy()[0] * 1e6),
            ]
        )


def _record_init(path):
    def init(worker_id):
        with open(os.path.join(path, f"{worker_id}-{os.getpid()}"), "w"):
            pass

    return init


def test_worker_init_fn_once_per_worker_and_worker_info(tmp_path):
    assert get_worker_info() is None
    dl = DataLoader(_Whoami(), batch_size=2, num_workers=3, worker_init_fn=_record_init(tmp_path))
    rows = np.concatenate([b.numpy() for b in dl])
    names = sorted(os.listdir(tmp_path))
    assert sorted(int(n.split("-")[0]) for n in names) == [0, 1, 2]
    assert len({n.split("-")[1] for n in names}) == 3
    assert set(rows[:, 0]) == {0, 1, 2} and set(rows[:, 1]) == {3}
    assert len(set(rows[:, 2])) == 1  # seed = base_seed + worker id
    # batch i goes to worker i % 3, as torch's round robin
    np.testing.assert_array_equal(rows[::2, 0], np.arange(6) % 3)
    # each worker's NumPy and pydlk generators are seeded differently
    first = {w: rows[rows[:, 0] == w][0] for w in range(3)}
    assert len({first[w][4] for w in range(3)}) == 3 and len({first[w][5] for w in range(3)}) == 3


def test_persistent_workers_are_reused_and_others_are_not():
    pids = []
    for persistent in (True, False):
        dl = DataLoader(_Whoami(), batch_size=4, num_workers=2, persistent_workers=persistent)
        epochs = [set(np.concatenate([b.numpy() for b in dl])[:, 3]) for _ in range(2)]
        pids.append(epochs)
        it = iter(dl)
        next(it)
        del it  # an abandoned epoch: the next one is still complete
        assert len(list(dl)) == 3
    (p1, p2), (q1, q2) = pids
    assert p1 == p2 and not (q1 & q2)


class _Slow(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(3)
        return i


def test_timeout_raises():
    with pytest.raises(RuntimeError, match="timed out after 0.5 seconds"):
        list(DataLoader(_Slow(), batch_size=2, num_workers=1, timeout=0.5))


def test_in_order_false_delivers_every_batch():
    dl = DataLoader(_Images(), batch_size=5, num_workers=2, in_order=False, prefetch_factor=1)
    got = sorted(np.concatenate([b[1].numpy() for b in dl]).tolist())
    assert got == list(range(21))


class _Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        k, w = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(k, self.n, w))


class _TorchStream(tud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = tud.get_worker_info()
        k, w = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(k, self.n, w))


@pytest.mark.parametrize("nw", [0, 2])
def test_iterable_dataset_matches_torch(nw):
    kw = {"batch_size": 3, "num_workers": nw}
    ours = [b.numpy().tolist() for b in DataLoader(_Stream(13), **kw)]
    theirs = [b.tolist() for b in tud.DataLoader(_TorchStream(13), **kw)]
    assert ours == theirs
    with pytest.raises(ValueError):
        DataLoader(_Stream(3), shuffle=True)


def test_each_batch_gets_its_own_transform_stream():
    ds = TensorDataset(np.zeros((8, 3), np.float32))
    seen = []

    def noise(x, rng):
        seen.append(rng)
        return x + rng.random(x.shape, dtype=np.float32)

    a, b = (bt[0].numpy() for bt in DataLoader(ds, batch_size=4, seed=1, transform=noise))
    assert not np.array_equal(a, b)  # not the same stream replayed for every batch
    assert all(isinstance(r, np.random.Generator) for r in seen)
    c, d = (bt[0].numpy() for bt in DataLoader(ds, batch_size=4, seed=1, transform=noise))
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(b, d)


def test_torch_import_paths():
    import pydlk.utils.data as ud

    for name in (
        "DataLoader",
        "default_collate",
        "default_convert",
        "get_worker_info",
        "Sampler",
        "SequentialSampler",
        "RandomSampler",
        "SubsetRandomSampler",
        "WeightedRandomSampler",
        "BatchSampler",
        "Subset",
        "random_split",
        "ConcatDataset",
        "IterableDataset",
        "TensorDataset",
        "Dataset",
    ):
        assert hasattr(tud, name) and hasattr(ud, name), name
