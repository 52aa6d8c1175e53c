"""Module's state-dict machinery (pydlk/nn/_state_dict.py) against torch 2.13: the per-module
steps ``_save_to_state_dict`` / ``_load_from_state_dict`` that subclasses override, the
``_metadata`` versions, the state-dict and load hooks (order, arguments, prefixes, removal),
the strict error message and the returned ``_IncompatibleKeys``, ``assign=`` and extra state.

Each ``_script`` runs unchanged on torch and on pydlk (``T`` is the library) and returns plain
Python values, which must be equal; each test also checks the result against values written
out by hand, so that a behaviour both libraries lack would still fail."""

import copy
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import pydlk

torch = pytest.importorskip("torch")


def _np(t):
    return np.asarray(t.detach().cpu().numpy())


def _both(script):
    """script(T) on torch and on pydlk; their results, which must be equal."""
    want, got = script(torch), script(pydlk)
    assert got == want, f"pydlk: {got!r}\ntorch: {want!r}"
    return got


def _model(T):
    """Sequential(Linear(2, 3), BatchNorm1d(3), Sequential(Linear(3, 1))) with fixed values."""
    m = T.nn.Sequential(T.nn.Linear(2, 3), T.nn.BatchNorm1d(3), T.nn.Sequential(T.nn.Linear(3, 1)))
    with T.no_grad():
        for i, p in enumerate(m.parameters()):
            p.copy_(T.tensor(np.arange(p.numel(), dtype=np.float32).reshape(tuple(p.shape)) + i))
    return m


# -- state_dict: keys, _metadata and versions --------------------------------------------------
def test_state_dict_keys_and_metadata_versions():
    def script(T):
        sd = _model(T).state_dict()
        return type(sd).__name__, list(sd), dict(sd._metadata)

    name, keys, meta = _both(script)
    assert name == "OrderedDict"
    assert keys == [
        "0.weight", "0.bias",
        "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
        "2.0.weight", "2.0.bias",
    ]  # fmt: skip
    # BatchNorm is at version 2 (num_batches_tracked), everything else at 1
    v1, v2 = {"version": 1}, {"version": 2}
    assert meta == {"": v1, "0": v1, "1": v2, "2": v1, "2.0": v1}


def test_version_class_attribute_and_prefix_argument():
    def script(T):
        class Net(T.nn.Module):
            _version = 3

            def __init__(self):
                super().__init__()
                self.fc = T.nn.Linear(1, 1)

        sd = Net().state_dict(prefix="net.")
        dest = {}
        out = Net().state_dict(destination=dest)  # a plain dict: no _metadata is added
        return list(sd), dict(sd._metadata), out is dest, list(dest), hasattr(dest, "_metadata")

    keys, meta, same, dest_keys, has_meta = _both(script)
    assert keys == ["net.fc.weight", "net.fc.bias"]
    assert meta == {"net": {"version": 3}, "net.fc": {"version": 1}}
    assert same and dest_keys == ["fc.weight", "fc.bias"] and not has_meta


def test_state_dict_values_detached_or_kept():
    def script(T):
        m = T.nn.Linear(2, 2)
        sd, kept = m.state_dict(), m.state_dict(keep_vars=True)
        with T.no_grad():
            sd["bias"].fill_(5.0)  # shares memory with the parameter
        return (
            sd["weight"].requires_grad,
            kept["weight"] is m.weight,
            _np(m.bias).tolist(),
        )

    assert _both(script) == (False, True, [5.0, 5.0])


def test_positional_state_dict_arguments_warn():
    def script(T):
        dest = OrderedDict()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            T.nn.Linear(1, 1).state_dict(dest, "p.")
        return [type(x.message).__name__ for x in w], list(dest)

    assert _both(script) == (["FutureWarning"], ["p.weight", "p.bias"])


# -- overriding the per-module steps ------------------------------------------------------------
def _renaming_net(T):
    """A layer that renamed its parameter from ``w`` to ``weight`` at version 2 and converts
    old checkpoints in ``_load_from_state_dict``, as libraries do."""

    class Scale(T.nn.Module):
        _version = 2
        seen = []

        def __init__(self):
            super().__init__()
            self.weight = T.nn.Parameter(T.zeros(2))

        def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, *rest):
            version = local_metadata.get("version", None)
            Scale.seen.append((prefix, version, sorted(state_dict)))
            if version is None or version < 2:
                if prefix + "w" in state_dict:
                    state_dict[prefix + "weight"] = state_dict.pop(prefix + "w")
            super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, *rest)

    return T.nn.Sequential(T.nn.Linear(1, 1), Scale()), Scale


def test_load_from_state_dict_override_renames_old_keys():
    def script(T):
        m, scale = _renaming_net(T)
        old = {k: v for k, v in m.state_dict().items() if k != "1.weight"}
        old["1.w"] = T.tensor([3.0, 4.0])  # an old checkpoint, no _metadata
        res = m.load_state_dict(old)
        new = m.state_dict()
        new["1.weight"] = T.tensor([5.0, 6.0])  # a current one: version 2 in its _metadata
        m.load_state_dict(new)
        w_after_new = _np(m[1].weight).tolist()
        return repr(res), scale.seen, w_after_new

    res, seen, w = _both(script)
    assert res == "<All keys matched successfully>"
    # the child sees only its own entries, and the version its checkpoint was saved at
    assert seen == [("1.", None, ["1.w"]), ("1.", 2, ["1.weight"])]
    assert w == [5.0, 6.0]


def test_save_to_state_dict_override_changes_keys():
    def script(T):
        class Legacy(T.nn.Linear):
            def _save_to_state_dict(self, destination, prefix, keep_vars):
                super()._save_to_state_dict(destination, prefix, keep_vars)
                destination[prefix + "w"] = destination.pop(prefix + "weight")

        return list(T.nn.Sequential(Legacy(1, 1)).state_dict())

    assert _both(script) == ["0.bias", "0.w"]


# -- state_dict hooks ---------------------------------------------------------------------------
def test_state_dict_hook_order_arguments_and_prefixes():
    def script(T):
        m = _model(T)
        log = []
        for name, sub in [("root", m), ("lin", m[0]), ("inner", m[2][0])]:
            sub.register_state_dict_pre_hook(
                lambda mod, prefix, keep_vars, n=name: log.append(("pre", n, prefix, keep_vars))
            )
            sub.register_state_dict_post_hook(
                lambda mod, sd, prefix, meta, n=name: log.append(
                    ("post", n, prefix, len(sd), dict(meta))
                )
            )
        m.state_dict(prefix="m.", keep_vars=True)
        return log

    assert _both(script) == [
        ("pre", "root", "m.", True),
        ("pre", "lin", "m.0.", True),
        ("post", "lin", "m.0.", 2, {"version": 1}),  # its own two entries are in by now
        ("pre", "inner", "m.2.0.", True),
        ("post", "inner", "m.2.0.", 9, {"version": 1}),
        ("post", "root", "m.", 9, {"version": 1}),
    ]


def test_post_hook_drops_keys_in_place_and_must_return_none():
    def script(T):
        m = _model(T)

        def drop_stats(mod, sd, prefix, meta):
            for k in [k for k in sd if k.startswith(prefix + "running_")]:
                del sd[k]

        h = m[1].register_state_dict_post_hook(drop_stats)
        kept = list(m.state_dict())
        h.remove()
        after_remove = len(m.state_dict())
        m.register_state_dict_post_hook(lambda mod, sd, prefix, meta: {})
        try:
            m.state_dict()
            err = None
        except RuntimeError as e:
            err = str(e)
        return kept, after_remove, err

    kept, n, err = _both(script)
    assert "1.running_mean" not in kept and "1.num_batches_tracked" in kept and len(kept) == 7
    assert n == 9
    assert err == "state_dict post-hook must return None"


def test_private_state_dict_hook_may_replace_the_result_at_the_root_only():
    def script(T):
        m = T.nn.Sequential(T.nn.Linear(1, 1))
        m._register_state_dict_hook(lambda mod, sd, prefix, meta: {"root": 1})
        m[0]._register_state_dict_hook(lambda mod, sd, prefix, meta: {"child": 1})
        out = m.state_dict()

        def hook(mod, sd, prefix, meta):
            return None

        m.register_state_dict_pre_hook(lambda *a: None)
        m.register_state_dict_post_hook(hook)
        try:
            m._register_state_dict_hook(hook)
            err = None
        except RuntimeError as e:
            err = str(e)
        return out, err

    out, err = _both(script)
    assert out == {"root": 1}  # a child's returned dict is ignored (torch's issue 117437)
    assert err.startswith("Cannot register the same function as the state dict post hook")


# -- load hooks ---------------------------------------------------------------------------------
def test_load_pre_hook_arguments_and_renaming_in_a_child():
    def script(T):
        m = _model(T)
        sd = m.state_dict()
        sd["2.0.w"] = sd.pop("2.0.weight")
        log = []

        def rename(mod, state_dict, prefix, meta, strict, missing, unexpected, errors):
            log.append((type(mod).__name__, prefix, dict(meta), strict, sorted(state_dict)))
            if prefix + "w" in state_dict:
                state_dict[prefix + "weight"] = state_dict.pop(prefix + "w")

        m[2][0].register_load_state_dict_pre_hook(rename)
        res = m.load_state_dict(sd)
        return log, repr(res), _np(m[2][0].weight).tolist()

    log, res, w = _both(script)
    assert log == [("Linear", "2.0.", {"version": 1}, True, ["2.0.bias", "2.0.w"])]
    assert res == "<All keys matched successfully>"
    assert w == [[4.0, 5.0, 6.0]]  # the fifth parameter (i = 4): arange(3) + 4


def test_private_load_pre_hook_without_module_and_copies():
    def script(T):
        m = T.nn.Linear(1, 1)
        log = []
        m._register_load_state_dict_pre_hook(lambda sd, prefix, *rest: log.append(("free", prefix)))
        m.register_load_state_dict_pre_hook(lambda mod, *rest: log.append(("mod", mod is m2)))
        m2 = copy.deepcopy(m)  # the copied hook is given the copy
        m2.register_load_state_dict_pre_hook(lambda mod, *rest: log.append(("new", mod is m2)))
        m2.load_state_dict(m.state_dict())
        return log

    assert _both(script) == [("free", ""), ("mod", True), ("new", True)]


def test_load_post_hook_clears_missing_keys_so_strict_passes():
    def script(T):
        m = _model(T)
        sd = {k: v for k, v in m.state_dict().items() if not k.startswith("2.")}
        sd["extra"] = T.zeros(1)
        seen = []

        def forgive(mod, incompatible):
            seen.append((list(incompatible.missing_keys), list(incompatible.unexpected_keys)))
            incompatible.missing_keys.clear()
            incompatible.unexpected_keys.clear()

        h = m.register_load_state_dict_post_hook(forgive)
        res = m.load_state_dict(sd)
        h.remove()
        try:
            m.load_state_dict(sd)
            err = None
        except RuntimeError as e:
            err = str(e)
        m.register_load_state_dict_post_hook(lambda mod, keys: keys)
        try:
            m.load_state_dict(m.state_dict())
            ret = None
        except AssertionError as e:
            ret = str(e)
        return seen, repr(res), err, ret

    seen, res, err, ret = _both(script)
    assert seen == [(["2.0.weight", "2.0.bias"], ["extra"])]
    assert res == "<All keys matched successfully>"
    assert err == (
        "Error(s) in loading state_dict for Sequential:\n"
        '\tMissing key(s) in state_dict: "2.0.weight", "2.0.bias". \n'
        '\tUnexpected key(s) in state_dict: "extra". '
    )
    assert ret.startswith("Hooks registered with ``register_load_state_dict_post_hook``")


def test_load_post_hooks_run_child_first_with_the_keys_so_far():
    def script(T):
        m = _model(T)
        sd = {k: v for k, v in m.state_dict().items() if k not in ("0.bias", "2.0.bias")}
        log = []
        for name, sub in [("root", m), ("lin", m[0]), ("inner", m[2][0])]:
            sub.register_load_state_dict_post_hook(
                lambda mod, keys, n=name: log.append((n, list(keys.missing_keys)))
            )
        res = m.load_state_dict(sd, strict=False)
        return log, res.missing_keys, res.unexpected_keys

    log, missing, unexpected = _both(script)
    assert log == [
        ("lin", ["0.bias"]),
        ("inner", ["0.bias", "2.0.bias"]),
        ("root", ["0.bias", "2.0.bias"]),
    ]
    assert missing == ["0.bias", "2.0.bias"] and unexpected == []


def test_every_hook_handle_removes_its_hook():
    def script(T):
        m = T.nn.Linear(1, 1)
        calls = []
        handles = [
            m.register_state_dict_pre_hook(lambda *a: calls.append("sd_pre")),
            m.register_state_dict_post_hook(lambda *a: calls.append("sd_post")),
            m._register_state_dict_hook(lambda *a: calls.append("sd_private")),
            m.register_load_state_dict_pre_hook(lambda *a: calls.append("load_pre")),
            m._register_load_state_dict_pre_hook(lambda *a: calls.append("load_pre_private")),
            m.register_load_state_dict_post_hook(lambda *a: calls.append("load_post")),
        ]
        m.load_state_dict(m.state_dict())
        first = list(calls)
        calls.clear()
        for h in handles:
            h.remove()
        m.load_state_dict(m.state_dict())
        return first, calls

    first, after = _both(script)
    assert first == ["sd_pre", "sd_post", "sd_private", "load_pre", "load_pre_private", "load_post"]
    assert after == []


# -- load_state_dict: errors, result, assign, versions, extra state ------------------------------
def test_strict_error_message_and_incompatible_keys():
    def script(T):
        m = _model(T)
        sd = m.state_dict()
        del sd["1.running_var"], sd["0.weight"]
        sd["0.extra"] = T.zeros(1)
        sd["2.zz.weight"] = T.zeros(1)
        sd["0.weight.x"] = T.zeros(1)
        try:
            m.load_state_dict(sd)
            err = None
        except RuntimeError as e:
            err = str(e)
        res = m.load_state_dict(sd, strict=False)
        missing, unexpected = res  # a named tuple
        return (
            err,
            repr(res),
            type(res).__name__,
            res._fields,
            missing == res.missing_keys,
            unexpected == res.unexpected_keys,
        )

    err, res, name, fields, same_missing, same_unexpected = _both(script)
    # unexpected keys come per module, parents first, as torch gathers them
    assert err == (
        "Error(s) in loading state_dict for Sequential:\n"
        '\tMissing key(s) in state_dict: "0.weight", "1.running_var". \n'
        '\tUnexpected key(s) in state_dict: "0.extra", "0.weight.x", "2.zz.weight". '
    )
    assert res == (
        "_IncompatibleKeys(missing_keys=['0.weight', '1.running_var'], "
        "unexpected_keys=['0.extra', '0.weight.x', '2.zz.weight'])"
    )
    assert name == "_IncompatibleKeys" and fields == ("missing_keys", "unexpected_keys")
    assert same_missing and same_unexpected


def test_bad_state_dict_arguments():
    def script(T):
        m = T.nn.Linear(1, 1)
        try:
            m.load_state_dict([("weight", T.zeros(1, 1))])
            err = None
        except TypeError as e:
            err = str(e)
        try:
            m.load_state_dict({"weight": "not a tensor", "bias": T.zeros(1)})
            msg = None
        except RuntimeError as e:
            msg = str(e)
        return err, msg

    err, msg = _both(script)
    assert err == "Expected state_dict to be dict-like, got <class 'list'>."
    assert msg == (
        "Error(s) in loading state_dict for Linear:\n"
        '\tWhile copying the parameter named "weight", expected torch.Tensor or Tensor-like '
        "object from checkpoint but received <class 'str'>"
    )


def test_batchnorm_checkpoint_without_num_batches_tracked():
    def script(T):
        m = T.nn.BatchNorm1d(2)
        sd = m.state_dict()
        del sd["num_batches_tracked"]
        old = dict(sd)  # no _metadata: an old checkpoint, version unknown
        ok = repr(m.load_state_dict(old))
        try:
            m.load_state_dict(sd)  # says version 2, so the key is really missing
            err = None
        except RuntimeError as e:
            err = str(e)
        return ok, err

    ok, err = _both(script)
    assert ok == "<All keys matched successfully>"
    assert err == (
        "Error(s) in loading state_dict for BatchNorm1d:\n"
        '\tMissing key(s) in state_dict: "num_batches_tracked". '
    )


def test_assign_puts_the_checkpoint_tensors_in_place():
    def script(T):
        m = T.nn.Linear(2, 1)
        m.weight.requires_grad_(False)
        w = T.tensor(np.array([[1.0, 2.0]]))  # float64, where the module has float32
        b = T.nn.Parameter(T.tensor(np.array([3.0])), requires_grad=False)
        m.load_state_dict({"weight": w, "bias": b}, assign=True)
        with T.no_grad():
            w.add_(1.0)  # shares memory with the new parameter
        out = (
            str(m.weight.dtype).split(".")[-1],
            type(m.weight).__name__,
            m.weight.requires_grad,
            m.bias is b,
            m.bias.requires_grad,
            _np(m.weight).tolist(),
            list(m.state_dict()),
        )
        m2 = T.nn.Linear(2, 1)
        m2.load_state_dict({"weight": w, "bias": b})  # the default copies
        return out + (str(m2.weight.dtype).split(".")[-1], m2.bias is b)

    assert _both(script) == (
        "float64",
        "Parameter",
        False,  # the module's requires_grad, not the checkpoint's
        True,
        True,
        [[2.0, 3.0]],
        ["weight", "bias"],
        "float32",
        False,
    )


def test_extra_state_round_trip():
    def script(T):
        class Counter(T.nn.Module):
            def __init__(self):
                super().__init__()
                self.n = 0
                self.fc = T.nn.Linear(1, 1)

            def get_extra_state(self):
                return {"n": self.n}

            def set_extra_state(self, state):
                self.n = state["n"]

        a, b = T.nn.Sequential(Counter()), T.nn.Sequential(Counter())
        a[0].n = 7
        sd = a.state_dict()
        b.load_state_dict(sd)
        del sd["0._extra_state"]
        try:
            b.load_state_dict(sd)
            err = None
        except RuntimeError as e:
            err = str(e)
        extra = dict(T.nn.Linear(1, 1).state_dict(), _extra_state=1)
        unexpected = T.nn.Linear(1, 1).load_state_dict(extra, strict=False).unexpected_keys
        return list(a.state_dict()), b[0].n, err, unexpected

    keys, n, err, unexpected = _both(script)
    assert keys == ["0._extra_state", "0.fc.weight", "0.fc.bias"]  # its own, then children's
    assert n == 7
    assert err.endswith('Missing key(s) in state_dict: "0._extra_state". ')
    assert unexpected == ["_extra_state"]


def test_lazy_submodule_materialises_on_load():
    def script(T):
        src = T.nn.Sequential(T.nn.Linear(4, 3))
        dst = T.nn.Sequential(T.nn.LazyLinear(3))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns that lazy modules are new
            res = dst.load_state_dict(src.state_dict())
        return (
            repr(res),
            tuple(dst[0].weight.shape),
            np.array_equal(_np(dst[0].weight), _np(src[0].weight)),
        )

    assert _both(script) == ("<All keys matched successfully>", (3, 4), True)


def test_load_keeps_parameter_objects_and_copies_values():
    # pydlk only: loading copies into the existing arrays, so an optimiser's views stay valid
    m = pydlk.nn.Linear(2, 1)
    w = m.weight
    m.load_state_dict({"weight": np.array([[1.0, 2.0]], np.float32), "bias": torch.ones(1)})
    assert m.weight is w and _np(w).tolist() == [[1.0, 2.0]] and _np(m.bias).tolist() == [1.0]
