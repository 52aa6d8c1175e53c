"""Tensors where torch has Tensors: state_dict values, Module.to's device arguments, and
exchanging model weights with torch."""

import numpy as np
import pytest

import pydlk
from pydlk import nn


def _mlp():
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))


# ----------------------------------------------------------------------------- state_dict


def test_state_dict_values_are_detached_tensors_sharing_memory():
    m = _mlp()
    sd = m.state_dict()
    for k, v in sd.items():
        assert isinstance(v, pydlk.Tensor), k
        assert not v.requires_grad
    # sharing memory: a write through the state_dict value shows in the parameter
    w = sd["0.weight"]
    with pydlk.no_grad():
        w[0, 0] = 123.0
    assert np.asarray(m[0].weight)[0, 0] == 123.0
    # clone() snapshots: later changes to the parameter leave it alone
    snap = {k: v.clone() for k, v in sd.items()}
    with pydlk.no_grad():
        m[0].weight[...] = 0.0
    assert snap["0.weight"].numpy()[0, 0] == 123.0
    assert not np.shares_memory(np.asarray(snap["0.weight"]), np.asarray(m[0].weight))


def test_state_dict_keep_vars_gives_the_parameters():
    m = _mlp()
    sd = m.state_dict(keep_vars=True)
    assert sd["0.weight"] is m[0].weight and sd["0.weight"].requires_grad


def test_load_state_dict_accepts_tensors_arrays_and_torch_tensors():
    torch = pytest.importorskip("torch")
    src, dst = _mlp(), _mlp()
    sd = src.state_dict()
    for conv in (
        lambda v: v.clone(),
        lambda v: np.asarray(v).copy(),
        lambda v: torch.from_numpy(np.asarray(v).copy()),
    ):
        pydlk.manual_seed(0)
        dst = _mlp()
        w_before = np.asarray(dst[0].weight)
        dst.load_state_dict({k: conv(v) for k, v in sd.items()})
        assert np.asarray(dst[0].weight) is w_before  # copied in place
        for k, v in dst.state_dict().items():
            np.testing.assert_array_equal(np.asarray(v), np.asarray(sd[k]))


def test_save_load_round_trip_gives_tensors(tmp_path):
    m = _mlp()
    path = tmp_path / "m.npz"
    pydlk.save(m.state_dict(), path)
    back = pydlk.load(path)
    for k, v in m.state_dict().items():
        assert isinstance(back[k], pydlk.Tensor)
        np.testing.assert_array_equal(back[k].numpy(), v.numpy())
    m2 = _mlp()
    m2.load_state_dict(back)
    x = pydlk.randn(5, 4)
    np.testing.assert_array_equal(m2(x).detach().numpy(), m(x).detach().numpy())


def _torch_mlp(torch):
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))


def test_weights_exchange_with_torch_both_ways():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    # pydlk -> torch
    m = _mlp()
    t = _torch_mlp(torch)
    t.load_state_dict(
        {k: torch.from_numpy(np.asarray(v).copy()) for k, v in m.state_dict().items()}
    )
    with torch.no_grad():
        ref = t(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(m(pydlk.tensor(x)).detach().numpy(), ref, rtol=1e-6, atol=1e-6)
    # torch -> pydlk (the torch tensors straight, and via numpy)
    torch.manual_seed(3)
    t2 = _torch_mlp(torch)
    with torch.no_grad():
        ref2 = t2(torch.from_numpy(x)).numpy()
    for sd in (t2.state_dict(), {k: pydlk.tensor(v.numpy()) for k, v in t2.state_dict().items()}):
        m2 = _mlp()
        m2.load_state_dict(sd)
        np.testing.assert_allclose(m2(pydlk.tensor(x)).detach().numpy(), ref2, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- Module.to


def test_module_to_cpu_forms_return_self():
    m = _mlp()
    w = np.asarray(m[0].weight)
    for arg in (pydlk.device("cpu"), "cpu", "cpu:0", pydlk.device("cpu", 0)):
        assert m.to(arg) is m
        assert np.asarray(m[0].weight) is w  # nothing moved, nothing copied
    assert m.to(device="cpu") is m and m.cpu() is m


def test_module_to_dtype_and_tensor_forms():
    m = _mlp()
    assert m.to(pydlk.float64) is m
    assert m[0].weight.dtype == np.float64 and m[2].bias.dtype == np.float64
    m.to("cpu", pydlk.float32)
    assert m[0].weight.dtype == np.float32
    m.to(pydlk.zeros(1, dtype=pydlk.float64))
    assert m[0].weight.dtype == np.float64
    m.to(device=pydlk.device("cpu"), dtype=pydlk.float32)
    assert m[0].weight.dtype == np.float32
    with pytest.raises(TypeError, match="floating point"):
        m.to(pydlk.int64)
    with pytest.raises(TypeError, match="to: expected a device, a dtype or a Tensor"):
        m.to("xpu")


@pytest.mark.skipif(pydlk.cuda.is_available(), reason="checks the error without a GPU")
def test_module_to_cuda_without_gpu_raises_clearly():
    m = _mlp()
    for arg in ("cuda", "cuda:0", pydlk.device("cuda", 1)):
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            m.to(arg)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        m.cuda()
    assert m[0].weight.device == "cpu"  # left where it was


# ----------------------------------------------------------------------------- optimiser state


def _loss_grad(w, c):
    """d/dw of sum(c * w**3): a gradient that changes as w moves."""
    return 3 * c * w * w


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_optimizer_state_round_trips_with_torch_both_ways(kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((3, 4)).astype(np.float32)
    c = rng.standard_normal((3, 4)).astype(np.float32)

    def make(lib, w):
        p = (
            pydlk.nn.Parameter(pydlk.tensor(w.copy()))
            if lib == "pydlk"
            else torch.nn.Parameter(torch.from_numpy(w.copy()))
        )
        o = pydlk.optim if lib == "pydlk" else torch.optim
        opt = (
            o.Adam([p], lr=0.05, betas=(0.8, 0.9))
            if kind == "adam"
            else o.SGD([p], lr=0.05, momentum=0.9)
        )
        return p, opt

    def steps(lib, p, opt, n):
        for _ in range(n):
            w = np.asarray(p.detach().numpy() if lib == "torch" else np.asarray(p))
            g = _loss_grad(w, c)
            p.grad = pydlk.tensor(g) if lib == "pydlk" else torch.from_numpy(g)
            opt.step()
        return np.asarray(p.detach().numpy()).copy()

    # reference: torch alone, 5 steps
    tp, topt = make("torch", w0)
    ref = steps("torch", tp, topt, 5)

    # pydlk 3 steps -> torch 2 steps
    pp, popt = make("pydlk", w0)
    mid = steps("pydlk", pp, popt, 3)
    sd = popt.state_dict()
    assert all(
        isinstance(v, pydlk.Tensor) for v in sd["state"][0].values() if not isinstance(v, int)
    )
    names = {"adam": {"step", "exp_avg", "exp_avg_sq"}, "sgd": {"step", "momentum_buffer"}}
    assert set(sd["state"][0]) == names[kind]
    tp2, topt2 = make("torch", mid)
    topt2.load_state_dict(
        {
            "state": {
                k: {
                    n: (
                        torch.from_numpy(np.asarray(v).copy()) if isinstance(v, pydlk.Tensor) else v
                    )
                    for n, v in st.items()
                }
                for k, st in sd["state"].items()
            },
            "param_groups": sd["param_groups"],
        }
    )
    np.testing.assert_allclose(steps("torch", tp2, topt2, 2), ref, rtol=1e-5, atol=1e-6)

    # torch 3 steps -> pydlk 2 steps
    tp3, topt3 = make("torch", w0)
    mid = steps("torch", tp3, topt3, 3)
    tsd = topt3.state_dict()
    pp2, popt2 = make("pydlk", mid)
    popt2.load_state_dict(
        {
            "state": {
                k: {n: pydlk.tensor(v.numpy()) for n, v in st.items()}
                for k, st in tsd["state"].items()
            },
            "param_groups": tsd["param_groups"],
        }
    )
    np.testing.assert_allclose(steps("pydlk", pp2, popt2, 2), ref, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- .grad


def _packed():
    rng = np.random.default_rng(2)
    w = pydlk.nn.Parameter(pydlk.tensor(rng.standard_normal((3, 2)).astype(np.float32)))
    opt = pydlk.optim.SGD([w], lr=0.1)
    x = pydlk.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    return w, opt, x


def test_grad_is_a_cached_tensor_over_the_arena_slot():
    w, opt, x = _packed()
    assert w.grad is None
    (x @ w).sum().backward()
    g = w.grad
    assert isinstance(g, pydlk.Tensor) and not g.requires_grad
    assert w.grad is g  # cached while the gradient array is unchanged
    expected = x.numpy().sum(0)[:, None] * np.ones((1, 2), np.float32)  # d sum(xw)/dw
    np.testing.assert_allclose(g.numpy(), expected, rtol=1e-6)
    assert np.shares_memory(g.numpy(), opt._arenas[0][0].grad)


def test_grad_zero_then_backward_accumulates_into_the_slot():
    w, opt, x = _packed()
    expected = x.numpy().sum(0)[:, None] * np.ones((1, 2), np.float32)
    (x @ w).sum().backward()
    w.grad.zero_()
    np.testing.assert_array_equal(opt._arenas[0][0].grad, 0)
    (x @ w).sum().backward()
    (x @ w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * expected, rtol=1e-6)
    w.grad.mul_(0.5)  # torch idiom: scale the gradient in place
    np.testing.assert_allclose(opt._arenas[0][0].grad.reshape(3, 2), expected, rtol=1e-6)
    w0 = w.detach().numpy().copy()
    opt.step()  # steps with the scaled gradient the optimiser sees in its buffer
    np.testing.assert_allclose(w.detach().numpy(), w0 - 0.1 * expected, rtol=1e-6)


def test_grad_data_zero_and_assignment():
    w, opt, x = _packed()
    (x @ w).sum().backward()
    w.grad.data[...] = 0  # p.grad.data: a Tensor sharing the gradient's memory
    np.testing.assert_array_equal(opt._arenas[0][0].grad, 0)
    # assigning a Tensor or an array of the slot's shape copies into the slot
    g = np.arange(6, dtype=np.float32).reshape(3, 2)
    w.grad = pydlk.tensor(g)
    np.testing.assert_array_equal(opt._arenas[0][0].grad, g.reshape(-1))
    w.grad = g * 2
    np.testing.assert_array_equal(opt._arenas[0][0].grad, 2 * g.reshape(-1))
    w0 = w.detach().numpy().copy()
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), w0 - 0.1 * 2 * g, rtol=1e-6)
    w.grad = None
    assert w.grad is None
    with pytest.raises(RuntimeError, match="grad: assigned grad has data of a different size"):
        w.grad = np.zeros((2, 3), np.float32)


def test_grad_assignment_without_arena_keeps_the_tensor():
    p = pydlk.tensor([1.0, 2.0], requires_grad=True)
    g = pydlk.tensor([3.0, 4.0])
    p.grad = g
    assert p.grad is g  # as torch: the assigned tensor itself
    torch = pytest.importorskip("torch")
    p.grad = torch.tensor([5.0, 6.0])
    np.testing.assert_array_equal(p.grad.numpy(), [5.0, 6.0])


def test_grad_norm_and_manual_sgd_match_the_formula():
    w, opt, x = _packed()
    (x @ w).sum().backward()
    gn = np.linalg.norm(np.asarray(w.grad))
    np.testing.assert_allclose(float(w.grad.norm()), gn, rtol=1e-6)
    w0 = w.detach().numpy().copy()
    with pydlk.no_grad():
        w.add_(w.grad, alpha=-0.1)
    np.testing.assert_allclose(w.detach().numpy(), w0 - 0.1 * np.asarray(w.grad), rtol=1e-6)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w.add_(w.grad, alpha=-0.1)
