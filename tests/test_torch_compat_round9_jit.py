"""``pydlk.jit``: torch.jit's names for model code (is_scripting/is_tracing, ignore, unused,
export, annotate, Final, Attribute, isinstance, fork/wait), script/trace/trace_module/freeze/
optimize_for_inference (the model itself, the example run once as torch's tracer runs it),
save/load of a whole module (atomic, umask permissions, map_location, _extra_files, a
restricted unpickler), against torch 2.13 where torch runs the same thing."""

import io
import json
import os
import pickle
import stat
import typing
import warnings

import numpy as np
import pytest

import pydlk
from pydlk import jit as J
from pydlk import nn, serialization

torch = pytest.importorskip("torch")

# torch 2.13 deprecates TorchScript and so warns pydlk.jit (tested once below, by name)
pytestmark = pytest.mark.filterwarnings("ignore:.*jit.* is deprecated:DeprecationWarning")


class Net(nn.Module):
    """A small model with the attributes model code keeps: layers, a functional activation,
    a buffer, plain config values."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.act = pydlk.functional.relu
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8, 3))
        self.register_buffer("scale", pydlk.full((1,), 2.0))
        self.cfg = {"depth": (1, 2.0), "tags": {"a", "b"}, "none": None, "arr": np.arange(3)}

    def forward(self, x):
        return self.head(self.act(self.bn(self.conv(x)))) * self.scale


def test_is_scripting_and_is_tracing_match_torch_inside_and_outside_trace():
    seen_torch, seen = [], []

    def f_torch(x):
        seen_torch.append(torch.jit.is_tracing())
        return x * 2

    def f(x):
        seen.append((J.is_tracing(), J.is_scripting(), pydlk.is_grad_enabled()))
        return x * 2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(f_torch, torch.ones(2))
    assert J.trace(f, pydlk.ones(2)) is f
    assert seen_torch[0] is True and torch.jit.is_tracing() is False
    assert seen == [(True, False, False)]  # once, tracing, under no_grad
    assert J.is_tracing() is False and J.is_scripting() is torch.jit.is_scripting() is False


def test_script_and_trace_return_the_model_itself_and_outputs_match():
    m = Net().eval()
    x = pydlk.randn(2, 1, 4, 4)
    before = m(x).detach().numpy()
    assert J.script(m) is m
    assert J.trace(m, x) is m
    assert J.trace(m, (x,)) is m and J.trace(m, [x]) is m
    assert J.trace(m, example_kwarg_inputs={"x": x}) is m
    np.testing.assert_array_equal(m(x).detach().numpy(), before)

    def fn(a, b):
        return a + b

    assert J.script(fn) is fn and J.trace(fn, (pydlk.ones(1), pydlk.ones(1))) is fn
    assert J.script(Net) is Net and J.script({"a": 1}) == {"a": 1}
    # nothing script/trace return is a ScriptModule/ScriptFunction (the eager path runs)
    assert not isinstance(m, J.ScriptModule) and not isinstance(fn, J.ScriptFunction)


def test_trace_raises_what_the_model_raises_and_checks_like_torch():
    m = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="linear: input has 3 features"):
        J.trace(m, pydlk.ones(3, 3))
    tm = torch.nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        torch.jit.trace(tm, torch.ones(3, 3))
    cases = [
        (lambda x: 3, (), "Only tensors, lists, tuples of tensors"),
        (lambda x: None, (), "didn't return any values"),
        (lambda x: {"a": x}, (), "Encountering a dict at the output"),
    ]
    for fn, _, msg in cases:
        with pytest.raises(RuntimeError, match=msg):
            J.trace(fn, pydlk.ones(1))
        with pytest.raises(RuntimeError, match=msg), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.trace(fn, torch.ones(1))
    assert J.trace(lambda x: {"a": x}, pydlk.ones(1), strict=False) is not None
    with pytest.raises(RuntimeError, match=r"Type 'Tuple\[Tensor, int\]' cannot be traced"):
        J.trace(lambda x, n: x, (pydlk.ones(1), 3))
    with pytest.raises(RuntimeError, match=r"Type 'Tuple\[Tensor, int\]' cannot be traced"):
        torch.jit.trace(lambda x, n: x, (torch.ones(1), 3))
    with pytest.raises(TypeError, match="example_inputs is None"):
        J.trace(lambda x: x)
    with pytest.raises(RuntimeError, match="func must be a Module or a function, got int"):
        J.trace(3, pydlk.ones(1))
    with pytest.raises(TypeError, match="example_kwarg_inputs must be a dict"):
        J.trace(lambda x: x, example_kwarg_inputs=[pydlk.ones(1)])


def test_trace_runs_check_inputs_and_the_optimize_argument_is_deprecated():
    calls = []

    def f(x):
        calls.append(tuple(x.shape))
        return x

    J.trace(f, pydlk.ones(2), check_inputs=[(pydlk.ones(3),), (pydlk.ones(4),)])
    assert calls == [(2,), (3,), (4,)]
    with pytest.warns(FutureWarning, match="`optimize` is deprecated"):
        J.trace(f, pydlk.ones(1), optimize=True)
    with pytest.warns(FutureWarning, match="`optimize` is deprecated"):
        J.script(f, optimize=True)


def test_trace_module_runs_each_method_and_refuses_as_torch():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = []

        def forward(self, x):
            self.calls.append(("forward", J.is_tracing()))
            return x

        def encode(self, a, b):
            self.calls.append(("encode", J.is_tracing()))
            return a + b

    m = Two()
    out = J.trace_module(m, {"forward": pydlk.ones(1), "encode": (pydlk.ones(1), pydlk.ones(1))})
    assert out is m and m.calls == [("forward", True), ("encode", True)]
    assert (
        J.trace_module(
            m, {"encode": {"a": pydlk.ones(1), "b": pydlk.ones(1)}}, example_inputs_is_kwarg=True
        )
        is m
    )
    with pytest.raises(AttributeError, match="'Two' object has no attribute 'nope'"):
        J.trace_module(m, {"nope": pydlk.ones(1)})
    for bad_mod, bad_inputs, msg in [
        (lambda x: x, {"forward": pydlk.ones(1)}, "expected torch.nn.Module as the first"),
        (m, pydlk.ones(1), "expected a dictionary of \\(method_name, input\\) pairs"),
    ]:
        with pytest.raises(AttributeError, match=msg):
            J.trace_module(bad_mod, bad_inputs)
    with pytest.raises(AttributeError, match="expected a dictionary"):
        torch.jit.trace_module(torch.nn.Linear(1, 1), torch.ones(1))


def test_freeze_and_optimize_for_inference_check_eval_mode_as_torch():
    m = nn.Linear(2, 2)
    msg = "Freezing is currently only implemented for modules in eval mode"
    with pytest.raises(RuntimeError, match=msg):
        J.freeze(m)
    with pytest.raises(RuntimeError, match=msg):
        torch.jit.freeze(torch.jit.script(torch.nn.Linear(2, 2)))
    assert J.freeze(m.eval()) is m
    m.train()
    assert J.optimize_for_inference(m) is m and m.training is False
    with pytest.raises(RuntimeError, match="expects a Module as input"):
        J.freeze(lambda x: x)
    with pytest.raises(RuntimeError, match="expects a Module as input"):
        J.optimize_for_inference(3)


def test_no_graph_or_code_attribute_and_the_error_says_why():
    m = J.script(nn.Linear(2, 2))
    for name in ("graph", "code", "inlined_graph", "code_with_constants"):
        with pytest.raises(AttributeError, match=f"no attribute '{name}': pydlk.jit.script"):
            getattr(m, name)
        assert not hasattr(m, name)
    with pytest.raises(AttributeError, match=r"save it with pydlk.jit.save\(module, f\)"):
        m.save("x.pt")
    with pytest.raises(AttributeError, match="object has no attribute 'weights'$"):
        m.weights


def test_decorators_return_the_function_and_mark_it_as_torch():
    def f(x):
        return x

    assert J.ignore(f) is f and J.unused(f) is f and J.export(f) is f
    assert J.script_method(f) is f and J.script_if_tracing(f) is f
    dropped = J.ignore(drop=True)(lambda x: x + 1)
    assert dropped(1) == 2 and dropped._torchscript_modifier.name == "UNUSED"
    assert J.ignore(lambda: 0)._torchscript_modifier.name == "IGNORE"
    assert J.export(lambda: 0)._torchscript_modifier.name == "EXPORT"

    class M(nn.Module):
        @J.unused
        @property
        def p(self):
            return 5

        @J.export
        def extra(self, x):
            return x * 3

        def forward(self, x):
            return x

    assert M().p == 5 and M().extra(2) == 6
    with pytest.raises(RuntimeError, match="must be a bool or a function but got 3"):
        J.ignore(3)
    with pytest.raises(RuntimeError, match="must be a bool or a function but got 3"):
        torch.jit.ignore(3)
    with pytest.warns(FutureWarning, match="drop_on_export"):
        assert J.ignore(drop_on_export=True)(f) is f
    with pytest.raises(RuntimeError, match="interface must be applied to a class"):
        J.interface(f)


def test_annotate_final_attribute_and_script_module_subclasses():
    lst = typing.List[int]  # noqa: UP006  (the spelling torch code uses)
    assert J.annotate(lst, [1]) == torch.jit.annotate(lst, [1]) == [1]
    assert J.Final is typing.Final is torch.jit.Final
    a = J.Attribute(3, int)
    assert a == (3, int) and a.value == 3 and a.type is int
    assert tuple(a) == tuple(torch.jit.Attribute(3, int)) and a._fields == ("value", "type")

    class Old(J.ScriptModule):
        def __init__(self):
            super().__init__()
            self.k = J.Attribute(3, int)

        @J.script_method
        def forward(self, x):
            return x * self.k

    m = Old()
    assert m.k == 3 and m.__annotations__ == {"k": int}
    assert isinstance(m, J.ScriptModule) and isinstance(m, nn.Module)
    np.testing.assert_array_equal(m(pydlk.ones(2)).numpy(), [3.0, 3.0])
    with pytest.raises(RuntimeError, match="no TorchScript compiler"):
        m.define("def f(self, x): return x")
    with pytest.raises(TypeError, match="ScriptFunction cannot be created"):
        J.ScriptFunction()
    for cls in (J.RecursiveScriptModule, J.TopLevelTracedModule, J.TracedModule):
        assert issubclass(cls, J.ScriptModule)


def test_jit_isinstance_checks_element_types_as_torch():
    # the typing spellings torch code uses
    List, Dict, Tuple = typing.List, typing.Dict, typing.Tuple  # noqa: UP006
    Optional = typing.Optional
    t = pydlk.ones(1)
    cases = [
        ([1, 2], List[int], [1, 2]),
        ([1.0], List[int], [1.0]),
        ({"a": t}, Dict[str, pydlk.Tensor], {"a": torch.ones(1)}),
        ({"a": t}, Dict[str, int], {"a": torch.ones(1)}),
        (None, Optional[int], None),
        (3, Optional[int], 3),
        ((1, "a"), Tuple[int, str], (1, "a")),
        ((1, "a"), Tuple[int, int], (1, "a")),
        ([[1], [2]], List[List[int]], [[1], [2]]),
        (3, (str, int), 3),
    ]
    for mine, tp, theirs in cases:
        torch_tp = Dict[str, torch.Tensor] if tp == Dict[str, pydlk.Tensor] else tp
        assert J.isinstance(mine, tp) == torch.jit.isinstance(theirs, torch_tp), tp
    assert J.isinstance((1, 2, 3), Tuple[int, ...]) and not J.isinstance((1, "a"), Tuple[int, ...])
    assert J.isinstance([1], list[int]) and J.isinstance(None, int | None)
    with pytest.raises(RuntimeError, match="Attempted to use List without a contained type"):
        J.isinstance([1], List)
    with pytest.raises(RuntimeError, match="Attempted to use dict without contained types"):
        J.isinstance({}, dict)
    with pytest.warns(UserWarning, match="inner type of a container is lost"):
        assert J.isinstance([], List[int])


def test_fork_runs_at_once_and_wait_gives_the_result_as_torch():
    fut = J.fork(lambda x, y=0: x + y, 1, y=2)
    tfut = torch.jit.fork(lambda x, y=0: x + y, 1, y=2)
    assert J.wait(fut) == torch.jit.wait(tfut) == 3 and fut.done() and fut.value() == 3
    assert fut.then(lambda f: f.value() * 10).wait() == 30
    got = []
    fut.add_done_callback(lambda f: got.append(f.value()))
    assert got == [3]

    def boom():
        raise ValueError("inside")

    with pytest.raises(ValueError, match="inside"):
        J.fork(boom)
    with pytest.raises(ValueError, match="inside"):
        torch.jit.fork(boom)
    with pytest.raises(TypeError, match="expected a Future"):
        J.wait(3)


def test_the_functions_torch_deprecates_warn_as_torch():
    m = nn.Linear(2, 2).eval()
    buf = io.BytesIO()
    calls = {
        "script": lambda: J.script(m),
        "trace": lambda: J.trace(m, pydlk.ones(1, 2)),
        "trace_module": lambda: J.trace_module(m, {"forward": pydlk.ones(1, 2)}),
        "freeze": lambda: J.freeze(m),
        "optimize_for_inference": lambda: J.optimize_for_inference(m),
        "save": lambda: J.save(m, buf),
        "fork": lambda: J.fork(lambda: 0),
        "interface": lambda: J.interface(type("I", (), {})),
    }
    for name, call in calls.items():
        with pytest.warns(DeprecationWarning, match=f"`pydlk.jit.{name}` is deprecated") as w:
            call()
        assert len(w) == 1 and w[0].filename == __file__, name
    buf.seek(0)
    with pytest.warns(DeprecationWarning, match="`pydlk.jit.load` is deprecated"):
        J.load(buf)
    with pytest.warns(DeprecationWarning, match="`torch.jit.script` is deprecated"):
        torch.jit.script(torch.nn.Linear(1, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert J.is_scripting() is False and J.ignore(_hook) is _hook and J.annotate(int, 1) == 1


def test_fuser_switches_are_kept_and_checked():
    with J.optimized_execution(False), J.fuser("fuser1"), J.strict_fusion():
        pass
    with pytest.raises(Exception, match="unrecognized fuser option"):  # noqa: B017 (torch's)
        with J.fuser("nope"):
            pass
    old = J.set_fusion_strategy([("DYNAMIC", 3)])
    assert old == [("STATIC", 2), ("DYNAMIC", 10)]
    assert J.set_fusion_strategy(old) == [("DYNAMIC", 3)]
    with pytest.raises(RuntimeError, match="set_fusion_strategy: expected"):
        J.set_fusion_strategy([("FAST", 1)])
    J.enable_onednn_fusion(True)
    assert J.onednn_fusion_enabled() is True
    J.enable_onednn_fusion(False)
    assert J.onednn_fusion_enabled() is False
    assert issubclass(J.TracerWarning, Warning) and issubclass(J.Error, Exception)


def test_save_and_load_round_trip_a_whole_module(tmp_path):
    m = Net().eval()
    m.conv.weight.grad = pydlk.ones(2, 1, 3, 3)
    x = pydlk.randn(2, 1, 4, 4)
    path = tmp_path / "m.pt"
    J.save(m, path, _extra_files={"cfg.json": '{"depth": 2}', "raw.bin": b"\x00\x01"})
    extra = {"cfg.json": "", "raw.bin": "", "missing": "kept?"}
    back = J.load(path, _extra_files=extra)
    assert type(back) is Net and back is not m and not back.training
    assert extra == {"cfg.json": b'{"depth": 2}', "raw.bin": b"\x00\x01", "missing": b""}
    np.testing.assert_array_equal(back(x).detach().numpy(), m(x).detach().numpy())
    np.testing.assert_array_equal(back.conv.weight.grad.numpy(), np.ones((2, 1, 3, 3)))
    assert back.act is pydlk.functional.relu and back.cfg["tags"] == {"a", "b"}
    np.testing.assert_array_equal(back.cfg["arr"], np.arange(3))
    assert isinstance(back.conv.weight, nn.Parameter) and back.conv.weight.requires_grad
    # torch.load of a TorchScript archive gives the module; so does pydlk.load of this file
    assert type(pydlk.load(path, weights_only=False)) is Net
    with pytest.raises(serialization.CheckpointError, match="holds a pickled"):
        pydlk.load(path)
    buf = io.BytesIO()
    J.save(m, buf)
    buf.seek(0)
    assert type(J.load(buf, map_location="cpu")) is Net
    buf.seek(0)
    assert type(J.load(buf, map_location=pydlk.device("cpu"))) is Net
    # torch's extra-files semantics, the oracle for the dict above
    ts = torch.jit.script(torch.nn.Linear(1, 1))
    tbuf = io.BytesIO()
    torch.jit.save(ts, tbuf, _extra_files={"cfg.json": '{"depth": 2}'})
    tbuf.seek(0)
    textra = {"cfg.json": "", "missing": ""}
    torch.jit.load(tbuf, _extra_files=textra)
    assert textra == {"cfg.json": b'{"depth": 2}', "missing": b""}


def test_save_is_atomic_with_the_umask_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        path = tmp_path / "m.pt"
        J.save(nn.Linear(2, 2), path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
        os.chmod(path, 0o600)
        J.save(nn.Linear(2, 2), path)  # written over: keeps its mode
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        os.umask(old)
    before = path.read_bytes()
    with pytest.raises(TypeError, match="_extra_files\\['x'\\] must be str or bytes"):
        J.save(nn.Linear(2, 2), path, _extra_files={"x": 3})
    assert path.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # no temporary left
    with pytest.raises(TypeError, match="expected a Module"):
        J.save(lambda x: x, tmp_path / "f.pt")


def test_load_honours_map_location_and_refuses_bad_arguments_as_torch(tmp_path):
    path = tmp_path / "m.pt"
    J.save(nn.Linear(2, 2), path)
    with pytest.raises(ValueError, match="map_location should be either None, string or"):
        J.load(path, map_location=3)
    ts = torch.jit.script(torch.nn.Linear(1, 1))
    torch.jit.save(ts, str(tmp_path / "t.pt"))
    with pytest.raises(ValueError, match="map_location should be either None, string or"):
        torch.jit.load(str(tmp_path / "t.pt"), map_location=3)
    with pytest.raises(ValueError, match="does not exist"):
        J.load(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="does not exist"):
        torch.jit.load(str(tmp_path / "nope.pt"))
    # torch's TorchScript archive: named, not misread
    with pytest.raises(serialization.CheckpointError, match="is a TorchScript archive"):
        J.load(tmp_path / "t.pt")
    pydlk.save({"w": pydlk.ones(2)}, tmp_path / "sd.pt")
    with pytest.raises(serialization.CheckpointError, match="not a file pydlk.jit.save wrote"):
        J.load(tmp_path / "sd.pt")
    if not pydlk.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            J.load(path, map_location="cuda")


def _crafted(payload: bytes) -> io.BytesIO:
    """A jit file whose module member is ``payload``."""
    meta = {
        "format": serialization._FORMAT,
        "version": serialization._VERSION,
        "object": {"__pickle__": 0, "type": "x"},
        "jit": {"version": 1, "extra_files": {}},
    }
    buf = io.BytesIO()
    np.savez(
        buf,
        a0=np.frombuffer(payload, np.uint8),
        __structure__=np.frombuffer(json.dumps(meta).encode(), np.uint8),
    )
    buf.seek(0)
    return buf


def _hook(module, inputs, output):
    """A user's forward hook: a function outside pydlk, which jit.load refuses to bring in."""
    return output


class _System:
    def __reduce__(self):
        return (os.system, ("echo crafted",))


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def test_load_runs_no_code_from_a_crafted_file(capfd):
    payloads = {
        "os.system": pickle.dumps(_System()),
        "eval": pickle.dumps(_Eval()),
        "protocol 0": pickle.dumps(_System(), protocol=0),
        "getattr": b"cbuiltins\ngetattr\n(cos\nS'system'\ntR.",
        "a module's __init__": b"\x80\x04cpydlk.nn.linear\nLinear\n(K\x02K\x02tR.",
        "INST": b"(S'echo crafted'\nios\nsystem\n.",
        "a module not imported": b"\x80\x04cantigravity\nfoo\n.",
    }
    for what, payload in payloads.items():
        with pytest.raises(serialization.CheckpointError, match="refus|not imported") as e:
            J.load(_crafted(payload))
        assert "weights_only=False" in str(e.value), what
    assert "crafted" not in capfd.readouterr().out

    m = nn.Linear(2, 2)
    m.register_forward_hook(_hook)
    buf = io.BytesIO()
    J.save(m, buf)
    buf.seek(0)
    with pytest.raises(serialization.CheckpointError, match="refusing '.*_hook'"):
        J.load(buf)
    buf.seek(0)
    assert type(pydlk.load(buf, weights_only=False)) is nn.Linear  # trusted: no limits


def test_load_keeps_parametrized_and_weight_normed_modules():
    from pydlk.nn.utils import parametrizations

    x = pydlk.randn(4, 3)
    for m in (
        parametrizations.orthogonal(nn.Linear(3, 3)),
        nn.utils.weight_norm(nn.Linear(3, 3)),
        nn.Sequential(nn.LSTM(3, 4), nn.Dropout(0.1)).eval(),
    ):
        buf = io.BytesIO()
        J.save(m, buf)
        buf.seek(0)
        back = J.load(buf)
        assert type(back).__name__ == type(m).__name__
        if not isinstance(m, nn.Sequential):
            np.testing.assert_allclose(back(x).detach().numpy(), m(x).detach().numpy())
