"""The short-time Fourier transform and its inverse, under torch's names and arguments:
``stft`` cuts (optionally padded) signals into windowed frames ``hop_length`` apart and
Fourier-transforms each; ``istft`` inverse-transforms the frames and overlap-adds them, dividing
by the summed squared window. Both are compositions of differentiable ops (pad, unfold, the
pydlk.fft transforms, index_add), so gradients reach the signal and the window.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..autograd import Tensor
from ._helpers import _t
from .complex_ops import view_as_real
from .factories import arange, ones, zeros


def _sizes(op: str, n_fft: int, hop_length: int | None, win_length: int | None) -> tuple[int, int]:
    if n_fft <= 0:
        raise ValueError(f"{op}: expected 0 < n_fft, got n_fft={n_fft}")
    hop = n_fft // 4 if hop_length is None else hop_length
    win = n_fft if win_length is None else win_length
    if hop <= 0:
        raise ValueError(f"{op}: expected hop_length > 0, got hop_length={hop}")
    if not 0 < win <= n_fft:
        raise ValueError(f"{op}: expected 0 < win_length <= n_fft, got win_length={win}")
    return hop, win


def _window(op: str, window: Tensor | None, win: int, n_fft: int, like: Tensor) -> Tensor:
    """The window, ones when None, checked and zero-padded on both sides to n_fft."""
    from ..functional import pad

    if window is None:
        w = ones(win, dtype=like.real.dtype if like.is_complex() else like.dtype)
        w = w.to(like.device)
    else:
        w = _t(window)
        if w.ndim != 1 or w.shape[0] != win:
            raise ValueError(
                f"{op}: expected a 1D window tensor of size equal to win_length={win}, "
                f"but got window with size {tuple(w.shape)}"
            )
    left = (n_fft - win) // 2
    return pad(w, [left, n_fft - win - left]) if win < n_fft else w


def stft(
    input: Tensor,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: Tensor | None = None,
    center: bool = True,
    pad_mode: str = "reflect",
    normalized: bool = False,
    onesided: bool | None = None,
    return_complex: bool | None = None,
    align_to_window: bool | None = None,
) -> Tensor:
    """The short-time Fourier transform of a signal (L) or a batch of signals (B, L):
    ``X[w, m] = sum_k window[k] x[m hop + k] exp(-2 pi i w k / n_fft)``, shape (B?, N, T).

    ``hop_length`` defaults to n_fft // 4, ``win_length`` to n_fft (a shorter window is padded
    on both sides to n_fft); ``center`` pads the input by n_fft // 2 on both sides with
    ``pad_mode`` so frame t is centered at t hop; ``normalized`` scales by n_fft^-0.5;
    ``onesided`` (default for real input and window) keeps the n_fft // 2 + 1 non-negative
    frequencies. As torch 2.13, a real input needs ``return_complex`` (ValueError here, torch:
    RuntimeError), ``return_complex=False`` (a real (..., 2) result) warns that it is
    deprecated, a missing window warns and means ones; ``align_to_window=True`` (only with
    center=False) starts each window, rather than each n_fft frame, at t hop.
    """
    from .. import fft
    from ..functional import pad

    x = _t(input)
    if x.ndim not in (1, 2):
        raise ValueError(f"stft: expected a 1D or 2D input (B?, L), got shape {tuple(x.shape)}")
    if center and align_to_window is not None:
        raise ValueError("stft: align_to_window should only be set when center=False")
    hop, win = _sizes("stft", n_fft, hop_length, win_length)
    complex_in = x.is_complex() or (window is not None and _t(window).is_complex())
    if return_complex is None:
        if not complex_in:
            raise ValueError(
                "stft: requires the return_complex parameter be given for real inputs "
                "(return_complex=True gives a complex tensor, as torch will require)"
            )
        return_complex = True
    if not return_complex:
        warnings.warn(
            "stft with return_complex=False is deprecated (as in torch); use "
            "return_complex=True and view_as_real for the (..., 2) layout",
            UserWarning,
            stacklevel=2,
        )
    if window is None:
        warnings.warn(
            "stft: a window was not provided, so a rectangular window is applied, which is "
            "known to cause spectral leakage (pass e.g. window=pydlk.hann_window(n_fft))",
            UserWarning,
            stacklevel=2,
        )
    if onesided is None:
        onesided = not complex_in
    elif onesided and complex_in:
        raise ValueError("stft: cannot have onesided output if window or input is complex")
    w = _window("stft", window, win, n_fft, x)
    batched = x.ndim == 2
    if not batched:
        x = x.unsqueeze(0)
    if center:
        x = pad(x, [n_fft // 2, n_fft // 2], pad_mode)
    elif align_to_window:  # the window (not the n_fft frame) starts at t * hop
        left = (n_fft - win) // 2
        x = pad(x, [left, n_fft - win - left])
    if x.shape[-1] < n_fft:
        raise ValueError(
            f"stft: expected 0 < n_fft <= {x.shape[-1]} (the padded input length), got {n_fft}"
        )
    frames = x.unfold(-1, n_fft, hop) * w  # (B, T, n_fft)
    norm = "ortho" if normalized else "backward"
    spec = fft.rfft(frames, norm=norm) if onesided else fft.fft(frames, norm=norm)
    spec = spec.transpose(-1, -2)  # (B, N, T)
    if not batched:
        spec = spec.squeeze(0)
    return spec if return_complex else view_as_real(spec)


def istft(
    input: Tensor,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: Tensor | None = None,
    center: bool = True,
    normalized: bool = False,
    onesided: bool | None = None,
    length: int | None = None,
    return_complex: bool = False,
) -> Tensor:
    """The inverse of ``stft``: a complex (B?, N, T) spectrogram back to signals (B?, L).

    Each frame is inverse-transformed (``irfft`` for a real result, one-sided by default when
    N != n_fft), multiplied by the window and overlap-added; the sum is divided by the summed
    squared window, which must not vanish anywhere (the NOLA condition; ValueError otherwise).
    ``center`` removes the n_fft // 2 samples ``stft`` padded at each end; ``length`` trims or
    zero-pads the result to that many samples. A real input raises TypeError (torch 2.x
    takes only complex input).
    """
    x = _t(input)
    if not x.is_complex():
        raise TypeError(
            "istft: requires a complex-valued input tensor (view_as_complex turns a (..., 2) "
            f"real one into it), got {x.dtype}"
        )
    if x.ndim not in (2, 3):
        raise ValueError(f"istft: expected a 2D or 3D input (B?, N, T), got shape {x.shape}")
    hop, win = _sizes("istft", n_fft, hop_length, win_length)
    w = _window("istft", window, win, n_fft, x)
    batched = x.ndim == 3
    if not batched:
        x = x.unsqueeze(0)
    n_freq, n_frames = x.shape[-2], x.shape[-1]
    if onesided is None:
        onesided = n_freq != n_fft
    want = n_fft // 2 + 1 if onesided else n_fft
    if n_freq != want:
        raise ValueError(
            f"istft: expected the frequency dim (the 3rd from last) of input to be {want} "
            f"(n_fft={n_fft}, onesided={onesided}), got {n_freq}"
        )
    norm = "ortho" if normalized else "backward"
    spec = x.transpose(-1, -2)  # (B, T, N)
    frames = _frames(spec, n_fft, norm, onesided, return_complex, w)
    frames = frames * w  # (B, T, n_fft)
    total = n_fft + hop * (n_frames - 1)
    # frame t, sample k lands at t * hop + k
    index = (arange(n_frames)[:, None] * hop + arange(n_fft)[None, :]).reshape(-1)
    index = index.to(frames.device)
    batch = frames.shape[0]
    y = zeros(batch, total, dtype=frames.dtype, device=frames.device)
    y = y.index_add(-1, index, frames.reshape(batch, -1))
    envelope = zeros(total, dtype=w.dtype, device=w.device)
    envelope = envelope.index_add(0, index, (w * w).expand(n_frames, n_fft).reshape(-1))
    start = n_fft // 2 if center else 0
    if length is not None:
        end = min(start + length, total)
    else:
        end = total - n_fft // 2 if center else total
    y, envelope = y[..., start:end], envelope[start:end]
    if bool((envelope.abs() < 1e-11).any()):
        raise ValueError(
            "istft: window overlap add min: 1e-11; the window's squares overlap-add to zero "
            "somewhere (the NOLA condition fails: use another window or a shorter hop)"
        )
    y = y / envelope
    if length is not None and y.shape[-1] < length:
        from ..functional import pad

        y = pad(y, [0, length - y.shape[-1]])
    return y if batched else y.squeeze(0)


def _frames(spec: Tensor, n_fft: int, norm: str, onesided: bool, complex_out: bool, w: Any) -> Any:
    from .. import fft

    if complex_out:
        if onesided:
            raise ValueError(
                "istft: cannot have onesided output if window or input is complex "
                "(return_complex=True needs onesided=False)"
            )
        return fft.ifft(spec, n=n_fft, norm=norm)
    if w.is_complex():
        raise ValueError("istft: complex windows need return_complex=True")
    if not onesided:
        spec = spec[..., : n_fft // 2 + 1]
    return fft.irfft(spec, n=n_fft, norm=norm)
