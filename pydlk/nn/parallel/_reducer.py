"""Bucketed, overlapped gradient averaging for DistributedDataParallel.

Parameters are put in buckets in reverse registration order (roughly the order backward
produces their gradients), at most ``bucket_cap`` bytes each (the first bucket 1 MiB, as torch,
so communication starts early), one dtype per bucket. A post-accumulate-grad hook on every
parameter counts it ready; when a bucket is complete a non-blocking ``Iallreduce`` starts, in
bucket order on every rank (MPI needs collectives issued in the same order everywhere). The hook
that completes the last bucket waits for all of them and divides by the world size, so
``loss.backward(); optimizer.step()`` needs no extra call.

Where the gradients live. Once an optimiser has packed the parameters into its flat arena
(``pydlk.optim``), each parameter's gradient slot (``pydlk._arena.grad_slot``) is a view into
one flat gradient buffer; a bucket whose parameters are contiguous there is reduced as one slice
of that buffer, with no copy. Otherwise (no optimiser yet, several arenas) the bucket owns a
flat buffer and gradients are copied in and out. The layout is checked at each synchronised
forward and rebuilt when slots change.

CuPy gradients (the GPU path) take the same buckets through NCCL instead of MPI: a bucket's
all-reduce is enqueued on a side stream of the reducer's own, after an event that orders it
behind the backward work queued so far, so it runs while the rest of backward computes on the
current stream; the reducer has an NCCL communicator of its own (as it has its own MPI
communicator), so its collectives never interleave with the model's (SyncBatchNorm). The last
hook polls the buckets' completion events through the group's timeout loop, as for MPI.
"""

from __future__ import annotations

from ..._arena import grad_slot
from ..._backend import get_array_module, is_cupy
from ...autograd import Tensor

_FIRST_BUCKET_BYTES = 1024 * 1024


def _grad_array(p):
    g = p._grad
    return g._data if isinstance(g, Tensor) else g


class _Bucket:
    __slots__ = ("flat", "is_view", "params", "pending", "req", "views")

    def __init__(self, params, flat, views, is_view):
        self.params, self.flat, self.views, self.is_view = params, flat, views, is_view
        self.pending = 0
        self.req = None


def _address(a):
    """Address of a NumPy or CuPy array's first element."""
    return a.data.ptr if is_cupy(a) else a.__array_interface__["data"][0]


def _slot_base(p):
    """(base buffer, element offset) of ``p``'s arena gradient slot (NumPy or CuPy), or
    (None, None)."""
    s = grad_slot(p)
    if s is None or not hasattr(s, "flags") or s.base is None or not s.flags.c_contiguous:
        return None, None
    base = s.base
    xp = get_array_module(s)
    if not isinstance(base, xp.ndarray) or base.ndim != 1 or not base.flags.c_contiguous:
        return None, None
    return base, (_address(s) - _address(base)) // base.itemsize


class Reducer:
    def __init__(
        self,
        params,
        comm,
        MPI,
        bucket_cap_bytes,
        find_unused_parameters,
        gradient_as_bucket_view,
        pg=None,
    ):
        self.params = params
        self.comm, self.MPI = comm, MPI
        self.pg = pg  # for the NCCL path: bootstraps the reducer's own communicator
        self.nccl = None  # (NcclGroup, side stream), made when a bucket is first on a GPU
        self.size = comm.Get_size()
        self.cap = int(bucket_cap_bytes)
        self.find_unused = find_unused_parameters
        self.as_view = gradient_as_bucket_view
        self.buckets: list[_Bucket] = []
        self.where: dict[int, int] = {}
        self.slots: list = []
        self.armed = False
        self.marked: set[int] = set()
        self.next_launch = 0
        self.by_backward = 0
        self.wait_fn = None  # set by DDP: polls a done() through the group's timeout loop
        self.comm_seconds = 0.0  # time spent waiting for reductions (for benchmarks)

    # -- layout ---------------------------------------------------------------------------
    def _layout_current(self):
        return len(self.slots) == len(self.params) and all(
            grad_slot(p) is s for p, s in zip(self.params, self.slots)
        )

    def rebuild(self):
        groups, cur, cur_key, cur_bytes = [], [], None, 0
        cap = min(self.cap, _FIRST_BUCKET_BYTES)
        for p in reversed(self.params):
            base, _ = _slot_base(p)
            key = (p._data.dtype, id(base) if base is not None else None)
            nb = p._data.nbytes
            if cur and (key != cur_key or cur_bytes + nb > cap):
                groups.append(cur)
                cur, cur_bytes = [], 0
                cap = self.cap
            cur.append(p)
            cur_key = key
            cur_bytes += nb
        if cur:
            groups.append(cur)
        self.buckets = []
        for ps in groups:
            self.buckets.append(self._make_bucket(ps))
        self.where = {id(p): i for i, b in enumerate(self.buckets) for p in b.params}
        self.slots = [grad_slot(p) for p in self.params]

    def _make_bucket(self, ps):
        base, _ = _slot_base(ps[0])
        if base is not None:
            spans = sorted((_slot_base(p)[1], p._data.size) for p in ps)
            lo = spans[0][0]
            end = lo
            for off, n in spans:
                if off != end:
                    break
                end += n
            else:
                return _Bucket(ps, base[lo:end], [grad_slot(p) for p in ps], True)
        n = sum(p._data.size for p in ps)
        flat = get_array_module(ps[0]._data).zeros(n, ps[0]._data.dtype)
        views, off = [], 0
        for p in ps:
            views.append(flat[off : off + p._data.size].reshape(p._data.shape))
            off += p._data.size
        return _Bucket(ps, flat, views, False)

    # -- one iteration ----------------------------------------------------------------------
    def prepare(self, unused=()):
        """Arm for the coming backward (called by a synchronised forward)."""
        if self.armed and (self.by_backward or self.next_launch):
            raise RuntimeError(
                "DistributedDataParallel: Expected to have finished reduction in the prior "
                "iteration before starting a new one. This error indicates that your module has "
                "parameters that were not used in producing loss. You can enable unused "
                "parameter detection by passing the keyword argument "
                "`find_unused_parameters=True` to DistributedDataParallel"
            )
        if not self._layout_current():
            self.rebuild()
        for b in self.buckets:
            b.pending = len(b.params)
            b.req = None
        self.marked = set()
        self.next_launch = 0
        self.by_backward = 0
        self.armed = True
        for p in unused:
            self._mark(p)

    def hook(self, p):
        """Post-accumulate-grad hook of every parameter."""
        if not self.armed:
            return
        self.by_backward += 1
        self._mark(p)

    def _mark(self, p):
        i = id(p)
        if i in self.marked:
            raise RuntimeError(
                "DistributedDataParallel: Expected to mark a variable ready only "
                "once (a parameter got gradients from two backward passes in "
                "one iteration; use no_sync() for the earlier ones)"
            )
        self.marked.add(i)
        b = self.buckets[self.where[i]]
        b.pending -= 1
        if b.pending == 0:
            while (
                self.next_launch < len(self.buckets) and self.buckets[self.next_launch].pending == 0
            ):
                self._launch(self.buckets[self.next_launch])
                self.next_launch += 1
            if self.next_launch == len(self.buckets):
                self._finish()

    def _launch(self, b):
        for p, v in zip(b.params, b.views):
            g = _grad_array(p)
            if g is None:
                v.fill(0)  # an unused parameter contributes zeros
            elif g is not v:
                v[...] = g
        if is_cupy(b.flat):
            b.req = self._nccl_start(b.flat)  # a done() poll of an event after it
        else:
            b.req = self.comm.Iallreduce(self.MPI.IN_PLACE, b.flat, op=self.MPI.SUM)

    def nccl_group(self):
        """(the reducer's NCCL communicator, its side stream), made on first use (on every rank
        at the same point of the program, as the bootstrap is an MPI broadcast)."""
        if self.nccl is None:
            import cupy

            from ...distributed import nccl

            self.nccl = (nccl.NcclGroup(self.pg), cupy.cuda.Stream(non_blocking=True))
        return self.nccl

    def _nccl_start(self, flat):
        """Enqueue the bucket's sum on the reducer's side stream, behind the backward work
        queued so far on the current stream."""
        from ...distributed import nccl

        group, stream = self.nccl_group()
        name = "DistributedDataParallel gradient all_reduce"
        return nccl.all_reduce(self.pg, flat, "sum", name, group=group, stream=stream)

    def _finish(self):
        import time

        mpi = [b.req for b in self.buckets if not callable(b.req)]
        polls = [b.req for b in self.buckets if callable(b.req)]
        t0 = time.perf_counter()
        self.wait_fn(lambda: (not mpi or self.MPI.Request.Testall(mpi)) and all(d() for d in polls))
        self.comm_seconds += time.perf_counter() - t0
        inv = 1.0 / self.size
        for b in self.buckets:
            b.flat *= b.flat.dtype.type(inv)
            b.req = None
            for p, v in zip(b.params, b.views):
                g = _grad_array(p)
                if b.is_view or self.as_view:
                    p._grad = v
                elif g is not None and g.shape == v.shape and g is not v:
                    g[...] = v
                else:
                    p._grad = v.copy()
        self.armed = False
