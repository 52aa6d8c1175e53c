"""Module core: registration, iteration, modes, state dicts (in place), hooks, repr, containers."""

from collections import OrderedDict

import numpy as np
import pytest

import pydlk
from pydlk import nn
from pydlk.nn import Parameter


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.block = nn.Sequential(nn.Linear(3, 3), nn.Identity())
        self.scale = Parameter(np.ones(3, np.float32))
        self.register_buffer("count", pydlk.tensor(np.zeros(1, np.float32)))
        self.register_buffer("scratch", pydlk.tensor(np.zeros(2, np.float32)), persistent=False)

    def forward(self, x):
        return self.block(self.fc1(x)) * self.scale


def test_registration_and_iteration():
    m = Net()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "block.0.weight", "block.0.bias"]
    assert [n for n, _ in m.named_buffers()] == ["count", "scratch"]
    assert [n for n, _ in m.named_children()] == ["fc1", "block"]
    assert [n for n, _ in m.named_modules()] == ["", "fc1", "block", "block.0", "block.1"]
    assert len(list(m.parameters(recurse=False))) == 1
    assert list(m.state_dict().keys()) == [
        "scale",
        "count",
        "fc1.weight",
        "fc1.bias",
        "block.0.weight",
        "block.0.bias",
    ]
    # shared modules and parameters appear once
    lin = nn.Linear(2, 2)
    s = nn.Sequential(lin, lin)
    assert len(list(s.parameters())) == 2
    # reassigning None / deleting
    m.scale = None
    assert "scale" not in dict(m.named_parameters())
    del m.fc1
    assert "fc1" not in dict(m.named_children())


def test_register_errors():
    m = nn.Module()
    with pytest.raises(TypeError, match="parameter"):
        m.register_parameter("w", np.zeros(2))
    with pytest.raises(KeyError, match="'.'"):
        m.register_buffer("a.b", pydlk.tensor([1.0]))
    m.fc = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="fc"):
        m.fc = 3
    with pytest.raises(AttributeError, match="nothing"):
        m.nothing


def test_train_eval_and_requires_grad_and_apply():
    m = Net()
    assert m.training and m.block[0].training
    m.eval()
    assert not m.training and not m.block[0].training
    m.train()
    assert m.block[1].training
    m.requires_grad_(False)
    assert all(not p.requires_grad for p in m.parameters())
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == "Net" and seen[0] == "Linear"
    with pytest.raises(ValueError, match="mode"):
        m.train("yes")


def test_state_dict_round_trip_in_place():
    a, b = Net(), Net()
    pydlk.manual_seed(1)
    a.fc1.reset_parameters()
    sd = a.state_dict()
    w_before = np.asarray(b.fc1.weight)
    view = w_before.reshape(-1)[:3]  # an arena-style view into the parameter's memory
    res = b.load_state_dict({k: v.clone() for k, v in sd.items()})
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert np.asarray(b.fc1.weight) is w_before  # written in place
    np.testing.assert_array_equal(view, np.asarray(a.fc1.weight).reshape(-1)[:3])
    np.testing.assert_array_equal(np.asarray(b.fc1.bias), np.asarray(a.fc1.bias))
    assert "scratch" not in sd


def test_load_state_dict_strict_and_shape_errors():
    m = Net()
    sd = OrderedDict((k, v.clone()) for k, v in m.state_dict().items())
    del sd["fc1.bias"]
    sd["extra"] = np.zeros(1)
    with pytest.raises(RuntimeError, match="Missing key.*fc1.bias"):
        m.load_state_dict(sd)
    with pytest.raises(RuntimeError, match='Unexpected key.*"extra"'):
        m.load_state_dict(sd)
    res = m.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["fc1.bias"] and res.unexpected_keys == ["extra"]
    sd = {k: v.clone() for k, v in m.state_dict().items()}
    sd["fc1.weight"] = np.zeros((5, 4), np.float32)
    with pytest.raises(RuntimeError, match=r"size mismatch for fc1.weight.*\(5, 4\).*\(3, 4\)"):
        m.load_state_dict(sd)


def test_load_state_dict_keeps_optimizer_arena_views():
    m = nn.Linear(3, 2)
    arena = np.zeros(8, np.float32)
    arena[:6] = np.asarray(m.weight).reshape(-1)
    arena[6:] = np.asarray(m.bias)
    m.weight.data = arena[:6].reshape(2, 3)
    m.bias.data = arena[6:]
    m.load_state_dict({"weight": np.full((2, 3), 7, np.float32), "bias": np.full(2, 9, np.float32)})
    np.testing.assert_array_equal(arena, [7] * 6 + [9] * 2)


def test_to_dtype_and_zero_grad():
    m = Net()
    m.double()
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert m.count.dtype == np.float64
    m.float()
    assert m.fc1.weight.dtype == np.float32
    x = pydlk.tensor(np.ones((2, 4), np.float32))
    m(x).sum().backward()
    assert m.fc1.weight.grad is not None
    m.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(m.fc1.weight.grad, 0)
    m.zero_grad()
    assert m.fc1.weight.grad is None
    with pytest.raises(TypeError, match="dtype"):
        m.to(np.int32)


def test_forward_hooks():
    m = Net()
    calls = []
    h1 = m.fc1.register_forward_pre_hook(lambda mod, args: calls.append(("pre", args[0].shape)))
    h2 = m.fc1.register_forward_hook(lambda mod, args, out: calls.append(("post", out.shape)))
    x = pydlk.tensor(np.ones((2, 4), np.float32))
    m(x)
    assert calls == [("pre", (2, 4)), ("post", (2, 3))]
    h1.remove()
    h2.remove()
    m(x)
    assert len(calls) == 2
    # a forward hook may replace the output
    m.block.register_forward_hook(lambda mod, args, out: out * 0)
    np.testing.assert_array_equal(np.asarray(m(x)), 0)
    # a pre-hook may replace the input
    lin = nn.Linear(4, 3)
    lin.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    np.testing.assert_allclose(np.asarray(lin(x)), np.broadcast_to(np.asarray(lin.bias), (2, 3)))


def test_full_backward_hook():
    lin = nn.Linear(3, 2)
    seen = {}

    def hook(mod, grad_input, grad_output):
        seen["gi"] = np.asarray(grad_input[0]).copy()
        seen["go"] = np.asarray(grad_output[0]).copy()

    lin.register_full_backward_hook(hook)
    x = pydlk.tensor(np.ones((4, 3), np.float32), requires_grad=True)
    y = lin(x)
    dy = np.arange(8, dtype=np.float32).reshape(4, 2)
    y.backward(dy)
    np.testing.assert_allclose(seen["go"], dy)
    np.testing.assert_allclose(seen["gi"], dy @ np.asarray(lin.weight), rtol=1e-6)
    np.testing.assert_allclose(x.grad, dy @ np.asarray(lin.weight), rtol=1e-6)

    # the hook can replace grad_input
    lin2 = nn.Linear(3, 2)
    lin2.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 0,))
    x2 = pydlk.tensor(np.ones((4, 3), np.float32), requires_grad=True)
    lin2(x2).sum().backward()
    np.testing.assert_array_equal(x2.grad, 0)
    assert lin2.weight.grad is not None


def test_repr():
    m = nn.Sequential(
        nn.Conv2d(1, 6, 5) if hasattr(pydlk.functional, "conv2d") else nn.Linear(2, 3), nn.Flatten()
    )
    r = repr(m)
    assert r.startswith("Sequential(\n  (0): ")
    assert "(1): Flatten(start_dim=1, end_dim=-1)" in r
    assert repr(nn.Linear(2, 3, bias=False)) == "Linear(in_features=2, out_features=3, bias=False)"
    assert repr(nn.Identity()) == "Identity()"


def test_sequential_indexing_slicing_append():
    a, b, c = nn.Linear(2, 3), nn.Identity(), nn.Linear(3, 1)
    s = nn.Sequential(a, b)
    s.append(c)
    assert len(s) == 3 and s[0] is a and s[-1] is c
    t = s[1:]
    assert isinstance(t, nn.Sequential) and len(t) == 2 and t[1] is c
    with pytest.raises(IndexError):
        s[3]
    x = pydlk.tensor(np.ones((5, 2), np.float32))
    np.testing.assert_allclose(np.asarray(s(x)), np.asarray(c(a(x))))
    d = nn.Sequential(OrderedDict([("first", a), ("second", c)]))
    assert list(d.state_dict().keys()) == [
        "first.weight",
        "first.bias",
        "second.weight",
        "second.bias",
    ]
    del s[1]
    assert s[1] is c and list(s._modules) == ["0", "1"]


def test_modulelist_moduledict():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    ml.append(nn.Identity())
    assert isinstance(ml[-1], nn.Identity)
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    md["b"] = nn.Identity()
    assert list(md.keys()) == ["a", "b"] and "a" in md
    assert list(md.state_dict().keys()) == ["a.weight", "a.bias"]


def test_flatten_unflatten():
    x = pydlk.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    assert nn.Unflatten(1, (3, 1))(x).shape == (2, 3, 1, 4)
    with pytest.raises(ValueError, match="start_dim"):
        nn.Flatten(2, 1)(x)
    xg = pydlk.tensor(np.ones((2, 3, 4), np.float64), requires_grad=True)
    pydlk.gradcheck(lambda t: nn.Flatten()(t), (xg,))


def test_linear_forward_backward_and_init(rng):
    pydlk.manual_seed(0)
    lin = nn.Linear(50, 40)
    bound = 1 / np.sqrt(50)
    assert np.abs(np.asarray(lin.weight)).max() <= bound + 1e-7  # kaiming_uniform(a=sqrt 5)
    assert np.abs(np.asarray(lin.bias)).max() <= bound + 1e-7
    assert np.asarray(lin.weight).std() > 0.5 * bound / np.sqrt(3)
    x = rng.standard_normal((3, 50)).astype(np.float32)
    y = lin(pydlk.tensor(x))
    np.testing.assert_allclose(
        np.asarray(y), x @ np.asarray(lin.weight).T + np.asarray(lin.bias), rtol=1e-5, atol=1e-6
    )
    lin.double()
    pydlk.gradcheck(
        lambda t, w, b: lin(t),
        (pydlk.tensor(rng.standard_normal((2, 50)), requires_grad=True), lin.weight, lin.bias),
    )
    with pytest.raises(ValueError, match="out_features"):
        nn.Linear(3, -1)


def test_deepcopy_is_independent():
    import copy

    m = Net()
    c = copy.deepcopy(m)
    c.fc1.weight.data[...] = 0
    assert not np.all(np.asarray(m.fc1.weight) == 0)
    assert [n for n, _ in c.named_parameters()] == [n for n, _ in m.named_parameters()]


def test_load_state_dict_into_a_live_optimizer_arena():
    opt_mod = pytest.importorskip("pydlk.optim")
    pydlk.manual_seed(0)
    m = nn.Linear(3, 2)
    opt = opt_mod.SGD(m.parameters(), lr=0.5)
    before = np.asarray(m.weight)
    new_w = np.full((2, 3), 2.0, np.float32)
    m.load_state_dict({"weight": new_w, "bias": np.zeros(2, np.float32)})
    assert np.asarray(m.weight) is before  # the arena view survives
    x = pydlk.tensor(np.ones((1, 3), np.float32))
    opt.zero_grad()
    m(x).sum().backward()
    opt.step()  # w <- w - lr * g, g = x for every row
    np.testing.assert_allclose(np.asarray(m.weight), 2.0 - 0.5, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(m.bias), -0.5, rtol=1e-6)
