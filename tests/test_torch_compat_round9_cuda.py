"""``pydlk.OutOfMemoryError`` raised where CuPy's allocations fail, ``pydlk.cuda``'s
``memory_cached``/``max_memory_cached``, ``get_arch_list``, ``init``, ``ipc_collect`` and
``nvtx``, the legacy CUDA tensor types, GPU tensors through multiprocessing's pickler and
``pydlk.jit.save``/``load`` of a GPU model.

The ``test_gpu_*`` tests run on a GPU and under the host emulation
(tools/run_cuda_tests_on_host.py, whose memory pool's ``set_limit`` stands for a full GPU), and
skip without either; the others check the behaviour without CUDA against torch's CPU build, and
the mapping of CuPy's errors with stand-in exceptions of CuPy's classes' modules and names."""

import io
import pickle
import warnings
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
import pydlk.multiprocessing  # noqa: F401  (registers the Tensor reducer)
from pydlk import nn
from pydlk.autograd import Function
from pydlk.cuda import nvtx

torch = pytest.importorskip("torch")


def _no_gpu_or_skip():
    if pydlk.cuda.is_available():
        pytest.skip("a GPU is present")


class CupyOutOfMemory(MemoryError):
    """What CuPy raises for a failed pool allocation (its class's module and name)."""


CupyOutOfMemory.__module__ = "cupy.cuda.memory"
CupyOutOfMemory.__name__ = CupyOutOfMemory.__qualname__ = "OutOfMemoryError"


class CudaRuntimeError(RuntimeError):
    """What CuPy raises for a failed cudaMalloc outside its pool."""


CudaRuntimeError.__module__ = "cupy_backends.cuda.api.runtime"
CudaRuntimeError.__name__ = CudaRuntimeError.__qualname__ = "CUDARuntimeError"


class Failing(Function):
    """An op whose forward (or backward) raises ``error``, as a kernel's allocation would."""

    array_io = True  # pydlk's own ops' protocol: arrays in, arrays out
    error: BaseException | None = None
    backward_error: BaseException | None = None

    @staticmethod
    def forward(ctx, x):
        if Failing.error is not None:
            raise Failing.error
        return x * 2

    @staticmethod
    def backward(ctx, g):
        raise Failing.backward_error


# ----------------------------------------------------------------------------- without a GPU


def test_cupys_allocation_failures_become_out_of_memory_error_in_ops(monkeypatch):
    x = pydlk.ones(2)
    oom = CupyOutOfMemory(
        "Out of memory allocating 2,147,483,648 bytes (allocated so far: 1,024 bytes)."
    )
    monkeypatch.setattr(Failing, "error", oom)
    with pytest.raises(pydlk.OutOfMemoryError) as e:
        Failing.apply(x)
    assert str(e.value).startswith("CUDA out of memory. Tried to allocate 2.00 GiB.")
    assert "allocated so far: 1,024 bytes" in str(e.value) and e.value.__cause__ is oom
    assert isinstance(e.value, RuntimeError) and not isinstance(e.value, MemoryError)
    rt = CudaRuntimeError("cudaErrorMemoryAllocation: out of memory")
    monkeypatch.setattr(Failing, "error", rt)
    with pytest.raises(pydlk.cuda.OutOfMemoryError, match="^CUDA out of memory. CuPy: CUDARun"):
        Failing.apply(x)
    # other errors pass unchanged: NumPy's MemoryError, CuPy's other runtime errors
    for other in (MemoryError("host"), CudaRuntimeError("cudaErrorIllegalAddress")):
        monkeypatch.setattr(Failing, "error", other)
        with pytest.raises(type(other)) as e2:
            Failing.apply(x)
        assert e2.value is other


def test_backward_and_optimizer_step_raise_out_of_memory_error(monkeypatch):
    monkeypatch.setattr(
        Failing, "backward_error", CupyOutOfMemory("Out of memory allocating 512 bytes")
    )
    w = pydlk.ones(2, requires_grad=True)
    y = Failing.apply(w).sum()
    with pytest.raises(pydlk.OutOfMemoryError, match="Tried to allocate 512 bytes"):
        y.backward()
    y = Failing.apply(w).sum()
    with pytest.raises(pydlk.OutOfMemoryError):
        pydlk.autograd.grad(y, w)
    opt = pydlk.optim.SGD([w], lr=0.1)
    w.grad = pydlk.ones(2)

    def full(*args):
        raise CupyOutOfMemory("Out of memory allocating 1,536 bytes")

    monkeypatch.setattr(opt, "_step_arena", full)
    with pytest.raises(pydlk.OutOfMemoryError, match="Tried to allocate 1.50 KiB"):
        opt.step()


def test_memory_cached_aliases_warn_as_torch():
    with pytest.warns(FutureWarning, match="`pydlk.cuda.memory_cached` has been renamed"):
        cached = pydlk.cuda.memory_cached()
    with pytest.warns(FutureWarning, match="`pydlk.cuda.max_memory_cached` has been renamed"):
        peak = pydlk.cuda.max_memory_cached()
    with pytest.warns(FutureWarning, match="renamed to `torch.cuda.memory_reserved`"):
        torch_cached = torch.cuda.memory_cached()
    assert cached == pydlk.cuda.memory_reserved() and peak == pydlk.cuda.max_memory_reserved()
    if not pydlk.cuda.is_available():
        assert cached == peak == torch_cached == 0


def test_arch_list_init_and_ipc_collect_on_a_cpu_only_machine_as_torch():
    _no_gpu_or_skip()
    assert pydlk.cuda.get_arch_list() == torch.cuda.get_arch_list() == []
    with pytest.raises(RuntimeError, match="CUDA is not available|CuPy is not installed"):
        pydlk.cuda.init()
    with pytest.raises((RuntimeError, AssertionError)):
        torch.cuda.init()
    with pytest.raises(RuntimeError, match="CUDA is not available|CuPy is not installed"):
        pydlk.cuda.ipc_collect()
    with pytest.raises((RuntimeError, AssertionError)):
        torch.cuda.ipc_collect()


def test_nvtx_functions_are_no_ops_that_return_torchs_values():
    assert nvtx.range_push("outer") == 0 and nvtx.range_push("inner") == 1
    assert nvtx.range_pop() == 1 and nvtx.range_pop() == 0 and nvtx.range_pop() == -1
    with nvtx.range("step {}", 3):
        assert nvtx.range_push("x") == 1  # inside the range: one deeper
        assert nvtx.range_pop() == 1
    assert nvtx.range_pop() == -1  # the with block closed its range
    assert nvtx.mark("event") is None
    a, b = nvtx.range_start("a"), nvtx.range_start("b")
    assert isinstance(a, int) and a != b and nvtx.range_end(a) is None
    with pytest.raises(TypeError, match="range_push: msg must be a str, got int"):
        nvtx.range_push(3)
    with pytest.raises(TypeError, match="range_end: range_id must be an int"):
        nvtx.range_end("a")
    # torch's CPU build refuses them all; pydlk's profiling calls run unchanged
    with pytest.raises(RuntimeError, match="NVTX functions not installed"):
        torch.cuda.nvtx.range_push("outer")


# ----------------------------------------------------------------------------- on a GPU


def test_gpu_allocation_failures_raise_out_of_memory_error():
    cp = cupy_or_skip()
    pool = cp.get_default_memory_pool()
    if not hasattr(pool, "set_limit"):
        pytest.skip("this CuPy pool cannot be limited")
    model = nn.Linear(64, 64)
    w = pydlk.ones(64, 64, device="cuda", requires_grad=True)
    y = (w * 2).sum()
    pool.free_all_blocks()  # no cached block could serve a request below the limit
    pool.set_limit(size=pool.total_bytes() + 1024)
    try:
        calls = {
            "factory": lambda: pydlk.zeros(1 << 20, device="cuda"),
            "Tensor.to": lambda: pydlk.zeros(1 << 20).to("cuda"),
            "Module.cuda": lambda: model.cuda(),
            "op": lambda: w.repeat(64, 1),
            "backward": lambda: y.backward(),
        }
        for what, call in calls.items():
            with pytest.raises(pydlk.OutOfMemoryError) as e:
                call()
            assert str(e.value).startswith("CUDA out of memory. Tried to allocate"), what
            assert type(e.value.__cause__).__name__ == "OutOfMemoryError", what
    finally:
        pool.set_limit(size=0)
    z = pydlk.zeros(1 << 10, device="cuda")  # room again
    assert z.is_cuda and pydlk.cuda.memory_allocated() > 0
    y = (w * 2).sum()
    y.backward()
    np.testing.assert_array_equal(host(w.grad), np.full((64, 64), 2.0, np.float32))


def test_gpu_legacy_cuda_types_create_on_the_gpu():
    cupy_or_skip()
    t = pydlk.cuda.FloatTensor(2, 3)
    assert t.is_cuda and t.shape == (2, 3) and t.dtype == pydlk.float32
    d = pydlk.cuda.LongTensor([1.7, 2.2])
    assert d.is_cuda and host(d).tolist() == [1, 2] and d.type() == "torch.cuda.LongTensor"
    assert isinstance(t, pydlk.cuda.FloatTensor) and not isinstance(t, pydlk.FloatTensor)
    assert pydlk.cuda.DoubleTensor().shape == (0,)
    c = pydlk.tensor([1.0, 2.0]).type(pydlk.cuda.DoubleTensor)
    assert c.is_cuda and c.dtype == pydlk.float64
    back = c.type(pydlk.FloatTensor)
    assert not back.is_cuda and back.dtype == pydlk.float32 and back.tolist() == [1.0, 2.0]
    assert c.type("torch.cuda.DoubleTensor") is c and c.type(pydlk.float32).is_cuda
    with pytest.raises(RuntimeError, match="expects device type: cuda but device type: cpu"):
        pydlk.cuda.FloatTensor(2, device="cpu")
    with pytest.raises(TypeError, match="expected a tensor of type pydlk.cuda.FloatTensor"):
        pydlk.cuda.FloatTensor(pydlk.ones(2))
    try:
        with pytest.warns(UserWarning, match="deprecated"):
            pydlk.set_default_tensor_type(pydlk.cuda.FloatTensor)
        assert pydlk.zeros(2).is_cuda and pydlk.get_default_dtype() == pydlk.float32
        with pytest.warns(UserWarning, match="deprecated"):
            pydlk.set_default_tensor_type(pydlk.DoubleTensor)
        z = pydlk.zeros(2)
        assert not z.is_cuda and z.dtype == pydlk.float64
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            pydlk.set_default_tensor_type(pydlk.FloatTensor)


def test_gpu_arch_list_init_and_ipc_collect():
    cp = cupy_or_skip()
    props = cp.cuda.runtime.getDeviceProperties(0)
    arch = f"sm_{int(props['major'])}{int(props['minor'])}"
    assert arch in pydlk.cuda.get_arch_list()
    assert pydlk.cuda.init() is None and pydlk.cuda.ipc_collect() is None


def test_gpu_tensors_travel_through_multiprocessing_as_host_copies():
    cp = cupy_or_skip()
    t = pydlk.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    data = ForkingPickler.dumps(t)
    back = pickle.loads(data)
    assert back.is_cuda and back.requires_grad and isinstance(back._data, cp.ndarray)
    np.testing.assert_array_equal(host(back.detach()), [1.0, 2.0])
    with pytest.raises(RuntimeError, match="Cowardly refusing"):
        ForkingPickler.dumps(t * 2)


def test_gpu_jit_save_and_load_keep_or_map_the_device():
    cupy_or_skip()
    m = nn.Linear(3, 2).cuda()
    x = pydlk.ones(4, 3, device="cuda")
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pydlk.jit.save(m, buf)
        buf.seek(0)
        same = pydlk.jit.load(buf)
        buf.seek(0)
        cpu = pydlk.jit.load(buf, map_location="cpu")
    assert same.weight.is_cuda and not cpu.weight.is_cuda
    np.testing.assert_allclose(host(same(x)), host(m(x)), rtol=1e-6)
    np.testing.assert_allclose(cpu(pydlk.ones(4, 3)).detach().numpy(), host(m(x)), rtol=1e-6)
