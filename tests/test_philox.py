"""Philox4x32-10: Random123's known-answer vectors, a plain-Python reference, a NumPy mask."""

import numpy as np
import pytest

import pydlk
from pydlk import _C

M32 = 0xFFFFFFFF


def philox_ref(ctr, key):
    """Philox4x32-10 from the paper (Salmon et al. 2011), in plain Python integers."""
    c = list(ctr)
    k0, k1 = key
    for _ in range(10):
        p0 = 0xD2511F53 * c[0]
        p1 = 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c[3] ^ k1) & M32, p0 & M32]
        k0 = (k0 + 0x9E3779B9) & M32
        k1 = (k1 + 0xBB67AE85) & M32
    return tuple(c)


def philox_np(seed, offset, n):
    """The uint32 of elements 0..n-1 for (seed, offset), vectorised in NumPy (uint64 arithmetic):
    element i uses counter offset//4 + i//4 (words 0-1), lane i % 4."""
    nb = (n + 3) // 4
    ctr = np.uint64(offset // 4) + np.arange(nb, dtype=np.uint64)
    m = np.uint64(M32)
    c0, c1 = ctr & m, ctr >> np.uint64(32)
    c2 = np.zeros(nb, np.uint64)
    c3 = np.zeros(nb, np.uint64)
    k0, k1 = seed & M32, (seed >> 32) & M32
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (
            (p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0),
            p1 & m,
            (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1),
            p0 & m,
        )
        k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
    return np.stack([c0, c1, c2, c3], axis=1).reshape(-1)[:n].astype(np.uint32)


# Random123 kat_vectors, "philox4x32 10": counter (4 words), key (2 words) -> 4 words.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((M32, M32, M32, M32), (M32, M32), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("ctr,key,want", KAT)
def test_known_answer_vectors(ctr, key, want):
    assert philox_ref(ctr, key) == want  # the test's own reference
    assert _C.philox4x32_10(list(ctr), list(key)) == want  # the kernel's block


def test_block_matches_python_reference_on_random_inputs():
    rng = np.random.default_rng(5)
    for _ in range(20):
        ctr = [int(v) for v in rng.integers(0, 2**32, 4)]
        key = [int(v) for v in rng.integers(0, 2**32, 2)]
        assert _C.philox4x32_10(ctr, key) == philox_ref(ctr, key)


def test_numpy_reference_agrees_with_python_reference():
    seed, offset = (7 << 32) | 12345, 40
    r = philox_np(seed, offset, 12)
    for i in range(12):
        blk = philox_ref((offset // 4 + i // 4, 0, 0, 0), (seed & M32, seed >> 32))
        assert r[i] == blk[i % 4]


@pytest.mark.parametrize("n", [1, 5, 63, 64, 65, 1000, 70001])
@pytest.mark.parametrize("offset", [0, 8, 2**33 + 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_matches_numpy(n, offset, dtype):
    seed = 0x1234_5678_9ABC_DEF0
    out = np.full(n, -1.0, dtype)
    assert _C.philox_uniform(out, seed, offset) is out
    want = (philox_np(seed, offset, n) >> 8).astype(np.float64) / 2.0**24
    np.testing.assert_array_equal(out, want.astype(dtype))
    assert out.min() >= 0 and out.max() < 1


def test_uniform_same_with_one_and_two_threads(threads):
    a, b = np.empty(200_003, np.float32), np.empty(200_003, np.float32)
    threads(1)
    _C.philox_uniform(a, 99, 4)
    threads(2)
    _C.philox_uniform(b, 99, 4)
    np.testing.assert_array_equal(a, b)
    want = (philox_np(99, 4, a.size) >> 8).astype(np.float64) / 2.0**24  # the NumPy Philox
    np.testing.assert_array_equal(a, want.astype(np.float32))


def test_uniform_is_uniform():
    u = _C.philox_uniform(np.empty(400_000), 3, 0)
    counts, _ = np.histogram(u, bins=20, range=(0, 1))
    expect = u.size / 20
    chi2 = float(np.sum((counts - expect) ** 2 / expect))
    assert chi2 < 60  # 19 degrees of freedom; p < 1e-5 above 60
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size)


@pytest.mark.parametrize("p", [0.0, 0.25, 0.5, 1.0])
def test_bernoulli_mask_matches_numpy(p):
    n, seed, offset = 1001, 17, 12
    out = _C.bernoulli_mask(np.empty(n, np.float32), p, 2.5, seed, offset)
    u = (philox_np(seed, offset, n) >> 8).astype(np.float64) / 2.0**24
    np.testing.assert_array_equal(out, np.where(u >= p, 2.5, 0.0).astype(np.float32))


def test_bad_arguments():
    with pytest.raises(TypeError, match="out"):
        _C.philox_uniform(np.empty(4, np.int32), 1, 0)
    with pytest.raises(ValueError, match="p must be in"):
        _C.bernoulli_mask(np.empty(4), 1.5, 1.0, 1, 0)
    with pytest.raises(ValueError, match="philox_uniform: seed must be in \\[0, 2\\*\\*64\\)"):
        _C.philox_uniform(np.empty(4), -1, 0)  # seeds are unsigned 64-bit


def test_manual_seed_restarts_the_stream():
    from pydlk._random import default_generator

    pydlk.manual_seed(11)
    a = default_generator.philox_seed_offset(10)
    b = default_generator.philox_seed_offset(10)
    assert a == (11, 0) and b == (11, 12)
    pydlk.manual_seed(11)
    assert default_generator.philox_seed_offset(10) == a


@pytest.mark.parametrize("impl", ["auto", "portable", "avx2", "avx512"])
def test_vector_implementations_agree(impl):
    if impl == "avx512" and "AVX-512" not in _C.config()["simd"]:
        pytest.skip("no AVX-512 here")
    for ctr, seed in [(0, 0), (5, 2**64 - 1), (2**32 - 3, 0x0123456789ABCDEF), (2**33 - 9, 77)]:
        try:
            got = _C.philox_blocks16(ctr, seed, impl)
        except ValueError as e:
            pytest.skip(str(e))
        np.testing.assert_array_equal(got, philox_np(seed, 4 * ctr, 64))


def test_chunk_boundaries_of_the_vector_generator():
    # the kernels draw 128 numbers per generator call; sizes around multiples of it
    for n in (127, 128, 129, 255, 257):
        for offset in (0, 4, 2**32 * 4 - 8):
            out = _C.philox_uniform(np.empty(n), 5, offset)
            want = (philox_np(5, offset, n) >> 8).astype(np.float64) / 2.0**24
            np.testing.assert_array_equal(out, want)
