"""Activations offered as torch offers them (torch.relu(x), x.relu()). They are implemented in
pydlk.functional, which is imported when one is first called: functional builds on ops, so ops
never imports functional at load time (no import cycle)."""

from ._helpers import _axis_alias


def _F():
    from .. import functional

    return functional


def relu(input):
    """``max(input, 0)``, as ``pydlk.nn.functional.relu``."""
    return _F().relu(input)


def sigmoid(input):
    """``1 / (1 + exp(-input))``, as ``pydlk.nn.functional.sigmoid``."""
    return _F().sigmoid(input)


def tanh(input):
    """Hyperbolic tangent, as ``pydlk.nn.functional.tanh``."""
    return _F().tanh(input)


@_axis_alias
def softmax(input, dim, dtype=None):
    """``exp(x) / sum(exp(x))`` along ``dim`` (computed stably); ``dtype`` casts first."""
    return (
        _F().softmax(input, dim=dim, dtype=dtype)
        if dtype is not None
        else _F().softmax(input, dim=dim)
    )


@_axis_alias
def log_softmax(input, dim, dtype=None):
    """``x - logsumexp(x)`` along ``dim``; more accurate than ``log(softmax(x))``."""
    return (
        _F().log_softmax(input, dim=dim, dtype=dtype)
        if dtype is not None
        else _F().log_softmax(input, dim=dim)
    )
