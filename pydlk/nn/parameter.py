"""Parameter: a leaf Tensor that a Module registers as learnable (requires_grad by default);
Buffer: a Tensor that a Module registers as a buffer when assigned as an attribute."""

from __future__ import annotations

from ..autograd import Tensor


class Parameter(Tensor):
    """A leaf Tensor that a Module registers as learnable when assigned as an attribute;
    ``requires_grad`` is True by default. ``data`` may be an array or a Tensor (its array is
    shared); None gives an empty parameter of the default float dtype.
    """

    def __init__(self, data=None, requires_grad: bool = True) -> None:
        if data is None:
            import numpy as np

            from ..autograd import _default_floats

            data = np.empty(0, _default_floats()[0])
        super().__init__(
            data._data if isinstance(data, Tensor) else data, requires_grad=requires_grad
        )

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def Buffer(data=None, *, persistent: bool = True) -> Tensor:  # noqa: N802  (torch's class name)
    """torch.nn.Buffer: ``data`` (detached, keeping its requires_grad), marked so that assigning
    it as a Module attribute registers it as a buffer (``persistent=False`` keeps it out of the
    state_dict), as ``register_buffer`` does. Differs from torch: a function returning the
    marked Tensor (torch's class returns a plain Tensor too, so ``isinstance`` checks against
    Buffer are the one difference)."""
    import numpy as np

    if data is None:
        from ..autograd import _default_floats

        data = Tensor(np.empty(0, _default_floats()[0]))
    if not isinstance(data, Tensor):
        data = Tensor(data)
    t = data.detach().requires_grad_(data.requires_grad)
    t.persistent = persistent
    t._is_buffer = True
    return t
