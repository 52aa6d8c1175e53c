"""torch.tensor's dtype for a nested list that holds NumPy scalars, arrays or Tensors.

``torch.tensor([np.float64(1.5), 2.0])`` is float64: each element counts with its own dtype, a
Python number with torch's default for its kind, and the dtypes promote as torch promotes
(across kinds the higher kind, within a kind the wider). ``pydlk.tensor`` (autograd.py) asks
only when NumPy's own inference of a list could differ; lists of Python numbers only take the
fast path there.
"""

from __future__ import annotations

import numpy as np


def _promote_elements(a, b):
    """torch's promotion of two element dtypes (None: no element yet): across kinds the higher
    kind's dtype (an integer with a float gives the float, a float with a complex the complex
    wide enough for both), within a kind the wider."""
    if a is None or b is None:
        return b if a is None else a
    order = "bifc"  # unsigned with the signed; bfloat16 (ml_dtypes, kind 'V') a float
    ka, kb = (order.index({"u": "i", "V": "f"}.get(d.kind, d.kind)) for d in (a, b))
    if ka == kb or {a.kind, b.kind} == {"f", "c"}:
        return np.promote_types(a, b)
    return a if ka > kb else b


def sequence_dtype(data, floats):
    """torch.tensor's dtype for a nested list that holds NumPy scalars, arrays or Tensors: the
    promotion of their dtypes with those of the Python numbers beside them (bool, int64, the
    default float or complex dtype, ``floats``); None when it holds Python numbers only."""
    py = {bool: np.dtype(bool), int: np.dtype(np.int64), float: floats[0], complex: floats[1]}
    found = False

    def walk(seq):
        nonlocal found
        types = set(map(type, seq))
        if types <= py.keys():  # the common case: Python numbers only, no per-element loop
            res = None
            for t in types:
                res = _promote_elements(res, py[t])
            return res
        res = None
        for x in seq:
            if type(x) in py:
                res = _promote_elements(res, py[type(x)])
            elif isinstance(x, (list, tuple)):
                res = _promote_elements(res, walk(x))
            elif hasattr(x, "dtype"):
                found = True
                res = _promote_elements(res, np.dtype(x.dtype))
        return res

    res = walk(data)
    return res if found else None
