"""How a Tensor prints: torch's layout (torch/_tensor_str.py) on the host NumPy array.

One formatter per tensor (two for complex: real and imaginary parts) picks the notation from
the nonzero finite values, as torch's ``_Formatter`` does: integers-only floats print as
``1.`` (``int_mode``); scientific notation when the largest over the smallest magnitude exceeds
1000, the largest exceeds 1e8 or the smallest is below 1e-4 (``sci_mode``, unless
``set_printoptions(sci_mode=...)`` forces it); else ``precision`` digits after the point. Every
element is right-aligned to the widest; rows wrap at ``linewidth``; beyond ``threshold``
elements only ``edgeitems`` at each end of each dimension print, around ``...``. The suffixes
(``dtype=``, ``device=``, ``grad_fn=``, ``requires_grad=True``) follow torch's rules: the dtype
shows unless it is the default float or complex dtype, int64 or bool.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _opts() -> dict[str, Any]:
    from .ops import dtype_utils

    return dtype_utils._PRINT


class _Formatter:
    """torch's ``_Formatter``: the notation and width that every element of one tensor (or of
    one part of a complex tensor) is printed with."""

    def __init__(self, values: np.ndarray, precision: int, sci_mode: bool | None) -> None:
        self.precision = precision
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = values.reshape(-1)
        if not self.floating:
            for v in flat.tolist():
                self.max_width = max(self.max_width, len(f"{v}"))
            return
        vals = flat.astype(np.float64)
        vals = vals[np.isfinite(vals) & (vals != 0)]
        if vals.size == 0:
            return
        absv = np.abs(vals)
        lo, hi = float(absv.min()), float(absv.max())
        self.int_mode = bool(np.all(vals == np.ceil(vals)))
        auto = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
        self.sci_mode = auto if sci_mode is None else sci_mode
        p = precision
        for v in vals.tolist():
            if self.sci_mode:
                w = len(f"{v:.{p}e}")
            elif self.int_mode:
                w = len(f"{v:.0f}") + 1
            else:
                w = len(f"{v:.{p}f}")
            self.max_width = max(self.max_width, w)

    def format(self, value: Any) -> str:
        if self.floating:
            if self.sci_mode:
                ret = f"{value:{self.max_width}.{self.precision}e}"
            elif self.int_mode:
                ret = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    ret += "."
            else:
                ret = f"{value:.{self.precision}f}"
        else:
            ret = f"{value}"
        return (self.max_width - len(ret)) * " " + ret

    __call__ = format

    @property
    def width(self) -> int:
        """An element's width with the ``, `` that separates it from the next."""
        return self.max_width + 2


def _complex_str(value: complex, f1: _Formatter, f2: _Formatter) -> str:
    real = f1.format(value.real)
    imag = (f2.format(value.imag) + "j").lstrip()
    return real + imag if imag[0] in "+-" else real + "+" + imag


def _summarized(a: np.ndarray, edge: int) -> np.ndarray:
    """torch's ``get_summarized_data``: the elements that print when summarising."""
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        return np.concatenate((a[:edge], a[-edge:])) if a.shape[0] > 2 * edge else a
    if not edge:
        return a[tuple(slice(0, 0) for _ in a.shape)]
    rows = list(range(edge)) + list(range(a.shape[0] - edge, a.shape[0]))
    if a.shape[0] <= 2 * edge:
        rows = list(range(a.shape[0]))
    return np.stack([_summarized(a[i], edge) for i in rows])


def _body(a: np.ndarray, indent: int, summarize: bool, fmt: Any, o: dict[str, Any]) -> str:
    edge = o["edgeitems"]
    if a.ndim == 0:
        return fmt(a.item())
    if a.ndim == 1:
        per_line = max(1, math.floor((o["linewidth"] - indent) / fmt.width))
        if summarize and not edge:
            data = ["..."]
        elif summarize and a.shape[0] > 2 * edge:
            data = (
                [fmt(v) for v in a[:edge].tolist()]
                + [" ..."]
                + [fmt(v) for v in a[-edge:].tolist()]
            )
        else:
            data = [fmt(v) for v in a.tolist()]
        lines = [", ".join(data[i : i + per_line]) for i in range(0, len(data), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    n = a.shape[0]
    if summarize and n > 2 * edge:
        slices = (
            [_body(a[i], indent + 1, summarize, fmt, o) for i in range(edge)]
            + ["..."]
            + [_body(a[i], indent + 1, summarize, fmt, o) for i in range(n - edge, n)]
        )
    else:
        slices = [_body(a[i], indent + 1, summarize, fmt, o) for i in range(n)]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


class _ComplexFmt:
    """A complex element as torch prints it: the real part, then the signed imaginary part."""

    def __init__(self, f1: _Formatter, f2: _Formatter) -> None:
        self.f1, self.f2 = f1, f2
        self.width = f1.max_width + 2 + f2.max_width + 1

    def __call__(self, v: complex) -> str:
        return _complex_str(v, self.f1, self.f2)


def tensor_str(a: np.ndarray, indent: int) -> str:
    """The bracketed values of a host array as torch prints them after ``tensor(``."""
    if a.size == 0:
        return "[]"
    o = _opts()
    threshold = o["threshold"]
    summarize = a.size > threshold
    if a.dtype.kind == "V":  # bfloat16 (ml_dtypes): its values as float32
        a = a.astype(np.float32)
    src = _summarized(a, o["edgeitems"]) if summarize else a
    p, sci = o["precision"], o["sci_mode"]
    if a.dtype.kind == "c":
        f1 = _Formatter(np.ascontiguousarray(src.real), p, sci)
        f2 = _Formatter(np.ascontiguousarray(src.imag), p, sci)
        return _body(a, indent, summarize, _ComplexFmt(f1, f2), o)
    return _body(a, indent, summarize, _Formatter(src, p, sci), o)


def add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    """torch's ``_add_suffixes``: each suffix after ``, `` or, past ``linewidth``, on a new
    line indented under the opening bracket; then the closing parenthesis."""
    linewidth = _opts()["linewidth"]
    parts = [text]
    last = len(text) - text.rfind("\n") + 1
    for s in suffixes:
        if last + len(s) + 2 > linewidth:
            parts.append(",\n" + " " * indent + s)
            last = indent + len(s)
        else:
            parts.append(", " + s)
            last += len(s) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(t: Any) -> str:
    """``repr(t)`` of a Tensor as torch prints it: values, then device, size (empty), dtype
    (where not implied), grad_fn or requires_grad; dtypes by NumPy's names."""
    from ._backend import is_cupy
    from .autograd import _default_floats

    data = t._data
    host = data.get() if is_cupy(data) else np.asarray(data)
    dt = data.dtype
    suffixes = []
    if t.device != "cpu":
        suffixes.append(f"device='{t.device}'")
    if host.size == 0:
        body = "[]"
        if host.ndim != 1:
            suffixes.append(f"size={tuple(host.shape)}")
        if dt != _default_floats()[0]:
            suffixes.append(f"dtype={dt}")
    else:
        body = tensor_str(host, len("tensor("))
        if dt not in (*_default_floats(), np.dtype(np.int64), np.dtype(np.bool_)):
            suffixes.append(f"dtype={dt}")
    if t._node is not None:
        suffixes.append(f"grad_fn=<{t._node[0].name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return add_suffixes("tensor(" + body, suffixes, len("tensor("))
