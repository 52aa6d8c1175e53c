"""Differentiable ops under torch.nn.functional's names, argument names and defaults.

One module per kernel family (the same families as ``csrc/``). Each accepts Tensors or arrays
and returns a Tensor.
"""

from .activation import *  # noqa: F401,F403
from .activation_extra import *  # noqa: F401,F403
from .activation_more import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .conv_extra import *  # noqa: F401,F403
from .ctc import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .dropout_compat import *  # noqa: F401,F403
from .embedding import *  # noqa: F401,F403
from .embedding_bag import *  # noqa: F401,F403
from .fold_unfold import *  # noqa: F401,F403
from .fractional_pool import *  # noqa: F401,F403
from .grid_sampling import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .losses_extra import *  # noqa: F401,F403
from .losses_more import *  # noqa: F401,F403
from .misc_more import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .pool1d import *  # noqa: F401,F403
from .ranking_loss import *  # noqa: F401,F403
from .rms_norm import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .sampling import *  # noqa: F401,F403
from .shape_ops import *  # noqa: F401,F403
from .similarity import *  # noqa: F401,F403
from .style import *  # noqa: F401,F403
from .svm_loss import *  # noqa: F401,F403
from .volumetric import *  # noqa: F401,F403
