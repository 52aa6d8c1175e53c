import numpy as np
import pytest

import pydlk


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def threads():
    """Set the thread count inside a test; restored afterwards."""
    before = pydlk.get_num_threads()
    yield pydlk.set_num_threads
    pydlk.set_num_threads(before)


@pytest.fixture(params=["amx", "avx512"])
def bf16_path(request):
    """Each bf16 product test runs on both kernels: AMX tiles (where the CPU has them) and
    AVX512_BF16; the flag is put back afterwards."""
    if request.param == "amx" and not pydlk.backends.cpu.amx_supported():
        pytest.skip("CPU (or OS) has no AMX-BF16")
    pydlk.backends.cpu.allow_amx = request.param == "amx"
    yield request.param
    pydlk.backends.cpu.allow_amx = True


def t64(a, requires_grad=True):
    """A float64 leaf tensor for gradient checks."""
    return pydlk.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def child_env(**extra):
    """Environment for a child Python run from another directory: a relative PYTHONPATH (the
    in-tree dev build's PYTHONPATH=.) is made absolute so the child imports the same pydlk."""
    import os

    env = dict(os.environ, **extra)
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(
            os.path.abspath(p) for p in env["PYTHONPATH"].split(os.pathsep) if p
        )
    return env


def mpiexec():
    """The MPI launcher: $MPIEXEC, else the one beside this Python (the mpi extra's wheel puts
    it there), else one on PATH; None when there is none."""
    import os
    import shutil
    import sys
    from pathlib import Path

    exe = os.environ.get("MPIEXEC")
    if exe:
        return exe
    cand = Path(sys.executable).parent / "mpiexec"
    return str(cand) if cand.exists() else shutil.which("mpiexec")


@pytest.fixture
def float64_default():
    """pydlk (and torch, where installed) with float64 as the default dtype; float32 again
    afterwards."""
    try:
        import torch
    except ImportError:
        torch = None
    pydlk.set_default_dtype(pydlk.float64)
    if torch is not None:
        torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        pydlk.set_default_dtype(pydlk.float32)
        if torch is not None:
            torch.set_default_dtype(torch.float32)
