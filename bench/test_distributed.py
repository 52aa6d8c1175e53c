"""Data-parallel training of LeNet-5+BN (1x32x32 inputs, Adam) at a global batch of 256 over MPI:
one rank with two threads against two ranks with one thread each (the same two cores), the
latter with the gradient all-reduce overlapped with backward (small buckets, started as they
fill) and without (one bucket, started when the last gradient is ready). Each configuration
runs under ``mpiexec`` (this file is the program); ``extra_info`` records images/s and the
time per step spent waiting for gradient all-reduces.

``pytest bench/test_distributed.py`` (set ``PYDLK_BENCH_STEPS`` for longer runs); skipped
without mpi4py or mpiexec.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

GLOBAL_BATCH = 256
CONFIGS = {  # name: (ranks, threads per rank, bucket_cap_mb or None for no DDP)
    "1 rank x 2 threads": (1, 2, None),
    "2 ranks x 1 thread, overlapped": (2, 1, 0.02),
    "2 ranks x 1 thread, one bucket": (2, 1, 1000.0),
}


def _mpiexec():
    exe = os.environ.get("MPIEXEC")
    if exe:
        return exe
    cand = Path(sys.executable).parent / "mpiexec"
    return str(cand) if cand.exists() else shutil.which("mpiexec")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_ddp_lenet_step(benchmark, name):
    pytest.importorskip("mpi4py")
    exe = _mpiexec()
    if exe is None:
        pytest.skip("no mpiexec (pip install 'pydlk[mpi]')")
    ranks, threads, cap = CONFIGS[name]
    steps = int(os.environ.get("PYDLK_BENCH_STEPS", "10"))
    benchmark.group = f"LeNet-5+BN data-parallel step, global batch {GLOBAL_BATCH}"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")]
    )
    cmd = [
        exe,
        "-n",
        str(ranks),
        sys.executable,
        __file__,
        str(steps),
        str(threads),
        "none" if cap is None else str(cap),
    ]
    result = {}

    def run():
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
        assert p.returncode == 0, p.stdout + p.stderr
        result.update(json.loads(p.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    benchmark.extra_info["threads"] = threads
    benchmark.extra_info["ranks"] = ranks


def _main(steps, threads, cap):
    """Under mpiexec: time ``steps`` steps after two warm-up steps; rank 0 prints JSON."""
    import numpy as np

    import pydlk
    import pydlk.distributed as dist
    from pydlk import models, nn, optim

    pydlk.set_num_threads(threads)
    ddp = cap != "none"
    if ddp:
        dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    b = GLOBAL_BATCH // world
    rng = np.random.default_rng(rank)
    x = pydlk.tensor(rng.standard_normal((b, 1, 32, 32)).astype(np.float32))
    y = rng.integers(0, 10, b)
    pydlk.manual_seed(0)
    model = models.LeNet5(num_classes=10, in_channels=1, in_size=32)
    if ddp:
        model = nn.parallel.DistributedDataParallel(
            nn.SyncBatchNorm.convert_sync_batchnorm(model), bucket_cap_mb=float(cap)
        )
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    if ddp:
        dist.barrier()
        model.reducer.comm_seconds = 0.0
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    secs = time.perf_counter() - t0
    comm = model.reducer.comm_seconds / steps if ddp else 0.0
    if rank == 0:
        out = {
            "images_per_s": GLOBAL_BATCH * steps / secs,
            "step_ms": 1e3 * secs / steps,
            "allreduce_wait_ms_per_step": 1e3 * comm,
            "buckets": len(model.reducer.buckets) if ddp else 0,
        }
        print(json.dumps(out), flush=True)
    if ddp:
        dist.destroy_process_group()


if __name__ == "__main__":
    _main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
