"""GradScaler against torch.amp.GradScaler on the CPU (the same loop, the same injected Inf
gradients: scales, skipped steps and parameters equal), its errors, its state; autocast's
'cuda' device type and torch's backends switches (no GPU needed)."""

import warnings

import numpy as np
import pytest

import pydlk
from pydlk import nn

torch = pytest.importorskip("torch")


def _loop(lib, amp, steps, bad_steps, **kw):
    """Linear regression trained with a GradScaler; at ``bad_steps`` a gradient is made Inf
    after backward (as a float16 overflow would). Returns (scales, weights)."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    x = rng.standard_normal((8, 2)).astype(np.float32)
    y = rng.standard_normal((8, 3)).astype(np.float32)
    model = lib.nn.Linear(2, 3, bias=False)
    with lib.no_grad():
        model.weight.copy_(lib.tensor(w0))
    opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scaler = amp.GradScaler("cpu", **kw)
    scales = []
    for i in range(steps):
        opt.zero_grad()
        loss = ((model(lib.tensor(x)) - lib.tensor(y)) ** 2).mean()
        scaler.scale(loss).backward()
        if i in bad_steps:
            with lib.no_grad():
                model.weight.grad[0, 0] = float("inf")
        if i % 2:
            scaler.unscale_(opt)  # as before clipping
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
    return scales, model.weight.detach().numpy().copy(), scaler.state_dict()


@pytest.mark.parametrize("kw", [{}, dict(init_scale=8.0, growth_interval=2, growth_factor=4.0)])
def test_grad_scaler_matches_torch(kw):
    bad = {1, 4, 5}
    s_ours, w_ours, sd_ours = _loop(pydlk, pydlk.amp, 9, bad, **kw)
    s_torch, w_torch, sd_torch = _loop(torch, torch.amp, 9, bad, **kw)
    assert s_ours == [float(s) for s in s_torch]
    np.testing.assert_allclose(w_ours, w_torch, rtol=1e-5, atol=1e-6)
    assert sd_ours.keys() == sd_torch.keys()
    for k in sd_ours:
        assert float(sd_ours[k]) == float(sd_torch[k]), k


def test_grad_scaler_misuse_is_refused_as_in_torch():
    model = nn.Linear(2, 1)
    opt = pydlk.optim.SGD(model.parameters(), lr=0.1)
    scaler = pydlk.amp.GradScaler("cpu")
    scaler.scale(model(pydlk.ones(1, 2)).sum()).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        pydlk.amp.GradScaler("cpu").step(opt, closure=lambda: 0.0)
    with pytest.raises(RuntimeError, match="No inf checks were recorded"):
        pydlk.amp.GradScaler("cpu").update()
    with pytest.raises(ValueError, match="growth_factor must be > 1"):
        pydlk.amp.GradScaler("cpu", growth_factor=1.0)
    with pytest.raises(ValueError, match="device must be 'cuda' or 'cpu'"):
        pydlk.amp.GradScaler("tpu")


def test_grad_scaler_state_round_trip_and_disabled():
    a = pydlk.amp.GradScaler("cpu", init_scale=4.0)
    a.update(new_scale=32.0)
    b = pydlk.amp.GradScaler("cpu")
    b.load_state_dict(a.state_dict())
    assert b.get_scale() == 32.0 and b.state_dict() == a.state_dict()
    off = pydlk.amp.GradScaler("cpu", enabled=False)
    t = pydlk.ones(2)
    assert off.scale(t) is t and off.get_scale() == 1.0 and off.state_dict() == {}
    with pytest.raises(RuntimeError, match="source state dict is empty"):
        b.load_state_dict({})


def test_grad_scaler_for_cuda_without_a_gpu_disables_itself_as_torch():
    if pydlk.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.warns(UserWarning, match="CUDA is not available. Disabling"):
        s = pydlk.cuda.amp.GradScaler()
    assert not s.is_enabled()
    t = pydlk.ones(2)
    assert s.scale(t) is t


def test_autocast_cuda_runs_float32_and_says_so(monkeypatch):
    monkeypatch.setitem(pydlk.amp._kernels, "cuda_warned", False)
    x = pydlk.ones(2, 3)
    lin = nn.Linear(3, 2)
    want = lin(x).detach().numpy()
    with pytest.warns(RuntimeWarning, match="GPU kernels compute in float32"):
        with pydlk.autocast(device_type="cuda", dtype=pydlk.float16):
            assert pydlk.is_autocast_enabled("cuda") and not pydlk.is_autocast_enabled("cpu")
            assert pydlk.get_autocast_dtype("cuda") == pydlk.float16
            got = lin(x)  # CPU ops are not touched by a CUDA autocast
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.detach().numpy(), want)
    assert not pydlk.is_autocast_enabled("cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pydlk.cuda.amp.autocast(enabled=False):
            assert not pydlk.is_autocast_enabled("cuda")
        with pydlk.autocast("cuda", dtype=pydlk.bfloat16):  # said once only
            assert pydlk.get_autocast_dtype("cuda") == pydlk.bfloat16
    with pytest.raises(ValueError, match="device_type must be 'cpu' or 'cuda'"):
        pydlk.autocast(device_type="xla")
    with pytest.raises(ValueError, match="float16 or pydlk.bfloat16 on CUDA"):
        pydlk.autocast(device_type="cuda", dtype=pydlk.float64)


def test_backends_switches_have_torchs_names():
    assert pydlk.backends.cudnn.enabled is True and pydlk.backends.cudnn.benchmark is False
    assert pydlk.backends.cudnn.is_available() == torch.backends.cudnn.is_available()
    assert pydlk.backends.cuda.matmul.allow_tf32 is torch.backends.cuda.matmul.allow_tf32
    assert pydlk.get_float32_matmul_precision() == "highest"
    try:
        pydlk.set_float32_matmul_precision("high")
        assert pydlk.get_float32_matmul_precision() == "high"
    finally:
        pydlk.set_float32_matmul_precision("highest")
    with pytest.raises(ValueError, match="'highest', 'high' or 'medium'"):
        pydlk.set_float32_matmul_precision("low")


def test_cuda_memory_queries_without_a_gpu_answer_as_torch():
    if pydlk.cuda.is_available():
        pytest.skip("a GPU is present")
    for name in ("memory_allocated", "max_memory_allocated", "memory_reserved"):
        assert getattr(pydlk.cuda, name)() == getattr(torch.cuda, name)() == 0
    assert pydlk.cuda.empty_cache() is None
    assert pydlk.cuda.is_bf16_supported() is False
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        pydlk.cuda.Event(enable_timing=True)
