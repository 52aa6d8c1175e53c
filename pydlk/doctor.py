"""``pydlk doctor``: the lectures' sanity checks before a long training run, each with a
one-line verdict and the numbers behind it.

1. The initial loss is about ln(C) for C classes (softmax of small random scores is uniform).
2. Gradients are right: an element-wise finite-difference check on the input of a tiny batch
   and a random-direction check over all parameters, in float64, in eval mode (no dropout).
3. The model can overfit a small batch (20 samples) to near-zero loss, with no regularisation.
4. A learning-rate range test (Smith, 2017): the learning rate grows geometrically over a few
   dozen steps; the suggestion is a tenth of the rate with the lowest smoothed loss.

On a GPU model (``make_model`` returns it on CUDA) every check runs there: the data stay on
the host and each batch is copied to the model's device (as ``fit(device=)`` does), the
gradient checks run in float64 on the device, and only losses and predictions come back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from ._backend import get_array_module, host_array
from ._typing import Array
from .autograd import Tensor, no_grad
from .gradcheck import gradcheck
from .nn.module import Module

if TYPE_CHECKING:
    from .optim.optimizer import Optimizer

# make_model() -> a fresh model; loss_fn(output, target) -> a scalar Tensor;
# make_optimizer(params) -> the optimiser the range test sweeps.
ModelFactory: TypeAlias = Callable[[], Module]
LossFn: TypeAlias = Callable[[Tensor, Tensor], Tensor]
OptimizerFactory: TypeAlias = Callable[[Iterable[Tensor]], "Optimizer"]


def _xp(model: Module) -> Any:
    """The array module of the model's parameters (NumPy, or CuPy for a GPU model)."""
    p = next(iter(model.parameters()), None)
    return np if p is None else get_array_module(p._data)


def _on(model: Module, a: Array, **kw: Any) -> Tensor:
    """A host batch as a Tensor on the model's device."""
    return Tensor(_xp(model).asarray(a), **kw)


_host = host_array


@dataclass
class Check:
    name: str
    ok: bool
    verdict: str
    numbers: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return f"[{mark}] {self.name}: {self.verdict}"


def _adam(model: Module, lr: float) -> Optimizer:
    from .optim import Adam

    return Adam([p for p in model.parameters() if p.requires_grad], lr=lr)


def check_initial_loss(
    make_model: ModelFactory, loss_fn: LossFn, x: np.ndarray, y: np.ndarray, num_classes: int
) -> Check:
    """Check that a fresh model's loss on up to 256 samples is within 25% of ln(num_classes),
    the loss of a uniform guess. Returns a Check.
    """
    model = make_model()
    with no_grad():
        loss = float(loss_fn(model(_on(model, x[:256])), _on(model, y[:256])).item())
    expected = math.log(num_classes)
    ok = abs(loss - expected) <= 0.25 * expected
    return Check(
        "initial loss",
        ok,
        f"{loss:.4f} vs ln({num_classes}) = {expected:.4f}"
        + ("" if ok else " (weights too large, or a bias/scale is off)"),
        {"loss": loss, "expected": expected},
    )


def check_gradients(
    make_model: ModelFactory, loss_fn: LossFn, x: np.ndarray, y: np.ndarray, seed: int = 0
) -> Check:
    """Finite-difference check of the model's gradient (in float64, eval mode) on two samples
    with ``gradcheck``. Returns a Check with the relative error.
    """
    model = make_model().double()
    model.eval()
    # A little noise keeps the check off kinks: images with flat regions make max-pool windows
    # tie exactly, where a finite difference is one-sided and disagrees with any subgradient.
    rng = np.random.default_rng(seed)
    x2 = np.asarray(x[:2], np.float64)
    xs = _on(
        model, np.ascontiguousarray(x2 + 1e-2 * rng.standard_normal(x2.shape)), requires_grad=True
    )
    ys = _on(model, y[:2])
    try:
        gradcheck(lambda inp: loss_fn(model(inp), ys), (xs,), eps=1e-6, atol=1e-6, rtol=1e-4)
        input_ok, input_msg = True, "input gradients match"
    except Exception as e:  # the message names the worst element
        input_ok, input_msg = False, str(e)
    # all parameters at once along a random direction v: dL/dt at t=0 of L(theta + t v)
    params = [p for p in model.parameters() if p.requires_grad]
    vs = [_xp(model).asarray(rng.standard_normal(p.shape)) for p in params]
    for p in params:
        p._grad = None
    loss_fn(model(Tensor(xs._data)), ys).backward()
    analytic = sum(
        float((getattr(p._grad, "_data", p._grad) * v).sum())
        for p, v in zip(params, vs)
        if p._grad is not None
    )
    eps = 1e-6

    def L(t: float) -> float:
        with no_grad():
            for p, v, p0 in zip(params, vs, base):
                p._data[...] = p0 + t * v
            return float(loss_fn(model(Tensor(xs._data)), ys).item())

    base = [p._data.copy() for p in params]
    numeric = (L(eps) - L(-eps)) / (2 * eps)
    L(0.0)
    rel = abs(analytic - numeric) / max(abs(numeric), abs(analytic), 1e-12)
    param_ok = rel < 1e-5
    ok = input_ok and param_ok
    verdict = (
        f"{input_msg}; parameter directional derivative {analytic:.6g} vs numerical "
        f"{numeric:.6g} (relative error {rel:.1e})"
    )
    return Check("gradient check", ok, verdict, {"relative_error": rel})


def check_overfit(
    make_model: ModelFactory,
    loss_fn: LossFn,
    x: np.ndarray,
    y: np.ndarray,
    steps: int = 200,
    lr: float = 1e-2,
    n: int = 20,
) -> Check:
    """Check that ``steps`` of Adam (lr ``lr``) drive the loss on ``n`` samples below 0.05 at
    100% accuracy. Returns a Check.
    """
    model = make_model()
    model.train()
    xs, ys = _on(model, x[:n]), _on(model, y[:n])
    opt = _adam(model, lr)
    loss = float("nan")
    for _ in range(steps):
        loss_t = loss_fn(model(xs), ys)
        opt.zero_grad()
        loss_t.backward()
        opt.step()
        loss = float(loss_t.item())
    model.eval()
    with no_grad():
        acc = float((_host(model(xs)._data.argmax(1)) == y[:n]).mean())
    ok = loss < 0.05 and acc == 1.0
    return Check(
        "overfit a small batch",
        ok,
        f"loss {loss:.4f}, accuracy {acc:.0%} on {len(ys)} samples after {steps} steps"
        + ("" if ok else " (the model cannot fit: check the architecture and the loss)"),
        {"loss": loss, "accuracy": acc},
    )


def lr_range_test(
    make_model: ModelFactory,
    loss_fn: LossFn,
    x: np.ndarray,
    y: np.ndarray,
    start: float = 1e-6,
    end: float = 1.0,
    steps: int = 60,
    batch_size: int = 64,
    seed: int = 0,
    make_optimizer: OptimizerFactory | None = None,
) -> tuple[list[float], list[float], float]:
    """Losses along a geometric learning-rate sweep; returns (lrs, smoothed losses, suggestion).
    ``make_optimizer(params)`` builds the optimiser to sweep (default Adam)."""
    model = make_model()
    model.train()
    opt = make_optimizer(model.parameters()) if make_optimizer else _adam(model, start)
    from .train.lr_find import sweep

    rng = np.random.default_rng(seed)

    def step(lr: float) -> float:
        idx = rng.integers(0, len(y), batch_size)
        for g in opt.param_groups:
            g["lr"] = lr
        loss_t = loss_fn(model(_on(model, x[idx])), _on(model, y[idx]))
        opt.zero_grad()
        loss_t.backward()
        opt.step()
        return loss_t.item()

    lrs, losses = sweep(step, start, end, max(steps, 2), smooth=0.2, diverge=4.0)
    # A tenth of the learning rate at the lowest smoothed loss: below the point where the loss
    # turns up, and more robust to noise than the steepest slope of a short sweep.
    suggestion = float(lrs[int(np.argmin(losses))]) / 10
    return lrs, losses, suggestion


def check_lr_range(
    make_model: ModelFactory,
    loss_fn: LossFn,
    x: np.ndarray,
    y: np.ndarray,
    make_optimizer: OptimizerFactory | None = None,
    batch_size: int = 64,
) -> Check:
    """Run ``lr_range_test`` and suggest a tenth of the learning rate with the lowest loss.
    Returns a Check.
    """
    lrs, losses, lr = lr_range_test(
        make_model, loss_fn, x, y, batch_size=batch_size, make_optimizer=make_optimizer
    )
    k = int(np.argmin(losses))
    return Check(
        "learning-rate range test",
        True,
        f"suggested lr {lr:.1e} (a tenth of the best); lowest loss "
        f"{losses[k]:.3f} at lr {lrs[k]:.1e}; swept {lrs[0]:.0e}..{lrs[-1]:.0e}",
        {"suggested_lr": lr, "lrs": lrs, "losses": losses},
    )


def doctor(
    make_model: ModelFactory,
    loss_fn: LossFn,
    x: Array,
    y: Array,
    num_classes: int | None = None,
    verbose: bool = True,
    make_optimizer: OptimizerFactory | None = None,
    batch_size: int = 64,
) -> list[Check]:
    """Run the four checks; ``make_model()`` builds a fresh model each time. The range test
    sweeps ``make_optimizer(params)`` (default Adam) on batches of ``batch_size``. ``x``/``y``
    may be host or CuPy arrays; they are kept on the host and batches go to the model's
    device."""
    x = np.ascontiguousarray(_host(getattr(x, "_data", x)), np.float32)
    y = np.asarray(_host(getattr(y, "_data", y)), np.int64)
    num_classes = num_classes or int(y.max()) + 1
    checks = []
    for fn in (
        lambda: check_initial_loss(make_model, loss_fn, x, y, num_classes),
        lambda: check_gradients(make_model, loss_fn, x, y),
        lambda: check_overfit(make_model, loss_fn, x, y),
        lambda: check_lr_range(make_model, loss_fn, x, y, make_optimizer, batch_size),
    ):
        c = fn()
        checks.append(c)
        if verbose:
            print(c.line(), flush=True)
    return checks
