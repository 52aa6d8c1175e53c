"""tensor.grad_fn as torch shows it: named nodes, next_functions down to the leaves'
AccumulateGrad nodes, node hooks (pre and post), metadata, calling a node; against torch on the
same graphs (pydlk/_autograd_graph.py)."""

import numpy as np
import pytest

import pydlk

torch = pytest.importorskip("torch")


def _walk(fn):
    """Names of the graph below ``fn`` in depth-first order (each node once), as graph printers
    such as torchviz walk it; leaves as 'leaf:<index in leaves>'."""
    seen, out = set(), []

    def visit(f):
        if f is None or id(f) in seen:
            return
        seen.add(id(f))
        out.append(type(f).__name__)
        for g, _ in f.next_functions:
            visit(g)

    visit(fn)
    return out


@pytest.mark.parametrize("lib", [pydlk, torch], ids=["pydlk", "torch"])
def test_names_and_edges_of_a_small_graph(lib):
    a = lib.ones(3, requires_grad=True)
    c = lib.ones(3)  # needs no gradient: no edge
    y = ((a * 2 + a.exp()) * c).sum()
    g = y.grad_fn
    assert type(g).__name__ == "SumBackward0" and g.name() == "SumBackward0"
    assert repr(g).startswith("<SumBackward0 object at 0x")
    ((mul, k),) = g.next_functions
    assert k == 0 and mul.name() == "MulBackward0"
    add, none = mul.next_functions
    assert none == (None, 0)  # c needs no gradient
    assert add[0].name() == "AddBackward0"
    (m2, _), (e, _) = add[0].next_functions
    assert m2.name() == "MulBackward0" and e.name() == "ExpBackward0"
    acc = m2.next_functions[0][0]
    # one AccumulateGrad per leaf, the same object from every edge, .variable the leaf
    assert type(acc).__name__ == "AccumulateGrad" and acc.variable is a
    assert e.next_functions[0][0] is acc and acc.next_functions == ()
    assert isinstance(g, lib.autograd.graph.Node) and isinstance(acc, lib.autograd.graph.Node)
    assert a.grad_fn is None and y.grad_fn is g  # the same node each time
    assert _walk(g) == [
        "SumBackward0",
        "MulBackward0",
        "AddBackward0",
        "MulBackward0",
        "AccumulateGrad",
        "ExpBackward0",
    ]


def test_printed_tensor_names_its_node_as_torch():
    a = pydlk.tensor([1.0, 2.0], requires_grad=True)
    ta = torch.tensor([1.0, 2.0], requires_grad=True)
    assert repr(a * 2) == repr(ta * 2) == "tensor([2., 4.], grad_fn=<MulBackward0>)"
    assert repr((a * 2).sum()) == "tensor(6., grad_fn=<SumBackward0>)"


def test_multi_output_node_gives_the_output_index():
    x = pydlk.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    tx = torch.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    for lib, t in ((pydlk, x), (torch, tx)):
        _, hi = lib.split(t, [1, 2], dim=1)
        ((node, k),) = hi.exp().grad_fn.next_functions
        assert k == 1, lib  # the second output of the split
        assert node.next_functions[0][0].variable is t


@pytest.mark.parametrize("create_graph", [False, True])
def test_node_hooks_match_torch(create_graph, rng):
    x0 = rng.standard_normal((4, 3))
    w0 = rng.standard_normal((3, 2))
    res = {}
    for lib in (pydlk, torch):
        x = lib.tensor(x0, requires_grad=True)
        w = lib.tensor(w0, requires_grad=True)
        h = (x @ w).tanh()
        loss = (h * h).sum()
        seen = []

        def pre(grad_outputs):
            seen.append(("pre", [g.detach().numpy() for g in grad_outputs]))
            return (grad_outputs[0] * 3,)  # tanh's node gets 3x its upstream gradient

        def post(grad_inputs, grad_outputs):
            seen.append(("post", [g.detach().numpy() for g in grad_inputs]))
            return (grad_inputs[0] * 0.5,)  # and passes on half of what it computed

        h1 = h.grad_fn.register_prehook(pre)
        h2 = h.grad_fn.register_hook(post)
        gx, gw = lib.autograd.grad(loss, (x, w), create_graph=create_graph)
        res[lib] = (seen, gx.detach().numpy(), gw.detach().numpy())
        h1.remove()
        h2.remove()
        # removed: a second pass runs without them
        g2 = lib.autograd.grad((x @ w).tanh().sum(), x)[0]
        res[lib] += (g2.detach().numpy(),)
    (ps, pgx, pgw, p2), (ts, tgx, tgw, t2) = res[pydlk], res[torch]
    assert [s[0] for s in ps] == [s[0] for s in ts] == ["pre", "post"]
    for (_, a), (_, b) in zip(ps, ts):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            np.testing.assert_allclose(u, v, rtol=1e-12)
    # textbook: d loss / d x = 1.5 * (2 h (1 - h^2)) w^T with the hooks' 3 and 0.5
    h = np.tanh(x0 @ w0)
    np.testing.assert_allclose(pgx, 1.5 * (2 * h * (1 - h * h)) @ w0.T, rtol=1e-12)
    np.testing.assert_allclose(pgx, tgx, rtol=1e-12)
    np.testing.assert_allclose(pgw, tgw, rtol=1e-12)
    np.testing.assert_allclose(p2, (1 - h * h) @ w0.T, rtol=1e-12)
    np.testing.assert_allclose(p2, t2, rtol=1e-12)


def test_hook_returning_the_wrong_count_names_the_node():
    a = pydlk.ones(3, requires_grad=True)
    y = a.exp()
    y.grad_fn.register_prehook(lambda g: (g[0], g[0]))
    with pytest.raises(RuntimeError, match="ExpBackward0.*returned 2 gradients, expected 1"):
        y.sum().backward()


def test_accumulate_grad_hooks_as_older_data_parallel_code_uses_them():
    """p.expand_as(p).grad_fn.next_functions[0][0] is p's AccumulateGrad; its hook runs after
    p.grad is written (Horovod's and apex's all-reduce trigger)."""
    for lib in (pydlk, torch):
        p = lib.tensor([1.0, 2.0], requires_grad=True)
        acc = p.expand_as(p).grad_fn.next_functions[0][0]
        assert acc.variable is p
        events = []
        acc.register_prehook(lambda g: events.append(("pre", g[0].tolist())))
        acc.register_hook(lambda *args: events.append(("post", p.grad.tolist())))
        (p * lib.tensor([3.0, 4.0])).sum().backward()
        assert events == [("pre", [3.0, 4.0]), ("post", [3.0, 4.0])], lib


def test_metadata_and_calling_a_node():
    for lib in (pydlk, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        y = a * a
        y.grad_fn.metadata["tag"] = "square"
        assert y.grad_fn.metadata == {"tag": "square"}
        # calling the node runs its backward: d(a*a) = (g a, g a), one per operand
        ga, gb = y.grad_fn(lib.tensor([1.0, 10.0]))
        np.testing.assert_allclose(ga.detach().numpy(), [1.0, 20.0])
        np.testing.assert_allclose(gb.detach().numpy(), [1.0, 20.0])


def test_user_function_node_named_as_torch():
    class Twice(pydlk.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class TTwice(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    y = Twice.apply(pydlk.ones(2, requires_grad=True))
    ty = TTwice.apply(torch.ones(2, requires_grad=True))
    assert y.grad_fn.name() == "TwiceBackward" and ty.grad_fn.name() == "TTwiceBackward"
    assert type(y.grad_fn.next_functions[0][0]).__name__ == "AccumulateGrad"


def test_next_functions_after_an_in_place_write_keep_the_history_of_then():
    a = pydlk.ones(3, requires_grad=True)
    b = a * 2
    c = b * 3  # used b before the write
    b.add_(1)
    assert b.grad_fn.name() == "AddBackward0"
    ((node, _),) = c.grad_fn.next_functions
    assert node.name() == "MulBackward0"  # b's history when c used it, not the add_
