"""DataLoader, datasets and preprocessing."""

import threading

import numpy as np
import pytest

import pydlk
from pydlk.data import (
    DataLoader,
    Dataset,
    MeanSubtraction,
    PCAWhitening,
    Standardize,
    TensorDataset,
    ZCAWhitening,
    random_split,
)


def _ds(n=10):
    x = np.arange(n * 4, dtype=np.float64).reshape(n, 1, 2, 2)
    return TensorDataset(x, np.arange(n, dtype=np.int32))


def test_batches_are_contiguous_tensors_that_keep_the_dataset_dtypes():
    # torch keeps dtypes: a float64 TensorDataset gives float64 batches, int32 labels int32.
    for prefetch in (0, 2):
        batches = list(DataLoader(_ds(), batch_size=4, prefetch=prefetch))
        assert [len(b[1]) for b in batches] == [4, 4, 2]
        for x, y in batches:
            assert isinstance(x, pydlk.Tensor) and isinstance(y, pydlk.Tensor)
            assert x.dtype == np.float64 and np.asarray(x).flags.c_contiguous
            assert x.shape[1:] == (1, 2, 2)
            assert y.dtype == np.int32
        np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), np.arange(10))


def test_drop_last_and_len():
    dl = DataLoader(_ds(10), batch_size=4, drop_last=True)
    assert len(dl) == 2 and [len(b[1]) for b in dl] == [4, 4]
    assert len(DataLoader(_ds(10), batch_size=4)) == 3


def test_shuffle_is_seeded_by_manual_seed_and_changes_per_epoch():
    dl = DataLoader(_ds(50), batch_size=50, shuffle=True)
    pydlk.manual_seed(3)
    a1, a2 = next(iter(dl))[1], next(iter(dl))[1]
    pydlk.manual_seed(3)
    b1, b2 = next(iter(dl))[1], next(iter(dl))[1]
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)
    assert sorted(a1.tolist()) == list(range(50))


def test_generic_dataset_uses_collate_and_transform():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full((1, 2, 2), i, np.float64), i

    seen = []

    def transform(x, rng):
        seen.append(rng)
        return x * 2

    x, y = next(iter(DataLoader(Squares(), batch_size=5, transform=transform)))
    assert x.dtype == np.float64 and y.dtype == np.int64  # torch's default_collate dtypes
    np.testing.assert_array_equal(x[:, 0, 0, 0], 2 * np.arange(5))
    assert isinstance(seen[0], np.random.Generator)


def test_errors_in_the_prefetch_thread_reach_the_caller():
    class Broken(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            raise KeyError(f"sample {i} is missing")

    with pytest.raises(KeyError, match="sample 0"):
        list(DataLoader(Broken(), batch_size=2))


def test_abandoned_iteration_stops_the_prefetch_thread():
    before = threading.active_count()
    it = iter(DataLoader(_ds(100), batch_size=1, prefetch=2))
    next(it)
    it.close()
    assert threading.active_count() <= before


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_ds(), batch_size=0)
    with pytest.raises(ValueError, match="array 1 has 3 rows"):
        TensorDataset(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="sum"):
        random_split(_ds(10), [3, 3])


def test_random_split_partitions():
    a, b = random_split(_ds(10), [0.7, 0.3])
    ids = sorted(np.concatenate([a[np.arange(len(a))][1], b[np.arange(len(b))][1]]).tolist())
    assert (len(a), len(b)) == (7, 3) and ids == list(range(10))


def test_standardize_and_mean_subtraction(rng):
    x = rng.standard_normal((200, 3, 4, 4)) * np.array([1, 5, 9])[None, :, None, None] + 7
    z = Standardize().fit_transform(x)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, atol=1e-4)
    m = MeanSubtraction().fit(x)
    np.testing.assert_allclose(m.transform(x).mean(0), 0, atol=1e-5)
    mc = MeanSubtraction(per_channel=True).fit(x)
    assert mc.mean.shape == (3, 1, 1)
    with pytest.raises(RuntimeError, match="fit"):
        Standardize().transform(x)


def test_whitening_gives_identity_covariance_and_round_trips_state(rng):
    mix = rng.standard_normal((12, 12))
    x = (rng.standard_normal((800, 12)) @ mix).reshape(800, 3, 2, 2)
    zca = ZCAWhitening(eps=0).fit(x)
    z = zca.transform(x)
    assert z.shape == x.shape
    np.testing.assert_allclose(np.cov(z.reshape(800, -1).T, bias=True), np.eye(12), atol=1e-4)
    # ZCA's matrix is symmetric (it rotates back into pixel space)
    np.testing.assert_allclose(zca.W, zca.W.T, atol=1e-10)
    pca = PCAWhitening(n_components=4, eps=0).fit(x)
    p = pca.transform(x)
    assert p.shape == (800, 4)
    np.testing.assert_allclose(np.cov(p.T, bias=True), np.eye(4), atol=1e-4)
    again = ZCAWhitening().load_state_dict(zca.state_dict())
    np.testing.assert_allclose(again.transform(x), z, rtol=1e-6)
    with pytest.raises(ValueError, match="n_components"):
        PCAWhitening(n_components=13).fit(x)


def _orders(loader, epochs):
    return [np.concatenate([b[1] for b in loader]) for _ in range(epochs)]


def test_seeded_loader_changes_per_epoch_and_repeats_per_seed():
    x = np.arange(40, dtype=np.float32).reshape(40, 1)
    y = np.arange(40)
    a = _orders(DataLoader(TensorDataset(x, y), batch_size=7, shuffle=True, seed=5), 3)
    b = _orders(DataLoader(TensorDataset(x, y), batch_size=7, shuffle=True, seed=5), 3)
    c = _orders(DataLoader(TensorDataset(x, y), batch_size=7, shuffle=True, seed=6), 3)
    for o in a:
        assert sorted(o) == list(range(40))
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[1], a[2])
    for o, p in zip(a, b):
        np.testing.assert_array_equal(o, p)
    assert not any(np.array_equal(o, q) for o, q in zip(a, c))
    # the global generator does not disturb a seeded loader
    pydlk.manual_seed(123)
    d = _orders(DataLoader(TensorDataset(x, y), batch_size=7, shuffle=True, seed=5), 3)
    for o, p in zip(a, d):
        np.testing.assert_array_equal(o, p)


@pytest.mark.parametrize("seed", [5, None])
@pytest.mark.parametrize("prefetch", [0, 2])
def test_loader_state_dict_resumes_mid_epoch(seed, prefetch):
    from pydlk.data import augment as A

    x = np.random.default_rng(0).standard_normal((50, 1, 6, 6)).astype(np.float32)
    y = np.arange(50)

    def make():
        return DataLoader(
            TensorDataset(x, y),
            batch_size=8,
            shuffle=True,
            seed=seed,
            prefetch=prefetch,
            transform=A.Compose([A.RandomCrop(padding=1)]),
        )

    pydlk.manual_seed(1)
    ref = make()
    straight = [b for _ in range(2) for b in ref]
    pydlk.manual_seed(1)
    first = make()
    got = [b for b in first]  # epoch 1
    it = iter(first)
    got += [next(it) for _ in range(3)]  # 3 batches into epoch 2
    state = first.state_dict()
    rng = pydlk.get_rng_state()
    assert state["batch"] == 3
    pydlk.manual_seed(99)  # whatever happened in between
    resumed = make()
    resumed.load_state_dict(state)
    pydlk.set_rng_state(rng)
    got += list(resumed)
    assert len(got) == len(straight)
    for (gx, gy), (sx, sy) in zip(got, straight):
        np.testing.assert_array_equal(gy, sy)
        np.testing.assert_array_equal(gx, sx)
    assert resumed.state_dict() == {"epoch": 2}
