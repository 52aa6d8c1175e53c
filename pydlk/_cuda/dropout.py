"""Dropout on the GPU with the same Philox4x32-10 stream as ``pydlk._C`` (csrc/philox.h,
csrc/dropout.cpp), so a (seed, offset) pair gives the same mask on either device.

The scheme, exactly as the CPU's: element i of a call with (seed, offset) uses the Philox block
with counter (offset / 4 + i / 4) as a 64-bit number in words 0-1 (words 2-3 zero), key
(seed low 32 bits, seed high 32 bits), and takes lane i % 4 of its four outputs. Its uniform is
(r >> 8) * 2^-24; it is kept when (r >> 8) >= ceil(p * 2^24). The packed mask holds element i in
bit i % 32 of uint32 word i / 32.

The forward runs a block per tile of 1024 elements: a thread per Philox block draws the keep
bits into shared memory, then a thread per element scales it and a thread per mask word writes
the word, so that neighbouring threads read and write neighbouring elements. The backward reads
the saved mask a thread per element, or reruns the forward's kernel on the gradient.
"""

import numpy as np

from ._common import (
    Source,
    check_float,
    check_like,
    i64,
    launch,
    out_or_new,
    scalar,
)

_CODE = r"""
// One Philox4x32-10 block (csrc/philox.h, philox::block).
__device__ __forceinline__ void philox_block(u32 c[4], u32 k0, u32 k1) {
  for (int r = 0; r < 10; ++r) {
    const u32 lo0 = 0xD2511F53u * c[0], hi0 = __umulhi(0xD2511F53u, c[0]);
    const u32 lo1 = 0xCD9E8D57u * c[2], hi1 = __umulhi(0xCD9E8D57u, c[2]);
    const u32 n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
    c[0] = n0; c[1] = lo1; c[2] = n2; c[3] = lo0;
    k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
  }
}

// The uint32 of element i for (seed, offset): counter offset/4 + i/4, lane i%4.
__device__ __forceinline__ u32 philox_at(u64 seed, u64 offset, u64 i) {
  const u64 c = offset / 4 + i / 4;
  u32 v[4] = {(u32)c, (u32)(c >> 32), 0u, 0u};
  philox_block(v, (u32)seed, (u32)(seed >> 32));
  return v[i & 3];
}

extern "C" __global__ void philox_uniform_k(T* out, i64 n, u64 seed, u64 offset) {
  GRID_STRIDE(i, n) out[i] = (T)(philox_at(seed, offset, (u64)i) >> 8) * (T)(1.0 / 16777216.0);
}

extern "C" __global__ void bernoulli_mask_k(T* out, i64 n, u32 thr, T sc, u64 seed, u64 offset) {
  GRID_STRIDE(i, n) out[i] = (philox_at(seed, offset, (u64)i) >> 8) >= thr ? sc : (T)0;
}

// Inverted dropout, y = x * keep * sc, in tiles of DROP_TILE elements (DROP_TILE / 4 Philox
// blocks, DROP_TILE / 32 mask words) per block, grid-stride over the tiles. Consecutive threads
// touch consecutive elements (coalesced loads and stores) while each Philox block is drawn once:
//   1. one thread per Philox block draws its four numbers and keeps their four keep bits in
//      shared memory (a nibble per block; 0 past n, as the CPU's tail);
//   2. one thread per element scales it by its bit (a warp reads and writes 32 neighbours);
//   3. one thread per mask word ORs its eight nibbles and writes the word whole (no atomics).
// The backward without a saved mask runs this kernel on dy with write_mask 0: the same keep
// bits regenerated from (seed, offset).
#define DROP_TILE 1024
extern "C" __global__ void dropout_fwd(T* y, u32* mask, const T* x, i64 n, u32 thr, T sc,
                                       u64 seed, u64 offset, int write_mask) {
  __shared__ unsigned char keep4[DROP_TILE / 4];
  const i64 tiles = (n + DROP_TILE - 1) / DROP_TILE;
  for (i64 t = blockIdx.x; t < tiles; t += gridDim.x) {
    const i64 e0 = t * DROP_TILE;
    for (int q = threadIdx.x; q < DROP_TILE / 4; q += blockDim.x) {
      const i64 i = e0 + 4 * q;  // a multiple of 4: the first element of a Philox block
      u32 bits = 0;
      if (i < n) {
        const u64 c = offset / 4 + (u64)i / 4;
        u32 v[4] = {(u32)c, (u32)(c >> 32), 0u, 0u};
        philox_block(v, (u32)seed, (u32)(seed >> 32));
        for (int k = 0; k < 4; ++k)
          if (i + k < n) bits |= (u32)((v[k] >> 8) >= thr) << k;
      }
      keep4[q] = (unsigned char)bits;
    }
    __syncthreads();
    for (int j = threadIdx.x; j < DROP_TILE; j += blockDim.x) {
      const i64 i = e0 + j;
      if (i < n) y[i] = x[i] * (((keep4[j >> 2] >> (j & 3)) & 1u) ? sc : (T)0);
    }
    if (write_mask)
      for (int q = threadIdx.x; q < DROP_TILE / 32; q += blockDim.x) {
        const i64 w = t * (DROP_TILE / 32) + q;
        if (w * 32 < n) {
          u32 word = 0;
          for (int k = 0; k < 8; ++k) word |= (u32)keep4[8 * q + k] << (4 * k);
          mask[w] = word;
        }
      }
    __syncthreads();  // the next tile rewrites keep4
  }
}

// dx = dy * keep * sc from the saved bit mask, one thread per element: a warp's 32 neighbours
// read one mask word (a broadcast) and contiguous dy and dx.
extern "C" __global__ void dropout_bwd(T* dx, const T* dy, const u32* mask, i64 n, T sc) {
  GRID_STRIDE(i, n) dx[i] = dy[i] * (((mask[i >> 5] >> (i & 31)) & 1u) ? sc : (T)0);
}

// y[r, j] = x[r, j] * m[r]: channel dropout's forward and backward.
extern "C" __global__ void rowscale_k(T* y, const T* x, const T* m, i64 inner, i64 n) {
  GRID_STRIDE(i, n) y[i] = x[i] * m[i / inner];
}

extern "C" __global__ void philox_blocks_k(u32* out, u64 counter, u64 seed, i64 nblocks) {
  GRID_STRIDE(j, nblocks) {
    const u64 c = counter + (u64)j;
    u32 v[4] = {(u32)c, (u32)(c >> 32), 0u, 0u};
    philox_block(v, (u32)seed, (u32)(seed >> 32));
    for (int l = 0; l < 4; ++l) out[4 * j + l] = v[l];
  }
}

extern "C" __global__ void philox_one_k(u32* c, u32 k0, u32 k1) {
  if (threadIdx.x == 0 && blockIdx.x == 0) philox_block(c, k0, k1);
}
"""

_SRC = Source(
    "dropout",
    _CODE,
    (
        "philox_uniform_k",
        "bernoulli_mask_k",
        "dropout_fwd",
        "dropout_bwd",
        "rowscale_k",
        "philox_blocks_k",
        "philox_one_k",
    ),
)


def _u64(v, op, name):
    v = int(v)
    if not 0 <= v < 2**64:
        raise OverflowError(f"{op}: {name} must be in [0, 2^64), got {v}")
    return np.uint64(v)


def _check_p(p, op):
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"{op}: p must be in [0, 1], got {p}")


def keep_threshold(p: float) -> int:
    """ceil(p * 2^24): keep when the top 24 bits of the draw are >= this (csrc/philox.h)."""
    t = p * 16777216.0
    k = int(t)
    return k + 1 if k < t else k


def _keep_scale(p):
    return 0.0 if p >= 1.0 else 1.0 / (1.0 - p)


def philox4x32_10(counter, key):
    """One Philox4x32-10 block (for known-answer tests): four uint32 words."""
    cp = __import__("cupy")
    if len(counter) != 4 or len(key) != 2:
        raise ValueError("philox4x32_10: counter must have 4 words and key 2")
    c = cp.asarray(np.asarray(counter, dtype=np.uint32))
    _SRC("philox_one_k", np.float32)((1,), (1,), (c, np.uint32(key[0]), np.uint32(key[1])))
    return tuple(int(v) for v in c.get())


def philox_blocks16(counter, seed, impl="auto"):
    """The 64 numbers of counters counter .. counter+15 in element order (a CuPy uint32 array).
    impl is accepted for the CPU signature; the GPU has one implementation."""
    cp = __import__("cupy")
    if impl not in ("auto", "portable", "avx2", "avx512"):
        raise ValueError(
            f"philox_blocks16: impl must be auto, portable, avx2 or avx512, got {impl}"
        )
    out = cp.empty(64, cp.uint32)
    launch(
        _SRC("philox_blocks_k", np.float32),
        16,
        (
            out,
            _u64(counter, "philox_blocks16", "counter"),
            _u64(seed, "philox_blocks16", "seed"),
            i64(16),
        ),
    )
    return out


def philox_uniform(out, seed, offset):
    """Fills out with uniforms in [0, 1); element i uses counter offset/4 + i/4, lane i%4."""
    op = "philox_uniform"
    o = check_float(out, op, "out")
    if o is not out:
        raise ValueError(f"{op}: out must be C-contiguous")
    launch(
        _SRC("philox_uniform_k", o.dtype),
        o.size,
        (o, i64(o.size), _u64(seed, op, "seed"), _u64(offset, op, "offset")),
    )
    return out


def bernoulli_mask(out, p, scale, seed, offset):
    """out[i] = scale where uniform_i >= p else 0 (keep probability 1 - p). Returns out."""
    op = "bernoulli_mask"
    _check_p(p, op)
    o = check_float(out, op, "out")
    if o is not out:
        raise ValueError(f"{op}: out must be C-contiguous")
    launch(
        _SRC("bernoulli_mask_k", o.dtype),
        o.size,
        (
            o,
            i64(o.size),
            np.uint32(keep_threshold(p)),
            scalar(o.dtype, scale),
            _u64(seed, op, "seed"),
            _u64(offset, op, "offset"),
        ),
    )
    return out


def _check_mask(mask, n, op):
    cp = __import__("cupy")
    if not isinstance(mask, cp.ndarray) or mask.dtype != np.uint32 or not mask.flags.c_contiguous:
        raise TypeError(f"{op}: mask must be a C-contiguous uint32 array")
    if mask.shape != ((n + 31) // 32,):
        raise ValueError(
            f"{op}: mask must have shape ({(n + 31) // 32},) (one bit per element), "
            f"got {tuple(mask.shape)}"
        )
    return mask


#: Elements per tile of dropout_fwd (its DROP_TILE): one 256-thread block draws a tile's 256
#: Philox blocks, one per thread. At most _TILE_BLOCKS blocks: past that they loop over tiles.
_DROP_TILE = 1024
_TILE_BLOCKS = 65535 * 8


def _launch_tiles(y, m, x, p, seed, offset):
    """dropout_fwd over x into y, writing the bit mask into m unless m is None."""
    cp = __import__("cupy")
    n = x.size
    if n <= 0:
        return
    tiles = (n + _DROP_TILE - 1) // _DROP_TILE
    _SRC("dropout_fwd", x.dtype)(
        (min(tiles, _TILE_BLOCKS),),
        (256,),
        (
            y,
            m if m is not None else cp.empty(1, cp.uint32),
            x,
            i64(n),
            np.uint32(keep_threshold(p)),
            scalar(x.dtype, _keep_scale(p)),
            seed,
            offset,
            np.int32(m is not None),
        ),
    )


def dropout_forward(input, p, seed, offset, out=None, mask=None, save_mask=True):
    """Inverted dropout: y = input * keep / (1 - p). Returns (y, mask): the packed keep mask
    (uint32, one bit per element) or None when save_mask is False and no mask is given."""
    cp = __import__("cupy")
    op = "dropout"
    _check_p(p, op)
    x = check_float(input, op, "input")
    n = x.size
    y = out_or_new(out, x.shape, x.dtype, op)
    if mask is not None:
        m = _check_mask(mask, n, op)
    elif save_mask:
        m = cp.empty((n + 31) // 32, cp.uint32)
    else:
        m = None
    _launch_tiles(y, m, x, p, _u64(seed, op, "seed"), _u64(offset, op, "offset"))
    return y, m


def dropout_backward(grad_output, mask, p, seed, offset, out=None):
    """grad_input = grad_output * keep / (1 - p); keep read from mask, or regenerated from
    (seed, offset) when mask is None."""
    op = "dropout_backward"
    _check_p(p, op)
    dy = check_float(grad_output, op, "grad_output")
    n = dy.size
    m = _check_mask(mask, n, op) if mask is not None else None
    dx = out_or_new(out, dy.shape, dy.dtype, op)
    seed, offset = _u64(seed, op, "seed"), _u64(offset, op, "offset")
    if m is None:  # the forward's kernel on dy: the keep bits regenerated, no mask written
        _launch_tiles(dx, None, dy, p, seed, offset)
        return dx
    launch(
        _SRC("dropout_bwd", dy.dtype),
        n,
        (dx, dy, m, i64(n), scalar(dy.dtype, _keep_scale(p))),
    )
    return dx


def channel_scale(input, scale, out=None):
    """y[n, c, ...] = input[n, c, ...] * scale[n, c] (channel dropout's forward and backward)."""
    op = "channel_scale"
    x = check_float(input, op, "input")
    if x.ndim < 2:
        raise ValueError(
            f"{op}: input must have at least 2 dimensions (N, C, ...), got {tuple(x.shape)}"
        )
    s = check_like(scale, x.dtype, op, "scale", x.shape[:2])
    rows = x.shape[0] * x.shape[1]
    inner = x.size // rows if rows else 0
    y = out_or_new(out, x.shape, x.dtype, op)
    launch(_SRC("rowscale_k", x.dtype), x.size, (y, x, s, i64(max(inner, 1)), i64(x.size)))
    return y
