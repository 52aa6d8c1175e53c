# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# distutils: language = c++
"""Per-sample augmentation loops over float32 NCHW batches, in parallel over the batch (prange).

Every kernel is a deterministic function of the input and per-sample parameters drawn before
the loop (pydlk/data/augment.py draws them from a counter-based Philox stream), so the result
is the same whatever the thread count. Per-pixel noise draws its numbers inside the loop from
csrc/philox.h by (seed, offset, element index), which is also thread-count independent.
Outputs are written, never accumulated; ``out`` must not alias ``x``.
"""
from cython.parallel import prange
from libc.math cimport cos, sin, floor, log, sqrt, M_PI
from libc.stdint cimport uint32_t, uint64_t, int64_t

cdef extern from "philox.h" namespace "pydlk::philox" nogil:
    uint32_t at(uint64_t seed, uint64_t offset, uint64_t i)
    float uniform_f(uint32_t r)


def crop(const float[:, :, :, ::1] x, float[:, :, :, ::1] out, const int64_t[::1] top,
         const int64_t[::1] left, int pad, int num_threads):
    """out[n, c, i, j] = xpad[n, c, top[n] + i, left[n] + j], xpad = x zero-padded by ``pad``."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t n, c, i, j, si, sj
    for n in prange(N, nogil=True, num_threads=num_threads, schedule="static"):
        for c in range(C):
            for i in range(OH):
                si = top[n] + i - pad
                for j in range(OW):
                    sj = left[n] + j - pad
                    if 0 <= si < H and 0 <= sj < W:
                        out[n, c, i, j] = x[n, c, si, sj]
                    else:
                        out[n, c, i, j] = 0


def hflip(const float[:, :, :, ::1] x, float[:, :, :, ::1] out, const unsigned char[::1] flip,
          int num_threads):
    """Mirror sample n left-right where flip[n] is 1; copy it otherwise."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t n, c, i, j
    for n in prange(N, nogil=True, num_threads=num_threads, schedule="static"):
        for c in range(C):
            for i in range(H):
                if flip[n]:
                    for j in range(W):
                        out[n, c, i, j] = x[n, c, i, W - 1 - j]
                else:
                    for j in range(W):
                        out[n, c, i, j] = x[n, c, i, j]


cdef inline float bilinear(const float[:, :, :, ::1] x, Py_ssize_t n, Py_ssize_t c, double y,
                           double xx) noexcept nogil:
    """x[n, c] sampled at (y, xx) in pixel coordinates, zero outside the image."""
    cdef Py_ssize_t H = x.shape[2], W = x.shape[3]
    cdef double fy = floor(y), fx = floor(xx)
    cdef Py_ssize_t y0 = <Py_ssize_t>fy, x0 = <Py_ssize_t>fx
    cdef double wy = y - fy, wx = xx - fx
    cdef double v00 = 0, v01 = 0, v10 = 0, v11 = 0
    if 0 <= y0 < H:
        if 0 <= x0 < W:
            v00 = x[n, c, y0, x0]
        if 0 <= x0 + 1 < W:
            v01 = x[n, c, y0, x0 + 1]
    if 0 <= y0 + 1 < H:
        if 0 <= x0 < W:
            v10 = x[n, c, y0 + 1, x0]
        if 0 <= x0 + 1 < W:
            v11 = x[n, c, y0 + 1, x0 + 1]
    return <float>((1 - wy) * ((1 - wx) * v00 + wx * v01) + wy * ((1 - wx) * v10 + wx * v11))


def affine(const float[:, :, :, ::1] x, float[:, :, :, ::1] out, const double[::1] angle,
           const double[::1] tx, const double[::1] ty, int num_threads):
    """Rotate sample n by angle[n] degrees (counter-clockwise) about the image centre and shift it
    by (tx[n], ty[n]) pixels; bilinear sampling, zeros where the source falls outside.
    Each output pixel p takes the input at R^-1 (p - centre - t) + centre."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t n, c, i, j
    cdef double cy = (H - 1) * 0.5, cx = (W - 1) * 0.5, a, ca, sa, dy, dx, sy, sx
    for n in prange(N, nogil=True, num_threads=num_threads, schedule="static"):
        a = angle[n] * M_PI / 180.0
        ca = cos(a)
        sa = sin(a)
        for i in range(H):
            for j in range(W):
                dy = i - cy - ty[n]
                dx = j - cx - tx[n]
                # inverse rotation (image y axis points down, so counter-clockwise on screen)
                sx = ca * dx - sa * dy + cx
                sy = sa * dx + ca * dy + cy
                for c in range(C):
                    out[n, c, i, j] = bilinear(x, n, c, sy, sx)


def resized_crop(const float[:, :, :, ::1] x, float[:, :, :, ::1] out, const int64_t[::1] top,
                 const int64_t[::1] left, const int64_t[::1] height, const int64_t[::1] width,
                 int num_threads):
    """Crop box (top, left, height, width)[n] of sample n, resized bilinearly to out's H x W
    (half-pixel centres, as align_corners=False)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t n, c, i, j
    cdef double sy, sx, ry, rx
    for n in prange(N, nogil=True, num_threads=num_threads, schedule="static"):
        ry = <double>height[n] / OH
        rx = <double>width[n] / OW
        for i in range(OH):
            sy = top[n] + (i + 0.5) * ry - 0.5
            if sy < top[n]:
                sy = top[n]
            if sy > top[n] + height[n] - 1:
                sy = top[n] + height[n] - 1
            for j in range(OW):
                sx = left[n] + (j + 0.5) * rx - 0.5
                if sx < left[n]:
                    sx = left[n]
                if sx > left[n] + width[n] - 1:
                    sx = left[n] + width[n] - 1
                for c in range(C):
                    out[n, c, i, j] = bilinear(x, n, c, sy, sx)


def color_jitter(const float[:, :, :, ::1] x, float[:, :, :, ::1] out,
                 const double[::1] brightness, const double[::1] contrast,
                 const double[::1] saturation, int num_threads):
    """In this order: brightness (x * b), contrast (blend with the image's mean grey level:
    c * x + (1 - c) * mean), saturation (blend with each pixel's grey value, 3 channels only).
    Grey = 0.299 R + 0.587 G + 0.114 B (ITU-R 601, as torchvision); one channel is its own grey."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t n, c, i, j
    cdef double b, k, s, mean, g, v
    for n in prange(N, nogil=True, num_threads=num_threads, schedule="static"):
        b = brightness[n]
        k = contrast[n]
        s = saturation[n]
        mean = 0
        for i in range(H):
            for j in range(W):
                if C == 3:
                    mean = mean + b * (0.299 * x[n, 0, i, j] + 0.587 * x[n, 1, i, j] + 0.114 * x[n, 2, i, j])
                else:
                    for c in range(C):
                        mean = mean + b * x[n, c, i, j] / C
        mean = mean / (H * W)
        for i in range(H):
            for j in range(W):
                for c in range(C):
                    out[n, c, i, j] = <float>(k * b * x[n, c, i, j] + (1 - k) * mean)
                if C == 3:
                    g = 0.299 * out[n, 0, i, j] + 0.587 * out[n, 1, i, j] + 0.114 * out[n, 2, i, j]
                    for c in range(3):
                        out[n, c, i, j] = <float>(s * out[n, c, i, j] + (1 - s) * g)


def add_channel_offset(const float[:, :, :, ::1] x, float[:, :, :, ::1] out,
                       const double[:, ::1] offset, int num_threads):
    """out[n, c] = x[n, c] + offset[n, c] (Krizhevsky's PCA colour shift, computed per sample)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t n, c, i, j
    for n in prange(N, nogil=True, num_threads=num_threads, schedule="static"):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    out[n, c, i, j] = <float>(x[n, c, i, j] + offset[n, c])


def gaussian_noise(const float[:, :, :, ::1] x, float[:, :, :, ::1] out, double std,
                   uint64_t seed, uint64_t offset, int num_threads):
    """out = x + std * z, z standard normal by Box-Muller from the Philox stream (seed, offset):
    element e uses uniforms number 2e and 2e+1, so each sample's noise is fixed by the seed."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t per = C * H * W
    cdef Py_ssize_t n, c, i, j
    cdef uint64_t e
    cdef double u1, u2
    for n in prange(N, nogil=True, num_threads=num_threads, schedule="static"):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    e = <uint64_t>(n * per + (c * H + i) * W + j)
                    u1 = 1.0 - uniform_f(at(seed, offset, 2 * e))  # in (0, 1]: log is finite
                    u2 = uniform_f(at(seed, offset, 2 * e + 1))
                    out[n, c, i, j] = <float>(x[n, c, i, j] + std * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2))


def cutout(const float[:, :, :, ::1] x, float[:, :, :, ::1] out, const int64_t[::1] cy,
           const int64_t[::1] cx, const unsigned char[::1] apply, int size, int num_threads):
    """Zero a size x size square centred at (cy, cx)[n] (clipped at the border) where apply[n]."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t n, c, i, j, y0, y1, x0, x1
    for n in prange(N, nogil=True, num_threads=num_threads, schedule="static"):
        y0 = cy[n] - size // 2
        x0 = cx[n] - size // 2
        y1 = y0 + size
        x1 = x0 + size
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    if apply[n] and y0 <= i < y1 and x0 <= j < x1:
                        out[n, c, i, j] = 0
                    else:
                        out[n, c, i, j] = x[n, c, i, j]
