"""nn.DataParallel: torch's single-process multi-GPU wrapper. pydlk runs the wrapped module
on its own device (torch does the same when it sees no GPU, or one): the wrapper keeps
torch's surface (``.module``, ``device_ids``, ``state_dict`` keys prefixed ``module.``), so
scripts that wrap their model unconditionally, or save ``model.module.state_dict()``, run
unchanged."""

from __future__ import annotations

from typing import Any

from ..module import Module

__all__ = ["DataParallel", "data_parallel"]


class DataParallel(Module):
    """``DataParallel(module, device_ids=None, output_device=None, dim=0)``: calls
    ``module(*inputs, **kwargs)``. Differs from torch: the batch is not scattered over several
    GPUs (use DistributedDataParallel for data parallelism)."""

    def __init__(
        self, module: Module, device_ids: Any = None, output_device: Any = None, dim: int = 0
    ) -> None:
        super().__init__()
        self.module = module
        self.device_ids = [] if device_ids is None else list(device_ids)
        self.output_device = output_device
        self.dim = dim

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)


def data_parallel(
    module: Module,
    inputs: Any,
    device_ids: Any = None,
    output_device: Any = None,
    dim: int = 0,
    module_kwargs: Any = None,
) -> Any:
    """The functional form of DataParallel: ``module(*inputs, **module_kwargs)``."""
    if not isinstance(inputs, tuple):
        inputs = (inputs,) if inputs is not None else ()
    return module(*inputs, **(module_kwargs or {}))
