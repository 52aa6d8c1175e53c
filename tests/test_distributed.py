"""pydlk.distributed, DistributedDataParallel, SyncBatchNorm, DistributedSampler.

The multi-process checks launch ``mpiexec -n 2`` (and ``-n 3``, more ranks than cores) on
tests/_mpi_worker.py and compare what rank 0 saved with a single process computing the same
thing from NumPy formulas or on the global batch. They skip when mpi4py or mpiexec is missing
(``MPIEXEC`` names a launcher explicitly).
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import child_env

import pydlk
import pydlk.functional as F
from pydlk import nn
from pydlk.data import DistributedSampler
from pydlk.models import LeNet5

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_mpi_worker.py"


def _mpiexec():
    exe = os.environ.get("MPIEXEC")
    if exe:
        return exe
    cand = Path(sys.executable).parent / "mpiexec"
    return str(cand) if cand.exists() else shutil.which("mpiexec")


def _launch(n, out, *cases, timeout=90):
    pytest.importorskip("mpi4py")
    exe = _mpiexec()
    if exe is None:
        pytest.skip("no mpiexec (pip install 'pydlk[mpi]')")
    # the children import the pydlk this pytest imports (installed, or the in-tree build through
    # an absolute PYTHONPATH), never the checkout's sources by accident
    env = child_env(OMP_NUM_THREADS="1")
    t0 = time.monotonic()
    p = subprocess.run(
        [exe, "-n", str(n), sys.executable, str(WORKER), str(out), *cases],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
        cwd=out,
    )
    return p, time.monotonic() - t0


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("mpi2")
    p, _ = _launch(2, out, "collectives", "equiv", "nosync", "unused", "sampler", "buckets")
    assert p.returncode == 0, p.stdout + p.stderr
    return out


# ----------------------------------------------------------------------------- helpers


def _reference_run(start, opt_name, dtype, world, steps=5, b=8):
    """One process, plain BatchNorm LeNet-5, the global batch of ``world * b``."""
    sys.path.insert(0, str(HERE))
    try:
        from _mpi_worker import data, freeze_bn_biases
    finally:
        sys.path.pop(0)
    model = LeNet5(in_size=8)
    if dtype == np.float64:
        model = model.double()
    freeze_bn_biases(model)
    model.load_state_dict(start)
    if opt_name == "sgd":
        opt = pydlk.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = pydlk.optim.Adam(model.parameters(), lr=1e-2)
    x, y = data(world, dtype, steps, b)
    for s in range(steps):
        loss = F.cross_entropy(model(pydlk.tensor(x[s])), y[s])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: np.asarray(v) for k, v in model.state_dict().items()}


def _compare(end, ref, start, tol):
    moved = 0.0
    for k, v in ref.items():
        got = end["module." + k]
        assert got.dtype == v.dtype, k
        np.testing.assert_allclose(got, v, rtol=tol, atol=tol, err_msg=k)
        moved = max(moved, float(np.abs(v.astype(np.float64) - start[k]).max()))
    assert moved > 1e-3  # the steps really changed the model


def _load(path):
    z = np.load(path)
    start = {k[6:]: z[k] for k in z.files if k.startswith("start.")}
    end = {k[4:]: z[k] for k in z.files if k.startswith("end.")}
    return start, end


# ----------------------------------------------------------------------------- two ranks


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_ddp_syncbn_equals_one_process_on_the_global_batch(two_ranks, opt_name, dtype, tol):
    start, end = _load(two_ranks / f"equiv_{opt_name}_{np.dtype(dtype).name}.npz")
    assert all(k.startswith("module.") for k in end)  # torch's DDP state_dict prefix
    ref = _reference_run(start, opt_name, dtype, world=2)
    assert set(ref) == {k[len("module.") :] for k in end}
    _compare(end, ref, start, tol)


def test_no_sync_accumulation_equals_one_big_step(two_ranks):
    sys.path.insert(0, str(HERE))
    try:
        from _mpi_worker import _mlp
    finally:
        sys.path.pop(0)
    got = np.load(two_ranks / "nosync.npz")
    model = _mlp(5)
    opt = pydlk.optim.SGD(model.parameters(), lr=0.5)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 8, 6))
    y = rng.integers(0, 3, (3, 8))
    opt.zero_grad()
    F.cross_entropy(model(pydlk.tensor(x.reshape(24, 6))), y.reshape(24)).backward()
    opt.step()
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(got[k], np.asarray(v), rtol=1e-13, atol=1e-14, err_msg=k)


def test_small_buckets_without_an_arena(two_ranks):
    sys.path.insert(0, str(HERE))
    try:
        from _mpi_worker import _mlp
    finally:
        sys.path.pop(0)
    got = np.load(two_ranks / "buckets.npz")
    model = _mlp(6)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 6))
    y = rng.integers(0, 3, 8)
    F.cross_entropy(model(pydlk.tensor(x)), y).backward()
    for k, p in model.named_parameters():
        np.testing.assert_allclose(got[k], p.grad, rtol=1e-13, atol=1e-15, err_msg=k)


def test_unused_parameters_contribute_zeros(two_ranks):
    g = np.load(two_ranks / "unused.npz")
    # d(sum(a(x) + b(x)))/dW = ones(2, 1) @ x.sum(0)[None]; rank r's x is base + r
    base = np.arange(6.0).reshape(2, 3) / 5
    xs = [base, base + 1]
    ga = np.mean([np.ones((2, 1)) * x.sum(0)[None] for x in xs], 0)
    np.testing.assert_allclose(g["a.weight"], ga, rtol=1e-14)
    np.testing.assert_allclose(g["a.bias"], [2.0, 2.0], rtol=1e-14)
    np.testing.assert_allclose(
        g["b.weight"], np.ones((2, 1)) * xs[1].sum(0)[None] / 2, rtol=1e-14
    )  # rank 0 contributed zeros
    np.testing.assert_allclose(g["b.bias"], [1.0, 1.0], rtol=1e-14)
    assert (g["c.weight"] == 0).all() and (g["c.bias"] == 0).all()


def test_sampler_under_mpi_covers_every_index_once(two_ranks):
    for epoch in range(2):
        got = np.load(two_ranks / f"sampler_{epoch}.npy")  # (world, len): 11 indices, 2 ranks
        flat = got.T.reshape(-1)  # interleaved back into the padded permutation
        assert sorted(flat[:11].tolist()) == list(range(11))
        assert flat[11] == flat[0]  # padding repeats the start
    e0, e1 = (np.load(two_ranks / f"sampler_{e}.npy") for e in range(2))
    assert not (e0 == e1).all()  # set_epoch reshuffles


# ----------------------------------------------------------------------------- three ranks


def test_three_ranks_oversubscribed(tmp_path):
    p, _ = _launch(3, tmp_path, "collectives", "equiv_adam64")
    assert p.returncode == 0, p.stdout + p.stderr
    start, end = _load(tmp_path / "equiv_adam_float64.npz")
    ref = _reference_run(start, "adam", np.float64, world=3)
    _compare(end, ref, start, 1e-12)


def test_fit_prints_and_writes_on_rank_zero_only(tmp_path):
    p, _ = _launch(2, tmp_path, "fit")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("epoch 1:") == 1 and p.stdout.count("epoch 2:") == 1, p.stdout
    assert (tmp_path / "log_0.csv").exists() and not (tmp_path / "log_1.csv").exists()


# ----------------------------------------------------------------------------- faults


def test_crashing_rank_ends_every_rank_promptly(tmp_path):
    p, secs = _launch(2, tmp_path, "crash", timeout=60)
    assert p.returncode != 0
    text = p.stdout + p.stderr
    assert text.count("ValueError: boom from rank 1") == 1, text
    assert secs < 20, secs


def test_timeout_names_the_missing_rank(tmp_path):
    p, secs = _launch(2, tmp_path, "timeout", timeout=60)
    assert p.returncode != 0
    text = p.stdout + p.stderr
    assert "barrier (collective #1) on rank 0 timed out after 1 s" in text, text
    assert "ranks [1] have not reached it" in text, text
    assert secs < 20, secs


# ----------------------------------------------------------------------------- one process


def test_no_mpi_import_until_init(tmp_path):
    code = (
        "import sys, pydlk, pydlk.distributed as d, pydlk.nn.parallel, pydlk.data;"
        "assert 'mpi4py' not in sys.modules; assert not d.is_initialized();"
        "assert (d.get_rank(), d.get_world_size()) == (0, 1)"
    )
    env = {k: v for k, v in child_env().items() if not k.startswith(("PMI_", "OMPI_"))}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60, cwd=tmp_path)


def test_rank_from_launcher_environment(monkeypatch):
    import pydlk.distributed as dist

    monkeypatch.setenv("PMI_RANK", "2")
    monkeypatch.setenv("PMI_SIZE", "4")
    assert (dist.get_rank(), dist.get_world_size()) == (2, 4)
    assert (DistributedSampler(range(10)).rank, DistributedSampler(range(10)).num_replicas) == (
        2,
        4,
    )


def test_collectives_need_a_process_group():
    import pydlk.distributed as dist

    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.all_reduce(np.ones(2))
    with pytest.raises(RuntimeError, match="init_process_group"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="backend 'nccl'"):
        dist.init_process_group("nccl")


@pytest.mark.parametrize(
    "n,world,drop_last",
    [(10, 3, False), (10, 3, True), (2, 5, False), (12, 4, False), (7, 2, True), (0, 2, False)],
)
def test_sampler_partition_rules(n, world, drop_last):
    ds = list(range(n))
    shares = []
    for r in range(world):
        s = DistributedSampler(
            ds, num_replicas=world, rank=r, shuffle=True, seed=7, drop_last=drop_last
        )
        s.set_epoch(3)
        shares.append(list(s))
        assert len(shares[-1]) == len(s)
    lens = {len(x) for x in shares}
    assert len(lens) == 1
    per = lens.pop()
    # torch's sizes: ceil(n / world), or with drop_last floor(n / world)
    assert per == (n // world if drop_last else -(-n // world))
    flat = [i for k in range(per) for i in (sh[k] for sh in shares)]
    if drop_last:
        assert len(set(flat)) == len(flat) == per * world  # no index twice
    else:
        assert set(flat) == set(range(n))  # every index at least once
        assert sorted(flat[:n]) == list(range(n))  # exactly once before the padding
        assert flat[n:] == (flat[:n] * (1 + world))[: len(flat) - n]  # padding repeats


def test_sampler_matches_torch_without_shuffle():
    tud = pytest.importorskip("torch.utils.data")
    for n, world, drop_last in [(10, 3, False), (10, 3, True), (2, 5, False), (9, 4, True)]:
        for r in range(world):
            ours = list(DistributedSampler(range(n), world, r, shuffle=False, drop_last=drop_last))
            theirs = list(
                tud.DistributedSampler(range(n), world, r, shuffle=False, drop_last=drop_last)
            )
            assert ours == theirs


def test_sampler_bad_rank():
    with pytest.raises(ValueError, match="Invalid rank 3"):
        DistributedSampler(range(4), num_replicas=3, rank=3)


def test_sync_batchnorm_single_process_is_batchnorm():
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm2d(3).double()
    sbn = nn.SyncBatchNorm(3, dtype=np.float64)
    sbn.load_state_dict(bn.state_dict())
    x = rng.standard_normal((4, 3, 5, 5))
    xa, xb = pydlk.tensor(x, requires_grad=True), pydlk.tensor(x, requires_grad=True)
    ya, yb = bn(xa), sbn(xb)
    np.testing.assert_array_equal(np.asarray(ya), np.asarray(yb))
    dy = rng.standard_normal(x.shape)
    (ya * pydlk.tensor(dy)).sum().backward()
    (yb * pydlk.tensor(dy)).sum().backward()
    np.testing.assert_array_equal(xa.grad, xb.grad)
    np.testing.assert_array_equal(np.asarray(bn.running_var), np.asarray(sbn.running_var))


def test_convert_sync_batchnorm_keeps_order_and_shares_parameters():
    m = LeNet5(in_size=8)
    bn = m.features[1]
    c = nn.SyncBatchNorm.convert_sync_batchnorm(m)
    assert isinstance(c.features[1], nn.SyncBatchNorm)
    assert c.features[1].weight is bn.weight
    assert c.features[1].running_mean is bn.running_mean
    assert [type(x).__name__ for x in c.features] == [
        "Conv2d",
        "SyncBatchNorm",
        "ReLU",
        "MaxPool2d",
        "Conv2d",
        "SyncBatchNorm",
        "ReLU",
        "MaxPool2d",
    ]
    assert list(c.state_dict()) == list(LeNet5(in_size=8).state_dict())


def test_sync_batchnorm_function_gradients_single_rank():
    """The synchronised forward/backward on a one-rank group, against a float64 finite
    difference (and BatchNorm's values)."""
    from pydlk.nn.sync_batchnorm import _SyncBatchNormFn

    class _OneRank:  # a one-process group: collectives copy
        size = 1

        class comm:
            @staticmethod
            def Iallgather(a, b):
                b[0] = a

            @staticmethod
            def Iallreduce(_inplace, a, op=None):
                return None

        class MPI:
            IN_PLACE, SUM = None, None

        @staticmethod
        def next_seq():
            return 0

        @staticmethod
        def wait(reqs, name, seq):
            pass

    rng = np.random.default_rng(1)
    x = pydlk.tensor(rng.standard_normal((5, 3, 2, 2)), requires_grad=True)
    w = pydlk.tensor(rng.uniform(0.5, 1.5, 3), requires_grad=True)
    b = pydlk.tensor(rng.standard_normal(3), requires_grad=True)

    def f(x, w, b):
        return _SyncBatchNormFn.apply(x, w, b, None, None, 0.1, 1e-5, _OneRank)

    assert pydlk.gradcheck(f, (x, w, b))
    ref = F.batch_norm(x, None, None, w, b, True, 0.1, 1e-5)
    np.testing.assert_allclose(np.asarray(f(x, w, b)), np.asarray(ref), rtol=1e-12, atol=1e-12)
