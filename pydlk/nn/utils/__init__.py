"""Gradient clipping, regularisation penalties, parameters to and from one vector, padding
and packing of sequences, and weight and spectral normalisation (torch.nn.utils; ``rnn`` as
``torch.nn.utils.rnn``: pad_sequence, PackedSequence, pack_padded_sequence, ...;
``parametrize`` and ``parametrizations`` as torch's: register_parametrization, and weight and
spectral normalisation as parametrizations)."""

from . import fusion, parametrizations, parametrize, prune, rnn, stateless  # noqa: F401
from .clip_grad import (  # noqa: F401
    clip_grad_norm,
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)
from .convert_parameters import parameters_to_vector, vector_to_parameters  # noqa: F401
from .fusion import (  # noqa: F401
    fuse_conv_bn_eval,
    fuse_conv_bn_weights,
    fuse_linear_bn_eval,
    fuse_linear_bn_weights,
)
from .penalties import elastic_net_penalty, l1_penalty, l2_penalty  # noqa: F401
from .weight_norm import (  # noqa: F401
    remove_spectral_norm,
    remove_weight_norm,
    spectral_norm,
    weight_norm,
)

__all__ = [
    "clip_grad_norm",
    "clip_grads_with_norm_",
    "fuse_conv_bn_eval",
    "fuse_conv_bn_weights",
    "fuse_linear_bn_eval",
    "fuse_linear_bn_weights",
    "skip_init",
    "clip_grad_norm_",
    "clip_grad_value_",
    "get_total_norm",
    "l1_penalty",
    "l2_penalty",
    "elastic_net_penalty",
    "parameters_to_vector",
    "vector_to_parameters",
    "weight_norm",
    "remove_weight_norm",
    "spectral_norm",
    "remove_spectral_norm",
]


def skip_init(module_cls, *args, **kwargs):
    """``module_cls(*args, **kwargs)`` whose parameters the caller will overwrite (torch builds
    it on the meta device and leaves the memory uninitialised; pydlk initialises as usual, which
    costs a little time and changes nothing). Raises RuntimeError, as torch's, for a class whose
    constructor takes no ``device`` argument."""
    import inspect

    from ..module import Module

    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    return module_cls(*args, **kwargs)
