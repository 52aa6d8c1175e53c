"""CUDA graphs, in the spirit of ``torch.cuda.CUDAGraph`` / ``torch.cuda.graph`` /
``torch.cuda.make_graphed_callables``, through CuPy's stream capture (``cupy.cuda.Graph``).

A small model's step is a few hundred short kernels, and launching them one by one costs more
than running them: captured once into a graph, the whole step is replayed with one launch.

What a replay does is exactly what was captured: the same kernels, on the same memory, with the
same scalar arguments. So

* inputs go into static buffers (copy each new batch into them) and outputs are read from the
  static tensors the captured code produced;
* a value that the host computes per call and passes to a kernel is frozen at capture: a
  learning rate changed by a scheduler, Adam's bias correction (it depends on the step count)
  unless Adam keeps its step count on the device (``capturable=True``, as torch requires for
  graphs), a dropout mask's Philox offset. ``graph_train_step`` refuses those cases instead of
  replaying wrong numbers;
* memory that the captured kernels use comes from a pool private to the graph (as torch's), so
  nothing allocated after the capture can be handed one of its blocks.

Differs from torch: ``make_graphed_callables`` graphs the forward pass only (for inference,
under ``no_grad``); a whole training step is graphed with :func:`graph_train_step`.
"""

from __future__ import annotations

import contextlib

__all__ = ["CUDAGraph", "graph", "graph_train_step", "make_graphed_callables"]


def _capture_cupy(op):
    """cupy, when CUDA is available and its streams can be captured; else a RuntimeError."""
    from . import _cupy, device_count

    cp = _cupy()
    if cp is None or device_count() == 0:
        raise RuntimeError(
            f"{op}: CUDA graphs need a CUDA GPU and CuPy, and none is available here"
        )
    if not hasattr(cp.cuda, "Stream") or not hasattr(cp.cuda.Stream, "begin_capture"):
        raise RuntimeError(f"{op}: this CuPy has no stream capture (CuPy 13 or newer has it)")
    return cp


class CUDAGraph:
    """A captured CUDA graph: ``capture_begin()``, the work, ``capture_end()``, then
    ``replay()`` any number of times. Without a GPU the constructor raises RuntimeError."""

    def __init__(self):
        cp = _capture_cupy("CUDAGraph")
        self._cp = cp
        self._stream = cp.cuda.Stream(non_blocking=True)
        self._pool = cp.cuda.MemoryPool()  # private: replays write into these blocks
        self._graph = None
        self._ctx = None

    def capture_begin(self):
        """Start capturing the work queued on this graph's stream (made current until
        ``capture_end``), with allocations served from the graph's private pool."""
        if self._ctx is not None:
            raise RuntimeError("CUDAGraph.capture_begin: a capture is already in progress")
        cp = self._cp
        ctx = contextlib.ExitStack()
        ctx.enter_context(cp.cuda.using_allocator(self._pool.malloc))
        ctx.enter_context(self._stream)
        # relaxed: the pool may call cudaMalloc while the stream is being captured
        mode = getattr(cp.cuda.runtime, "streamCaptureModeRelaxed", None)
        self._stream.begin_capture(mode) if mode is not None else self._stream.begin_capture()
        self._ctx = ctx

    def capture_end(self):
        """Finish the capture; the graph is ready to replay."""
        if self._ctx is None:
            raise RuntimeError("CUDAGraph.capture_end: capture_begin was not called")
        try:
            self._graph = self._stream.end_capture()
        finally:
            self._ctx.close()
            self._ctx = None
        self._graph.upload(self._stream)

    def replay(self):
        """Launch the captured work once more (asynchronously, on the current stream)."""
        if self._graph is None:
            raise RuntimeError("CUDAGraph.replay: nothing was captured (call capture_end first)")
        self._graph.launch(self._cp.cuda.get_current_stream())

    def reset(self):
        """Drop the graph and its private memory."""
        self._graph = None
        self._pool.free_all_blocks()


@contextlib.contextmanager
def graph(cuda_graph: CUDAGraph):
    """``with pydlk.cuda.graph(g): work`` captures ``work`` into ``g`` (torch.cuda.graph)."""
    if not isinstance(cuda_graph, CUDAGraph):
        raise TypeError(f"graph: expected a pydlk.cuda.CUDAGraph, got {type(cuda_graph).__name__}")
    cuda_graph.capture_begin()
    try:
        yield cuda_graph
    except BaseException:
        # the body's error is the one to see: CUDA then reports the capture as invalidated
        with contextlib.suppress(Exception):
            cuda_graph.capture_end()
        raise
    cuda_graph.capture_end()


def _warm_up(fn, n=3):
    """Run ``fn`` a few times first (as torch does): kernels compile and the memory pool fills,
    so the capture records kernels, not first-call set-up."""
    from . import synchronize

    for _ in range(n):
        fn()
    synchronize()


def make_graphed_callables(callables, sample_args, num_warmup_iters=3):
    """Graph each callable's forward pass on its ``sample_args`` (a tuple of CUDA Tensors with
    the shapes every later call will have). Returns callables (one, or a tuple as given) that
    copy their arguments into the static inputs, replay, and return the static outputs.

    Differs from torch: the forward only, under ``no_grad`` (inference); torch also graphs the
    backward. Arguments that require grad are refused; graph a training step with
    :func:`graph_train_step`."""
    from .._backend import on_device_of
    from ..autograd import Tensor, no_grad

    _capture_cupy("make_graphed_callables")
    single = callable(callables)
    fns = (callables,) if single else tuple(callables)
    args_sets = (sample_args,) if single else tuple(sample_args)
    if len(fns) != len(args_sets):
        raise ValueError("make_graphed_callables: one tuple of sample_args per callable")
    out = []
    for fn, args in zip(fns, args_sets):
        args = tuple(args)
        for a in args:
            if not isinstance(a, Tensor) or a.device.type != "cuda":
                raise TypeError("make_graphed_callables: sample_args must be CUDA Tensors")
            if a.requires_grad:
                raise ValueError(
                    "make_graphed_callables: graphs the forward pass only; a sample argument "
                    "requires grad (graph a training step with graph_train_step)"
                )
        static_in = tuple(a.detach().clone() for a in args)
        with no_grad():
            _warm_up(lambda fn=fn, s=static_in: fn(*s), num_warmup_iters)
            g = CUDAGraph()
            with graph(g):
                static_out = fn(*static_in)

        def replayed(*new, _g=g, _in=static_in, _out=static_out):
            for dst, src in zip(_in, new):
                dst._data[...] = on_device_of(
                    src._data if isinstance(src, Tensor) else src, dst._data
                )
            _g.replay()
            return _out

        out.append(replayed)
    return out[0] if single else tuple(out)


def _check_graphable(model, optimizer, scheduler):
    """Refuse what a replay would get wrong (a host value frozen at capture), naming it."""
    from ..optim import Adam

    why = None
    if scheduler is not None:
        why = "a learning-rate scheduler changes lr between steps"
    elif isinstance(optimizer, Adam) and not all(g["capturable"] for g in optimizer.param_groups):
        why = (
            f"{type(optimizer).__name__}'s bias correction depends on the step count (construct "
            f"it with capturable=True to keep the count on the GPU)"
        )
    elif any(grp.get("lr_decay", 0) for grp in optimizer.param_groups):
        why = "Adagrad's lr_decay depends on the step count"
    elif type(optimizer).__name__ == "LBFGS":
        why = "LBFGS decides on the host how many evaluations a step takes"
    else:
        drop = [
            type(m).__name__
            for m in model.modules()
            if m.training and ("Dropout" in type(m).__name__ or "DropConnect" in type(m).__name__)
        ]
        if drop:
            why = f"{drop[0]}'s mask offset advances on the host every call"
    if why is not None:
        raise ValueError(
            f"graph_train_step: cannot capture this step: {why}, and a replay would freeze "
            f"that value; train without cuda_graph"
        )


def graph_train_step(model, loss_fn, optimizer, x, y, scheduler=None, num_warmup_iters=3):
    """Capture one training step (zero_grad, forward, loss, backward, optimizer step) on static
    CUDA batches shaped like ``x``/``y``. Returns ``step(x, y) -> loss Tensor``: it copies the
    batch into the static inputs and replays; the returned loss tensor (and ``step.output``, the
    model's output) are the static ones: read them before the next call. The warm-up steps are
    real training steps on ``x``/``y`` (``step.warm`` holds the last one's output and loss; the
    capture itself runs nothing). Without a GPU this raises RuntimeError."""
    from .._backend import on_device_of
    from ..autograd import Tensor

    _capture_cupy("graph_train_step")
    _check_graphable(model, optimizer, scheduler)
    sx = x._data.copy() if isinstance(x, Tensor) else x.copy()
    sy = y._data.copy() if isinstance(y, Tensor) else y.copy()

    outs = []

    def one_step():
        optimizer.zero_grad(set_to_none=False)  # a memset: the slots stay bound
        out = model(Tensor(sx))
        loss = loss_fn(out, Tensor(sy))
        loss.backward()
        optimizer.step()
        outs[:] = [out.detach(), loss.detach()]

    _warm_up(one_step, num_warmup_iters)
    warm = list(outs)  # the last warm-up step's (output, loss): capturing runs nothing
    g = CUDAGraph()
    with graph(g):
        one_step()
    static_out, static_loss = outs

    def step(bx, by):  # batches from anywhere (a host batch is copied in, as torch's copy_)
        sx[...] = on_device_of(bx._data if isinstance(bx, Tensor) else bx, sx)
        sy[...] = on_device_of(by._data if isinstance(by, Tensor) else by, sy)
        g.replay()
        return static_loss

    step.graph, step.output, step.warm = g, static_out, warm
    return step
