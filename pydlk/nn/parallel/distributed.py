"""DistributedDataParallel: one model replica per MPI rank, gradients averaged every step."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..._backend import get_array_module, is_cupy
from ...autograd import Tensor, is_grad_enabled
from ..module import Module
from ._reducer import Reducer

__all__ = ["DistributedDataParallel"]


def _reachable_leaves(out) -> set:
    """ids of the leaf tensors the outputs' graph reaches (for find_unused_parameters)."""
    stack, seen, leaves = [], set(), set()

    def collect(o):
        if isinstance(o, Tensor):
            if o._node is not None:
                stack.append(o._node[0])
            else:
                leaves.add(id(o))
        elif isinstance(o, (list, tuple)):
            for x in o:
                collect(x)
        elif isinstance(o, dict):
            for x in o.values():
                collect(x)

    collect(out)
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        for t in n.inputs:
            if t is None:
                continue
            if t._node is None:
                leaves.add(id(t))
            else:
                stack.append(t._node[0])
    return leaves


class DistributedDataParallel(Module):
    """torch.nn.parallel.DistributedDataParallel over an MPI process group: the default one,
    or ``process_group`` (a ``new_group``; its ranks alone average their gradients).

    At construction the group's rank 0's parameters and buffers are broadcast to its ranks.
    Calls go to ``self.module`` (state_dict keys are prefixed ``module.``, as torch). During
    backward,
    gradients are averaged across ranks in buckets of about ``bucket_cap_mb`` MiB, each started as
    a non-blocking all-reduce as soon as its gradients are ready, overlapping the rest of
    backward; the last gradient waits for all of them, so ``loss.backward(); opt.step()`` is a
    complete data-parallel step. With the optimiser's flat gradient arena the all-reduce works on
    slices of it (no copies). ``no_sync()`` skips the reduction (gradients accumulate locally
    and are averaged at the next synchronised backward). With ``find_unused_parameters=True``
    the parameters the forward's graph does not reach contribute zeros; without it such a
    parameter leaves the reduction unfinished and the next forward raises (as torch).
    ``broadcast_buffers`` copies rank 0's buffers (BatchNorm running statistics) to every rank at
    each forward with gradients enabled.

    Differs from torch: ``device_ids``/``output_device``/``dim`` are accepted and ignored (one
    CPU replica per process); ``gradient_as_bucket_view`` makes ``.grad`` a view of the bucket
    even without an arena (with an arena it always is one); a parameter unused on every rank
    ends with a zero ``.grad`` rather than None.
    """

    def __init__(
        self,
        module: Module,
        device_ids: Any = None,
        output_device: Any = None,
        dim: int = 0,
        broadcast_buffers: bool = True,
        process_group: Any = None,
        bucket_cap_mb: float | None = None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
    ) -> None:
        super().__init__()
        from ...distributed.process_group import _group_or_default

        if not isinstance(module, Module):
            raise TypeError(
                f"DistributedDataParallel: module must be a pydlk.nn.Module, got "
                f"{type(module).__name__}"
            )
        pg = _group_or_default(process_group, "DistributedDataParallel")
        if bucket_cap_mb is None:
            bucket_cap_mb = 25
        if not bucket_cap_mb > 0:
            raise ValueError(
                f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb}"
            )
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.bucket_cap_mb = bucket_cap_mb
        self.require_backward_grad_sync = True
        self.device_ids = device_ids
        object.__setattr__(self, "_pg", pg)
        seen, params = set(), []
        for p in module.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                params.append(p)
        if not params:
            raise RuntimeError(
                "DistributedDataParallel: module has no parameter that requires gradient"
            )
        # gradients travel on a communicator of their own, so the order of bucket all-reduces
        # never interleaves with collectives the model itself makes (SyncBatchNorm)
        comm = pg.comm.Dup()
        object.__setattr__(self, "_comm", comm)
        reducer = Reducer(
            params,
            comm,
            pg.MPI,
            bucket_cap_mb * 1024 * 1024,
            self.find_unused_parameters,
            self.gradient_as_bucket_view,
            pg,
        )
        reducer.wait_fn = lambda done: pg.wait_for(
            done, "DistributedDataParallel gradient all_reduce", pg.next_seq()
        )
        object.__setattr__(self, "reducer", reducer)
        self._broadcast_state()  # after the reducer: CuPy arrays go through its NCCL communicator
        object.__setattr__(
            self, "_handles", [p.register_post_accumulate_grad_hook(reducer.hook) for p in params]
        )

    def _broadcast_state(self) -> None:
        """Copy rank 0's parameters and buffers into the module on every rank."""
        m = self.module
        self._sync_arrays(
            [p._data for p in m.parameters()] + [b._data for b in m.buffers() if b is not None]
        )

    def _sync_arrays(self, arrays: list) -> None:
        """Broadcast rank 0's arrays, coalesced into one buffer per device and dtype (MPI for
        NumPy arrays, the reducer's NCCL communicator for CuPy ones)."""
        pg = self._pg
        if pg.size == 1 or not arrays:
            return
        by_dtype: dict = {}
        for a in arrays:
            by_dtype.setdefault((is_cupy(a), a.dtype), []).append(a)
        name = "DistributedDataParallel broadcast"
        for (on_gpu, _), arrs in by_dtype.items():
            xp = get_array_module(arrs[0])
            flat = xp.concatenate([a.reshape(-1) for a in arrs])  # a copy, even of one array
            seq = pg.next_seq()
            if on_gpu:
                pg.wait_for(self._nccl_broadcast(flat, name), name, seq)
            else:
                pg.wait([self._comm.Ibcast(flat, root=0)], name, seq)
            off = 0
            for a in arrs:
                a[...] = flat[off : off + a.size].reshape(a.shape)
                off += a.size

    def _nccl_broadcast(self, flat: Any, name: str) -> Any:
        """Start broadcasting rank 0's CuPy ``flat`` on the reducer's NCCL communicator."""
        from ...distributed import nccl

        group, _stream = self.reducer.nccl_group()
        return nccl.broadcast(self._pg, flat, 0, name, group=group)

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        sync = is_grad_enabled() and self.require_backward_grad_sync
        if sync and self.broadcast_buffers:
            bufs = [b._data for b in self.module.buffers() if b is not None]
            self._sync_arrays(bufs)
        out = self.module(*inputs, **kwargs)
        if sync:
            unused: list[Any] | tuple[()] = ()
            if self.find_unused_parameters:
                reached = _reachable_leaves(out)
                unused = [p for p in self.reducer.params if id(p) not in reached]
            self.reducer.prepare(unused)
        return out

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside, backward accumulates gradients locally without communication; the first
        synchronised backward after it averages the accumulated gradients."""
        prev = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = prev

    def extra_repr(self) -> str:
        return f"world_size={self._pg.size}, bucket_cap_mb={self.bucket_cap_mb}"
