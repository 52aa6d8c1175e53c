"""pydlk.linalg.eig and eigvals (general matrices, complex results) against torch 2.13 and the
textbook definition A V = V diag(L) with unit-norm eigenvectors; gradients of losses that do
not depend on the eigenvectors' phases against torch's and central differences; torch's error
for a loss that does; argument errors."""

import numpy as np
import pytest

import pydlk
import pydlk.linalg as LA

torch = pytest.importorskip("torch")

rng = np.random.default_rng(5)


def _complex(shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_values_satisfy_the_definition_and_match_torch(dtype):
    a = _complex((3, 5, 5)) if np.dtype(dtype).kind == "c" else rng.standard_normal((3, 5, 5))
    a = a.astype(dtype)
    w, v = LA.eig(pydlk.tensor(a))
    tw, tv = torch.linalg.eig(torch.tensor(a))
    want = np.complex64 if dtype in (np.float32, np.complex64) else np.complex128
    assert w.dtype == want and v.dtype == want and w.shape == (3, 5) and v.shape == (3, 5, 5)
    tol = 1e-4 if want == np.complex64 else 1e-11
    wn, vn = w.numpy(), v.numpy()
    np.testing.assert_allclose(a @ vn, vn * wn[..., None, :], atol=tol * 10)  # A V = V diag(L)
    np.testing.assert_allclose(np.linalg.norm(vn, axis=-2), 1, rtol=tol)
    np.testing.assert_allclose(np.sort_complex(wn), np.sort_complex(tw.numpy()), atol=tol * 10)
    np.testing.assert_allclose(LA.eigvals(pydlk.tensor(a)).numpy(), wn, atol=tol)


def _grad(T, lib, a, loss):
    A = T.tensor(a, requires_grad=True)
    loss(lib, A).backward()
    return A.grad.numpy()


@pytest.mark.parametrize("complex_input", [False, True])
def test_gradients_match_torch(complex_input):
    a = _complex((2, 4, 4)) if complex_input else rng.standard_normal((2, 4, 4))
    losses = [
        lambda lib, A: (lib.eig(A)[0].abs() ** 2).sum() + (lib.eig(A)[1].abs() ** 3).sum(),
        lambda lib, A: (2 * lib.eigvals(A).real + lib.eigvals(A).imag ** 2).sum(),
    ]
    for loss in losses:
        mine = _grad(pydlk, LA, a, loss)
        theirs = _grad(torch, torch.linalg, a, loss)
        np.testing.assert_allclose(mine, theirs, rtol=1e-8, atol=1e-10)


def test_central_differences():
    a = rng.standard_normal((4, 4))
    A = pydlk.tensor(a, requires_grad=True)
    assert pydlk.gradcheck(lambda x: LA.eigvals(x).real, (A,))
    assert pydlk.gradcheck(lambda x: LA.eigvals(x).imag ** 2, (A,))
    assert pydlk.gradcheck(lambda x: LA.eig(x)[1].abs(), (A,))


def test_a_loss_that_depends_on_the_phases_raises_as_torch():
    a = np.array([[0.0, -2.0, 0.5], [1.0, 0.0, 0.3], [0.2, 0.1, 1.0]])  # a complex pair
    A = pydlk.tensor(a, requires_grad=True)
    with pytest.raises(RuntimeError, match="specified up to multiplication by e\\^\\{i phi\\}"):
        LA.eig(A)[1].real.sum().backward()
    T = torch.tensor(a, requires_grad=True)
    with pytest.raises(RuntimeError, match="specified up to multiplication"):
        torch.linalg.eig(T)[1].real.sum().backward()


def test_errors_name_the_op():
    with pytest.raises(ValueError, match="linalg.eig: The input tensor A must have at least 2"):
        LA.eig(pydlk.ones(3))
    with pytest.raises(ValueError, match="linalg.eigvals: A must be batches of square matrices"):
        LA.eigvals(pydlk.ones(3, 4))
    with pytest.raises(TypeError, match="linalg.eig: Expected a floating point or complex"):
        LA.eig(pydlk.ones(3, 3, dtype=pydlk.int64))
    with pytest.raises(ValueError, match="linalg.eig: input should not contain infs or NaNs"):
        LA.eig(pydlk.tensor([[1.0, float("nan")], [0.0, 1.0]]))


def test_gpu_tensors_match_the_cpu():
    from _gpu_helpers import cupy_or_skip, host

    cupy_or_skip()
    a = rng.standard_normal((2, 5, 5))
    results = []
    for dev in ("cpu", "cuda"):
        A = pydlk.tensor(a, requires_grad=True, device=dev)
        w, v = LA.eig(A)
        assert w.device.type == dev and v.device.type == dev
        ((w.abs() ** 2).sum() + v.abs().sum()).backward()
        results.append([host(w), host(v.abs()), host(A.grad)])
    for c, g in zip(*results):
        np.testing.assert_allclose(g, c, rtol=1e-9, atol=1e-10)
