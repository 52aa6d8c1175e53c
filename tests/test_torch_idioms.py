"""torch's idioms on ``.data`` and ``.grad`` run unchanged: each test runs the same code on pydlk
and on torch 2.13 (``lib`` is either module) and compares the results, and checks them against
the NumPy formula where there is one."""

import numpy as np
import pytest

import pydlk

torch = pytest.importorskip("torch")

LIBS = {"pydlk": pydlk, "torch": torch}


def _arr(t):
    """Either library's tensor as a NumPy array (a copy)."""
    return np.array(t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t))


def _mlp(lib, seed=0):
    """The same 3-5-2 MLP in either library, with the same float32 weights."""
    rng = np.random.default_rng(seed)
    m = lib.nn.Sequential(lib.nn.Linear(3, 5), lib.nn.Tanh(), lib.nn.Linear(5, 2))
    sd = {}
    for k, v in m.state_dict().items():
        sd[k] = lib.tensor(rng.standard_normal(tuple(v.shape)).astype(np.float32) * 0.5)
    m.load_state_dict(sd)
    return m


def _batch(seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal((8, 2)).astype(
        np.float32
    )


def _loss(lib, model, x, y):
    return lib.nn.functional.mse_loss(model(lib.tensor(x)), lib.tensor(y))


# ----------------------------------------------------------------------------- training loops


@pytest.mark.parametrize("zero", ["grad.data.zero_", "grad.zero_"])
def test_hand_written_sgd_loop_matches_torch(zero):
    lr, x, y = 0.1, *_batch()

    def train(lib):
        model = _mlp(lib)
        for _ in range(4):
            for p in model.parameters():
                if p.grad is not None:
                    if zero == "grad.data.zero_":
                        p.grad.data.zero_()
                    else:
                        p.grad.zero_()
            _loss(lib, model, x, y).backward()
            for p in model.parameters():
                p.data.add_(p.grad.data, alpha=-lr)
        return model

    got, ref = train(pydlk), train(torch)
    start = _mlp(pydlk)
    for (k, p), q, p0 in zip(got.named_parameters(), ref.parameters(), start.parameters()):
        assert p.requires_grad and p.is_leaf, k  # .data writes leave the parameter a leaf
        np.testing.assert_allclose(_arr(p), _arr(q), rtol=1e-5, atol=1e-6, err_msg=k)
        np.testing.assert_allclose(_arr(p.grad), _arr(q.grad), rtol=1e-5, atol=1e-6, err_msg=k)
        assert not np.allclose(_arr(p), _arr(p0)), k  # the loop did step


def test_sgd_step_through_data_equals_the_formula():
    # one step by hand in NumPy: p - lr * dL/dp for the last layer's bias of an MSE loss
    lr, x, y = 0.5, *_batch()
    model = _mlp(pydlk)
    _loss(pydlk, model, x, y).backward()
    b = model[2].bias
    b0 = _arr(b)
    h = np.tanh(x @ _arr(model[0].weight).T + _arr(model[0].bias))
    out = h @ _arr(model[2].weight).T + b0
    grad = (2 * (out - y) / out.size).sum(0)
    b.data.add_(b.grad.data, alpha=-lr)
    np.testing.assert_allclose(_arr(b), b0 - lr * grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", LIBS)
def test_no_grad_copy_into_a_parameter(name):
    lib = LIBS[name]
    p = lib.nn.Parameter(lib.tensor(np.zeros((2, 3), np.float32)))
    src = lib.tensor(np.arange(3, dtype=np.float64))  # broadcast over rows, cast to float32
    with pytest.raises(RuntimeError, match="leaf"):
        p.copy_(src)  # outside no_grad: refused by both
    with lib.no_grad():
        out = p.copy_(src)
    assert out is p and p.requires_grad and p.is_leaf and p.dtype == lib.float32
    np.testing.assert_array_equal(_arr(p), np.tile(np.arange(3.0), (2, 1)))


def test_data_assignment_same_shape_keeps_the_arena_and_the_optimiser_steps_it():
    x, y = _batch()

    def run(lib):
        model = _mlp(lib)
        opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for step in range(3):
            opt.zero_grad()
            _loss(lib, model, x, y).backward()
            opt.step()
            if step == 0:
                w = model[0].weight
                w.data = w.data * 0.5
        return model, opt

    (got, opt), (ref, _) = run(pydlk), run(torch)
    for (k, p), q in zip(got.named_parameters(), ref.parameters()):
        np.testing.assert_allclose(_arr(p), _arr(q), rtol=1e-5, atol=1e-6, err_msg=k)
    # still in the optimiser's flat parameter buffer, so the fused step keeps reaching it
    assert np.shares_memory(np.asarray(got[0].weight), opt._arenas[0][0].param)


def test_data_assignment_new_shape_leaves_the_arena():
    x, y = _batch()
    got = {}
    for name, lib in LIBS.items():
        model = _mlp(lib)
        opt = lib.optim.SGD(model.parameters(), lr=0.1)
        _loss(lib, model, x, y).backward()
        b = model[0].bias
        b.data = lib.tensor(np.arange(7, dtype=np.float32))
        b.grad = None  # torch's step would fail on the old-shaped grad; it skips grad None
        opt.step()
        got[name] = model
        assert tuple(b.shape) == (7,) and b.requires_grad and b.is_leaf
        np.testing.assert_array_equal(_arr(b), np.arange(7))  # not stepped
        if name == "pydlk":
            assert not np.shares_memory(np.asarray(b), opt._arenas[0][0].param)
    for (k, p), q in zip(got["pydlk"].named_parameters(), got["torch"].parameters()):
        np.testing.assert_allclose(_arr(p), _arr(q), rtol=1e-5, atol=1e-6, err_msg=k)


def test_state_dict_snapshot_with_cpu_clone():
    x, y = _batch()
    snaps = {}
    for name, lib in LIBS.items():
        model = _mlp(lib)
        snap = {k: v.cpu().clone() for k, v in model.state_dict().items()}
        assert all(isinstance(v, lib.Tensor) and not v.requires_grad for v in snap.values())
        opt = lib.optim.SGD(model.parameters(), lr=0.5)
        _loss(lib, model, x, y).backward()
        opt.step()  # the parameters move; the snapshot must not
        assert not np.allclose(_arr(model[0].weight), _arr(snap["0.weight"]))
        model.load_state_dict(snap)
        snaps[name] = {k: _arr(v) for k, v in model.state_dict().items()}
    start = {k: _arr(v) for k, v in _mlp(pydlk).state_dict().items()}
    for k in start:
        np.testing.assert_array_equal(snaps["pydlk"][k], start[k], err_msg=k)
        np.testing.assert_array_equal(snaps["pydlk"][k], snaps["torch"][k], err_msg=k)


# ----------------------------------------------------------------------------- init loops


@pytest.mark.parametrize("name", LIBS)
def test_normal_and_uniform_init_loops(name):
    lib = LIBS[name]
    lib.manual_seed(0)
    model = lib.nn.Sequential(lib.nn.Linear(200, 300), lib.nn.Linear(300, 100))
    opt = lib.optim.SGD(model.parameters(), lr=0.1)
    shapes = [tuple(p.shape) for p in model.parameters()]
    for p in model.parameters():
        p.data.normal_(0, 0.02)
    w = _arr(model[0].weight)  # 60000 draws: mean within 5 standard errors, std within 2%
    assert abs(w.mean()) < 5 * 0.02 / np.sqrt(w.size) and abs(w.std() / 0.02 - 1) < 0.02
    a = 0.3
    for p in model.parameters():
        p.data.uniform_(-a, a)
    w = _arr(model[1].weight)  # U(-a, a): var a^2/3
    assert -a <= w.min() and w.max() < a and abs(w.mean()) < 5 * a / np.sqrt(3 * w.size)
    assert abs(w.var() / (a * a / 3) - 1) < 0.03
    for p, s in zip(model.parameters(), shapes):
        assert tuple(p.shape) == s and p.dtype == lib.float32 and p.requires_grad and p.is_leaf
    if name == "pydlk":  # written in place: the optimiser's buffer holds the new values
        assert all(
            np.shares_memory(np.asarray(p), opt._arenas[0][0].param) for p in model.parameters()
        )


# ----------------------------------------------------------------------------- .data itself


@pytest.mark.parametrize("name", LIBS)
def test_data_shares_memory_and_is_detached(name):
    lib = LIBS[name]
    t = lib.tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)
    d = t.data
    assert isinstance(d, lib.Tensor) and d is not t
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    assert d.shape == t.shape and d.dtype == t.dtype
    d[0] = 10.0  # no no_grad needed: d is outside autograd
    d.mul_(2)
    np.testing.assert_array_equal(_arr(t), [20.0, 4.0, 6.0])  # seen through t
    assert t.requires_grad and t.is_leaf
    (t * t).sum().backward()
    np.testing.assert_array_equal(_arr(t.grad), [40.0, 8.0, 12.0])  # d(t^2)/dt at the new values


@pytest.mark.parametrize("name", LIBS)
def test_data_of_a_non_leaf(name):
    lib = LIBS[name]
    w = lib.tensor(np.array([1.0, -2.0, 3.0], np.float32), requires_grad=True)
    h = w * 2
    d = h.data
    assert not d.requires_grad and d.grad_fn is None and h.grad_fn is not None
    np.testing.assert_array_equal(_arr(d), [2.0, -4.0, 6.0])
    d.clamp_(min=0)  # untracked, as torch's .data: the values change under h
    np.testing.assert_array_equal(_arr(h), [2.0, 0.0, 6.0])
    h.sum().backward()  # sum's backward does not read h's values
    np.testing.assert_array_equal(_arr(w.grad), [2.0, 2.0, 2.0])


def test_data_setter_takes_a_torch_value():
    p = pydlk.nn.Parameter(pydlk.zeros(2))
    p.data = torch.tensor([1.5, 2.5])
    np.testing.assert_array_equal(_arr(p), [1.5, 2.5])
    assert isinstance(p.data, pydlk.Tensor)


# ----------------------------------------------------------------------------- in-place methods


def _inplace_cases(rng):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((2, 3)).astype(np.float32)
    row = rng.standard_normal(3).astype(np.float32)
    n = np.array([7, -7, 9, 4], np.int64)
    # (name, start, method call on either library's tensors, NumPy formula)
    return [
        ("add_", a, lambda L, t: t.add_(L.tensor(b), alpha=-0.5), a - 0.5 * b),
        ("add_ scalar", a, lambda L, t: t.add_(2.0), a + 2),
        ("sub_", a, lambda L, t: t.sub_(L.tensor(row), alpha=3), a - 3 * row),
        ("mul_", a, lambda L, t: t.mul_(L.tensor(row)), a * row),
        ("div_", a, lambda L, t: t.div_(L.tensor(b)), a / b),
        ("div_ floor", n, lambda L, t: t.div_(2, rounding_mode="floor"), np.floor_divide(n, 2)),
        ("div_ trunc", n, lambda L, t: t.div_(2, rounding_mode="trunc"), np.trunc(n / 2)),
        ("zero_", a, lambda L, t: t.zero_(), np.zeros_like(a)),
        ("fill_", a, lambda L, t: t.fill_(L.tensor(1.25)), np.full_like(a, 1.25)),
        ("copy_", n, lambda L, t: t.copy_(L.tensor([1.7, -2.7, 3.2, 0.5])), [1, -2, 3, 0]),
        ("clamp_", a, lambda L, t: t.clamp_(-0.5, 0.5), np.clip(a, -0.5, 0.5)),
        ("clamp_ min", a, lambda L, t: t.clamp_(min=0.1), np.maximum(a, 0.1)),
        ("clamp_ tensor", a, lambda L, t: t.clamp_(max=L.tensor(row)), np.minimum(a, row)),
    ]


@pytest.mark.parametrize("case", range(13))
def test_inplace_methods_match_torch_and_numpy(case):
    name, start, call, want = _inplace_cases(np.random.default_rng(case))[case]
    out = {}
    for lib_name, lib in LIBS.items():
        t = lib.tensor(start.copy())
        view = t.data  # shares memory: sees the update
        r = call(lib, t)
        assert r is t, name
        assert t.dtype == lib.tensor(start).dtype, name  # in place keeps the dtype
        out[lib_name] = _arr(t)
        np.testing.assert_array_equal(_arr(view), out[lib_name], err_msg=name)
    np.testing.assert_allclose(out["pydlk"], want, rtol=1e-6, atol=1e-7, err_msg=name)
    np.testing.assert_allclose(out["pydlk"], out["torch"], rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("name", LIBS)
def test_inplace_methods_refuse_what_the_target_cannot_hold(name):
    lib = LIBS[name]
    n = lib.tensor(np.array([1, 2, 3], np.int64))
    with pytest.raises(RuntimeError, match="add_" if name == "pydlk" else "can't be cast"):
        n.add_(0.5)  # a float result into an integer tensor
    with pytest.raises(RuntimeError, match="div_" if name == "pydlk" else "can't be cast"):
        n.div_(2)
    f = lib.tensor(np.zeros(3, np.float32))
    with pytest.raises(RuntimeError, match="mul_.*shape" if name == "pydlk" else "shape"):
        f.mul_(lib.tensor(np.ones((2, 3), np.float32)))  # would grow the target
    with pytest.raises(RuntimeError, match="copy_.*shape" if name == "pydlk" else "size"):
        f.copy_(lib.tensor(np.ones(4, np.float32)))
    with pytest.raises(RuntimeError, match="fill_.*0-dim" if name == "pydlk" else "0-dim"):
        f.fill_(lib.tensor(np.ones(2, np.float32)))
    with pytest.raises((RuntimeError, ValueError), match="min.*max"):
        f.clamp_()
    np.testing.assert_array_equal(_arr(n), [1, 2, 3])  # nothing was written
    np.testing.assert_array_equal(_arr(f), [0, 0, 0])


_ON_GRAPH = {
    "add_": lambda t, o: t.add_(o, alpha=2),
    "sub_": lambda t, o: t.sub_(o),
    "mul_": lambda t, o: t.mul_(o),
    "div_": lambda t, o: t.div_(o),
    "zero_": lambda t, o: t.zero_(),
    "fill_": lambda t, o: t.fill_(1.0),
    "copy_": lambda t, o: t.copy_(o),
    "clamp_": lambda t, o: t.clamp_(min=0.0),
    "normal_": lambda t, o: t.normal_(),
    "uniform_": lambda t, o: t.uniform_(),
}


@pytest.mark.parametrize("op", _ON_GRAPH)
def test_inplace_on_a_graph_non_leaf_is_refused_and_gradients_stay_right(op):
    # h's values feed the next product's backward: torch records the op and raises at backward;
    # pydlk (no version counters) sees that a saved value holds h's memory and refuses at once
    w_np = np.array([1.0, -2.0, 3.0], np.float32)
    o_np = np.array([0.5, 0.25, 2.0], np.float32)
    w = pydlk.tensor(w_np, requires_grad=True)
    h = w * w
    g = h * w  # Mul saves h for w's gradient
    with pytest.raises(RuntimeError, match=rf"^{op}: in place into a tensor"):
        _ON_GRAPH[op](h, pydlk.tensor(o_np))
    np.testing.assert_array_equal(_arr(h), w_np * w_np)  # nothing was written
    g.sum().backward()
    tw = torch.tensor(w_np, requires_grad=True)
    (tw * tw * tw).sum().backward()
    np.testing.assert_allclose(_arr(w.grad), _arr(tw.grad), rtol=1e-6)
    np.testing.assert_allclose(_arr(w.grad), 3 * w_np**2, rtol=1e-6)
    # under no_grad the write is allowed, as torch allows it
    with pydlk.no_grad():
        _ON_GRAPH[op](h, pydlk.tensor(o_np))
    th = tw * tw
    with torch.no_grad():
        _ON_GRAPH[op](th, torch.tensor(o_np))
    if op not in ("normal_", "uniform_"):
        np.testing.assert_allclose(_arr(h), _arr(th), rtol=1e-6)


@pytest.mark.parametrize("op", _ON_GRAPH)
def test_inplace_on_a_leaf_that_requires_grad_is_refused_by_both(op):
    for lib in LIBS.values():
        w = lib.tensor(np.ones(3, np.float32), requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf"):
            _ON_GRAPH[op](w, lib.tensor(np.ones(3, np.float32)))


@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_", "copy_"])
def test_inplace_from_an_operand_that_requires_grad_is_recorded(op):
    # torch makes the target a non-leaf with a grad_fn, and so does pydlk
    grads = []
    for lib in LIBS.values():
        w = lib.tensor(np.array([1.0, 2.0, 4.0], np.float32), requires_grad=True)
        buf = lib.ones(3)
        _ON_GRAPH[op](buf, w)
        assert buf.requires_grad and buf.grad_fn is not None
        (buf * lib.tensor(np.array([1.0, 2.0, 3.0], np.float32))).sum().backward()
        grads.append(_arr(w.grad))
        b2 = lib.ones(3)
        _ON_GRAPH[op](b2, w.detach())  # detached: a plain write
        assert not b2.requires_grad
        with lib.no_grad():
            _ON_GRAPH[op](b2, w)
        assert not b2.requires_grad
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6)
