"""DistributedDataParallel and SyncBatchNorm on CuPy arrays: the NCCL path.

``test_gpu_*`` tests run under the host emulation (tools/run_cuda_tests_on_host.py: CuPy arrays
are NumPy arrays, kernels compiled as C++, streams and events stand-ins). Two threads stand for
two ranks; ``cupy.cuda.nccl`` is replaced by a fake communicator that really sums, gathers and
broadcasts the ranks' buffers (through their addresses) and records each call, and the MPI
communicator refuses every collective on data, so the tests fail if a CuPy gradient or
statistic took the MPI path. The result is checked against one process training on the
global batch on the CPU. On a real GPU these tests skip (the fake reads host addresses); a
real NCCL run needs two GPUs and mpiexec, see docs/ARCHITECTURE.md.
"""

import ctypes
import sys
import threading
import types

import numpy as np
import pytest

import pydlk
from pydlk import nn


def _emulated_cupy():
    cp = pytest.importorskip("cupy")
    if not getattr(cp, "__host_emulator__", False):
        pytest.skip("uses a fake NCCL on host memory: host emulation only")
    return cp


# -------------------------------------------------------------- two ranks in one process

_tl = threading.local()  # .rank of the thread standing for a rank
_NCCL_TYPES = [
    "int8",
    "uint8",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "float16",
    "float32",
    "float64",
]
_DT = dict(enumerate(_NCCL_TYPES))


class _Hub:
    """What NCCL does between the ranks' GPUs: each rank's thread deposits its buffer, all
    meet at a barrier, each takes the combined result."""

    def __init__(self, size):
        self.size = size
        self.bar = threading.Barrier(size, timeout=60)
        self.slots = [None] * size
        self.calls = []  # (rank, kind, count, stream ptr)
        self.mu = threading.Lock()

    def exchange(self, kind, mine, stream):
        r = _tl.rank
        with self.mu:
            self.calls.append((r, kind, mine.size, stream))
        self.slots[r] = mine.copy()
        self.bar.wait()
        got = list(self.slots)
        self.bar.wait()  # nobody overwrites a slot before every rank has read them
        return got


def _view(ptr, count, dtype):
    t = np.dtype(_DT[dtype])
    buf = (ctypes.c_char * (count * t.itemsize)).from_address(ptr)
    return np.frombuffer(buf, t, count)


_UID = bytes(range(128))  # an NCCL unique id (CuPy 14 gives bytes), values past 127 too


def _fake_nccl(hub):
    class NcclCommunicator:
        def __init__(self, ndev, uid, rank):
            # CuPy 14's signature: the id as the bytes rank 0's get_unique_id gave
            if not isinstance(uid, bytes):
                raise TypeError(
                    f"Argument 'commId' has incorrect type (expected bytes, got {uid!r})"
                )
            assert ndev == hub.size and uid == _UID

        def allReduce(self, sptr, rptr, count, dtype, op, stream):
            assert sptr == rptr and op == 0  # in place, SUM
            a = _view(rptr, count, dtype)
            a[...] = sum(hub.exchange("allReduce", a, stream))

        def allGather(self, sptr, rptr, count, dtype, stream):
            out = _view(rptr, count * hub.size, dtype)
            out[...] = np.concatenate(hub.exchange("allGather", _view(sptr, count, dtype), stream))

        def bcast(self, ptr, count, dtype, root, stream):
            a = _view(ptr, count, dtype)
            a[...] = hub.exchange("bcast", a, stream)[root]

    m = types.SimpleNamespace(
        NcclCommunicator=NcclCommunicator,
        get_unique_id=lambda: _UID,
        NCCL_SUM=0,
        NCCL_PROD=1,
        NCCL_MIN=2,
        NCCL_MAX=3,
    )
    for code, name in _DT.items():
        setattr(m, f"NCCL_{name.upper()}", code)
    return m


class _MpiRefusesData:
    """The MPI communicator: only NCCL's bootstrap broadcast of its unique id may use it."""

    def Dup(self):
        return self

    def Get_size(self):
        return 2

    _bar = threading.Barrier(2, timeout=60)
    _slot: list = [None]

    def Ibcast(self, buf, root=0):
        """Broadcast between the two rank threads (completes at once: both call it)."""
        assert buf.dtype == np.int64 and buf.size == 128, "MPI broadcast of data"
        if _tl.rank == root:
            self._slot[0] = buf.copy()
        self._bar.wait()
        if _tl.rank != root:
            buf[...] = self._slot[0]
        self._bar.wait()
        return "done"

    def __getattr__(self, name):
        raise AssertionError(f"MPI {name} called on the GPU path")


class _PG:
    """The process group as every rank sees it (rank from the calling thread)."""

    size = 2
    MPI = types.SimpleNamespace(IN_PLACE=None, SUM=None, Request=None)
    comm = _MpiRefusesData()

    @property
    def rank(self):
        return _tl.rank

    def next_seq(self):
        return 0

    def wait(self, reqs, name, seq):
        assert all(r == "done" for r in reqs)

    def wait_for(self, done, name, seq):
        assert done(), name  # emulated events have finished when recorded


@pytest.fixture
def two_ranks(monkeypatch):
    cp = _emulated_cupy()
    from pydlk.distributed import process_group

    hub = _Hub(2)
    monkeypatch.setattr(cp.cuda, "nccl", _fake_nccl(hub), raising=False)
    monkeypatch.setitem(sys.modules, "cupy.cuda", cp.cuda)  # `from cupy.cuda import nccl`
    monkeypatch.setattr(process_group, "_group", _PG())

    def run(fn):
        """fn(rank) on two threads standing for the ranks; their results."""
        out, errors = [None, None], []

        def body(r):
            _tl.rank = r
            try:
                out[r] = fn(r)
            except BaseException as e:  # noqa: BLE001  (re-raised below)
                errors.append(e)
                hub.bar.abort()

        ts = [threading.Thread(target=body, args=(r,)) for r in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise errors[0]
        return out

    run.hub = hub
    return cp, run


# -------------------------------------------------------------------------------- tests


def _net(seed):
    pydlk.manual_seed(seed)
    # no conv bias: BatchNorm cancels it, its gradient is rounding noise that Adam normalises
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, bias=False),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3 * 5 * 5, 4),
    ).double()


def _host(a):
    a = a._data if isinstance(a, pydlk.Tensor) else a
    return np.array(a, copy=True).view(np.ndarray)


@pytest.mark.parametrize("opt_name,kw", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", {})])
def test_gpu_ddp_with_sync_batchnorm_over_nccl_equals_one_process(two_ranks, opt_name, kw, rng):
    """Two ranks (CuPy models, SyncBatchNorm, DDP with small buckets) train 3 steps on halves of
    each batch; one CPU process trains on the whole batches. Parameters and running statistics
    agree in float64; every collective went through NCCL (the MPI fake refuses data); rank 1's
    different initial weights were replaced by rank 0's (NCCL broadcast at construction)."""
    cp, run = two_ranks
    xs = [rng.standard_normal((8, 2, 5, 5)) for _ in range(3)]
    ys = [rng.integers(0, 4, 8) for _ in range(3)]
    ref = _net(0)
    ropt = getattr(pydlk.optim, opt_name)(ref.parameters(), **kw)
    for x, y in zip(xs, ys):
        ropt.zero_grad()
        nn.functional.cross_entropy(ref(pydlk.tensor(x)), pydlk.tensor(y)).backward()
        ropt.step()
    models = [nn.SyncBatchNorm.convert_sync_batchnorm(_net(s)).to("cuda") for s in (0, 1)]

    def train(r):
        ddp = nn.parallel.DistributedDataParallel(models[r], bucket_cap_mb=400 / 2**20)
        opt = getattr(pydlk.optim, opt_name)(ddp.parameters(), **kw)
        for x, y in zip(xs, ys):
            half = slice(4 * r, 4 * r + 4)
            opt.zero_grad()
            out = ddp(pydlk.tensor(cp.asarray(x[half])))
            nn.functional.cross_entropy(out, pydlk.tensor(cp.asarray(y[half]))).backward()
            opt.step()
        return ddp

    ddps = run(train)
    for ddp in ddps:
        assert len(ddp.reducer.buckets) > 2
        for (name, a), b in zip(ddp.module.state_dict().items(), ref.state_dict().values()):
            assert isinstance(a._data, cp.ndarray), name
            np.testing.assert_allclose(_host(a), _host(b), rtol=1e-10, atol=1e-12, err_msg=name)
    kinds = {k for _r, k, _n, _s in run.hub.calls}
    assert kinds == {"bcast", "allGather", "allReduce"}


def test_gpu_ddp_buckets_go_to_a_side_stream_as_backward_reaches_them(two_ranks, rng):
    """Each bucket's NCCL all-reduce is issued from the backward hooks, in bucket order, on
    the reducer's own side stream (not the current stream), the first before backward has
    produced every gradient (overlap); the averaged gradients equal the mean of the ranks'."""
    cp, run = two_ranks
    models = [_net(0).to("cuda"), _net(0).to("cuda")]
    xs = [rng.standard_normal((4, 2, 5, 5)) for _ in range(2)]
    seen = []

    def step(r):
        ddp = nn.parallel.DistributedDataParallel(models[r], bucket_cap_mb=300 / 2**20)
        opt = pydlk.optim.SGD(ddp.parameters(), lr=0.0)
        red = ddp.reducer
        start = red._nccl_start

        def spy(flat):
            seen.append((r, red.by_backward, len(red.params), red.next_launch, flat.size))
            return start(flat)

        red._nccl_start = spy
        run.hub.calls.clear() if r == 0 else None
        opt.zero_grad()
        (ddp(pydlk.tensor(cp.asarray(xs[r]))) ** 2).sum().backward()
        grads = [_host(p.grad) for p in ddp.parameters()]
        return red, grads

    (red0, g0), (red1, g1) = run(step)
    mine = [s for s in seen if s[0] == 0]
    assert [s[3] for s in mine] == list(range(len(red0.buckets)))  # in bucket order
    assert mine[0][1] < mine[0][2]  # first bucket went before the last gradient arrived
    side = red0.nccl[1].ptr
    reduces = [c for c in run.hub.calls if c[1] == "allReduce" and c[0] == 0]
    assert reduces and all(c[3] == side and side != 0 for c in reduces)
    # reference: each rank's own gradients on the CPU, averaged
    want = []
    for x in xs:
        m = _net(0)
        (m(pydlk.tensor(x)) ** 2).sum().backward()
        want.append([_host(p.grad) for p in m.parameters()])
    for a, b, w0, w1 in zip(g0, g1, *want):
        np.testing.assert_allclose(a, (w0 + w1) / 2, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(a, b)
