"""Autograd engine overhead per node: backward through a chain of 1000 tiny nodes (y = y * c on
4 float64 elements; the arithmetic is negligible, so the time is the engine's bookkeeping).

  pydlk      the engine (pydlk/_engine.py, first-order pass)
  793752e    the engine before create_graph existed (pydlk/autograd.py at commit 793752e, read
             with git; skipped outside a git checkout), run on the same graphs
  torch      torch's C++ engine on the same chain

Only backward is timed (the graph is built in the untimed setup); the cyclic garbage collector
is off during the timed call, as its collections would otherwise dominate the figures. Per node:
median / 1000."""

import gc
import pathlib
import subprocess

import numpy as np
import pytest

import pydlk
from pydlk import _arena, _engine
from pydlk import autograd as ag
from pydlk._backend import get_array_module

NODES = 1000
ROUNDS = 200


def _chain():
    x = pydlk.tensor(np.ones(4), requires_grad=True)
    y = x
    for _ in range(NODES):
        y = y * 1.0001
    return (y.sum(),), {}


def _timed(benchmark, backward, setup):
    def call(loss):
        gc.disable()
        try:
            backward(loss)
        finally:
            gc.enable()

    benchmark.pedantic(call, setup=setup, rounds=ROUNDS, iterations=1)
    benchmark.extra_info["nodes"] = NODES


def _engine_793752e():
    """backward() as it was at 793752e, compiled against today's Tensor and arena."""
    root = pathlib.Path(__file__).resolve().parents[1]
    r = subprocess.run(
        ["git", "show", "793752e:pydlk/autograd.py"], cwd=root, capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip("793752e's engine needs a git checkout holding that commit")
    src = r.stdout[r.stdout.index("def _accumulate_leaf") : r.stdout.index("def tensor(")]
    ns = dict(
        np=np,
        _arena=_arena,
        Tensor=ag.Tensor,
        get_array_module=get_array_module,
        no_grad=pydlk.no_grad,
        _anomaly=None,
    )
    exec(src, ns)
    return ns["backward"]


def test_pydlk(benchmark):
    _timed(benchmark, _engine.backward, _chain)


def test_793752e(benchmark):
    _timed(benchmark, _engine_793752e(), _chain)


def test_torch(benchmark, torch):
    def setup():
        x = torch.ones(4, dtype=torch.float64, requires_grad=True)
        y = x
        for _ in range(NODES):
            y = y * 1.0001
        return (y.sum(),), {}

    _timed(benchmark, lambda loss: loss.backward(), setup)
