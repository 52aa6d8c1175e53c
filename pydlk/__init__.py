"""pydlk: a deep-learning training kit with a PyTorch-style API on NumPy arrays.

Kernels are C++17 + OpenMP (``pydlk._C``); arrays on a GPU (CuPy) take the ``pydlk._cuda`` path.
"""

from . import _blas

_blas.load()

from . import (  # noqa: E402,F401  # noqa: E402,F401
    _C,  # noqa: E402
    _tensor_methods,  # noqa: E402,F401  (attaches the ops to Tensor; see that file)
    accelerator,
    amp,  # noqa: E402,F401
    backends,
    compiler,
    cpu,
    cuda,
    distributed,  # noqa: E402,F401
    functional,  # noqa: E402
    models,  # noqa: E402,F401
    mps,
    nn,
    ops,  # noqa: E402
    optim,
    random,
    utils,
    version,
    xpu,
)
from ._config import config, get_num_threads, set_num_threads, show_config  # noqa: E402
from ._device import device  # noqa: E402
from ._legacy_types import (  # noqa: E402  (torch's legacy types: torch.FloatTensor(2, 3), ...)
    BFloat16Tensor,
    BoolTensor,
    ByteTensor,
    CharTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
    ShortTensor,
    set_default_tensor_type,
)
from ._oom import OutOfMemoryError  # noqa: E402  (torch.OutOfMemoryError, raised for the GPU)
from ._random import (
    Generator,
    get_rng_state,
    initial_seed,
    manual_seed,  # noqa: E402
    seed,
    set_rng_state,
)
from ._size import Size  # noqa: E402
from ._torch_namespace import *  # noqa: E402,F401,F403  (torch.dropout, torch.batch_norm, ...)
from ._torch_namespace_more import *  # noqa: E402,F401,F403  (torch.abs_, torch.conv3d, ...)
from .amp import (  # noqa: E402,F401  (torch.GradScaler: torch 2.3's top-level name)
    GradScaler,
    autocast,
    get_autocast_dtype,
    is_autocast_enabled,
)
from .autograd import (
    Function,
    Tensor,
    as_tensor,
    enable_grad,
    from_dlpack,  # noqa: E402
    from_numpy,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
    tensor,
)
from .backends import (  # noqa: E402,F401
    are_deterministic_algorithms_enabled,
    get_float32_matmul_precision,
    is_deterministic_algorithms_warn_only_enabled,
    set_float32_matmul_precision,
    use_deterministic_algorithms,
)
from .compiler import compile  # torch.compile: the model itself (pydlk runs eagerly)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402
from .linalg._toplevel import (  # noqa: E402,F401  (torch.inverse, torch.svd, ...)
    cholesky,
    cholesky_inverse,
    cholesky_solve,
    cross,
    det,
    geqrf,
    inverse,
    logdet,
    lu,
    lu_solve,
    lu_unpack,
    matrix_exp,
    matrix_power,
    orgqr,
    ormqr,
    pca_lowrank,
    pinverse,
    qr,
    slogdet,
    svd,
    svd_lowrank,
    triangular_solve,
    vander,
)
from .ops import *  # noqa: E402,F401,F403
from .serialization import load, save  # noqa: E402,F401
from .sparse import (  # noqa: E402,F401  (torch.sparse_coo_tensor, torch.sparse_coo, ...)
    hspmm,
    layout,
    smm,
    sparse_coo,
    sparse_coo_tensor,
    spmm,
    strided,
)
from .summary import summary  # noqa: E402,F401

__version__ = config()["version"]
from . import (  # noqa: E402,F401
    distributions,
    ensemble,
    fft,
    func,
    hub,
    jit,
    linalg,
    multiprocessing,
    profiler,
    quasirandom,
    sparse,
    special,
    testing,
    text,  # noqa: E402,F401
    vision,  # noqa: E402,F401
    visualize,
)
from .func import vmap  # noqa: E402,F401  (torch.vmap)
from .functional import (
    conv1d,
    conv_transpose1d,
    conv_transpose2d,
    cosine_similarity,
    pairwise_distance,
    prelu,
)  # noqa: F401,I001


def __getattr__(name):
    # pydlk.bfloat16 is made on first use: importing ml_dtypes takes seconds
    if name == "bfloat16":
        from .ops.conversions import bfloat16_dtype

        return bfloat16_dtype()
    raise AttributeError(f"module 'pydlk' has no attribute {name!r}")
