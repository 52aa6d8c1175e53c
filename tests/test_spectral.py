"""Window functions and stft/istft against torch (values and gradients) and the textbook
formulas; istft(stft(x)) == x; GPU vs CPU at the end."""

import itertools
import warnings

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk as P

torch = pytest.importorskip("torch")

WINDOWS = [
    ("hann_window", {}),
    ("hamming_window", {}),
    ("hamming_window", {"alpha": 0.5, "beta": 0.3}),
    ("blackman_window", {}),
    ("bartlett_window", {}),
    ("kaiser_window", {}),
    ("kaiser_window", {"beta": 5.0}),
]


@pytest.mark.parametrize("name,kw", WINDOWS)
def test_windows_match_torch(name, kw):
    for n, periodic in itertools.product([0, 1, 2, 5, 8, 13], [True, False]):
        for pdt, tdt, tol in ((P.float64, torch.float64, 1e-12), (None, None, 1e-6)):
            got = getattr(P, name)(n, periodic, dtype=pdt, **kw)
            want = getattr(torch, name)(n, periodic, dtype=tdt, **kw)
            assert got.dtype == (np.float64 if pdt else np.float32)
            np.testing.assert_allclose(got.numpy(), want.numpy(), atol=tol)


def test_windows_textbook_formulas():
    n = np.arange(9)
    N = 9
    c = np.cos(2 * np.pi * n / (N - 1))
    sym = dict(dtype=P.float64, periodic=False)
    np.testing.assert_allclose(P.hann_window(9, **sym).numpy(), 0.5 - 0.5 * c)
    np.testing.assert_allclose(P.hamming_window(9, **sym).numpy(), 0.54 - 0.46 * c)
    c2 = np.cos(4 * np.pi * n / (N - 1))
    np.testing.assert_allclose(
        P.blackman_window(9, **sym).numpy(), 0.42 - 0.5 * c + 0.08 * c2, atol=1e-15
    )
    np.testing.assert_allclose(P.bartlett_window(9, **sym).numpy(), np.bartlett(9))
    np.testing.assert_allclose(P.kaiser_window(9, beta=7.0, **sym).numpy(), np.kaiser(9, 7.0))
    # periodic: the symmetric window of N + 1 points without its last
    np.testing.assert_allclose(P.hann_window(8, dtype=P.float64).numpy(), np.hanning(9)[:8])
    w = P.hann_window(4, requires_grad=True)
    assert w.requires_grad and w.is_leaf


def test_window_bad_arguments():
    with pytest.raises(TypeError, match="hann_window: expects a floating point dtype"):
        P.hann_window(4, dtype=P.int64)
    with pytest.raises(ValueError, match="kaiser_window: window_length must be non-negative"):
        P.kaiser_window(-1)


def _stft_case(x, w, **kw):
    tx, px = torch.tensor(x, requires_grad=True), P.tensor(x, requires_grad=True)
    tw = None if w is None else torch.tensor(w, requires_grad=True)
    pw = None if w is None else P.tensor(w, requires_grad=True)
    to, po = torch.stft(tx, window=tw, **kw), P.stft(px, window=pw, **kw)
    assert po.shape == tuple(to.shape)
    np.testing.assert_allclose(po.detach().numpy(), to.detach().numpy(), atol=1e-10)
    r = np.random.default_rng(3).standard_normal((*to.shape, 2))
    (torch.view_as_real(to) * torch.tensor(r)).sum().backward()
    (P.view_as_real(po) * P.tensor(r)).sum().backward()
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), atol=1e-10)
    if w is not None:
        np.testing.assert_allclose(pw.grad.numpy(), tw.grad.numpy(), atol=1e-10)
    return to.detach().numpy()


def _istft_case(spec, w, **kw):
    ts, ps = torch.tensor(spec, requires_grad=True), P.tensor(spec, requires_grad=True)
    tw = None if w is None else torch.tensor(w)
    pw = None if w is None else P.tensor(w)
    to, po = torch.istft(ts, window=tw, **kw), P.istft(ps, window=pw, **kw)
    assert po.shape == tuple(to.shape)
    np.testing.assert_allclose(po.detach().numpy(), to.detach().numpy(), atol=1e-9)
    r = np.random.default_rng(4).standard_normal(to.shape)
    (to * torch.tensor(r)).sum().backward()
    (po * P.tensor(r)).sum().backward()
    np.testing.assert_allclose(ps.grad.numpy(), ts.grad.resolve_conj().numpy(), atol=1e-9)


@pytest.mark.parametrize("n_fft,hop,win", [(8, None, None), (8, 3, 6), (7, 2, None), (7, 3, 6)])
@pytest.mark.parametrize("center,pad_mode", [(True, "reflect"), (True, "constant"), (False, "")])
@pytest.mark.parametrize("normalized,onesided", [(False, None), (True, None), (False, False)])
def test_stft_and_istft_match_torch(n_fft, hop, win, center, pad_mode, normalized, onesided):
    rng = np.random.default_rng(0)
    for shape, w in (((37,), np.hanning(win or n_fft) + 0.1), ((2, 30), None)):
        x = rng.standard_normal(shape)
        kw = dict(n_fft=n_fft, hop_length=hop, win_length=win, center=center)
        kw.update(normalized=normalized, onesided=onesided)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch and pydlk warn about a missing window
            spec = _stft_case(x, w, pad_mode=pad_mode or "reflect", return_complex=True, **kw)
            for length in (None, shape[-1] - 3, shape[-1] + 2):
                try:
                    torch.istft(torch.tensor(spec), window=None if w is None else torch.tensor(w),
                                length=length, **kw)  # fmt: skip
                except RuntimeError:  # NOLA fails (hop too long for the window): both refuse
                    with pytest.raises(ValueError, match="NOLA"):
                        P.istft(P.tensor(spec), window=None if w is None else P.tensor(w),
                                length=length, **kw)  # fmt: skip
                    continue
                _istft_case(spec, w, length=length, **kw)


def test_stft_complex_input_realview_and_align_to_window():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(30) + 1j * rng.standard_normal(30)
    w = np.hanning(8) + 0.1
    spec = _stft_case(x, w, n_fft=8, hop_length=3)  # complex input: two-sided, complex out
    assert spec.shape == (8, 11)
    ps = P.istft(P.tensor(spec), 8, 3, window=P.tensor(w), return_complex=True)
    np.testing.assert_allclose(ps.numpy(), x[: ps.shape[0]], atol=1e-12)
    _stft_case(x.real, w[:6], n_fft=8, hop_length=3, win_length=6, center=False,
               return_complex=True, align_to_window=True)  # fmt: skip
    with pytest.warns(UserWarning, match="return_complex=False is deprecated"):
        r = P.stft(P.tensor(x.real), 8, 3, window=P.tensor(w), return_complex=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = torch.stft(torch.tensor(x.real), 8, 3, window=torch.tensor(w), return_complex=False)
    np.testing.assert_allclose(r.numpy(), want.numpy(), atol=1e-12)


def test_round_trip_float32_methods():
    P.manual_seed(0)
    x = P.randn(3, 1000)
    w = P.hann_window(256)
    spec = x.stft(256, 64, window=w, return_complex=True)
    assert spec.dtype == np.complex64 and spec.shape == (3, 129, 16)
    y = spec.istft(256, 64, window=w, length=1000)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), x.numpy(), atol=1e-5)


def test_stft_bad_arguments():
    x = P.randn(64)
    with pytest.raises(ValueError, match="stft: requires the return_complex"):
        P.stft(x, 16, window=P.hann_window(16))
    with pytest.warns(UserWarning, match="window was not provided"):
        P.stft(x, 16, return_complex=True)
    with pytest.raises(ValueError, match="stft: expected a 1D window tensor of size"):
        P.stft(x, 16, window=P.hann_window(8), return_complex=True)
    with pytest.raises(ValueError, match="stft: expected 0 < win_length <= n_fft"):
        P.stft(x, 16, win_length=20, window=P.hann_window(20), return_complex=True)
    with pytest.raises(ValueError, match="align_to_window should only be set when center=False"):
        P.stft(x, 16, window=P.hann_window(16), return_complex=True, align_to_window=True)
    with pytest.raises(TypeError, match="istft: requires a complex-valued input"):
        P.istft(P.randn(9, 5), 16)
    with pytest.raises(ValueError, match="istft: expected the frequency dim"):
        P.istft(P.randn(7, 5, dtype=P.complex64), 16, window=P.hann_window(16))


def test_gpu_matches_cpu():
    cp = cupy_or_skip()
    x = np.random.default_rng(0).standard_normal((2, 200))
    outs = []
    for dev in ("cpu", "cuda"):
        t = P.tensor(cp.asarray(x) if dev == "cuda" else x, requires_grad=True)
        w = P.hann_window(32, dtype=P.float64, device=dev)
        spec = P.stft(t, 32, 8, window=w, return_complex=True)
        y = P.istft(spec * 2, 32, 8, window=w, length=200)
        (y * y).sum().backward()
        assert y.device.type == dev
        outs.append((host(spec), host(y), host(t.grad)))
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-10)
