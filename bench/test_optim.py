"""Optimiser step time: pydlk's fused arena step against torch (foreach=True and fused=True) and
a plain-NumPy in-place update, same thread count.

(a) one 16M-parameter float32 tensor (memory-bound: Adam moves 28 B/param of compulsory
    traffic: read p, g, m, v, write p, m, v), for Adam, RMSprop, Adagrad and SGD with momentum;
    `bandwidth` times a plain in-place pass (avg += w*(x - avg), 12 B/elem) as the yardstick.
(b) the 18 parameter tensors of LeNet-5 with BatchNorm (44,878 parameters): one call over the
    arena against eighteen.
(c) Adafactor (LeNet-5's tensors and one 1024 x 1024 matrix) and Muon (one 512 x 256 matrix),
    which step parameter by parameter on both sides.
GB/s = bytes/param * n / median (bytes recorded in extra_info)."""

import numpy as np
import pydlk._C as C
import pytest

import pydlk
from pydlk.nn import Parameter

BIG = {"16M": [(16 * 1024 * 1024,)]}
# conv1, bn1, conv2, bn2, fc1 (16*4*4 -> 120), bn3, fc2, bn4, fc3: 18 tensors, 44,878 params
LENET_BN = [
    (6, 1, 5, 5),
    (6,),
    (6,),
    (6,),
    (16, 6, 5, 5),
    (16,),
    (16,),
    (16,),
    (120, 256),
    (120,),
    (120,),
    (120,),
    (84, 120),
    (84,),
    (84,),
    (84,),
    (10, 84),
    (10,),
]
SETS = {"16M": BIG["16M"], "lenet5_bn": LENET_BN}
assert sum(int(np.prod(s)) for s in LENET_BN) == 44878

# optimiser -> (pydlk kwargs, bytes per parameter of compulsory traffic, torch fused exists)
OPTS = {
    "Adam": (dict(lr=1e-3), 28, True),
    "RMSprop": (dict(lr=1e-3), 20, False),
    "Adagrad": (dict(lr=1e-3), 20, True),
    "SGD-momentum": (dict(lr=1e-3, momentum=0.9), 20, True),
}
CASES = [(s, o) for s in SETS for o in OPTS if s == "16M" or o == "Adam"]
IDS = [f"{s}-{o}" for s, o in CASES]


def _data(rng, shapes):
    return (
        [rng.standard_normal(s).astype(np.float32) for s in shapes],
        [rng.standard_normal(s).astype(np.float32) * 1e-3 for s in shapes],
    )


def _info(benchmark, shapes, opt):
    n = sum(int(np.prod(s)) for s in shapes)
    benchmark.extra_info["params"] = n
    benchmark.extra_info["bytes"] = n * OPTS[opt][1]


def _cls(opt):
    return "SGD" if opt == "SGD-momentum" else opt


@pytest.mark.parametrize("shapes,opt", CASES, ids=IDS)
def test_pydlk(benchmark, rng, shapes, opt):
    benchmark.group = f"optim step {shapes} {opt}"
    _info(benchmark, SETS[shapes], opt)
    ps, gs = _data(rng, SETS[shapes])
    params = [Parameter(p) for p in ps]
    o = getattr(pydlk.optim, _cls(opt))(params, **OPTS[opt][0])
    for p, g in zip(params, gs):
        p.grad = g
    o.step()  # gradients now sit in the arena slots
    benchmark(o.step)


@pytest.mark.parametrize("impl", ["foreach", "fused"])
@pytest.mark.parametrize("shapes,opt", CASES, ids=IDS)
def test_torch(benchmark, rng, torch, shapes, opt, impl):
    benchmark.group = f"optim step {shapes} {opt}"
    _info(benchmark, SETS[shapes], opt)
    if impl == "fused" and not OPTS[opt][2]:
        pytest.skip(f"torch has no fused CPU {opt}")
    ps, gs = _data(rng, SETS[shapes])
    params = [torch.nn.Parameter(torch.from_numpy(p)) for p in ps]
    for p, g in zip(params, gs):
        p.grad = torch.from_numpy(g)
    o = getattr(torch.optim, _cls(opt))(params, **OPTS[opt][0], **{impl: True})
    o.step()
    benchmark(o.step)


def _numpy_step(opt, ps, gs, st, lr=1e-3):
    """In-place NumPy update per tensor, the way most people would write it."""
    st["t"] = t = st.get("t", 0) + 1
    for i, (p, g) in enumerate(zip(ps, gs)):
        if opt == "Adam":
            m, v = (
                st.setdefault(("m", i), np.zeros_like(p)),
                st.setdefault(("v", i), np.zeros_like(p)),
            )
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            denom = np.sqrt(v)
            denom /= np.sqrt(1 - 0.999**t)
            denom += 1e-8
            p -= (lr / (1 - 0.9**t)) * m / denom
        elif opt == "RMSprop":
            s = st.setdefault(("s", i), np.zeros_like(p))
            s *= 0.99
            s += 0.01 * g * g
            p -= lr * g / (np.sqrt(s) + 1e-8)
        elif opt == "Adagrad":
            s = st.setdefault(("s", i), np.zeros_like(p))
            s += g * g
            p -= lr * g / (np.sqrt(s) + 1e-10)
        else:
            b = st.setdefault(("b", i), g.copy())
            b *= 0.9
            b += g
            p -= lr * b


@pytest.mark.parametrize("shapes,opt", CASES, ids=IDS)
def test_numpy(benchmark, rng, shapes, opt):
    benchmark.group = f"optim step {shapes} {opt}"
    _info(benchmark, SETS[shapes], opt)
    ps, gs = _data(rng, SETS[shapes])
    st = {}
    _numpy_step(opt, ps, gs, st)
    benchmark(_numpy_step, opt, ps, gs, st)


def test_bandwidth(benchmark, rng):
    """The yardstick: a plain in-place OpenMP pass avg += w*(x - avg) over 16M floats
    (read 2, write 1: 12 B/elem)."""
    benchmark.group = "bandwidth 16M in-place pass"
    n = 16 * 1024 * 1024
    benchmark.extra_info["bytes"] = 12 * n
    a, x = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    C.average_update(a, x, 0.5)
    benchmark(C.average_update, a, x, 1e-3)


# The autograd engine's sum of a tensor's two gradients (a ResNet block's input: its convolution
# and its shortcut), 4M floats (a (64, 16, 32, 32) activation's gradient) added in place.
ADD_N = 4 * 1024 * 1024


def _add_operands(rng):
    return (rng.standard_normal(ADD_N).astype(np.float32) for _ in range(2))


def test_add_pydlk(benchmark, rng):
    benchmark.group = "gradient sum a += b, 4M float32"
    a, b = _add_operands(rng)
    benchmark(C.add_, a, b)


def test_add_numpy(benchmark, rng):
    benchmark.group = "gradient sum a += b, 4M float32"
    a, b = _add_operands(rng)
    benchmark(np.add, a, b, out=a)


def test_add_torch(benchmark, rng, torch):
    benchmark.group = "gradient sum a += b, 4M float32"
    a, b = (torch.from_numpy(v) for v in _add_operands(rng))
    benchmark(a.add_, b)


# Adafactor (factored second moments: a row and a column factor per matrix) and Muon (bfloat16
# Newton-Schulz orthogonalisation of each matrix's momentum), stepped per parameter as torch's;
# pydlk against torch's single-tensor loop (its default for Adafactor) and foreach, and a plain
# per-tensor NumPy Adafactor.
FACTORED = {"lenet5_bn": LENET_BN, "1024x1024": [(1024, 1024)]}
EPS32 = float(np.finfo(np.float32).eps)  # Adafactor's eps1 for float32


def _adafactor_numpy(ps, gs, st, lr=1e-2):
    st["t"] = t = st.get("t", 0) + 1
    beta, rho = t**-0.8, min(lr, t**-0.5)
    for i, (p, g) in enumerate(zip(ps, gs)):
        alpha = max(1e-3, float(np.sqrt((p * p).mean()))) * rho
        if p.ndim > 1:
            r = st.setdefault(("r", i), np.zeros(p.shape[:-1] + (1,), p.dtype))
            c = st.setdefault(("c", i), np.zeros(p.shape[:-2] + (1, p.shape[-1]), p.dtype))
            sq = g * g
            r += beta * (sq.mean(-1, keepdims=True) - r)
            c += beta * (sq.mean(-2, keepdims=True) - c)
            var = r @ c / np.maximum(r.mean(-2, keepdims=True), EPS32)
        else:
            var = st.setdefault(("v", i), np.zeros_like(p))
            var += beta * (g * g - var)
        u = g / np.sqrt(np.maximum(var, EPS32 * EPS32))
        p -= alpha / max(1.0, float(np.sqrt((u * u).mean()))) * u


@pytest.mark.parametrize("shapes", list(FACTORED))
def test_adafactor_pydlk(benchmark, rng, shapes):
    benchmark.group = f"optim step {shapes} Adafactor"
    ps, gs = _data(rng, FACTORED[shapes])
    params = [Parameter(p) for p in ps]
    o = pydlk.optim.Adafactor(params)
    for p, g in zip(params, gs):
        p.grad = g
    o.step()
    benchmark(o.step)


@pytest.mark.parametrize("impl", ["single", "foreach"])
@pytest.mark.parametrize("shapes", list(FACTORED))
def test_adafactor_torch(benchmark, rng, torch, shapes, impl):
    benchmark.group = f"optim step {shapes} Adafactor"
    ps, gs = _data(rng, FACTORED[shapes])
    params = [torch.nn.Parameter(torch.from_numpy(p)) for p in ps]
    for p, g in zip(params, gs):
        p.grad = torch.from_numpy(g)
    o = torch.optim.Adafactor(params, foreach=impl == "foreach")
    o.step()
    benchmark(o.step)


@pytest.mark.parametrize("shapes", list(FACTORED))
def test_adafactor_numpy(benchmark, rng, shapes):
    benchmark.group = f"optim step {shapes} Adafactor"
    ps, gs = _data(rng, FACTORED[shapes])
    st = {}
    _adafactor_numpy(ps, gs, st)
    benchmark(_adafactor_numpy, ps, gs, st)


MUON_SHAPES = [(512, 256)]


def test_muon_pydlk(benchmark, rng):
    benchmark.group = f"optim step {MUON_SHAPES} Muon"
    ps, gs = _data(rng, MUON_SHAPES)
    params = [Parameter(p) for p in ps]
    o = pydlk.optim.Muon(params)
    for p, g in zip(params, gs):
        p.grad = g
    o.step()
    benchmark(o.step)


def test_muon_torch(benchmark, rng, torch):
    benchmark.group = f"optim step {MUON_SHAPES} Muon"
    ps, gs = _data(rng, MUON_SHAPES)
    params = [torch.nn.Parameter(torch.from_numpy(p)) for p in ps]
    for p, g in zip(params, gs):
        p.grad = torch.from_numpy(g)
    o = torch.optim.Muon(params)
    o.step()
    benchmark(o.step)
