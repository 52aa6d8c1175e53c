"""nn.AdaptiveLogSoftmaxWithLoss (Grave et al. 2017, "Efficient softmax approximation for GPUs"),
torch.nn.modules.adaptive's module with its parameter names, so torch state_dicts load."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from .. import functional as F
from .. import ops
from .._backend import get_array_module
from .._typing import DeviceLike, DTypeLike
from ..autograd import Tensor
from ._arrays import as_array
from ._util import check_device
from .container import ModuleList, Sequential
from .linear import Linear
from .module import Module

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._wrap(as_array(x))


class AdaptiveLogSoftmaxWithLoss(Module):
    """Adaptive softmax over ``n_classes`` classes sorted by frequency: a head over the
    ``cutoffs[0]`` frequent classes plus one entry per tail cluster, and for each cluster
    ``[cutoffs[i], cutoffs[i+1])`` a two-layer projection ``in_features -> in_features //
    div_value ** (i + 1) -> cluster size`` (no biases; the head has one with ``head_bias``).

    ``forward(input, target)`` with input (N, in_features) and target (N,) (or (in_features,)
    and a 0-d target) returns the named tuple ``(output, loss)``: each row's log-probability of
    its target class and the mean negative log-likelihood. ``log_prob(input)`` gives the full
    (N, n_classes) log-probabilities, ``predict(input)`` the most likely class per row.
    Parameters ``head.weight`` (``head.bias``), ``tail.{i}.0.weight`` and ``tail.{i}.1.weight``
    as torch's. Raises ValueError for cutoffs that are not unique increasing integers in
    ``[1, n_classes - 1]``, RuntimeError for mismatched shapes or targets out of range (torch's
    messages)."""

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        cutoffs: Sequence[int],
        div_value: float = 4.0,
        head_bias: bool = False,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__()
        check_device(device, "AdaptiveLogSoftmaxWithLoss")
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (
            cutoffs != sorted(cutoffs)
            or min(cutoffs) <= 0
            or max(cutoffs) > n_classes - 1
            or len(set(cutoffs)) != len(cutoffs)
            or any(int(c) != c for c in cutoffs)
        ):
            raise ValueError(
                "cutoffs should be a sequence of unique, positive integers sorted in an "
                "increasing order, where each value is between 1 and n_classes-1"
            )
        self.in_features, self.n_classes = in_features, n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value, self.head_bias = div_value, head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(in_features, self.head_size, bias=head_bias, dtype=dtype)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(in_features // (div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(
                Sequential(
                    Linear(in_features, hsz, bias=False, dtype=dtype),
                    Linear(hsz, osz, bias=False, dtype=dtype),
                )
            )

    def reset_parameters(self) -> None:
        """Re-draw every projection as Linear's ``reset_parameters`` does (torch's)."""
        self.head.reset_parameters()
        for i2h, h2o in self.tail:
            i2h.reset_parameters()
            h2o.reset_parameters()

    def forward(self, input_: Tensor, target_: Tensor) -> _ASMoutput:
        inp, target = _tensor(input_), as_array(target_)
        targ_dim = target.ndim
        if targ_dim == 1:
            if inp.shape[0] != target.shape[0]:
                raise RuntimeError(
                    "Input and target should have the same size in the batch dimension."
                )
            if inp.dim() != 2:
                raise RuntimeError(
                    "1D target tensor expects 2D input tensors, but found inputs with size "
                    f"{tuple(inp.shape)}"
                )
        elif targ_dim == 0:
            if inp.dim() != 1:
                raise RuntimeError(
                    "0D target tensor expects 1D input tensors, but found inputs with size "
                    f"{tuple(inp.shape)}"
                )
        else:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        if target.dtype.kind not in "iu":
            raise RuntimeError(
                f"AdaptiveLogSoftmaxWithLoss: target must be an integer tensor, got {target.dtype}"
            )
        batched = targ_dim > 0
        x = inp if batched else inp.unsqueeze(0)
        t = (target if batched else target[None]).astype(np.int64, copy=False)
        xp = get_array_module(t)
        batch_size = t.shape[0]
        output = ops.zeros(batch_size, dtype=x.dtype, device=x.device)
        gather_inds = t.copy()
        used_rows = 0
        cutoff_values = [0] + self.cutoffs
        for i in range(len(cutoff_values) - 1):
            low, high = cutoff_values[i], cutoff_values[i + 1]
            rows = xp.nonzero((t >= low) & (t < high))[0]
            if rows.shape[0] == 0:
                continue
            if i > 0:
                rel = Tensor._wrap(t[rows][:, None] - low)
                cluster_output = self.tail[i - 1](x[Tensor._wrap(rows)])
                gather_inds[rows] = self.shortlist_size + i - 1
                local = F.log_softmax(cluster_output, dim=1).gather(1, rel)
                output = output.index_copy(0, Tensor._wrap(rows), local.squeeze(1))
            used_rows += int(rows.shape[0])
        if used_rows != batch_size:
            raise RuntimeError(
                f"Target values should be in [0, {self.n_classes - 1}], but values in range "
                f"[{int(t.min())}, {int(t.max())}] were found. "
            )
        head_logprob = F.log_softmax(self.head(x), dim=1)
        output = output + head_logprob.gather(1, Tensor._wrap(gather_inds[:, None])).squeeze(1)
        loss = (-output).mean()
        if not batched:
            output = output.squeeze(0)
        return _ASMoutput(output, loss)

    def _get_full_log_prob(self, input: Tensor, head_output: Tensor) -> Tensor:
        """The (N, n_classes) log-probabilities from the input and the head's output."""
        head_logprob = F.log_softmax(head_output, dim=1)
        pieces = [head_logprob[:, : self.shortlist_size]]
        for i, _ in enumerate(pairwise(self.cutoffs)):
            cluster_logprob = F.log_softmax(self.tail[i](input), dim=1)
            pieces.append(cluster_logprob + head_logprob[:, self.shortlist_size + i].unsqueeze(1))
        return ops.cat(pieces, dim=1)

    def log_prob(self, input: Tensor) -> Tensor:
        """Log-probabilities of all ``n_classes`` classes, (N, in_features) -> (N, n_classes)."""
        x = _tensor(input)
        return self._get_full_log_prob(x, self.head(x))

    def predict(self, input: Tensor) -> Tensor:
        """The most likely class of each row, (N, in_features) -> (N,) int64: the head's
        argmax, looked up in the clusters only for rows whose argmax is a cluster (equal to
        ``log_prob(input).argmax(dim=1)``)."""
        x = _tensor(input)
        head_output = self.head(x)
        output = ops.argmax(head_output, dim=1)
        not_in_shortlist = output >= self.shortlist_size
        if not bool(not_in_shortlist.any()):
            return output
        if bool(not_in_shortlist.all()):
            return ops.argmax(self._get_full_log_prob(x, head_output), dim=1)
        log_prob = self._get_full_log_prob(x[not_in_shortlist], head_output[not_in_shortlist])
        output[not_in_shortlist] = ops.argmax(log_prob, dim=1)
        return output
