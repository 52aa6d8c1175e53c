"""DistributedDataParallel and SyncBatchNorm on CuPy arrays: the NCCL path.

``test_gpu_*`` tests run under the host emulation (tools/run_cuda_tests_on_host.py: CuPy arrays
are NumPy arrays, kernels compiled as C++, streams and events stand-ins). Two threads stand for
two ranks; ``cupy.cuda.nccl`` is replaced by a fake communicator that really sums, gathers and
broadcasts the ranks' buffers (through their addresses) and records each call, and the MPI
communicator refuses every collective on data, so the tests fail if a CuPy gradient or
statistic took the MPI path. The result is checked against one process training on the
global batch on the CPU. Three threads run the other collectives (reduce, gather, scatter,
reduce_scatter, the all_to_alls) and point-to-point transfers on CuPy arrays against NumPy
formulas; the fake's send/recv check that every one was issued inside an NCCL group. On a real
GPU these tests skip (the fake reads host addresses); a real NCCL run needs two GPUs and
mpiexec, see docs/ARCHITECTURE.md.
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
        self.mail = {}  # (src, dst) -> sent arrays, in order
        self.mail_cv = threading.Condition()
        self.ungrouped = 0  # sends and receives issued outside groupStart/groupEnd

    def post(self, peer, data, stream, grouped):
        """A send: deposited at once (NCCL's would wait for the receiver's group)."""
        r = _tl.rank
        with self.mu:
            self.calls.append((r, "send", data.size, stream))
            self.ungrouped += not grouped
        with self.mail_cv:
            self.mail.setdefault((r, peer), []).append(data.copy())
            self.mail_cv.notify_all()

    def take(self, peer, out, stream, grouped):
        r = _tl.rank
        with self.mu:
            self.calls.append((r, "recv", out.size, stream))
            self.ungrouped += not grouped
        with self.mail_cv:
            ok = self.mail_cv.wait_for(lambda: self.mail.get((peer, r)), timeout=60)
            assert ok, f"rank {r}: nothing from rank {peer}"
            data = self.mail[(peer, r)].pop(0)
        assert data.size == out.size, (data.size, out.size)
        out[...] = data

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
    if count == 0:
        return np.empty(0, t)
    buf = (ctypes.c_char * (count * t.itemsize)).from_address(ptr)
    return np.frombuffer(buf, t, count)


_REDUCE = {  # NCCL_SUM, NCCL_PROD, NCCL_MIN, NCCL_MAX over the ranks' buffers
    0: lambda xs: np.sum(xs, 0),
    1: lambda xs: np.prod(xs, 0),
    2: lambda xs: np.min(xs, 0),
    3: lambda xs: np.max(xs, 0),
}
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

        def reduce(self, sptr, rptr, count, dtype, op, root, stream):
            got = _REDUCE[op](hub.exchange("reduce", _view(sptr, count, dtype), stream))
            if _tl.rank == root:
                _view(rptr, count, dtype)[...] = got

        def reduceScatter(self, sptr, rptr, count, dtype, op, stream):  # noqa: N802
            mine = _view(sptr, count * hub.size, dtype)
            got = _REDUCE[op](hub.exchange("reduceScatter", mine, stream))
            _view(rptr, count, dtype)[...] = got[_tl.rank * count : (_tl.rank + 1) * count]

        def send(self, ptr, count, dtype, peer, stream):
            grouped = getattr(_tl, "in_group", False)
            hub.post(peer, _view(ptr, count, dtype), stream, grouped)

        def recv(self, ptr, count, dtype, peer, stream):
            grouped = getattr(_tl, "in_group", False)
            hub.take(peer, _view(ptr, count, dtype), stream, grouped)

    def group_start():
        _tl.in_group = True

    def group_end():
        _tl.in_group = False

    m = types.SimpleNamespace(
        NcclCommunicator=NcclCommunicator,
        get_unique_id=lambda: _UID,
        groupStart=group_start,
        groupEnd=group_end,
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


def _thread_ranks(monkeypatch, pg):
    """CuPy emulated with a fake NCCL among ``pg.size`` threads standing for the ranks, ``pg``
    the default group: (cupy, run), run(fn) calling fn(rank) on every thread, their results."""
    cp = _emulated_cupy()
    from pydlk.distributed import process_group

    hub = _Hub(pg.size)
    monkeypatch.setattr(cp.cuda, "nccl", _fake_nccl(hub), raising=False)
    monkeypatch.setitem(sys.modules, "cupy.cuda", cp.cuda)  # `from cupy.cuda import nccl`
    monkeypatch.setattr(process_group, "_group", pg)

    def run(fn):
        out, errors = [None] * pg.size, []

        def body(r):
            _tl.rank = r
            try:
                out[r] = fn(r)
            except BaseException as e:  # noqa: BLE001  (re-raised below)
                errors.append(e)
                hub.bar.abort()

        ts = [threading.Thread(target=body, args=(r,)) for r in range(pg.size)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise errors[0]
        return out

    run.hub = hub
    return cp, run


@pytest.fixture
def two_ranks(monkeypatch):
    return _thread_ranks(monkeypatch, _PG())


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


# ------------------------------------------------ three ranks: the other collectives, p2p


class _MpiMetadataOnly:
    """The MPI communicator of three rank threads: NCCL's bootstrap broadcast and the small
    int64 all-gather of the all_to_alls' byte counts may use it, no data."""

    def __init__(self, size):
        self.size = size
        self.bar = threading.Barrier(size, timeout=60)
        self.slots = [None] * size

    def Dup(self):
        return self

    def Get_size(self):
        return self.size

    def Get_attr(self, key):
        return 32767  # MPI_TAG_UB

    def _meet(self, mine):
        self.slots[_tl.rank] = mine.copy()
        self.bar.wait()
        got = list(self.slots)
        self.bar.wait()
        return got

    def Ibcast(self, buf, root=0):
        assert buf.dtype == np.int64 and buf.size == 128, "MPI broadcast of data"
        buf[...] = self._meet(buf)[root]
        return "done"

    def Iallgather(self, mine, every):
        assert mine.dtype == np.int64 and mine.size == 2 * self.size, "MPI all-gather of data"
        every[...] = np.stack(self._meet(mine))
        return "done"

    def __getattr__(self, name):
        raise AssertionError(f"MPI {name} called on the GPU path")


class _PGn:
    """The default process group of ``size`` rank threads (rank from the calling thread)."""

    is_world = True
    timeout = 60.0

    def __init__(self, size):
        self.size = size
        self.ranks = list(range(size))
        self.group_rank_of_global = {r: r for r in self.ranks}
        self.comm = _MpiMetadataOnly(size)
        self.MPI = types.SimpleNamespace(TAG_UB=0)

    @property
    def rank(self):
        return _tl.rank

    def next_seq(self):
        return 0

    def hold(self, work):
        pass

    def wait(self, reqs, name, seq):
        assert all(r == "done" for r in reqs)

    def wait_for(self, done, name, seq, timeout=None, on_timeout=None):
        assert done(), name  # emulated events have finished when recorded


@pytest.fixture
def three_ranks(monkeypatch):
    return _thread_ranks(monkeypatch, _PGn(3))


def _vals(k, dtype=np.float64, shape=(2, 3)):
    return (np.arange(int(np.prod(shape))).reshape(shape) * (k + 1) - k).astype(dtype)


_SPLITS = [[2, 0, 3], [1, 4, 0], [0, 2, 2]]  # rows rank i sends rank j


def test_gpu_tensor_collectives_over_nccl_on_three_ranks(three_ranks):
    """reduce, gather, scatter, reduce_scatter(_single), all_gather_single, all_to_all(_single)
    and broadcast of CuPy arrays on three ranks: NumPy's results, NCCL's calls (point to point
    inside groups for those NCCL lacks), no data through MPI."""
    import pydlk.distributed as dist

    cp, run = three_ranks
    W = 3

    def body(r):
        got = {}
        x = cp.asarray(_vals(r))
        dist.reduce(x, dst=1, op=dist.ReduceOp.MAX)
        got["reduce"] = _host(x)
        outs = [cp.zeros((2, 3)) for _ in range(W)] if r == 2 else None
        dist.gather(cp.asarray(_vals(r, np.int64)).astype(cp.float64), outs, dst=2)
        got["gather"] = [_host(o) for o in outs] if outs else None
        t = cp.zeros((4, 6))[::2, ::2]  # not contiguous
        ins = [cp.asarray(_vals(10 + k)) for k in range(W)] if r == 0 else None
        dist.scatter(t, ins)
        got["scatter"] = _host(t)
        o = cp.zeros((2, 3))
        dist.reduce_scatter(o, [cp.asarray(_vals(10 * j + r)) for j in range(W)])
        got["reduce_scatter"] = _host(o)
        o = pydlk.tensor(cp.zeros((2, 3)))
        dist.reduce_scatter_single(o, cp.asarray(_vals(r, shape=(6, 3))), dist.ReduceOp.AVG)
        got["reduce_scatter_single"] = _host(o)
        o = cp.zeros((W, 2, 3))
        dist.all_gather_single(o, cp.asarray(_vals(r)))
        got["all_gather_single"] = _host(o)
        outs = [cp.zeros(i + r + 1, cp.complex64) for i in range(W)]
        ins = [cp.full(r + j + 1, 100 * r + j, cp.complex64) for j in range(W)]
        dist.all_to_all(outs, ins)
        got["all_to_all"] = [_host(o) for o in outs]
        inp = cp.asarray(np.arange(sum(_SPLITS[r]) * 2).reshape(-1, 2) + 100 * r)
        osplit = [_SPLITS[i][r] for i in range(W)]
        o = cp.zeros((sum(osplit), 2), cp.int64)
        dist.all_to_all_single(o, inp, osplit, _SPLITS[r], async_op=True).wait()
        got["all_to_all_single"] = _host(o)
        b = cp.full(3, float(r))
        dist.broadcast(b, group_src=1)
        got["broadcast"] = _host(b)
        return got

    res = run(body)
    xs = [_vals(k) for k in range(W)]
    inputs = [np.arange(sum(_SPLITS[i]) * 2).reshape(-1, 2) + 100 * i for i in range(W)]
    for r, got in enumerate(res):
        np.testing.assert_array_equal(got["reduce"], np.max(xs, 0) if r == 1 else xs[r])
        assert (got["gather"] is None) == (r != 2)
        if r == 2:
            np.testing.assert_array_equal(np.stack(got["gather"]), np.stack(xs))
        np.testing.assert_array_equal(got["scatter"], _vals(10 + r))
        np.testing.assert_array_equal(
            got["reduce_scatter"], np.sum([_vals(10 * r + i) for i in range(W)], 0)
        )
        whole = np.sum([_vals(k, shape=(6, 3)) for k in range(W)], 0) / W
        np.testing.assert_allclose(got["reduce_scatter_single"], whole[2 * r : 2 * r + 2])
        np.testing.assert_array_equal(got["all_gather_single"], np.stack(xs))
        for i, o in enumerate(got["all_to_all"]):
            np.testing.assert_array_equal(o, np.full(i + r + 1, 100 * i + r, np.complex64))
        want = np.concatenate(
            [inputs[i][sum(_SPLITS[i][:r]) : sum(_SPLITS[i][: r + 1])] for i in range(W)]
        )
        np.testing.assert_array_equal(got["all_to_all_single"], want)
        np.testing.assert_array_equal(got["broadcast"], [1.0] * 3)
    kinds = {k for _r, k, _n, _s in run.hub.calls}
    assert {"reduce", "reduceScatter", "allGather", "bcast", "send", "recv"} <= kinds, kinds
    assert run.hub.ungrouped == 0


def test_gpu_point_to_point_over_nccl_on_three_ranks(three_ranks):
    """send/recv between two of three ranks, a ring of batch_isend_irecv in both directions
    (one NCCL group, so it cannot deadlock on a GPU), and NCCL's limits: no receive from
    any rank."""
    import pydlk.distributed as dist

    cp, run = three_ranks
    W = 3

    def body(r):
        got = {}
        if r == 0:
            dist.send(cp.asarray(np.array([True, False, True])), dst=1)
        elif r == 1:
            t = cp.zeros(3, bool)
            got["from"] = dist.recv(t, src=0)
            got["recv"] = _host(t)
            with pytest.raises(ValueError, match="cannot be received from any rank"):
                dist.irecv(t)
        nxt, prv = (r + 1) % W, (r - 1) % W
        a, b = cp.zeros(2), cp.zeros(2)
        ops = [
            dist.P2POp(dist.isend, cp.full(2, 10.0 * r), nxt),
            dist.P2POp(dist.isend, cp.full(2, 20.0 * r), prv),
            dist.P2POp(dist.irecv, a, prv),
            dist.P2POp(dist.irecv, b, nxt),
        ]
        works = dist.batch_isend_irecv(ops)
        for w in works:
            w.wait()
        got["ring"] = (_host(a), _host(b))
        return got

    res = run(body)
    assert res[1]["from"] == 0 and res[1]["recv"].tolist() == [True, False, True]
    for r, got in enumerate(res):
        a, b = got["ring"]
        assert a.tolist() == [10.0 * ((r - 1) % W)] * 2 and b.tolist() == [20.0 * ((r + 1) % W)] * 2
    assert run.hub.ungrouped == 0
