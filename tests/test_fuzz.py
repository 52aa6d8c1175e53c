"""Property-based fuzzing of the compiled bindings (pydlk._C) and of the functional ops.

Every public function of ``pydlk._C`` has an entry in ``FUZZ`` (a test fails when one is
missing) that draws a plausible call: random shapes with 0-sized dimensions, float32/float64
and sometimes float16/int64/bool arrays, Fortran-ordered, reversed (negative strides),
strided-slice or read-only layouts. Then, in most examples, one argument is replaced by
something wrong: a list, an object with ``__array__``, None, True, a string, a float, a tuple,
an int out of range (negative, 0, 2**31, 2**63, -2**63) or an array of another rank or dtype.

The calls run in a long-lived child interpreter fed by a pipe (restarted when it dies), so a
segfault or an abort fails the test, printing the call, instead of killing pytest. Accepted
outcomes: a normal return, or ValueError/TypeError whose message names the op family (for
``conv2d_backward`` the message must mention ``conv2d``). Anything else fails: another
exception type (pydlk's old RuntimeError "Unable to cast", IndexError, SystemError,
MemoryError), a death by signal, or a call running longer than 10 s.

``test_functional_layouts`` calls the public functional ops (conv2d, pools, norms, linear,
losses, activations, softmax, dropout) with odd layouts and compares against the same call
on contiguous copies.

Budget: the default profile runs a few examples per function (about a minute on 2 cores),
derandomized so CI is reproducible. For a long profile set ``PYDLK_FUZZ_EXAMPLES=N``
(examples per function, e.g. 2000) and, to explore new inputs, ``PYDLK_FUZZ_RANDOM=1``;
``PYDLK_FUZZ_REPORT=path`` keeps the call counts in a file as the run goes.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import textwrap

import pytest
from conftest import child_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pydlk import _C

EXAMPLES = int(os.environ.get("PYDLK_FUZZ_EXAMPLES", "20"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("PYDLK_FUZZ_RANDOM", "0") != "1",
    suppress_health_check=list(HealthCheck),
    database=None,
)
CALL_TIMEOUT = 10.0

# ---------------------------------------------------------------------------------------------
# The child: materialises argument specs (picklable tuples) into arrays and runs the call.
WORKER = textwrap.dedent(r"""
import pickle, struct, sys, traceback
import numpy as np
from pydlk import _C

class ArrayLike:
    def __init__(self, a): self._a = a
    def __array__(self, dtype=None, copy=None):
        out = np.array(self._a, copy=True)
        return out if dtype is None else out.astype(dtype)

class Skip(Exception):
    pass

def layout(a, how):
    if how == "f":
        return np.asfortranarray(a)
    if how == "neg" and a.ndim:
        b = np.ascontiguousarray(a[tuple(slice(None, None, -1) for _ in a.shape)])
        return b[tuple(slice(None, None, -1) for _ in a.shape)]
    if how == "slice" and a.ndim:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if how == "ro":
        a = a.copy()
        a.setflags(write=False)
    return a

def fill(shape, dtype, how, seed):
    rng = np.random.default_rng(seed)
    if how == "randn":
        a = rng.standard_normal(shape)
    elif how == "pos":
        a = rng.uniform(0.5, 2.0, shape)
    elif how == "zeros":
        a = np.zeros(shape)
    else:  # ("int", lo, hi)
        a = rng.integers(how[1], max(how[2], how[1] + 1), shape)
    return a.astype(dtype)

def make(s):
    kind = s[0]
    if kind == "py":
        return s[1]
    if kind == "arr":
        _, shape, dtype, lay, how, seed = s
        return layout(fill(shape, dtype, how, seed), lay)
    if kind == "list":
        return np.asarray(make(s[1])).tolist()
    if kind == "alike":
        return ArrayLike(np.asarray(make(s[1])))
    if kind == "fwd":  # an output of another call, e.g. saved statistics for a backward
        _, fname, args, kwargs, index, lay = s
        try:
            kw = {k: make(v) for k, v in kwargs.items()}
            out = getattr(_C, fname)(*[make(a) for a in args], **kw)
        except (ValueError, TypeError):
            raise Skip()
        out = out[index] if index is not None else out
        if out is None:
            return None
        return layout(np.asarray(out), lay)
    raise AssertionError(kind)

def run_c(msg):
    _, fname, args, kwargs = msg
    try:
        a = [make(x) for x in args]
        kw = {k: make(v) for k, v in kwargs.items()}
    except Skip:
        return ("skip",)
    getattr(_C, fname)(*a, **kw)
    return ("ok",)

def as_np(y):
    if isinstance(y, tuple):
        return [as_np(v) for v in y]
    return np.asarray(getattr(y, "data", y), dtype=np.float64)

def run_f(msg):
    # A functional op with the given layouts against the same call on contiguous copies.
    import pydlk, pydlk.functional as F
    _, fname, args, kwargs = msg
    a = [make(x) for x in args]
    kw = {k: make(v) for k, v in kwargs.items()}
    c = [np.ascontiguousarray(x) if isinstance(x, np.ndarray) else x for x in a]
    f = getattr(F, fname)
    pydlk.manual_seed(0)
    y = as_np(f(*a, **kw))
    pydlk.manual_seed(0)
    ref = as_np(f(*c, **kw))
    ys, refs = (y if isinstance(y, list) else [y]), (ref if isinstance(ref, list) else [ref])
    ok = all(np.allclose(u, v, rtol=1e-5, atol=1e-5, equal_nan=True) and u.shape == v.shape
             for u, v in zip(ys, refs))
    return ("ok",) if ok else ("mismatch", repr((y, ref))[:2000])

inp, out = sys.stdin.buffer, sys.stdout.buffer
while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    msg = pickle.loads(inp.read(struct.unpack("<I", head)[0]))
    try:
        res = run_c(msg) if msg[0] == "c" else run_f(msg)
    except BaseException as e:
        res = ("exc", type(e).__name__, str(e)[:2000], traceback.format_exc()[-3000:])
    data = pickle.dumps(res)
    out.write(struct.pack("<I", len(data)) + data)
    out.flush()
""")


class Worker:
    """The long-lived child interpreter; restarted after a death or a hang."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.calls = {"c": 0, "f": 0}  # _C calls, functional calls
        self.restarts = 0

    def _start(self) -> None:
        env = child_env(OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=os.path.dirname(os.__file__),
        )
        self.restarts += 1

    def _read(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            ready, _, _ = select.select([self.proc.stdout], [], [], CALL_TIMEOUT)
            if not ready:
                raise TimeoutError
            chunk = os.read(self.proc.stdout.fileno(), n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def call(self, msg: tuple) -> tuple:
        if self.proc is not None and self.proc.poll() is not None:
            self._reap()
        if self.proc is None:
            self._start()
        data = pickle.dumps(msg)
        self.calls[msg[0]] += 1
        if sum(self.calls.values()) % 100 == 0:
            self.report()
        try:
            self.proc.stdin.write(struct.pack("<I", len(data)) + data)
            self.proc.stdin.flush()
            n = struct.unpack("<I", self._read(4))[0]
            return pickle.loads(self._read(n))
        except TimeoutError:
            self.close()
            return ("hang",)
        except (EOFError, BrokenPipeError):
            return ("died", self._reap())

    def _reap(self) -> int:
        rc = self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.proc = None
        return rc

    def report(self) -> None:
        """With PYDLK_FUZZ_REPORT=path, the counts so far go to that file (a long run that is
        cut short still has its figures)."""
        path = os.environ.get("PYDLK_FUZZ_REPORT")
        if path:
            with open(path, "w") as f:
                f.write(f"{self.calls['c']} _C calls, {self.calls['f']} functional calls, ")
                f.write(f"{self.restarts} worker starts\n")

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self._reap()


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()
    w.report()
    sys.stderr.write(
        f"\ntest_fuzz: {w.calls['c']} _C calls, {w.calls['f']} functional calls, "
        f"{w.restarts} worker starts\n"
    )


# ---------------------------------------------------------------------------------------------
# Drawing calls.
FLOATS = ["float32", "float64"]
ODD_DTYPES = ["float16", "int64", "bool"]
LAYOUTS = ["c", "c", "c", "f", "neg", "slice", "ro"]
BAD_INTS = [-1, 0, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63), 2**64]
NON_ARRAYS = [None, True, "x", 1.5, (1, 2), (), [1, 2], (2**63, 1), float("nan")]


def P(v):
    return ("py", v)


class D:
    """Draw helper for one example: a per-call float dtype, array specs, small ints."""

    def __init__(self, data) -> None:
        self.data = data
        self.dt = data.draw(st.sampled_from(FLOATS * 3 + ODD_DTYPES))
        self.seed = 0

    def n(self, lo: int = 0, hi: int = 4) -> int:
        return self.data.draw(st.integers(lo, hi))

    def b(self) -> bool:
        return self.data.draw(st.booleans())

    def f(self, lo: float = 0.0, hi: float = 1.0) -> float:
        return self.data.draw(st.floats(lo, hi))

    def pick(self, xs):
        return self.data.draw(st.sampled_from(xs))

    def A(self, shape, how="randn", dtype=None, layouts=LAYOUTS):
        self.seed += 1
        return ("arr", tuple(shape), dtype or self.dt, self.pick(layouts), how, self.seed)

    def ints(self, shape, hi):
        return self.A(shape, ("int", 0, hi), "int64")

    def opt(self, spec):
        return spec if self.b() else P(None)

    def shape(self, lo_rank=1, hi_rank=4):
        return tuple(self.n(0, 4) for _ in range(self.n(lo_rank, hi_rank)))

    def weird(self, orig):
        kind = self.n(0, 3)
        if kind == 0:
            return P(self.pick(NON_ARRAYS))
        if kind == 1:
            return P(self.pick(BAD_INTS) * self.pick([1, -1]))
        if kind == 2 and orig[0] == "arr":
            return self.pick([("list", orig), ("alike", orig)])
        return self.A(self.shape(0, 5), dtype=self.pick(FLOATS + ODD_DTYPES))


def fwd(fname, args, kwargs=None, index=None, lay="c"):
    return ("fwd", fname, list(args), kwargs or {}, index, lay)


def _out_size(H, k, s, p, d=1):
    return max((H + 2 * p - d * (k - 1) - 1) // s + 1, 0)


def unary(fname, *extra):
    def build(d):
        return [d.A(d.shape(0, 4))] + [P(e(d)) for e in extra], {}

    return build


def binary(fname, *extra, saved="randn"):
    def build(d):
        sh = d.shape(0, 4)
        return [d.A(sh), d.A(sh, saved)] + [P(e(d)) for e in extra], {}

    return build


def fl(d):
    return d.f(-2.0, 2.0)


def conv(d, backward):
    N, G = d.n(0, 2), d.n(1, 2)
    C, K = G * d.n(0, 2), G * d.n(1, 3)
    H, W, R, S = d.n(0, 6), d.n(0, 6), d.n(1, 3), d.n(1, 3)
    st_, pd, dl = d.n(1, 3), d.n(0, 2), d.n(1, 2)
    x, w = d.A((N, C, H, W)), d.A((K, C // G, R, S))
    algo = P(d.pick(["auto", "auto", "gemm", "direct", "winograd"]))
    if not backward:
        return [x, w, d.opt(d.A((K,))), P(st_), P(pd), P(dl), P(G), algo], {}
    dy = d.A((N, K, _out_size(H, R, st_, pd, dl), _out_size(W, S, st_, pd, dl)))
    return [dy, x, w, P(st_), P(pd), P(dl), P(G), P(d.b()), P(d.b()), P(d.b()), algo], {}


def maxpool(d, backward):
    N, C, H, W = d.n(0, 2), d.n(0, 3), d.n(0, 6), d.n(0, 6)
    k, s, p, dl, ceil = d.n(1, 3), d.n(1, 3), d.n(0, 1), d.n(1, 2), d.b()
    x = d.A((N, C, H, W))
    if not backward:
        return [x, P(k), P(s), P(p), P(dl), P(ceil), P(d.b())], {}
    fargs = [("arr", (N, C, H, W), "float64", "c", "randn", 1), P(k), P(s), P(p), P(dl), P(ceil)]
    g = fwd("max_pool2d_forward", fargs, index=0, lay=d.pick(LAYOUTS))
    idx = fwd("max_pool2d_forward", fargs, index=1, lay=d.pick(LAYOUTS))
    return [g, idx, P((H, W)), P(k), P(s), P(p), P(dl), P(ceil)], {}


def avgpool(d, backward):
    N, C, H, W = d.n(0, 2), d.n(0, 3), d.n(0, 6), d.n(0, 6)
    k, s, p, ceil = d.n(1, 3), d.n(1, 3), d.n(0, 1), d.b()
    cip, div = d.b(), d.pick([None, None, 1, 3])
    if not backward:
        return [d.A((N, C, H, W)), P(k), P(s), P(p), P(ceil), P(cip), P(div)], {}
    g = d.A((N, C, _out_size(H, k, s, p), _out_size(W, k, s, p)))
    return [g, P((H, W)), P(k), P(s), P(p), P(ceil), P(cip), P(div)], {}


def adaptive(d, kind, backward):
    N, C, H, W = d.n(0, 2), d.n(0, 3), d.n(0, 6), d.n(0, 6)
    os_ = d.pick([d.n(1, 4), (d.n(1, 4), d.n(1, 4))])
    x = d.A((N, C, H, W))
    if not backward:
        return [x, P(os_)] + ([P(d.b())] if kind == "max" else []), {}
    oh, ow = (os_, os_) if isinstance(os_, int) else os_
    if kind == "avg":
        return [d.A((N, C, oh, ow)), P((H, W))], {}
    fargs = [("arr", (N, C, H, W), "float64", "c", "randn", 1), P(os_)]
    return [
        d.A((N, C, oh, ow)),
        fwd("adaptive_max_pool2d_forward", fargs, index=1, lay=d.pick(LAYOUTS)),
        P((H, W)),
    ], {}


def nchw(d, lo=2, hi=4):
    return (d.n(0, 3), d.n(0, 4)) + tuple(d.n(0, 4) for _ in range(d.n(lo, hi) - 2))


def batchnorm(d, backward, sh=None):
    sh = sh or nchw(d)
    C = sh[1]
    if not backward:
        return [
            d.A(sh),
            d.opt(d.A((C,))),
            d.opt(d.A((C,))),
            d.opt(d.A((C,))),
            d.opt(d.A((C,), "pos")),
            P(d.b()),
            P(d.f()),
            P(1e-5),
        ], {}
    return [
        d.A(sh),
        d.A(sh),
        d.opt(d.A((C,))),
        d.A((C,)),
        d.A((C,), "pos"),
        P(d.b()),
        P(d.b()),
        P(d.b()),
        P(d.b()),
    ], {}


def batchnorm_add_relu(d, backward):
    # batchnorm's arguments with the residual (forward), or the output and need_residual
    # (backward), added
    args, kw = batchnorm(d, backward)
    sh = args[0][1]
    if not backward:
        args.insert(1, d.opt(d.A(sh)))
    else:
        args.insert(1, d.A(sh))
        args.append(P(d.b()))
    return args, kw


def batchnorm_relu_maxpool2d(d, backward):
    # batchnorm's arguments on (N, C, H, W), H and W from 0 (the error) up; the backward's
    # grad_output and arg-max bytes (any byte: only the low two bits are read) pooled, and the
    # bias after the weight
    N, C, H, W = d.n(0, 3), d.n(0, 4), d.n(0, 5), d.n(0, 5)
    args, kw = batchnorm(d, backward, (N, C, H, W))
    if backward:
        ps = (N, C, H // 2, W // 2)
        args[0] = d.A(ps)
        args.insert(1, d.A(ps, ("int", 0, 256), "uint8"))
        args.insert(4, d.opt(d.A((C,))))
    return args, kw


def layernorm(d, backward):
    M, Dm = d.n(0, 4), d.n(0, 5)
    if not backward:
        return [d.A((M, Dm)), d.opt(d.A((Dm,))), d.opt(d.A((Dm,))), P(1e-5)], {}
    return [
        d.A((M, Dm)),
        d.A((M, Dm)),
        d.opt(d.A((Dm,))),
        d.A((M,)),
        d.A((M,), "pos"),
        P(d.b()),
        P(d.b()),
        P(d.b()),
    ], {}


def groupnorm(d, backward):
    G = d.n(1, 3)
    sh = (d.n(0, 3), G * d.n(0, 2)) + tuple(d.n(0, 4) for _ in range(d.n(0, 2)))
    N, C = sh[0], sh[1]
    if not backward:
        return [d.A(sh), P(G), d.opt(d.A((C,))), d.opt(d.A((C,))), P(1e-5)], {}
    return [
        d.A(sh),
        d.A(sh),
        P(G),
        d.opt(d.A((C,))),
        d.A((N, G)),
        d.A((N, G), "pos"),
        P(d.b()),
        P(d.b()),
        P(d.b()),
    ], {}


def instancenorm(d):
    sh = nchw(d, 3, 4)
    C = sh[1]
    return [
        d.A(sh),
        d.opt(d.A((C,))),
        d.opt(d.A((C,))),
        d.opt(d.A((C,))),
        d.opt(d.A((C,), "pos")),
        P(d.f()),
        P(1e-5),
    ], {}


def loss(d, which, backward):
    N, C = d.n(0, 4), d.n(1, 5)
    x, t = d.A((N, C)), d.ints((N,), C)
    w = d.opt(d.A((C,), "pos"))
    go = [d.opt(d.A((N,))), P(d.f())]
    if which == "ce":
        ii, ls = P(d.pick([-100, 0, 1])), P(d.f(0.0, 0.5))
        if not backward:
            return [x, t, w, ii, ls], {}
        lse = fwd(
            "cross_entropy_forward",
            [
                ("arr", (N, C), "float64", "c", "randn", 1),
                ("arr", (N,), "int64", "c", ("int", 0, C), 2),
            ],
            index=1,
        )
        return go + [x, d.A((N,)) if d.b() else lse, t, w, ii, ls], {}
    if which == "nll":
        ii = P(d.pick([-100, 0, 1]))
        return (go if backward else []) + [x, t, w, ii], {}
    p, m = P(d.pick([1, 2])), P(d.f(0.0, 2.0))
    return (go if backward else []) + [x, t, p, m, w], {}


def rnn(d, backward):
    mode = d.n(0, 3)
    G = {0: 1, 1: 1, 2: 4, 3: 3}[mode]
    S, N, I, H = d.n(0, 3), d.n(0, 3), d.n(0, 3), d.n(0, 3)
    x, h0 = d.A((S, N, I)), d.A((N, H))
    c0 = d.A((N, H)) if mode == 2 else d.opt(d.A((N, H)) if d.b() else P(None))
    wih, whh = d.A((G * H, I)), d.A((G * H, H))
    bias = d.b()
    bi = d.A((G * H,)) if bias else P(None)
    bh = d.A((G * H,)) if bias else P(None)
    if not backward:
        return [x, h0, c0, wih, whh, bi, bh, P(mode)], {}

    def c(a):  # the same array spec in float64, C order
        return ("arr", a[1], "float64", "c", a[4], a[5]) if a[0] == "arr" else a

    fargs = [c(x), c(h0), c(c0), c(wih), c(whh), c(bi), c(bh), P(mode)]
    outs = [fwd("rnn_forward", fargs, index=i, lay=d.pick(LAYOUTS)) for i in range(3)]
    return [
        d.A((S, N, H)),
        d.opt(d.A((N, H))),
        d.opt(d.A((N, H))),
        x,
        h0,
        c0,
        wih,
        whh,
        P(bias),
    ] + outs + [P(mode), P(d.b()), P(d.b()), P(d.b())], {}


def maxout(d, backward):
    sh = list(d.shape(1, 3))
    dim, k = d.n(0, len(sh) - 1), d.n(1, 3)
    if not backward:
        sh[dim] *= k
        return [d.A(sh), P(k), P(dim)], {}
    return [d.A(sh), d.ints(sh, k), P(k), P(dim)], {}


def softmax(d, backward):
    sh = d.shape(1, 4)
    dim = d.n(-len(sh), len(sh) - 1)
    if not backward:
        return [d.A(sh), P(dim), P(d.b())], {}
    return [d.A(sh), d.A(sh), P(dim), P(d.b())], {}


def dropout(d, backward):
    sh = d.shape(0, 3)
    p, seed, off = d.f(0.0, 1.0), d.n(0, 2**20), d.n(0, 2**20)
    if not backward:
        return [d.A(sh), P(p), P(seed), P(off)], {}
    mask = fwd(
        "dropout_forward", [("arr", sh, "float32", "c", "randn", 1), P(p), P(seed), P(off)], index=1
    )
    return [d.A(sh), d.pick([mask, P(None)]), P(p), P(seed), P(off)], {}


def optim(d, which):
    sh = d.shape(0, 3)

    def A(how="randn"):
        return d.A(sh, how)

    lr = P(d.f(0.0, 0.1))
    if which == "sgd":
        return [
            A(),
            d.opt(A()),
            A(),
            lr,
            P(d.f()),
            P(d.f()),
            P(d.f()),
            P(d.f()),
            P(d.b()),
            P(d.b()),
            P(d.b()),
        ], {}
    if which == "adam":
        return [
            A(),
            A(),
            A("pos"),
            d.opt(A("pos")),
            A(),
            lr,
            P(0.9),
            P(0.999),
            P(1e-8),
            P(d.f()),
            P(d.f()),
            P(d.n(1, 3)),
            P(d.b()),
            P(d.b()),
        ], {}
    if which in ("adamax", "radam"):  # (param, exp_avg, exp_inf | exp_avg_sq, grad, ...)
        tail = [P(d.b()), P(d.b())] if which == "radam" else [P(d.b())]
        return [
            A(),
            A(),
            A("pos"),
            A(),
            lr,
            P(d.pick([0.9, 0.0, 1.0, -0.1])),
            P(d.pick([0.999, 0.5, 1.0])),
            P(1e-8),
            P(d.f()),
            P(d.f()),
            P(d.n(0, 3)),
            *tail,
        ], {}
    if which == "nadam":
        return [
            A(),
            A(),
            A("pos"),
            A(),
            lr,
            P(0.9),
            P(0.999),
            P(1e-8),
            P(d.f()),
            P(d.f()),
            P(d.f(0.0, 1.0)),
            P(d.f(0.0, 1.0)),
            P(d.pick([0.5, 0.99, 1.0, 2.0])),
            P(d.n(0, 3)),
            P(d.b()),
            P(d.b()),
        ], {}
    if which == "adagrad":
        return [
            A(),
            A("pos"),
            A(),
            lr,
            P(d.f()),
            P(1e-10),
            P(d.f()),
            P(d.f()),
            P(d.n(1, 3)),
            P(d.b()),
        ], {}
    return [
        A(),
        A("pos"),
        d.opt(A()),
        d.opt(A()),
        A(),
        lr,
        P(0.99),
        P(1e-8),
        P(d.f()),
        P(d.f()),
        P(d.f()),
        P(d.b()),
    ], {}


def linear(d, backward):
    N, In, O = d.n(), d.n(), d.n()
    if not backward:
        return [d.A((N, In)), d.A((O, In)), d.opt(d.A((O,)))], {}
    return [d.A((N, O)), d.A((N, In)), d.A((O, In)), P(d.b()), P(d.b()), P(d.b())], {}


def bce(d, backward):
    sh = d.shape(0, 3)
    x, t = d.A(sh), d.A(d.pick([sh, sh[:-1] + (d.n(),)]))
    w = d.opt(d.A((sh[-1],) if sh else (1,)))
    pw = d.opt(d.A(d.pick([sh, (d.n(),)])))
    if not backward:
        return [x, t, w, pw, P(d.b())], {}
    return [d.A(d.pick([sh, ()])), x, t, w, pw, P(d.f())], {}


def matmul(d):
    batch = d.shape(0, 2)
    M, K, N = d.n(), d.n(), d.n()
    return [d.A(batch + (M, K)), d.A(batch + (d.pick([K, K + 1]), N))], {}


def grid_sample(d, backward):
    k = d.pick([2, 3])
    N, C = d.n(), d.n()
    sp, out = tuple(d.n() for _ in range(k)), tuple(d.n() for _ in range(k))
    x, grid = d.A((N, C) + sp), d.A((N,) + out + (k,))
    opts = [
        P(d.pick(["bilinear", "nearest", "bicubic", ""])),
        P(d.pick(["zeros", "border", "reflection", "wrap"])),
        P(d.b()),
    ]
    if not backward:
        return [x, grid] + opts, {}
    return [d.A((N, C) + out), x, grid] + opts + [P(d.b()), P(d.b())], {}


def ldl(d, solve):
    """ldl_factor (*, n, n) in the four LAPACK dtypes (or the example's odd one); ldl_solve on
    that factorization's LD and pivots, or on random pivots (mostly ones LAPACK would index out
    of range with: the binding must refuse them), and B (*, n, k)."""
    dt = d.pick(["float32", "float64", "complex64", "complex128", d.dt])
    batch, n = d.shape(0, 2), d.n(0, 5)
    herm = P(d.b())
    if not solve:
        return [d.A(batch + (n, n), dtype=dt), herm], {}
    fargs = [("arr", batch + (n, n), dt, "c", "randn", 1), herm]
    ld = fwd("ldl_factor", fargs, index=0, lay=d.pick(LAYOUTS))
    piv = d.pick(
        [
            fwd("ldl_factor", fargs, index=1, lay=d.pick(LAYOUTS)),
            d.A(batch + (n,), ("int", -n - 1, n + 2), "int32"),
        ]
    )
    return [ld, piv, d.A(batch + (n, d.n(0, 3)), dtype=dt), herm], {}


def bf16(d, kind, backward):
    """The bf16 kernels take their float32 twins' arguments less groups/algorithm (linear's
    are the same)."""
    if kind == "linear":
        return linear(d, backward)
    args, kw = conv(d, backward)
    return (args[:6] + args[7:10] if backward else args[:6]), kw


def average_update(d):
    sh = d.shape(0, 3)
    return [d.A(sh), d.A(sh), P(d.f())], {}


def add_(d):
    sh = d.shape(0, 3)
    return [d.A(sh), d.A(sh)], {}


def channel_scale(d):
    sh = nchw(d)
    return [d.A(sh), d.A((sh[1],))], {}


def attn(d, backward):
    sh = d.shape(1, 3)
    return ([d.A(sh), d.A(sh)] if backward else [d.A(sh)]), {}


FUZZ = {
    "config": lambda d: ([], {}),
    "get_num_threads": lambda d: ([], {}),
    "set_num_threads": lambda d: ([P(d.n(1, 2))], {}),
    "get_conv_winograd": lambda d: ([], {}),
    "set_conv_winograd": lambda d: ([P(d.b())], {}),
    "get_stream_threshold": lambda d: ([], {}),
    "set_stream_threshold": lambda d: ([P(d.n(-1, 4))], {}),
    "numpy_pool_stats": lambda d: ([], {}),
    "numpy_pool_release": lambda d: ([], {}),
    "get_conv_direct": lambda d: ([], {}),
    "set_conv_direct": lambda d: ([P(d.b())], {}),
    "conv_direct_supported": lambda d: ([], {}),
    "get_avx512_exp": lambda d: ([], {}),
    "set_avx512_exp": lambda d: ([P(d.b())], {}),
    "conv2d_forward": lambda d: conv(d, False),
    "conv2d_backward": lambda d: conv(d, True),
    "linear_forward": lambda d: linear(d, False),
    "linear_backward": lambda d: linear(d, True),
    "bf16_supported": lambda d: ([], {}),
    "bf16_amx_supported": lambda d: ([], {}),
    "get_bf16_amx": lambda d: ([], {}),
    # in the worker: the bf16 calls drawn after it run on the kernel it chose
    "set_bf16_amx": lambda d: ([P(d.b())], {}),
    "gemm_bf16": lambda d: ([d.A((d.n(), d.n())), d.A((d.n(), d.n()))], {}),
    "linear_bf16_forward": lambda d: bf16(d, "linear", False),
    "linear_bf16_backward": lambda d: bf16(d, "linear", True),
    "conv2d_bf16_forward": lambda d: bf16(d, "conv", False),
    "conv2d_bf16_backward": lambda d: bf16(d, "conv", True),
    "max_pool2d_forward": lambda d: maxpool(d, False),
    "max_pool2d_backward": lambda d: maxpool(d, True),
    "avg_pool2d_forward": lambda d: avgpool(d, False),
    "avg_pool2d_backward": lambda d: avgpool(d, True),
    "adaptive_avg_pool2d_forward": lambda d: adaptive(d, "avg", False),
    "adaptive_avg_pool2d_backward": lambda d: adaptive(d, "avg", True),
    "adaptive_max_pool2d_forward": lambda d: adaptive(d, "max", False),
    "adaptive_max_pool2d_backward": lambda d: adaptive(d, "max", True),
    "batchnorm_forward": lambda d: batchnorm(d, False),
    "batchnorm_backward": lambda d: batchnorm(d, True),
    "batchnorm_add_relu_forward": lambda d: batchnorm_add_relu(d, False),
    "batchnorm_add_relu_backward": lambda d: batchnorm_add_relu(d, True),
    "batchnorm_relu_maxpool2d_forward": lambda d: batchnorm_relu_maxpool2d(d, False),
    "batchnorm_relu_maxpool2d_backward": lambda d: batchnorm_relu_maxpool2d(d, True),
    "layernorm_forward": lambda d: layernorm(d, False),
    "layernorm_backward": lambda d: layernorm(d, True),
    "groupnorm_forward": lambda d: groupnorm(d, False),
    "groupnorm_backward": lambda d: groupnorm(d, True),
    "instancenorm_forward": instancenorm,
    "cross_entropy_forward": lambda d: loss(d, "ce", False),
    "cross_entropy_backward": lambda d: loss(d, "ce", True),
    "nll_loss_forward": lambda d: loss(d, "nll", False),
    "nll_loss_backward": lambda d: loss(d, "nll", True),
    "multi_margin_loss_forward": lambda d: loss(d, "mm", False),
    "multi_margin_loss_backward": lambda d: loss(d, "mm", True),
    "rnn_forward": lambda d: rnn(d, False),
    "rnn_backward": lambda d: rnn(d, True),
    "maxout_forward": lambda d: maxout(d, False),
    "maxout_backward": lambda d: maxout(d, True),
    "softmax_forward": lambda d: softmax(d, False),
    "softmax_backward": lambda d: softmax(d, True),
    "dropout_forward": lambda d: dropout(d, False),
    "dropout_backward": lambda d: dropout(d, True),
    "bernoulli_mask": lambda d: (
        [d.A(d.shape(0, 2)), P(d.f()), P(d.f(0, 3)), P(d.n(0, 99)), P(d.n(0, 99))],
        {},
    ),
    "philox_uniform": lambda d: ([d.A(d.shape(0, 2)), P(d.n(0, 99)), P(d.n(0, 99))], {}),
    "philox4x32_10": lambda d: (
        [P([d.n(0, 2**32 - 1) for _ in range(4)]), P([d.n(0, 2**32 - 1) for _ in range(2)])],
        {},
    ),
    "philox_blocks16": lambda d: (
        [P(d.n(0, 2**40)), P(d.n(0, 2**40)), P(d.pick(["auto", "scalar"]))],
        {},
    ),
    "sgd_step": lambda d: optim(d, "sgd"),
    "adam_step": lambda d: optim(d, "adam"),
    "adagrad_step": lambda d: optim(d, "adagrad"),
    "adamax_step": lambda d: optim(d, "adamax"),
    "special_function": lambda d: (
        [
            d.A(d.shape(0, 3), "randn"),
            P(
                d.pick(
                    ["erf", "erfc", "erfinv", "lgamma", "digamma", "trigamma", "i0", "i0e"]
                    + ["i1", "i1e", "erfcx", "ndtri", "log_ndtr", "entr", "gamma", ""]
                )
            ),
        ],
        {},
    ),
    "lu_factor_ex": lambda d: ([d.A(d.shape(0, 4))], {}),
    "ldl_factor": lambda d: ldl(d, False),
    "ldl_solve": lambda d: ldl(d, True),
    "matmul": matmul,
    "matmul_bf16": matmul,
    "bce_with_logits_forward": lambda d: bce(d, False),
    "bce_with_logits_backward": lambda d: bce(d, True),
    "embedding_backward": lambda d: (
        [d.A((d.n(), d.n())), d.ints((d.n(),), d.n(1, 5)), P(d.pick([0, 3, 5, -1]))],
        {},
    ),
    "grid_sample_forward": lambda d: grid_sample(d, False),
    "grid_sample_backward": lambda d: grid_sample(d, True),
    "nadam_step": lambda d: optim(d, "nadam"),
    "radam_step": lambda d: optim(d, "radam"),
    "rmsprop_step": lambda d: optim(d, "rmsprop"),
    "average_update": average_update,
    "scale_": lambda d: ([d.A(d.shape(0, 3)), P(d.f())], {}),
    "add_": add_,
    "norm_reduce": lambda d: ([d.A(d.shape(0, 3)), P(d.pick([1.0, 2.0, 3.0, float("inf")]))], {}),
    "channel_scale": channel_scale,
    "attn_softmax_forward_": lambda d: attn(d, False),
    "attn_softmax_backward_": lambda d: attn(d, True),
    "relu_forward": unary("relu"),
    "sigmoid_forward": unary("sigmoid"),
    "tanh_forward": unary("tanh"),
    "gelu_forward": unary("gelu"),
    "gelu_tanh_forward": unary("gelu_tanh"),
    "mish_forward": unary("mish"),
    "silu_forward": unary("silu"),
    "elu_forward": unary("elu", fl, fl, fl),
    "hardtanh_forward": unary("hardtanh", lambda d: -1.0, lambda d: 1.0),
    "leaky_relu_forward": unary("leaky_relu", fl),
    "softplus_forward": unary("softplus", lambda d: d.f(0.5, 2.0), lambda d: 20.0),
    "relu_backward": binary("relu"),
    "sigmoid_backward": binary("sigmoid"),
    "tanh_backward": binary("tanh"),
    "gelu_backward": binary("gelu"),
    "gelu_tanh_backward": binary("gelu_tanh"),
    "mish_backward": binary("mish"),
    "silu_backward": binary("silu"),
    "elu_backward": binary("elu", fl, fl, fl, lambda d: float(d.b())),
    "hardtanh_backward": binary("hardtanh", lambda d: -1.0, lambda d: 1.0),
    "leaky_relu_backward": binary("leaky_relu", fl),
    "softplus_backward": binary("softplus", lambda d: d.f(0.5, 2.0), lambda d: 20.0),
}

SUFFIXES = ("_forward_", "_backward_", "_forward", "_backward", "_step", "_")


def family(fname: str) -> str:
    for s in SUFFIXES:
        if fname.endswith(s):
            return fname[: -len(s)]
    return fname


def _norm(s: str) -> str:
    return s.replace("_", "").lower()


def public_functions() -> list[str]:
    return sorted(n for n in dir(_C) if not n.startswith("_") and callable(getattr(_C, n)))


def test_every_function_has_a_fuzz_entry():
    missing = sorted(set(public_functions()) - set(FUZZ))
    assert not missing, f"pydlk._C functions without a fuzz strategy: {missing}"
    assert not set(FUZZ) - set(public_functions()), "fuzz entries for functions that are gone"


def check(worker: Worker, fname: str, args, kwargs) -> None:
    res = worker.call(("c", fname, args, kwargs))
    call = f"_C.{fname}(*{args!r}, **{kwargs!r})"
    if res[0] in ("ok", "skip"):
        return
    assert res[0] != "died", f"worker died (rc {res[1]}) on {call}"
    assert res[0] != "hang", f"call ran past {CALL_TIMEOUT} s: {call}"
    _, etype, msg, tb = res
    assert etype in ("ValueError", "TypeError"), f"{etype}: {msg}\non {call}\n{tb}"
    assert _norm(family(fname)) in _norm(msg), (
        f"{etype} not naming {family(fname)}: {msg}\non {call}"
    )


@pytest.mark.parametrize("fname", sorted(FUZZ))
@SETTINGS
@given(data=st.data())
def test_fuzz_bindings(worker, fname, data):
    d = D(data)
    args, kwargs = FUZZ[fname](d)
    args = list(args)
    # Mostly one argument replaced by something wrong; sometimes the plausible call as drawn.
    if args and d.n(0, 3):
        k = d.n(0, len(args) - 1)
        args[k] = d.weird(args[k])
    check(worker, fname, args, kwargs)


# ---------------------------------------------------------------------------------------------
# Functional ops: odd layouts give the contiguous result.
def _functional(d):
    op = d.pick(
        [
            "conv2d",
            "max_pool2d",
            "avg_pool2d",
            "batch_norm",
            "layer_norm",
            "group_norm",
            "linear",
            "cross_entropy",
            "dropout",
            "relu",
            "softmax",
            "log_softmax",
            "gelu",
            "sigmoid",
            "tanh",
            "adaptive_avg_pool2d",
        ]
    )
    N, C, H, W = d.n(1, 3), 2 * d.n(1, 2), d.n(3, 6), d.n(3, 6)
    x = d.A((N, C, H, W))
    if op == "conv2d":
        return (
            op,
            [x, d.A((3, C, 2, 2)), d.opt(d.A((3,)))],
            {"stride": P(d.n(1, 2)), "padding": P(d.n(0, 1))},
        )
    if op in ("max_pool2d", "avg_pool2d"):
        return op, [x, P(2)], {"stride": P(d.n(1, 2))}
    if op == "adaptive_avg_pool2d":
        return op, [x, P((2, 3))], {}
    if op == "batch_norm":
        # The running statistics are updated in place: writable layouts only.
        rw = [lay for lay in LAYOUTS if lay != "ro"]
        return (
            op,
            [x, d.A((C,), layouts=rw), d.A((C,), "pos", layouts=rw), d.A((C,)), d.A((C,))],
            {"training": P(d.b())},
        )
    if op == "layer_norm":
        return op, [x, P((H, W)), d.A((H, W)), d.A((H, W))], {}
    if op == "group_norm":
        return op, [x, P(2), d.A((C,)), d.A((C,))], {}
    if op == "linear":
        return op, [d.A((N, W)), d.A((C, W)), d.opt(d.A((C,)))], {}
    if op == "cross_entropy":
        return op, [d.A((N, C)), d.ints((N,), C)], {"label_smoothing": P(d.f(0.0, 0.3))}
    if op == "dropout":
        return op, [x], {"p": P(0.5)}
    if op in ("softmax", "log_softmax"):
        return op, [x], {"dim": P(d.n(-4, 3))}
    return op, [x], {}


@settings(SETTINGS, max_examples=EXAMPLES * 8)
@given(data=st.data())
def test_functional_layouts(worker, data):
    d = D(data)
    d.dt = d.pick(FLOATS)
    op, args, kwargs = _functional(d)
    res = worker.call(("f", op, args, kwargs))
    call = f"F.{op}(*{args!r}, **{kwargs!r})"
    assert res[0] != "died", f"worker died (rc {res[1]}) on {call}"
    assert res[0] != "hang", f"ran past {CALL_TIMEOUT} s: {call}"
    assert res[0] == "ok", f"{res[1:]}\non {call}"
