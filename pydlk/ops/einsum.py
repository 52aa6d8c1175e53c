"""einsum with torch's signature, ``einsum(equation, *operands)`` (or one list of operands).

The gradient of operand k is an einsum of the upstream gradient with the other operands,
written into operand k's subscripts. An index that appears only in operand k (summed away
there) is broadcast back; a repeated index in operand k (a trace or diagonal) is written back
onto that diagonal. Every contraction goes through ``_contract``: two operands become one
batched matmul, anything else einsum with ``optimize=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_array_module
from .._matmul import matmul as _mm
from .._typing import Array
from ..autograd import Function, Tensor
from ._helpers import _arr, _cj, _real_for, _t, _val

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _parse(equation: str, shapes: Sequence[tuple[int, ...]]) -> tuple[list[str], str]:
    """Explicit per-operand subscripts and output subscripts with '...' expanded into letters
    not used by the equation."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(
            f"einsum: the equation names {len(ins)} operand(s), but {len(shapes)} were given"
        )
    free = [c for c in _LETTERS if c not in eq]
    nell = 0
    for s, shape in zip(ins, shapes):
        for c in s.replace("...", ""):
            if c not in _LETTERS:
                raise ValueError(f"einsum: invalid subscript {c!r} in equation {equation!r}")
        if "..." in s:
            nell = max(nell, len(shape) - len(s.replace("...", "")))
    ell = "".join(free[:nell])
    out_ins = []
    for s, shape in zip(ins, shapes):
        if "..." in s:
            k = len(shape) - len(s.replace("...", ""))
            s = s.replace("...", ell[nell - k :] if k else "")
        if len(s) != len(shape):
            raise ValueError(
                f"einsum: subscripts {s!r} name {len(s)} dims, but the operand has {len(shape)}"
            )
        out_ins.append(s)
    if arrow:
        out = rhs.replace("...", ell)
    else:  # implicit output: the ellipsis dims, then the letters seen once, sorted
        counts: dict[str, int] = {}
        for s in out_ins:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    return out_ins, out


def _contract(subs: Sequence[str], out: str, *arrays: Array) -> Array:
    """``einsum(subs -> out)``. Two operands without repeated letters, each letter the same
    size in both, are one batched matmul (BLAS): batch letters (in both and the output),
    contracted ones (in both, not the output), and each operand's own kept letters; letters
    found in one operand only and not in the output are summed first. Anything else goes to
    einsum with ``optimize=True``."""
    xp = get_array_module(arrays[0])
    if len(arrays) == 2:
        (sa, sb), (a, b) = subs, arrays
        if (
            len(set(sa)) == len(sa)
            and len(set(sb)) == len(sb)
            and len(set(out)) == len(out)
            and all(a.shape[sa.index(c)] == b.shape[sb.index(c)] for c in set(sa) & set(sb))
        ):
            return _matmul(sa, sb, out, a, b, xp)
    return xp.asarray(xp.einsum(",".join(subs) + "->" + out, *arrays, optimize=True))


def _matmul(sa: str, sb: str, out: str, a: Array, b: Array, xp: Any) -> Array:
    def drop(
        s: str, x: Array, other: str
    ) -> tuple[str, Array]:  # sum away letters that are nowhere else
        lone = tuple(i for i, c in enumerate(s) if c not in other and c not in out)
        if lone:
            x = x.sum(axis=lone)
            s = "".join(c for c in s if c in other or c in out)
        return s, x

    sa, a = drop(sa, a, sb)
    sb, b = drop(sb, b, sa)
    batch = [c for c in out if c in sa and c in sb]
    left = [c for c in out if c in sa and c not in sb]
    right = [c for c in out if c in sb and c not in sa]
    inner = [c for c in sa if c in sb and c not in out]
    size = dict(zip(sa, a.shape)) | dict(zip(sb, b.shape))

    def prod(cs: list[str]) -> int:
        return int(np.prod([size[c] for c in cs], dtype=np.int64))

    a3 = xp.transpose(a, [sa.index(c) for c in batch + left + inner])
    a3 = a3.reshape(prod(batch), prod(left), prod(inner))
    b3 = xp.transpose(b, [sb.index(c) for c in batch + inner + right])
    b3 = b3.reshape(prod(batch), prod(inner), prod(right))
    r = _mm(a3, b3).reshape(tuple(size[c] for c in batch + left + right))
    order = batch + left + right
    r = xp.transpose(r, [order.index(c) for c in out])
    return r if r.flags.c_contiguous else r.copy()  # (ascontiguousarray makes 0-d 1-d)


class Einsum(Function):
    @staticmethod
    def forward(ctx, ins, out, *arrays):
        ctx.ins, ctx.out = ins, out
        ctx.save_for_backward(*arrays)
        return _contract(ins, out, *arrays)

    @staticmethod
    def backward(ctx, g):
        arrays = ctx.saved_tensors
        xp = get_array_module(g)
        grads = []
        for k, a in enumerate(arrays):
            if not ctx.needs_input_grad[k + 2]:
                grads.append(None)
                continue
            sub = ctx.ins[k]
            others = [(ctx.ins[j], b) for j, b in enumerate(arrays) if j != k]
            uniq = "".join(dict.fromkeys(sub))  # the operand's distinct letters, in order
            sizes = {}
            for s, b in [(sub, a)] + others:
                sizes.update(zip(s, b.shape))
            # letters of the operand that appear nowhere else: summed in the forward, so the
            # gradient is constant along them (a ones operand broadcasts it back)
            seen = set(ctx.out).union(*[set(s) for s, _ in others])
            lone = "".join(c for c in uniq if c not in seen)
            ops = [g] + [_cj(b) for _, b in others]  # complex: g times conj(others)
            subs = [ctx.out] + [s for s, _ in others]
            if lone:
                ops.append(xp.ones([sizes[c] for c in lone], g.dtype))
                subs.append(lone)
            gu = _contract(subs, uniq, *ops)
            if uniq != sub:  # repeated letters: place gu on the diagonal of a zero array
                z = xp.zeros(a.shape, g.dtype)
                # a view of z indexed by the distinct letters (einsum's diagonal view)
                view = xp.einsum(sub + "->" + uniq, z)
                view[...] = gu
                gu = z
            if gu.shape != a.shape:  # a size-1 dim broadcast against the others
                axes = tuple(i for i, (m, n) in enumerate(zip(a.shape, gu.shape)) if m != n)
                gu = gu.sum(axis=axes, keepdims=True)
            grads.append(_real_for(gu, a.dtype).astype(a.dtype, copy=False))
        return (None, None, *grads)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        # backward's contractions as recorded einsums of g and the other operands' Tensors, so
        # that the gradient differentiates again in every operand and in g
        from ..functional._adjoint import LinearMap

        arrays = ctx.saved_tensors
        xp = get_array_module(arrays[0])
        ts = [_val(t, a) for t, a in zip(inputs[2:], arrays)]
        grads = []
        for k, a in enumerate(arrays):
            if not ctx.needs_input_grad[k + 2]:
                grads.append(None)
                continue
            sub = ctx.ins[k]
            others = [(ctx.ins[j], t) for j, t in enumerate(ts) if j != k]
            uniq = "".join(dict.fromkeys(sub))
            sizes = dict(zip(sub, a.shape))
            for s, t in others:
                sizes.update(zip(s, t.shape))
            seen = set(ctx.out).union(*[set(s) for s, _ in others])
            lone = "".join(c for c in uniq if c not in seen)
            ops = [g] + [t for _, t in others]
            subs = [ctx.out] + [s for s, _ in others]
            if lone:
                ops.append(xp.ones([sizes[c] for c in lone], g.dtype))
                subs.append(lone)
            gu = Einsum.apply(subs, uniq, *ops)
            if uniq != sub:  # onto the diagonal: linear, its adjoint reads the diagonal
                shape, dt = a.shape, g.dtype
                gu = LinearMap.apply(
                    gu,
                    lambda v, sub=sub, uniq=uniq, shape=shape, dt=dt: _diagonal_put(
                        v, sub, uniq, shape, dt
                    ),
                    lambda z, sub=sub, uniq=uniq: _contract([sub], uniq, z),
                )
            if tuple(gu.shape) != a.shape:
                axes = tuple(i for i, (m, n) in enumerate(zip(a.shape, gu.shape)) if m != n)
                gu = gu.sum(dim=axes, keepdim=True)
            grads.append(gu if gu.dtype == a.dtype else gu.to(a.dtype))
        return (None, None, *grads)


def _diagonal_put(v: Array, sub: str, uniq: str, shape: tuple[int, ...], dtype: Any) -> Array:
    """A zero array of ``shape`` with ``v`` on the diagonal that ``sub -> uniq`` reads."""
    xp = get_array_module(v)
    z = xp.zeros(shape, dtype)
    xp.einsum(sub + "->" + uniq, z)[...] = v
    return z


def einsum(equation: str, *operands: Tensor | Sequence[Tensor]) -> Tensor:
    """Sum of products of the operands' entries as the equation's subscripts say
    (``'ij,jk->ik'``, ``'bij,bjk->bik'``, ``'...ij->...ji'``, ``'ii->i'``, ``'ii'``).
    Operands of different dtypes are promoted to a common one (torch refuses them).
    Subscripts are ASCII letters; '...' stands for the leading dims, broadcast as in torch."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a str, got {type(equation).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: at least one operand is required")
    ts = [_t(o) for o in operands]
    ins, out = _parse(equation, [t.shape for t in ts])
    for c in out:
        if not any(c in s for s in ins):
            raise ValueError(f"einsum: output subscript {c!r} does not appear in the inputs")
    sizes: dict[str, int] = {}
    for s, t in zip(ins, ts):
        for c, n in zip(s, t.shape):
            if sizes.setdefault(c, n) != n and n != 1 and sizes[c] != 1:
                raise ValueError(
                    f"einsum: subscript {c!r} has size {n} in one operand and {sizes[c]} in another"
                )
    dt = np.result_type(*[_arr(t).dtype for t in ts])
    ts = [t if t.dtype == dt else t.to(dt) for t in ts]
    return Einsum.apply(tuple(ins), out, *ts)
