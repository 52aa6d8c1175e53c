"""pydlk.optim.swa_utils on a GPU model (CuPy arrays) against the same model on the CPU:
AveragedModel (SWA with the one-kernel-per-arena path, EMA with use_buffers), update_bn, and a
GPU model averaged into a CPU copy (``device='cpu'``). Runs on a real GPU or under the host
emulation (tools/cupy_host_emulator.py)."""

import numpy as np
from _gpu_helpers import cupy_or_skip, host

import pydlk
from pydlk import nn
from pydlk.optim import swa_utils


def _pair(rng):
    """The same MLP with a BatchNorm1d on the CPU and on the GPU (float64)."""
    cpu = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()
    gpu = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu.to("cuda")


def _step(rng, cp, cpu, gpu):
    for a, b in zip(cpu.parameters(), gpu.parameters()):
        v = rng.standard_normal(a.shape)
        a.data[...] = v
        b.data[...] = cp.asarray(v)
    x = rng.standard_normal((16, 4))
    cpu.train(), gpu.train()
    with pydlk.no_grad():
        cpu(pydlk.tensor(x))
        gpu(pydlk.tensor(cp.asarray(x)))


def _assert_same(gsd, csd, cp, on_gpu=True):
    assert list(gsd) == list(csd)
    for k, v in csd.items():
        if on_gpu and k != "n_averaged":  # on the CPU unless device= is given, as torch
            assert isinstance(gsd[k]._data, cp.ndarray), k
        np.testing.assert_allclose(host(gsd[k]), host(v), rtol=1e-12, atol=1e-12, err_msg=k)


def test_gpu_averaged_model_and_update_bn_match_the_cpu(rng):
    cp = cupy_or_skip()
    cpu, gpu = _pair(rng)
    pydlk.optim.SGD(cpu.parameters(), lr=0.1)
    gopt = pydlk.optim.SGD(gpu.parameters(), lr=0.1)  # the GPU copies pack as its arena
    runs = [
        (swa_utils.AveragedModel(cpu), swa_utils.AveragedModel(gpu)),
        (
            swa_utils.AveragedModel(
                cpu, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.9), use_buffers=True
            ),
            swa_utils.AveragedModel(
                gpu, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.9), use_buffers=True
            ),
        ),
        (
            swa_utils.AveragedModel(cpu, avg_fn=swa_utils.get_ema_avg_fn(0.8)),
            swa_utils.AveragedModel(gpu, avg_fn=swa_utils.get_ema_avg_fn(0.8)),
        ),
    ]
    for _ in range(4):
        _step(rng, cp, cpu, gpu)
        for c, g in runs:
            c.update_parameters(cpu)
            g.update_parameters(gpu)
    for c, g in runs:
        _assert_same(g.module.state_dict(), c.module.state_dict(), cp)
        assert int(g.n_averaged) == int(c.n_averaged) == 4
    # the default SWA average ran one kernel per arena on the device
    flats = [f.flat for f in runs[0][1]._flat.values()]
    assert len(flats) == len(gopt._arenas[0]) and all(isinstance(f, cp.ndarray) for f in flats)

    xs = [rng.standard_normal((n, 4)) for n in (8, 5, 11)]
    c_swa, g_swa = runs[0]
    swa_utils.update_bn([(pydlk.tensor(x), 0) for x in xs], c_swa)
    swa_utils.update_bn([pydlk.tensor(x) for x in xs], g_swa, device="cuda")  # host batches
    _assert_same(g_swa.state_dict(), c_swa.state_dict(), cp)
    c_swa.eval(), g_swa.eval()
    x = rng.standard_normal((5, 4))
    with pydlk.no_grad():
        want = host(c_swa(pydlk.tensor(x)))
        got = g_swa(pydlk.tensor(cp.asarray(x)))
    assert isinstance(got._data, cp.ndarray)
    np.testing.assert_allclose(host(got), want, rtol=1e-12, atol=1e-12)


def test_gpu_model_averaged_into_a_cpu_copy(rng):
    """``AveragedModel(gpu_model, device='cpu')``: the copy and n_averaged on the host, each
    update brings the GPU values over (as torch's ``p_model.to(p_averaged.device)``)."""
    cp = cupy_or_skip()
    cpu, gpu = _pair(rng)
    pydlk.optim.SGD(gpu.parameters(), lr=0.1)
    c_swa = swa_utils.AveragedModel(cpu, use_buffers=True)
    g_swa = swa_utils.AveragedModel(gpu, device="cpu", use_buffers=True)
    for _ in range(3):
        _step(rng, cp, cpu, gpu)
        c_swa.update_parameters(cpu)
        g_swa.update_parameters(gpu)
    assert not g_swa._flat  # another device: per tensor
    sd = g_swa.state_dict()
    assert not any(isinstance(v._data, cp.ndarray) for v in sd.values())
    _assert_same(sd, c_swa.state_dict(), cp, on_gpu=False)
    # and the other way: a CPU model into a GPU copy, n_averaged on the GPU too
    g_swa = swa_utils.AveragedModel(cpu, device="cuda")
    c_swa = swa_utils.AveragedModel(cpu)
    for _ in range(2):
        _step(rng, cp, cpu, gpu)
        c_swa.update_parameters(cpu)
        g_swa.update_parameters(cpu)
    assert isinstance(g_swa.n_averaged._data, cp.ndarray) and int(g_swa.n_averaged) == 2
    _assert_same(g_swa.state_dict(), c_swa.state_dict(), cp)
