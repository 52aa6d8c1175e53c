"""Miscellaneous models and training utilities run with GPU tensors, each against the same thing
on the CPU and against a value worked out by hand: torch.autograd.functional and torch.func
derivatives, integer shifts, fit's callbacks (EMA evaluation, early stopping, NaN detection),
lr_find and predict with a GPU model. Real CuPy refuses ``np.asarray`` of its arrays and NumPy
operands in its ops; the host emulation (tools/run_cuda_tests_on_host.py) refuses them too, so
these ``test_gpu_*`` tests run here as they would on a GPU, and skip without either."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
import pydlk.functional as F
from pydlk import nn
from pydlk.autograd import functional as AF
from pydlk.data import DataLoader, TensorDataset
from pydlk.train import fit, lr_find, predict
from pydlk.train.callbacks import EarlyStopping, EMAEvaluation, TerminateOnNaN


def _both(v, cp):
    """The float64 array ``v`` as a CPU and a GPU tensor."""
    return pydlk.tensor(v), pydlk.tensor(cp.asarray(v))


def test_gpu_autograd_functional_derivatives_match_the_cpu(rng):
    cp = cupy_or_skip()
    x = rng.standard_normal((2, 3))
    res = {}
    for t in _both(x, cp):
        ones = pydlk.ones_like(t)
        res[str(t.device)] = [
            AF.jacobian(lambda a: a.exp().sum(0), t),
            AF.jacobian(lambda a: a.exp().sum(0), t, create_graph=True),
            AF.jacobian(lambda a: a.exp().sum(0), t, vectorize=True, strategy="forward-mode"),
            AF.jacobian(lambda a, b: a.exp().sum(0), (t, t))[1],  # an unused input: zeros
            AF.hessian(lambda a: a.pow(3).sum(), t),
            AF.jvp(lambda a: a.exp(), t, ones)[1],
            AF.vjp(lambda a: a.exp(), t, ones)[1],
            AF.vjp(lambda a: a.exp().sum(), t)[1],  # v defaults to ones for a scalar output
            AF.hvp(lambda a: a.pow(3).sum(), t, ones)[1],
        ]
    for c, g in zip(res["cpu"], res["cuda:0"]):
        assert str(g.device) == "cuda:0" and g.shape == c.shape
        np.testing.assert_allclose(host(g), host(c), rtol=1e-12, atol=1e-12)
    jac, _, jac_fwd, unused, hess, jv, vj, vj1, hv = res["cuda:0"]
    # d(sum_i exp(x_ij))/dx_kl = exp(x_kl) where l == j
    want = np.zeros((3, 2, 3))
    for k in range(2):
        for j in range(3):
            want[j, k, j] = np.exp(x[k, j])
    np.testing.assert_allclose(host(jac), want, rtol=1e-12)
    np.testing.assert_allclose(host(jac_fwd), want, rtol=1e-12)
    assert not host(unused).any()
    # the Hessian of sum x^3 is diagonal, 6 x
    np.testing.assert_allclose(host(hess).reshape(6, 6), np.diag(6 * x.ravel()), rtol=1e-12)
    for v in (jv, vj, vj1):
        np.testing.assert_allclose(host(v), np.exp(x), rtol=1e-12)
    np.testing.assert_allclose(host(hv), 6 * x, rtol=1e-12)


def test_gpu_autograd_functional_jacobian_checks_strategy_as_torch():
    cp = cupy_or_skip()
    t = pydlk.tensor(cp.ones(2))
    with pytest.raises(AssertionError, match="forward-mode"):
        AF.jacobian(lambda a: a * 2, t, strategy="sideways")
    with pytest.raises(NotImplementedError, match="vectorize=True"):
        AF.jacobian(lambda a: a * 2, t, strategy="forward-mode")
    with pytest.raises(AssertionError, match="forward-mode"):
        AF.hessian(lambda a: a.sum(), t, outer_jacobian_strategy="sideways")


def test_gpu_func_jacobians_and_hessian_match_the_cpu(rng):
    cp = cupy_or_skip()
    from pydlk.func import grad, hessian, jacfwd, jacrev, vmap

    a = rng.standard_normal(3)
    res = {}
    for t in _both(a, cp):
        f = lambda v: pydlk.sin(v) * v.sum()  # noqa: E731
        res[str(t.device)] = [
            jacrev(f)(t),
            jacfwd(f)(t),
            hessian(lambda v: (v**3).sum())(t),
            vmap(grad(lambda v: (v**3).sum()))(t.reshape(3, 1)),
        ]
    for c, g in zip(res["cpu"], res["cuda:0"]):
        assert str(g.device) == "cuda:0"
        np.testing.assert_allclose(host(g), host(c), rtol=1e-12, atol=1e-12)
    jr, jf, hs, pg = res["cuda:0"]
    # d(sin(a_i) S)/da_j = cos(a_i) S [i == j] + sin(a_i), S = sum a
    want = np.diag(np.cos(a) * a.sum()) + np.sin(a)[:, None]
    np.testing.assert_allclose(host(jr), want, rtol=1e-12)
    np.testing.assert_allclose(host(jf), want, rtol=1e-12)
    np.testing.assert_allclose(host(hs), np.diag(6 * a), rtol=1e-12)
    np.testing.assert_allclose(host(pg).ravel(), 3 * a**2, rtol=1e-12)


def test_gpu_shift_operators_match_the_cpu():
    cp = cupy_or_skip()
    v = np.array([1, -2, 3, 40], np.int64)
    c, g = pydlk.tensor(v), pydlk.tensor(cp.asarray(v))
    for op in (
        lambda a: a << 2,
        lambda a: a >> 1,
        lambda a: 2 << (a.abs() % 5),
        lambda a: 1024 >> (a.abs() % 5),
        lambda a: a << (a.abs() % 5),
    ):
        oc, og = op(c), op(g)
        assert str(og.device) == "cuda:0" and og.dtype == oc.dtype == np.int64
        np.testing.assert_array_equal(host(og), host(oc))
    np.testing.assert_array_equal(host(g << 2), v * 4)
    np.testing.assert_array_equal(host(g >> 1), np.floor(v / 2))  # arithmetic: keeps the sign
    np.testing.assert_array_equal(host(3 << pydlk.tensor(cp.asarray([0, 1, 4]))), [3, 6, 48])
    u = pydlk.tensor(cp.asarray(np.array([1, 2], np.uint8)))
    assert (u << 7).dtype == np.uint8 and host(u << 7).tolist() == [128, 0]


def _data(rng, n=32):
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    return x, y


def _fit_run(device, x, y, callbacks, epochs=3):
    pydlk.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).to(device)
    loader = DataLoader(TensorDataset(pydlk.tensor(x), pydlk.tensor(y)), batch_size=8)
    opt = pydlk.optim.SGD(model.parameters(), lr=0.5)
    h = fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        loader,
        loader,
        epochs=epochs,
        callbacks=callbacks,
        verbose=False,
        device=device,
    )
    return model, h


def test_gpu_fit_ema_evaluation_and_early_stopping_match_the_cpu(rng):
    cupy_or_skip()
    x, y = _data(rng)
    runs = {}
    for dev in ("cpu", "cuda"):
        stop = EarlyStopping(monitor="val_loss", patience=5, restore_best=True)
        model, h = _fit_run(dev, x, y, [EMAEvaluation(decay=0.5), stop])
        runs[dev] = (model, h, stop)
    (mc, hc, sc), (mg, hg, sg) = runs["cpu"], runs["cuda"]
    assert len(hg["val_loss_ema"]) == 3
    assert all(str(v.device) == "cpu" for v in sc.best_state.values())
    for k in ("loss", "val_loss", "val_loss_ema", "val_accuracy_ema"):
        np.testing.assert_allclose(hg[k], hc[k], rtol=1e-5)
    # the snapshot of the best weights stays on the GPU, and is what the model ends with
    assert all(str(v.device) == "cuda:0" for v in sg.best_state.values())
    for (k, pc), pg in zip(mc.state_dict().items(), mg.state_dict().values()):
        np.testing.assert_allclose(host(pg), host(pc), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(host(pg), host(sg.best_state[k]))
    # EMA with decay 0.5 over the steps, evaluated: a loss no lower than a log-loss can be
    assert min(hg["val_loss_ema"]) > 0


def test_gpu_terminate_on_nan_names_the_module_and_keeps_the_weights(rng):
    cupy_or_skip()

    class Poison(nn.Module):
        def forward(self, x):
            return x * float("nan")

    x, y = _data(rng, 16)
    pydlk.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), Poison()).to("cuda")
    before = host(model[0].weight).copy()
    loader = DataLoader(TensorDataset(pydlk.tensor(x), pydlk.tensor(y)), batch_size=8)
    stop = TerminateOnNaN()
    opt = pydlk.optim.SGD(model.parameters(), lr=0.1)
    fit(
        model, nn.CrossEntropyLoss(), opt, loader, epochs=2, callbacks=[stop], verbose=False,
        device="cuda",
    )  # fmt: skip
    reason = stop.trainer.stop_reason
    assert "module '1' (Poison)" in reason and "batch 1" in reason
    np.testing.assert_array_equal(host(model[0].weight), before)


def test_gpu_lr_find_moves_batches_to_the_model(rng):
    cupy_or_skip()
    x, y = _data(rng)
    res = {}
    for dev in ("cpu", "cuda"):
        pydlk.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).to(dev)
        w0 = host(model[0].weight).copy()
        loader = DataLoader(TensorDataset(pydlk.tensor(x), pydlk.tensor(y)), batch_size=8)
        opt = pydlk.optim.SGD(model.parameters(), lr=0.1)
        r = lr_find(model, nn.CrossEntropyLoss(), opt, loader, 1e-4, 1.0, num_iter=6, device=dev)
        np.testing.assert_array_equal(host(model[0].weight), w0)  # restored afterwards
        res[dev] = r
    np.testing.assert_allclose(res["cuda"].lrs, np.geomspace(1e-4, 1.0, 6), rtol=1e-9)
    np.testing.assert_allclose(res["cuda"].losses, res["cpu"].losses, rtol=1e-5)
    with pytest.raises(ValueError, match="lr_find: device='cpu'"):
        lr_find(model, nn.CrossEntropyLoss(), opt, loader, num_iter=2, device="cpu")


def test_gpu_predict_a_tensor_in_batches(rng):
    cp = cupy_or_skip()
    x = rng.standard_normal((5, 4)).astype(np.float32)
    pydlk.manual_seed(0)
    model = nn.Linear(4, 3)
    want = x @ host(model.weight).T + host(model.bias)
    np.testing.assert_allclose(predict(model, pydlk.tensor(x), batch_size=2), want, rtol=1e-5)
    model.to("cuda")
    got = predict(model, pydlk.tensor(cp.asarray(x)), batch_size=2)
    assert isinstance(got, np.ndarray) and got.shape == (5, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(
        host(F.linear(pydlk.tensor(cp.asarray(x)), model.weight)),
        want - host(model.bias),
        rtol=1e-5,
    )


def test_gpu_sort_argsort_topk_of_a_0d_tensor_give_gpu_indices():
    cp = cupy_or_skip()
    for t in (pydlk.tensor(3.0), pydlk.tensor(cp.asarray(3.0))):
        dev = str(t.device)
        got = [pydlk.sort(t), pydlk.topk(t, 1)]
        for values, indices in got:
            # (the values are t[()]: on the GPU with CuPy; the host stand-in's a[()] of a 0-d
            # array is a NumPy scalar, so their device is not checked here)
            assert str(indices.device) == dev
            assert float(host(values)) == 3.0 and int(host(indices)) == 0
        idx = pydlk.argsort(t, stable=True)
        assert str(idx.device) == dev and idx.dtype == np.int64 and int(host(idx)) == 0
