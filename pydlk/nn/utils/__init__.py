"""Gradient clipping, regularisation penalties, parameters to and from one vector, padding
and packing of sequences, and weight and spectral normalisation (torch.nn.utils; ``rnn`` as
``torch.nn.utils.rnn``: pad_sequence, PackedSequence, pack_padded_sequence, ...;
``parametrize`` and ``parametrizations`` as torch's: register_parametrization, and weight and
spectral normalisation as parametrizations)."""

from . import parametrizations, parametrize, rnn  # noqa: F401
from .clip_grad import clip_grad_norm_, clip_grad_value_, get_total_norm  # noqa: F401
from .convert_parameters import parameters_to_vector, vector_to_parameters  # noqa: F401
from .penalties import elastic_net_penalty, l1_penalty, l2_penalty  # noqa: F401
from .weight_norm import (  # noqa: F401
    remove_spectral_norm,
    remove_weight_norm,
    spectral_norm,
    weight_norm,
)

__all__ = [
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
