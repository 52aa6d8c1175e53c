"""pydlk.fft against torch.fft (values and gradients over sizes, n/s, dims and norms), against
a textbook DFT matrix, and a float64 finite-difference gradient check; GPU vs CPU at the end."""

import itertools

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk as P

torch = pytest.importorskip("torch")


def _inputs(shape, complex_, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if complex_:
        x = x + 1j * rng.standard_normal(shape)
    return x


def _loss(m, out, r):
    """A real loss with a random weight on every output entry (real and imaginary parts)."""
    if out.is_complex():
        return (m.view_as_real(out.resolve_conj()) * m.tensor(r)).sum()
    return (out * m.tensor(r[..., 0])).sum()


def _compare(name, x, kwargs, rtol=1e-9, atol=1e-10):
    tx = torch.tensor(x, requires_grad=True)
    px = P.tensor(x, requires_grad=True)
    to = getattr(torch.fft, name)(tx, **kwargs)
    po = getattr(P.fft, name)(px, **kwargs)
    assert tuple(po.shape) == tuple(to.shape), (po.shape, to.shape)
    assert str(po.dtype) == str(to.dtype).split(".")[1]
    tv = to.detach().resolve_conj().numpy()
    np.testing.assert_allclose(po.detach().numpy(), tv, rtol=rtol, atol=atol)
    r = np.random.default_rng(1).standard_normal((*to.shape, 2))
    _loss(torch, to, r).backward()
    _loss(P, po, r).backward()
    assert px.grad.dtype == px.dtype
    tg = tx.grad.resolve_conj().numpy()
    np.testing.assert_allclose(px.grad.numpy(), tg, rtol=rtol, atol=atol)
    return po


ONE_D = [
    # (op, input is complex)
    ("fft", True),
    ("fft", False),
    ("ifft", True),
    ("ifft", False),
    ("rfft", False),
    ("irfft", True),
    ("irfft", False),
    ("hfft", True),
    ("ihfft", False),
]


@pytest.mark.parametrize("op,cplx", ONE_D)
@pytest.mark.parametrize("n", [None, 1, 4, 7, 12])
@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
def test_one_dim_transforms_match_torch(op, cplx, n, norm):
    # input sizes 6, 3 and 5 along dim: n trims and pads, odd and even
    for shape, dim in (((6,), -1), ((3, 7), 0), ((2, 5, 4), 1)):
        out = _compare(op, _inputs(shape, cplx), dict(n=n, dim=dim, norm=norm))
        assert out.shape[dim] == _length(op, shape[dim], n)


def _length(op, size, n):
    """The output length along the transformed dim, by the definitions (one-sided spectra keep
    n // 2 + 1 bins; the inverse one-sided transforms give n, default 2 (size - 1))."""
    if op in ("rfft", "ihfft"):
        return (n or size) // 2 + 1
    if op in ("irfft", "hfft"):
        return n or 2 * (size - 1)
    return n or size


N_D = [
    ("fft2", True),
    ("ifft2", True),
    ("fftn", True),
    ("fftn", False),
    ("ifftn", True),
    ("rfft2", False),
    ("irfft2", True),
    ("rfftn", False),
    ("irfftn", True),
    ("hfft2", True),
    ("ihfft2", False),
    ("hfftn", True),
    ("ihfftn", False),
]


@pytest.mark.parametrize("op,cplx", N_D)
@pytest.mark.parametrize(
    "s,dim",
    [(None, None), ((4, 5), None), ((3, -1), (0, 2)), (None, (2, 0)), ((6, 3, 5), None)],
)
@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
def test_n_dim_transforms_match_torch(op, cplx, s, dim, norm):
    if op.endswith("2") and s is not None and len(s) == 3:
        pytest.skip("the 2-D transforms take two dims")
    kwargs = dict(norm=norm)
    if s is not None:
        kwargs["s"] = s
    if dim is not None:
        kwargs["dim"] = dim
    _compare(op, _inputs((3, 4, 6), cplx), kwargs)


def test_float32_dtypes_and_integer_promotion():
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    assert P.fft.fft(P.tensor(x)).dtype == np.complex64
    assert P.fft.rfft(P.tensor(x)).dtype == np.complex64
    assert P.fft.irfft(P.fft.rfft(P.tensor(x))).dtype == np.float32
    assert P.fft.fft(P.tensor(x, dtype=P.float64)).dtype == np.complex128
    i = P.arange(6)
    assert P.fft.fft(i).dtype == np.complex64 == P.fft.rfft(i).dtype
    np.testing.assert_allclose(
        P.fft.fft(P.tensor(x)).numpy(), torch.fft.fft(torch.tensor(x)).numpy(), rtol=1e-5, atol=1e-5
    )


def _dft_matrix(n):
    k = np.arange(n)
    return np.exp(-2j * np.pi * np.outer(k, k) / n)


@pytest.mark.parametrize("n", [1, 2, 5, 8, 9])
def test_textbook_dft(n):
    x = _inputs((3, n), True)
    F = _dft_matrix(n)
    np.testing.assert_allclose(P.fft.fft(P.tensor(x)).numpy(), x @ F.T, atol=1e-10)
    np.testing.assert_allclose(P.fft.ifft(P.tensor(x)).numpy(), x @ F.conj().T / n, atol=1e-10)
    ortho = P.fft.fft(P.tensor(x), norm="ortho").numpy()
    np.testing.assert_allclose(ortho, x @ F.T / np.sqrt(n), atol=1e-10)
    xr = x.real
    np.testing.assert_allclose(
        P.fft.rfft(P.tensor(xr)).numpy(), (xr @ F.T)[:, : n // 2 + 1], atol=1e-10
    )
    # the gradient of sum(Re(w * fft(x))) is the adjoint F^H applied to w, conjugated
    w = _inputs((3, n), True, seed=2)
    z = P.tensor(x, requires_grad=True)
    (P.fft.fft(z) * P.tensor(w)).real.sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), np.conj(w @ F), atol=1e-10)


def test_round_trips():
    x = _inputs((4, 9), False)
    t = P.tensor(x)
    np.testing.assert_allclose(P.fft.ifft(P.fft.fft(t)).numpy(), x, atol=1e-12)
    np.testing.assert_allclose(P.fft.irfft(P.fft.rfft(t), n=9).numpy(), x, atol=1e-12)
    np.testing.assert_allclose(P.fft.irfftn(P.fft.rfftn(t), s=t.shape).numpy(), x, atol=1e-12)
    np.testing.assert_allclose(P.fft.hfft(P.fft.ihfft(t), n=9).numpy(), x, atol=1e-12)


@pytest.mark.parametrize(
    "fn",
    [
        lambda z: P.view_as_real(P.fft.fft(z, n=7, norm="ortho")),
        lambda z: P.view_as_real(P.fft.rfft(z.real, n=6)),
        lambda z: P.fft.irfft(z, n=9),
        lambda z: P.fft.irfft(z, n=4, norm="forward"),
        lambda z: P.fft.hfft(z, n=8),
        lambda z: P.view_as_real(P.fft.ihfft(z.real)),
        lambda z: P.view_as_real(P.fft.fftn(z, s=(2, 6))),
        lambda z: P.fft.irfftn(z, s=(4, 7)),
    ],
)
def test_finite_difference_gradcheck(fn):
    x = P.tensor(_inputs((3, 5, 2), False), requires_grad=True)
    assert P.gradcheck(lambda r: fn(P.view_as_complex(r)), (x,), atol=1e-7)


def test_second_derivatives():
    x = P.tensor(_inputs((2, 6), False), requires_grad=True)
    assert P.gradgradcheck(lambda t: P.fft.irfft(P.fft.rfft(t) ** 2, n=6), (x,))


def test_freq_and_shift_match_torch():
    for n, d in ((8, 1.0), (7, 0.5)):
        np.testing.assert_allclose(P.fft.fftfreq(n, d).numpy(), torch.fft.fftfreq(n, d).numpy())
        np.testing.assert_allclose(P.fft.rfftfreq(n, d).numpy(), torch.fft.rfftfreq(n, d).numpy())
    assert P.fft.fftfreq(4, dtype=P.float64).dtype == np.float64
    x = np.arange(35.0).reshape(5, 7)
    for dim in (None, 0, (1,), (0, 1)):
        for name in ("fftshift", "ifftshift"):
            got = getattr(P.fft, name)(P.tensor(x), dim=dim).numpy()
            want = getattr(torch.fft, name)(torch.tensor(x), dim=dim).numpy()
            np.testing.assert_array_equal(got, want)


def test_bad_arguments_raise_naming_the_op():
    x = P.ones(4, 6)
    with pytest.raises(ValueError, match="fft: norm"):
        P.fft.fft(x, norm="foo")
    with pytest.raises(ValueError, match=r"fft: invalid number of data points \(0\)"):
        P.fft.fft(x, n=0)
    with pytest.raises(ValueError, match="fftn: dims must be unique"):
        P.fft.fftn(x, dim=(0, 0))
    with pytest.raises(ValueError, match="fftn: dim and s"):
        P.fft.fftn(x, s=(2,), dim=(0, 1))
    with pytest.raises(TypeError, match="rfft: expects a real input"):
        P.fft.rfft(P.ones(4, dtype=P.complex64))
    with pytest.raises(TypeError, match="fft: unsupported dtype float16"):
        P.fft.fft(P.ones(4, dtype=P.float16))
    with pytest.raises(IndexError, match="fft: dim 2"):
        P.fft.fft(x, dim=2)
    with pytest.raises(ValueError, match="irfft: invalid number of data points"):
        P.fft.irfft(P.ones(1, dtype=P.complex64))


def test_all_of_torch_fft_is_here():
    names = {n for n in dir(torch.fft) if not n.startswith("_") and n[0].islower()}
    names -= {"torch", "common_args", "factory_common_args"}
    assert names <= set(P.fft.__all__), names - set(P.fft.__all__)


@pytest.mark.parametrize("op", ["fft", "rfft", "irfft", "fftn", "rfft2", "hfft", "ifftshift"])
def test_gpu_matches_cpu(op):
    cp = cupy_or_skip()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 8))
    if op in ("fft", "fftn", "irfft", "hfft", "ifftshift"):
        x = x + 1j * rng.standard_normal((3, 8))
    outs, grads = [], []
    for dev in ("cpu", "cuda"):
        t = P.tensor(x, requires_grad=True)
        if dev == "cuda":
            t = P.tensor(cp.asarray(x), requires_grad=True)
        kwargs = {"norm": "ortho"} if op not in ("ifftshift",) else {}
        o = getattr(P.fft, op)(t, **kwargs)
        w = P.view_as_real(o) if o.is_complex() else o
        (w * w).sum().backward()
        assert o.device.type == t.grad.device.type == dev
        outs.append(host(o))
        grads.append(host(t.grad))
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-10, atol=1e-12)


def test_grid_covers_odd_and_even_trims():
    # n below, equal to and above the input size, odd and even, for the one-sided transforms
    for n, size in itertools.product([3, 4, 5, 6, 9], [4, 5]):
        assert _compare("rfft", _inputs((size,), False), dict(n=n)).shape == (n // 2 + 1,)
        assert _compare("irfft", _inputs((size,), True), dict(n=n)).shape == (n,)
