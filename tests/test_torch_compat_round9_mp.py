"""``pydlk.multiprocessing``: the stdlib module with Tensors able to travel, ``spawn`` /
``start_processes`` (real child processes: a child's exception re-raised in the parent with its
traceback, a non-zero exit or a signal as ProcessExitedException, ``join=False``'s
ProcessContext) and the sharing-strategy switches, against torch 2.13's
torch.multiprocessing. The children's functions are in tests/_round9_mp_workers.py."""

import multiprocessing
import os
import pickle
import signal
import sys
from multiprocessing.reduction import ForkingPickler

import _round9_mp_workers as workers
import numpy as np
import pytest

import pydlk
import pydlk.multiprocessing as pmp

torch = pytest.importorskip("torch")
import torch.multiprocessing as tmp  # noqa: E402


def test_the_stdlib_names_are_there_as_in_torch():
    for name in (
        "Process",
        "Queue",
        "Pool",
        "SimpleQueue",
        "get_context",
        "set_start_method",
        "get_start_method",
        "get_all_start_methods",
        "cpu_count",
        "Manager",
    ):
        assert getattr(pmp, name) is getattr(multiprocessing, name) is getattr(tmp, name), name
    for name in (
        "spawn",
        "start_processes",
        "ProcessContext",
        "ProcessRaisedException",
        "ProcessExitedException",
    ):
        assert hasattr(tmp, name) and name in pmp.__all__, name
    assert hasattr(sys.modules["torch.multiprocessing.spawn"], "ProcessException")
    assert issubclass(pmp.ProcessRaisedException, pmp.ProcessException)
    assert issubclass(pmp.ProcessExitedException, pmp.ProcessException)


def test_sharing_strategies_as_torch():
    assert pmp.get_all_sharing_strategies() == tmp.get_all_sharing_strategies()
    assert pmp.get_sharing_strategy() == tmp.get_sharing_strategy() == "file_descriptor"
    try:
        pmp.set_sharing_strategy("file_system")
        assert pmp.get_sharing_strategy() == "file_system"
    finally:
        pmp.set_sharing_strategy("file_descriptor")
    with pytest.raises(AssertionError, match="invalid sharing strategy 'nope'"):
        pmp.set_sharing_strategy("nope")
    with pytest.raises(AssertionError, match="invalid sharing strategy 'nope'"):
        tmp.set_sharing_strategy("nope")


def test_tensors_pickle_through_multiprocessing_and_graph_tensors_are_refused_as_torch():
    t = pydlk.tensor([1.0, 2.0], requires_grad=True)
    t.grad = pydlk.tensor([0.5, 0.5])
    back = pickle.loads(ForkingPickler.dumps(t))
    assert type(back) is pydlk.Tensor and back.requires_grad and back.is_leaf
    np.testing.assert_array_equal(back.detach().numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(back.grad.numpy(), [0.5, 0.5])
    p = pickle.loads(ForkingPickler.dumps(pydlk.nn.Parameter(pydlk.ones(2))))
    assert type(p) is pydlk.nn.Parameter and p.requires_grad
    ints = pickle.loads(ForkingPickler.dumps(pydlk.arange(3)))
    assert ints.dtype == pydlk.int64 and ints.tolist() == [0, 1, 2]
    with pytest.raises(RuntimeError, match="Cowardly refusing to serialize non-leaf tensor"):
        ForkingPickler.dumps(t * 2)
    with pytest.raises(RuntimeError, match="Cowardly refusing to serialize non-leaf tensor"):
        ForkingPickler.dumps(torch.ones(2, requires_grad=True) * 2)
    assert pickle.loads(ForkingPickler.dumps((t * 2).detach())).tolist() == [2.0, 4.0]


def test_spawn_runs_fn_i_args_in_two_processes_and_tensors_travel():
    ctx = pmp.get_context("spawn")
    queue = ctx.SimpleQueue()
    t = pydlk.tensor([1.0, 2.0], requires_grad=True)
    t.grad = pydlk.tensor([3.0, 4.0])
    assert pmp.spawn(workers.scaled_into_queue, args=(queue, t), nprocs=2) is None
    got = sorted((queue.get() for _ in range(2)), key=lambda r: r[0])
    assert [r[0] for r in got] == [0, 1]
    for i, out, rg, grad in got:
        assert isinstance(out, pydlk.Tensor) and out.requires_grad and rg is True
        np.testing.assert_array_equal(out.detach().numpy(), [1.0 * (i + 1), 2.0 * (i + 1)])
        assert grad == [3.0, 4.0]


def test_spawn_reraises_a_childs_exception_with_its_traceback():
    with pytest.raises(pmp.ProcessRaisedException) as e:
        pmp.spawn(workers.raise_in_one, nprocs=2)
    msg = str(e.value)
    assert msg.startswith("\n\n-- Process 1 terminated with the following error:\nTraceback")
    assert "ValueError: child 1 failed on purpose" in msg and "raise_in_one" in msg
    assert e.value.error_index == 1 and isinstance(e.value.error_pid, int)
    err = pickle.loads(pickle.dumps(e.value))
    assert type(err) is pmp.ProcessRaisedException and err.error_index == 1
    # torch's message has the same shape (its children forked here: quick)
    with pytest.raises(tmp.ProcessRaisedException) as te:
        tmp.start_processes(workers.raise_in_one, nprocs=2, start_method="fork")
    assert str(te.value).split("Traceback")[0] == msg.split("Traceback")[0]


def test_exit_codes_and_signals_are_process_exited_exceptions_as_torch():
    with pytest.raises(pmp.ProcessExitedException, match="process 0 terminated with exit code 3"):
        pmp.start_processes(workers.exit_with, args=(3,), nprocs=2, start_method="fork")
    with pytest.raises(tmp.ProcessExitedException, match="process 0 terminated with exit code 3"):
        tmp.start_processes(workers.exit_with, args=(3,), nprocs=2, start_method="fork")
    with pytest.raises(pmp.ProcessExitedException) as e:
        pmp.start_processes(workers.kill_self, nprocs=2, start_method="fork")
    assert str(e.value) == "process 0 terminated with signal SIGKILL"
    assert e.value.exit_code == -signal.SIGKILL and e.value.signal_name == "SIGKILL"
    err = pickle.loads(pickle.dumps(e.value))
    assert (err.exit_code, err.signal_name, err.error_index) == (-9, "SIGKILL", 0)


def test_join_false_gives_a_process_context(tmp_path):
    ctx = pmp.start_processes(
        workers.add_one, args=(str(tmp_path),), nprocs=2, join=False, start_method="fork"
    )
    assert isinstance(ctx, pmp.ProcessContext) and len(ctx.processes) == 2
    pids = ctx.pids()
    assert pids == [p.pid for p in ctx.processes] and len(set(pids)) == 2
    while not ctx.join():
        pass
    assert ctx.join() is True  # joined already: True again
    assert sorted(os.listdir(tmp_path)) == ["done-0", "done-1"]
    assert sorted(int((tmp_path / f"done-{i}").read_text()) for i in range(2)) == sorted(pids)


def test_a_pool_maps_tensors_over_processes():
    with pmp.get_context("fork").Pool(2) as pool:
        out = pool.map(workers.double, [pydlk.tensor([1.0]), pydlk.tensor([2.0, 3.0])])
    assert all(type(o) is pydlk.Tensor for o in out)
    assert [o.tolist() for o in out] == [[2.0], [4.0, 6.0]]


def test_spawn_with_another_start_method_warns_and_spawns(monkeypatch):
    seen = {}

    def fake(fn, args, nprocs, join, daemon, start_method):
        seen.update(nprocs=nprocs, start_method=start_method, args=args)

    # the module (pydlk.multiprocessing.spawn the attribute is the function, as in torch)
    monkeypatch.setattr(sys.modules["pydlk.multiprocessing.spawn"], "start_processes", fake)
    with pytest.warns(FutureWarning, match="only supports start_method=spawn \\(got: fork\\)"):
        pmp.spawn(workers.raise_in_one, args=(1,), nprocs=2, start_method="fork")
    assert seen == {"nprocs": 2, "start_method": "spawn", "args": (1,)}


def test_bad_arguments_are_refused_before_any_process_starts():
    with pytest.raises(ValueError, match="nprocs must be a positive int, got 0"):
        pmp.start_processes(workers.raise_in_one, nprocs=0)
    with pytest.raises(TypeError, match="fn must be callable, got int"):
        pmp.start_processes(3)
    with pytest.raises(TypeError, match="args must be a tuple, got int"):
        pmp.start_processes(workers.raise_in_one, args=3)
    with pytest.raises(ValueError, match="cannot find context for 'nope'"):
        pmp.start_processes(workers.raise_in_one, start_method="nope")
    with pytest.raises((AttributeError, pickle.PicklingError, TypeError)):
        pmp.start_processes(lambda i: None, nprocs=1)  # spawn pickles fn: a lambda cannot go
