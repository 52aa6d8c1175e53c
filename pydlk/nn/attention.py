"""MultiheadAttention with torch's arguments and parameter names (in_proj_weight,
in_proj_bias, out_proj.weight, out_proj.bias), on F.scaled_dot_product_attention's kernel; and
torch.nn.attention's ``SDPBackend`` and ``sdpa_kernel`` (which implementations attention may
use: pydlk has one, the math form, and runs it whatever they say)."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterable, Iterator

import numpy as np

from .. import functional as F
from .. import ops
from .._backend import get_array_module, is_cupy
from .._typing import DeviceLike, DTypeLike
from ..autograd import Tensor
from ..functional.attention import _attention
from . import init
from ._arrays import as_array
from ._util import check_device, dtype_of
from .linear import Linear
from .module import Module
from .parameter import Parameter

__all__ = ["MultiheadAttention", "SDPBackend", "sdpa_kernel"]


def _mask_array(m, name, dtype):
    a = m._data if isinstance(m, Tensor) else m
    a = a if is_cupy(a) else np.asarray(a)
    if a.dtype == np.bool_:  # True = not allowed to attend
        return get_array_module(a).where(a, -np.inf, 0).astype(dtype)
    if a.dtype.kind != "f":
        raise TypeError(
            f"MultiheadAttention: only bool and floating types of {name} are "
            f"supported, got {a.dtype}"
        )
    return a.astype(dtype, copy=False)


class MultiheadAttention(Module):
    """``MultiheadAttention(embed_dim, num_heads, dropout=0.0, bias=True, batch_first=False)``.

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (attn_output, attn_weights or None).
    Bool masks: True marks positions that may NOT be attended (torch's convention here).
    ``kdim``/``vdim`` give keys and values their own widths (separate ``q_proj_weight``,
    ``k_proj_weight``, ``v_proj_weight``, as torch's); ``add_bias_kv`` appends a learned key and
    value to every sequence and ``add_zero_attn`` a zero one, masks extended to match."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__()
        check_device(device, "MultiheadAttention")
        if (
            isinstance(embed_dim, bool)
            or not isinstance(embed_dim, (int, np.integer))
            or embed_dim <= 0
        ):
            raise ValueError(
                f"MultiheadAttention: embed_dim must be a positive int, got {embed_dim}"
            )
        if (
            isinstance(num_heads, bool)
            or not isinstance(num_heads, (int, np.integer))
            or num_heads <= 0
        ):
            raise ValueError(
                f"MultiheadAttention: num_heads must be a positive int, got {num_heads}"
            )
        if embed_dim % num_heads:
            raise ValueError("MultiheadAttention: embed_dim must be divisible by num_heads")
        if not 0 <= dropout <= 1:
            raise ValueError(f"MultiheadAttention: dropout must be between 0 and 1, got {dropout}")
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.head_dim = embed_dim // num_heads
        self.kdim = int(kdim) if kdim is not None else self.embed_dim
        self.vdim = int(vdim) if vdim is not None else self.embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.dropout, self.batch_first = float(dropout), batch_first
        self.add_zero_attn = bool(add_zero_attn)
        dt = dtype_of(dtype)
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.empty((3 * E, E), dt))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:  # torch's separate projections for keys and values of other widths
            self.q_proj_weight = Parameter(np.empty((E, E), dt))
            self.k_proj_weight = Parameter(np.empty((E, self.kdim), dt))
            self.v_proj_weight = Parameter(np.empty((E, self.vdim), dt))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(np.empty(3 * E, dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, dtype=dt)
        self.bias_k: Parameter | None = None
        self.bias_v: Parameter | None = None
        if add_bias_kv:  # a learned key and value appended to every sequence
            self.bias_k = Parameter(np.empty((1, 1, E), dt))
            self.bias_v = Parameter(np.empty((1, 1, E), dt))
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | np.ndarray | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ):
        E, h, hd = self.embed_dim, self.num_heads, self.head_dim
        # bare arrays (NumPy or CuPy) are taken as the other layers take them
        query, key, value = (
            t if isinstance(t, Tensor) else Tensor._wrap(as_array(t)) for t in (query, key, value)
        )
        batched = query.ndim == 3
        if query.ndim not in (2, 3):
            raise ValueError(f"MultiheadAttention: query must be 2-D or 3-D, got {query.ndim}-D")
        if query.shape[-1] != E:
            raise ValueError(
                f"MultiheadAttention: was expecting embedding dimension of {E}, "
                f"but got {query.shape[-1]}"
            )
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(
                f"MultiheadAttention: key shape {key.shape} does not match value "
                f"shape {value.shape}"
            )
        if not batched:
            query, key, value = (t.reshape(1, *t.shape) for t in (query, key, value))
            if key_padding_mask is not None:
                kp = key_padding_mask
                kp = kp._data if isinstance(kp, Tensor) else kp
                key_padding_mask = (kp if is_cupy(kp) else np.asarray(kp))[None]
        elif not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        N, L, S = query.shape[0], query.shape[1], key.shape[1]
        b = self.in_proj_bias
        if self._qkv_same_embed_dim:
            W = self.in_proj_weight
            Wq, Wk, Wv = W[:E], W[E : 2 * E], W[2 * E :]
        else:
            Wq, Wk, Wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        q = F.linear(query, Wq, None if b is None else b[:E])
        k = F.linear(key, Wk, None if b is None else b[E : 2 * E])
        v = F.linear(value, Wv, None if b is None else b[2 * E :])
        extra = 0  # key positions appended (bias_kv, zero attention): masks get zero columns
        if self.bias_k is not None and self.bias_v is not None:
            k = ops.cat([k, self.bias_k.expand(N, 1, E)], dim=1)
            v = ops.cat([v, self.bias_v.expand(N, 1, E)], dim=1)
            extra += 1
        q, k, v = (t.reshape(N, t.shape[1], h, hd).transpose(1, 2) for t in (q, k, v))
        if self.add_zero_attn:
            z = ops.zeros((N, h, 1, hd), dtype=k.dtype, device=k.device)
            k, v = ops.cat([k, z], dim=2), ops.cat([v, z], dim=2)
            extra += 1
        dtype = query.dtype
        mask = None
        if attn_mask is not None:
            am = _mask_array(attn_mask, "attn_mask", dtype)
            if am.ndim == 2:
                if am.shape != (L, S):
                    raise ValueError(
                        f"MultiheadAttention: The shape of the 2D attn_mask is "
                        f"{am.shape}, but should be {(L, S)}."
                    )
                mask = am[None, None]
            elif am.ndim == 3:
                if am.shape != (N * h, L, S):
                    raise ValueError(
                        f"MultiheadAttention: The shape of the 3D attn_mask is "
                        f"{am.shape}, but should be {(N * h, L, S)}."
                    )
                mask = am.reshape(N, h, L, S)
            else:
                raise ValueError(
                    f"MultiheadAttention: attn_mask's dimension {am.ndim} is not supported"
                )
        elif is_causal:
            xp = get_array_module(q._data)
            mask = xp.where(xp.tril(xp.ones((L, S), bool)), 0, -np.inf).astype(dtype)[None, None]
        if key_padding_mask is not None:
            kp = _mask_array(key_padding_mask, "key_padding_mask", dtype)
            if kp.shape != (N, S):
                raise ValueError(
                    f"MultiheadAttention: expecting key_padding_mask shape of "
                    f"{(N, S)}, but got {kp.shape}"
                )
            kp = kp[:, None, None, :]
            mask = kp if mask is None else mask + kp
        if extra and mask is not None:
            xp = get_array_module(mask)
            mask = xp.concatenate([mask, xp.zeros(mask.shape[:-1] + (extra,), mask.dtype)], axis=-1)
        p = self.dropout if self.training else 0.0
        out, weights = _attention(q, k, v, mask, p, False, None, need_weights)
        out = out.transpose(1, 2).reshape(N, L, E)
        out = self.out_proj(out)
        if not batched:
            out = out.reshape(L, E)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not batched:
            weights = weights.reshape(*weights.shape[1:])
        return out, weights

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"


class SDPBackend(enum.IntEnum):
    """torch.nn.attention.SDPBackend: the implementations of scaled_dot_product_attention (pydlk
    runs MATH, its one)."""

    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


@contextlib.contextmanager
def sdpa_kernel(
    backends: SDPBackend | Iterable[SDPBackend], set_priority: bool = False
) -> Iterator[None]:
    """``with sdpa_kernel(SDPBackend.FLASH_ATTENTION):`` lets only the listed implementations run
    inside the block (``pydlk.backends.cuda.flash_sdp_enabled()`` and the others say so), as
    torch's; they are put back afterwards. pydlk computes attention its one way whatever the
    list (``set_priority`` is accepted for torch's signature)."""
    from ..backends import cuda as _cuda_backend

    chosen = [backends] if isinstance(backends, SDPBackend) else list(backends)
    for b in chosen:
        if not isinstance(b, SDPBackend):
            raise TypeError(
                f"sdpa_kernel: backends must be SDPBackend members, got {type(b).__name__}"
            )
    with _cuda_backend.sdp_kernel(
        enable_flash=SDPBackend.FLASH_ATTENTION in chosen,
        enable_math=SDPBackend.MATH in chosen,
        enable_mem_efficient=SDPBackend.EFFICIENT_ATTENTION in chosen,
        enable_cudnn=SDPBackend.CUDNN_ATTENTION in chosen,
    ):
        yield
