"""The CuPy kernels (pydlk._cuda) against the CPU kernels (pydlk._C).

Runs everywhere: every _C kernel has a _cuda counterpart with the same parameter names, order,
keyword-only markers and defaults (read from the _cuda sources with ast and from the pybind11
signatures in _C's docstrings, so no CuPy import is needed); and a NumPy reference of the
Philox dropout scheme that pydlk/_cuda/dropout.py ports to CUDA, checked against _C's masks.

GPU only (skipped without CuPy or a device): each kernel on the GPU against the CPU kernel on
the same inputs, forward and every gradient output, float32 within tolerance, float64 tight.
"""

import ast
import os
import re

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip

from pydlk import _C

CUDA_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pydlk", "_cuda"
)


# ------------------------------------------------------------------ coverage and signatures


def _cuda_functions():
    """{name: ast.FunctionDef} of the public functions defined in pydlk/_cuda/*.py."""
    out = {}
    for f in sorted(os.listdir(CUDA_DIR)):
        if not f.endswith(".py") or f.startswith("_"):
            continue
        with open(os.path.join(CUDA_DIR, f)) as fh:
            tree = ast.parse(fh.read())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                out[node.name] = node
    return out


def _init_tree():
    with open(os.path.join(CUDA_DIR, "__init__.py")) as fh:
        return ast.parse(fh.read())


def _reexported():
    return {
        a.asname or a.name
        for n in _init_tree().body
        if isinstance(n, ast.ImportFrom)
        for a in n.names
    }


def _cpu_only():
    for n in _init_tree().body:
        if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "CPU_ONLY" for t in n.targets):
            return set(ast.literal_eval(n.value.args[0]))
    raise AssertionError("pydlk/_cuda/__init__.py has no CPU_ONLY allow-list")


def _c_kernels():
    return sorted(n for n in dir(_C) if not n.startswith("_"))


def test_every_c_kernel_has_a_cuda_kernel():
    defined, exported, allowed = _cuda_functions(), _reexported(), _cpu_only()
    missing = [n for n in _c_kernels() if n not in allowed and n not in defined]
    assert missing == [], f"_C kernels without a _cuda counterpart: {missing}"
    not_exported = [n for n in _c_kernels() if n not in allowed and n not in exported]
    assert not_exported == [], f"not re-exported by pydlk/_cuda/__init__.py: {not_exported}"
    assert allowed <= set(_c_kernels()), "CPU_ONLY names a kernel _C does not have"


def _split_top(s):
    parts, depth, cur, quote = [], 0, "", None
    for ch in s:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def _c_signature(name):
    """[(param, default or NO, keyword_only)] from the pybind11 signature line."""
    line = getattr(_C, name).__doc__.splitlines()[0]
    m = re.match(rf"{name}\((.*)\) ->", line)
    assert m, line
    params, kw = [], False
    for p in _split_top(m.group(1)):
        if p == "*":
            kw = True
            continue
        pname = p.split(":")[0].strip()
        default = NO
        if " = " in p:
            text = p.rsplit(" = ", 1)[1]
            default = ast.literal_eval(text)
        params.append((pname, default, kw))
    return params


NO = object()


def _py_signature(fn):
    a = fn.args
    pos = a.args
    defaults = [NO] * (len(pos) - len(a.defaults)) + [ast.literal_eval(d) for d in a.defaults]
    out = [(p.arg, d, False) for p, d in zip(pos, defaults)]
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append((p.arg, NO if d is None else ast.literal_eval(d), True))
    return out


@pytest.mark.parametrize("name", [n for n in _c_kernels() if n not in _cpu_only()])
def test_cuda_signature_matches_c(name):
    fn = _cuda_functions()[name]
    want, got = _c_signature(name), _py_signature(fn)
    assert [p[0] for p in got] == [p[0] for p in want], f"{name}: parameter names/order"
    assert [p[2] for p in got] == [p[2] for p in want], f"{name}: keyword-only markers"
    for (pn, wd, _), (_, gd, _) in zip(want, got):
        assert (wd is NO) == (gd is NO) and (wd is NO or wd == gd), (
            f"{name}: default of {pn}: _C {wd!r}, _cuda {gd!r}"
        )


def test_importing_cuda_package_does_not_import_cupy():
    import subprocess
    import sys

    from conftest import child_env

    code = (
        "import sys, pydlk._cuda as c\n"
        "assert 'cupy' not in sys.modules\n"
        "assert callable(c.conv2d_forward) and callable(c.dropout_forward)\n"
        "try:\n    c.no_such_kernel\nexcept NotImplementedError as e:\n"
        "    assert 'no_such_kernel' in str(e)\nelse:\n    raise SystemExit('no error')\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=os.path.dirname(os.__file__),
    )
    assert r.returncode == 0, r.stderr


def test_gpu_tests_pass_on_the_host_emulator():
    """The GPU-vs-CPU tests below, run on the CPU: tools/cupy_host_emulator.py compiles each
    kernel's CUDA C as C++ (one thread per block) behind a NumPy stand-in for CuPy. Checks the
    Python glue, index arithmetic and formulas of every kernel here; the device itself (warp
    reductions, atomics, cuBLAS/cuDNN) is checked by the same tests on a GPU."""
    import shutil
    import subprocess
    import sys

    from conftest import child_env

    if shutil.which("g++") is None:
        pytest.skip("no g++ to build the host emulation")
    root = os.path.dirname(CUDA_DIR.rstrip(os.sep))
    root = os.path.dirname(root)
    import pydlk

    if os.path.dirname(os.path.abspath(pydlk.__file__)) != os.path.join(root, "pydlk"):
        # the emulation imports the package from its checkout, so it needs the in-tree build
        pytest.skip("host emulation runs against the in-tree build (PYTHONPATH=.)")
    r = subprocess.run(
        [
            sys.executable,
            os.path.join(root, "tools", "run_cuda_tests_on_host.py"),
            "-k",
            "gpu_ and not host_emulator",
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=root,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout, r.stdout[-2000:]


# ------------------------------------------------- NumPy reference of the Philox dropout scheme

M32 = np.uint64(0xFFFFFFFF)


def philox_blocks_np(counters, seed):
    """Philox4x32-10 of 64-bit counters (words 2-3 zero), key (seed low, seed high): (n, 4)."""
    c = np.asarray(counters, dtype=np.uint64)
    c0, c1 = c & M32, c >> np.uint64(32)
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        n0 = (p1 >> np.uint64(32)) ^ c1 ^ k0
        n2 = (p0 >> np.uint64(32)) ^ c3 ^ k1
        c0, c1, c2, c3 = n0, p1 & M32, n2, p0 & M32
        k0 = (k0 + np.uint64(0x9E3779B9)) & M32
        k1 = (k1 + np.uint64(0xBB67AE85)) & M32
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.uint32)


def philox_draws_np(seed, offset, n):
    """The uint32 of elements 0..n-1: counter offset//4 + i//4, lane i%4."""
    i = np.arange(n, dtype=np.uint64)
    blocks = philox_blocks_np(np.uint64(offset // 4) + i // np.uint64(4), seed)
    return blocks[np.arange(n), (i % np.uint64(4)).astype(np.int64)]


def keep_threshold_np(p):
    t = p * 16777216.0
    k = int(t)
    return k + 1 if k < t else k


def dropout_mask_np(seed, offset, n, p):
    """(keep bool (n,), packed uint32 mask ((n+31)//32,)): bit i%32 of word i//32."""
    keep = (philox_draws_np(seed, offset, n) >> np.uint32(8)) >= keep_threshold_np(p)
    padded = np.zeros(((n + 31) // 32) * 32, bool)
    padded[:n] = keep
    words = (padded.reshape(-1, 32).astype(np.uint64) << np.arange(32, dtype=np.uint64)).sum(1)
    return keep, words.astype(np.uint32)


def test_philox_reference_matches_c_blocks():
    for ctr, seed in [(0, 0), (1, 5), (2**32 - 1, 2**40 + 7), (2**63 + 12345, 2**64 - 1)]:
        want = _C.philox4x32_10(
            [ctr & 0xFFFFFFFF, ctr >> 32, 0, 0], [seed & 0xFFFFFFFF, seed >> 32]
        )
        assert tuple(int(v) for v in philox_blocks_np([ctr], seed)[0]) == want
    got = philox_blocks_np(np.arange(16, dtype=np.uint64) + np.uint64(77), 99).reshape(-1)
    np.testing.assert_array_equal(got, _C.philox_blocks16(77, 99))


@pytest.mark.parametrize(
    "seed,offset,n",
    [
        (0, 0, 1),
        (7, 0, 33),
        (123456789, 4, 1000),
        (2**63 + 5, 10, 257),
        (42, 3, 130),
        (1, 2**40, 64),
    ],
)
def test_philox_reference_matches_c_uniform_and_masks(seed, offset, n):
    r = philox_draws_np(seed, offset, n)
    u = _C.philox_uniform(np.empty(n), seed, offset)
    np.testing.assert_array_equal(u, (r >> np.uint32(8)).astype(np.float64) / 2.0**24)
    for p in (0.0, 0.1, 0.5, 1.0 / 3.0, 0.999, 1.0):
        keep, words = dropout_mask_np(seed, offset, n, p)
        x = np.linspace(-1, 1, n).astype(np.float32)
        y, mask = _C.dropout_forward(x, p, seed, offset)
        np.testing.assert_array_equal(mask, words)
        scale = np.float32(0.0 if p >= 1 else 1.0 / (1.0 - p))
        np.testing.assert_array_equal(y, x * np.where(keep, scale, np.float32(0)))
        bm = _C.bernoulli_mask(np.empty(n), p, 2.5, seed, offset)
        np.testing.assert_array_equal(bm, np.where(keep, 2.5, 0.0))


def test_cuda_dropout_source_uses_the_reference_constants():
    # The port is checked on a GPU below; here, that its constants are the ones the reference uses.
    with open(os.path.join(CUDA_DIR, "dropout.py")) as fh:
        src = fh.read()
    for const in (
        "0xD2511F53u",
        "0xCD9E8D57u",
        "0x9E3779B9u",
        "0xBB67AE85u",
        "offset / 4 + i / 4",
        "v[i & 3]",
        ">> 8) >= thr",
        "mask[i >> 5] >> (i & 31)",
    ):
        assert const in src, const
    from pydlk._cuda.dropout import keep_threshold

    for p in (0.0, 1e-9, 0.1, 0.5, 1 - 2**-25, 1.0):
        assert keep_threshold(p) == keep_threshold_np(p)


# ---------------------------------------------------------------------------- GPU vs CPU


_cupy = cupy_or_skip


def _to_gpu(cp, v):
    if isinstance(v, np.ndarray):
        return cp.asarray(v)
    if isinstance(v, (list, tuple)) and any(isinstance(e, np.ndarray) for e in v):
        return type(v)(_to_gpu(cp, e) for e in v)
    return v


def _assert_same(cp, got, want, tol, what):
    if want is None:
        assert got is None, what
    elif isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), what
        for k, (g, w) in enumerate(zip(got, want)):
            _assert_same(cp, g, w, tol, f"{what}[{k}]")
    elif isinstance(want, np.ndarray):
        g = cp.asnumpy(got)
        assert g.shape == want.shape and g.dtype == want.dtype, what
        if want.dtype.kind in "iub":
            np.testing.assert_array_equal(g, want, err_msg=what)
        else:
            np.testing.assert_allclose(g, want, rtol=tol, atol=tol, err_msg=what)
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=tol, abs=tol), what
    else:
        assert got == want, what


def assert_gpu_matches_cpu(name, args, kwargs=None, dtype=np.float64, inplace=()):
    """Runs _C.name and _cuda.name on the same inputs; compares results and in-place args."""
    cp = _cupy()
    from pydlk import _cuda

    kwargs = kwargs or {}
    cpu_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    gpu_args = [_to_gpu(cp, a) for a in args]
    want = getattr(_C, name)(*cpu_args, **kwargs)
    got = getattr(_cuda, name)(*gpu_args, **kwargs)
    tol = 2e-4 if np.dtype(dtype) == np.float32 else 1e-10
    _assert_same(cp, got, want, tol, name)
    for k in inplace:
        _assert_same(cp, gpu_args[k], cpu_args[k], tol, f"{name} argument {k}")


DTYPES = [np.float32, np.float64]


def _r(rng, shape, dtype, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, shape).astype(dtype)


ELTWISE = {  # name: (forward params, backward params, which tensor the backward reads)
    "relu": ((), (), "output"),
    "sigmoid": ((), (), "output"),
    "tanh": ((), (), "output"),
    "leaky_relu": ((0.2,), (0.2,), "output"),
    "hardtanh": ((-0.5, 0.7), (-0.5, 0.7), "output"),
    "elu": ((1.3, 1.1, 0.9), (1.3, 1.1, 0.9, 0.0), "input"),
    "silu": ((), (), "input"),
    "mish": ((), (), "input"),
    "gelu": ((), (), "input"),
    "gelu_tanh": ((), (), "input"),
    "softplus": ((2.0, 3.0), (2.0, 3.0), "input"),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ELTWISE))
def test_gpu_eltwise(name, dtype, rng):
    fp, bp, saved = ELTWISE[name]
    x = _r(rng, (7, 33), dtype, -4, 4)
    assert_gpu_matches_cpu(f"{name}_forward", [x, *fp], dtype=dtype)
    s = getattr(_C, f"{name}_forward")(x, *fp) if saved == "output" else x
    assert_gpu_matches_cpu(f"{name}_backward", [_r(rng, x.shape, dtype), s, *bp], dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim,log", [(1, False), (1, True), (-1, False), (0, True)])
def test_gpu_softmax(dim, log, dtype, rng):
    x = _r(rng, (4, 300, 3), dtype, -5, 5)
    assert_gpu_matches_cpu("softmax_forward", [x, dim, log], dtype=dtype)
    y = _C.softmax_forward(x, dim, log)
    assert_gpu_matches_cpu("softmax_backward", [_r(rng, x.shape, dtype), y, dim, log], dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_maxout_and_attention(dtype, rng):
    x = _r(rng, (3, 12, 5), dtype)
    assert_gpu_matches_cpu("maxout_forward", [x, 3, 1], dtype=dtype)
    _, idx = _C.maxout_forward(x, 3, 1)
    assert_gpu_matches_cpu("maxout_backward", [_r(rng, (3, 4, 5), dtype), idx, 3, 1], dtype=dtype)
    s = _r(rng, (2, 3, 5, 70), dtype, -3, 3)
    s[0, 0, 1, :] = -np.inf  # a fully masked row gives zeros
    assert_gpu_matches_cpu("attn_softmax_forward_", [s], dtype=dtype, inplace=(0,))
    p = s.copy()
    _C.attn_softmax_forward_(p)
    assert_gpu_matches_cpu(
        "attn_softmax_backward_", [_r(rng, s.shape, dtype), p], dtype=dtype, inplace=(0,)
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_linear(dtype, rng):
    x, w, b = _r(rng, (9, 6), dtype), _r(rng, (4, 6), dtype), _r(rng, (4,), dtype)
    assert_gpu_matches_cpu("linear_forward", [x, w, b], dtype=dtype)
    assert_gpu_matches_cpu("linear_backward", [_r(rng, (9, 4), dtype), x, w], dtype=dtype)
    assert_gpu_matches_cpu(
        "linear_backward", [_r(rng, (9, 4), dtype), x, w, False, True, False], dtype=dtype
    )


CONV_CASES = [  # (N, C, H, W, K, R, S, stride, padding, dilation, groups)
    (2, 3, 9, 8, 4, 3, 3, 1, 1, 1, 1),
    (2, 4, 11, 10, 6, 3, 2, (2, 1), (1, 0), (1, 2), 2),
    (1, 6, 7, 7, 6, 3, 3, 1, 1, 1, 6),  # depthwise
    (3, 2, 5, 6, 5, 1, 1, 1, 0, 1, 1),
    (2, 4, 10, 9, 8, 5, 3, 3, 2, 2, 4),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_gpu_conv2d_both_paths(case, dtype, rng):
    cp = _cupy()
    from pydlk._cuda import conv2d as cv

    N, C, H, W, K, R, S, st, pd, dl, G = case
    x, w, b = _r(rng, (N, C, H, W), dtype), _r(rng, (K, C // G, R, S), dtype), _r(rng, (K,), dtype)
    y = _C.conv2d_forward(x, w, b, st, pd, dl, G)
    dy = _r(rng, y.shape, dtype)
    for force_im2col in (False, True):
        saved = cv._state["cudnn"]
        if force_im2col:
            cv._state["cudnn"] = False
        try:
            assert_gpu_matches_cpu("conv2d_forward", [x, w, b, st, pd, dl, G], dtype=dtype)
            assert_gpu_matches_cpu("conv2d_backward", [dy, x, w, st, pd, dl, G], dtype=dtype)
            if force_im2col:
                assert cv.conv2d_backend() == "im2col"
            else:
                assert cv.conv2d_backend() in ("cudnn", "im2col")
        finally:
            cv._state["cudnn"] = saved
    assert cp is not None


@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_pooling(dtype, rng):
    x = _r(rng, (2, 3, 11, 9), dtype)
    for args in [
        (3, 2, 1, 1, False),
        ((3, 2), (2, 1), (1, 0), (2, 1), True),
        (2, None, 0, 1, False),
    ]:
        assert_gpu_matches_cpu("max_pool2d_forward", [x, *args], dtype=dtype)
        y, idx = _C.max_pool2d_forward(x, *args)
        assert_gpu_matches_cpu(
            "max_pool2d_backward", [_r(rng, y.shape, dtype), idx, (11, 9), *args], dtype=dtype
        )
    for args in [
        (3, 2, 1, True, True, None),
        ((3, 2), 2, (1, 1), True, False, None),
        (2, 1, 0, False, True, 3),
    ]:
        assert_gpu_matches_cpu("avg_pool2d_forward", [x, *args], dtype=dtype)
        y = _C.avg_pool2d_forward(x, *args)
        assert_gpu_matches_cpu(
            "avg_pool2d_backward", [_r(rng, y.shape, dtype), (11, 9), *args], dtype=dtype
        )
    for out in [(4, 5), (1, 1), (11, 9), (6, 2)]:
        assert_gpu_matches_cpu("adaptive_avg_pool2d_forward", [x, out], dtype=dtype)
        assert_gpu_matches_cpu(
            "adaptive_avg_pool2d_backward", [_r(rng, (2, 3, *out), dtype), (11, 9)], dtype=dtype
        )
        assert_gpu_matches_cpu("adaptive_max_pool2d_forward", [x, out], dtype=dtype)
        _, idx = _C.adaptive_max_pool2d_forward(x, out)
        assert_gpu_matches_cpu(
            "adaptive_max_pool2d_backward",
            [_r(rng, (2, 3, *out), dtype), idx, (11, 9)],
            dtype=dtype,
        )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
def test_gpu_batchnorm(training, dtype, rng):
    x = _r(rng, (4, 3, 5, 6), dtype) + 3
    w, b = _r(rng, (3,), dtype), _r(rng, (3,), dtype)
    rm, rv = _r(rng, (3,), dtype), _r(rng, (3,), dtype, 0.5, 2)
    assert_gpu_matches_cpu(
        "batchnorm_forward", [x, w, b, rm, rv, training, 0.2, 1e-3], dtype=dtype, inplace=(3, 4)
    )
    _, m, r = _C.batchnorm_forward(x, w, b, rm.copy(), rv.copy(), training, 0.2, 1e-3)
    assert_gpu_matches_cpu(
        "batchnorm_backward", [_r(rng, x.shape, dtype), x, w, m, r, training], dtype=dtype
    )
    assert_gpu_matches_cpu(
        "batchnorm_backward", [_r(rng, x.shape, dtype), x, None, m, r, training], dtype=dtype
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
def test_gpu_batchnorm_add_relu(training, dtype, rng):
    x = _r(rng, (4, 3, 5, 6), dtype)
    res = _r(rng, x.shape, dtype)
    w, b = _r(rng, (3,), dtype), _r(rng, (3,), dtype)
    rm, rv = _r(rng, (3,), dtype), _r(rng, (3,), dtype, 0.5, 2)
    for r in (None, res):
        assert_gpu_matches_cpu(
            "batchnorm_add_relu_forward",
            [x, r, w, b, rm, rv, training, 0.2, 1e-3],
            dtype=dtype,
            inplace=(4, 5),
        )
    y, m, s = _C.batchnorm_add_relu_forward(x, res, w, b, rm.copy(), rv.copy(), training, 0.2, 1e-3)
    assert_gpu_matches_cpu(
        "batchnorm_add_relu_backward",
        [_r(rng, x.shape, dtype), y, x, w, m, s, training],
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 3, 6, 10), (2, 3, 7, 19)])
def test_gpu_batchnorm_relu_maxpool2d(shape, training, dtype, rng):
    """The fused batch norm + ReLU + 2x2 max pool: pooled output, statistics, arg-max bytes
    and running stats as the CPU kernel's; its backward from the CPU's arg-maxes."""
    x = _r(rng, shape, dtype)
    C = shape[1]
    w, b = _r(rng, (C,), dtype), _r(rng, (C,), dtype)
    rm, rv = _r(rng, (C,), dtype), _r(rng, (C,), dtype, 0.5, 2)
    assert_gpu_matches_cpu(
        "batchnorm_relu_maxpool2d_forward",
        [x, w, b, rm, rv, training, 0.2, 1e-3],
        dtype=dtype,
        inplace=(3, 4),
    )
    y, m, s, arg = _C.batchnorm_relu_maxpool2d_forward(
        x, w, b, rm.copy(), rv.copy(), training, 0.2, 1e-3
    )
    for wb in ((w, b), (None, None)):
        assert_gpu_matches_cpu(
            "batchnorm_relu_maxpool2d_backward",
            [_r(rng, y.shape, dtype), arg, x, *wb, m, s, training],
            dtype=dtype,
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_row_norms(dtype, rng):
    x = _r(rng, (6, 50), dtype) + 1
    w, b = _r(rng, (50,), dtype), _r(rng, (50,), dtype)
    assert_gpu_matches_cpu("layernorm_forward", [x, w, b, 1e-4], dtype=dtype)
    _, m, r = _C.layernorm_forward(x, w, b, 1e-4)
    assert_gpu_matches_cpu("layernorm_backward", [_r(rng, x.shape, dtype), x, w, m, r], dtype=dtype)
    assert_gpu_matches_cpu(
        "layernorm_backward", [_r(rng, x.shape, dtype), x, None, m, r], dtype=dtype
    )
    xg = _r(rng, (3, 6, 4, 5), dtype)
    wg, bg = _r(rng, (6,), dtype), _r(rng, (6,), dtype)
    assert_gpu_matches_cpu("groupnorm_forward", [xg, 3, wg, bg], dtype=dtype)
    _, m, r = _C.groupnorm_forward(xg, 3, wg, bg)
    assert_gpu_matches_cpu(
        "groupnorm_backward", [_r(rng, xg.shape, dtype), xg, 3, wg, m, r], dtype=dtype
    )
    rm, rv = _r(rng, (6,), dtype), _r(rng, (6,), dtype, 0.5, 2)
    assert_gpu_matches_cpu(
        "instancenorm_forward", [xg, wg, bg, rm, rv, 0.3], dtype=dtype, inplace=(3, 4)
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_gpu_losses(smoothing, dtype, rng):
    x = _r(rng, (5, 7, 3), dtype, -3, 3)
    t = rng.integers(0, 7, (5, 3))
    t[1, 2] = -100
    w = _r(rng, (7,), dtype, 0.1, 2)
    for weight in (None, w):
        assert_gpu_matches_cpu(
            "cross_entropy_forward", [x, t, weight, -100, smoothing], dtype=dtype
        )
        _, lse, _, _ = _C.cross_entropy_forward(x, t, weight, -100, smoothing)
        g = _r(rng, (5, 3), dtype)
        assert_gpu_matches_cpu(
            "cross_entropy_backward", [g, 1.0, x, lse, t, weight, -100, smoothing], dtype=dtype
        )
        assert_gpu_matches_cpu(
            "cross_entropy_backward", [None, 0.25, x, lse, t, weight, -100, smoothing], dtype=dtype
        )
        prob = _r(rng, x.shape, dtype, 0, 1)
        assert_gpu_matches_cpu(
            "cross_entropy_forward", [x, prob, weight, -100, smoothing], dtype=dtype
        )
        _, lse, _, _ = _C.cross_entropy_forward(x, prob, weight, -100, smoothing)
        assert_gpu_matches_cpu(
            "cross_entropy_backward", [g, 1.0, x, lse, prob, weight, -100, smoothing], dtype=dtype
        )
        assert_gpu_matches_cpu("nll_loss_forward", [x, t, weight], dtype=dtype)
        assert_gpu_matches_cpu("nll_loss_backward", [g, 1.0, x, t, weight], dtype=dtype)
        assert_gpu_matches_cpu("nll_loss_backward", [None, 0.5, x, t, weight], dtype=dtype)
    x2, t2 = _r(rng, (6, 5), dtype), rng.integers(0, 5, 6)
    for p in (1, 2):
        assert_gpu_matches_cpu("multi_margin_loss_forward", [x2, t2, p, 0.7, w[:5]], dtype=dtype)
        assert_gpu_matches_cpu(
            "multi_margin_loss_backward",
            [_r(rng, (6,), dtype), 1.0, x2, t2, p, 0.7, None],
            dtype=dtype,
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_dropout_masks_equal_cpu(dtype, rng):
    for n, seed, offset, p in [
        (1, 3, 0, 0.5),
        (1000, 2**63 + 9, 6, 0.3),
        (4099, 7, 4096, 0.9),
        (64, 1, 0, 0.0),
        (65, 1, 0, 1.0),
    ]:
        x = _r(rng, (n,), dtype)
        assert_gpu_matches_cpu("dropout_forward", [x, p, seed, offset], dtype=dtype)
        _, mask = _C.dropout_forward(x, p, seed, offset)
        g = _r(rng, (n,), dtype)
        assert_gpu_matches_cpu("dropout_backward", [g, mask, p, seed, offset], dtype=dtype)
        assert_gpu_matches_cpu("dropout_backward", [g, None, p, seed, offset], dtype=dtype)
        assert_gpu_matches_cpu(
            "philox_uniform", [np.empty(n, dtype), seed, offset], dtype=dtype, inplace=(0,)
        )
        assert_gpu_matches_cpu(
            "bernoulli_mask", [np.empty(n, dtype), p, 1.7, seed, offset], dtype=dtype, inplace=(0,)
        )
    assert_gpu_matches_cpu(
        "channel_scale", [_r(rng, (3, 4, 5), dtype), _r(rng, (3, 4), dtype)], dtype=dtype
    )
    cp = _cupy()
    from pydlk import _cuda

    assert _cuda.philox4x32_10([1, 2, 3, 4], [5, 6]) == _C.philox4x32_10([1, 2, 3, 4], [5, 6])
    np.testing.assert_array_equal(
        cp.asnumpy(_cuda.philox_blocks16(2**40 + 3, 11)), _C.philox_blocks16(2**40 + 3, 11)
    )


OPTIM = [
    ("sgd_step", lambda P, S, g: [P, None, g, 0.1], {"weight_decay": 0.01, "l1": 0.001}),
    ("sgd_step", lambda P, S, g: [P, S[0], g, 0.1, 0.9, 0.1], {"nesterov": False}),
    ("sgd_step", lambda P, S, g: [P, S[0], g, 0.1, 0.9, 0.0], {"nesterov": True, "first": True}),
    (
        "adam_step",
        lambda P, S, g: [P, S[0], S[1], None, g, 1e-2, 0.9, 0.999, 1e-8],
        {"weight_decay": 0.01, "step": 3},
    ),
    (
        "adam_step",
        lambda P, S, g: [P, S[0], S[1], S[2], g, 1e-2, 0.8, 0.99, 1e-8],
        {"weight_decay": 0.1, "step": 5, "decoupled": True, "maximize": True, "l1": 0.01},
    ),
    ("rmsprop_step", lambda P, S, g: [P, S[0], None, None, g, 1e-2, 0.99, 1e-8], {}),
    (
        "rmsprop_step",
        lambda P, S, g: [P, S[0], S[1], S[2], g, 1e-2, 0.9, 1e-8],
        {"momentum": 0.5, "weight_decay": 0.01},
    ),
    (
        "adamax_step",
        lambda P, S, g: [P, S[0], S[1], g, 1e-2, 0.9, 0.999, 1e-8],
        {"weight_decay": 0.01, "l1": 0.001, "step": 3, "maximize": True},
    ),
    (
        "nadam_step",
        lambda P, S, g: [P, S[0], S[1], g, 1e-2, 0.9, 0.999, 1e-8],
        {"weight_decay": 0.1, "mu": 0.45, "mu_next": 0.46, "mu_product": 0.2, "step": 2},
    ),
    (
        "nadam_step",
        lambda P, S, g: [P, S[0], S[1], g, 1e-2, 0.8, 0.99, 1e-8],
        {"weight_decay": 0.1, "mu_product": 0.3, "step": 4, "decoupled": True, "l1": 0.01},
    ),
    (
        "radam_step",
        lambda P, S, g: [P, S[0], S[1], g, 1e-2, 0.9, 0.999, 1e-8],
        {"weight_decay": 0.01, "step": 2},  # rho_t <= 5: the momentum step
    ),
    (
        "radam_step",
        lambda P, S, g: [P, S[0], S[1], g, 1e-2, 0.9, 0.999, 1e-8],
        {"weight_decay": 0.1, "step": 9, "decoupled": True, "maximize": True},
    ),
    (
        "adagrad_step",
        lambda P, S, g: [P, S[0], g, 0.1],
        {"lr_decay": 0.01, "step": 4, "weight_decay": 0.1, "l1": 0.01},
    ),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", range(len(OPTIM)))
def test_gpu_optimiser_steps(k, dtype, rng):
    name, make, kw = OPTIM[k]
    n = 1000
    P, g = _r(rng, (n,), dtype), _r(rng, (n,), dtype)
    S = [_r(rng, (n,), dtype, 0.1, 1) for _ in range(3)]
    args = make(P, S, g)
    inplace = tuple(i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a is not g)
    assert_gpu_matches_cpu(name, args, kw, dtype=dtype, inplace=inplace)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_arena_helpers(dtype, rng):
    a, x = _r(rng, (777,), dtype), _r(rng, (777,), dtype)
    assert_gpu_matches_cpu("average_update", [a, x, 0.25], dtype=dtype, inplace=(0,))
    assert_gpu_matches_cpu("scale_", [a, -1.5], dtype=dtype, inplace=(0,))
    assert_gpu_matches_cpu("add_", [a, x], dtype=dtype, inplace=(0,))
    x[::7] = 0
    for p in (2.0, 1.0, 0.0, 3.0, float("inf"), float("-inf")):
        assert_gpu_matches_cpu("norm_reduce", [x, p], dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_gpu_rnn(mode, dtype, rng):
    S, N, I, H = 5, 3, 4, 6
    G = {0: 1, 1: 1, 2: 4, 3: 3}[mode]
    x, h0, c0 = (
        _r(rng, (S, N, I), dtype, -1, 1),
        _r(rng, (N, H), dtype, -1, 1),
        _r(rng, (N, H), dtype, -1, 1),
    )
    wi, wh = _r(rng, (G * H, I), dtype, -0.5, 0.5), _r(rng, (G * H, H), dtype, -0.5, 0.5)
    bi, bh = _r(rng, (G * H,), dtype, -0.5, 0.5), _r(rng, (G * H,), dtype, -0.5, 0.5)
    c = c0 if mode == 2 else None
    assert_gpu_matches_cpu("rnn_forward", [x, h0, c, wi, wh, bi, bh, mode], dtype=dtype)
    assert_gpu_matches_cpu("rnn_forward", [x, h0, c, wi, wh, None, None, mode], dtype=dtype)
    h_all, c_all, gates = _C.rnn_forward(x, h0, c, wi, wh, bi, bh, mode)
    dy, dhn = _r(rng, (S, N, H), dtype), _r(rng, (N, H), dtype)
    dcn = _r(rng, (N, H), dtype) if mode == 2 else None
    assert_gpu_matches_cpu(
        "rnn_backward",
        [dy, dhn, dcn, x, h0, c, wi, wh, True, h_all, c_all, gates, mode],
        dtype=dtype,
    )
    assert_gpu_matches_cpu(
        "rnn_backward",
        [dy, None, None, x, h0, c, wi, wh, False, h_all, c_all, gates, mode, False, True, False],
        dtype=dtype,
    )
