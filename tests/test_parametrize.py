"""nn.utils.parametrize (register_parametrization, cached, remove_parametrizations, ...) and
nn.utils.parametrizations (weight_norm, spectral_norm) against torch's: the same modules
built in both libraries, torch's state dict (its originals, and spectral norm's u and v) loaded
into pydlk, then outputs, gradients of the originals, optimiser steps, the power iteration's
buffers, state_dict keys, copies and errors compared; float64 gradchecks of the two
parametrizations."""

import copy
import pickle

import numpy as np
import pytest

import pydlk
import pydlk.nn as nn
from pydlk.nn.utils import parametrizations as PN
from pydlk.nn.utils import parametrize as P

torch = pytest.importorskip("torch")
TP = torch.nn.utils.parametrize
TN = torch.nn.utils.parametrizations

RTOL, ATOL = 1e-4, 1e-5


def _devices():
    return ["cpu", "cuda"] if pydlk.cuda.is_available() else ["cpu"]


def _np(t):
    """Either library's tensor as a NumPy array (both spell it the same)."""
    return t.detach().cpu().numpy()


def _close(a, b, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(_np(a), _np(b), rtol=rtol, atol=atol)


def _sd(m):
    """torch module's state dict as NumPy arrays, as a user would move it across."""
    return {k: v.detach().numpy() for k, v in m.state_dict().items()}


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# The parametrizations of torch's tutorial, one class per library (the same code: pydlk is
# used as torch). Module level, so that a parametrized module pickles.
def _make_params(lib):
    class Symmetric(lib.nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(-1, -2)

        def right_inverse(self, A):
            return A.triu()

    class Scale(lib.nn.Module):
        def __init__(self, s):
            super().__init__()
            self.s = s

        def forward(self, X):
            return X * self.s

        def right_inverse(self, X):
            return X / self.s

    class NoInverse(lib.nn.Module):
        def forward(self, X):
            return X + 1

    class RankOne(lib.nn.Module):  # two originals: forward(x, y) = x y^T
        def forward(self, x, y):
            return x.unsqueeze(-1) @ y.unsqueeze(-2)

        def right_inverse(self, Z):
            return Z[:, 0].clone(), Z[0, :].clone()

    return Symmetric, Scale, NoInverse, RankOne


PSymmetric, PScale, PNoInverse, PRankOne = _make_params(pydlk)
for _c in (PSymmetric, PScale, PNoInverse, PRankOne):
    _c.__qualname__ = "P" + _c.__name__  # found by pickle under its global name
TSymmetric, TScale, TNoInverse, TRankOne = _make_params(torch)


def _linear_pair(n_in=4, n_out=4, seed=0):
    torch.manual_seed(seed)
    tm = torch.nn.Linear(n_in, n_out)
    pm = nn.Linear(n_in, n_out)
    pm.load_state_dict(_sd(tm))
    return tm, pm


def _run(tm, pm, x, device="cpu"):
    """forward, then backward of sum(out * r), in both libraries; compares the outputs."""
    tout = tm(torch.tensor(x))
    pout = pm(pydlk.tensor(x, device=device))
    r = _rand(tuple(tout.shape), 1)
    (tout * torch.tensor(r)).sum().backward()
    (pout * pydlk.tensor(r, device=device)).sum().backward()
    _close(tout, pout)


def _same_grads(tm, pm):
    tnames = dict(tm.named_parameters())
    pnames = dict(pm.named_parameters())
    assert list(pnames) == list(tnames)
    for k, tp in tnames.items():
        _close(tp.grad, pnames[k].grad)


# -- register_parametrization ----------------------------------------------------------------


def test_symmetric_forward_grads_and_keys_match_torch():
    tm, pm = _linear_pair()
    TP.register_parametrization(tm, "weight", TSymmetric())
    assert P.register_parametrization(pm, "weight", PSymmetric()) is pm
    assert type(pm).__name__ == type(tm).__name__ == "ParametrizedLinear"
    assert isinstance(pm, nn.Linear)
    assert list(pm.state_dict()) == list(tm.state_dict())
    pm.load_state_dict(_sd(tm))  # the original is triu(W) after right_inverse
    _close(tm.parametrizations.weight.original, pm.parametrizations.weight.original)
    w = _np(pm.weight)
    np.testing.assert_array_equal(w, w.T)
    _close(tm.weight, pm.weight)
    _run(tm, pm, _rand((3, 4)))
    _same_grads(tm, pm)
    # the gradient of the original: upper triangle gets g + g^T, lower triangle nothing
    g = _np(pm.parametrizations.weight.original.grad)
    assert np.all(np.tril(g, -1) == 0)


def test_model_parameters_are_the_originals_and_an_optimiser_trains_them():
    tm, pm = _linear_pair()
    TP.register_parametrization(tm, "weight", TSymmetric())
    P.register_parametrization(pm, "weight", PSymmetric())
    pm.load_state_dict(_sd(tm))
    orig = pm.parametrizations.weight.original
    assert any(p is orig for p in pm.parameters())
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    popt = pydlk.optim.SGD(pm.parameters(), lr=0.1, momentum=0.9)
    for step in range(3):
        x = _rand((5, 4), step)
        for opt in (topt, popt):
            opt.zero_grad()
        _run(tm, pm, x)
        topt.step()
        popt.step()
        _close(tm.parametrizations.weight.original, pm.parametrizations.weight.original)
        _close(tm.weight, pm.weight)


def test_an_optimiser_built_before_parametrization_still_trains_the_original():
    # one original: the parameter object itself becomes `original` (torch's set_), so an
    # optimiser holding it, its arena included, keeps training it
    tm, pm = _linear_pair()
    topt = torch.optim.SGD(tm.parameters(), lr=0.5)
    popt = pydlk.optim.SGD(pm.parameters(), lr=0.5)
    tw, pw = tm.weight, pm.weight
    TP.register_parametrization(tm, "weight", TSymmetric())
    P.register_parametrization(pm, "weight", PSymmetric())
    assert pm.parametrizations.weight.original is pw
    assert tm.parametrizations.weight.original is tw
    for step in range(2):
        topt.zero_grad()
        popt.zero_grad()
        _run(tm, pm, _rand((2, 4), step))
        topt.step()
        popt.step()
        _close(tw, pw)
    _close(tm.weight, pm.weight)


def test_assignment_runs_right_inverse_without_grad():
    tm, pm = _linear_pair()
    TP.register_parametrization(tm, "weight", TSymmetric())
    P.register_parametrization(pm, "weight", PSymmetric())
    a = _rand((4, 4), 3)
    a = a + a.T
    tm.weight = torch.tensor(a)
    pm.weight = pydlk.tensor(a)
    np.testing.assert_allclose(_np(pm.parametrizations.weight.original), np.triu(a))
    _close(tm.parametrizations.weight.original, pm.parametrizations.weight.original)
    np.testing.assert_allclose(_np(pm.weight), a, rtol=1e-6)
    assert pm.parametrizations.weight.original.grad_fn is None
    assert pm.parametrizations.weight.original.requires_grad


def test_assignment_without_right_inverse_raises_as_torch():
    tm, pm = _linear_pair()
    TP.register_parametrization(tm, "weight", TNoInverse())
    P.register_parametrization(pm, "weight", PNoInverse())
    _close(tm.weight, pm.weight)  # no right_inverse at registration: the identity
    with pytest.raises(RuntimeError, match="does not implement right_inverse"):
        tm.weight = torch.zeros(4, 4)
    with pytest.raises(RuntimeError, match="does not implement right_inverse"):
        pm.weight = pydlk.zeros(4, 4)


def test_chained_parametrizations_match_torch():
    tm, pm = _linear_pair()
    for m, lib, (sym, scale) in (
        (tm, TP, (TSymmetric, TScale)),
        (pm, P, (PSymmetric, PScale)),
    ):
        lib.register_parametrization(m, "weight", sym())
        lib.register_parametrization(m, "weight", scale(3.0))
    assert len(pm.parametrizations.weight) == 2
    assert list(pm.state_dict()) == list(tm.state_dict())
    pm.load_state_dict(_sd(tm))
    orig = _np(pm.parametrizations.weight.original)
    want = 3.0 * (np.triu(orig) + np.triu(orig, 1).T)
    np.testing.assert_allclose(_np(pm.weight), want, rtol=1e-6)
    _close(tm.weight, pm.weight)
    _run(tm, pm, _rand((2, 4)))
    _same_grads(tm, pm)
    # assignment: right_inverse in reverse order (scale's, then symmetric's)
    a = _rand((4, 4), 5)
    a = a + a.T
    tm.weight = torch.tensor(a)
    pm.weight = pydlk.tensor(a)
    np.testing.assert_allclose(_np(pm.parametrizations.weight.original), np.triu(a) / 3.0)
    _close(tm.weight, pm.weight)


def test_two_originals_rank_one():
    tm, pm = _linear_pair()
    TP.register_parametrization(tm, "weight", TRankOne())
    P.register_parametrization(pm, "weight", PRankOne())
    keys = list(pm.state_dict())
    assert keys == list(tm.state_dict())
    assert "parametrizations.weight.original0" in keys
    pm.load_state_dict(_sd(tm))
    _close(tm.weight, pm.weight)
    _run(tm, pm, _rand((3, 4)))
    _same_grads(tm, pm)


def test_cached_computes_once_per_block():
    calls = []

    class Counting(nn.Module):
        def forward(self, X):
            calls.append(1)
            return X * 2.0

    m = P.register_parametrization(nn.Linear(3, 3), "weight", Counting())
    calls.clear()
    assert m.weight is not m.weight
    assert len(calls) == 2
    calls.clear()
    with P.cached():
        a = m.weight
        with P.cached():  # nested: the same cache
            assert m.weight is a
        assert m.weight is a
        m(pydlk.randn(2, 3))
    assert len(calls) == 1
    b = m.weight
    assert b is not a
    np.testing.assert_array_equal(_np(a), _np(b))


def test_cached_gradients_match_uncached():
    tm, pm = _linear_pair()
    TP.register_parametrization(tm, "weight", TSymmetric())
    P.register_parametrization(pm, "weight", PSymmetric())
    pm.load_state_dict(_sd(tm))
    x = _rand((2, 4))
    with TP.cached():
        tout = tm(tm(torch.tensor(x)))
    with P.cached():
        pout = pm(pm(pydlk.tensor(x)))
    tout.sum().backward()
    pout.sum().backward()
    _close(tout, pout)
    _same_grads(tm, pm)


@pytest.mark.parametrize("leave", [True, False])
def test_remove_parametrizations_matches_torch(leave):
    tm, pm = _linear_pair()
    TP.register_parametrization(tm, "weight", TSymmetric())
    P.register_parametrization(pm, "weight", PSymmetric())
    pm.load_state_dict(_sd(tm))
    orig = pm.parametrizations.weight.original
    TP.remove_parametrizations(tm, "weight", leave_parametrized=leave)
    assert P.remove_parametrizations(pm, "weight", leave_parametrized=leave) is pm
    assert type(pm) is nn.Linear
    assert not hasattr(pm, "parametrizations")
    assert pm.weight is orig  # the same object, as torch's set_
    assert isinstance(pm.weight, nn.Parameter)
    assert list(pm.state_dict()) == list(tm.state_dict())
    _close(tm.weight, pm.weight)
    if not leave:
        assert np.all(np.tril(_np(pm.weight), -1) == 0)


def test_remove_one_of_two_keeps_the_other():
    m = nn.Linear(3, 3)
    P.register_parametrization(m, "weight", PSymmetric())
    P.register_parametrization(m, "bias", PScale(2.0))
    cls = type(m)
    P.remove_parametrizations(m, "weight")
    assert type(m) is cls and P.is_parametrized(m, "bias")
    assert not P.is_parametrized(m, "weight") and P.is_parametrized(m)
    P.remove_parametrizations(m, "bias")
    assert type(m) is nn.Linear and not P.is_parametrized(m)


def test_remove_two_originals():
    tm, pm = _linear_pair()
    TP.register_parametrization(tm, "weight", TRankOne())
    P.register_parametrization(pm, "weight", PRankOne())
    pm.load_state_dict(_sd(tm))
    with pytest.raises(ValueError, match="sequence of tensors"):
        TP.remove_parametrizations(tm, "weight", leave_parametrized=False)
    with pytest.raises(ValueError, match="sequence of tensors"):
        P.remove_parametrizations(pm, "weight", leave_parametrized=False)
    TP.remove_parametrizations(tm, "weight")
    P.remove_parametrizations(pm, "weight")
    assert isinstance(pm.weight, nn.Parameter) and pm.weight.is_leaf
    _close(tm.weight, pm.weight)
    assert list(pm.state_dict()) == list(tm.state_dict())


def test_parametrized_buffer():
    class WithBuffer(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("scale", pydlk.tensor(np.arange(9.0, dtype=np.float32)))

    class TWithBuffer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("scale", torch.arange(9.0))

    pm, tm = WithBuffer(), TWithBuffer()
    P.register_parametrization(pm, "scale", PScale(2.0))
    TP.register_parametrization(tm, "scale", TScale(2.0))
    assert list(pm.state_dict()) == list(tm.state_dict()) == ["parametrizations.scale.original"]
    assert list(pm.parameters()) == []
    assert "parametrizations.scale.original" in dict(pm.named_buffers())
    _close(tm.scale, pm.scale)
    _close(tm.parametrizations.scale.original, pm.parametrizations.scale.original)
    P.remove_parametrizations(pm, "scale")
    assert "scale" in dict(pm.named_buffers())
    np.testing.assert_allclose(_np(pm.scale), np.arange(9.0))


def test_introspection_functions():
    tm, pm = _linear_pair()
    assert not P.is_parametrized(pm)
    assert P.type_before_parametrizations(pm) is nn.Linear
    P.register_parametrization(pm, "weight", PSymmetric())
    TP.register_parametrization(tm, "weight", TSymmetric())
    assert P.is_parametrized(pm) and P.is_parametrized(pm, "weight")
    assert not P.is_parametrized(pm, "bias")
    assert P.type_before_parametrizations(pm) is nn.Linear
    assert isinstance(pm.parametrizations, nn.ModuleDict)
    assert isinstance(pm.parametrizations.weight, P.ParametrizationList)
    assert isinstance(pm.parametrizations.weight, nn.ModuleList)
    assert repr(pm) == repr(tm)


def test_transfer_parametrizations_and_params():
    src = P.register_parametrization(nn.Linear(3, 3), "weight", PSymmetric())
    dst = nn.Linear(3, 3)
    assert P.transfer_parametrizations_and_params(src, dst) is dst
    assert P.is_parametrized(dst, "weight")
    assert dst.parametrizations.weight.original is src.parametrizations.weight.original
    np.testing.assert_array_equal(_np(dst.weight), _np(src.weight))
    assert P.transfer_parametrizations_and_params(nn.Linear(2, 2), dst) is dst


def test_deepcopy_and_pickle():
    tm, pm = _linear_pair()
    P.register_parametrization(pm, "weight", PSymmetric())
    P.register_parametrization(pm, "weight", PScale(2.0))
    x = pydlk.tensor(_rand((2, 4)))
    want = _np(pm(x))
    for c in (copy.deepcopy(pm), pickle.loads(pickle.dumps(pm))):
        assert type(c).__name__ == "ParametrizedLinear"
        assert P.type_before_parametrizations(c) is nn.Linear
        np.testing.assert_array_equal(_np(c(x)), want)
        assert c.parametrizations.weight.original is not pm.parametrizations.weight.original
        c(x).sum().backward()
        assert c.parametrizations.weight.original.grad is not None
        assert pm.parametrizations.weight.original.grad is None
        P.remove_parametrizations(c, "weight")  # the copy has its own class
        assert type(c) is nn.Linear
        np.testing.assert_array_equal(_np(pm(x)), want)
    tc = copy.deepcopy(TP.register_parametrization(tm, "weight", TSymmetric()))
    assert TP.is_parametrized(tc)


def test_train_mode_reaches_parametrizations():
    m = nn.Linear(3, 3).eval()
    p = PSymmetric()
    P.register_parametrization(m, "weight", p)
    assert not p.training
    m.train()
    assert p.training


# -- errors ----------------------------------------------------------------------------------


def _both_raise(exc, match, f):
    for lib, Pm, params in ((torch, TP, _make_params(torch)), (pydlk, P, _make_params(pydlk))):
        with pytest.raises(exc, match=match):
            f(lib, Pm, params)


def test_errors_match_torch():
    class Flat:
        def __init__(self, lib):
            class F(lib.nn.Module):
                def forward(self, X):
                    return X.reshape(-1)

            self.cls = F

    class Double:
        def __init__(self, lib):
            class D(lib.nn.Module):
                def forward(self, X):
                    return X.double()

            self.cls = D

    _both_raise(
        ValueError,
        "does not have a parameter, a buffer",
        lambda lib, Pm, p: Pm.register_parametrization(lib.nn.Linear(2, 2), "nope", p[0]()),
    )
    _both_raise(
        ValueError,
        "may not change the shape",
        lambda lib, Pm, p: Pm.register_parametrization(
            lib.nn.Linear(2, 3), "weight", Flat(lib).cls()
        ),
    )
    _both_raise(
        ValueError,
        "may not change the dtype",
        lambda lib, Pm, p: Pm.register_parametrization(
            lib.nn.Linear(2, 3), "weight", Double(lib).cls()
        ),
    )

    def chained_shape(lib, Pm, p):
        m = Pm.register_parametrization(lib.nn.Linear(2, 3), "weight", p[1](2.0))
        Pm.register_parametrization(m, "weight", Flat(lib).cls())

    _both_raise(ValueError, "may not change the shape", chained_shape)

    def chained_inverse_shape(lib, Pm, p):
        class FlatInverse(lib.nn.Module):
            def forward(self, X):
                return X

            def right_inverse(self, X):
                return X.reshape(-1)

        m = Pm.register_parametrization(lib.nn.Linear(2, 3), "weight", p[1](2.0))
        Pm.register_parametrization(m, "weight", FlatInverse())

    _both_raise(ValueError, "right_inverse must have the same shape", chained_inverse_shape)
    _both_raise(
        ValueError,
        "does not have a parametrization on",
        lambda lib, Pm, p: Pm.remove_parametrizations(lib.nn.Linear(2, 2), "weight"),
    )

    def assign_parameter(lib, Pm, p):
        m = Pm.register_parametrization(lib.nn.Linear(2, 2), "weight", p[0]())
        m.weight = lib.nn.Parameter(lib.zeros(2, 2))

    _both_raise(KeyError, "already exists", assign_parameter)

    def bad_right_inverse(lib, Pm, p):
        class R(lib.nn.Module):
            def forward(self, X):
                return X

            def right_inverse(self, X):
                return 3

        Pm.register_parametrization(lib.nn.Linear(2, 2), "weight", R())

    _both_raise(ValueError, "must return a Tensor or a Sequence", bad_right_inverse)
    # unsafe=True lets a parametrization change the shape
    m = P.register_parametrization(nn.Linear(2, 3), "weight", Flat(pydlk).cls(), unsafe=True)
    assert tuple(m.weight.shape) == (6,)


def test_spectral_and_weight_norm_errors_match_torch():
    _both_raise(
        ValueError,
        "n_power_iterations",
        lambda lib, Pm, p: (TN if lib is torch else PN).spectral_norm(
            lib.nn.Linear(2, 2), n_power_iterations=0
        ),
    )
    _both_raise(
        IndexError,
        "Dimension out of range",
        lambda lib, Pm, p: (TN if lib is torch else PN).spectral_norm(lib.nn.Linear(2, 2), dim=2),
    )
    _both_raise(
        ValueError,
        "has no parameter or buffer",
        lambda lib, Pm, p: (TN if lib is torch else PN).spectral_norm(
            lib.nn.Linear(2, 2), name="nope"
        ),
    )
    _both_raise(
        ValueError,
        "does not have a parameter",
        lambda lib, Pm, p: (TN if lib is torch else PN).weight_norm(
            lib.nn.Linear(2, 2), name="nope"
        ),
    )


# -- weight_norm -----------------------------------------------------------------------------


def _conv1d_pair():
    torch.manual_seed(0)
    tm = torch.nn.Conv1d(3, 4, 3)
    pm = nn.Conv1d(3, 4, 3)
    pm.load_state_dict(_sd(tm))
    return tm, pm, (2, 3, 7)


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize(
    "kind,dim", [("linear", 0), ("linear", None), ("conv1d", 0), ("conv1d", None), ("conv1d", 1)]
)
def test_weight_norm_matches_torch_over_three_sgd_steps(kind, dim, device):
    if kind == "linear":
        tm, pm = _linear_pair(5, 3)
        shape = (4, 5)
    else:
        tm, pm, shape = _conv1d_pair()
    TN.weight_norm(tm, dim=dim)
    assert PN.weight_norm(pm, dim=dim) is pm
    assert list(pm.state_dict()) == list(tm.state_dict())
    tg = tm.parametrizations.weight.original0
    pg = pm.parametrizations.weight.original0
    assert tuple(pg.shape) == tuple(tg.shape)
    _close(tg, pg)  # right_inverse: the norms
    _close(tm.parametrizations.weight.original1, pm.parametrizations.weight.original1)
    pm.to(device)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1)
    popt = pydlk.optim.SGD(pm.parameters(), lr=0.1)
    for step in range(3):
        topt.zero_grad()
        popt.zero_grad()
        _run(tm, pm, _rand(shape, step), device)
        _same_grads(tm, pm)
        topt.step()
        popt.step()
        for k in ("original0", "original1"):
            _close(getattr(tm.parametrizations.weight, k), getattr(pm.parametrizations.weight, k))
    _close(tm.weight, pm.weight)


def test_weight_norm_formula_and_remove():
    m = PN.weight_norm(nn.Linear(4, 3))
    g = _np(m.parametrizations.weight.original0).copy()
    v = _np(m.parametrizations.weight.original1)
    np.testing.assert_allclose(g, np.linalg.norm(v, axis=1, keepdims=True), rtol=1e-6)
    with pydlk.no_grad():
        m.parametrizations.weight.original0.mul_(2.0)
    want = 2.0 * g * v / np.linalg.norm(v, axis=1, keepdims=True)
    np.testing.assert_allclose(_np(m.weight), want, rtol=1e-5)
    P.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear and isinstance(m.weight, nn.Parameter)
    np.testing.assert_allclose(_np(m.weight), want, rtol=1e-5)


def test_weight_norm_loads_a_torch_state_dict():
    tm, pm = _linear_pair(5, 3)
    TN.weight_norm(tm)
    PN.weight_norm(pm)
    with torch.no_grad():
        tm.parametrizations.weight.original0.mul_(3.0)
    pm.load_state_dict(_sd(tm))
    _close(tm.weight, pm.weight)
    c = copy.deepcopy(pm)
    _close(tm.weight, c.weight)


# -- spectral_norm ---------------------------------------------------------------------------


def _sn_pair(kind):
    torch.manual_seed(0)
    if kind == "linear":
        tm, pm, shape = torch.nn.Linear(5, 4), nn.Linear(5, 4), (3, 5)
    elif kind == "conv2d":
        tm, pm, shape = torch.nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 3), (2, 3, 6, 6)
    else:
        tm, pm = torch.nn.ConvTranspose2d(3, 4, 3), nn.ConvTranspose2d(3, 4, 3)
        shape = (2, 3, 5, 5)
    pm.load_state_dict(_sd(tm))
    TN.spectral_norm(tm)
    assert PN.spectral_norm(pm) is pm
    assert list(pm.state_dict()) == list(tm.state_dict())
    pm.load_state_dict(_sd(tm))  # torch's u and v
    return tm, pm, shape


def _uv(m):
    p = m.parametrizations.weight[0]
    return p._u, p._v


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("kind", ["linear", "conv2d", "convtranspose2d"])
def test_spectral_norm_matches_torch_over_three_sgd_steps(kind, device):
    tm, pm, shape = _sn_pair(kind)
    pm.to(device)
    if kind == "convtranspose2d":  # dim=1: u has the output channels
        assert tuple(_uv(pm)[0].shape) == (4,)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1)
    popt = pydlk.optim.SGD(pm.parameters(), lr=0.1)
    for step in range(3):
        topt.zero_grad()
        popt.zero_grad()
        _run(tm, pm, _rand(shape, step), device)  # one power iteration each forward
        for a, b in zip(_uv(tm), _uv(pm)):
            _close(a, b)
        _same_grads(tm, pm)
        topt.step()
        popt.step()
        _close(tm.parametrizations.weight.original, pm.parametrizations.weight.original)


@pytest.mark.parametrize("kind", ["linear", "conv2d"])
def test_spectral_norm_eval_freezes_u_and_v(kind):
    tm, pm, shape = _sn_pair(kind)
    tm.eval()
    pm.eval()
    u0, v0 = (_np(t).copy() for t in _uv(pm))
    for step in range(2):
        _run(tm, pm, _rand(shape, step))
    np.testing.assert_array_equal(_np(_uv(pm)[0]), u0)
    np.testing.assert_array_equal(_np(_uv(pm)[1]), v0)
    _same_grads(tm, pm)
    # sigma = u . (W v), the weight divided by it
    w = _np(pm.parametrizations.weight.original)
    sigma = u0 @ (w.reshape(w.shape[0], -1) @ v0)
    np.testing.assert_allclose(_np(pm.weight), w / sigma, rtol=1e-5)


def test_spectral_norm_estimates_the_largest_singular_value():
    torch.manual_seed(0)
    m = PN.spectral_norm(nn.Linear(8, 6))
    for _ in range(30):
        m.weight  # each read in training mode is a power iteration
    s = np.linalg.svd(_np(m.weight), compute_uv=False)
    assert abs(s[0] - 1.0) < 1e-3


def test_spectral_norm_of_a_vector_is_normalize():
    class V(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(pydlk.tensor(np.array([3.0, 4.0], np.float32)))

    m = PN.spectral_norm(V(), name="w")
    np.testing.assert_allclose(_np(m.w), [0.6, 0.8], rtol=1e-6)


# -- layers that read the parametrized weight ------------------------------------------------


def _layer_pair(kind):
    torch.manual_seed(0)
    if kind == "conv2d":
        return torch.nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 3), "weight", _rand((2, 3, 6, 6))
    if kind == "convtranspose2d":
        return (
            torch.nn.ConvTranspose2d(3, 2, 3),
            nn.ConvTranspose2d(3, 2, 3),
            "weight",
            _rand((2, 3, 4, 4)),
        )
    if kind == "batchnorm2d":
        return torch.nn.BatchNorm2d(3), nn.BatchNorm2d(3), "weight", _rand((4, 3, 3, 3))
    if kind == "layernorm":
        return torch.nn.LayerNorm(5), nn.LayerNorm(5), "weight", _rand((3, 5))
    return torch.nn.LSTM(3, 4), nn.LSTM(3, 4), "weight_hh_l0", _rand((5, 2, 3))


@pytest.mark.parametrize("kind", ["conv2d", "convtranspose2d", "batchnorm2d", "layernorm", "lstm"])
def test_layers_read_the_parametrized_weight(kind):
    tm, pm, name, x = _layer_pair(kind)
    pm.load_state_dict(_sd(tm))
    TP.register_parametrization(tm, name, TScale(0.5))
    P.register_parametrization(pm, name, PScale(0.5))
    pm.load_state_dict(_sd(tm))
    tout = tm(torch.tensor(x))
    pout = pm(pydlk.tensor(x))
    if kind == "lstm":
        tout, pout = tout[0], pout[0]
    r = _rand(tuple(tout.shape), 1)
    (tout * torch.tensor(r)).sum().backward()
    (pout * pydlk.tensor(r)).sum().backward()
    _close(tout, pout)
    _same_grads(tm, pm)
    assert pm.parametrizations[name].original.grad is not None


def test_fused_batchnorm_relu_pool_reads_the_parametrized_weight():
    # Sequential runs BatchNorm2d + ReLU + MaxPool2d as one fused kernel; it must take the
    # parametrized weight and send its gradient to the original
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.BatchNorm2d(3), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
    pm = nn.Sequential(nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2))
    for m, lib, scale in ((tm, TP, TScale), (pm, P, PScale)):
        with (torch if lib is TP else pydlk).no_grad():
            m[0].weight.uniform_(0.5, 1.5)
            m[0].bias.uniform_(-0.5, 0.5)
        lib.register_parametrization(m[0], "weight", scale(-2.0))
        lib.register_parametrization(m[0], "bias", scale(3.0))
    pm.load_state_dict(_sd(tm))
    _run(tm, pm, _rand((2, 3, 6, 6)))
    _same_grads(tm, pm)
    _close(tm[0].running_mean, pm[0].running_mean)


def test_embedding_reads_the_parametrized_weight():
    torch.manual_seed(0)
    tm, pm = torch.nn.Embedding(6, 3), nn.Embedding(6, 3)
    pm.load_state_dict(_sd(tm))
    TN.weight_norm(tm)
    PN.weight_norm(pm)
    idx = np.array([[0, 2, 5], [1, 2, 2]])
    tout = tm(torch.tensor(idx))
    pout = pm(pydlk.tensor(idx))
    (tout**2).sum().backward()
    (pout**2).sum().backward()
    _close(tout, pout)
    _same_grads(tm, pm)


# -- float64 gradchecks ----------------------------------------------------------------------


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_gradcheck(dim):
    rng = np.random.default_rng(0)
    f = PN._WeightNorm(dim)
    v = rng.standard_normal((3, 4, 2))
    g0, _ = f.right_inverse(pydlk.tensor(v))
    g = pydlk.tensor(_np(g0) * 1.5, requires_grad=True)
    vt = pydlk.tensor(v, requires_grad=True)
    assert pydlk.gradcheck(lambda a, b: f(a, b), (g, vt))


def test_spectral_norm_gradcheck():
    w = pydlk.tensor(np.random.default_rng(0).standard_normal((4, 3, 2)), requires_grad=True)
    f = PN._SpectralNorm(w, dim=1).eval()  # eval: u and v fixed, a function of w alone
    assert pydlk.gradcheck(lambda a: f(a), (w,))
