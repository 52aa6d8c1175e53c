"""Parameter: a leaf Tensor that a Module registers as learnable (requires_grad by default)."""

from __future__ import annotations

from ..autograd import Tensor


class Parameter(Tensor):
    """A leaf Tensor that a Module registers as learnable when assigned as an attribute;
    ``requires_grad`` is True by default. ``data`` may be an array or a Tensor (its array is
    shared); None gives an empty float32 parameter.
    """

    def __init__(self, data=None, requires_grad: bool = True) -> None:
        if data is None:
            import numpy as np

            data = np.empty(0, np.float32)
        super().__init__(
            data._data if isinstance(data, Tensor) else data, requires_grad=requires_grad
        )

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
