"""Weight normalisation and spectral normalisation of a module's parameter, as torch's
``torch.nn.utils.weight_norm`` / ``remove_weight_norm`` and ``torch.nn.utils.spectral_norm`` /
``remove_spectral_norm`` (the forward-pre-hook API), with torch's names.

``weight_norm`` replaces the parameter ``weight`` by ``weight_g`` (magnitude) and ``weight_v``
(direction); ``spectral_norm`` by the parameter ``weight_orig`` and the buffers ``weight_u``
and ``weight_v`` (the power-iteration vectors). In both, ``module.weight`` becomes a plain
attribute recomputed, differentiably, by a forward pre-hook before each forward, so the
``state_dict`` keys are torch's and a state dict moves between the two libraries.
"""

from __future__ import annotations

from typing import Any, TypeVar

from ..._grad_mode import no_grad
from ...autograd import Tensor
from ..module import Module
from ..parameter import Parameter

__all__ = [
    "WeightNorm",
    "weight_norm",
    "remove_weight_norm",
    "SpectralNorm",
    "spectral_norm",
    "remove_spectral_norm",
]

T_module = TypeVar("T_module", bound=Module)


def _norm_except_dim(v: Tensor, dim: int) -> Tensor:
    """The 2-norm of ``v`` over every dimension but ``dim``, kept as size-1 dimensions (torch's
    ``norm_except_dim``); ``dim=-1`` gives the norm of the whole tensor, a 0-d tensor."""
    if dim == -1:
        return v.norm(2)
    d = dim % v.ndim
    axes = tuple(i for i in range(v.ndim) if i != d)
    if not axes:  # a 1-D tensor normed per element
        return v.abs()
    return v.norm(2, dim=axes, keepdim=True)


def _weight_norm(v: Tensor, g: Tensor, dim: int) -> Tensor:
    """``v * (g / ||v||)``, the norm taken over every dimension but ``dim`` (torch's
    ``_weight_norm``); differentiable with respect to ``v`` and ``g``."""
    return v * (g / _norm_except_dim(v, dim))


class WeightNorm:
    """The forward pre-hook behind :func:`weight_norm`: recomputes ``module.<name>`` from
    ``<name>_g`` and ``<name>_v`` before each forward."""

    name: str
    dim: int

    def __init__(self, name: str, dim: int | None) -> None:
        if dim is None:
            dim = -1
        self.name = name
        self.dim = dim
        self.handle: Any = None  # the forward pre-hook's RemovableHandle, once registered

    def compute_weight(self, module: Module) -> Tensor:
        """``g * v / ||v||`` from the module's ``<name>_g`` and ``<name>_v``."""
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return _weight_norm(v, g, self.dim)

    @staticmethod
    def apply(module: Module, name: str, dim: int | None) -> WeightNorm:
        """Reparametrise ``module.<name>`` and register the hook; returns the hook.

        Raises RuntimeError if ``name`` already has a weight_norm hook, AttributeError or
        KeyError if it is not a parameter of the module.
        """
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(
                    f"Cannot register two weight_norm hooks on the same parameter {name}"
                )
        if dim is None:
            dim = -1
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        if name not in module._parameters or weight is None:
            raise KeyError(f"weight_norm: '{name}' is not a parameter of {type(module).__name__}")
        del module._parameters[name]
        with no_grad():
            g = _norm_except_dim(weight.detach(), dim)
        module.register_parameter(name + "_g", Parameter(g.detach()))
        module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))
        fn.handle = module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module: Module) -> None:
        """Replace ``<name>_g`` and ``<name>_v`` by a plain parameter ``<name>``."""
        with no_grad():
            weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module: T_module, name: str = "weight", dim: int | None = 0) -> T_module:
    """Apply weight normalisation, ``w = g * v / ||v||``, to ``module.<name>`` (torch's
    ``torch.nn.utils.weight_norm``).

    The parameter is replaced by ``<name>_g`` (the magnitude, the norm of each slice along
    ``dim``, other dimensions kept as size 1) and ``<name>_v`` (the direction, the original
    values); a forward pre-hook recomputes ``module.<name>`` from them before every forward,
    differentiably. ``dim=None`` normalises over the whole tensor (``<name>_g`` is 0-d).
    Returns the module. Undo with :func:`remove_weight_norm`.
    """
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module: T_module, name: str = "weight") -> T_module:
    """Undo :func:`weight_norm`: ``module.<name>`` becomes a plain parameter again, holding the
    current normalised weight. Returns the module; raises ValueError if ``name`` has no
    weight_norm."""
    return _remove(module, name, WeightNorm, "weight_norm")


def _normalize(x: Tensor, eps: float) -> Tensor:
    """``x / max(||x||, eps)`` for a 1-D tensor (torch's ``F.normalize(x, dim=0)``)."""
    return x / x.norm(2).clamp(min=eps)


class SpectralNorm:
    """The forward pre-hook behind :func:`spectral_norm`: recomputes ``module.<name>`` as
    ``<name>_orig / sigma`` before each forward, running the power iteration first (updating
    the ``<name>_u`` and ``<name>_v`` buffers in place) when the module is training."""

    _version: int = 1
    name: str
    dim: int
    n_power_iterations: int
    eps: float

    def __init__(
        self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12
    ) -> None:
        self.name = name
        self.dim = dim
        self.handle: Any = None  # the forward pre-hook's RemovableHandle, once registered
        if n_power_iterations <= 0:
            raise ValueError(
                "Expected n_power_iterations to be positive, but "
                f"got n_power_iterations={n_power_iterations}"
            )
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        """``weight`` as a matrix: dimension ``dim`` first, the rest flattened."""
        weight_mat = weight
        if self.dim != 0:
            weight_mat = weight_mat.permute(
                self.dim, *[d for d in range(weight_mat.ndim) if d != self.dim]
            )
        height = weight_mat.shape[0]
        return weight_mat.reshape(height, -1)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        """``<name>_orig / sigma``, ``sigma = u . (W v)``; with ``do_power_iteration`` the
        buffers ``u`` and ``v`` are first refined in place, without gradient."""
        weight = getattr(module, self.name + "_orig")
        u_buf = getattr(module, self.name + "_u")
        v_buf = getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with no_grad():
                wm = weight_mat.detach()
                u, v = u_buf.detach(), v_buf.detach()
                for _ in range(self.n_power_iterations):
                    v = _normalize(wm.t().mv(u), self.eps)
                    u = _normalize(wm.mv(v), self.eps)
                v_buf._data[...] = v._data
                u_buf._data[...] = u._data
        # copies: a later in-place power iteration must not change what backward saved
        u = u_buf.detach().clone()
        v = v_buf.detach().clone()
        sigma = u.dot(weight_mat.mv(v))
        return weight / sigma

    def remove(self, module: Module) -> None:
        """Replace ``<name>_orig``, ``<name>_u`` and ``<name>_v`` by a plain parameter
        ``<name>`` holding the current normalised weight (no power iteration)."""
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        delattr(module, self.name + "_u")
        delattr(module, self.name + "_v")
        delattr(module, self.name + "_orig")
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))

    @staticmethod
    def apply(
        module: Module, name: str, n_power_iterations: int, dim: int, eps: float
    ) -> SpectralNorm:
        """Reparametrise ``module.<name>`` and register the hook; returns the hook.

        Raises RuntimeError if ``name`` already has a spectral_norm hook, ValueError if the
        parameter is None.
        """
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(
                    f"Cannot register two spectral_norm hooks on the same parameter {name}"
                )
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        weight = module._parameters[name]
        if weight is None:
            raise ValueError(f"`SpectralNorm` cannot be applied as parameter `{name}` is None")
        from ... import randn

        with no_grad():
            weight_mat = fn.reshape_weight_to_matrix(weight.detach())
            h, w = weight_mat.shape
            u = _normalize(randn(h, dtype=weight.dtype, device=weight.device), fn.eps)
            v = _normalize(randn(w, dtype=weight.dtype, device=weight.device), fn.eps)
        delattr(module, fn.name)
        module.register_parameter(fn.name + "_orig", weight)
        setattr(module, fn.name, weight.detach())
        module.register_buffer(fn.name + "_u", u.detach())
        module.register_buffer(fn.name + "_v", v.detach())
        fn.handle = module.register_forward_pre_hook(fn)
        return fn


def spectral_norm(
    module: T_module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
) -> T_module:
    """Apply spectral normalisation, ``w = w_orig / sigma(w_orig)``, to ``module.<name>``
    (torch's ``torch.nn.utils.spectral_norm``).

    ``sigma`` is the largest singular value of the weight seen as a matrix (dimension ``dim``
    first, the rest flattened), estimated by power iteration: the parameter becomes
    ``<name>_orig``, and the buffers ``<name>_u`` and ``<name>_v`` (random unit vectors at
    first) are refined by ``n_power_iterations`` steps before each forward in training mode
    only. ``dim`` defaults to 1 for ConvTranspose layers, else 0. Gradients flow to
    ``<name>_orig`` through ``sigma``. Returns the module. Undo with
    :func:`remove_spectral_norm`. Raises ValueError for ``n_power_iterations <= 0``.
    """
    if dim is None:
        from ..conv_extra import ConvTranspose1d, ConvTranspose2d

        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d)) else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module: T_module, name: str = "weight") -> T_module:
    """Undo :func:`spectral_norm`: ``module.<name>`` becomes a plain parameter holding the
    current normalised weight. Returns the module; raises ValueError if ``name`` has no
    spectral_norm."""
    return _remove(module, name, SpectralNorm, "spectral_norm")


def _remove(
    module: T_module, name: str, kind: type[WeightNorm] | type[SpectralNorm], what: str
) -> T_module:
    """Undo the ``kind`` hook of parameter ``name``: its plain parameter back, the hook gone."""
    for hook in list(module._forward_pre_hooks.values()):
        if isinstance(hook, kind) and hook.name == name:
            hook.remove(module)
            hook.handle.remove()
            return module
    raise ValueError(f"{what} of '{name}' not found in {module}")
