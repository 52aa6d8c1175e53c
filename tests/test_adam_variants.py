"""Adamax, NAdam and RAdam against torch.optim on the same parameters and gradients, every
option, several steps (RAdam past its rectification threshold), state_dict round trip, errors,
and GPU arenas against the CPU."""

import numpy as np
import pytest

import pydlk

torch = pytest.importorskip("torch")

CASES = [
    ("Adamax", {}),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, maximize=True)),
    ("NAdam", {}),
    ("NAdam", dict(lr=0.01, weight_decay=0.05, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", {}),
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.9), weight_decay=0.05)),
    ("RAdam", dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True)),
]


def _run(lib, name, kw, steps, w0, grads, device=None):
    p = lib.tensor(w0.copy(), requires_grad=True)
    if device is not None:
        p = p.to(device).detach().requires_grad_()
    opt = getattr(lib.optim, name)([p], **kw)
    for g in grads[:steps]:
        opt.zero_grad()
        gt = lib.tensor(g)
        p.grad = gt if device is None else gt.to(device)
        opt.step()
    return p, opt


@pytest.mark.parametrize("name,kw", CASES)
def test_matches_torch_over_steps(name, kw):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(12)]  # RAdam: rho_t > 5 from step 6
    ours, _ = _run(pydlk, name, kw, 12, w0, grads)
    theirs, _ = _run(torch, name, kw, 12, w0, grads)
    # float64 parameters; torch keeps NAdam's running product in float32 (its scalar dtype)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("name,kw", CASES[::2])
def test_state_dict_resumes_the_same_steps(name, kw):
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(8)]
    whole, _ = _run(pydlk, name, kw, 8, w0, grads)
    p, opt = _run(pydlk, name, kw, 3, w0, grads)
    sd = opt.state_dict()
    q = pydlk.tensor(p.detach().numpy().copy(), requires_grad=True)
    opt2 = getattr(pydlk.optim, name)([q], **kw)
    opt2.load_state_dict(sd)
    for g in grads[3:8]:
        q.grad = pydlk.tensor(g)
        opt2.step()
    np.testing.assert_allclose(q.detach().numpy(), whole.detach().numpy(), rtol=1e-12)
    theirs = getattr(torch.optim, name)([torch.zeros(5, requires_grad=True)], **kw)
    assert sorted(sd["state"][0]) == sorted(
        k
        for k in ("step", "exp_avg", "exp_avg_sq", "exp_inf")
        if k
        in (
            {"exp_avg", "exp_inf", "step"}
            if name == "Adamax"
            else {"exp_avg", "exp_avg_sq", "step"}
        )
    )
    assert theirs.defaults.keys() <= sd["param_groups"][0].keys() | {"params"}


def test_arguments_are_checked():
    p = [pydlk.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="Adamax: invalid beta parameter at index 0"):
        pydlk.optim.Adamax(p, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="NAdam: invalid momentum_decay"):
        pydlk.optim.NAdam(p, momentum_decay=-1)
    with pytest.raises(ValueError, match="RAdam: .*lr"):
        pydlk.optim.RAdam(p, lr=-1)


@pytest.mark.parametrize("name,kw", CASES[1::3])
def test_gpu_arenas_match_the_cpu(name, kw):
    from _gpu_helpers import cupy_or_skip, host

    cupy_or_skip()
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((3, 3)).astype(np.float32)
    grads = [rng.standard_normal((3, 3)).astype(np.float32) for _ in range(7)]
    cpu, _ = _run(pydlk, name, kw, 7, w0, grads)
    gpu, _ = _run(pydlk, name, kw, 7, w0, grads, device="cuda")
    assert str(gpu.device) == "cuda:0"
    np.testing.assert_allclose(host(gpu), cpu.detach().numpy(), rtol=1e-5, atol=1e-6)
