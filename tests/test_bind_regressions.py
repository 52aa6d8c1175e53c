"""Regression tests for defects the pybind11 bindings of pydlk._C once had.

Each test names the defect it guards against and why the older bindings failed it:
* optional arrays (bias, c0, loss class weight, rnn biases) were cast to a temporary
  py::array whose data pointer outlived it, so a list or an ``__array__`` object was read
  after being freed (garbage results or a crash), and a non-array c0 in RNN/GRU mode crashed;
* int arguments were cast with pybind11's int64_t caster, so 2**63 escaped as RuntimeError
  "Unable to cast Python instance" without the op or the argument name;
* maxout_backward multiplied the output size by pool_size before any bound, so a huge
  pool_size first tried to allocate the result.
The reference for the array cases is the call with plain contiguous ndarrays, itself checked
against NumPy formulas in the kernel tests; here the NumPy formula is repeated for linear.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from conftest import child_env

from pydlk import _C

RNN_TANH, RNN_RELU, LSTM, GRU = 0, 1, 2, 3


class ArrayLike:
    """An object NumPy converts through ``__array__``, returning a fresh array on every call,
    so a binding that keeps only a pointer into the converted copy reads freed memory."""

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    def __array__(self, dtype=None, copy=None):
        out = np.array(self._a, copy=True)
        return out if dtype is None else out.astype(dtype)


def _run_child(code: str) -> subprocess.CompletedProcess:
    """Runs code in a fresh interpreter, so a segfault is a failed test, not a dead pytest."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=child_env(),
        cwd=os.path.dirname(os.__file__),
    )


@pytest.mark.parametrize("mode", [RNN_TANH, RNN_RELU, GRU])
@pytest.mark.parametrize("c0", ["True", "'x'", "1.5", "(1, 2)"])
def test_rnn_bad_c0_is_a_type_error(mode, c0):
    # Old code: for non-LSTM modes c0 went through opt<T>(c0), i.e. c0.cast<py::array>() of an
    # arbitrary object, then a pointer into a dropped temporary: a crash or an unnamed error.
    r = _run_child(f"""
        import numpy as np
        from pydlk import _C
        S, N, I, H, G = 2, 3, 4, 5, {3 if mode == GRU else 1}
        x = np.ones((S, N, I)); h0 = np.zeros((N, H))
        wih = np.full((G * H, I), 0.1); whh = np.full((G * H, H), 0.1)
        bias = np.zeros(G * H)
        for call in ("f", "b"):
            try:
                if call == "f":
                    _C.rnn_forward(x, h0, {c0}, wih, whh, bias, bias, {mode})
                else:
                    h, c, g = _C.rnn_forward(x, h0, None, wih, whh, bias, bias, {mode})
                    _C.rnn_backward(np.ones_like(h), None, None, x, h0, {c0}, wih, whh, True,
                                    h, c, g, {mode})
            except TypeError as e:
                assert "c0" in str(e) and "rnn_" in str(e), str(e)
            else:
                raise AssertionError(call + ": accepted c0 = " + repr({c0}))
        print("OK")
    """)
    assert r.returncode == 0 and "OK" in r.stdout, (r.returncode, r.stdout, r.stderr[-2000:])


def _variants(a: np.ndarray):
    return [a.tolist(), ArrayLike(a)]


def test_linear_forward_list_and_array_like_bias():
    # Old code: the bias pointer came from a temporary cast of the list; result was garbage.
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)
    ref = x @ w.T + b
    np.testing.assert_allclose(_C.linear_forward(x, w, b), ref, rtol=1e-12, atol=1e-12)
    for bv in _variants(b):
        for _ in range(3):
            np.testing.assert_array_equal(_C.linear_forward(x, w, bv), _C.linear_forward(x, w, b))
    # Required array arguments take ndarrays only: anything else is pybind11's TypeError,
    # which starts with the op name.
    for wv in _variants(w):
        with pytest.raises(TypeError, match="^linear_forward"):
            _C.linear_forward(x, wv, b)


def test_conv2d_forward_list_and_array_like_bias():
    rng = np.random.default_rng(1)
    x, w, b = (
        rng.standard_normal((2, 3, 6, 6)),
        rng.standard_normal((4, 3, 3, 3)),
        rng.standard_normal(4),
    )
    ref = _C.conv2d_forward(x, w, b, 1, 1)
    # A bias added to the bias-free result: an independent check of where bias goes.
    np.testing.assert_allclose(
        ref, _C.conv2d_forward(x, w, None, 1, 1) + b[:, None, None], rtol=1e-12, atol=1e-12
    )
    for bv in _variants(b):
        np.testing.assert_array_equal(_C.conv2d_forward(x, w, bv, 1, 1), ref)
    for wv in _variants(w):
        with pytest.raises(TypeError, match="^conv2d_forward"):
            _C.conv2d_forward(x, wv, b, 1, 1)


def test_loss_class_weight_list_and_array_like():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 4))
    t = rng.integers(0, 4, 6).astype(np.int64)
    wt = rng.uniform(0.5, 2.0, 4)
    ref = _C.cross_entropy_forward(x, t, wt)
    ref_nll = _C.nll_loss_forward(x, t, wt)
    for wv in _variants(wt):
        got = _C.cross_entropy_forward(x, t, wv)
        for g, r in zip(got, ref):
            np.testing.assert_array_equal(g, r)
        got = _C.nll_loss_forward(x, t, wv)
        for g, r in zip(got, ref_nll):
            np.testing.assert_array_equal(g, r)


@pytest.mark.parametrize("mode", [RNN_TANH, LSTM, GRU])
def test_rnn_optional_args_list_and_array_like(mode):
    rng = np.random.default_rng(3)
    S, N, I, H = 3, 2, 4, 5
    G = {RNN_TANH: 1, LSTM: 4, GRU: 3}[mode]
    x, h0 = rng.standard_normal((S, N, I)), rng.standard_normal((N, H))
    c0 = rng.standard_normal((N, H)) if mode == LSTM else None
    wih, whh = rng.standard_normal((G * H, I)) * 0.3, rng.standard_normal((G * H, H)) * 0.3
    bih, bhh = rng.standard_normal(G * H), rng.standard_normal(G * H)
    ref = _C.rnn_forward(x, h0, c0, wih, whh, bih, bhh, mode)
    for k in range(2):
        bi, bh = _variants(bih)[k], _variants(bhh)[k]
        cv = _variants(c0)[k] if c0 is not None else None
        got = _C.rnn_forward(x, h0, cv, wih, whh, bi, bh, mode)
        for g, r in zip(got, ref):
            np.testing.assert_array_equal(g, r)


HUGE = [2**63, -(2**63) - 1, 2**64]


@pytest.mark.parametrize("v", HUGE)
def test_conv2d_huge_ints_name_the_argument(v):
    # Old code: int_pair cast with pybind11's int64_t caster -> RuntimeError "Unable to cast".
    x, w = np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3))
    for name in ("stride", "padding", "dilation", "groups"):
        with pytest.raises(ValueError, match=f"conv2d.*{name}"):
            _C.conv2d_forward(x, w, None, **{name: v})


@pytest.mark.parametrize("v", HUGE)
def test_pool_huge_ints_name_the_argument(v):
    x = np.ones((1, 1, 4, 4))
    for name in ("kernel_size", "stride", "padding", "dilation"):
        kw = {"kernel_size": 2, name: v}
        with pytest.raises(ValueError, match=f"max_pool2d.*{name}"):
            _C.max_pool2d_forward(x, **kw)
    with pytest.raises(ValueError, match="avg_pool2d.*kernel_size"):
        _C.avg_pool2d_forward(x, v)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d.*output_size"):
        _C.adaptive_avg_pool2d_forward(x, v)
    with pytest.raises(ValueError, match="adaptive_max_pool2d.*output_size"):
        _C.adaptive_max_pool2d_forward(x, (v, 1))
    with pytest.raises(ValueError, match="maxout.*pool_size"):
        _C.maxout_forward(np.ones((2, 4)), v)


@pytest.mark.parametrize("pool_size", [2**40, 2**31 - 1])
def test_maxout_backward_huge_pool_size_refused_without_allocating(pool_size):
    # Old code: shape[dim] *= pool_size, then py::array(shape) - an allocation of up to
    # 8 * 2**40 * 4 bytes (MemoryError or an OOM kill) before the index check ran.
    dy = np.ones((2, 4))
    idx = np.zeros((2, 4), dtype=np.int64)
    t0 = time.perf_counter()
    # 2**40 is over the int range (names pool_size); 2**31 - 1 is in range but the result
    # (2, 4 * pool_size) is refused by the size check before allocation (names grad_input).
    with pytest.raises(ValueError, match="^maxout_backward: .*(pool_size|grad_input)"):
        _C.maxout_backward(dy, idx, pool_size)
    assert time.perf_counter() - t0 < 0.1


def test_zero_d_array_as_int_or_pair():
    # Found by test_fuzz: a 0-d ndarray passes PySequence_Check but has no len(), so the
    # pair and word readers escaped with a bare "len() of unsized object" TypeError.
    x = np.ones((1, 1, 4, 4))
    np.testing.assert_array_equal(
        _C.avg_pool2d_forward(x, np.array(2)), _C.avg_pool2d_forward(x, 2)
    )
    with pytest.raises(TypeError, match="^avg_pool2d: kernel_size"):
        _C.avg_pool2d_forward(x, np.array(2.0))
    with pytest.raises(TypeError, match="^philox4x32_10: counter"):
        _C.philox4x32_10(np.array(1), [0, 0])


@pytest.mark.parametrize("shape", [(1, 1, 0), (2, 3, 0), (0, 2, 4)])
def test_batchnorm_training_on_empty_spatial_sizes(shape):
    # Found by the AddressSanitizer run of test_fuzz: with a spatial size of 0 the training
    # forward read x[c * S] of an empty array (a heap overflow the normal build did not show).
    # torch gives an empty output; the batch statistics of no values are NaN-free here: mean 0.
    for dt in (np.float32, np.float64):
        x = np.zeros(shape, dt)
        y, mean, rstd = _C.batchnorm_add_relu_forward(
            x, None, None, None, None, None, True, 0.1, 1e-5
        )
        assert y.shape == shape and mean.shape == (shape[1],) and rstd.shape == (shape[1],)
        np.testing.assert_array_equal(mean, 0)
