"""Complex tensors: values and gradients against torch (its complex autograd convention,
grad = dL/dRe + i dL/dIm) and against textbook NumPy, plus the errors torch raises."""

import numpy as np
import pytest

import pydlk as P

torch = pytest.importorskip("torch")

rng = np.random.default_rng(0)


def _c(*shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


A, B, M = _c(3, 4), _c(3, 4), _c(4, 2)

# each f(module, a, b) is run by torch and by pydlk on the same complex128 inputs
OPS = {
    "add": lambda m, a, b: a + b,
    "sub": lambda m, a, b: a - b,
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / b,
    "neg": lambda m, a, b: -a,
    "exp": lambda m, a, b: m.exp(a),
    "log": lambda m, a, b: m.log(a),
    "abs": lambda m, a, b: a.abs(),
    "sqrt": lambda m, a, b: m.sqrt(a),
    "rsqrt": lambda m, a, b: m.rsqrt(a),
    "pow_real": lambda m, a, b: a**2.5,
    "pow_int": lambda m, a, b: a**3,
    "square": lambda m, a, b: m.square(a),
    "reciprocal": lambda m, a, b: m.reciprocal(a),
    "sin": lambda m, a, b: m.sin(a),
    "cos": lambda m, a, b: m.cos(a),
    "sum": lambda m, a, b: a.sum(0),
    "mean": lambda m, a, b: a.mean(1),
    "prod": lambda m, a, b: a.prod(1),
    "var": lambda m, a, b: a.var(1),
    "norm": lambda m, a, b: a.norm(),
    "transpose": lambda m, a, b: a.transpose(0, 1) * b.T,
    "reshape_index": lambda m, a, b: a.reshape(12)[1:7] * b[[0, 2]].reshape(8)[:6],
    "cat": lambda m, a, b: m.cat([a, b], 0),
    "stack": lambda m, a, b: m.stack([a, b], 1),
    "conj": lambda m, a, b: (a.conj() * b).resolve_conj(),
    "angle": lambda m, a, b: a.angle(),
    "real_imag": lambda m, a, b: a.real * b.imag,
    "sgn": lambda m, a, b: m.sgn(a),
    "where": lambda m, a, b: m.where(a.real > 0, a, b),
    "times_real": lambda m, a, b: a * b.real,
    "scalars": lambda m, a, b: a * (1 + 2j) + 3,
    "view_as_real": lambda m, a, b: m.view_as_real(a) * 2,
    "polar": lambda m, a, b: m.polar(a.abs(), b.angle()),
    "complex": lambda m, a, b: m.complex(a.real, b.imag),
    "expand": lambda m, a, b: a[:1].expand(3, 4) * b,
    "flip": lambda m, a, b: a.flip(0),
    "tanh": lambda m, a, b: m.tanh(a * 0.5),
    "sigmoid": lambda m, a, b: a.sigmoid(),
    "sinh": lambda m, a, b: m.sinh(a),
    "tan": lambda m, a, b: m.tan(a * 0.5),
    "asin": lambda m, a, b: m.asin(a),
    "atanh": lambda m, a, b: m.atanh(a),
    "log2": lambda m, a, b: m.log2(a),
    "exp2": lambda m, a, b: m.exp2(a),
    "expm1": lambda m, a, b: m.expm1(a),
    "cumsum": lambda m, a, b: a.cumsum(1),
    "cumprod": lambda m, a, b: a.cumprod(1),
    "logsumexp": lambda m, a, b: a.logsumexp(0),
    "trace_tril": lambda m, a, b: m.tril(a[:, :3]) * m.trace(b[:, :3]),
    "gather_index_add": lambda m, a, b: (
        a.gather(1, m.tensor([[0], [2], [1]]))
        + m.zeros(3, 4, dtype=a.dtype).index_add(0, m.tensor([2, 0, 1]), b)
    ),
}


def _loss(m, out):
    if out.is_complex():
        return (out * out.conj()).real.sum() + out.abs().sum()
    return (out * out).sum()


def _np(t):
    t = t.detach()
    return t.resolve_conj().numpy() if hasattr(t, "resolve_conj") else t.numpy()


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_matches_torch(name):
    f = OPS[name]
    tt = [torch.tensor(x, requires_grad=True) for x in (A, B)]
    pt = [P.tensor(x, requires_grad=True) for x in (A, B)]
    to, po = f(torch, *tt), f(P, *pt)
    assert str(po.dtype) == str(to.dtype).split(".")[1]
    np.testing.assert_allclose(_np(po), _np(to), rtol=1e-10, atol=1e-12)
    _loss(torch, to).backward()
    _loss(P, po).backward()
    for p, t in zip(pt, tt):
        if t.grad is None:
            assert p.grad is None or not np.any(p.grad.numpy())
        else:
            np.testing.assert_allclose(p.grad.numpy(), _np(t.grad), rtol=1e-9, atol=1e-12)


def test_matmul_matches_torch_and_numpy():
    tt = [torch.tensor(x, requires_grad=True) for x in (A, M)]
    pt = [P.tensor(x, requires_grad=True) for x in (A, M)]
    po, to = pt[0] @ pt[1], tt[0] @ tt[1]
    np.testing.assert_allclose(po.detach().numpy(), A @ M, rtol=1e-12)
    _loss(P, po).backward()
    _loss(torch, to).backward()
    for p, t in zip(pt, tt):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-10)


def test_textbook_gradients():
    # L = sum |z|^2 -> grad 2z; L = sum |z| -> grad z/|z|; L = Re sum(w z) -> grad conj(w)
    z = P.tensor(A, requires_grad=True)
    (z * z.conj()).real.sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), 2 * A, rtol=1e-12)
    z = P.tensor(A, requires_grad=True)
    z.abs().sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), A / np.abs(A), rtol=1e-12)
    z = P.tensor(A, requires_grad=True)
    (P.tensor(B) * z).sum().real.backward()
    np.testing.assert_allclose(z.grad.numpy(), np.conj(B), rtol=1e-12)


def test_complex_gradient_reaching_a_real_input_keeps_its_real_part():
    x = P.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    z = x * (1 + 2j)  # |z|^2 = 5 x^2
    (z * z.conj()).real.sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.numpy(), 10 * x.detach().numpy())


def test_dtypes_factories_and_repr():
    assert P.tensor([1 + 2j]).dtype == P.complex64 == P.cfloat
    assert P.ones(2).cfloat().dtype == np.complex64
    assert P.ones(2).cdouble().dtype == P.cdouble == np.complex128
    assert P.zeros(2, dtype=P.complex128).is_complex() and not P.ones(2).is_complex()
    assert repr(P.tensor([1 + 2j])) == "tensor([1.+2.j])"
    P.manual_seed(0)
    z = P.randn(20000, dtype=P.complex64).numpy()
    assert z.dtype == np.complex64
    assert abs(np.mean(np.abs(z) ** 2) - 1) < 0.05  # torch: each part N(0, 1/2)
    u = P.rand(1000, dtype=P.complex128).numpy()
    assert 0 <= u.real.min() and u.real.max() < 1 and 0 <= u.imag.min() and u.imag.max() < 1


def test_views_and_parts():
    z = P.tensor(A.astype(np.complex64))
    r = P.view_as_real(z)
    assert r.shape == (3, 4, 2) and r.dtype == np.float32
    np.testing.assert_array_equal(r.numpy()[..., 1], A.imag.astype(np.float32))
    assert np.shares_memory(r.numpy(), z.numpy())
    back = P.view_as_complex(r)
    np.testing.assert_array_equal(back.numpy(), z.numpy())
    x = P.tensor([1.0, -2.0])
    assert P.real(x) is x and P.conj(x) is x
    np.testing.assert_allclose(P.angle(x).numpy(), [0, np.pi], rtol=1e-6)
    assert P.complex(P.ones(2), P.zeros(2)).dtype == np.complex64
    p = P.polar(P.tensor([2.0]), P.tensor([np.pi / 2]))
    np.testing.assert_allclose(p.numpy(), [2j], atol=1e-6)


def test_bad_input_raises_naming_the_op():
    with pytest.raises(ValueError, match="view_as_complex.*size 2"):
        P.view_as_complex(P.ones(3, 3))
    with pytest.raises(TypeError, match="view_as_complex.*float32"):
        P.view_as_complex(P.ones(3, 2, dtype=P.int64))
    with pytest.raises(TypeError, match="view_as_real"):
        P.view_as_real(P.ones(3))
    with pytest.raises(TypeError, match="imag"):
        P.imag(P.ones(3))
    with pytest.raises(TypeError, match="complex: real and imag"):
        P.complex(P.ones(2), P.ones(2, dtype=P.float64))
    z = P.tensor([1 + 1j, 2 - 1j])
    for op in (
        lambda: z < z,
        lambda: z.max(),
        lambda: z.min(),
        lambda: z.argmax(),
        lambda: z.sort(),
        lambda: z.topk(1),
        lambda: z.clamp(0, 1),
        lambda: P.maximum(z, z),
        lambda: z.floor(),
        lambda: z.sign(),
        lambda: z.median(),
        lambda: z.cummax(0),
        lambda: z % 2,
    ):
        # torch raises NotImplementedError or RuntimeError; pydlk's error is both
        with pytest.raises(NotImplementedError, match="complex"):
            op()
        with pytest.raises(RuntimeError):
            op()


SECOND_ORDER = {
    "exp": lambda z: P.exp(z),
    "log": lambda z: P.log(z),
    "sqrt": lambda z: P.sqrt(z),
    "sin": lambda z: P.sin(z),
    "reciprocal": lambda z: P.reciprocal(z),
    "mul_conj": lambda z: z * z.conj() * (1 + 2j),
    "div": lambda z: (1 + z) / z,
    "pow": lambda z: z**2.5,
    "abs": lambda z: z.abs() * z,
    "real_imag": lambda z: z.real * z.imag + z,
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_first_and_second_derivatives_by_finite_differences(name):
    f = SECOND_ORDER[name]

    def g(r):  # real in, real out: the complex function on (re, im) pairs
        o = f(P.view_as_complex(r))
        return P.view_as_real(o) if o.is_complex() else o

    x = P.tensor(rng.standard_normal((3, 2)) + np.array([1.5, 0.3]), requires_grad=True)
    assert P.gradcheck(g, (x,))
    assert P.gradgradcheck(g, (x,))


def test_gpu_matches_cpu():
    from _gpu_helpers import cupy_or_skip, host

    cp = cupy_or_skip()

    def _dev(x, dev):
        return cp.asarray(x) if dev == "cuda" else x

    outs = []
    for dev in ("cpu", "cuda"):
        a, b = (P.tensor(_dev(x, dev), requires_grad=True) for x in (A, B))
        z = P.exp(a) * b.conj() / (a + 2)
        w = P.complex(z.real, P.angle(b)) + P.polar(b.abs(), a.imag) + P.sgn(a)
        loss = (w * w.conj()).real.sum() + w.abs().sum() + w.var()
        loss = loss + (P.sqrt(a) @ P.tensor(_dev(M, dev))).abs().sum()
        loss.backward()
        assert a.grad.device.type == dev
        outs.append((host(w), host(a.grad), host(b.grad)))
    for x, y in zip(*outs):
        np.testing.assert_allclose(y, x, rtol=1e-10, atol=1e-12)


def test_save_load_and_torch_checkpoints(tmp_path):
    import io

    z = P.tensor([1 + 2j, 3 - 1j])
    buf = io.BytesIO()
    P.save({"z": z}, buf)
    buf.seek(0)
    np.testing.assert_array_equal(P.load(buf)["z"].numpy(), z.numpy())
    for dt, want in ((torch.complex64, np.complex64), (torch.complex128, np.complex128)):
        path = tmp_path / "c.pt"
        torch.save({"z": torch.tensor([1 + 2j, 3j], dtype=dt)[1:]}, path)
        got = P.load(path)["z"]
        assert got.dtype == want
        np.testing.assert_array_equal(got.numpy(), [3j])
