"""Runs the GPU tests of tests/test_cuda_kernels.py, test_cuda_kernel_layouts.py,
test_cuda_training.py, test_cuda_distributed.py and test_cuda_launch.py (and the files listed
below) on the CPU, with the CuPy stand-in of
tools/cupy_host_emulator.py (kernels compiled with g++, one thread per block). See that module
for what this does and does not check. Extra arguments go to pytest.

    PYTHONPATH=. python tools/run_cuda_tests_on_host.py [-x] [-k conv]
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import cupy_host_emulator

cupy_host_emulator.install()

import pytest

sys.exit(
    pytest.main(
        [
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_kernels.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_kernel_layouts.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_training.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_distributed.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_launch.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_everyday.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_adam_variants.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_ops_extra.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_compat_extra2.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_special_functions.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_special_kernels.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_sampling_extra.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_linalg.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_linalg_lu.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_fft.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_spectral.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_complex.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_linalg_eig.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_grid_sample_3d.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_grid_sample_kernel.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_matmul_kernel.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_embedding_kernel.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_bce_logits_kernel.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_torch_namespace_shape.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_torch_namespace_math.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_distributions.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_sparse.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_models_vision.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_models_seq.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_models_misc.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_ops_round2.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_nn_round2.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_train_round2.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_torch_compat_round8_dtypes.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_torch_compat_round8_special.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_torch_compat_round8_nn.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_pinned.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_cuda_interpolate_antialias.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_saved_tensor_hooks.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_lstm_proj.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_torch_compat_round10_gpu.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_torch_compat_round10b_nn.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_torch_compat_round10b_optim.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_torch_compat_round10b_linalg.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_torch_compat_round10b_sobol.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_torch_compat_round9_cuda.py"),
            os.path.join(os.path.dirname(HERE), "tests", "test_tensorboard_writer.py"),
            *sys.argv[1:],
        ]
    )
)
