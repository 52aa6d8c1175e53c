"""pydlk's NumPy allocator (csrc/numpy_pool.cpp): freed blocks of 32 MiB and more are kept and
handed out again for a request of about the same size; smaller ones go to malloc untouched.

What is checked here is what NumPy users see: the same address comes back for a same-sized
array (so its pages are warm), np.zeros on a reused block is all zeros, the cache never holds
more than its cap, a resized array keeps its data, and PYDLK_MALLOC_POOL=0 leaves NumPy's own
allocator in place. Speed is bench/test_dropout.py's (its autograd row allocates 64 MiB
outputs on every call)."""

import threading

import numpy as np
import pytest
from test_config import _in_fresh_process

from pydlk import _C

MiB = 1 << 20

pytestmark = pytest.mark.skipif(
    not _C.numpy_pool_stats()["installed"], reason="pydlk's NumPy allocator is glibc-only"
)


@pytest.fixture(autouse=True)
def _empty_pool():
    _C.numpy_pool_release()
    yield
    _C.numpy_pool_release()


def _addr(a):
    return a.__array_interface__["data"][0]


def _handler_name():
    get = getattr(np, "get_handler_name", None) or np._core.multiarray.get_handler_name
    return get()


def test_handler_is_installed_for_this_thread():
    assert _handler_name() == "pydlk_pool"
    stats = _C.numpy_pool_stats()
    assert stats["min_block_bytes"] == 32 * MiB
    assert 0 < stats["limit_bytes"] <= 1024 * MiB


def test_a_freed_large_block_comes_back_warm_and_zeros_are_zeros():
    a = np.empty(40 * MiB, np.uint8)
    first = _addr(a)
    a.fill(0xAB)
    del a
    assert _C.numpy_pool_stats()["blocks"] == 1
    b = np.empty(40 * MiB, np.uint8)  # the same block
    assert _addr(b) == first
    assert _C.numpy_pool_stats()["blocks"] == 0
    del b
    z = np.zeros(10 * MiB, np.float32)  # calloc of the same 40 MiB: cleared, not stale
    assert _addr(z) == first
    assert not z.any()
    del z
    # A request more than 1/8 smaller than the block does not take it (a 40 MiB block stays
    # for 40 MiB requests); at most 1/8 smaller does.
    c = np.empty(34 * MiB, np.uint8)
    assert _addr(c) != first
    d = np.empty(36 * MiB, np.uint8)
    assert _addr(d) == first
    del c, d


def test_small_arrays_bypass_the_cache():
    before = _C.numpy_pool_stats()
    for _ in range(5):
        a = np.ones(8 * MiB, np.uint8)
        del a
    after = _C.numpy_pool_stats()
    assert after["blocks"] == 0 and after["cached_bytes"] == 0
    assert (after["hits"], after["misses"]) == (before["hits"], before["misses"])


def test_the_cache_stays_under_its_cap_and_can_be_released():
    limit = _C.numpy_pool_stats()["limit_bytes"]
    n = limit // (64 * MiB) + 2  # more than the cap holds; np.empty touches no page
    arrays = [np.empty(64 * MiB, np.uint8) for _ in range(n)]
    del arrays
    stats = _C.numpy_pool_stats()
    assert 0 < stats["cached_bytes"] <= limit
    assert stats["blocks"] < n
    assert _C.numpy_pool_release() == stats["cached_bytes"]
    assert _C.numpy_pool_stats()["cached_bytes"] == 0


def test_resize_keeps_the_data_and_other_threads_free_into_the_cache():
    a = np.arange(10 * MiB, dtype=np.int32)  # 40 MiB
    a.resize(12 * MiB, refcheck=False)  # realloc of a live block
    np.testing.assert_array_equal(a[: 10 * MiB], np.arange(10 * MiB, dtype=np.int32))
    assert not a[10 * MiB :].any()
    holder = [a]
    del a
    _C.numpy_pool_release()  # the comparison's temporaries
    t = threading.Thread(target=holder.clear)  # freed on another thread
    t.start()
    t.join()
    assert _C.numpy_pool_stats()["blocks"] == 1


def test_switched_off_in_the_environment():
    code = (
        "import numpy as np, pydlk; from pydlk import _C; "
        "get = getattr(np, 'get_handler_name', None) or np._core.multiarray.get_handler_name; "
        "print(get(), _C.numpy_pool_stats()['installed'], pydlk.config()['numpy_allocator'])"
    )
    out = _in_fresh_process(code, PYDLK_MALLOC_POOL="0")
    assert out.startswith("default_allocator False ")
    assert "PYDLK_MALLOC_POOL=0" in out
    assert _in_fresh_process(code).startswith("pydlk_pool True cached above 32 MiB")
