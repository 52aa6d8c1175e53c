"""The CuPy path: the kernels of ``pydlk._C`` with the same names, arguments, defaults and
return conventions, written with CuPy (CUDA C kernels compiled on first use, cuBLAS through
``cupy.matmul``, cuDNN for convolutions when its frontend is installed) for arrays on a GPU.

One module per family, as csrc/: linear, conv2d, pool2d, norm (batch norm; rownorm: layer, group
and instance norm), activation, dropout, loss, optim, rnn, attention, special, linalg,
grid_sample, matmul, embedding. Importing this package does not import CuPy or compile anything;
CuPy is imported when a kernel first runs. A name ``pydlk._C`` has and this package lacks raises
a NotImplementedError naming it rather than moving data behind the user's back.
"""

from .activation import (
    elu_backward,
    elu_forward,
    gelu_backward,
    gelu_forward,
    gelu_tanh_backward,
    gelu_tanh_forward,
    hardtanh_backward,
    hardtanh_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    maxout_backward,
    maxout_forward,
    mish_backward,
    mish_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    silu_backward,
    silu_forward,
    softmax_backward,
    softmax_forward,
    softplus_backward,
    softplus_forward,
    tanh_backward,
    tanh_forward,
)
from .attention import attn_softmax_backward_, attn_softmax_forward_
from .batchnorm_pool import batchnorm_relu_maxpool2d_backward, batchnorm_relu_maxpool2d_forward
from .conv2d import conv2d_backend, conv2d_backward, conv2d_forward
from .dropout import (
    bernoulli_mask,
    channel_scale,
    dropout_backward,
    dropout_forward,
    philox4x32_10,
    philox_blocks16,
    philox_uniform,
)
from .embedding import embedding_backward
from .grid_sample import grid_sample_backward, grid_sample_forward
from .linalg import ldl_factor, ldl_solve, lu_factor_ex
from .linear import linear_backward, linear_forward
from .loss import (
    bce_with_logits_backward,
    bce_with_logits_forward,
    cross_entropy_backward,
    cross_entropy_forward,
    multi_margin_loss_backward,
    multi_margin_loss_forward,
    nll_loss_backward,
    nll_loss_forward,
)
from .matmul import matmul
from .norm import (
    batchnorm_add_relu_backward,
    batchnorm_add_relu_forward,
    batchnorm_backward,
    batchnorm_forward,
)
from .optim import (
    adagrad_step,
    adam_step,
    add_,
    average_update,
    norm_reduce,
    rmsprop_step,
    scale_,
    sgd_step,
)
from .optim_adam_variants import adamax_step, nadam_step, radam_step
from .pool2d import (
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool2d_forward,
    adaptive_max_pool2d_backward,
    adaptive_max_pool2d_forward,
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)
from .rnn import rnn_backward, rnn_forward
from .rownorm import (
    groupnorm_backward,
    groupnorm_forward,
    instancenorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from .special import special_function

#: Names of pydlk._C with no GPU counterpart on purpose: they configure or describe the CPU
#: kernels (OpenMP threads, build options), which have no meaning for CuPy arrays.
CPU_ONLY = frozenset(
    {
        "config",  # the CPU build's configuration (BLAS, OpenMP, SIMD)
        "get_num_threads",  # OpenMP team size
        "set_num_threads",  # OpenMP team size
        # from which size CPU kernels write outputs with streaming stores
        "get_stream_threshold",
        "set_stream_threshold",
        # the CPU process's NumPy allocator (csrc/numpy_pool.cpp); CuPy has its own memory pool
        "numpy_pool_stats",
        "numpy_pool_release",
        # whether the CPU convolution may choose Winograd (cuDNN makes its own choice)
        "get_conv_winograd",
        "set_conv_winograd",
        # whether it may choose the AVX-512 direct forward, and whether the CPU has AVX-512
        "get_conv_direct",
        "set_conv_direct",
        "conv_direct_supported",
        # which loop the CPU softmax family's exponential sums take
        "get_avx512_exp",
        "set_avx512_exp",
        # AVX512_BF16 / AMX products behind pydlk.autocast(device_type='cpu'), used only for
        # NumPy arrays: CuPy arrays keep their float32 kernels inside autocast
        "bf16_supported",
        "bf16_amx_supported",
        "get_bf16_amx",
        "set_bf16_amx",
        "gemm_bf16",
        "matmul_bf16",
        "linear_bf16_forward",
        "linear_bf16_backward",
        "conv2d_bf16_forward",
        "conv2d_bf16_backward",
    }
)


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotImplementedError(
        f"pydlk: '{name}' has no CUDA (CuPy) kernel; move the arrays to the CPU with .cpu()"
    )
