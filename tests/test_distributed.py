"""pydlk.distributed, DistributedDataParallel, SyncBatchNorm, DistributedSampler.

The multi-process checks launch ``mpiexec -n 2`` (and ``-n 3``, more ranks than cores) on
tests/_mpi_worker.py and compare what rank 0 saved with a single process computing the same
thing from NumPy formulas or on the global batch. They skip when mpi4py or mpiexec is missing
(``MPIEXEC`` names a launcher explicitly).
"""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import child_env, mpiexec

import pydlk
import pydlk.functional as F
from pydlk import nn
from pydlk.data import DistributedSampler
from pydlk.models import LeNet5

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_mpi_worker.py"


def _mpirun(n, cwd, args, timeout=90):
    """``mpiexec -n n python ARGS`` in ``cwd``: (completed process, seconds)."""
    pytest.importorskip("mpi4py")
    exe = mpiexec()
    if exe is None:
        pytest.skip("no mpiexec (pip install 'pydlk[mpi]')")
    # the children import the pydlk this pytest imports (installed, or the in-tree build through
    # an absolute PYTHONPATH), never the checkout's sources by accident
    env = child_env(OMP_NUM_THREADS="1")
    t0 = time.monotonic()
    p = subprocess.run(
        [exe, "-n", str(n), sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
        cwd=cwd,
    )
    return p, time.monotonic() - t0


def _launch(n, out, *cases, timeout=90):
    return _mpirun(n, out, [WORKER, out, *cases], timeout=timeout)


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


def test_fit_metrics_sum_counts_across_ranks(tmp_path):
    """Losses and pydlk.metrics under 2 ranks equal one process on the same global data: the
    training batches are the global batches split in two; the validation set (41 samples) is
    split 21/20, where averaging per-rank ratios would be wrong (and is for macro precision,
    F1 and the confusion matrix, which must add counts)."""
    p, _ = _launch(2, tmp_path, "fit_metrics")
    assert p.returncode == 0, p.stdout + p.stderr
    got = np.load(tmp_path / "fit_metrics.npz")
    sys.path.insert(0, str(HERE))
    try:
        from _mpi_worker import fit_metrics_run, metrics_job
    finally:
        sys.path.pop(0)
    logs, cm = fit_metrics_run(0, 1)
    keys = {"loss", "accuracy", "precision", "recall", "f1"}
    assert keys | {"val_" + k for k in keys} <= set(logs)
    for k, v in logs.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-12, atol=1e-14, err_msg=k)
    np.testing.assert_array_equal(got["cm"], cm)
    assert got["cm"].sum() == 41  # every validation sample counted exactly once
    # the figures are the whole data's, not an average of the two ranks' ratios
    from pydlk.train import evaluate

    model, _, _, _, metrics, _ = metrics_job(0, 1)
    shards = [evaluate(model, F.cross_entropy, metrics_job(r, 2)[3], metrics) for r in range(2)]
    whole = evaluate(model, F.cross_entropy, metrics_job(0, 1)[3], metrics)
    assert abs((shards[0]["precision"] + shards[1]["precision"]) / 2 - whole["precision"]) > 1e-4


# ----------------------------------------------------------------------------- the CLI

# Each rank starts in its own directory (rank0/, rank1/) with a relative --out, so what rank 1
# writes could not hide among rank 0's files; --resume takes an absolute path every rank reads.
PER_RANK = (
    "import os, sys\n"
    "from pydlk.distributed import get_rank\n"
    "d = os.path.join(sys.argv[1], f'rank{get_rank()}')\n"
    "os.makedirs(d, exist_ok=True)\n"
    "os.chdir(d)\n"
    "from pydlk.cli import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)
TRAIN = ["train", "--schedule", "none", "--no-progress"]


def _accuracy(text):
    import re

    m = re.findall(r"test accuracy ([0-9.]+)%", text)
    assert len(m) == 1, text  # printed once, by rank 0
    return float(m[0])


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    one = subprocess.run(
        [sys.executable, "-c", PER_RANK, out / "one", *TRAIN, "--epochs", "2", "--out", "full"],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in child_env(OMP_NUM_THREADS="1").items() if not k.startswith("PMI_")},
        cwd=out,
        check=False,
    )
    assert one.returncode == 0, one.stdout + one.stderr
    runs = {"one": one.stdout}
    two = out / "two"
    last = two / "rank0" / "part" / "digits-lenet5" / "last.npz"
    for name, args in [
        ("full", ["--epochs", "2", "--out", "full"]),
        ("part", ["--epochs", "1", "--out", "part"]),
        ("resumed", ["--epochs", "2", "--out", "part", "--resume", last]),
    ]:
        p, _ = _mpirun(2, out, ["-c", PER_RANK, two, *TRAIN, *args], timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        runs[name] = p.stdout
    return out, runs


def test_train_under_mpiexec_writes_on_rank_zero_only(cli_runs):
    out, runs = cli_runs
    assert list((out / "two" / "rank1").iterdir()) == []  # rank 1 wrote nothing
    run = out / "two" / "rank0" / "full" / "digits-lenet5"
    names = {"best.npz", "last.npz", "checkpoint.npz", "history.csv", "history.png"}
    assert names <= {f.name for f in run.iterdir()}
    assert len((run / "history.csv").read_text().splitlines()) == 3  # header + 2 epochs
    assert runs["full"].count("pydlk train: lenet5") == 1
    assert "2 ranks (global batch 64)" in runs["full"]
    # checkpoints hold the unwrapped model: the keys of a one-process run, no 'module.'
    one = pydlk.load(out / "one" / "rank0" / "full" / "digits-lenet5" / "last.npz")["model"]
    two = pydlk.load(run / "last.npz")["model"]
    assert list(one) == list(two)


def test_train_under_mpiexec_reaches_the_one_process_accuracy(cli_runs):
    """The two runs see the same global batch size but different data orders (the sampler's
    permutation is not the loader's shuffle), so they differ as two seeds of one process do:
    over seeds 0-4 the one-process accuracy after 2 epochs spans 91.5-96.3% of the 270 test
    images, and each 2-rank run was within 2.6 points of its one-process seed. 5 points (14
    images) is that spread."""
    _, runs = cli_runs
    one, two = _accuracy(runs["one"]), _accuracy(runs["full"])
    assert one > 85 and two > 85, (one, two)
    assert abs(one - two) <= 5.0, (one, two)


def test_train_resumed_under_mpiexec_equals_uninterrupted(cli_runs):
    out, runs = cli_runs
    full = pydlk.load(out / "two" / "rank0" / "full" / "digits-lenet5" / "last.npz")
    resumed = pydlk.load(out / "two" / "rank0" / "part" / "digits-lenet5" / "last.npz")
    assert int(full["epoch"]) == int(resumed["epoch"]) == 2
    for k, v in full["model"].items():
        np.testing.assert_array_equal(np.asarray(resumed["model"][k]), np.asarray(v), err_msg=k)
    assert _accuracy(runs["resumed"]) == _accuracy(runs["full"])


# ----------------------------------------------------------------------------- GPUs (NCCL)


def test_nccl_collectives_on_cupy_arrays(tmp_path):
    """all_reduce/broadcast/all_gather of CuPy arrays through NCCL, one rank per GPU (NCCL
    refuses two ranks on one GPU, so one GPU tests a one-rank communicator)."""
    cp = pytest.importorskip("cupy")
    try:
        gpus = cp.cuda.runtime.getDeviceCount()
    except cp.cuda.runtime.CUDARuntimeError:
        gpus = 0
    if gpus == 0:
        pytest.skip("no GPU")
    n = min(gpus, 2)
    p, _ = _launch(n, tmp_path, "nccl", timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    assert np.load(tmp_path / "nccl_ok.npy").tolist() == [n]


def test_nccl_type_rules_name_the_collective():
    from pydlk.distributed.nccl import nccl_view

    z = np.array([1 + 2j, 3 - 4j])
    v, key = nccl_view(z, "sum", "all_reduce")
    assert key == "NCCL_FLOAT64" and v.tolist() == [1.0, 2.0, 3.0, -4.0]
    assert nccl_view(np.zeros(2, np.complex64), "avg", "all_reduce")[1] == "NCCL_FLOAT32"
    assert nccl_view(np.zeros(2, np.float16), "max", "all_reduce")[1] == "NCCL_FLOAT16"
    with pytest.raises(TypeError, match="all_reduce: NCCL reduces complex arrays with SUM"):
        nccl_view(z, "max", "all_reduce")
    with pytest.raises(TypeError, match="broadcast: NCCL has no type for bool"):
        nccl_view(np.zeros(2, bool), "sum", "broadcast")


def test_collectives_name_the_accepted_array_types():
    import pydlk.distributed as dist

    with pytest.raises(TypeError, match="all_reduce: tensor must be a pydlk Tensor, a NumPy"):
        dist.all_reduce([1.0, 2.0])


# ----------------------------------------------------------------------------- faults


def test_crashing_rank_ends_every_rank_promptly(tmp_path):
    p, secs = _launch(2, tmp_path, "crash", timeout=60)
    assert p.returncode != 0
    text = p.stdout + p.stderr
    assert text.count("ValueError: boom from rank 1") == 1, text
    assert secs < 20, secs


def test_rank_raising_in_fit_ends_every_rank_promptly(tmp_path):
    p, secs = _launch(2, tmp_path, "crash_in_fit", timeout=60)
    assert p.returncode != 0
    text = p.stdout + p.stderr
    assert text.count("ValueError: boom in fit from rank 1") == 1, text
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
    with pytest.raises(ValueError, match="backend 'ucc' is not available"):
        dist.init_process_group("ucc")  # mpi, gloo and nccl are accepted: see test_distributed_more


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


def test_sync_batchnorm_refuses_what_is_not_a_process_group():
    # None, group.WORLD or a new_group's ProcessGroup (checked on three ranks in
    # tests/_mpi_more_groups.py); anything else is named in the error
    with pytest.raises(ValueError, match="SyncBatchNorm: process_group must be None or a process"):
        nn.SyncBatchNorm(3, process_group="world")
    with pytest.raises(ValueError, match="SyncBatchNorm: process_group must be"):
        nn.SyncBatchNorm(3, process_group=-100)  # GroupMember.NON_GROUP_MEMBER


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
