"""pydlk.quasirandom.SobolEngine against torch 2.x: the unscrambled sequence bit for bit (torch
is only the oracle here; pydlk's direction numbers come from the bundled Joe-Kuo table), draw,
draw_base2, fast_forward, reset, dtypes and ``out``; the scrambled sequence's properties
(stratification, determinism by seed, the scrambling's linear structure) since its random
stream is pydlk's; errors. A Sobol point worked out in the test from the table's first rows."""

import gzip
import os

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
from pydlk.quasirandom import SobolEngine

torch = pytest.importorskip("torch")


def _np(t):
    return host(t) if isinstance(t, pydlk.Tensor) else t.numpy()


@pytest.mark.parametrize("dim", [1, 2, 7, 100, 1111])
def test_unscrambled_sequence_and_state_equal_torchs(dim):
    e, t = SobolEngine(dim), torch.quasirandom.SobolEngine(dim)
    np.testing.assert_array_equal(_np(e.sobolstate), _np(t.sobolstate))
    for n in (1, 3, 60, 1):
        a, b = e.draw(n), t.draw(n)
        assert a.dtype == np.float32 and tuple(a.shape) == (n, dim)
        np.testing.assert_array_equal(_np(a), _np(b))
    e.fast_forward(1000)
    t.fast_forward(1000)
    np.testing.assert_array_equal(_np(e.quasi), _np(t.quasi))
    np.testing.assert_array_equal(
        _np(e.draw(33, dtype=pydlk.float64)), _np(t.draw(33, dtype=torch.float64))
    )
    assert e.num_generated == t.num_generated == 1098


def test_sobol_points_by_hand_from_the_table():
    """Dimension 1 has m_j = 1: V_j = 2^-j. Dimension 2 is the table's first row (s=1, a=0,
    m=1): the polynomial x + 1 gives m_k = 2 m_(k-1) ^ m_(k-1): 1, 3, 5, so V = 1/2, 3/4, 5/8.
    Dimension 3 is its second row (s=2, a=1, m=1,3): x^2 + x + 1 gives
    m_3 = 2 m_2 ^ 4 m_1 ^ m_1 = 6 ^ 4 ^ 1 = 3, so V = 1/2, 3/4, 3/8. In Gray-code order point
    t+1 is point t XOR V at t's lowest zero bit (V_1, V_2, V_1, V_3, ...)."""
    path = os.path.join(
        os.path.dirname(pydlk.quasirandom.__file__), "new-joe-kuo-6.21201.first1111.gz"
    )
    with gzip.open(path, "rt") as f:
        rows = f.read().splitlines()
    assert rows[0].split() == ["d", "s", "a", "m_i"] and len(rows) == 1111
    assert rows[1].split() == ["2", "1", "0", "1"] and rows[2].split() == ["3", "2", "1", "1", "3"]
    pts = _np(SobolEngine(3).draw(5, dtype=pydlk.float64))
    np.testing.assert_array_equal(pts[:, 0], [0, 0.5, 0.75, 0.25, 0.375])
    np.testing.assert_array_equal(pts[:, 1], [0, 0.5, 0.25, 0.75, 0.375])
    np.testing.assert_array_equal(pts[:, 2], [0, 0.5, 0.25, 0.75, 0.625])


def test_draw_base2_fast_forward_reset_out_and_repr():
    e, t = SobolEngine(5), torch.quasirandom.SobolEngine(5)
    np.testing.assert_array_equal(_np(e.draw_base2(3)), _np(t.draw_base2(3)))
    with pytest.raises(ValueError) as pe:
        e.draw_base2(1)
    with pytest.raises(ValueError) as te:
        t.draw_base2(1)
    assert str(pe.value) == str(te.value)
    e.fast_forward(0)
    t.fast_forward(0)
    out = pydlk.zeros(1, dtype=pydlk.float64)
    res = e.draw(4, out=out)
    assert res is out and out.dtype == np.float64 and tuple(out.shape) == (4, 5)
    np.testing.assert_array_equal(_np(out), _np(t.draw(4, dtype=torch.float64)))
    assert e.reset() is e and e.num_generated == 0
    t.reset()
    e.fast_forward(7)
    t.fast_forward(7)
    np.testing.assert_array_equal(_np(e.draw(3)), _np(t.draw(3)))
    fresh = SobolEngine(5)
    fresh.fast_forward(1)
    np.testing.assert_array_equal(_np(fresh.draw(2)), _np(SobolEngine(5).draw(3))[1:])
    assert repr(SobolEngine(4, scramble=True, seed=3)) == repr(
        torch.quasirandom.SobolEngine(4, scramble=True, seed=3)
    )
    assert repr(SobolEngine(4)) == "SobolEngine(dimension=4)"


def test_default_dtype_is_followed():
    pydlk.set_default_dtype(pydlk.float64)
    try:
        assert SobolEngine(2).draw(3).dtype == np.float64
    finally:
        pydlk.set_default_dtype(pydlk.float32)
    assert SobolEngine(2).draw(3).dtype == np.float32


def test_scrambled_sequence_is_stratified_deterministic_and_a_digital_shift_of_a_net():
    a = _np(SobolEngine(6, scramble=True, seed=11).draw_base2(8))
    b = _np(SobolEngine(6, scramble=True, seed=11).draw_base2(8))
    c = _np(SobolEngine(6, scramble=True, seed=12).draw_base2(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert ((a >= 0) & (a < 1)).all()
    # a (t, m, s)-net property of every scrambled Sobol sequence: each coordinate puts exactly
    # one of 2^m points in each interval [k / 2^m, (k+1) / 2^m)
    for j in range(6):
        assert np.array_equal(np.sort(np.floor(a[:, j] * 256)), np.arange(256))
    # each pair of the first coordinates is stratified on the 16 x 16 grid
    for i, j in ((0, 1), (0, 2), (1, 2)):
        cells = np.floor(a[:, i] * 16) * 16 + np.floor(a[:, j] * 16)
        assert np.array_equal(np.sort(cells), np.arange(256))
    # the unscrambled points differ: the shift is random
    assert not np.array_equal(a, _np(SobolEngine(6).draw_base2(8)))
    # integration: the mean of x1 * x2 over 2^12 points is close to 1/4
    p = _np(SobolEngine(2, scramble=True, seed=5).draw_base2(12, dtype=pydlk.float64))
    assert abs((p[:, 0] * p[:, 1]).mean() - 0.25) < 1e-3


def test_scrambled_state_keeps_the_xor_structure_and_the_global_generator_seeds_it():
    e = SobolEngine(3, scramble=True, seed=4)
    pts = (_np(e.draw(8, dtype=pydlk.float64)) * 2**30).astype(np.int64)
    shift = _np(e.shift)
    v = _np(e.sobolstate)
    # point k = shift ^ XOR of the direction numbers at the set bits of gray(k); point 0 is
    # the shift divided in float32 (torch's _first_point, whatever dtype is drawn)
    np.testing.assert_array_equal(pts[0], shift.astype(np.float32).astype(np.int64))
    t = torch.quasirandom.SobolEngine(3, scramble=True, seed=4)
    t0 = (t.draw(1, dtype=torch.float64).numpy() * 2**30).astype(np.int64)[0]
    np.testing.assert_array_equal(t0, t.shift.numpy().astype(np.float32).astype(np.int64))
    for k in range(1, 8):
        g, acc = k ^ (k >> 1), shift.copy()
        for bit in range(3):
            if g >> bit & 1:
                acc ^= v[:, bit]
        np.testing.assert_array_equal(pts[k], acc)
    pydlk.manual_seed(9)
    x = _np(SobolEngine(3, scramble=True).draw(4))
    pydlk.manual_seed(9)
    np.testing.assert_array_equal(_np(SobolEngine(3, scramble=True).draw(4)), x)


def test_dimension_out_of_range():
    for d in (0, 1112):
        with pytest.raises(ValueError, match=r"dimensionality for SobolEngine is \[1, 1111\]"):
            SobolEngine(d)
    assert pydlk.quasirandom.__all__ == ["SobolEngine"]


def test_gpu_draw_into_a_device_tensor():
    cp = cupy_or_skip()
    out = pydlk.tensor(cp.zeros(1, np.float32))
    e = SobolEngine(3)
    res = e.draw(5, out=out)
    assert res is out and isinstance(out._data, cp.ndarray)
    np.testing.assert_array_equal(host(out), _np(SobolEngine(3).draw(5)))
