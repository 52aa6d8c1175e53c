"""torch.nn.utils.stateless: ``functional_call``, the older spelling of
``pydlk.func.functional_call`` (torch deprecated it for torch.func's in 2.0)."""

from __future__ import annotations

from typing import Any

__all__ = ["functional_call"]


def functional_call(
    module,
    parameters_and_buffers,
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
):
    """``module(*args, **kwargs)`` with the named parameters and buffers replaced for this
    call: ``pydlk.func.functional_call``, after torch's FutureWarning that it moved there."""
    import warnings

    from ...func import functional_call as _functional_call

    warnings.warn(
        "`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 and will be "
        "removed in a future version of PyTorch. Please use `torch.func.functional_call` "
        "instead which is a drop-in replacement.",
        FutureWarning,
        stacklevel=2,
    )
    return _functional_call(
        module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict
    )
