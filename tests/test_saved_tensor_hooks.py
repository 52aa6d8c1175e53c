"""torch.autograd.graph's hooks on saved tensors (``saved_tensors_hooks``, ``save_on_cpu``,
``disable_saved_tensors_hooks``) and ``Tensor.is_inference()``.

The hooks change what a backward reads, so the checks are on gradients: a pack hook that
scales what is saved scales the gradient by the textbook derivative's factor, torch with the
same hooks gives the same gradients, and identity or host-copy hooks leave a network's gradients
unchanged. The ``test_gpu_*`` tests run on a GPU and under the host emulation
(tools/run_cuda_tests_on_host.py), and skip without either."""

import threading

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip
from pydlk.autograd.graph import (
    disable_saved_tensors_hooks,
    save_on_cpu,
    saved_tensors_hooks,
)

import pydlk


def _leaves(rng, *shapes):
    return [pydlk.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]


def test_pack_sees_each_saved_tensor_and_unpack_runs_in_backward(rng):
    a, b = _leaves(rng, (5,), (5,))
    events = []

    def pack(t):
        events.append(("pack", tuple(t.shape)))
        return t

    def unpack(t):
        events.append(("unpack", tuple(t.shape)))
        return t

    with saved_tensors_hooks(pack, unpack):
        y = a * b
    assert events == [("pack", (5,)), ("pack", (5,))]  # mul keeps both factors
    y.sum().backward()
    assert [e[0] for e in events] == ["pack", "pack", "unpack", "unpack"]
    np.testing.assert_allclose(a.grad.numpy(), b.detach().numpy())
    np.testing.assert_allclose(b.grad.numpy(), a.detach().numpy())


def test_what_pack_returns_is_what_the_backward_uses(rng):
    # d(a*b)/da = b: a pack hook that doubles what is saved doubles both gradients.
    a, b = _leaves(rng, (4, 3), (4, 3))
    with saved_tensors_hooks(lambda t: t * 2, lambda t: t):
        y = a * b
    y.backward(pydlk.ones(4, 3))
    np.testing.assert_allclose(a.grad.numpy(), 2 * b.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), 2 * a.detach().numpy(), rtol=1e-12)


def test_unpack_result_reaches_the_backward(rng):
    # sin' = cos of the saved input: an unpack hook that returns zeros gives cos(0) = 1.
    (x,) = _leaves(rng, (6,))
    with saved_tensors_hooks(lambda t: t, lambda t: pydlk.zeros_like(t)):
        y = x.sin()
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.ones(6))


def test_gradients_match_torch_under_the_same_hooks(rng):
    torch = pytest.importorskip("torch")
    av, bv = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    wv = rng.standard_normal((4, 2))

    def run(lib, pack):
        a, b, w = (lib.tensor(v, requires_grad=True) for v in (av, bv, wv))
        with lib.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            y = ((a * b).sin() @ w).sum()
        y.backward()
        return [t.grad.detach().numpy() for t in (a, b, w)]

    for scale in (1.0, 3.0):
        mine = run(pydlk, lambda t, s=scale: t * s)
        theirs = run(torch, lambda t, s=scale: t * s)
        for m, t in zip(mine, theirs):
            np.testing.assert_allclose(m, t, rtol=1e-10, atol=1e-12)


def test_ops_not_recorded_call_no_hook(rng):
    a = pydlk.tensor(rng.standard_normal(3), requires_grad=True)
    plain = pydlk.tensor(rng.standard_normal(3))
    calls = []
    with saved_tensors_hooks(lambda t: calls.append(1) or t, lambda t: t):
        with pydlk.no_grad():
            (a * a).exp()
        (plain * plain).exp()  # no input requires grad
    assert calls == []


def test_network_gradients_unchanged_by_identity_and_host_hooks(rng):
    pydlk.manual_seed(0)
    m = pydlk.nn.Sequential(
        pydlk.nn.Conv2d(3, 4, 3), pydlk.nn.BatchNorm2d(4), pydlk.nn.ReLU(),
        pydlk.nn.Flatten(), pydlk.nn.Linear(4 * 6 * 6, 3),
    )  # fmt: skip
    x = pydlk.tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))

    def grads(ctx):
        m.zero_grad()
        with ctx:
            loss = m(x).pow(2).sum()
        loss.backward()
        return [p.grad.numpy().copy() for p in m.parameters()]

    plain = grads(saved_tensors_hooks(lambda t: t, lambda t: t))
    packed = []

    def pack(t):  # a copy of the values as a NumPy array, as an offloading hook keeps them
        packed.append(1)
        return t.numpy().copy()

    copied = grads(saved_tensors_hooks(pack, pydlk.from_numpy))
    on_cpu = grads(save_on_cpu())
    assert len(packed) >= 5  # conv, batch norm, relu, linear, pow each keep something
    for p, c, o in zip(plain, copied, on_cpu):
        np.testing.assert_array_equal(c, p)
        np.testing.assert_array_equal(o, p)


def test_custom_function_gets_tensors_back_and_double_backward_works():
    class Cube(pydlk.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            assert isinstance(x, pydlk.Tensor)
            return 3 * x**2 * g

    a = pydlk.tensor([1.0, 2.0, -0.5], dtype=pydlk.float64, requires_grad=True)
    boxes = []
    with saved_tensors_hooks(lambda t: boxes.append(t) or ("box", t), lambda p: p[1]):
        y = Cube.apply(a)
    assert len(boxes) == 1
    (g,) = pydlk.autograd.grad(y.sum(), a, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 3 * np.array([1.0, 4.0, 0.25]))
    g.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 6 * np.array([1.0, 2.0, -0.5]))


def test_innermost_pair_packs_and_its_unpack_is_used_later(rng):
    (x,) = _leaves(rng, (4,))
    used = []
    outer = saved_tensors_hooks(lambda t: ("outer", t), lambda p: used.append(p[0]) or p[1])
    inner = saved_tensors_hooks(lambda t: ("inner", t), lambda p: used.append(p[0]) or p[1])
    with outer:
        with inner:
            y = x.exp()
        z = y.sin()
    (y + z).sum().backward()  # both unpack after their blocks closed
    assert sorted(used) == ["inner", "outer"]
    xv = x.detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(xv) * (1 + np.cos(np.exp(xv))), rtol=1e-12)


def test_disable_refuses_new_hooks_and_keeps_outer_ones(rng):
    (x,) = _leaves(rng, (3,))
    with disable_saved_tensors_hooks("saved tensor hooks are off in this block"):
        with pytest.raises(RuntimeError, match="off in this block"):
            with saved_tensors_hooks(lambda t: t, lambda t: t):
                pass
    calls = []
    with saved_tensors_hooks(lambda t: calls.append(1) or t, lambda t: t):
        with disable_saved_tensors_hooks("no new hooks"):
            y = x.exp()
    assert calls == [1]
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x.detach().numpy()))
    with saved_tensors_hooks(lambda t: t, lambda t: t):  # usable again after the block
        pass


def test_bad_unpack_results_raise_clear_errors(rng):
    (x,) = _leaves(rng, (3,))
    with saved_tensors_hooks(lambda t: t, lambda t: t.numpy()):
        y = x.exp()
    with pytest.raises(TypeError, match="unpack_hook must return a Tensor, got ndarray"):
        y.sum().backward()
    (x,) = _leaves(rng, (3,))
    with saved_tensors_hooks(lambda t: t, lambda t: pydlk.zeros(4)):
        y = x.exp()
    with pytest.raises(RuntimeError, match=r"shape \(4,\) for one saved with shape \(3,\)"):
        y.sum().backward()
    with pytest.raises(TypeError, match="must be callable"):
        saved_tensors_hooks(None, lambda t: t)


def test_hooks_are_per_thread(rng):
    (x,) = _leaves(rng, (3,))
    calls, ready, done = [], threading.Event(), threading.Event()

    def other():
        with saved_tensors_hooks(lambda t: calls.append(1) or t, lambda t: t):
            ready.set()
            done.wait(10)

    th = threading.Thread(target=other)
    th.start()
    ready.wait(10)
    try:
        y = x.exp()  # this thread opened no hooks
    finally:
        done.set()
        th.join()
    assert calls == []
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x.detach().numpy()))


def test_is_inference_follows_inference_mode():
    torch = pytest.importorskip("torch")
    for lib in (pydlk, torch):
        x = lib.ones(3)
        with lib.inference_mode():
            y, z = x * 2, lib.zeros(2)
            with lib.inference_mode(False):
                w = x * 3
        with lib.no_grad():
            v = x * 2
        got = [t.is_inference() for t in (x, y, z, w, v)]
        assert got == [False, True, True, False, False], lib.__name__


# ----------------------------------------------------------------------------- on a GPU


def test_gpu_save_on_cpu_keeps_host_copies_and_the_same_gradients(rng):
    cupy_or_skip()
    wv, xv = rng.standard_normal((4, 3)), rng.standard_normal((5, 4))
    w = pydlk.tensor(wv, device="cuda", requires_grad=True)
    x = pydlk.tensor(xv, device="cuda")
    kept = []
    hooks = save_on_cpu(pin_memory=True)
    pack = hooks.pack_hook
    hooks.pack_hook = lambda t: kept.append(pack(t)) or kept[-1]
    with hooks:
        loss = (x @ w).tanh().sum()
    assert kept and all(not host.is_cuda for _, host in kept)
    loss.backward()
    assert w.grad.is_cuda
    t = np.tanh(xv @ wv)
    np.testing.assert_allclose(w.grad.cpu().numpy(), xv.T @ (1 - t**2), rtol=1e-10)
