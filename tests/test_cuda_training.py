"""Training on a GPU: the optimiser arena on the parameters' device, every optimiser against
torch (CPU) on the same numbers, zero_grad, clip_grad_norm_, EMA/SWA, device errors, fit with
device=, and the CUDA graph API's errors.

``test_gpu_*`` tests need CuPy arrays: they run on a GPU, and on the CPU through
tools/run_cuda_tests_on_host.py (the CuPy stand-in of tools/cupy_host_emulator.py, kernels
compiled as C++); otherwise they skip. The rest run everywhere.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
import pydlk.functional as F
from pydlk import nn

torch = pytest.importorskip("torch")


_cupy = cupy_or_skip


def _real_gpu():
    cp = _cupy()
    if getattr(cp, "__host_emulator__", False):
        pytest.skip("needs a real GPU (streams, graphs)")
    return cp


_host = host


# --------------------------------------------------------------------- optimisers on the GPU

OPTIMISERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("Adadelta", dict(lr=1.0)),
]


def _grads(rng, shapes, steps):
    return [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]


@pytest.mark.parametrize(
    "name,kw", OPTIMISERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPTIMISERS)]
)
def test_gpu_optimiser_steps_match_torch(name, kw, rng):
    """The arena on the GPU (CuPy buffers), three steps with given gradients, against
    torch.optim on the CPU in float64."""
    cp = _cupy()
    shapes = [(4, 3), (3,), (2, 2, 3)]
    init = [rng.standard_normal(s) for s in shapes]
    grads = _grads(rng, shapes, 3)
    ps = [pydlk.tensor(cp.asarray(a), requires_grad=True) for a in init]
    opt = getattr(pydlk.optim, name)(ps, **kw)
    arena = opt._arenas[0][0]
    assert isinstance(arena.param, cp.ndarray) and isinstance(arena.grad, cp.ndarray)
    assert all(isinstance(s, cp.ndarray) for s in arena.state.values())
    tp = [torch.tensor(a, requires_grad=True) for a in init]
    topt = getattr(torch.optim, name)(tp, **kw)
    for gs in grads:
        for p, t, g in zip(ps, tp, gs):
            p.grad = pydlk.tensor(cp.asarray(g))
            t.grad = torch.tensor(g)
        opt.step()
        topt.step()
    for p, t in zip(ps, tp):
        assert isinstance(p._data, cp.ndarray)
        np.testing.assert_allclose(_host(p), t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_gpu_l1_and_max_norm_match_the_formula(rng):
    """SGD with l1_weight_decay and max_norm (no torch counterpart): the NumPy formula."""
    cp = _cupy()
    w0, g = rng.standard_normal((5, 4)) * 3, rng.standard_normal((5, 4))
    w = pydlk.tensor(cp.asarray(w0), requires_grad=True)
    opt = pydlk.optim.SGD([w], lr=0.1, l1_weight_decay=0.05, max_norm=1.5)
    w.grad = pydlk.tensor(cp.asarray(g))
    opt.step()
    ref = w0 - 0.1 * (g + 0.05 * np.sign(w0))
    norms = np.sqrt((ref**2).sum(axis=1, keepdims=True))
    ref = np.where(norms > 1.5, ref * 1.5 / norms, ref)
    np.testing.assert_allclose(_host(w), ref, rtol=1e-12)


def test_gpu_zero_grad_clip_and_backward_write_into_the_device_arena(rng):
    cp = _cupy()
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)).double().to("cuda")
    opt = pydlk.optim.SGD(model.parameters(), lr=0.1)
    x = pydlk.tensor(cp.asarray(rng.standard_normal((8, 4))))
    (model(x) ** 2).sum().backward()
    arena = opt._arenas[0][0]
    flat = _host(arena.grad)
    assert np.abs(flat).sum() > 0
    want = np.sqrt((flat**2).sum())
    total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=want / 2)
    assert total.device == "cuda:0"
    np.testing.assert_allclose(float(total.item()), want, rtol=1e-12)
    np.testing.assert_allclose(_host(arena.grad), flat * (want / 2) / (want + 1e-6), rtol=1e-12)
    opt.zero_grad(set_to_none=False)
    assert not _host(arena.grad).any()


def test_gpu_ema_and_swa_average_on_the_device(rng):
    cp = _cupy()
    w = pydlk.tensor(cp.asarray(rng.standard_normal((3, 4))), requires_grad=True)
    opt = pydlk.optim.SGD([w], lr=0.5)
    ema = pydlk.optim.swa_utils.ExponentialMovingAverage(opt, decay=0.9)
    avg = _host(w).copy()
    for _ in range(3):
        w.grad = pydlk.tensor(cp.asarray(rng.standard_normal((3, 4))))
        opt.step()
        ema.update()
        avg = 0.9 * avg + 0.1 * _host(w)
    assert isinstance(ema.shadow[0], cp.ndarray)
    np.testing.assert_allclose(_host(ema.shadow[0]).reshape(3, 4), avg, rtol=1e-12)


def test_gpu_lbfgs_minimises_a_quadratic_like_torch(rng):
    """L-BFGS with a strong-Wolfe line search on the GPU against torch's on the CPU (float64),
    and near the solution of Q x = b."""
    cp = _cupy()
    a = rng.standard_normal((4, 4))
    q, b = a @ a.T + np.eye(4), rng.standard_normal(4)
    x = pydlk.tensor(cp.asarray(np.zeros(4)), requires_grad=True)
    opt = pydlk.optim.LBFGS([x], lr=1, max_iter=20, line_search_fn="strong_wolfe")
    qc, bc = pydlk.tensor(cp.asarray(q)), pydlk.tensor(cp.asarray(b))

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x * (qc @ x)).sum() - (bc * x).sum()
        loss.backward()
        return loss

    opt.step(closure)
    tx = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    topt = torch.optim.LBFGS([tx], lr=1, max_iter=20, line_search_fn="strong_wolfe")
    tq, tb = torch.tensor(q), torch.tensor(b)

    def tclosure():
        topt.zero_grad()
        loss = 0.5 * (tx * (tq @ tx)).sum() - (tb * tx).sum()
        loss.backward()
        return loss

    topt.step(tclosure)
    np.testing.assert_allclose(_host(x), tx.detach().numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(_host(x), np.linalg.solve(q, b), rtol=1e-3, atol=1e-4)


CAPTURABLE = [
    ("Adam", dict(lr=0.01, weight_decay=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.9), amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("name,kw", CAPTURABLE, ids=["adam", "amsgrad", "adamw"])
def test_gpu_capturable_adam_keeps_its_step_on_the_device(name, kw, rng):
    """capturable=True: the step count is a device array the kernel reads; six steps against
    torch.optim (CPU, float64, the step count on the host); state_dict reads the device count
    back and load_state_dict writes it."""
    cp = _cupy()
    shapes = [(4, 3), (5,)]
    init = [rng.standard_normal(s) for s in shapes]
    ps = [pydlk.tensor(cp.asarray(a), requires_grad=True) for a in init]
    opt = getattr(pydlk.optim, name)(ps, capturable=True, **kw)
    tp = [torch.tensor(a, requires_grad=True) for a in init]
    topt = getattr(torch.optim, name)(tp, **kw)
    for gs in _grads(rng, shapes, 6):
        for p, t, g in zip(ps, tp, gs):
            p.grad = pydlk.tensor(cp.asarray(g))
            t.grad = torch.tensor(g)
        opt.step()
        topt.step()
    arena = opt._arenas[0][0]
    assert isinstance(arena.step_t, cp.ndarray) and float(arena.step_t[0]) == 6.0
    for p, t in zip(ps, tp):
        np.testing.assert_allclose(_host(p), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    arena.step = 0  # stale host count (as after graph replays): state_dict asks the device
    sd = opt.state_dict()
    assert sd["state"][0]["step"] == 6
    sd["state"][0]["step"] = sd["state"][1]["step"] = 2
    opt.load_state_dict(sd)
    assert float(arena.step_t[0]) == 2.0


def test_gpu_capturable_adam_kernel_replays_with_frozen_arguments(rng):
    """What a CUDA graph replay does: the same launch arguments every time, only device memory
    changes (the gradient buffer refilled, the device step advanced by a device op). Five such
    launches of adam_step equal five torch Adam steps, so no launch argument depends on the
    step (float64)."""
    cp = _cupy()
    from pydlk import _cuda

    n, kw = 7, dict(lr=0.05, betas=(0.85, 0.95), eps=1e-6, weight_decay=0.02)
    p0 = rng.standard_normal(n)
    p, m, v, g = cp.asarray(p0), cp.zeros(n), cp.zeros(n), cp.zeros(n)
    step = cp.zeros(1)
    args = (p, m, v, None, g, kw["lr"], *kw["betas"], kw["eps"], kw["weight_decay"], 0.0, step)
    tp = torch.tensor(p0, requires_grad=True)
    topt = torch.optim.Adam([tp], **kw)
    for _ in range(5):
        gh = rng.standard_normal(n)
        g[...] = cp.asarray(gh)
        step += 1
        _cuda.adam_step(*args)
        tp.grad = torch.tensor(gh)
        topt.step()
    np.testing.assert_allclose(_host(p), tp.detach().numpy(), rtol=1e-12, atol=1e-14)
    with pytest.raises(TypeError, match="adam_step: step must be an int >= 1 or a one-element"):
        _cuda.adam_step(*args[:-1], cp.zeros(2))
    with pytest.raises(TypeError, match="adam_step: step must be"):
        _cuda.adam_step(*args[:-1], np.ones(1))


class _CubeWrongAtTwo(pydlk.Function):
    """x**3 with a backward wrong at element 2 (a planted error gradcheck must find)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        d = 3 * x * x * g
        d[2] *= 1.5
        return d


def test_gpu_gradcheck_in_float64_on_the_device(rng):
    """gradcheck and gradgradcheck on CuPy float64 inputs: the function runs on the device
    (a host dy or a host copy of an input would be refused as a mixed-device op), the inputs
    stay CuPy arrays, and a planted wrong backward on the device is found and named."""
    cp = _cupy()
    x = pydlk.tensor(cp.asarray(rng.standard_normal((2, 3, 5, 5))), requires_grad=True)
    w = pydlk.tensor(cp.asarray(rng.standard_normal((4, 3, 3, 3))), requires_grad=True)
    assert pydlk.gradcheck(lambda a, b: F.conv2d(a, b, padding=1).tanh(), (x, w))
    assert isinstance(x._data, cp.ndarray) and isinstance(w._data, cp.ndarray)
    v = pydlk.tensor(cp.asarray(rng.standard_normal(5) + 2), requires_grad=True)
    assert pydlk.gradgradcheck(lambda a: a * a * a, (v,))
    with pytest.raises(pydlk.GradcheckError, match=r"input 0 \(shape \(5,\)\) element \(2,\)"):
        pydlk.gradcheck(_CubeWrongAtTwo.apply, (v,))


def test_gpu_doctor_on_a_gpu_model_matches_the_cpu(rng):
    """pydlk.doctor with make_model returning a CUDA model: every check runs on the device
    and passes, and the numbers match the same checks on the CPU."""
    _cupy()
    from pydlk.doctor import doctor

    x = rng.standard_normal((200, 8)).astype(np.float32)
    y = rng.integers(0, 3, 200)

    def make(device):
        def build():
            pydlk.manual_seed(3)
            m = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 3))
            with pydlk.no_grad():
                m[-1].weight._data *= 0.1  # initial loss near ln(3)
            return m.to(device)

        return build

    gpu = doctor(make("cuda"), nn.CrossEntropyLoss(), x, y, verbose=False)
    cpu = doctor(make("cpu"), nn.CrossEntropyLoss(), x, y, verbose=False)
    assert [c.ok for c in gpu] == [True] * 4, [c.line() for c in gpu]
    np.testing.assert_allclose(gpu[0].numbers["loss"], cpu[0].numbers["loss"], rtol=1e-5)
    assert gpu[1].numbers["relative_error"] < 1e-5
    np.testing.assert_allclose(gpu[2].numbers["loss"], cpu[2].numbers["loss"], atol=2e-3)
    np.testing.assert_allclose(gpu[3].numbers["losses"][:10], cpu[3].numbers["losses"][:10], 1e-4)


def _train(model, opt, x, y, steps):
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x.to(next(model.parameters()).device)), y.to(x.device)).backward()
        opt.step()


def test_gpu_model_moved_after_its_optimiser_takes_it_along(rng):
    """torch scripts often build the optimiser before model.to(device): the optimiser's
    buffers and state move with the model (when the model moves all of them), so training
    equals building it after the move, and a round trip to the CPU mid-training changes
    nothing."""
    cp = _cupy()
    x = pydlk.tensor(cp.asarray(rng.standard_normal((8, 3)).astype(np.float32)))
    y = pydlk.tensor(cp.asarray(rng.integers(0, 2, 8)))

    def build(move_first):
        pydlk.manual_seed(0)
        m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        if move_first:
            m.cuda()
        opt = pydlk.optim.Adam(m.parameters(), lr=0.05, weight_decay=0.01)
        return m, opt

    m1, o1 = build(True)
    _train(m1, o1, x, y, 4)
    m2, o2 = build(False)
    m2.cuda()  # after the optimiser: it comes along
    _train(m2, o2, x, y, 2)
    m2.cpu()  # with its Adam state
    assert str(next(m2.parameters()).device) == "cpu"
    _train(m2, o2, x.cpu(), y.cpu(), 1)
    m2.cuda()
    _train(m2, o2, x, y, 1)
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert str(b.device) == "cuda:0" and str(b.grad.device) == "cuda:0"
        np.testing.assert_allclose(_host(b), _host(a), rtol=1e-5, atol=1e-6)
    assert o2.state_dict()["state"][0]["step"] == 4


def test_gpu_model_partly_moved_after_its_optimiser_is_refused(rng):
    """An optimiser whose parameters would end up on two devices stays where it was and says
    what to do."""
    _cupy()
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2)).to("cuda")
    opt = pydlk.optim.Adam(model.parameters())
    model[0].cpu()
    with pytest.raises(RuntimeError, match=r"moved to cpu after the optimizer was built.*model.to"):
        opt.step()
    with pytest.raises(RuntimeError, match="moved to cpu"):
        opt.zero_grad()
    # LBFGS keeps its history outside the arena: after a step it cannot come along
    lin = nn.Linear(3, 1).to("cuda")
    lbfgs = pydlk.optim.LBFGS(lin.parameters(), max_iter=2)
    xb = pydlk.ones(4, 3, device="cuda")

    def closure():
        lbfgs.zero_grad()
        loss = lin(xb).square().sum()
        loss.backward()
        return loss

    lbfgs.step(closure)
    lin.cpu()
    with pytest.raises(RuntimeError, match="moved to cpu"):
        lbfgs.step(closure)


def test_gpu_mixed_devices_in_one_op_name_both(rng):
    cp = _cupy()
    x = pydlk.tensor(cp.asarray(rng.standard_normal((2, 3)).astype(np.float32)))
    w = pydlk.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    with pytest.raises(RuntimeError, match=r"Linear: .*same device.*cuda:0 and cpu"):
        F.linear(x, w)
    with pytest.raises(RuntimeError, match="cuda:0 and cpu"):
        x + pydlk.tensor(np.ones((2, 3), np.float32))
    y = x * pydlk.tensor(np.float32(2.0))  # a 0-d CPU tensor is a scalar, as in torch
    np.testing.assert_allclose(_host(y), 2 * _host(x))
    # ... copied to the GPU (CuPy takes no NumPy operand), its gradient back on the CPU
    s = pydlk.tensor(np.float32(3.0), requires_grad=True)
    xg = x.detach().requires_grad_()
    (s * xg).sum().backward()
    assert str(s.grad.device) == "cpu" and str(xg.grad.device) == "cuda:0"
    np.testing.assert_allclose(s.grad.numpy(), _host(x).sum(), rtol=1e-6)
    np.testing.assert_allclose(_host(xg.grad), np.full((2, 3), 3.0))


def test_gpu_layers_honour_device(rng):
    cp = _cupy()
    for m in (nn.Linear(3, 2, device="cuda"), nn.Conv2d(1, 2, 3, device="cuda:0")):
        assert all(isinstance(p._data, cp.ndarray) for p in m.parameters())
    bn = nn.BatchNorm2d(3, device="cuda")
    assert isinstance(bn.running_mean._data, cp.ndarray)
    t = pydlk.zeros(2, 3, device="cuda")
    assert t.device == "cuda:0" and isinstance(t._data, cp.ndarray)


def test_gpu_fit_on_device_matches_cpu(rng):
    """Two epochs of fit on device='cuda' against the same run on the CPU (float64)."""
    cp = _cupy()
    from pydlk.data import DataLoader, TensorDataset
    from pydlk.train import fit

    x = rng.standard_normal((32, 5))
    y = rng.integers(0, 3, 32)

    def run(device):
        pydlk.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)).double().to(device)
        opt = pydlk.optim.Adam(model.parameters(), lr=0.01)
        loader = DataLoader(TensorDataset(x, y), batch_size=8)
        h = fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=2, verbose=False, device=device)
        return [_host(p) for p in model.parameters()], h

    gpu, hg = run("cuda")
    cpu, hc = run("cpu")
    for a, b in zip(gpu, cpu):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hg.history["loss"], hc.history["loss"], rtol=1e-9)
    assert cp is not None


def test_gpu_fit_refuses_a_model_on_another_device(rng):
    _cupy()
    from pydlk.data import DataLoader, TensorDataset
    from pydlk.train import fit

    model = nn.Linear(3, 2)
    opt = pydlk.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(np.ones((4, 3)), np.zeros(4, np.int64)), batch_size=2)
    with pytest.raises(
        ValueError, match=r"fit: device='cuda' but the model's parameters are on cpu"
    ):
        fit(model, nn.CrossEntropyLoss(), opt, loader, verbose=False, device="cuda")


GRAPHED_OPTIMISERS = [
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("Adam", dict(lr=0.01, capturable=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, capturable=True)),
]


@pytest.mark.parametrize("name,kw", GRAPHED_OPTIMISERS, ids=["sgd", "adam", "adamw"])
def test_cuda_graph_replay_equals_the_eager_step(name, kw, rng):
    """A captured step replayed against the same steps run eagerly (real GPU only); with
    capturable Adam each replay applies that step's bias correction."""
    cp = _real_gpu()

    def build():
        pydlk.manual_seed(0)
        m = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).to("cuda")
        return m, getattr(pydlk.optim, name)(m.parameters(), **kw)

    batches = [
        (
            cp.asarray(rng.standard_normal((16, 6)).astype(np.float32)),
            cp.asarray(rng.integers(0, 3, 16)),
        )
        for _ in range(5)
    ]
    loss_fn = nn.CrossEntropyLoss()
    m1, o1 = build()
    step = pydlk.cuda.graph_train_step(m1, loss_fn, o1, *batches[0], num_warmup_iters=1)
    for bx, by in batches[1:]:
        step(bx, by)
    m2, o2 = build()
    for bx, by in batches:
        o2.zero_grad()
        loss_fn(m2(pydlk.tensor(bx)), pydlk.tensor(by)).backward()
        o2.step()
    for a, b in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(_host(a), _host(b), rtol=1e-5, atol=1e-6)


def _nll_of_log_softmax(out, y):
    return F.nll_loss(F.log_softmax(out, 1), y)


CAPTURED_LOSSES = {
    "cross_entropy": lambda cp: nn.CrossEntropyLoss(),
    "cross_entropy_sum": lambda cp: nn.CrossEntropyLoss(reduction="sum"),
    "cross_entropy_weight_ignore_smoothing": lambda cp: nn.CrossEntropyLoss(
        weight=pydlk.tensor(cp.asarray(np.array([0.5, 2.0, 1.0], np.float32))),
        ignore_index=1,
        label_smoothing=0.1,
    ),
    "nll": lambda cp: _nll_of_log_softmax,
    "multi_margin": lambda cp: nn.MultiMarginLoss(),
}


@pytest.mark.parametrize("name", CAPTURED_LOSSES)
def test_gpu_graph_capture_of_a_step_reads_nothing_back(name, rng):
    """Capturing a step copies nothing between host and device (CuPy refuses it while a stream
    is captured; the host emulation raises as CuPy does): the losses keep their sums, divisors
    and upstream gradients on the device. On a GPU the replays then train as the eager steps."""
    cp = _cupy()

    def build():
        pydlk.manual_seed(0)
        m = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).to("cuda")
        return m, pydlk.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)

    batches = [
        (
            cp.asarray(rng.standard_normal((16, 6)).astype(np.float32)),
            cp.asarray(rng.integers(0, 3, 16)),
        )
        for _ in range(3)
    ]
    loss_fn = CAPTURED_LOSSES[name](cp)
    m1, o1 = build()
    step = pydlk.cuda.graph_train_step(m1, loss_fn, o1, *batches[0], num_warmup_iters=1)
    # a host batch is copied into the static inputs (the host emulation: the capture's own run)
    assert np.isfinite(_host(step(*(b.get() for b in batches[0]))))
    if getattr(cp, "__host_emulator__", False):
        return
    for bx, by in batches[1:]:
        step(bx, by)
    m2, o2 = build()
    for bx, by in [batches[0]] * 3 + batches[1:]:  # warm-up, capture (runs nothing), replays
        o2.zero_grad()
        loss_fn(m2(pydlk.tensor(bx)), pydlk.tensor(by)).backward()
        o2.step()
    for a, b in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(_host(a), _host(b), rtol=1e-5, atol=1e-6)


def test_gpu_loss_out_of_range_class_is_an_error_eagerly_and_nan_when_captured(rng):
    """Eagerly a class out of range raises, naming it, as on the CPU. Under capture nothing
    can be read back to check it: the kernels give NaN for that sample and read nothing
    outside the input."""
    cp = _cupy()
    x = pydlk.tensor(cp.asarray(rng.standard_normal((4, 3)).astype(np.float32)))
    bad = pydlk.tensor(cp.asarray(np.array([0, 5, 1, 2])))
    with pytest.raises(ValueError, match="target has value 5 at flat index 1"):
        F.cross_entropy(x, bad)
    F.cross_entropy(x, pydlk.tensor(cp.asarray(np.array([0, 1, 1, 2]))))  # compiled, pooled
    g = pydlk.cuda.CUDAGraph()
    with pydlk.cuda.graph(g):
        per = F.cross_entropy(x, bad, reduction="none")
        mean = F.cross_entropy(x, bad)
        nll = F.nll_loss(x, bad, reduction="none")
    g.replay()
    pydlk.cuda.synchronize()
    for v in (per, nll):
        h = _host(v)
        assert np.isnan(h[1]) and np.isfinite(h[[0, 2, 3]]).all()
    assert np.isnan(_host(mean))


def test_gpu_graph_capture_reports_the_error_of_its_body():
    """An error inside ``with graph(g)`` is the one raised, not CUDA's 'capture invalidated'
    from ending the capture after it; the stream is no longer capturing afterwards."""
    cp = _cupy()
    g = pydlk.cuda.CUDAGraph()
    end = g._stream.end_capture

    def invalidated():
        end()
        raise RuntimeError("cudaErrorStreamCaptureInvalidated")

    g._stream.end_capture = invalidated
    with pytest.raises(ValueError, match="in the body"):
        with pydlk.cuda.graph(g):
            raise ValueError("in the body")
    assert not g._stream.is_capturing()
    assert cp.cuda.get_current_stream() is not g._stream


# --------------------------------------------------------------------------- everywhere


def test_graph_api_says_when_there_is_no_gpu():
    if pydlk.cuda.is_available():
        pytest.skip("a GPU is present")
    for make in (
        pydlk.cuda.CUDAGraph,
        lambda: pydlk.cuda.make_graphed_callables(lambda x: x, (pydlk.zeros(2),)),
        lambda: pydlk.cuda.graph_train_step(None, None, None, None, None),
    ):
        with pytest.raises(RuntimeError, match="CUDA graphs need a CUDA GPU and CuPy"):
            make()
    with pytest.raises(TypeError, match="expected a pydlk.cuda.CUDAGraph"):
        with pydlk.cuda.graph(object()):
            pass


def test_graph_train_step_refuses_what_a_replay_would_freeze():
    from pydlk.cuda.graphs import _check_graphable

    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    sgd = pydlk.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="Adam's bias correction"):
        _check_graphable(nn.Linear(2, 2), pydlk.optim.Adam(nn.Linear(2, 2).parameters()), None)
    with pytest.raises(ValueError, match="scheduler"):
        _check_graphable(nn.Linear(2, 2), sgd, pydlk.optim.lr_scheduler.StepLR(sgd, 1))
    with pytest.raises(ValueError, match="Dropout's mask offset"):
        _check_graphable(m, sgd, None)
    _check_graphable(m.eval(), sgd, None)  # eval-mode dropout is the identity
    with pytest.raises(ValueError, match="capturable=True"):
        _check_graphable(nn.Linear(2, 2), pydlk.optim.AdamW(nn.Linear(2, 2).parameters()), None)
    for cls in (pydlk.optim.Adam, pydlk.optim.AdamW):  # the step count on the device replays
        _check_graphable(nn.Linear(2, 2), cls(nn.Linear(2, 2).parameters(), capturable=True), None)


def test_fit_cuda_graph_needs_a_cuda_device():
    from pydlk.data import DataLoader, TensorDataset
    from pydlk.train import fit

    model = nn.Linear(3, 2)
    opt = pydlk.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(np.ones((4, 3)), np.zeros(4, np.int64)), batch_size=2)
    with pytest.raises(ValueError, match="cuda_graph=True needs device='cuda'"):
        fit(model, nn.CrossEntropyLoss(), opt, loader, verbose=False, cuda_graph=True)
    with pytest.raises(ValueError, match="cuda_graph=True needs device='cuda'"):
        fit(model, nn.CrossEntropyLoss(), opt, loader, verbose=False, device="cpu", cuda_graph=True)


def test_fit_device_cpu_is_the_plain_run(rng):
    from pydlk.data import DataLoader, TensorDataset
    from pydlk.train import fit

    x, y = rng.standard_normal((12, 3)), rng.integers(0, 2, 12)

    def run(**kw):
        pydlk.manual_seed(1)
        model = nn.Linear(3, 2).double()
        opt = pydlk.optim.SGD(model.parameters(), lr=0.1)
        fit(
            model,
            nn.CrossEntropyLoss(),
            opt,
            DataLoader(TensorDataset(x, y), batch_size=4),
            verbose=False,
            **kw,
        )
        return [p.detach().numpy() for p in model.parameters()]

    for a, b in zip(run(), run(device="cpu")):
        np.testing.assert_array_equal(a, b)


def _cli(*args):
    from conftest import child_env

    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pydlk import cli; sys.exit(cli.main(sys.argv[1:]))",
            *args,
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=os.path.dirname(os.__file__),
        timeout=300,
    )


def test_cli_train_device_flag_is_checked():
    r = _cli("train", "--device", "tpu", "--epochs", "0")
    assert r.returncode == 2 and "--device must be cpu, cuda or cuda:N, got 'tpu'" in r.stderr
    if not pydlk.cuda.is_available():
        r = _cli("train", "--device", "cuda", "--epochs", "0")
        assert r.returncode == 2 and "--device cuda: no CUDA GPU is available" in r.stderr


def test_cli_info_says_whether_there_is_a_gpu():
    r = _cli("info")
    assert r.returncode == 0, r.stderr
    cp = sys.modules.get("cupy")
    if getattr(cp, "__host_emulator__", False):  # the child process sees no stand-in
        assert "no GPU" in r.stdout
    elif pydlk.cuda.is_available():
        for k in ("GPU", "driver", "CuPy", "cuDNN"):
            assert k in r.stdout
    else:
        assert "no GPU" in r.stdout


def test_layers_accept_device_cpu_and_check_cuda():
    assert nn.Linear(2, 3, device="cpu").weight.device == "cpu"
    if not pydlk.cuda.is_available():
        with pytest.raises(RuntimeError, match="Linear: device='cuda' needs a CUDA GPU"):
            nn.Linear(2, 3, device="cuda")
        with pytest.raises(RuntimeError, match="cuda: CuPy is not installed|no.*CUDA device"):
            pydlk.zeros(2, device="cuda")
