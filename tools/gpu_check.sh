#!/usr/bin/env bash
# The GPU check, one command, run on a machine with an NVIDIA GPU from the checkout's root after
# the wheels and device.sh were prepared beside it (../shared/gpu/README.md: prepare.sh puts
# them into .gpu/). It builds pydlk from the working tree and runs, from outside the tree:
#   the GPU-against-CPU kernel tests and the training-on-GPU tests (tests/test_cuda*.py), then
#   the GPU benchmarks against torch CUDA (bench/test_gpu.py), medians grouped per row.
# Usage: bash tools/gpu_check.sh [extra pytest args, e.g. -x]
set -uo pipefail
cd "$(dirname "$0")/.."
if [ ! -f .gpu/device.sh ]; then
  echo "tools/gpu_check.sh: .gpu/device.sh is missing; run ../shared/gpu/prepare.sh here first" >&2
  exit 2
fi
# one pytest run (one build, ~25 s of device time) for the tests and the benchmarks
# test_cuda_training.py covers capturable Adam/AdamW (against torch, and graph replays equal to
# eager steps), gradcheck/gradgradcheck and doctor on the device; test_cuda_distributed.py's
# NCCL tests use a fake communicator on host memory and skip here (a real NCCL run of DDP and
# SyncBatchNorm needs mpi4py and one GPU per rank).
# Every test file that asks for a device (cupy_or_skip), all of test_cuda*.py and the GPU tests
# (test_gpu_*) of the others: -k matches module names too (attached to -k: device.sh prefixes
# every argument that does not start with a dash with the source path).
# test_cuda_api_names.py checks tools/cupy_api_names.txt against the real CuPy there.
mapfile -t FILES < <(grep -l "cupy_or_skip" tests/test_*.py)
FILES+=(tests/test_cuda_api_names.py)
bash .gpu/device.sh "${FILES[@]}" bench/test_gpu.py "-kgpu or cuda" \
  --benchmark-group-by=group --benchmark-columns=median,min,rounds --benchmark-sort=name "$@"
