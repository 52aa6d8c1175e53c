"""Programs run under ``mpiexec`` by tests/test_distributed.py (one case per argument).

Each rank runs the same case; rank 0 writes what the test compares into ``<out>/<case>.npz``.
Assertions that only need NumPy formulas are made here, on every rank.
"""

import sys
import time
import weakref

import numpy as np

import pydlk
import pydlk.distributed as dist
import pydlk.functional as F
from pydlk import nn
from pydlk.models import LeNet5
from pydlk.nn.parallel import DistributedDataParallel as DDP

STEPS, B = 5, 8  # optimiser steps, per-rank batch


def data(world, dtype, steps=STEPS, b=B):
    """The global batches (every rank builds all of them and takes its own rows)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((steps, world * b, 1, 8, 8)).astype(dtype)
    y = rng.integers(0, 10, (steps, world * b)).astype(np.int64)
    return x, y


def case_collectives(out):
    r, w = dist.get_rank(), dist.get_world_size()
    vals = [np.arange(6, dtype=np.float64).reshape(2, 3) * (k + 1) - k for k in range(w)]
    for op, ref in [
        (dist.ReduceOp.SUM, np.sum(vals, 0)),
        (dist.ReduceOp.AVG, np.mean(vals, 0)),
        (dist.ReduceOp.MAX, np.max(vals, 0)),
        (dist.ReduceOp.MIN, np.min(vals, 0)),
        (dist.ReduceOp.PRODUCT, np.prod(vals, 0)),
    ]:
        a = vals[r].copy()
        dist.all_reduce(a, op)
        np.testing.assert_allclose(a, ref, rtol=1e-15, err_msg=str(op))
    t = pydlk.tensor(np.full(4, r + 1, np.int64))
    dist.all_reduce(t)
    assert np.asarray(t).tolist() == [w * (w + 1) // 2] * 4, t
    nc = np.zeros((3, 4))[:, ::2]  # not contiguous: goes through a copy written back
    nc[...] = r
    dist.all_reduce(nc)
    assert (nc == sum(range(w))).all()
    work = dist.all_reduce(np.ones(2), async_op=True)
    assert work.wait()
    # The Work keeps the arrays MPI writes into (mpi4py holds no reference to them) until
    # wait(); one the caller drops stays with the group until its transfer completes.
    x = np.ones(2)
    ref = weakref.ref(x)
    work = dist.all_reduce(x, async_op=True)
    del x
    assert ref() is not None
    assert work.wait()
    assert ref() is None  # let go once the transfer is done
    x = np.ones(2)
    ref = weakref.ref(x)
    dist.all_reduce(x, async_op=True)  # dropped without waiting
    del x
    assert ref() is not None
    for _ in range(1000):  # later collectives let it go once its transfer is done
        gone = np.array([ref() is None], np.int64)
        dist.all_reduce(gone, dist.ReduceOp.MIN)  # every rank runs the same collectives
        if gone[0]:
            break
    assert ref() is None
    b = np.full(3, float(r))
    dist.broadcast(b, src=w - 1)
    assert (b == w - 1).all()
    outs = [pydlk.tensor(np.zeros(2)) for _ in range(w)]
    dist.all_gather(outs, pydlk.tensor(np.array([r, r * r], np.float64)))
    np.testing.assert_array_equal(
        np.stack([np.asarray(o) for o in outs]), [[k, k * k] for k in range(w)]
    )
    dist.barrier()


# Biases directly followed by a BatchNorm have an exactly zero gradient (the normalisation
# removes any shift): backward computes rounding noise for them (~1e-17 in float64), different
# in any two runs, which Adam divides by its tiny second moment and which then shows in the
# running means. The comparisons freeze them (also exercising DDP with frozen parameters).
BN_BIASES = ("features.0.bias", "features.4.bias", "classifier.0.bias", "classifier.3.bias")


def freeze_bn_biases(model):
    params = dict(model.named_parameters())
    for k in BN_BIASES:
        params[k].requires_grad_(False)
    return model


def case_equiv(out, opt_name, dtype):
    """DDP + SyncBatchNorm LeNet-5 for STEPS steps; rank 0 saves the start and the end."""
    r, w = dist.get_rank(), dist.get_world_size()
    pydlk.manual_seed(100 + r)  # different inits: DDP must broadcast rank 0's
    model = nn.SyncBatchNorm.convert_sync_batchnorm(LeNet5(in_size=8))
    if dtype == np.float64:
        model = model.double()
    freeze_bn_biases(model)
    ddp = DDP(model)
    if opt_name == "sgd":
        opt = pydlk.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = pydlk.optim.Adam(ddp.parameters(), lr=1e-2)
    start = {k: np.array(v) for k, v in model.state_dict().items()}  # after the broadcast
    x, y = data(w, dtype)
    for s in range(STEPS):
        xs = pydlk.tensor(x[s, r * B : (r + 1) * B])
        loss = F.cross_entropy(ddp(xs), y[s, r * B : (r + 1) * B])
        opt.zero_grad()
        loss.backward()
        opt.step()
    # the buckets are slices of the optimiser's flat gradient buffer (no copies)
    assert all(b.is_view for b in ddp.reducer.buckets)
    assert all(np.asarray(p.grad) is p._grad_slot for p in ddp.parameters() if p.requires_grad)
    end = {k: np.asarray(v) for k, v in ddp.state_dict().items()}
    if r == 0:
        np.savez(
            f"{out}/equiv_{opt_name}_{np.dtype(dtype).name}.npz",
            **{"start." + k: v for k, v in start.items()},
            **{"end." + k: v for k, v in end.items()},
        )


def _mlp(seed):
    pydlk.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)).double()


def case_nosync(out):
    """Two no_sync micro-batches and a synchronised one, each loss / 3: one SGD step."""
    r, w = dist.get_rank(), dist.get_world_size()
    ddp = DDP(_mlp(5))
    opt = pydlk.optim.SGD(ddp.parameters(), lr=0.5)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, w * 4, 6))
    y = rng.integers(0, 3, (3, w * 4))
    opt.zero_grad()
    for k in range(3):
        xs, ys = x[k, r * 4 : (r + 1) * 4], y[k, r * 4 : (r + 1) * 4]
        if k < 2:
            with ddp.no_sync():
                (F.cross_entropy(ddp(pydlk.tensor(xs)), ys) / 3).backward()
        else:
            (F.cross_entropy(ddp(pydlk.tensor(xs)), ys) / 3).backward()
    opt.step()
    if r == 0:
        np.savez(
            f"{out}/nosync.npz", **{k: np.asarray(v) for k, v in ddp.module.state_dict().items()}
        )


def case_buckets(out):
    """Tiny buckets, no optimiser (each bucket owns a buffer): gradients of the global-batch
    mean; by the time the first layer's weight is ready, later buckets are already launched."""
    r, w = dist.get_rank(), dist.get_world_size()
    model = _mlp(6)
    first = next(iter(model.parameters()))
    seen = []
    first.register_post_accumulate_grad_hook(lambda p: seen.append(ddp.reducer.next_launch))
    ddp = DDP(model, bucket_cap_mb=1e-4)
    assert len(ddp.reducer.params) == 4
    rng = np.random.default_rng(3)
    x = rng.standard_normal((w * 4, 6))
    y = rng.integers(0, 3, w * 4)
    F.cross_entropy(ddp(pydlk.tensor(x[r * 4 : (r + 1) * 4])), y[r * 4 : (r + 1) * 4]).backward()
    assert len(ddp.reducer.buckets) == 4 and not any(b.is_view for b in ddp.reducer.buckets)
    assert seen[0] >= 2, seen  # the second layer's buckets were in flight before it
    if r == 0:
        np.savez(
            f"{out}/buckets.npz",
            **{k: np.asarray(p.grad) for k, p in ddp.module.named_parameters()},
        )


class _Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 2)
        self.b = nn.Linear(3, 2)
        self.c = nn.Linear(3, 2)  # used by no rank

    def forward(self, x, use_b):
        return self.a(x) + (self.b(x) if use_b else 0.0)


def case_unused(out):
    """Rank 0 skips branch b, rank 1 uses it; c is never used: the average has b's gradient
    over ranks (zero from rank 0) and c's gradient is zero."""
    r = dist.get_rank()
    pydlk.manual_seed(3)
    ddp = DDP(_Branchy().double(), find_unused_parameters=True)
    opt = pydlk.optim.SGD(ddp.parameters(), lr=1.0)
    x = np.arange(6.0).reshape(2, 3) / 5 + r
    opt.zero_grad()
    ddp(pydlk.tensor(x), use_b=(r == 1)).sum().backward()
    grads = {n: np.asarray(p.grad).copy() for n, p in ddp.module.named_parameters()}
    allg = {n: [np.zeros_like(g) for _ in range(dist.get_world_size())] for n, g in grads.items()}
    for n, g in grads.items():
        dist.all_gather(allg[n], g)
        assert all((a == g).all() for a in allg[n]), f"{n}: gradients differ between ranks"
    # the same forward twice is fine; a second armed step works too
    opt.step()
    opt.zero_grad()
    ddp(pydlk.tensor(x), use_b=(r == 1)).sum().backward()
    if r == 0:
        np.savez(f"{out}/unused.npz", **grads)


def case_sampler(out):
    from pydlk.data import DistributedSampler, TensorDataset

    r, w = dist.get_rank(), dist.get_world_size()
    ds = TensorDataset(np.arange(11, dtype=np.float32))
    s = DistributedSampler(ds, seed=4)
    for epoch in range(2):
        s.set_epoch(epoch)
        mine = np.array(list(s), np.int64)
        assert len(mine) == len(s) == -(-11 // w)
        got = [np.zeros(len(s), np.int64) for _ in range(w)]
        dist.all_gather(got, mine)
        if r == 0:
            np.save(f"{out}/sampler_{epoch}.npy", np.stack(got))
        vals = np.array([ds[i][0] for i in mine])  # the data set indexed with the sampler
        assert (vals == mine).all()


def case_fit(out):
    """fit under mpiexec: rank 0 alone prints and writes; the epoch logs agree on every rank."""
    from pydlk.data import DataLoader, DistributedSampler, Subset, TensorDataset
    from pydlk.train import CSVLogger, fit

    r, w = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(5)
    ds = TensorDataset(
        rng.standard_normal((40, 6)).astype(np.float32), rng.integers(0, 3, 40).astype(np.int64)
    )
    sampler = DistributedSampler(ds, seed=1)
    train = DataLoader(Subset(ds, list(sampler)), batch_size=5, prefetch=0)
    model = DDP(nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)))
    opt = pydlk.optim.SGD(model.parameters(), lr=0.1)
    hist = fit(
        model,
        F.cross_entropy,
        opt,
        train,
        val_loader=train,
        epochs=2,
        callbacks=[CSVLogger(f"{out}/log_{r}.csv")],
    )
    mine = np.array(hist.history["loss"] + hist.history["val_loss"] + hist.history["accuracy"])
    got = [np.zeros_like(mine) for _ in range(w)]
    dist.all_gather(got, mine)
    assert all((g == mine).all() for g in got), got


def metrics_job(r, w):
    """Loaders, model, optimiser and metrics of the metrics-under-fit check, for rank ``r`` of
    ``w`` (``w == 1``: the one-process job on the global data). Training: 40 samples in global
    batches of 10, rank r taking rows [r*10/w, (r+1)*10/w) of each (so DDP's averaged gradient is
    the global batch's); validation: 41 samples split 21/20 (uneven), each counted once."""
    from pydlk.data import DataLoader, Subset, TensorDataset
    from pydlk.metrics import Accuracy, ConfusionMatrix, F1Score, Precision, Recall

    rng = np.random.default_rng(8)
    xt, yt = rng.standard_normal((40, 6)), rng.integers(0, 3, 40)
    xv, yv = rng.standard_normal((41, 6)), rng.integers(0, 3, 41)
    per = 10 // w
    rows = [b * 10 + r * per + k for b in range(4) for k in range(per)]
    train = DataLoader(Subset(TensorDataset(xt, yt), rows), batch_size=per, prefetch=0)
    val = DataLoader(Subset(TensorDataset(xv, yv), range(r, 41, w)), batch_size=8, prefetch=0)
    model = _mlp(11)
    opt = pydlk.optim.SGD(model.parameters(), lr=0.5)
    metrics = [
        Accuracy(),
        Precision(3),
        Recall(3, average="weighted"),
        F1Score(3),
    ]
    return model, opt, train, val, metrics, ConfusionMatrix(3)


def fit_metrics_run(r, w, wrap=lambda m: m):
    """fit for 2 epochs with metrics, then evaluate with a confusion matrix: (history, cm)."""
    from pydlk.train import evaluate, fit

    model, opt, train, val, metrics, cm = metrics_job(r, w)
    model = wrap(model)
    hist = fit(model, F.cross_entropy, opt, train, val, epochs=2, metrics=metrics, verbose=False)
    evaluate(model, F.cross_entropy, val, [cm])
    return hist.history, cm.compute()


def case_fit_metrics(out):
    """Rank 0 saves the epoch logs and the validation confusion matrix of the 2-rank run."""
    r, w = dist.get_rank(), dist.get_world_size()
    logs, cm = fit_metrics_run(r, w, DDP)
    if r == 0:
        np.savez(f"{out}/fit_metrics.npz", cm=cm, **{k: np.array(v) for k, v in logs.items()})


def case_nccl(out):
    """Collectives on CuPy arrays (through NCCL) against NumPy formulas; one GPU per rank."""
    import cupy as cp

    r, w = dist.get_rank(), dist.get_world_size()
    cp.cuda.Device(r % cp.cuda.runtime.getDeviceCount()).use()
    for dtype in (np.float32, np.float64, np.int64):
        vals = [(np.arange(6).reshape(2, 3) * (k + 1) - k).astype(dtype) for k in range(w)]
        for op, ref in [
            (dist.ReduceOp.SUM, np.sum(vals, 0)),
            (dist.ReduceOp.MAX, np.max(vals, 0)),
            (dist.ReduceOp.MIN, np.min(vals, 0)),
            (dist.ReduceOp.PRODUCT, np.prod(vals, 0)),
        ] + ([(dist.ReduceOp.AVG, np.mean(vals, 0))] if dtype != np.int64 else []):
            a = cp.asarray(vals[r])
            dist.all_reduce(a, op)
            np.testing.assert_allclose(cp.asnumpy(a), ref, rtol=1e-6, err_msg=f"{dtype} {op}")
    z = cp.asarray(np.array([1 + 2j, r - 1j]))
    dist.all_reduce(z)
    np.testing.assert_allclose(cp.asnumpy(z), [w * (1 + 2j), sum(range(w)) - w * 1j])
    nc = cp.zeros((3, 4))[:, ::2]  # not contiguous: a contiguous copy written back
    nc[...] = r
    dist.all_reduce(nc)
    assert bool((nc == sum(range(w))).all())
    work = dist.all_reduce(cp.ones(2), async_op=True)
    assert work.wait() and work.is_completed()
    b = cp.full(3, float(r))
    dist.broadcast(b, src=w - 1)
    assert bool((b == w - 1).all())
    outs = [cp.zeros(2) for _ in range(w)]
    dist.all_gather(outs, cp.asarray(np.array([r, r * r], np.float64)))
    np.testing.assert_array_equal(
        np.stack([cp.asnumpy(o) for o in outs]), [[k, k * k] for k in range(w)]
    )
    dist.barrier()
    if r == 0:
        np.save(f"{out}/nccl_ok.npy", np.array([w]))


def case_crash(out):
    if dist.get_rank() == 1:
        raise ValueError("boom from rank 1")
    dist.barrier()  # rank 0 waits here until the abort ends it


def case_crash_in_fit(out):
    """Rank 1's loss function raises in the third batch, while rank 0 is in backward waiting
    for the gradient all-reduce."""
    from pydlk.data import DataLoader, TensorDataset
    from pydlk.train import fit

    r = dist.get_rank()
    calls = []

    def loss_fn(out, y):
        calls.append(1)
        if r == 1 and len(calls) == 3:
            raise ValueError("boom in fit from rank 1")
        return F.cross_entropy(out, y)

    rng = np.random.default_rng(0)
    ds = TensorDataset(rng.standard_normal((64, 6)), rng.integers(0, 3, 64))
    ddp = DDP(_mlp(1))
    opt = pydlk.optim.SGD(ddp.parameters(), lr=0.1)
    fit(ddp, loss_fn, opt, DataLoader(ds, batch_size=4, prefetch=0), epochs=3, verbose=False)


def case_timeout(out):
    if dist.get_rank() == 1:
        time.sleep(30)  # never reaches the barrier in time
    dist.barrier()


CASES = {
    "collectives": case_collectives,
    "equiv": lambda out: [
        case_equiv(out, o, d) for o in ("sgd", "adam") for d in (np.float64, np.float32)
    ],
    "equiv_adam64": lambda out: case_equiv(out, "adam", np.float64),
    "nosync": case_nosync,
    "unused": case_unused,
    "buckets": case_buckets,
    "sampler": case_sampler,
    "fit": case_fit,
    "fit_metrics": case_fit_metrics,
    "nccl": case_nccl,
    "crash": case_crash,
    "crash_in_fit": case_crash_in_fit,
    "timeout": case_timeout,
}


if __name__ == "__main__":
    out, names = sys.argv[1], sys.argv[2:]
    timeout = 1.0 if "timeout" in names else 60.0
    dist.init_process_group("mpi", timeout=timeout)
    for name in names:
        CASES[name](out)
    dist.destroy_process_group()
