"""SyncBatchNorm: batch normalisation whose training statistics span every rank's batch.

With N ranks each holding a batch of B, a training forward normalises with the mean and
variance of all N*B samples, and its backward uses the global sums of dy and dy*xhat, so the
result equals BatchNorm on one process with the whole batch (after DistributedDataParallel
averages the weight and bias gradients). ``process_group`` (a ``new_group``) limits that to
its ranks. Per-rank statistics are combined exactly (Chan et al.'s
pairwise update of count, mean and sum of squared deviations, in float64) from one all-gather;
the backward needs one all-reduce of 2C sums. Outside training, in a single process, or before
``init_process_group`` it is BatchNorm (``pydlk.functional.batch_norm``).

On CuPy inputs the statistics stay on the GPU (float64 CuPy arrays) and both collectives go
through the process group's NCCL communicator (``pydlk.distributed.nccl``) on the current
stream, waited for through the group's timeout loop; NumPy inputs use MPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._backend import get_array_module, is_cupy
from ..autograd import Function
from .module import Module
from .normalization import _BatchNorm

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["SyncBatchNorm"]


def _all_gather(pg, mine, name):
    """Every rank's ``mine`` (a float64 vector) as rows of a (world, n) array, on its device."""
    allv = get_array_module(mine).empty((pg.size, mine.size), np.float64)
    seq = pg.next_seq()
    if is_cupy(mine):
        from ..distributed import nccl

        pg.wait_for(nccl.all_gather(pg, mine, allv, name), name, seq)
    else:
        pg.wait([pg.comm.Iallgather(mine, allv)], name, seq)
    return allv


def _all_sum(pg, tot, name):
    """Sum ``tot`` (a float64 vector) over the ranks, in place."""
    seq = pg.next_seq()
    if is_cupy(tot):
        from ..distributed import nccl

        pg.wait_for(nccl.all_reduce(pg, tot, "sum", name), name, seq)
    else:
        pg.wait([pg.comm.Iallreduce(pg.MPI.IN_PLACE, tot, op=pg.MPI.SUM)], name, seq)


def _shape(x):
    """Broadcast shape of a per-channel vector against x (N, C, *)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


class _SyncBatchNormFn(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps, pg):
        xp = get_array_module(x)
        C = x.shape[1]
        axes = (0,) + tuple(range(2, x.ndim))
        n_local = x.size // C
        mean_l = x.mean(axis=axes, dtype=np.float64)
        xc = x.astype(np.float64) - mean_l.reshape(_shape(x))
        m2_l = (xc * xc).sum(axis=axes)
        mine = xp.concatenate([xp.full(1, float(n_local)), mean_l, m2_l])
        allv = _all_gather(pg, mine, "SyncBatchNorm all_gather")
        n_i, mean_i, m2_i = allv[:, 0], allv[:, 1 : C + 1], allv[:, C + 1 :]
        n = float(n_i.sum())
        mean = (n_i[:, None] * mean_i).sum(0) / n
        m2 = m2_i.sum(0) + (n_i[:, None] * (mean_i - mean) ** 2).sum(0)
        var = m2 / n
        rstd = 1.0 / xp.sqrt(var + eps)
        if running_mean is not None:
            running_mean *= 1.0 - momentum
            running_mean += (momentum * mean).astype(running_mean.dtype)
        if running_var is not None:
            unbiased = m2 / (n - 1) if n > 1 else var
            running_var *= 1.0 - momentum
            running_var += (momentum * unbiased).astype(running_var.dtype)
        w64 = xp.ones(C) if weight is None else weight.astype(np.float64)
        b64 = xp.zeros(C) if bias is None else bias.astype(np.float64)
        scale = (w64 * rstd).astype(x.dtype).reshape(_shape(x))
        shift_ = (b64 - mean * w64 * rstd).astype(x.dtype).reshape(_shape(x))
        y = xp.ascontiguousarray(x * scale + shift_)
        ctx.save_for_backward(x, weight, mean, rstd, n)
        ctx.pg, ctx.eps = pg, eps
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, mean, rstd, n = ctx.saved_tensors
        pg = ctx.pg
        xp = get_array_module(x)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        axes = (0,) + tuple(range(2, x.ndim))
        C = x.shape[1]
        xmu = x.astype(np.float64) - mean.reshape(_shape(x))
        sum_dy = dy.sum(axis=axes, dtype=np.float64)
        sum_dy_xmu = (dy * xmu).sum(axis=axes)
        dw = (sum_dy_xmu * rstd).astype(x.dtype) if need_w and weight is not None else None
        db = sum_dy.astype(x.dtype) if need_b else None
        dx = None
        if need_x:
            # dx = w*rstd * (dy - mean(dy) - xhat * mean(dy*xhat)), means over all ranks' samples
            tot = xp.concatenate([sum_dy, sum_dy_xmu])
            _all_sum(pg, tot, "SyncBatchNorm all_reduce")
            g_dy, g_dy_xmu = tot[:C] / n, tot[C:] / n
            w64 = xp.ones(C) if weight is None else weight.astype(np.float64)
            k = (w64 * rstd).reshape(_shape(x))
            dx = (
                k
                * (dy - g_dy.reshape(_shape(x)) - xmu * (g_dy_xmu * rstd * rstd).reshape(_shape(x)))
            ).astype(x.dtype)
        return dx, dw, db, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        # backward's formulas as recorded ops, the statistics recomputed from x through
        # differentiable all-reduces, so that a gradient penalty reaches every rank's x and the
        # parameters (each rank runs the same collectives in the same order)
        x, w = inputs[0], inputs[1]
        n, pg = ctx.saved_tensors[4], ctx.pg
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        axes = (0,) + tuple(range(2, x.ndim))
        shp = _shape(x)
        mean = _AllSum.apply(x.sum(dim=axes), pg) / n
        xmu = x - mean.reshape(shp)
        rstd = (_AllSum.apply((xmu * xmu).sum(dim=axes), pg) / n + ctx.eps).rsqrt()
        sum_dy, sum_dy_xmu = dy.sum(dim=axes), (dy * xmu).sum(dim=axes)
        dw = sum_dy_xmu * rstd if need_w and w is not None else None
        db = sum_dy if need_b else None
        dx = None
        if need_x:
            g_dy = _AllSum.apply(sum_dy, pg) / n
            g_dy_xmu = _AllSum.apply(sum_dy_xmu, pg) / n
            k = rstd if w is None else w * rstd
            dx = k.reshape(shp) * (
                dy - g_dy.reshape(shp) - xmu * (g_dy_xmu * rstd * rstd).reshape(shp)
            )
        return dx, dw, db, None, None, None, None, None


class _AllSum(Function):
    """A per-channel vector summed over the ranks, as a differentiable op: every rank's sum
    depends on every rank's vector, so its gradient is the sum of all ranks' gradients, the
    same collective again (for the double backward of _SyncBatchNormFn)."""

    op_name = "sync_batch_norm_all_reduce"

    @staticmethod
    def forward(ctx, v, pg):
        ctx.pg = pg
        tot = v.astype(np.float64)  # a copy: summed in place
        _all_sum(pg, tot, "SyncBatchNorm all_reduce (double backward)")
        return tot.astype(v.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return _AllSum.forward(ctx, g, ctx.pg), None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return _AllSum.apply(g, ctx.pg), None


class SyncBatchNorm(_BatchNorm):
    """torch.nn.SyncBatchNorm: BatchNorm over (N, C, *) with statistics synchronised across the
    process group's ranks in training (see the module docstring). Parameters, buffers and
    their checks are BatchNorm's (``_NormBase``)."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: Any = None,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        if process_group is not None:
            from ..distributed.process_group import GroupMember, ProcessGroup

            if not (process_group is GroupMember.WORLD or isinstance(process_group, ProcessGroup)):
                raise ValueError(
                    f"SyncBatchNorm: process_group must be None or a process group of "
                    f"pydlk.distributed.new_group, got {process_group!r}"
                )
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.ndim < 2:
            raise ValueError(f"SyncBatchNorm: expected at least 2D input (got {input.ndim}D input)")
        if input.shape[1] != self.num_features:
            raise ValueError(
                f"SyncBatchNorm: input has {input.shape[1]} channels, expected "
                f"num_features={self.num_features}"
            )

    def forward(self, input: Tensor):
        from ..distributed import process_group as _pgm

        pg = _pgm._group
        if pg is not None and isinstance(self.process_group, _pgm.ProcessGroup):
            pg = _pgm._group_or_default(self.process_group, "SyncBatchNorm")  # its ranks alone
        if not (self.training and pg is not None and pg.size > 1):
            return super().forward(input)  # one process, or evaluation: plain BatchNorm
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        track = self.track_running_stats
        if track:
            factor = self._count_batch()
        return _SyncBatchNormFn.apply(
            input,
            self.weight,
            self.bias,
            self.running_mean._data if track else None,
            self.running_var._data if track else None,
            factor,
            self.eps,
            pg,
        )

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """Return ``module`` with every BatchNorm1d/2d/3d replaced by a SyncBatchNorm sharing
        its parameters and buffers (the module itself is returned when it is one)."""
        from .. import nn

        kinds = tuple(
            getattr(nn, k) for k in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d") if hasattr(nn, k)
        )
        out = module
        if isinstance(module, kinds):
            out = cls(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
                process_group,
            )
            if module.affine:
                out.weight = module.weight
                out.bias = module.bias
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(out, name, getattr(module, name))
            out.training = module.training
            out.frozen = module.frozen  # pydlk.models.freeze keeps a frozen layer in eval
        for name, child in list(module.named_children()):
            new = cls.convert_sync_batchnorm(child, process_group)
            if new is not child:
                out._modules[name] = new  # in place: keeps the children's order
        return out
