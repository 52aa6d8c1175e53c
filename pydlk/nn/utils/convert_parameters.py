"""parameters_to_vector and vector_to_parameters, as torch.nn.utils.convert_parameters."""

from __future__ import annotations

from collections.abc import Iterable

from ...autograd import Tensor
from ...ops import cat

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and concatenated into one 1-D tensor (differentiable, a copy).

    Raises ValueError for no parameters and RuntimeError for parameters on different devices.
    """
    params = list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: expected at least one parameter, got none")
    devices = {str(p.device) for p in params}
    if len(devices) > 1:
        raise RuntimeError(
            f"parameters_to_vector: found parameters on different devices {sorted(devices)}"
        )
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Write consecutive slices of the 1-D ``vec`` into ``parameters`` (each ``p.data = ...``,
    as torch's; a parameter packed by an optimiser keeps its slot and takes the values).

    Raises TypeError unless vec is a Tensor, ValueError if its length is not the parameters'
    total size.
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected vec to be a Tensor, got {type(vec)}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise ValueError(
            f"vector_to_parameters: vec must be 1-D of length {total} (the parameters' total "
            f"size), got shape {tuple(vec.shape)}"
        )
    pointer = 0
    for p in params:
        n = p.numel()
        p.data = vec[pointer : pointer + n].view_as(p).data
        pointer += n
