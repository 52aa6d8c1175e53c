"""pydlk.distributions: torch.distributions' API (the distributions VAEs and policy-gradient
scripts use) on pydlk tensors, on the CPU and the GPU.

``Normal``, ``Uniform``, ``Categorical``, ``Bernoulli`` and ``Independent``, under torch's
names, constructor arguments, attributes and methods (``batch_shape``, ``event_shape``,
``sample``, ``rsample``, ``log_prob``, ``entropy``, ``mean``, ``mode``, ``variance``,
``stddev``, ``expand``), and ``kl_divergence`` / ``register_kl``.

``log_prob``, ``entropy``, ``rsample`` and ``kl_divergence`` are differentiable with respect to
the parameters. Draws come from pydlk's generator (``pydlk.manual_seed``) on the host and go to
the parameters' device, so the same seed gives the same draws on the CPU and the GPU; the
numbers differ from torch's (another random stream), not their distribution. As in torch,
``validate_args`` is on by default: invalid parameters (``scale <= 0``, ``probs`` outside
[0, 1]) or ``log_prob`` values outside the support raise ValueError.
"""

from . import constraints
from .bernoulli import Bernoulli
from .categorical import Categorical
from .distribution import Distribution
from .independent import Independent
from .kl import kl_divergence, register_kl
from .normal import Normal
from .uniform import Uniform

__all__ = [
    "Bernoulli",
    "Categorical",
    "Distribution",
    "Independent",
    "Normal",
    "Uniform",
    "constraints",
    "kl_divergence",
    "register_kl",
]
