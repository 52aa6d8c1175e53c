"""torch.quasirandom: SobolEngine, torch's generator of (scrambled) Sobol sequences.

The direction numbers come from S. Joe and F. Y. Kuo's table new-joe-kuo-6.21201 (the one
torch uses), whose header and first 1110 rows (dimensions 2 to 1111) are bundled, unchanged and
gzipped, as ``new-joe-kuo-6.21201.first1111.gz``. That table is distributed under this licence
(also in ``JOE_KUO_LICENSE.txt`` beside it):

    Copyright (c) 2008, Frances Y. Kuo and Stephen Joe. All rights reserved.
    Redistribution and use in source and binary forms, with or without modification, are
    permitted provided that the following conditions are met: Redistributions of source code
    must retain the above copyright notice, this list of conditions and the following
    disclaimer. Redistributions in binary form must reproduce the above copyright notice, this
    list of conditions and the following disclaimer in the documentation and/or other materials
    provided with the distribution. Neither the names of the copyright holders nor the names of
    the University of New South Wales and the University of Waikato and its contributors may be
    used to endorse or promote products derived from this software without specific prior
    written permission. THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS "AS IS" AND ANY
    EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF
    MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE
    COPYRIGHT HOLDERS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR
    CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
    SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON
    ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING
    NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED
    OF THE POSSIBILITY OF SUCH DAMAGE.
"""

from __future__ import annotations

import gzip
import os
from functools import lru_cache
from typing import Any

import numpy as np

from .._backend import on_device_of
from .._random import Generator
from ..autograd import Tensor
from ..ops.dtype_utils import default_float
from ..ops.factories import randint

__all__ = ["SobolEngine"]

_TABLE = os.path.join(os.path.dirname(__file__), "new-joe-kuo-6.21201.first1111.gz")


@lru_cache(maxsize=1)
def _table() -> tuple[np.ndarray, np.ndarray]:
    """``(poly, m)`` for dimensions 1..1111: the primitive polynomials as torch encodes them
    (``2 a + 2 ** s + 1``, the degenerate 1 for dimension 1) and the initial direction numbers
    (a row of up to 18, zero-padded; dimension 1's are all 1, as torch's first row)."""
    with gzip.open(_TABLE, "rt") as f:
        rows = [line.split() for line in f.read().splitlines()[1:]]
    poly = np.ones(len(rows) + 1, np.int64)
    m = np.zeros((len(rows) + 1, 18), np.int64)
    m[0] = 1
    for i, r in enumerate(rows, start=1):
        s, a = int(r[1]), int(r[2])
        poly[i] = 2 * a + 2**s + 1
        m[i, :s] = [int(v) for v in r[3 : 3 + s]]
    return poly, m


def _initial_state(dimension: int, maxbit: int) -> np.ndarray:
    """torch's ``_sobol_engine_initialize_state_``: the (dimension, maxbit) direction numbers
    (Bratley and Fox's recurrence from each row's polynomial), scaled by 2 ** (maxbit - 1 - j)."""
    poly, m0 = _table()
    v = np.zeros((dimension, maxbit), np.int64)
    v[0] = 1
    for d in range(1, dimension):
        p = int(poly[d])
        s = p.bit_length() - 1
        v[d, :s] = m0[d, :s]
        for j in range(s, maxbit):
            newv = int(v[d, j - s])
            pow2 = 1
            for k in range(s):
                pow2 <<= 1
                if (p >> (s - 1 - k)) & 1:
                    newv ^= pow2 * int(v[d, j - k - 1])
            v[d, j] = newv
    return v * (np.int64(2) ** np.arange(maxbit - 1, -1, -1, dtype=np.int64))


def _parity(x: np.ndarray) -> np.ndarray:
    """The parity of the set bits of each (non-negative, < 2**32) integer."""
    for sh in (16, 8, 4, 2, 1):
        x = x ^ (x >> sh)
    return x & 1


def _gray_xor(state: np.ndarray, k: int) -> np.ndarray:
    """XOR of the direction numbers (columns of ``state``) at the set bits of gray(k): the
    point k of the unshifted sequence in Gray-code order."""
    g = k ^ (k >> 1)
    out = np.zeros(state.shape[0], np.int64)
    b = 0
    while g:
        if g & 1:
            out ^= state[:, b]
        g >>= 1
        b += 1
    return out


class SobolEngine:
    """``SobolEngine(dimension, scramble=False, seed=None)``, torch.quasirandom.SobolEngine: a
    generator of Sobol sequences in [0, 1)^dimension with 30-bit points, drawn in Gray-code
    order with Joe and Kuo's direction numbers (the table torch uses). Unscrambled, its points
    are torch's, bit for bit. ``scramble=True`` applies torch's scrambling: a random lower
    triangular binary matrix per dimension (linear matrix scrambling) and a random digital
    shift, drawn from pydlk's generator (seeded by ``seed``, else the global one), so the points
    are a different scrambled sequence from torch's for the same seed (pydlk's and torch's
    random streams differ), with the same properties, and the same ones for the same seed.

    Methods as torch's: ``draw(n=1, out=None, dtype=None)`` (the next n points, (n, dimension),
    in ``dtype`` or the default float dtype), ``draw_base2(m)`` (2 ** m points, keeping the
    total a power of 2), ``fast_forward(n)``, ``reset()``. The state (``sobolstate``,
    ``shift``, ``quasi``) is int64 CPU Tensors, as torch's; ``out`` may be on any device.

    Differs from torch: dimensions up to 1111 (the bundled part of the table; torch has 21201).
    Raises ValueError for a dimension out of range (and in ``draw_base2``, as torch's, when
    the total would not be a power of 2)."""

    MAXBIT = 30
    MAXDIM = 1111

    def __init__(self, dimension: int, scramble: bool = False, seed: int | None = None) -> None:
        if dimension > self.MAXDIM or dimension < 1:
            raise ValueError(
                f"Supported range of dimensionality for SobolEngine is [1, {self.MAXDIM}]"
            )
        self.seed = seed
        self.scramble = scramble
        self.dimension = dimension
        state = _initial_state(dimension, self.MAXBIT)
        if not self.scramble:
            shift = np.zeros(dimension, np.int64)
        else:
            state, shift = self._scramble(state)
        self.sobolstate = Tensor(state)
        self.shift = Tensor(shift)
        self.quasi = Tensor(shift.copy())
        # torch divides the int64 shift in the default float dtype, then converts per draw
        self._first_point = Tensor(
            (shift.astype(default_float()) / default_float().type(2**self.MAXBIT)).reshape(1, -1)
        )
        self.num_generated = 0

    def _scramble(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g = None
        if self.seed is not None:
            g = Generator()
            g.manual_seed(self.seed)
        mb = self.MAXBIT
        shift_ints = randint(2, (self.dimension, mb), generator=g)._data
        shift = shift_ints @ (np.int64(2) ** np.arange(mb, dtype=np.int64))
        ltm = np.tril(randint(2, (self.dimension, mb, mb), generator=g)._data)
        ltm[:, np.arange(mb), np.arange(mb)] = 1
        dots = ltm @ (np.int64(2) ** np.arange(mb - 1, -1, -1, dtype=np.int64))  # (dim, mb)
        # bit (mb - 1 - p) of the new state[d, j] is the parity of dots[d, p] & state[d, j]
        bits = _parity(dots[:, None, :] & state[:, :, None])  # (dim, j, p)
        new = bits @ (np.int64(2) ** np.arange(mb - 1, -1, -1, dtype=np.int64))
        return new, shift

    def _advance(self, n: int, start: int) -> np.ndarray:
        """The next ``n`` states after ``quasi`` (torch's ``_sobol_engine_draw`` loop: XOR the
        column at the lowest zero bit of the counter), which becomes the last of them."""
        t = np.arange(start, start + n, dtype=np.int64)
        low = (t ^ (t + 1)) + 1  # 2 ** (index of t's lowest zero bit + 1)
        col = np.log2(low.astype(np.float64)).astype(np.int64) - 1
        steps = self.sobolstate._data[:, col].T  # (n, dimension)
        pts = np.bitwise_xor.accumulate(steps, axis=0) ^ self.quasi._data
        if n:
            self.quasi = Tensor(pts[-1].copy())
        return pts

    def draw(self, n: int = 1, out: Tensor | None = None, dtype: Any = None) -> Tensor:
        """The next ``n`` points of the sequence, an (n, dimension) Tensor of ``dtype`` (the
        default float dtype when None); with ``out``, written into it (resized, its dtype and
        device kept) and returned."""
        dt = default_float() if dtype is None else np.dtype(dtype)
        recip = dt.type(1.0 / 2**self.MAXBIT)
        if self.num_generated == 0:
            first = self._first_point._data.astype(dt)
            if n == 1:
                result = first
            else:
                rest = self._advance(n - 1, 0).astype(dt) * recip
                result = np.concatenate([first, rest], axis=0)
        else:
            result = self._advance(n, self.num_generated - 1).astype(dt) * recip
        self.num_generated += n
        if out is not None:
            out._data = on_device_of(result.astype(out._data.dtype), out._data)
            return out
        return Tensor(result)

    def draw_base2(self, m: int, out: Tensor | None = None, dtype: Any = None) -> Tensor:
        """``2 ** m`` points (see ``draw``); ValueError unless the total drawn so far becomes a
        power of 2 (the balance of Sobol points needs it), as torch's."""
        n = 2**m
        total_n = self.num_generated + n
        if not (total_n & (total_n - 1) == 0):
            raise ValueError(
                "The balance properties of Sobol' points require "
                f"n to be a power of 2. {self.num_generated} points have been "
                f"previously generated, then: n={self.num_generated}+2**{m}={total_n}. "
                "If you still want to do this, please use "
                "'SobolEngine.draw()' instead."
            )
        return self.draw(n=n, out=out, dtype=dtype)

    def reset(self) -> SobolEngine:
        """Back to the first point (the state after construction)."""
        self.quasi = Tensor(self.shift._data.copy())
        self.num_generated = 0
        return self

    def fast_forward(self, n: int) -> SobolEngine:
        """Skip ``n`` points, as drawing them would (without making them)."""
        k = self.num_generated + n - 1  # the index of the point quasi then holds
        if k >= 0:
            self.quasi = Tensor(self.shift._data ^ _gray_xor(self.sobolstate._data, k))
        self.num_generated += n
        return self

    def __repr__(self) -> str:
        fmt = [f"dimension={self.dimension}"]
        if self.scramble:
            fmt += ["scramble=True"]
        if self.seed is not None:
            fmt += [f"seed={self.seed}"]
        return type(self).__name__ + "(" + ", ".join(fmt) + ")"
