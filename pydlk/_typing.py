"""Type aliases shared by the annotations of the public API, named as torch names them
(``torch/types.py``, ``torch/nn/common_types.py``). Annotations only: nothing here is checked at
run time."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias

import numpy as np

from ._device import device
from .autograd import Tensor

# A NumPy or CuPy array, what a Tensor holds (CuPy ships no type stubs, so any value).
Array: TypeAlias = Any
# A number where an op takes a scalar (bool and int are accepted where float is).
Number: TypeAlias = float
# What an op accepts where torch takes a Tensor or a Python number.
TensorOrScalar: TypeAlias = Tensor | float
# What pydlk.tensor / as_tensor and ops' other operand accept: a Tensor, an array or a number.
TensorLike: TypeAlias = Tensor | np.ndarray | float
# A shape: one int per dimension.
_size: TypeAlias = Sequence[int]
# A dimension, several dimensions, or None for all of them.
_dims: TypeAlias = int | Sequence[int] | None
# Sizes of 1-d, 2-d and n-d layers: one int for every spatial dimension, or one per dimension.
_size_1_t: TypeAlias = int | tuple[int]
_size_2_t: TypeAlias = int | tuple[int, int]
_size_any_t: TypeAlias = int | tuple[int, ...]
# A dtype: np.dtype, a scalar type (np.float32, float) or its name ("float32").
DTypeLike: TypeAlias = np.dtype | type | str
# A device: pydlk.device, "cpu", "cuda:0", or a CUDA ordinal.
DeviceLike: TypeAlias = device | str | int
# What an optimiser takes: tensors, or parameter groups (dicts with "params" and options).
ParamsT: TypeAlias = Iterable[Tensor] | Iterable[dict[str, Any]]
# What non-differentiable utilities (boxes, anchors) read with np.asarray: a Tensor, an array, or
# (nested) sequences of numbers.
TensorOrArrayLike: TypeAlias = Tensor | np.ndarray | Sequence[Any]
# A filesystem path: a str or an os.PathLike (pathlib.Path), as typeshed's StrPath.
StrPath: TypeAlias = str | os.PathLike[str]
