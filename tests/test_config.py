"""show_config, the thread switch, and the allocator setting."""

import os
import re
import subprocess
import sys

import pytest
from conftest import child_env

import pydlk


def test_show_config_names_every_part(capsys):
    pydlk.show_config()
    out = capsys.readouterr().out
    for key in ("version", "compiler", "OpenMP", "BLAS", "SIMD in use", "bf16 products"):
        assert key in out
    assert "threads" in out and "allocator" in out
    threshold = pydlk.config()["stream_threshold"]
    assert f"streaming stores  row-norm outputs from {threshold / 2**20:g} MiB" in out
    c = pydlk.config()
    assert c["num_threads"] == pydlk.get_num_threads()
    assert c["blas_threads"] == 1  # the BLAS never runs its own pool (see csrc/blas.h)


def test_set_num_threads_governs_kernels_and_rejects_bad_values(threads):
    threads(1)
    assert pydlk.get_num_threads() == 1 and pydlk.config()["num_threads"] == 1
    threads(2)
    assert pydlk.get_num_threads() == 2
    with pytest.raises(ValueError, match=r"set_num_threads: n must be in \[1, "):
        pydlk.set_num_threads(0)
    with pytest.raises(TypeError, match="must be an int"):
        pydlk.set_num_threads(1.5)


def _in_fresh_process(code, **env):
    # cwd: not the source checkout, whose pydlk/ (without _C) would shadow the installed one
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=child_env(**env),
        cwd=os.path.dirname(os.__file__),
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_omp_num_threads_is_honoured():
    assert (
        _in_fresh_process("import pydlk; print(pydlk.get_num_threads())", OMP_NUM_THREADS="1")
        == "1"
    )


def test_allocator_pool_can_be_switched_off():
    code = "import pydlk; print(pydlk.config()['allocator'])"
    if not sys.platform.startswith("linux"):
        pytest.skip("the heap setting is glibc's")
    assert "kept warm" in _in_fresh_process(code)
    assert "PYDLK_MALLOC_POOL=0" in _in_fresh_process(code, PYDLK_MALLOC_POOL="0")


def test_torch_style_import_paths():
    import pydlk.nn.functional as F

    import pydlk.functional
    from pydlk.nn import functional as G

    assert F is G is pydlk.functional and F.conv2d is pydlk.functional.conv2d
    assert _in_fresh_process("import pydlk.nn.functional as F; print(F.relu.__name__)") == "relu"
    from pydlk.utils.data import DataLoader, TensorDataset

    import pydlk.data

    assert DataLoader is pydlk.data.DataLoader and TensorDataset is pydlk.data.TensorDataset


@pytest.mark.parametrize(
    "core,cpu,slow",
    [
        ("Haswell", 3, True),
        ("Zen", 3, True),
        ("Sandybridge", 2, True),
        ("Nehalem", 1, True),
        ("SkylakeX", 3, False),
        ("Haswell", 2, False),
        ("SkylakeX", 2, False),
        ("neoversen1", 3, False),
        ("Haswell", None, False),
    ],
)
def test_blas_kernel_warning_compares_kernels_with_cpu(monkeypatch, core, cpu, slow):
    from pydlk import _blas, _config

    monkeypatch.setattr(_config, "config", lambda: {"blas_core": core})
    monkeypatch.setattr(_blas, "cpu_simd_level", lambda: cpu)
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    msg = _config.blas_kernel_warning()
    assert (msg is not None) == slow
    if slow:
        assert core in msg and "slower than the CPU allows" in msg
        assert ("half speed" in msg) == (cpu == 3 and core in ("Haswell", "Zen"))
        with pytest.warns(RuntimeWarning, match=core):
            _config.warn_if_slow_blas()


_SHOW = (
    "import pydlk, pydlk._config as c; pydlk.show_config(); print('W:', c.blas_kernel_warning())"
)


def _env_without_coretype(**extra):
    env = child_env(**extra)
    if "OPENBLAS_CORETYPE" not in extra:
        env.pop("OPENBLAS_CORETYPE", None)
    return env


def test_show_config_warns_when_openblas_coretype_picks_slow_kernels():
    from pydlk import _blas

    if _blas.cpu_simd_level() != 3:
        pytest.skip("needs an AVX-512 CPU (Linux)")

    def run(**env):
        r = subprocess.run(
            [sys.executable, "-c", _SHOW],
            capture_output=True,
            text=True,
            env=_env_without_coretype(**env),
            cwd=os.path.dirname(os.__file__),
            check=False,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout

    slow = run(OPENBLAS_CORETYPE="Haswell")
    assert re.search(r"^BLAS kernels +Haswell", slow, re.M) and "WARNING" in slow
    assert "OPENBLAS_CORETYPE=Haswell in the environment chose them" in slow
    assert "W: None" not in slow
    fine = run()
    assert "WARNING" not in fine and "W: None" in fine


@pytest.mark.parametrize("user_threads", [None, "3"])
def test_blas_loads_single_threaded_and_the_environment_is_put_back(user_threads):
    # pydlk's own OpenBLAS starts with one thread (no idle server threads beside the OpenMP
    # team), and the variables it sets for that load are the user's again afterwards
    code = (
        "import os, numpy\n"
        "n = len(os.listdir('/proc/self/task'))\n"
        "import pydlk\n"
        "print(len(os.listdir('/proc/self/task')) - n, os.environ.get('OPENBLAS_NUM_THREADS'))\n"
    )
    env = child_env()
    env.pop("OPENBLAS_NUM_THREADS", None)
    if user_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = user_threads
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.__file__),  # the installed pydlk, not the checkout's sources
    ).stdout.split()
    assert out == ["0", str(user_threads)]
