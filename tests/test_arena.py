"""The flat parameter arena: views, frozen parameters, re-created optimisers, exact resume,
zero_grad, dtypes, max-norm."""

import numpy as np
import pytest

import pydlk
from pydlk.nn import Parameter
from pydlk.optim import SGD, Adagrad, Adam, AdamW, RMSprop
from pydlk.optim import lr_scheduler as S

F = pydlk.functional


def _params(rng, dtype=np.float32):
    shapes = [(4, 3), (4,), (2, 4), (2,)]
    return [Parameter(rng.standard_normal(s).astype(dtype)) for s in shapes]


def _model(params, x):
    w1, b1, w2, b2 = params
    h = F.linear(x, w1, b1)
    return F.linear(h * h, w2, b2)


def _loss(params, x, y):
    d = _model(params, x) - y
    return (d * d).mean()


def test_params_are_views_of_the_arena(rng):
    ps = _params(rng)
    before = [np.asarray(p).copy() for p in ps]
    opt = Adam(ps, lr=0.1)
    (a,) = opt._arenas[0]
    for p, b in zip(ps, before):
        assert np.shares_memory(np.asarray(p), a.param)
        assert np.shares_memory(p._grad_slot, a.grad)
        np.testing.assert_array_equal(np.asarray(p), b)
    assert a.param.size == sum(b.size for b in before)


def test_backward_accumulates_into_flat_grad(rng):
    ps = _params(rng)
    opt = SGD(ps, lr=0.1)
    x = pydlk.tensor(rng.standard_normal((5, 3)).astype(np.float32))
    y = pydlk.tensor(rng.standard_normal((5, 2)).astype(np.float32))
    _loss(ps, x, y).backward()
    g1 = opt._arenas[0][0].grad.copy()
    assert np.abs(g1).sum() > 0
    _loss(ps, x, y).backward()  # accumulates
    np.testing.assert_allclose(opt._arenas[0][0].grad, 2 * g1, rtol=1e-6)
    for p in ps:
        assert np.asarray(p.grad) is p._grad_slot


def test_zero_grad_is_one_memset_or_nothing(rng):
    ps = _params(rng)
    opt = Adam(ps, lr=0.1)
    a = opt._arenas[0][0]
    a.grad[...] = 1.0
    for p in ps:
        p.grad = p._grad_slot
    opt.zero_grad(set_to_none=False)
    assert not a.grad.any()
    assert all(np.asarray(p.grad) is p._grad_slot for p in ps)
    # set_to_none (the default) writes nothing: the grads are None, the slots stay bound and
    # keep their stale values until the next backward overwrites them
    a.grad[...] = 1.0
    opt.zero_grad()
    assert (a.grad == 1.0).all()
    assert all(p.grad is None for p in ps)
    assert all(p._grad_slot is not None for p in ps)


def _stale_sgd(ps):
    """An SGD arena whose slots hold stale values (7.0) behind a set_to_none zero_grad."""
    opt = SGD(ps, lr=0.5)
    a = opt._arenas[0][0]
    a.grad[...] = 7.0
    opt.zero_grad()
    return opt, a


def test_backward_after_zero_grad_overwrites_the_stale_slots(rng):
    ps = _params(rng)
    x = pydlk.tensor(rng.standard_normal((5, 3)).astype(np.float32))
    y = pydlk.tensor(rng.standard_normal((5, 2)).astype(np.float32))
    ref = [Parameter(np.asarray(p).copy()) for p in ps]
    _loss(ref, x, y).backward()
    _stale_sgd(ps)
    _loss(ps, x, y).backward()
    for p, r in zip(ps, ref):
        np.testing.assert_array_equal(np.asarray(p.grad), np.asarray(r.grad))
        assert np.asarray(p.grad) is p._grad_slot


def test_step_zeroes_the_stale_slot_of_a_parameter_without_grad(rng):
    ps = _params(rng)
    opt, a = _stale_sgd(ps)
    before = [np.asarray(p).copy() for p in ps]
    x = pydlk.tensor(rng.standard_normal((5, 4)).astype(np.float32))
    # only the second layer's parameters get gradients
    (F.linear(x, ps[2], ps[3]) ** 2).mean().backward()
    assert ps[0].grad is None and ps[1].grad is None
    opt.step()
    # plain SGD with a zero gradient leaves them as they were (7.0 would have moved them)
    np.testing.assert_array_equal(np.asarray(ps[0]), before[0])
    np.testing.assert_array_equal(np.asarray(ps[1]), before[1])
    assert not np.array_equal(np.asarray(ps[2]), before[2])
    assert not a.slice(a.grad, 0).any() and not a.slice(a.grad, 1).any()


def test_load_state_dict_style_writes_keep_the_arena(rng):
    ps = _params(rng)
    opt = SGD(ps, lr=0.5)
    a = opt._arenas[0][0]
    new = [np.full(p.shape, 3.0, np.float32) for p in ps]
    for p, v in zip(ps, new):
        p.data[...] = v  # as a model's load_state_dict does
    np.testing.assert_array_equal(a.param, 3.0)
    for p in ps:
        p.grad = np.ones(p.shape, np.float32)
    opt.step()
    for p in ps:
        np.testing.assert_allclose(np.asarray(p), 2.5)
        assert np.shares_memory(np.asarray(p), a.param)


def test_frozen_parameters_untouched(rng):
    ps = _params(rng)
    ps[0].requires_grad = False
    frozen = np.asarray(ps[0])
    before = frozen.copy()
    opt = Adam(ps, lr=0.1, weight_decay=0.1)
    assert np.asarray(ps[0]) is frozen  # not packed
    assert sum(len(a.params) for a in opt._arenas[0]) == 3
    for p in ps[1:]:
        p.grad = np.ones(p.shape, np.float32)
    for _ in range(3):
        opt.step()
    np.testing.assert_array_equal(np.asarray(ps[0]), before)
    assert ps[0].grad is None


def test_missing_grad_is_zero_gradient(rng):
    """A parameter with .grad None is stepped with a zero gradient (documented difference from
    torch, which skips it): with plain SGD it does not move; a stale slot is never used."""
    ps = _params(rng)
    opt = SGD(ps, lr=0.1)
    before = np.asarray(ps[1]).copy()
    ps[1]._grad_slot[...] = 5.0  # stale
    ps[1].grad = None
    for p in (ps[0], ps[2], ps[3]):
        p.grad = np.ones(p.shape, np.float32)
    opt.step()
    np.testing.assert_array_equal(np.asarray(ps[1]), before)


def test_recreated_optimizer_detaches_the_old_one(rng):
    ps = _params(rng)
    old = Adam(ps, lr=0.1)
    new = Adam(ps, lr=0.1)  # re-running a notebook cell
    for p in ps:
        assert np.shares_memory(np.asarray(p), new._arenas[0][0].param)
    for p in ps:
        p.grad = np.ones(p.shape, np.float32)
    before = [np.asarray(p).copy() for p in ps]
    new.step()
    assert all((np.asarray(p) != b).all() for p, b in zip(ps, before))
    with pytest.raises(RuntimeError, match="detached"):
        old.step()
    with pytest.raises(RuntimeError, match="detached"):
        old.zero_grad()


def _train(opt_fn, sched_fn, steps, rng_seed=0, resume_at=None):
    rng = np.random.default_rng(rng_seed)
    ps = _params(rng)
    x = pydlk.tensor(rng.standard_normal((6, 3)).astype(np.float32))
    y = pydlk.tensor(rng.standard_normal((6, 2)).astype(np.float32))
    opt = opt_fn(ps)
    sched = sched_fn(opt)
    for i in range(steps):
        if resume_at is not None and i == resume_at:
            sd_p = [np.asarray(p).copy() for p in ps]
            sd_o, sd_s = opt.state_dict(), sched.state_dict()
            # a fresh process: new parameters, optimiser and scheduler, then load
            ps = _params(np.random.default_rng(99))
            opt = opt_fn(ps)
            sched = sched_fn(opt)
            for p, v in zip(ps, sd_p):
                p.data[...] = v
            opt.load_state_dict(sd_o)
            sched.load_state_dict(sd_s)
        opt.zero_grad()
        _loss(ps, x, y).backward()
        opt.step()
        sched.step()
    return [np.asarray(p).copy() for p in ps]


@pytest.mark.parametrize(
    "opt_fn",
    [
        lambda ps: Adam(
            [{"params": ps[:2]}, {"params": ps[2:], "weight_decay": 0.1}], lr=0.01, amsgrad=True
        ),
        lambda ps: SGD(ps, lr=0.01, momentum=0.9, nesterov=True),
        lambda ps: RMSprop(ps, lr=0.01, centered=True, momentum=0.5),
        lambda ps: Adagrad(ps, lr=0.05, lr_decay=0.01),
        lambda ps: AdamW(ps, lr=0.01),
    ],
    ids=["Adam", "SGD", "RMSprop", "Adagrad", "AdamW"],
)
def test_resume_is_bit_exact(opt_fn):
    def sched_fn(o):
        cyc = "momentum" in o.defaults or "betas" in o.defaults
        return S.OneCycleLR(o, max_lr=0.01, total_steps=30, cycle_momentum=cyc)

    straight = _train(opt_fn, sched_fn, 30)
    resumed = _train(opt_fn, sched_fn, 30, resume_at=13)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)


def test_float64_and_mixed_dtypes(rng):
    p32 = Parameter(rng.standard_normal((3, 4)).astype(np.float32))
    p64 = Parameter(rng.standard_normal((5,)))
    opt = Adam([p32, p64], lr=0.1)
    arenas = opt._arenas[0]
    assert [a.dtype for a in arenas] == [np.float32, np.float64]
    assert np.asarray(p64).dtype == np.float64 and np.shares_memory(
        np.asarray(p64), arenas[1].param
    )
    g32, g64 = np.ones((3, 4), np.float32), np.ones(5)
    p32.grad, p64.grad = g32, g64
    b32, b64 = np.asarray(p32).copy(), np.asarray(p64).copy()
    opt.step()
    # first Adam step moves each element by lr (sign of the gradient)
    np.testing.assert_allclose(np.asarray(p32), b32 - 0.1, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(p64), b64 - 0.1, rtol=0, atol=1e-8)
    sd = opt.state_dict()
    assert sd["state"][1]["exp_avg"].dtype == np.float64


def test_max_norm_constraint(rng):
    w = Parameter(rng.standard_normal((6, 5)).astype(np.float32))
    w.data[:3] *= 10  # rows 0..2 well above c, 3..5 below
    w.data[3:] *= 0.1
    b = Parameter(np.full(6, 100.0, np.float32))  # 1-D: untouched
    conv = Parameter(rng.standard_normal((4, 2, 3, 3)).astype(np.float32) * 3)
    opt = SGD([{"params": [w, conv, b], "max_norm": 3.0}], lr=0.1)
    for p in (w, conv, b):
        p.grad = np.zeros(p.shape, np.float32)
    below = np.asarray(w)[3:].copy()
    opt.step()
    n = np.linalg.norm(np.asarray(w), axis=1)
    assert (n <= 3.0 * (1 + 1e-6)).all()
    np.testing.assert_allclose(n[:3], 3.0, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(w)[3:], below)
    assert (np.linalg.norm(np.asarray(conv).reshape(4, -1), axis=1) <= 3.0 * (1 + 1e-6)).all()
    np.testing.assert_array_equal(np.asarray(b), 100.0)


def test_add_param_group_and_state_view(rng):
    ps = _params(rng)
    opt = SGD(ps[:2], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": ps[2:], "lr": 0.01})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.01
    for p in ps:
        p.grad = np.ones(p.shape, np.float32)
    before = [np.asarray(p).copy() for p in ps]
    opt.step()
    np.testing.assert_allclose(np.asarray(ps[0]), before[0] - 0.1, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ps[3]), before[3] - 0.01, rtol=1e-6)
    st = opt.state[ps[2]]
    np.testing.assert_array_equal(st["momentum_buffer"], 1.0)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": ps[:1]})


def test_load_state_dict_mismatch(rng):
    ps = _params(rng)
    opt = Adam(ps, lr=0.1)
    other = Adam([{"params": ps[:1]}, {"params": ps[1:]}], lr=0.1)
    with pytest.raises(ValueError, match="parameter groups"):
        opt.load_state_dict(other.state_dict())


def test_deepcopy_of_a_model_an_optimiser_packed():
    """copy.deepcopy(model) after the optimiser was built (best-model snapshots, EMA teachers):
    an independent model whose parameters are in no optimiser's buffers, as in torch."""
    import copy

    pydlk.manual_seed(0)
    model = pydlk.nn.Sequential(pydlk.nn.Linear(2, 3), pydlk.nn.BatchNorm1d(3))
    opt = Adam(model.parameters(), lr=0.1)
    x = pydlk.randn(4, 2)
    model(x).square().sum().backward()
    opt.step()
    snap = copy.deepcopy(model)
    for a, b in zip(model.parameters(), snap.parameters()):
        assert type(b) is Parameter and b.requires_grad
        np.testing.assert_array_equal(b.detach().numpy(), a.detach().numpy())
        np.testing.assert_array_equal(b.grad.numpy(), a.grad.numpy())
    saved = [p.detach().numpy().copy() for p in snap.parameters()]
    opt.zero_grad()
    model(x).square().sum().backward()
    opt.step()  # moves the original only
    for b, s in zip(snap.parameters(), saved):
        np.testing.assert_array_equal(b.detach().numpy(), s)
    assert not np.array_equal(next(model.parameters()).detach().numpy(), saved[0])
    other = SGD(snap.parameters(), lr=0.1)  # the copy can have an optimiser of its own
    other.zero_grad()
    snap(x).square().sum().backward()
    other.step()
    assert not np.array_equal(next(snap.parameters()).detach().numpy(), saved[0])
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(model(x))


def test_state_is_tensors_over_the_live_buffers_and_resets_as_torch():
    """opt.state[p] holds Tensors over the optimiser's buffers (scripts call .norm(), .device,
    .to() on them); optimizer.state = defaultdict(dict) resets, and the next steps equal a
    fresh optimiser's, as in torch."""
    from collections import defaultdict

    torch = pytest.importorskip("torch")
    w0 = np.random.default_rng(0).standard_normal((3, 2))
    results = []
    for lib in (pydlk, torch):
        p = lib.tensor(w0.copy(), requires_grad=True)
        for make in (
            lambda q: lib.optim.Adam([q], lr=0.1),
            lambda q: lib.optim.SGD([q], lr=0.1, momentum=0.9),
        ):
            opt = make(p)
            for _ in range(3):
                opt.zero_grad()
                (p**2).sum().backward()
                opt.step()
            st = opt.state[p]
            buf = st["exp_avg"] if "exp_avg" in st else st["momentum_buffer"]
            assert isinstance(buf, lib.Tensor) and str(buf.device) == "cpu"
            results.append(float(buf.norm()))
            opt.state = defaultdict(dict)
            for _ in range(2):
                opt.zero_grad()
                (p**2).sum().backward()
                opt.step()
            results.append(p.detach().numpy().copy())
    half = len(results) // 2
    for a, b in zip(results[:half], results[half:]):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    opt = Adam([pydlk.zeros(2, requires_grad=True)])
    with pytest.raises(TypeError, match="only an empty dict may be assigned"):
        opt.state = {"x": 1}
