"""Training does not grow memory: after a warm-up, further steps (forward, backward, optimiser
step, scheduler, a dropout and a conv layer) leave traced Python/NumPy memory and the resident
set where they were. The normal run takes 300 steps; the long profile is
``PYDLK_MEMORY_STEPS=2000``."""

import gc
import os
import tracemalloc

import numpy as np

import pydlk
from pydlk import nn, optim

STEPS = int(os.environ.get("PYDLK_MEMORY_STEPS", "300"))


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_no_memory_growth_over_training_steps(rng):
    pydlk.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(4 * 8 * 8, 10),
    )
    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = optim.lr_scheduler.StepLR(opt, step_size=50, gamma=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 16)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(pydlk.tensor(x)), y)
        loss.backward()
        opt.step()
        sched.step()
        return loss.item()

    for _ in range(50):  # warm-up: caches, arenas, optimiser state
        step()
    losses = np.empty(STEPS)
    tracemalloc.start()
    try:
        gc.collect()  # cycles awaiting the collector are not a leak
        rss0, traced0 = _rss_bytes(), tracemalloc.get_traced_memory()[0]
        for i in range(STEPS):
            losses[i] = step()
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - traced0
        rss = _rss_bytes() - rss0
    finally:
        tracemalloc.stop()
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]  # it did train
    # A leak of one small array per step (e.g. a retained graph) over 300 steps exceeds this.
    assert traced < 256 << 10, f"{traced} bytes more traced after {STEPS} steps"
    assert rss < 16 << 20, f"resident set grew by {rss} bytes over {STEPS} steps"
