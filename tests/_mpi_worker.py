"""Programs run under ``mpiexec`` by tests/test_distributed.py (one case per argument).

Each rank runs the same case; rank 0 writes what the test compares into ``<out>/<case>.npz``.
Assertions that only need NumPy formulas are made here, on every rank.
"""

import sys
import time

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


def case_crash(out):
    if dist.get_rank() == 1:
        raise ValueError("boom from rank 1")
    dist.barrier()  # rank 0 waits here until the abort ends it


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
    "crash": case_crash,
    "timeout": case_timeout,
}


if __name__ == "__main__":
    out, names = sys.argv[1], sys.argv[2:]
    timeout = 1.0 if "timeout" in names else 60.0
    dist.init_process_group("mpi", timeout=timeout)
    for name in names:
        CASES[name](out)
    dist.destroy_process_group()
