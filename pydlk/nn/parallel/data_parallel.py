"""nn.DataParallel: torch's single-process multi-GPU wrapper. pydlk runs the wrapped module
on its own device (torch does the same when it sees no GPU, or one): the wrapper keeps
torch's surface (``.module``, ``device_ids``, ``state_dict`` keys prefixed ``module.``), so
scripts that wrap their model unconditionally, or save ``model.module.state_dict()``, run
unchanged."""

from __future__ import annotations

from typing import Any

from ...autograd import Tensor
from ..module import Module

__all__ = ["DataParallel", "data_parallel"]


def _device_of_module(module: Module) -> str | None:
    """The device of ``module``'s first parameter (else buffer); None when it has neither."""
    for p in module.parameters():
        return str(p.device)
    for b in module.buffers():
        return str(b.device)
    return None


def _to(obj: Any, device: str) -> Any:
    """Tensors in ``obj`` (nested tuples, lists and dicts, as torch's scatter walks them) moved
    to ``device``; everything else as it is."""
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple
        return type(obj)(*(_to(v, device) for v in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to(v, device) for v in obj)
    if isinstance(obj, dict):
        return type(obj)((k, _to(v, device)) for k, v in obj.items())
    return obj


def _output_device(output_device: Any) -> str | None:
    """torch's ``output_device`` as a device string: an int is that GPU (-1 the CPU)."""
    if output_device is None:
        return None
    if isinstance(output_device, int):
        return "cpu" if output_device < 0 else f"cuda:{output_device}"
    return str(output_device)


class DataParallel(Module):
    """``DataParallel(module, device_ids=None, output_device=None, dim=0)``: calls
    ``module(*inputs, **kwargs)``. As torch's scatter and gather, the inputs' Tensors go to the
    module's GPU when its parameters are on one (a CPU batch into a wrapped GPU model works), and
    the outputs to ``output_device`` when one is given. Differs from torch: the batch is not
    split over several GPUs (use DistributedDataParallel for data parallelism)."""

    def __init__(
        self, module: Module, device_ids: Any = None, output_device: Any = None, dim: int = 0
    ) -> None:
        super().__init__()
        self.module = module
        self.device_ids = [] if device_ids is None else list(device_ids)
        self.output_device = output_device
        self.dim = dim

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        dev = _device_of_module(self.module)
        if dev is not None and dev.startswith("cuda"):
            inputs, kwargs = _to(inputs, dev), _to(kwargs, dev)
        out = self.module(*inputs, **kwargs)
        target = _output_device(self.output_device)
        return out if target is None or dev is None or target == dev else _to(out, target)


def data_parallel(
    module: Module,
    inputs: Any,
    device_ids: Any = None,
    output_device: Any = None,
    dim: int = 0,
    module_kwargs: Any = None,
) -> Any:
    """The functional form of DataParallel: ``module(*inputs, **module_kwargs)``, the inputs
    moved to the module's GPU and the outputs to ``output_device`` as ``DataParallel`` does."""
    if not isinstance(inputs, tuple):
        inputs = (inputs,) if inputs is not None else ()
    return DataParallel(module, device_ids, output_device, dim)(*inputs, **(module_kwargs or {}))
