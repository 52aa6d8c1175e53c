"""The autograd engine: accumulation, graph shapes, retain_graph, grad modes, hooks, leaves and
the gradient arena slot, tensor creation and interchange, and gradcheck itself."""

import threading
import weakref

import numpy as np
import pytest
from conftest import t64

import pydlk


def test_gradients_accumulate_across_backward_calls(rng):
    a = rng.standard_normal(4)
    x = t64(a)
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * a + 3)
    x.grad = None
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad, np.full(4, 3.0))


def test_diamond_graph_adds_both_paths(rng):
    a = rng.standard_normal(3)
    x = t64(a)
    u, v = x * 2, x.exp()  # x feeds two branches that meet again
    y = (u * v).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * np.exp(a) + 2 * a * np.exp(a))
    x = t64(a)
    (x * x * x).sum().backward()  # x used twice in one op, then again
    np.testing.assert_allclose(x.grad, 3 * a * a)


def test_long_chain_has_no_recursion_limit():
    x = t64(np.ones(2))
    y = x
    for _ in range(5000):
        y = y * 1.0001 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(2, 1.0001**5000))
    del y  # dropping a 10000-node graph must not overflow the C stack either


def test_backward_twice_needs_retain_graph():
    x = t64([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(
        RuntimeError, match="backward through the graph a second time.*retain_graph=True"
    ):
        y.backward()
    x.grad = None
    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad, [4.0, 8.0])


def test_no_grad_enable_grad_set_grad_enabled():
    x = t64([1.0])
    with pydlk.no_grad():
        assert not pydlk.is_grad_enabled()
        y = x * 2
        with pydlk.enable_grad():
            z = x * 2
        assert not pydlk.is_grad_enabled()
    assert pydlk.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and z.requires_grad
    with pydlk.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert pydlk.is_grad_enabled()
    pydlk.set_grad_enabled(False)  # as a function
    try:
        assert not pydlk.is_grad_enabled()
    finally:
        pydlk.set_grad_enabled(True)
    assert pydlk.is_grad_enabled()


def test_grad_mode_decorators():
    x = t64([1.0])

    @pydlk.no_grad()
    def f():
        return x * 2

    @pydlk.no_grad
    def f_bare():
        return x * 2

    @pydlk.set_grad_enabled(False)
    def g():
        return x * 2

    assert pydlk.is_grad_enabled()  # decorating changed nothing
    assert not f().requires_grad and not f_bare().requires_grad and not g().requires_grad
    assert pydlk.is_grad_enabled()
    assert f.__name__ == "f"

    @pydlk.enable_grad()
    def h():
        return x * 2

    with pydlk.no_grad():
        assert h().requires_grad
        assert not pydlk.is_grad_enabled()


def test_grad_mode_is_per_thread():
    seen = {}

    def worker():
        seen["enabled"] = pydlk.is_grad_enabled()
        with pydlk.no_grad():
            seen["inner"] = pydlk.is_grad_enabled()

    with pydlk.no_grad():
        th = threading.Thread(target=worker)
        th.start()
        th.join()
        assert not pydlk.is_grad_enabled()
    assert seen == {"enabled": True, "inner": False}
    assert pydlk.is_grad_enabled()


def test_requires_grad_only_on_float_tensors():
    with pytest.raises(RuntimeError, match="only floating-point tensors can require gradients"):
        pydlk.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="only floating-point"):
        pydlk.tensor([True]).requires_grad_()
    t = pydlk.tensor([1.0]).requires_grad_()
    assert t.requires_grad and t.is_leaf
    y = t * 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.requires_grad = False


def test_backward_argument_checks():
    x = t64([1.0, 2.0])
    y = x * 3
    with pytest.raises(
        RuntimeError,
        match=r"implicitly created only for scalar outputs.*"
        r"shape \(2,\)",
    ):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\), tensor has \(2,\)"):
        y.backward(np.ones(3))
    y.backward(pydlk.tensor([1.0, 0.5]))
    np.testing.assert_allclose(x.grad, [3.0, 1.5])
    with pytest.raises(RuntimeError, match="does not require grad"):
        pydlk.tensor([1.0]).sum().backward()


def test_backward_on_a_leaf():
    x = t64(3.0)
    x.backward()
    assert x.grad == 1.0


def test_retain_grad_on_non_leaf():
    x = t64([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    k = x * 4  # not retained
    (h * h + k).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * np.array([3.0, 6.0]))
    assert k.grad is None and not h.is_leaf


def test_hooks_on_leaf_and_non_leaf_can_modify_the_gradient():
    x = t64([1.0, 2.0])
    calls = []
    x.register_hook(lambda g: calls.append(g.clone()))  # observes, returns None
    handle = x.register_hook(lambda g: g * 10)  # modifies
    h = x * 2
    h.register_hook(lambda g: g + 1)  # non-leaf: modifies before passing on
    h.sum().backward()
    np.testing.assert_allclose(calls[0], [4.0, 4.0])  # (1 + 1) * 2
    np.testing.assert_allclose(x.grad, [40.0, 40.0])
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0])
    y = t64([1.0])
    y.register_hook(lambda g: np.asarray(g) * 5)  # an array is accepted too
    (y * 1).sum().backward()
    np.testing.assert_allclose(y.grad, [5.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        pydlk.tensor([1.0]).register_hook(lambda g: g)


def test_leaf_hook_runs_once_on_the_total_gradient():
    torch = pytest.importorskip("torch")
    seen, tseen = [], []
    x = t64([1.0, -2.0])
    tx = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    x.register_hook(lambda g: seen.append(g.clone()) or g.clamp(-1, 1))
    tx.register_hook(lambda g: tseen.append(g.clone()) or g.clamp(-1, 1))
    (x * 3 + x * x).sum().backward()  # x used by two ops: contributions 3 and 2x
    (tx * 3 + tx * tx).sum().backward()
    assert len(seen) == len(tseen) == 1
    np.testing.assert_allclose(seen[0], tseen[0].numpy())
    np.testing.assert_allclose(x.grad, tx.grad.numpy())


def test_inplace_on_a_leaf_requiring_grad_raises():
    w = pydlk.tensor(np.ones(3), requires_grad=True)
    for op in (
        lambda: w.zero_(),
        lambda: w.fill_(1),
        lambda: w.add_(1.0),
        lambda: w.mul_(2),
        lambda: w.copy_(np.zeros(3)),
        lambda: w.clamp_(0, 1),
        lambda: w.sub_(1.0),
    ):
        with pytest.raises(RuntimeError, match="leaf tensor that requires grad.*in-place"):
            op()
    with pydlk.no_grad():
        w.mul_(2).add_(1.0)
    np.testing.assert_array_equal(np.asarray(w), [3.0, 3.0, 3.0])


def test_detach_shares_memory_and_stops_gradients():
    x = t64([1.0, 2.0])
    d = x.detach()
    assert np.shares_memory(np.asarray(d), np.asarray(x)) and not d.requires_grad and d.is_leaf
    y = (x * d).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, [1.0, 2.0])  # d is a constant
    h = x * 2
    h.detach_()
    assert h.is_leaf and not h.requires_grad


def test_integer_outputs_carry_no_grad():
    x = t64([[1.0, 3.0], [2.0, 0.0]])
    values, indices = x.max(1)
    assert values.requires_grad and not indices.requires_grad and indices.grad_fn is None
    assert not x.argmax().requires_grad and not (x > 1).requires_grad
    assert not x.long().requires_grad


def test_grad_slot_arena():
    arena = np.zeros(6, np.float32)
    w = pydlk.tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)
    w._grad_slot = arena[2:5]
    (w * w).sum().backward()
    assert np.shares_memory(w.grad, arena)
    np.testing.assert_array_equal(arena, [0, 0, 2, 4, 6, 0])
    (3 * w).sum().backward()  # accumulates into the slot, still the view
    assert np.shares_memory(w.grad, arena)
    np.testing.assert_array_equal(arena, [0, 0, 5, 7, 9, 0])
    arena[:] = 0  # zero_grad of an optimiser: one memset
    (w * 1).sum().backward()
    np.testing.assert_array_equal(arena[2:5], [1, 1, 1])
    w.grad = None  # set_to_none, then backward writes the slot again
    (w * 2).sum().backward()
    assert np.shares_memory(w.grad, arena)
    np.testing.assert_array_equal(arena[2:5], [2, 2, 2])


def test_array_numpy_and_dlpack_interchange():
    x = pydlk.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = np.asarray(x)
    assert a.dtype == np.float32 and np.shares_memory(a, np.asarray(x))
    assert np.array(x, dtype=np.float64).dtype == np.float64
    assert np.shares_memory(x.numpy(), np.asarray(x))
    w = pydlk.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"requires grad.*detach\(\)\.numpy\(\)"):
        w.numpy()
    n = np.from_dlpack(x)
    assert np.shares_memory(n, np.asarray(x))
    r = pydlk.from_dlpack(x)  # pydlk -> pydlk
    assert np.shares_memory(np.asarray(r), np.asarray(x)) and r.shape == (2, 2)
    back = pydlk.from_dlpack(np.arange(3.0))
    assert back.dtype == np.float64 and back.tolist() == [0.0, 1.0, 2.0]


def test_dlpack_round_trip_with_torch():
    torch = pytest.importorskip("torch")
    x = pydlk.tensor([[1.0, 2.0], [3.0, 4.0]])
    tt = torch.from_dlpack(x)
    assert tt.dtype == torch.float32 and tt.shape == (2, 2)
    tt[0, 0] = 10.0  # shared memory
    assert np.asarray(x)[0, 0] == 10.0
    y = pydlk.from_dlpack(torch.arange(4, dtype=torch.float64))
    assert y.dtype == np.float64 and y.tolist() == [0.0, 1.0, 2.0, 3.0]
    src = torch.ones(3)
    z = pydlk.from_dlpack(src)
    src[1] = 5.0
    assert z.tolist() == [1.0, 5.0, 1.0]


def test_repr():
    assert repr(pydlk.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(pydlk.tensor([1.5], requires_grad=True)) == "tensor([1.5000], requires_grad=True)"
    x = pydlk.tensor([1.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2.], grad_fn=<MulBackward0>)"
    assert "dtype=float64" in repr(t64([1.0], False))


def test_tensor_dtype_rules_and_copying():
    assert pydlk.tensor([1.0, 2.0]).dtype == np.float32
    assert pydlk.tensor(1.5).dtype == np.float32 and pydlk.tensor(1.5).shape == ()
    assert pydlk.tensor([1, 2]).dtype == np.int64
    assert pydlk.tensor([1, 2.5]).dtype == np.float32
    assert pydlk.tensor([True, False]).dtype == np.bool_
    assert pydlk.tensor(np.ones(2, np.float64)).dtype == np.float64  # arrays keep their dtype
    assert pydlk.tensor(np.ones(2, np.int32)).dtype == np.int32
    assert pydlk.tensor([1, 2], dtype=pydlk.float64).dtype == np.float64
    a = np.ones(3, np.float32)
    t = pydlk.tensor(a)
    a[0] = 5
    assert np.asarray(t)[0] == 1.0 and not np.shares_memory(np.asarray(t), a)  # tensor copies
    s = pydlk.as_tensor(a)
    assert np.shares_memory(np.asarray(s), a)  # as_tensor shares
    assert pydlk.as_tensor(s) is s
    assert np.asarray(pydlk.from_numpy(a)) is a
    with pytest.raises(TypeError, match="expected a numpy.ndarray"):
        pydlk.from_numpy([1.0])


def test_manual_seed_makes_randn_reproducible():
    pydlk.manual_seed(123)
    a = pydlk.randn(5)
    b = pydlk.randn(5)
    pydlk.manual_seed(123)
    np.testing.assert_array_equal(np.asarray(pydlk.randn(5)), np.asarray(a))
    np.testing.assert_array_equal(np.asarray(pydlk.randn(5)), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    pydlk.manual_seed(124)
    assert not np.array_equal(np.asarray(pydlk.randn(5)), np.asarray(a))


class _Square(pydlk.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class _WrongAtTwo(pydlk.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        d = 2 * x * g
        d[2] *= 1.5  # wrong at element 2 only
        return d


def test_gradcheck_itself(rng):
    x = t64(rng.standard_normal(5) + 3)
    assert pydlk.gradcheck(_Square.apply, (x,)) is True
    assert pydlk.gradcheck(_Square.apply, x) is True
    with pytest.raises(
        pydlk.GradcheckError,
        match=r"input 0 \(shape \(5,\)\) element \(2,\): "
        r"analytic .* vs numerical .*1 of 5",
    ):
        pydlk.gradcheck(_WrongAtTwo.apply, (x,))
    assert pydlk.gradcheck(_WrongAtTwo.apply, (x,), raise_exception=False) is False
    x32 = pydlk.tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        pydlk.gradcheck(_Square.apply, (x32,))
    with pytest.raises(ValueError, match="no input has requires_grad"):
        pydlk.gradcheck(_Square.apply, (t64([1.0], False),))
    x.grad = np.full(5, 7.0)
    pydlk.gradcheck(_Square.apply, (x,))
    np.testing.assert_array_equal(x.grad, np.full(5, 7.0))  # the caller's .grad is kept


def test_custom_function_with_two_outputs_and_unused_output():
    class SplitHalves(pydlk.Function):
        @staticmethod
        def forward(ctx, x):
            n = x.shape[0] // 2
            return x[:n] * 2, x[n:] * 3

        @staticmethod
        def backward(ctx, ga, gb):
            return np.concatenate([ga * 2, gb * 3])

    x = t64(np.arange(4.0))
    a, b = SplitHalves.apply(x)
    a.sum().backward()  # b receives no gradient: the engine passes zeros for it
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 0.0, 0.0])


def test_backward_returning_wrong_shape_is_named():
    class Bad(pydlk.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g[:1]

    with pytest.raises(
        RuntimeError,
        match=r"Bad.backward returned a gradient of shape \(1,\) "
        r"for an input of shape \(3,\)",
    ):
        Bad.apply(t64(np.ones(3))).sum().backward()


def test_only_reachable_leaves_get_gradients():
    x, y = t64([1.0]), t64([2.0])
    z = pydlk.tensor([3.0])
    (x * z).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0])
    assert y.grad is None and z.grad is None


# ------------------------------------------------------- leaf gradients handed over, not copied


class _Fresh(pydlk.autograd.Function):
    """y = 2x; the backward returns a new array and records a weak reference to it (and, with
    ``keep``, a strong one, as a Function keeping its result elsewhere would)."""

    array_io = True  # the engine's handling of the arrays a backward returns is under test
    made: list = []
    kept: list = []
    keep = False

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        out = g * 2
        _Fresh.made.append(weakref.ref(out))
        if _Fresh.keep:
            _Fresh.kept.append(out)
        return out


def test_a_fresh_leaf_gradient_is_handed_over_not_copied(rng):
    # torch's AccumulateGrad keeps a gradient no one else holds; so does the engine here
    _Fresh.made.clear()
    x = pydlk.tensor(rng.standard_normal(5), requires_grad=True)
    _Fresh.apply(x).sum().backward()
    assert x._grad is _Fresh.made[-1]()
    np.testing.assert_array_equal(np.asarray(x.grad), np.full(5, 2.0))


def test_a_gradient_held_elsewhere_is_copied(rng):
    _Fresh.made.clear()
    _Fresh.keep = True
    try:
        x = pydlk.tensor(rng.standard_normal(5), requires_grad=True)
        _Fresh.apply(x).sum().backward()
        assert x._grad is not _Fresh.kept[-1]
        x.grad.add_(1.0)  # the Function's kept array is not the leaf's gradient
        np.testing.assert_array_equal(_Fresh.kept[-1], np.full(5, 2.0))
    finally:
        _Fresh.keep = False
        _Fresh.kept.clear()


def test_handed_over_gradients_never_alias(rng):
    # one array passed through to two leaves (add), a user's gradient array, a hook keeping
    # what it saw, a retained intermediate gradient: each leaf gets its own array
    a = pydlk.tensor(rng.standard_normal(4), requires_grad=True)
    b = pydlk.tensor(rng.standard_normal(4), requires_grad=True)
    user = np.ones(4)
    (a + b).backward(user)
    assert a._grad is not b._grad and a._grad is not user and b._grad is not user
    a.grad.add_(1.0)
    np.testing.assert_array_equal(np.asarray(b.grad), np.ones(4))
    np.testing.assert_array_equal(user, np.ones(4))
    seen = []
    c = pydlk.tensor(rng.standard_normal(4), requires_grad=True)
    c.register_hook(lambda g: seen.append(g))
    _Fresh.apply(c).sum().backward()
    assert not np.shares_memory(c._grad, np.asarray(seen[0]))
    d = pydlk.tensor(rng.standard_normal(4), requires_grad=True)
    y = d * 1.0
    y.retain_grad()
    (y + 0.0).sum().backward()
    assert not np.shares_memory(np.asarray(d.grad), np.asarray(y.grad))


def test_two_leaves_given_the_same_array_by_one_backward(rng):
    class Twice(pydlk.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            out = g * 1.0
            return out, out

    a = pydlk.tensor(rng.standard_normal(3), requires_grad=True)
    b = pydlk.tensor(rng.standard_normal(3), requires_grad=True)
    Twice.apply(a, b).sum().backward()
    assert not np.shares_memory(np.asarray(a.grad), np.asarray(b.grad))
    a.grad.mul_(0.0)
    np.testing.assert_array_equal(np.asarray(b.grad), np.ones(3))


class _FreshView(pydlk.autograd.Function):
    """y = 2x; the backward returns a view of a new array: the whole of it reshaped (as
    LayerNorm's and cross_entropy's dx.reshape(shape)), or, with ``part``, a slice of a larger
    one; ``keep`` keeps the base elsewhere."""

    array_io = True  # the engine's handling of the arrays a backward returns is under test
    made: list = []
    kept: list = []
    keep = False
    part = False

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        n = g.size
        base = np.empty(2 * n if _FreshView.part else n)
        base[...] = 2.0
        out = base[:n].reshape(g.shape) if _FreshView.part else base.reshape(g.shape)
        _FreshView.made.append(weakref.ref(out))
        if _FreshView.keep:
            _FreshView.kept.append(base)
        return out


@pytest.mark.parametrize("case", ["whole", "part", "kept"])
def test_a_view_gradient_is_handed_over_only_when_it_is_its_whole_unheld_base(rng, case):
    _FreshView.made.clear()
    _FreshView.part, _FreshView.keep = case == "part", case == "kept"
    try:
        x = pydlk.tensor(rng.standard_normal((3, 4)), requires_grad=True)
        _FreshView.apply(x).sum().backward()
        assert (x._grad is _FreshView.made[-1]()) == (case == "whole")
        x.grad.add_(1.0)
        np.testing.assert_array_equal(np.asarray(x.grad), np.full((3, 4), 3.0))
        for kept in _FreshView.kept:  # a base kept elsewhere never changes with the leaf's grad
            np.testing.assert_array_equal(kept, np.full(12, 2.0))
    finally:
        _FreshView.part = _FreshView.keep = False
        _FreshView.kept.clear()


def test_add_grads_sums_in_place_only_into_an_array_no_one_else_holds():
    from pydlk._engine import _add_grads

    a = np.ones(3)  # held by this local only, as the engine holds a pending gradient
    r = _add_grads(a, np.full(3, 2.0))
    assert r is a
    np.testing.assert_array_equal(a, np.full(3, 3.0))

    held = np.ones(3)
    keep = [held]  # held elsewhere too: a fresh sum, the held array unchanged
    r = _add_grads(held, np.full(3, 2.0))
    assert r is not held
    np.testing.assert_array_equal(keep[0], np.ones(3))
    np.testing.assert_array_equal(r, np.full(3, 3.0))

    base = np.ones(6)
    part = base[:3]  # a view of part of an array: never written
    r = _add_grads(part, np.ones(3))
    assert r is not part
    np.testing.assert_array_equal(base, np.ones(6))

    f32 = np.ones(3, np.float32)  # the sum would change dtype or shape: out of place
    assert _add_grads(f32, np.ones(3)).dtype == np.float64
    row = np.ones(3)
    assert _add_grads(row, np.ones((2, 3))).shape == (2, 3)
    np.testing.assert_array_equal(row, np.ones(3))


def test_gradients_meeting_at_a_tensor_are_summed_without_corrupting_a_shared_one(rng):
    # h = 2x feeds h + h (one array passed through to both inputs), a fresh-gradient Function
    # and a residual-style sum: every path's gradient arrives at h, in place where allowed
    xv = rng.standard_normal(5)
    x = pydlk.tensor(xv, requires_grad=True)
    h = x * 2.0
    y = (h + h) * 3.0 + _Fresh.apply(h) + h * h
    y.sum().backward()
    dh = 6.0 + 2.0 + 2 * (2 * xv)
    np.testing.assert_allclose(np.asarray(x.grad), 2 * dh, rtol=1e-12)
    w = pydlk.tensor(xv, requires_grad=True)
    (w + w + w).sum().backward()  # three arrivals at a leaf, the first shared by two
    np.testing.assert_array_equal(np.asarray(w.grad), np.full(5, 3.0))
