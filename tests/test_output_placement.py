"""Where kernels put the outputs they allocate (csrc/bind_util.h, empty()).

A store and a load a little further on whose addresses agree modulo 4 KiB make the load wait
("4K aliasing"); an output allocated just after a same-sized input lands 16-48 bytes past it
modulo 4 KiB, where every vector of a streaming kernel meets it. So an output of at least
256 KiB starts 64-byte aligned and before each input it is read beside, modulo 4 KiB (never
1..1024 bytes past one). Checked here for inputs at many page offsets: where the output starts,
that it holds the same bits as the kernel writes into a plain array (out=) or as the same call on
inputs elsewhere, that small outputs stay plain arrays, and that the autograd engine still sums
a second gradient in place into a placed one. And for out= arrays a caller put just past an
input (the kernels then compute through an L1 buffer, csrc/stream_store.h): the same bits as
an out= clear of the inputs.
"""

import numpy as np
import pytest

from pydlk import _C

PLACE = 256 * 1024  # kPlaceBytes
N = 96 * 1024  # float32 values per large tensor: 384 KiB


def _addr(a):
    return a.__array_interface__["data"][0]


def _at(a, offset, keep):
    """A copy of ``a`` whose data starts at ``offset`` modulo 4 KiB (its buffer kept in keep)."""
    buf = np.empty(a.nbytes + 8192, np.uint8)
    keep.append(buf)
    start = (offset - _addr(buf)) % 4096
    out = buf[start : start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def _ahead(out, inp):
    """How far out starts past inp, modulo 4 KiB, when that is 1..1024 bytes (else 0)."""
    d = (_addr(out) - _addr(inp)) % 4096
    return d if 0 < d <= 1024 else 0


def _cases(rng):
    """name -> (inputs, call(*inputs) returning the new output, into(*inputs, out) writing the
    same into out, or None where the kernel takes no out=)."""
    x = rng.standard_normal((4, 24, 32, 32)).astype(np.float32)  # 384 KiB
    dy = rng.standard_normal(x.shape).astype(np.float32)
    w, b = np.ones(24, np.float32), np.zeros(24, np.float32)
    _, m, r = _C.batchnorm_forward(x, w, b, None, None, True)
    x2 = x.reshape(96, 1024)
    dy2 = dy.reshape(96, 1024)
    w2 = rng.standard_normal(1024).astype(np.float32)
    _, m2, r2 = _C.layernorm_forward(x2, w2, None)
    y2 = _C.softmax_forward(x2, 1)
    target = rng.integers(0, 1024, 96)
    return {
        "batchnorm_forward": (
            (x,),
            lambda x: _C.batchnorm_forward(x, w, b, None, None, True)[0],
            lambda x, out: _C.batchnorm_forward(x, w, b, None, None, True, out=out),
        ),
        "batchnorm_add_relu_forward": (
            (x, dy),
            lambda x, res: _C.batchnorm_add_relu_forward(x, res, w, b, training=True)[0],
            lambda x, res, out: _C.batchnorm_add_relu_forward(x, res, w, b, training=True, out=out),
        ),
        "batchnorm_backward": (
            (dy, x),
            lambda dy, x: _C.batchnorm_backward(dy, x, w, m, r, True)[0],
            lambda dy, x, out: _C.batchnorm_backward(dy, x, w, m, r, True, grad_input=out),
        ),
        "layernorm_forward": (
            (x2,),
            lambda x: _C.layernorm_forward(x, w2, None)[0],
            lambda x, out: _C.layernorm_forward(x, w2, None, out=out),
        ),
        "layernorm_backward": (
            (dy2, x2),
            lambda dy, x: _C.layernorm_backward(dy, x, w2, m2, r2)[0],
            lambda dy, x, out: _C.layernorm_backward(dy, x, w2, m2, r2, grad_input=out),
        ),
        "gelu_backward": (
            (dy, x),
            lambda dy, x: _C.gelu_backward(dy, x),
            lambda dy, x, out: _C.gelu_backward(dy, x, out=out),
        ),
        "softmax_backward": (
            (dy2, y2),
            lambda dy, y: _C.softmax_backward(dy, y, 1),
            lambda dy, y, out: _C.softmax_backward(dy, y, 1, out=out),
        ),
        "dropout_forward": (
            (x,),
            lambda x: _C.dropout_forward(x, 0.3, 5, 7)[0],
            lambda x, out: _C.dropout_forward(x, 0.3, 5, 7, out=out),
        ),
        "cross_entropy grad_input": (
            (x2,),
            lambda x: _C.cross_entropy_forward(x, target, grad_of="mean")[4],
            None,
        ),
    }


# Input page offsets: each input 16 bytes past the one before (consecutive heap blocks), the
# reverse, spread out, one input just behind the next page boundary, and the second input a
# little behind the first (the output must then go back past both).
OFFSETS = [
    (16, 32),
    (32, 16),
    (3920, 3936),
    (0, 2048),
    (4080, 400),
    (1000, 1008),
    (2000, 1500),
    (600, 100),
]


@pytest.mark.parametrize("offsets", OFFSETS)
def test_large_outputs_start_aligned_and_behind_their_inputs(rng, offsets):
    keep = []
    for name, (inputs, call, into) in _cases(rng).items():
        placed = [_at(a, o, keep) for a, o in zip(inputs, offsets)]
        got = call(*placed)
        assert got.nbytes >= PLACE
        assert _addr(got) % 64 == 0, name
        for inp in placed:
            assert _ahead(got, inp) == 0, (name, offsets, _ahead(got, inp))
        assert got.flags.c_contiguous and got.flags.writeable and got.flags.aligned
        # The same bits as written into a plain array, and as from the inputs elsewhere.
        if into is not None:
            plain = np.empty_like(got)
            into(*placed, plain)
            np.testing.assert_array_equal(got, plain, err_msg=name)
        np.testing.assert_array_equal(got, call(*(a.copy() for a in inputs)), err_msg=name)


def test_small_outputs_are_plain_arrays(rng):
    x = rng.standard_normal(1000).astype(np.float32)
    y = _C.relu_forward(x)
    assert y.base is None and y.flags.owndata
    big = _C.relu_forward(rng.standard_normal(N).astype(np.float32))
    assert big.base is not None and big.base.dtype == np.uint8
    assert 0 < big.base.nbytes - big.nbytes <= 4096 + 16  # the start modulo 4 KiB, the tail


def test_engine_sums_into_a_placed_gradient_in_place(rng):
    from pydlk._engine import _add_grads

    a = _C.relu_forward(rng.standard_normal(N).astype(np.float32))  # placed, held by `a` only
    assert a.base is not None
    want = a + 1
    r = _add_grads(a, np.ones(N, np.float32))
    assert r is a
    np.testing.assert_array_equal(a, want)

    b = _C.relu_forward(rng.standard_normal(N).astype(np.float32))
    other = b.base.view(np.float32)  # the block seen another way: no longer only b's
    r = _add_grads(b, np.ones(N, np.float32))
    assert r is not b
    del other


# ----------------------------------------------------------------------------- out= arrays
# A preallocated output is where its caller put it: where it starts 1..1024 bytes past an input
# modulo 4 KiB, the streaming kernels compute through an L1 buffer and copy out
# (csrc/stream_store.h, write_chunks / bounce_slot). The bits must not depend on it.


def _out_cases(rng):
    """name -> (inputs, call(*inputs, out)) for kernels that take a preallocated output."""
    return {**_out_cases_of(rng, np.float32), **_out_cases_of(rng, np.float64)}


def _out_cases_of(rng, dt):
    cases = {}
    x4 = rng.standard_normal((2, 3, 40, 40)).astype(dt)  # spans of 1600: two chunks each
    r4 = rng.standard_normal(x4.shape).astype(dt)
    w3, b3 = rng.standard_normal(3).astype(dt), rng.standard_normal(3).astype(dt)
    x2 = rng.standard_normal((5, 1500)).astype(dt)  # (N, C) rows of 1500 channels
    w15, b15 = rng.standard_normal(1500).astype(dt), rng.standard_normal(1500).astype(dt)
    _, m4, s4 = _C.batchnorm_forward(x4, w3, b3, None, None, True)
    y4 = _C.batchnorm_add_relu_forward(x4, None, w3, b3, training=True)[0]
    _, m2, s2 = _C.batchnorm_forward(x2, w15, b15, None, None, True)
    _, lm, lr = _C.layernorm_forward(x2, w15, b15)
    xa = rng.standard_normal(9000).astype(dt)  # activations: blocks of 4096, chunks of 4 KiB
    xg = rng.standard_normal((3, 4, 30, 30)).astype(dt)
    w4 = rng.standard_normal(4).astype(dt)
    _, gm, gr = _C.groupnorm_forward(xg, 2, w4, w4)
    n = np.dtype(dt).name
    cases.update(
        {
            f"batchnorm_forward {n}": (
                (x4,),
                lambda x, out: _C.batchnorm_forward(x, w3, b3, None, None, True, out=out),
            ),
            f"batchnorm_add_relu_forward {n}": (
                (x4, r4),
                lambda x, r, out: _C.batchnorm_add_relu_forward(
                    x, r, w3, b3, training=True, out=out
                ),
            ),
            f"batchnorm_forward (N, C) {n}": (
                (x2,),
                lambda x, out: _C.batchnorm_forward(x, w15, b15, None, None, True, out=out),
            ),
            f"batchnorm_backward {n}": (
                (r4, x4),
                lambda dy, x, out: _C.batchnorm_backward(dy, x, w3, m4, s4, True, grad_input=out),
            ),
            f"batchnorm_add_relu_backward {n}": (
                (r4, x4),
                lambda dy, x, out: _C.batchnorm_add_relu_backward(
                    dy, y4, x, w3, m4, s4, True, need_residual=False, grad_input=out
                ),
            ),
            f"batchnorm_backward (N, C) {n}": (
                (x2[::-1].copy(), x2),
                lambda dy, x, out: _C.batchnorm_backward(dy, x, w15, m2, s2, True, grad_input=out),
            ),
            f"layernorm_forward {n}": (
                (x2,),
                lambda x, out: _C.layernorm_forward(x, w15, b15, out=out),
            ),
            f"layernorm_backward {n}": (
                (x2[::-1].copy(), x2),
                lambda dy, x, out: _C.layernorm_backward(dy, x, w15, lm, lr, grad_input=out),
            ),
            f"layernorm_backward dx only {n}": (
                (x2[::-1].copy(), x2),
                lambda dy, x, out: _C.layernorm_backward(
                    dy, x, w15, lm, lr, need_weight=False, need_bias=False, grad_input=out
                ),
            ),
            f"gelu_forward {n}": ((xa,), lambda x, out: _C.gelu_forward(x, out=out)),
            f"silu_backward {n}": (
                (xa[::-1].copy(), xa),
                lambda dy, x, out: _C.silu_backward(dy, x, out=out),
            ),
            f"groupnorm_forward {n}": (
                (xg,),
                lambda x, out: _C.groupnorm_forward(x, 2, w4, w4, out=out),
            ),
            f"groupnorm_backward {n}": (
                (xg[::-1].copy(), xg),
                lambda dy, x, out: _C.groupnorm_backward(dy, x, 2, w4, gm, gr, grad_input=out),
            ),
        }
    )
    return cases


@pytest.mark.parametrize("past", [16, 64, 512, 1024])
def test_out_arrays_just_past_an_input_hold_the_same_bits(rng, past):
    keep = []
    for name, (inputs, call) in _out_cases(rng).items():
        placed = [_at(a, 256 * (i + 1), keep) for i, a in enumerate(inputs)]
        like = inputs[-1] if "backward" in name else inputs[0]
        clear = _at(np.zeros_like(like), 0, keep)  # before every input: written directly
        call(*placed, clear)
        for k, inp in enumerate(placed):  # past each input in turn: through the buffer
            out = _at(np.full_like(like, np.nan), (_addr(inp) + past) % 4096, keep)
            assert _ahead(out, inp) == past
            call(*placed, out)
            np.testing.assert_array_equal(out, clear, err_msg=f"{name}, out {past} past input {k}")
