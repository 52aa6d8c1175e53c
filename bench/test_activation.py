"""Activations forward+backward: elementwise ops on 16M float32 elements, softmax/log_softmax on
(4096, 1000) along dim 1.

Four contestants per group:
  pydlk         the pydlk._C kernels writing into preallocated outputs (warm memory)
  numpy         the formula with ufuncs, as most people write it (fresh temporaries each call)
  torch         autograd as people use it (y = f(x); y.backward(dy)): fresh outputs each call
  torch_kernel  torch's own aten kernels with out= into preallocated outputs (warm memory),
                the like-for-like comparison with pydlk
Memory traffic (useful bytes, forward reads x and writes y, backward reads dy and the saved
tensor and writes dx): 5 x 64 MiB per elementwise step, 5 x 16 MB per softmax step; DRAM here
streams about 40 GB/s, so the elementwise floor is about 8.4 ms per step.
"""

import math

import numpy as np
import pydlk._C as C
import pytest

N = 16 * 1024 * 1024
ELTWISE = ["relu", "gelu", "silu", "sigmoid"]
SAVED = {"relu": "output", "gelu": "input", "silu": "input", "sigmoid": "output"}
SOFT = (4096, 1000)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(N) * 3).astype(np.float32)
    dy = rng.standard_normal(N).astype(np.float32)
    return x, dy


def _erf():
    # NumPy has no erf ufunc; scipy's is what people reach for, else math.erf vectorised.
    try:
        from scipy.special import erf

        return erf
    except ImportError:
        return np.vectorize(math.erf, otypes=[np.float32])


def pydlk_step(data, op):
    x, dy = data
    y, dx = np.empty_like(x), np.empty_like(x)  # warm: reused every call
    fwd, bwd = getattr(C, op + "_forward"), getattr(C, op + "_backward")
    saved = y if SAVED[op] == "output" else x

    def step():
        fwd(x, out=y)
        bwd(dy, saved, out=dx)

    return step


def numpy_step(data, op):
    x, dy = data
    erf = _erf() if op == "gelu" else None
    k = np.float32(1 / math.sqrt(2))

    def relu():
        y = np.maximum(x, 0)
        return dy * (y > 0)

    def sigmoid():
        y = 1 / (1 + np.exp(-x))
        return dy * y * (1 - y)

    def silu():
        s = 1 / (1 + np.exp(-x))
        return dy * s * (1 + x * (1 - s))

    def gelu():
        cdf = 0.5 * (1 + erf(x * k))
        return dy * (cdf + x * np.exp(-0.5 * x * x) / np.float32(math.sqrt(2 * math.pi)))

    f = locals()[op]

    def step():
        with np.errstate(over="ignore"):
            f()

    return step


def torch_step(data, op):
    import torch

    x = torch.from_numpy(data[0]).requires_grad_()
    dy = torch.from_numpy(data[1])
    f = {
        "relu": torch.relu,
        "gelu": torch.nn.functional.gelu,
        "silu": torch.nn.functional.silu,
        "sigmoid": torch.sigmoid,
    }[op]

    def step():
        x.grad = None
        f(x).backward(dy)

    return step


def torch_kernel_step(data, op):
    import torch

    A = torch.ops.aten
    x, dy = torch.from_numpy(data[0]), torch.from_numpy(data[1])
    y, dx = torch.empty_like(x), torch.empty_like(x)

    def relu():
        A.relu.out(x, out=y)
        A.threshold_backward.grad_input(dy, y, 0, grad_input=dx)

    def sigmoid():
        A.sigmoid.out(x, out=y)
        A.sigmoid_backward.grad_input(dy, y, grad_input=dx)

    def silu():
        A.silu.out(x, out=y)
        A.silu_backward.grad_input(dy, x, grad_input=dx)

    def gelu():
        A.gelu.out(x, out=y)
        A.gelu_backward.grad_input(dy, x, grad_input=dx)

    return locals()[op]


WHO = {
    "pydlk": pydlk_step,
    "numpy": numpy_step,
    "torch": torch_step,
    "torch_kernel": torch_kernel_step,
}


# op-major order: the four contestants of one group run back to back, so a change in the
# machine's load during the run hits a group's contestants alike
@pytest.mark.parametrize("op,who", [(op, who) for op in ELTWISE for who in WHO])
def test_eltwise(benchmark, data, op, who, record_bandwidth):
    if who.startswith("torch"):
        pytest.importorskip("torch")
    benchmark.group = f"{op} fwd+bwd 16M float32"
    benchmark(WHO[who](data, op))
    record_bandwidth(5 * data[0].nbytes, "GB/s (useful)")


# ----------------------------------------------------------------------------- softmax


@pytest.fixture(scope="module")
def sdata():
    rng = np.random.default_rng(1)
    return (rng.standard_normal(SOFT) * 3).astype(np.float32), rng.standard_normal(SOFT).astype(
        np.float32
    )


def softmax_pydlk(sdata, log):
    x, dy = sdata
    y, dx = np.empty_like(x), np.empty_like(x)

    def step():
        C.softmax_forward(x, 1, log, out=y)
        C.softmax_backward(dy, y, 1, log, out=dx)

    return step


def softmax_numpy(sdata, log):
    x, dy = sdata

    def softmax():
        e = np.exp(x - x.max(axis=1, keepdims=True))
        y = e / e.sum(axis=1, keepdims=True)
        return y * (dy - (dy * y).sum(axis=1, keepdims=True))

    def log_softmax():
        z = x - x.max(axis=1, keepdims=True)
        y = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return dy - np.exp(y) * dy.sum(axis=1, keepdims=True)

    return log_softmax if log else softmax


def softmax_torch(sdata, log):
    import torch

    x = torch.from_numpy(sdata[0]).requires_grad_()
    dy = torch.from_numpy(sdata[1])
    f = torch.log_softmax if log else torch.softmax

    def step():
        x.grad = None
        f(x, 1).backward(dy)

    return step


def softmax_torch_kernel(sdata, log):
    import torch

    A = torch.ops.aten
    x, dy = torch.from_numpy(sdata[0]), torch.from_numpy(sdata[1])
    y, dx = torch.empty_like(x), torch.empty_like(x)

    def softmax():
        A._softmax.out(x, 1, False, out=y)
        A._softmax_backward_data.out(dy, y, 1, torch.float32, grad_input=dx)

    def log_softmax():
        A._log_softmax.out(x, 1, False, out=y)
        A._log_softmax_backward_data.out(dy, y, 1, torch.float32, out=dx)

    return log_softmax if log else softmax


SOFT_WHO = {
    "pydlk": softmax_pydlk,
    "numpy": softmax_numpy,
    "torch": softmax_torch,
    "torch_kernel": softmax_torch_kernel,
}


@pytest.mark.parametrize(
    "op,who", [(op, who) for op in ["softmax", "log_softmax"] for who in SOFT_WHO]
)
def test_softmax(benchmark, sdata, op, who, record_bandwidth):
    if who.startswith("torch"):
        pytest.importorskip("torch")
    benchmark.group = f"{op} fwd+bwd (4096, 1000) dim 1"
    benchmark(SOFT_WHO[who](sdata, op == "log_softmax"))
    record_bandwidth(5 * sdata[0].nbytes, "GB/s (useful)")
