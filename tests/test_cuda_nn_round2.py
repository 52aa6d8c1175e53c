"""nn module utilities and optimisers with GPU models, each against the same thing on the CPU
and a value worked out in the test: optimiser state dicts moved between a GPU and a CPU
optimiser (the fused ones, LBFGS's history, a torch-style optimiser with its own step), layers
built over GPU tensors (Embedding.from_pretrained), DataParallel over a GPU model fed a CPU
batch, and CuPy arrays handed to layers as NumPy arrays are. Real CuPy refuses ``np.asarray``
of its arrays and NumPy operands in its ops; the host emulation (tools/run_cuda_tests_on_host.py)
refuses them too, so these ``test_gpu_*`` tests run here as they would on a GPU, and skip
without either."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
from pydlk import nn, optim

_cupy = cupy_or_skip
_host = host


def _mlp(device):
    pydlk.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)).to(device)


def _train(model, opt, x, y, steps):
    for _ in range(steps):

        def closure():
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            return loss

        opt.step(closure)


OPTIMIZERS = {
    "sgd": lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
    "adam": lambda p: optim.Adam(p, lr=0.01),
    "rmsprop": lambda p: optim.RMSprop(p, lr=0.01, centered=True),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.1),
    "lbfgs": lambda p: optim.LBFGS(p, lr=0.5, history_size=3, max_iter=4),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_gpu_round2_optimizer_state_moves_between_gpu_and_cpu(name, rng):
    """A state dict saved from a GPU optimizer loads into a CPU one (the states copied to the
    host, not refused as np.asarray of a device array), and a CPU one's into a GPU optimizer;
    all four then take the same steps."""
    cp = _cupy()
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    xc, yc = pydlk.tensor(x), pydlk.tensor(y)
    xg, yg = pydlk.tensor(cp.asarray(x)), pydlk.tensor(cp.asarray(y))
    mc, mg = _mlp("cpu"), _mlp("cuda")
    oc, og = OPTIMIZERS[name](mc.parameters()), OPTIMIZERS[name](mg.parameters())
    _train(mc, oc, xc, yc, 3)
    _train(mg, og, xg, yg, 3)
    mc2 = _mlp("cpu")
    mc2.load_state_dict(mg.state_dict())
    oc2 = OPTIMIZERS[name](mc2.parameters())
    oc2.load_state_dict(og.state_dict())
    mg2 = _mlp("cuda")
    mg2.load_state_dict(mc.state_dict())
    og2 = OPTIMIZERS[name](mg2.parameters())
    og2.load_state_dict(oc.state_dict())
    if name == "adam":  # the loaded moments: the GPU's values, on the CPU
        (st,) = [oc2.state_dict()["state"][0]]
        exp_avg = st["exp_avg"]
        assert str(exp_avg.device) == "cpu" and st["step"] == 3
        want = _host(og.state_dict()["state"][0]["exp_avg"])
        np.testing.assert_allclose(_host(exp_avg), want, rtol=1e-6)
    if name == "lbfgs":  # the history lands on the parameters' device
        assert all(
            str(pydlk.tensor(d).device) == "cpu" for d in oc2.state_dict()["state"][0]["old_dirs"]
        )
    _train(mc, oc, xc, yc, 2)
    _train(mg, og, xg, yg, 2)
    _train(mc2, oc2, xc, yc, 2)
    _train(mg2, og2, xg, yg, 2)
    for a, b, c, d in zip(mc.parameters(), mg.parameters(), mc2.parameters(), mg2.parameters()):
        assert str(c.device) == "cpu" and str(d.device) == "cuda:0"
        for other in (b, c, d):
            np.testing.assert_allclose(_host(other), _host(a), rtol=1e-4, atol=1e-5)


class _SignMomentum(optim.Optimizer):
    """A torch-style optimiser with its own step: a plain per-parameter state."""

    def __init__(self, params, lr=0.1):
        super().__init__(params, dict(lr=lr))

    @pydlk.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if "m" not in st:
                    st["m"] = pydlk.zeros_like(p)
                    st["history"] = [pydlk.zeros_like(p)]
                st["m"].mul_(0.5).add_(p.grad)
                st["history"][0].add_(1.0)
                p.add_(st["m"].sign(), alpha=-group["lr"])


def test_gpu_round2_custom_optimizer_state_lands_on_the_parameters_device():
    """torch's load_state_dict casts a plain state's Tensors (in lists too) to the parameter's
    device: a GPU-trained state loaded into a CPU optimizer steps there."""
    cp = _cupy()
    wg = pydlk.tensor(cp.asarray(np.array([1.0, -2.0], np.float32)), requires_grad=True)
    og = _SignMomentum([wg])
    for _ in range(2):
        og.zero_grad()
        (wg * wg).sum().backward()
        og.step()
    wc = pydlk.tensor(_host(wg), requires_grad=True)
    oc = _SignMomentum([wc])
    oc.load_state_dict(og.state_dict())
    (st,) = oc.state.values()
    assert str(st["m"].device) == "cpu" and str(st["history"][0].device) == "cpu"
    # m after two steps on w = (1, -2) -> (0.9, -1.9): 0.5 * 2w0 + 2w1
    np.testing.assert_allclose(_host(st["m"]), [0.5 * 2 + 1.8, 0.5 * -4 - 3.8], rtol=1e-6)
    oc.zero_grad()
    (wc * wc).sum().backward()
    oc.step()
    np.testing.assert_allclose(_host(wc), [0.7, -1.7], rtol=1e-6)
    og2 = _SignMomentum([wg])
    og2.load_state_dict(oc.state_dict())
    (st,) = og2.state.values()
    assert str(st["m"].device) == "cuda:0" and str(st["history"][0].device) == "cuda:0"


@pytest.mark.parametrize("cls", ["Embedding", "EmbeddingBag"])
def test_gpu_round2_from_pretrained_keeps_gpu_weights_on_the_gpu(cls, rng):
    """from_pretrained of a GPU Tensor builds the layer on that GPU (it raised: np.asarray of a
    device array), also after set_default_device('cpu'), which moved given tensors to the CPU."""
    cp = _cupy()
    w = rng.standard_normal((6, 3)).astype(np.float32)
    idx = np.array([[1, 2], [3, 1]])
    layer = getattr(nn, cls)
    for default in (None, "cpu"):
        wg = pydlk.tensor(cp.asarray(w))
        if default is not None:
            pydlk.set_default_device(default)
        try:
            eg = layer.from_pretrained(wg, freeze=False)
        finally:
            pydlk.set_default_device(None)
        ec = layer.from_pretrained(pydlk.tensor(w), freeze=False)
        assert str(eg.weight.device) == "cuda:0"
        yg, yc = eg(pydlk.tensor(cp.asarray(idx))), ec(pydlk.tensor(idx))
        assert str(yg.device) == "cuda:0"
        want = w[idx] if cls == "Embedding" else w[idx].mean(1)
        np.testing.assert_allclose(_host(yg), want, rtol=1e-6)
        np.testing.assert_allclose(_host(yg), _host(yc), rtol=1e-6)
        (yg**2).sum().backward()
        (yc**2).sum().backward()
        np.testing.assert_allclose(_host(eg.weight.grad), _host(ec.weight.grad), rtol=1e-6)
    raw = nn.Embedding(6, 3, _weight=cp.asarray(w))  # a bare CuPy array, as a NumPy one
    assert str(raw.weight.device) == "cuda:0"


def test_gpu_round2_data_parallel_moves_a_cpu_batch_to_the_models_gpu(rng):
    """torch's DataParallel scatters the inputs to the module's GPU: a CPU batch into a wrapped
    GPU model works, and output_device=-1 gathers on the CPU."""
    _cupy()
    pydlk.manual_seed(0)
    lin = nn.Linear(3, 2)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    want = x @ _host(lin.weight).T + _host(lin.bias)
    dp = nn.DataParallel(lin).cuda()
    y = dp(pydlk.tensor(x))
    assert str(y.device) == "cuda:0"
    np.testing.assert_allclose(_host(y), want, rtol=1e-5, atol=1e-6)
    y.sum().backward()
    assert str(lin.weight.grad.device) == "cuda:0"
    np.testing.assert_allclose(_host(lin.weight.grad), np.tile(x.sum(0), (2, 1)), rtol=1e-5)
    y = nn.DataParallel(lin, device_ids=[0], output_device=-1)(input=pydlk.tensor(x))
    assert str(y.device) == "cpu"
    np.testing.assert_allclose(_host(y), want, rtol=1e-5, atol=1e-6)
    y = nn.parallel.data_parallel(lin, pydlk.tensor(x))
    assert str(y.device) == "cuda:0"


def test_gpu_round2_layers_take_cupy_arrays_as_they_take_numpy_ones(rng):
    """Bare CuPy arrays where NumPy arrays are accepted: a buffer, an LSTM's input and state,
    AdditiveAttention's query and mask (each raised: np.asarray of a device array); and
    AdditiveAttention takes device= as the other layers do."""
    cp = _cupy()
    m = nn.Module()
    m.register_buffer("b", cp.arange(3, dtype=cp.float32))
    assert str(m.b.device) == "cuda:0"
    m.b = cp.ones(2, dtype=cp.float32)
    assert str(m.b.device) == "cuda:0" and _host(m.b).tolist() == [1.0, 1.0]
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    h0 = rng.standard_normal((1, 2, 4)).astype(np.float32)
    pydlk.manual_seed(0)
    lc = nn.LSTM(3, 4)
    lg = nn.LSTM(3, 4)
    lg.load_state_dict(lc.state_dict())
    lg.cuda()
    yc, (hc, cc) = lc(x, (h0, np.zeros_like(h0)))
    yg, (hg, cg) = lg(cp.asarray(x), (cp.asarray(h0), cp.zeros_like(cp.asarray(h0))))
    assert str(yg.device) == "cuda:0"
    np.testing.assert_allclose(_host(yg), _host(yc), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_host(hg[0]), _host(yg[-1]), rtol=1e-6)  # last step's output
    q = rng.standard_normal((2, 3, 4)).astype(np.float32)
    kv = rng.standard_normal((2, 5, 4)).astype(np.float32)
    mask = np.ones((2, 3, 5), bool)
    mask[:, :, 0] = False
    pydlk.manual_seed(0)
    ac = nn.AdditiveAttention(4, 4, 6)
    pydlk.manual_seed(0)
    ag = nn.AdditiveAttention(4, 4, 6, device="cuda")
    assert all(str(p.device) == "cuda:0" for p in ag.parameters())
    oc, wc = ac(q, pydlk.tensor(kv), pydlk.tensor(kv), mask=mask)
    og, wgt = ag(
        cp.asarray(q),
        pydlk.tensor(cp.asarray(kv)),
        pydlk.tensor(cp.asarray(kv)),
        mask=cp.asarray(mask),
    )
    assert str(og.device) == "cuda:0"
    np.testing.assert_allclose(_host(og), _host(oc), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_host(wgt)[:, :, 0], 0.0)  # the masked key gets no weight
    np.testing.assert_allclose(_host(wgt).sum(-1), 1.0, rtol=1e-5)
