"""torch.autograd.graph.register_multi_grad_hook and Variable._execution_engine.queue_callback,
against torch 2.13 running the same script."""

import numpy as np
import pytest

import pydlk


def _script(lib, mode):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([3.0, 4.0, 5.0], requires_grad=True)
    c = lib.tensor([6.0], requires_grad=True)
    calls = []

    def fn(g):
        if mode == "all":
            calls.append(tuple(None if x is None else x.tolist() for x in g))
        else:
            calls.append(g.tolist())

    h = lib.autograd.graph.register_multi_grad_hook((a, b, c), fn, mode=mode)
    ((a * 2).sum() + (b * b).sum()).backward()  # c not reached
    (a * 5).sum().backward()
    h.remove()
    (a * 7).sum().backward()  # removed: no call
    return calls


def test_all_mode_matches_torch():
    torch = pytest.importorskip("torch")
    mine = _script(pydlk, "all")
    assert mine == [([2.0, 2.0], [6.0, 8.0, 10.0], None), ([5.0, 5.0], None, None)]
    assert mine == _script(torch, "all")


def test_any_mode_calls_once_per_pass_with_one_of_its_gradients():
    # which gradient comes first follows each engine's order: torch reaches b first here
    torch = pytest.importorskip("torch")
    for calls in (_script(pydlk, "any"), _script(torch, "any")):
        assert len(calls) == 2
        assert calls[0] in ([2.0, 2.0], [6.0, 8.0, 10.0]) and calls[1] == [5.0, 5.0]


def test_autograd_grad_runs_leaf_hooks_as_torch():
    torch = pytest.importorskip("torch")
    for lib in (pydlk, torch):
        b = lib.ones(2, requires_grad=True)
        seen = []
        b.register_hook(lambda g, seen=seen: seen.append(g.tolist()) or g * 10)
        (g,) = lib.autograd.grad((b * 3).sum(), b)
        assert seen == [[3.0, 3.0]] and g.tolist() == [30.0, 30.0], lib.__name__
        (g2,) = lib.autograd.grad((b * b).sum(), b, create_graph=True)
        assert g2.tolist() == [20.0, 20.0] and g2.requires_grad, lib.__name__


def test_queue_callback_runs_after_the_pass_and_in_order():
    torch = pytest.importorskip("torch")

    def script(lib):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        seen = []

        def hook(g):
            eng = lib.autograd.Variable._execution_engine
            eng.queue_callback(lambda: seen.append(("first", w.grad.tolist())))
            eng.queue_callback(
                lambda: eng.queue_callback(lambda: seen.append(("nested", w.grad.tolist())))
            )
            return g

        y = w * 3
        y.register_hook(hook)
        y.sum().backward()
        return seen

    mine = script(pydlk)
    assert mine == [("first", [3.0, 3.0]), ("nested", [3.0, 3.0])]
    assert mine == script(torch)


def test_queue_callback_outside_backward_and_bad_modes_raise():
    with pytest.raises(RuntimeError, match="only be installed during backward pass"):
        pydlk.autograd.Variable._execution_engine.queue_callback(lambda: None)
    a = pydlk.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="one of \\('all', 'any'\\)"):
        pydlk.autograd.graph.register_multi_grad_hook((a,), lambda g: None, mode="some")


def test_a_failed_pass_runs_no_callback_and_leaves_none_queued():
    w = pydlk.tensor([1.0], requires_grad=True)
    ran = []

    def bad(g):
        pydlk.autograd.Variable._execution_engine.queue_callback(lambda: ran.append(1))
        raise ValueError("hook failed")

    y = w * 2
    y.register_hook(bad)
    with pytest.raises(ValueError, match="hook failed"):
        y.sum().backward()
    assert ran == []
    (w * 3).sum().backward()  # a later pass starts clean
    np.testing.assert_allclose(w.grad.numpy(), [3.0])
    with pytest.raises(RuntimeError, match="only be installed during backward pass"):
        pydlk.autograd.Variable._execution_engine.queue_callback(lambda: None)
