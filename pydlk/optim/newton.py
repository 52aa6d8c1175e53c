"""Second-order optimisers for full-batch problems: Newton's method (theta <- theta - H^-1 g)
with damping and a line search, the Hessian either exact (small problems) or used only through
Hessian-vector products in conjugate gradient (Newton-CG); and BFGS with a dense inverse-Hessian
estimate. Not in torch.optim; the interface is LBFGS's (``step(closure)``, one parameter group).

Both work on one flat float64 copy of the parameters and reuse L-BFGS's strong-Wolfe line
search (pydlk/optim/lbfgs.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._backend import get_array_module, host_array
from .._typing import ParamsT
from ..autograd import enable_grad, grad, no_grad
from .lbfgs import _strong_wolfe
from .optimizer import Optimizer

__all__ = ["Newton", "BFGS"]


class _FullBatch(Optimizer):
    """The flat-vector plumbing shared by Newton and BFGS."""

    def __init__(self, params, defaults):
        ls = defaults["line_search_fn"]
        if ls not in (None, "strong_wolfe", "backtracking"):
            raise ValueError(
                f"{type(self).__name__}: line_search_fn must be None, 'strong_wolfe' or "
                f"'backtracking', got {ls!r}"
            )
        if not defaults["lr"] > 0:
            raise ValueError(f"{type(self).__name__}: lr must be positive, got {defaults['lr']}")
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError(f"{type(self).__name__} doesn't support parameter groups")
        self._params = list(self.param_groups[0]["params"])

    def _get(self):
        # the method's linear algebra runs on the host, in float64
        return np.concatenate(
            [host_array(p._data).astype(np.float64).ravel() for p in self._params]
        )

    def _set(self, x):
        k = 0
        with no_grad():
            for p in self._params:
                n = p._data.size
                p._data[...] = get_array_module(p._data).asarray(x[k : k + n].reshape(p.shape))
                k += n

    def _flat(self, gs):
        return np.concatenate(
            [
                np.zeros(p._data.size)
                if g is None
                else host_array(g._data).astype(np.float64).ravel()
                for p, g in zip(self._params, gs)
            ]
        )

    def _line_search(self, f_and_g, x, d, f, g, t):
        """(step length, f, g at x + t d) by the group's line search."""
        gtd = float(g @ d)
        ls = self.param_groups[0]["line_search_fn"]
        if ls == "strong_wolfe":

            def obj(x0, t, d):
                return f_and_g(x0 + t * d)

            f, g, t, _ = _strong_wolfe(obj, x, t, d, f, g, gtd)
            return t, f, g
        if ls == "backtracking":  # Armijo: halve t until f decreases by c1 t g.d
            for _ in range(40):
                fn, gn = f_and_g(x + t * d)
                if fn <= f + 1e-4 * t * gtd:
                    return t, fn, gn
                t *= 0.5
            return 0.0, f, g
        fn, gn = f_and_g(x + t * d)
        return t, fn, gn


class Newton(_FullBatch):
    """Newton's method: d = -(H + lambda I)^-1 g, then x <- x + t d with t from the line search
    (lr is the first step tried; 1 is the Newton step).

    ``closure`` computes and returns the loss WITHOUT calling backward (differs from LBFGS):
    Newton differentiates it twice itself (``autograd.grad`` with ``create_graph=True``), so
    every op in the loss needs a double backward. ``hessian="exact"`` builds H with one backward
    pass per parameter (small problems) and solves; ``hessian="cg"`` (Newton-CG) runs conjugate
    gradient on Hessian-vector products, at most ``cg_max_iter`` of them. One ``step`` runs up to
    ``max_iter`` Newton iterations.

    Indefinite Hessians (non-convex losses), with ``adapt_damping=True`` (the default):

    - Levenberg-Marquardt damping. lambda starts at ``damping`` and is kept between steps
      (``opt.damping`` is the current one). After each step s the actual decrease
      f(x) - f(x + s) is compared with the quadratic model's, -(g.s + s.H.s / 2); their ratio
      rho sets the next lambda by
      Nielsen's rule (Madsen, Nielsen and Tingleff, *Methods for non-linear least squares
      problems*, 2004, eq. 3.16): rho > 0: lambda *= max(1/3, 1 - (2 rho - 1)^3), nu = 2;
      otherwise (the loss did not decrease: the step is rejected) lambda *= nu, nu *= 2. A poor
      model raises lambda (towards a short gradient step), a good one lowers it geometrically
      towards the pure Newton step (quadratic convergence near a minimum). An increase from
      lambda = 0 starts at 1e-3 times the curvature along the step.
    - Exact Hessian: H + lambda I is made positive definite before solving, by Cholesky with an
      added multiple of the identity (Nocedal and Wright, *Numerical Optimization*, 2nd ed.,
      Algorithm 3.3): lambda is doubled (from at least 1e-3 max|H_ii|) until the factorisation
      succeeds, and that lambda is the one carried on.
    - Newton-CG: CG on H + lambda I stops at the first direction of non-positive curvature
      (Steihaug's truncation in its line-search form, Nocedal and Wright, Algorithm 7.1): the
      iterate so far is returned, or -g if that happens on the first CG iteration; lambda is then
      raised to at least the magnitude of the curvature found.

    With ``adapt_damping=False`` lambda stays ``damping`` and a direction that is not a descent
    direction falls back to -g (plain gradient steps where H is indefinite)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1.0,
        damping: float = 0.0,
        line_search_fn: str | None = "strong_wolfe",
        hessian: str = "exact",
        cg_max_iter: int = 50,
        cg_tol: float = 1e-10,
        max_iter: int = 1,
        tolerance_grad: float = 1e-10,
        adapt_damping: bool = True,
    ) -> None:
        if hessian not in ("exact", "cg"):
            raise ValueError(f"Newton: hessian must be 'exact' or 'cg', got {hessian!r}")
        if damping < 0:
            raise ValueError(f"Newton: damping must be >= 0, got {damping}")
        super().__init__(
            params,
            dict(
                lr=lr,
                damping=damping,
                line_search_fn=line_search_fn,
                hessian=hessian,
                cg_max_iter=cg_max_iter,
                cg_tol=cg_tol,
                max_iter=max_iter,
                tolerance_grad=tolerance_grad,
                adapt_damping=adapt_damping,
            ),
        )
        self._lam = {"lambda": float(damping), "nu": 2.0}

    @property
    def damping(self):
        """The current damping lambda (the initial ``damping`` until adapted)."""
        return self._lam["lambda"]

    def _f_and_g(self, closure, x):
        self._set(x)
        with enable_grad():
            loss = closure()
            return float(loss), self._flat(grad(loss, self._params, allow_unused=True))

    def _hessian_products(self, closure):
        """(loss, g, hv) at the current parameters; hv(v) = H v, one backward pass through the
        recorded gradient."""
        with enable_grad():
            loss = closure()
            gs = grad(loss, self._params, create_graph=True, allow_unused=True)
        used = [g is not None and g.requires_grad for g in gs]

        def hv(v):
            outs, vs, k = [], [], 0
            for p, gp, u in zip(self._params, gs, used):
                n = p._data.size
                if u:
                    outs.append(gp)
                    u_p = v[k : k + n].reshape(p.shape).astype(p.dtype)  # host float64
                    vs.append(type(gp)(get_array_module(p._data).asarray(u_p)))
                k += n
            if not outs:
                return np.zeros_like(v)
            with enable_grad():
                hs = grad(outs, self._params, vs, retain_graph=True, allow_unused=True)
            return self._flat(hs)

        return float(loss), self._flat(gs), hv

    def _direction(self, g, hv, lam, group):
        """(d, H d, lam, raise_to): the damped Newton direction, the undamped curvature along it,
        the lambda it was solved with, and a lower bound for the next lambda (0 unless CG met
        negative curvature)."""
        adapt = group["adapt_damping"]
        raise_to = 0.0
        if group["hessian"] == "exact":
            H = np.stack([hv(e) for e in np.eye(g.size)], axis=1)
            H = (H + H.T) / 2
            if adapt:
                d, lam = _damped_cholesky_solve(H, g, lam)
            else:
                try:
                    d = np.linalg.solve(H + lam * np.eye(g.size), -g)
                except np.linalg.LinAlgError:
                    d = -g
            Hd = H @ d
        else:
            d, neg = _conjugate_gradient(
                lambda v: hv(v) + lam * v, -g, group["cg_max_iter"], group["cg_tol"]
            )
            raise_to = neg if adapt else 0.0
            Hd = hv(d)
        if not g @ d < 0:  # not a descent direction (without adaptation, H indefinite)
            d, Hd = -g, hv(-g)
        return d, Hd, lam, raise_to

    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]  # closure required, as LBFGS
        if closure is None:
            raise RuntimeError("Newton.step: a closure that returns the loss is required")
        group = self.param_groups[0]
        lam, nu = self._lam["lambda"], self._lam["nu"]
        x = self._get()
        loss = None
        for _ in range(group["max_iter"]):
            f, g, hv = self._hessian_products(closure)
            loss = f if loss is None else loss
            if np.abs(g).max() <= group["tolerance_grad"]:
                break
            d, Hd, lam, raise_to = self._direction(g, hv, lam, group)
            t, f_new, _ = self._line_search(
                lambda z: self._f_and_g(closure, z), x, d, f, g, group["lr"]
            )
            if f_new < f:  # otherwise the step is rejected
                x = x + t * d
            if group["adapt_damping"]:
                predicted = -(t * (g @ d) + 0.5 * t * t * (d @ Hd))
                rho = (f - f_new) / predicted if predicted > 0 and f_new < f else 0.0
                lam, nu = _nielsen(lam, nu, rho, floor=1e-3 * abs(d @ Hd) / (d @ d))
                lam = max(lam, raise_to)
            self._set(x)
        self._set(x)
        self._lam.update({"lambda": lam, "nu": nu})
        return loss


def _nielsen(lam, nu, rho, floor):
    """Nielsen's damping update (see Newton): (next lambda, next nu) from the gain ratio rho;
    ``floor`` is where an increase starts from when lambda is 0."""
    if rho > 0:
        factor = max(1 / 3, 1 - (2 * rho - 1) ** 3)
        return (max(lam * factor, floor) if factor > 1 else lam * factor), 2.0
    return max(lam * nu, floor), nu * 2


def _damped_cholesky_solve(H, g, lam):
    """Solve (H + tau I) d = -g with tau the first of lam, 2 lam, 4 lam, ... (from at least
    1e-3 max|H_ii|) for which the Cholesky factorisation exists (Nocedal and Wright,
    Algorithm 3.3). Returns (d, tau)."""
    n = g.size
    beta = 1e-3 * max(np.abs(np.diag(H)).max(), np.finfo(np.float64).tiny)
    tau = lam
    for _ in range(2000):
        try:
            L = np.linalg.cholesky(H + tau * np.eye(n))
        except np.linalg.LinAlgError:
            tau = max(2 * tau, beta)
            continue
        return np.linalg.solve(L.T, np.linalg.solve(L, -g)), tau  # L L^T d = -g
    raise RuntimeError("Newton: H + lambda I is not positive definite for any lambda tried")


def _conjugate_gradient(A, b, max_iter, tol):
    """Approximately solve A x = b for symmetric A given as a function. Stops at the first
    direction p of non-positive curvature (Steihaug's truncation, line-search form) and returns
    the iterate so far, or b if that happens at once. Returns (x, c), c = |p.Ap| / p.p for that
    direction (0 if none was met)."""
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = r @ r
    for _ in range(max_iter):
        Ap = A(p)
        pAp = p @ Ap
        if pAp <= 0:
            return (x if x.any() else b), abs(pAp) / (p @ p)
        alpha = rr / pAp
        x += alpha * p
        r -= alpha * Ap
        rr_new = r @ r
        if rr_new <= tol * tol:
            break
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, 0.0


class BFGS(_FullBatch):
    """BFGS with a dense n x n inverse-Hessian estimate (Nocedal and Wright, Algorithm 6.1):
    d = -H g; after the step s = t d, y = g_new - g, H <- (I - rho s y^T) H (I - rho y s^T) +
    rho s s^T with rho = 1 / y.s (skipped when y.s <= 1e-10). The first update scales H to
    y.s / y.y first. ``closure`` is LBFGS's: it clears the gradients, computes the loss, calls
    backward and returns the loss. One ``step`` runs up to ``max_iter`` iterations."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1.0,
        max_iter: int = 20,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        line_search_fn: str = "strong_wolfe",
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                max_iter=max_iter,
                tolerance_grad=tolerance_grad,
                tolerance_change=tolerance_change,
                line_search_fn=line_search_fn,
            ),
        )
        self._H: np.ndarray | None = None

    def _f_and_g(self, closure, x):
        self._set(x)
        with enable_grad():
            loss = float(closure())
        return loss, self._flat([p.grad for p in self._params])

    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]  # closure required, as LBFGS
        if closure is None:
            raise RuntimeError("BFGS.step: a closure that returns the loss is required")
        group = self.param_groups[0]
        x = self._get()
        f, g = self._f_and_g(closure, x)
        orig = f
        if self._H is None:
            self._H = np.eye(x.size)
            self._first = True
        for _ in range(group["max_iter"]):
            if np.abs(g).max() <= group["tolerance_grad"]:
                break
            d = -self._H @ g
            if not g @ d < 0:
                self._H = np.eye(x.size)
                d = -g
            t0 = min(1.0, 1.0 / np.abs(g).sum()) * group["lr"] if self._first else group["lr"]
            t, f_new, g_new = self._line_search(lambda z: self._f_and_g(closure, z), x, d, f, g, t0)
            s, y = t * d, g_new - g
            x, f_old, f, g = x + s, f, f_new, g_new
            ys = y @ s
            if ys > 1e-10:
                if self._first:
                    self._H *= ys / (y @ y)
                    self._first = False
                rho = 1.0 / ys
                Hy = self._H @ y
                self._H += (rho * rho * (y @ Hy) + rho) * np.outer(s, s) - rho * (
                    np.outer(Hy, s) + np.outer(s, Hy)
                )
            if (
                np.abs(s).max() <= group["tolerance_change"]
                or abs(f - f_old) < group["tolerance_change"]
            ):
                break
        self._set(x)
        return orig
