"""pydlk.profiler: what a profile records (autograd ops forward and backward, record_function
ranges), its table, the schedule's step semantics against torch's, and the Chrome trace."""

import json
import os
import stat
import warnings

import numpy as np
import pytest

import pydlk
import pydlk.profiler as pp
from pydlk import autograd as ag


def _tiny_step():
    pydlk.manual_seed(0)
    model = pydlk.nn.Sequential(pydlk.nn.Linear(4, 3), pydlk.nn.ReLU(), pydlk.nn.Linear(3, 2))
    x = pydlk.randn(5, 4)
    return model, x


def test_table_lists_the_ops_of_a_step():
    model, x = _tiny_step()
    with pp.profile(activities=[pp.ProfilerActivity.CPU]) as prof:
        with pp.record_function("train_step"):
            model(x).sum().backward()
    avg = {e.key: e for e in prof.key_averages()}
    assert avg["pydlk::linear"].count == 2
    assert avg["pydlk::relu"].count == 1
    assert avg["LinearBackward0"].count == 2
    assert avg["ReluBackward0"].count == 1
    assert avg["train_step"].count == 1
    step = avg["train_step"]
    assert (
        step.cpu_time_total
        >= sum(e.cpu_time_total for k, e in avg.items() if k != "train_step") * 0.999
    )
    table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=10)
    lines = table.splitlines()
    for col in (
        "Name",
        "Self CPU %",
        "Self CPU",
        "CPU total %",
        "CPU total",
        "CPU time avg",
        "# of Calls",
    ):
        assert col in lines[1]
    assert lines[3].split()[0] == "train_step"  # the largest total comes first
    assert "100.00%" in lines[3]
    assert lines[-1].startswith("Self CPU time total: ")
    assert "Input Shapes" not in table


def test_input_shapes_memory_and_row_limit():
    model, x = _tiny_step()
    with pp.profile(record_shapes=True, profile_memory=True, with_flops=True) as prof:
        model(x)
    t = prof.key_averages(group_by_input_shape=True).table(
        sort_by="self_cpu_time_total", row_limit=1
    )
    assert "Input Shapes" in t and "CPU Mem" in t and "Total" in t
    assert len(t.splitlines()) == 6  # separator, header, separator, one row, separator, total
    rows = {(e.key, str(e.input_shapes)): e for e in prof.key_averages(group_by_input_shape=True)}
    assert ("pydlk::linear", "[[5, 4], [3, 4], [3]]") in rows
    assert rows[("pydlk::linear", "[[5, 4], [3, 4], [3]]")].self_cpu_memory_usage == 5 * 3 * 4
    assert rows[("pydlk::linear", "[[5, 4], [3, 4], [3]]")].flops == 2 * 5 * 4 * 3


def test_record_function_nesting_and_decorator():
    @pp.record_function("helper")
    def helper(v):
        return v * 2

    with pp.profile() as prof:
        with pp.record_function("outer"):
            with pp.record_function("inner"):
                helper(pydlk.ones(3))
            helper(pydlk.ones(3))
    ev = {e.name: e for e in prof.events()}
    assert ev["inner"].cpu_parent is ev["outer"]
    helpers = [e for e in prof.events() if e.name == "helper"]
    assert [h.cpu_parent.name for h in helpers] == ["inner", "outer"]
    assert all(c.name.startswith("pydlk::") for h in helpers for c in h.cpu_children)
    outer = ev["outer"]
    kids = sum(c.cpu_time_total for c in outer.cpu_children)
    assert outer.self_cpu_time_total == pytest.approx(outer.cpu_time_total - kids)
    assert helper.__name__ == "helper"


def test_nothing_is_wrapped_outside_a_profile():
    apply = ag.Function.__dict__["apply"]
    model, x = _tiny_step()
    with pp.profile():
        model(x).sum().backward()
        assert ag.Function.__dict__["apply"] is not apply
    assert ag.Function.__dict__["apply"] is apply
    from pydlk.profiler import _record

    assert _record._collector is None and not _record._wrapped
    for cls in ag.Function.__subclasses__():
        assert not hasattr(cls.__dict__.get("backward", None), "_profiled")
    with pp.record_function("nobody listens"):  # no profile: nothing recorded, no error
        pass


def test_results_unchanged_and_exceptions_restore():
    model, x = _tiny_step()
    y0 = np.asarray(model(x).detach())
    with pytest.raises(ValueError), pp.profile():
        model(x)
        raise ValueError
    assert "apply" in ag.Function.__dict__ and not hasattr(
        ag.Function.__dict__["apply"].__func__, "_profiled"
    )
    with pp.profile():
        y1 = np.asarray(model(x).detach())
    np.testing.assert_array_equal(y0, y1)
    with pp.profile(), pytest.raises(RuntimeError, match="already enabled"), pp.profile():
        pass


def _schedule_run(lib_profiler, steps, **sched):
    got = []

    def ready(p):
        names = {e.name for e in p.events()}
        got.append(sorted(n for n in names if n.startswith(("ProfilerStep", "mystep"))))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = lib_profiler.schedule(**sched)
        with lib_profiler.profile(schedule=s, on_trace_ready=ready) as p:
            for i in range(steps):
                with lib_profiler.record_function(f"mystep{i}"):
                    pass
                p.step()
    return got


@pytest.mark.parametrize(
    "steps,sched",
    [
        (12, dict(wait=1, warmup=1, active=2, repeat=2, skip_first=1)),
        (5, dict(wait=0, warmup=1, active=2)),
        (7, dict(wait=2, warmup=0, active=1, repeat=0)),
        (9, dict(wait=1, warmup=1, active=3, skip_first=2, skip_first_wait=1)),
    ],
)
def test_schedule_records_the_steps_torch_records(steps, sched):
    torch = pytest.importorskip("torch")
    assert _schedule_run(pp, steps, **sched) == _schedule_run(torch.profiler, steps, **sched)


def test_schedule_argument_errors():
    with pytest.raises(AssertionError, match="Invalid profiler schedule"):
        pp.schedule(wait=0, warmup=0, active=0)
    with pytest.warns(UserWarning, match="warmup"):
        pp.schedule(wait=0, warmup=0, active=1)


def test_chrome_trace_is_valid_json_and_atomic(tmp_path):
    model, x = _tiny_step()
    with pp.profile(record_shapes=True) as prof:
        with pp.record_function("fwd"):
            model(x).sum().backward()
    path = tmp_path / "trace.json"
    path.write_text("old")
    os.chmod(path, 0o640)
    prof.export_chrome_trace(str(path))
    data = json.loads(path.read_text())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640  # writing over a file keeps its mode
    evs = data["traceEvents"]
    assert {e["ph"] for e in evs} == {"X"}
    names = [e["name"] for e in evs]
    assert "fwd" in names and "pydlk::linear" in names and "LinearBackward0" in names
    assert all(e["dur"] >= 0 and e["ts"] > 0 for e in evs)
    lin = next(e for e in evs if e["name"] == "pydlk::linear")
    assert lin["args"]["Input Dims"][0] == [5, 4]
    assert [p.name for p in tmp_path.iterdir()] == ["trace.json"]  # no temporary left
    new = tmp_path / "new.json"
    old_umask = os.umask(0o027)
    try:
        prof.export_chrome_trace(str(new))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o640


def test_tensorboard_trace_handler_writes_one_file_per_cycle(tmp_path):
    handler = pp.tensorboard_trace_handler(str(tmp_path / "tb"), worker_name="w0")
    with pp.profile(
        schedule=pp.schedule(wait=0, warmup=1, active=1, repeat=2), on_trace_ready=handler
    ) as p:
        for _ in range(5):
            pydlk.ones(2) * 2
            p.step()
    files = sorted(os.listdir(tmp_path / "tb"))
    assert len(files) == 2 and all(
        f.startswith("w0.") and f.endswith(".pt.trace.json") for f in files
    )
    for f in files:
        steps = [
            e["name"]
            for e in json.loads((tmp_path / "tb" / f).read_text())["traceEvents"]
            if e["name"].startswith("ProfilerStep#")
        ]
        assert len(steps) == 1


def test_with_stack_groups_by_source():
    with pp.profile(with_stack=True) as prof:
        pydlk.ones(2) * 3
    t = prof.key_averages(group_by_stack_n=2).table(row_limit=5)
    assert "Source Location" in t and "test_profiler.py" in t


def test_user_function_forward_and_backward_recorded():
    class Cube(pydlk.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x**2 * g

    x = pydlk.ones(3, requires_grad=True)
    with pp.profile() as prof:
        Cube.apply(x).sum().backward()
    keys = {e.key for e in prof.key_averages()}
    assert "pydlk::cube" in keys and "CubeBackward0" in keys
    np.testing.assert_allclose(np.asarray(x.grad), 3.0)
