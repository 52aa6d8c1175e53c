"""2-D convolution on the GPU (stride, padding, dilation, groups including depthwise, bias):
forward, input gradient and weight gradient, with ``pydlk._C``'s names, checks and returns.

Two paths:

* ``'cudnn'``: NVIDIA's cuDNN through its Python frontend (``import cudnn``, the
  ``nvidia-cudnn-frontend`` package), when it imports: one graph per (shape, dtype, op) built
  once (conv_fprop / conv_dgrad / conv_wgrad) and cached, run with a workspace of at least one
  byte. Any error while building or running a graph switches that call, and every later call of
  the same configuration, to im2col.
* ``'im2col'``: an im2col kernel, then per group a batched GEMM on cuBLAS (``cupy.matmul``);
  the input gradient is the GEMM W^T dy followed by a col2im *gather* (each input element sums
  the columns that read it: deterministic, no atomics); the weight gradient is dy cols^T summed
  over the batch. The batch is processed in chunks so the column buffer stays under
  ``COLS_BYTES``.

``conv2d_backend()`` says which path the last call took ('cudnn' or 'im2col'); the
``algorithm`` argument of the CPU kernels ('auto', 'gemm', 'direct', 'winograd') is accepted and
checked the same way, and does not change the GPU path (cuDNN picks its own algorithm, Winograd
among them).
"""

import numpy as np

from ._common import Source, check_float, check_like, i64, int_pair, launch

COLS_BYTES = 256 << 20

_CODE = r"""
// cols (Nc, C*R*S, OH*OW) from x (Nc, C, H, W): row c*R*S + r*S + s, column oh*OW + ow.
extern "C" __global__ void im2col(T* cols, const T* x, i64 C, i64 H, i64 W, i64 R, i64 S,
                                  i64 OH, i64 OW, int sh, int sw, int ph, int pw, int dh, int dw,
                                  i64 n) {
  GRID_STRIDE(t, n) {
    const i64 ow = t % OW, oh = (t / OW) % OH, s = (t / (OW * OH)) % S, r = (t / (OW * OH * S)) % R;
    const i64 c = (t / (OW * OH * S * R)) % C, b = t / (OW * OH * S * R * C);
    const i64 ih = oh * sh - ph + r * dh, iw = ow * sw - pw + s * dw;
    cols[t] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[((b * C + c) * H + ih) * W + iw] : (T)0;
  }
}

// dx (Nc, C, H, W) = col2im(dcols): each input element sums the columns that read it.
extern "C" __global__ void col2im(T* dx, const T* dcols, i64 C, i64 H, i64 W, i64 R, i64 S,
                                  i64 OH, i64 OW, int sh, int sw, int ph, int pw, int dh, int dw,
                                  i64 n) {
  GRID_STRIDE(t, n) {
    const i64 iw = t % W, ih = (t / W) % H, c = (t / (W * H)) % C, b = t / (W * H * C);
    const T* base = dcols + (b * C + c) * R * S * OH * OW;
    T acc = (T)0;
    for (i64 r = 0; r < R; ++r) {
      const i64 hh = ih + ph - r * dh;
      if (hh < 0 || hh % sh) continue;
      const i64 oh = hh / sh;
      if (oh >= OH) continue;
      for (i64 s = 0; s < S; ++s) {
        const i64 ww = iw + pw - s * dw;
        if (ww < 0 || ww % sw) continue;
        const i64 ow = ww / sw;
        if (ow >= OW) continue;
        acc += base[((r * S + s) * OH + oh) * OW + ow];
      }
    }
    dx[t] = acc;
  }
}
"""

_SRC = Source("conv2d", _CODE, ("im2col", "col2im"))

_state = {"backend": None, "cudnn": None, "graphs": {}, "failed": set(), "handles": {}}


def conv2d_backend():
    """'cudnn' or 'im2col': the path the last conv2d call on the GPU took (None before any)."""
    return _state["backend"]


def _cudnn():
    """The cudnn frontend module, or None when it does not import or
    ``pydlk.backends.cudnn.enabled`` is False."""
    from ..backends import cudnn as switches

    if not switches.enabled:
        return None
    if _state["cudnn"] is None:
        try:
            import cudnn

            _state["cudnn"] = cudnn
        except Exception:  # not installed, or no matching cuDNN library
            _state["cudnn"] = False
    return _state["cudnn"] or None


def _out_size(n, p, d, k, s):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _check(x, w, stride, padding, dilation, groups, op):
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D, got shape {tuple(x.shape)}")
    w = check_like(w, x.dtype, op, "weight")
    if w.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D, got shape {tuple(w.shape)}")
    st = int_pair(stride, op, "stride")
    pd = int_pair(padding, op, "padding")
    dl = int_pair(dilation, op, "dilation")
    if isinstance(groups, bool) or int(groups) < 1:
        raise ValueError(f"{op}: groups must be positive, got {groups}")
    G = int(groups)
    if min(st) < 1:
        raise ValueError(f"{op}: stride must be positive, got {st}")
    if min(dl) < 1:
        raise ValueError(f"{op}: dilation must be positive, got {dl}")
    if min(pd) < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {pd}")
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    if R < 1 or S < 1:
        raise ValueError(
            f"{op}: weight must have a kernel of at least 1x1, got shape {tuple(w.shape)}"
        )
    if C < 1:
        raise ValueError(f"{op}: input must have at least 1 channel, got shape {tuple(x.shape)}")
    if C % G:
        raise ValueError(f"{op}: input has {C} channels, not divisible by groups={G}")
    if K % G:
        raise ValueError(f"{op}: weight has {K} output channels, not divisible by groups={G}")
    if Cg != C // G:
        raise ValueError(
            f"{op}: input has {C} channels, weight expects {Cg * G} (groups={G}, "
            f"weight is (out_channels, in_channels/groups, kH, kW) = "
            f"{tuple(w.shape)})"
        )
    eh, ew = H + 2 * pd[0] - dl[0] * (R - 1), W + 2 * pd[1] - dl[1] * (S - 1)
    if eh < 1 or ew < 1:
        raise ValueError(
            f"{op}: input of size {H}x{W} with padding {pd} is smaller than the "
            f"dilated kernel {dl[0] * (R - 1) + 1}x{dl[1] * (S - 1) + 1}"
        )
    OH, OW = _out_size(H, pd[0], dl[0], R, st[0]), _out_size(W, pd[1], dl[1], S, st[1])
    return w, st, pd, dl, G, (N, C, H, W, K, R, S, OH, OW)


def _check_algorithm(algorithm, Cg, op, shape=None):
    if algorithm not in ("auto", "gemm", "direct", "winograd"):
        raise ValueError(
            f"{op}: algorithm must be 'auto', 'gemm', 'direct' or 'winograd', got '{algorithm}'"
        )
    if algorithm == "direct" and Cg != 1:
        raise ValueError(
            f"{op}: algorithm='direct' needs one input channel per group (C/groups == 1), got {Cg}"
        )
    if algorithm == "winograd" and shape is not None:
        (R, S), st, dl, G = shape
        if (R, S) != (3, 3) or st != (1, 1) or dl != (1, 1) or G != 1:
            raise ValueError(
                f"{op}: algorithm='winograd' needs a 3x3 kernel, stride 1, dilation 1 and "
                f"groups=1, got a {R}x{S} kernel, stride {tuple(st)}, dilation {tuple(dl)}, "
                f"groups={G}"
            )


# ------------------------------------------------------------------------------------ cuDNN


def _handle(cudnn, device):
    """The cuDNN handle of a device (one per device, as a handle is bound to the device that
    was current when it was made)."""
    h = _state["handles"].get(device)
    if h is None:
        h = _state["handles"][device] = cudnn.create_handle()
    return h


def _cudnn_key(kind, x_shape, w_shape, dtype, st, pd, dl):
    device = __import__("cupy").cuda.Device().id
    return (device, kind, x_shape, w_shape, np.dtype(dtype).str, st, pd, dl)


def _cudnn_graph(kind, x_shape, w_shape, y_shape, dtype, st, pd, dl):
    """A built cudnn frontend graph for one configuration on the current device (cached), or
    None."""
    key = _cudnn_key(kind, x_shape, w_shape, dtype, st, pd, dl)
    if key in _state["failed"]:
        return None
    g = _state["graphs"].get(key)
    if g is not None:
        return g
    cudnn = _cudnn()
    if cudnn is None:
        return None
    try:
        dt = cudnn.data_type.FLOAT if np.dtype(dtype) == np.float32 else cudnn.data_type.DOUBLE
        graph = cudnn.pygraph(
            io_data_type=dt,
            intermediate_data_type=dt,
            compute_data_type=dt,
            handle=_handle(cudnn, key[0]),
        )

        def strides(shape):
            out, acc = [], 1
            for s in reversed(shape):
                out.append(acc)
                acc *= s
            return list(reversed(out))

        conv = dict(padding=list(pd), stride=list(st), dilation=list(dl), compute_data_type=dt)

        def tensor(name, shape):
            return graph.tensor(name=name, dim=list(shape), stride=strides(shape), data_type=dt)

        # only the two inputs of this graph (an unused tensor can fail validation)
        X = tensor("X", x_shape) if kind != "dgrad" else None
        Wt = tensor("W", w_shape) if kind != "wgrad" else None
        DY = tensor("DY", y_shape) if kind != "fprop" else None
        if kind == "fprop":
            out = graph.conv_fprop(image=X, weight=Wt, **conv)
            out.set_output(True).set_dim(list(y_shape)).set_stride(strides(y_shape))
            tensors = (X, Wt, out)
        elif kind == "dgrad":
            out = graph.conv_dgrad(loss=DY, filter=Wt, **conv)
            out.set_output(True).set_dim(list(x_shape)).set_stride(strides(x_shape))
            tensors = (DY, Wt, out)
        else:
            out = graph.conv_wgrad(image=X, loss=DY, **conv)
            out.set_output(True).set_dim(list(w_shape)).set_stride(strides(w_shape))
            tensors = (X, DY, out)
        out.set_data_type(dt)
        graph.validate()
        graph.build_operation_graph()
        graph.create_execution_plans([cudnn.heur_mode.A, cudnn.heur_mode.FALLBACK])
        graph.check_support()
        graph.build_plans()
        ws = max(1, int(graph.get_workspace_size()))
        g = (graph, tensors, ws)
        _state["graphs"][key] = g
        return g
    except Exception:  # unsupported configuration or a cudnn/frontend mismatch: im2col instead
        _state["failed"].add(key)
        return None


def _cudnn_run(kind, a, b, out, x_shape, w_shape, y_shape, st, pd, dl):
    """Runs one cudnn graph into out; False (and the configuration marked) when it cannot.

    cuDNN launches on its handle's stream, so that is set to CuPy's current stream before
    every call: otherwise the convolution would run on the legacy stream, unordered with a
    non-blocking stream's work and missing from a graph captured on one. The buffers go as raw
    device pointers (a DLPack export would order the legacy stream instead); the workspace
    comes from CuPy's pool, which reuses it in the current stream's order."""
    g = _cudnn_graph(kind, x_shape, w_shape, y_shape, out.dtype, st, pd, dl)
    if g is None:
        return False
    cp = __import__("cupy")
    cudnn = _cudnn()
    graph, (ta, tb, tout), ws = g
    key = _cudnn_key(kind, x_shape, w_shape, out.dtype, st, pd, dl)
    try:
        handle = _handle(cudnn, key[0])
        cudnn.set_stream(handle=handle, stream=cp.cuda.get_current_stream().ptr)
        workspace = cp.empty(ws, dtype=cp.uint8)
        graph.execute(
            {ta: a.data.ptr, tb: b.data.ptr, tout: out.data.ptr},
            workspace.data.ptr,
            handle=handle,
        )
        return True
    except Exception:
        _state["failed"].add(key)
        _state["graphs"].pop(key, None)
        return False


# ----------------------------------------------------------------------------------- im2col


def _chunk(N, per_sample_elems, itemsize):
    return max(1, min(N, COLS_BYTES // max(1, per_sample_elems * itemsize)))


def _geom_args(dims, st, pd, dl):
    N, C, H, W, K, R, S, OH, OW = dims
    return (
        i64(C),
        i64(H),
        i64(W),
        i64(R),
        i64(S),
        i64(OH),
        i64(OW),
        *(np.int32(v) for v in (*st, *pd, *dl)),
    )


def _im2col(xc, dims, st, pd, dl):
    cp = __import__("cupy")
    N, C, H, W, K, R, S, OH, OW = dims
    nb = xc.shape[0]
    cols = cp.empty((nb, C * R * S, OH * OW), xc.dtype)
    launch(
        _SRC("im2col", xc.dtype),
        cols.size,
        (cols, xc, *_geom_args(dims, st, pd, dl), i64(cols.size)),
    )
    return cols


def _fprop_im2col(x, w, dims, st, pd, dl, G):
    cp = __import__("cupy")
    N, C, H, W, K, R, S, OH, OW = dims
    Kg, CgRS = K // G, (C // G) * R * S
    y = cp.empty((N, K, OH, OW), x.dtype)
    wg = w.reshape(1, G, Kg, CgRS)
    step = _chunk(N, C * R * S * OH * OW, x.dtype.itemsize)
    for n0 in range(0, N, step):
        xc = x[n0 : n0 + step]
        cols = _im2col(xc, dims, st, pd, dl).reshape(xc.shape[0], G, CgRS, OH * OW)
        y[n0 : n0 + step] = cp.matmul(wg, cols).reshape(xc.shape[0], K, OH, OW)
    return y


def _dgrad_im2col(dy, w, dims, st, pd, dl, G):
    cp = __import__("cupy")
    N, C, H, W, K, R, S, OH, OW = dims
    Kg, CgRS = K // G, (C // G) * R * S
    dx = cp.empty((N, C, H, W), dy.dtype)
    wt = w.reshape(1, G, Kg, CgRS).transpose(0, 1, 3, 2)
    step = _chunk(N, C * R * S * OH * OW, dy.dtype.itemsize)
    for n0 in range(0, N, step):
        g = dy[n0 : n0 + step]
        nb = g.shape[0]
        dcols = cp.ascontiguousarray(cp.matmul(wt, g.reshape(nb, G, Kg, OH * OW)))
        out = dx[n0 : n0 + step]
        launch(
            _SRC("col2im", dy.dtype),
            out.size,
            (out, dcols, *_geom_args(dims, st, pd, dl), i64(out.size)),
        )
    return dx


def _wgrad_im2col(dy, x, dims, st, pd, dl, G):
    cp = __import__("cupy")
    N, C, H, W, K, R, S, OH, OW = dims
    Kg, CgRS = K // G, (C // G) * R * S
    dw = cp.zeros((G, Kg, CgRS), dy.dtype)
    step = _chunk(N, C * R * S * OH * OW, dy.dtype.itemsize)
    for n0 in range(0, N, step):
        xc = x[n0 : n0 + step]
        nb = xc.shape[0]
        cols = _im2col(xc, dims, st, pd, dl).reshape(nb, G, CgRS, OH * OW)
        g = dy[n0 : n0 + step].reshape(nb, G, Kg, OH * OW)
        # (G, Kg, nb*OHW) @ (G, nb*OHW, CgRS): the batch folded into the GEMM's inner dimension
        gt = g.transpose(1, 2, 0, 3).reshape(G, Kg, nb * OH * OW)
        ct = cols.transpose(1, 0, 3, 2).reshape(G, nb * OH * OW, CgRS)
        dw += cp.matmul(gt, ct)
    return dw.reshape(K, C // G, R, S)


# ------------------------------------------------------------------------------------ public


def conv2d_forward(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto"
):
    """2-D convolution: input (N, C, H, W), weight (K, C/groups, kH, kW), bias (K) or None.
    Returns (N, K, OH, OW). Runs on cuDNN when its frontend imports and supports the
    configuration, else im2col + cuBLAS; ``conv2d_backend()`` tells which ran."""
    op = "conv2d"
    x = check_float(input, op, "input")
    w, st, pd, dl, G, dims = _check(x, weight, stride, padding, dilation, groups, op)
    N, C, H, W, K, R, S, OH, OW = dims
    b = None if bias is None else check_like(bias, x.dtype, op, "bias", (K,))
    _check_algorithm(algorithm, C // G, op, ((R, S), st, dl, G))
    y = __import__("cupy").empty((N, K, OH, OW), x.dtype)
    if N and _cudnn_run("fprop", x, w, y, x.shape, w.shape, y.shape, st, pd, dl):
        _state["backend"] = "cudnn"
    else:
        _state["backend"] = "im2col"
        y = _fprop_im2col(x, w, dims, st, pd, dl, G) if N else y
    if b is not None:
        y += b.reshape(1, K, 1, 1)
    return y


def conv2d_backward(
    grad_output,
    input,
    weight,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    need_input=True,
    need_weight=True,
    need_bias=True,
    algorithm="auto",
):
    """(grad_input, grad_weight, grad_bias); None where not asked for. cuDNN's dgrad/wgrad when
    available (``conv2d_backend()``), else im2col + cuBLAS with a col2im gather."""
    cp = __import__("cupy")
    op = "conv2d_backward"
    x = check_float(input, op, "input")
    w, st, pd, dl, G, dims = _check(x, weight, stride, padding, dilation, groups, op)
    N, C, H, W, K, R, S, OH, OW = dims
    dy = check_like(grad_output, x.dtype, op, "grad_output", (N, K, OH, OW))
    _check_algorithm(algorithm, C // G, op, ((R, S), st, dl, G))
    dx = dw = db = None
    backend = "cudnn"
    if need_input:
        dx = cp.empty(x.shape, x.dtype)
        if N == 0:
            pass
        elif not _cudnn_run("dgrad", dy, w, dx, x.shape, w.shape, dy.shape, st, pd, dl):
            backend = "im2col"
            dx = _dgrad_im2col(dy, w, dims, st, pd, dl, G)
    if need_weight:
        dw = cp.empty(w.shape, x.dtype)
        if N == 0:
            dw.fill(0)
        elif not _cudnn_run("wgrad", x, dy, dw, x.shape, w.shape, dy.shape, st, pd, dl):
            backend = "im2col"
            dw = _wgrad_im2col(dy, x, dims, st, pd, dl, G)
    if need_bias:
        db = dy.astype(cp.float64).sum(axis=(0, 2, 3)).astype(x.dtype)
    _state["backend"] = backend if (need_input or need_weight) else _state["backend"]
    return dx, dw, db
