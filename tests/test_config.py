"""show_config, the thread switch, and the allocator setting."""
import os
import subprocess
import sys

import pytest

import pydlk
from conftest import child_env


def test_show_config_names_every_part(capsys):
    pydlk.show_config()
    out = capsys.readouterr().out
    for key in ("version", "compiler", "OpenMP", "BLAS", "SIMD in use", "threads", "allocator"):
        assert key in out
    c = pydlk.config()
    assert c["num_threads"] == pydlk.get_num_threads()
    assert c["blas_threads"] == 1  # the BLAS never runs its own pool (see csrc/blas.h)


def test_set_num_threads_governs_kernels_and_rejects_bad_values(threads):
    threads(1)
    assert pydlk.get_num_threads() == 1 and pydlk.config()["num_threads"] == 1
    threads(2)
    assert pydlk.get_num_threads() == 2
    with pytest.raises(ValueError, match="n must be >= 1"):
        pydlk.set_num_threads(0)
    with pytest.raises(TypeError, match="must be an int"):
        pydlk.set_num_threads(1.5)


def _in_fresh_process(code, **env):
    # cwd: not the source checkout, whose pydlk/ (without _C) would shadow the installed one
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=child_env(**env), cwd=os.path.dirname(os.__file__))
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_omp_num_threads_is_honoured():
    assert _in_fresh_process("import pydlk; print(pydlk.get_num_threads())",
                             OMP_NUM_THREADS="1") == "1"


def test_allocator_pool_can_be_switched_off():
    code = "import pydlk; print(pydlk.config()['allocator'])"
    if not sys.platform.startswith("linux"):
        pytest.skip("the heap setting is glibc's")
    assert "kept warm" in _in_fresh_process(code)
    assert "PYDLK_MALLOC_POOL=0" in _in_fresh_process(code, PYDLK_MALLOC_POOL="0")


def test_torch_style_import_paths():
    import pydlk.functional
    import pydlk.nn.functional as F
    from pydlk.nn import functional as G
    assert F is G is pydlk.functional and F.conv2d is pydlk.functional.conv2d
    assert _in_fresh_process("import pydlk.nn.functional as F; print(F.relu.__name__)") == "relu"
    from pydlk.utils.data import DataLoader, TensorDataset
    import pydlk.data
    assert DataLoader is pydlk.data.DataLoader and TensorDataset is pydlk.data.TensorDataset
