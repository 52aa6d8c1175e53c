"""torch scripts that ran differently under pydlk: zero gradients of the piecewise-constant ops,
rounded division's dtype, torch.autograd.Variable / function / once_differentiable, memory
formats and Tensor.sum_to_size; each compared with torch."""

import numpy as np
import pytest
import torch

import pydlk

# ------------------------------------------------------- zero gradients of rounding ops

_ROUNDERS = [
    ("round", lambda m, t: m.round(t)),
    ("round_decimals", lambda m, t: m.round(t, decimals=1)),
    ("floor", lambda m, t: m.floor(t)),
    ("ceil", lambda m, t: m.ceil(t)),
    ("trunc", lambda m, t: m.trunc(t)),
    ("fix", lambda m, t: m.fix(t)),
    ("sign", lambda m, t: m.sign(t)),
    ("sgn", lambda m, t: m.sgn(t)),
    ("method_round", lambda m, t: t.round()),
    ("method_round_decimals", lambda m, t: t.round(decimals=2)),
    ("method_floor", lambda m, t: t.floor()),
    ("method_ceil", lambda m, t: t.ceil()),
    ("method_trunc", lambda m, t: t.trunc()),
    ("method_fix", lambda m, t: t.fix()),
    ("method_sign", lambda m, t: t.sign()),
    ("method_sgn", lambda m, t: t.sgn()),
]


@pytest.mark.parametrize("name,f", _ROUNDERS, ids=[n for n, _ in _ROUNDERS])
def test_piecewise_constant_ops_give_zero_gradient(name, f):
    v = np.array([-1.7, -0.2, 0.4, 2.5], np.float32)
    results = []
    for m in (torch, pydlk):
        x = m.tensor(v, requires_grad=True)
        y = f(m, x)
        assert y.requires_grad
        (y * x).sum().backward()  # d/dx (f(x) * x) = f(x) + 0
        results.append((np.asarray(y.detach().numpy()), np.asarray(x.grad.numpy())))
        x.grad = None
        f(m, x).sum().backward()
        assert (x.grad + m.zeros(4)).tolist() == [0.0] * 4
    np.testing.assert_allclose(results[1][0], results[0][0])
    np.testing.assert_allclose(results[1][1], results[0][1])


def test_zero_gradient_has_zero_double_backward():
    x = pydlk.tensor([0.3, -1.2], requires_grad=True)
    (g,) = pydlk.autograd.grad(x.round().sum(), x, create_graph=True)
    assert np.all(g.numpy() == 0) and not g.requires_grad
    (g,) = pydlk.autograd.grad((x.floor() * x * x).sum(), x, create_graph=True)
    (h,) = pydlk.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 2 * np.floor([0.3, -1.2]))


def test_rounding_integer_and_no_grad_inputs_stay_outside_the_graph():
    for m in (torch, pydlk):
        t = m.tensor([3, -2])
        assert t.round().dtype == m.int64 and t.sign().tolist() == [1, -1]
        x = m.randn(3, requires_grad=True)
        with m.no_grad():
            assert not x.floor().requires_grad
        assert not x.detach().sign().requires_grad


# ----------------------------------------------------------------- div rounding modes


@pytest.mark.parametrize("mode", ["trunc", "floor", None])
def test_div_rounding_mode_keeps_integer_dtype(mode):
    cases = [
        ([7, -7, 6, -1], 2),
        ([7, -7, 6, -1], [-2, 2, -4, 3]),
        ([7.5, -7.5, 6.0, -1.0], 2),
        ([7, -7], 2.0),
    ]
    for a, b in cases:
        out = []
        for m in (torch, pydlk):
            bb = m.tensor(b) if isinstance(b, list) else b
            ta = m.tensor(a)
            for r in (
                m.div(ta, bb, rounding_mode=mode),
                ta.div(bb, rounding_mode=mode),
                m.divide(ta, bb, rounding_mode=mode),
                ta.divide(bb, rounding_mode=mode),
            ):
                out.append((str(r.dtype).split(".")[-1], r.tolist()))
        half = len(out) // 2
        assert out[half:] == out[:half], (a, b, mode)


def test_div_rounding_mode_small_int_and_grad():
    t = pydlk.tensor([7, -7], dtype=pydlk.int8)
    assert pydlk.div(t, 2, rounding_mode="trunc").dtype == pydlk.int8
    x = pydlk.tensor([1.5, -2.5], requires_grad=True)
    y = pydlk.div(x, 2, rounding_mode="floor")
    assert y.requires_grad
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError):
        pydlk.div(x, 2, rounding_mode="round")


# ------------------------------------------ Variable, autograd.function, once_differentiable


def test_variable_is_torchs_deprecated_alias():
    from pydlk.autograd import Variable

    for m, V in ((torch, torch.autograd.Variable), (pydlk, Variable)):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        v = V(x)
        assert isinstance(x, V) and isinstance(v, V) and not v.requires_grad and v.is_leaf
        assert v.tolist() == [1.0, 2.0]
        w = m.ones(2)
        v = V(w, requires_grad=True)
        assert v.requires_grad and not w.requires_grad and v.is_leaf
        v = V(x * 2)
        assert v.grad_fn is None and not v.requires_grad
        with pytest.raises(TypeError, match="Variable data has to be a tensor"):
            V(3)
        assert not isinstance(3, V)
    assert pydlk.autograd.variable.Variable is Variable


def test_autograd_function_submodule_and_once_differentiable():
    from pydlk.autograd.function import Function, FunctionCtx, once_differentiable

    assert Function is pydlk.autograd.Function

    results = []
    for m, fn in ((torch, torch.autograd.function), (pydlk, pydlk.autograd.function)):

        class Sq(fn.Function):
            @staticmethod
            def forward(ctx, x):
                assert isinstance(ctx, fn.FunctionCtx)
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            @fn.once_differentiable
            def backward(ctx, g):
                assert not m.is_grad_enabled()
                (x,) = ctx.saved_tensors
                return 2 * x * g

        x = m.tensor([1.0, 2.0], requires_grad=True)
        Sq.apply(x).sum().backward()
        first = x.grad.tolist()
        (g,) = m.autograd.grad(Sq.apply(x).sum(), x, create_graph=True)
        plain = (g.tolist(), g.requires_grad)
        (g,) = m.autograd.grad((Sq.apply(x) ** 2).sum(), x, create_graph=True)
        assert g.requires_grad
        with pytest.raises(RuntimeError, match="trying to differentiate twice a function"):
            g.sum().backward()
        results.append((first, plain, g.tolist()))
    assert results[0] == results[1]
    assert FunctionCtx is pydlk.autograd.function.FunctionCtx
    assert once_differentiable.__name__ == "once_differentiable"


# ------------------------------------------------------------------------- memory formats

_FORMATS = ("channels_last", "channels_last_3d", "contiguous_format", "preserve_format")


def test_memory_format_objects_are_torchs():
    import copy
    import pickle

    for name in _FORMATS:
        f = getattr(pydlk, name)
        assert repr(f) == repr(getattr(torch, name)) == f"torch.{name}"
        assert isinstance(f, pydlk.memory_format)
        assert copy.deepcopy(f) is f and pickle.loads(pickle.dumps(f)) is f


@pytest.mark.parametrize(
    "shape",
    [
        (2, 3, 4, 5),
        (2, 1, 4, 5),
        (2, 3, 1, 1),
        (1, 3, 1, 5),
        (2, 3, 4, 1),
        (0, 3, 4, 5),
        (3, 4, 5),
        (2, 3, 4, 5, 6),
        (2, 1, 3, 4, 5),
        (2, 3, 1, 1, 1),
        (1, 1, 1, 1),
    ],
)
def test_is_contiguous_memory_format_answers_as_torch(shape):
    for name in _FORMATS:
        want = torch.zeros(shape).is_contiguous(memory_format=getattr(torch, name))
        got = pydlk.zeros(shape).is_contiguous(memory_format=getattr(pydlk, name))
        assert got == want, (shape, name)
    # a permuted view laid out channels-last in memory reads as torch reads it
    v = np.zeros((2, 4, 5, 3), np.float32)
    tt = torch.from_numpy(v).permute(0, 3, 1, 2)
    pt = pydlk.from_numpy(v).permute(0, 3, 1, 2)
    for name in ("channels_last", "contiguous_format"):
        assert pt.is_contiguous(memory_format=getattr(pydlk, name)) == tt.is_contiguous(
            memory_format=getattr(torch, name)
        )


def _outcome(f):
    try:
        r = f()
    except (TypeError, RuntimeError) as e:
        return type(e).__name__
    return (tuple(r.shape), r.tolist()) if hasattr(r, "shape") else r


def test_memory_format_is_accepted_where_torch_accepts_it():
    cases = [
        lambda m, x: x.contiguous(memory_format=m.channels_last),
        lambda m, x: x.contiguous(memory_format=m.contiguous_format),
        lambda m, x: x.to(memory_format=m.channels_last),
        lambda m, x: x.to(m.float64, memory_format=m.channels_last),
        lambda m, x: x.clone(memory_format=m.channels_last),
        lambda m, x: m.clone(x, memory_format=m.preserve_format),
        lambda m, x: m.empty(2, 3, 4, 5, memory_format=m.channels_last).shape,
        lambda m, x: m.empty_like(x, memory_format=m.channels_last).shape,
        lambda m, x: m.zeros_like(x, memory_format=m.channels_last),
        lambda m, x: m.ones_like(x, memory_format=m.preserve_format),
        lambda m, x: m.full_like(x, 2.0, memory_format=m.contiguous_format),
        lambda m, x: m.randn_like(x, memory_format=m.channels_last).shape,
        lambda m, x: x.contiguous(memory_format=m.channels_last_3d),  # rank 5 needed
        lambda m, x: x[0].contiguous(memory_format=m.channels_last),  # rank 4 needed
        lambda m, x: x[0].to(memory_format=m.channels_last),
        lambda m, x: m.zeros_like(x[0], memory_format=m.channels_last),
        lambda m, x: m.empty(2, 3, memory_format=m.channels_last),
        lambda m, x: m.empty(2, 3, 4, 5, memory_format=m.preserve_format),
        lambda m, x: x.contiguous(memory_format=3),
        lambda m, x: x.is_contiguous(memory_format="channels_last"),
        lambda m, x: x.contiguous(memory_format=None),
        lambda m, x: x.to(memory_format=1),
        lambda m, x: m.nn.Conv2d(3, 2, 1).to(memory_format=m.channels_last).weight.shape,
        lambda m, x: m.nn.Conv2d(3, 2, 1).to(memory_format=3),
    ]
    v = np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)
    for i, f in enumerate(cases):
        want = _outcome(lambda: f(torch, torch.tensor(v)))
        got = _outcome(lambda: f(pydlk, pydlk.tensor(v)))
        assert got == want, (i, got, want)


def test_memory_format_errors_name_the_op_and_argument():
    x = pydlk.zeros(2, 3, 4, 5)
    with pytest.raises(TypeError, match=r"contiguous\(\): argument 'memory_format'"):
        x.contiguous(memory_format="channels_last")
    with pytest.raises(TypeError, match=r"empty_like\(\): argument 'memory_format'"):
        pydlk.empty_like(x, memory_format=1)
    with pytest.raises(TypeError, match=r"to\(\): argument 'memory_format'"):
        pydlk.nn.Linear(2, 2).to(memory_format=1)
    y = x.contiguous(memory_format=pydlk.channels_last)  # a hint: the values and layout stay
    assert y.is_contiguous() and y.tolist() == x.tolist()


# ---------------------------------------------------------------------------- sum_to_size


@pytest.mark.parametrize("size", [(3, 1), ((1, 4),), ([2, 1, 1],), (2, 3, 4), (4,), (1, 1, 1)])
def test_sum_to_size_matches_torch_with_gradient(size):
    v = np.random.default_rng(0).standard_normal((2, 3, 4))
    out = []
    for m in (torch, pydlk):
        x = m.tensor(v, requires_grad=True)
        s = x.sum_to_size(*size)
        w = m.arange(s.numel(), dtype=m.float64).reshape(tuple(s.shape))
        (s * w).sum().backward()
        out.append((tuple(s.shape), s.detach().numpy(), x.grad.numpy()))
    assert out[0][0] == out[1][0]
    np.testing.assert_allclose(out[1][1], out[0][1])
    np.testing.assert_allclose(out[1][2], out[0][2])


def test_sum_to_size_refuses_sizes_that_do_not_expand():
    for bad in [(3, 2), (5,), (1, 2, 3, 4)]:
        msgs = []
        for m in (torch, pydlk):
            with pytest.raises(RuntimeError, match="is not expandable to size") as e:
                m.ones(2, 3, 4).sum_to_size(*bad)
            msgs.append(str(e.value))
        assert msgs[0] == msgs[1]
