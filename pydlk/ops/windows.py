"""Window functions under torch's names and arguments: hann, hamming, blackman, bartlett and
kaiser windows for ``stft``, filters and spectral estimates.

A symmetric window of N points is the textbook formula over n = 0 .. N-1 (with N - 1 in the
denominators); ``periodic=True`` (the default, what ``stft`` wants) computes N + 1 points and
drops the last, so that the window repeats with period N. A window of 1 point is [1]. The
values are computed in float64 and rounded once to ``dtype`` (float32 by default).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._typing import DeviceLike, DTypeLike
from ..autograd import Tensor
from .factories import _new


def _window(
    op: str,
    window_length: int,
    periodic: bool,
    formula: Callable[[np.ndarray, int], np.ndarray],
    dtype: DTypeLike | None,
    device: DeviceLike | None,
    requires_grad: bool,
) -> Tensor:
    if isinstance(window_length, bool) or not isinstance(window_length, (int, np.integer)):
        raise TypeError(f"{op}: window_length must be an int, got {window_length!r}")
    if window_length < 0:
        raise ValueError(f"{op}: window_length must be non-negative, got {window_length}")
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt.kind != "f":
        raise TypeError(f"{op}: expects a floating point dtype, got {dt}")
    if window_length <= 1:
        w = np.ones(window_length)
    else:
        m = window_length + 1 if periodic else window_length  # the symmetric window's size
        w = formula(np.arange(m, dtype=np.float64), m)[:window_length]
    return _new(w.astype(dt), device, requires_grad)


def hann_window(
    window_length: int,
    periodic: bool = True,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """The Hann window ``0.5 - 0.5 cos(2 pi n / (N - 1))``."""
    return _window(
        "hann_window",
        window_length,
        periodic,
        lambda n, m: 0.5 - 0.5 * np.cos(2 * np.pi * n / (m - 1)),
        dtype,
        device,
        requires_grad,
    )


def hamming_window(
    window_length: int,
    periodic: bool = True,
    alpha: float = 0.54,
    beta: float = 0.46,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """The Hamming window ``alpha - beta cos(2 pi n / (N - 1))``."""
    return _window(
        "hamming_window",
        window_length,
        periodic,
        lambda n, m: alpha - beta * np.cos(2 * np.pi * n / (m - 1)),
        dtype,
        device,
        requires_grad,
    )


def blackman_window(
    window_length: int,
    periodic: bool = True,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """The Blackman window ``0.42 - 0.5 cos(2 pi n / (N - 1)) + 0.08 cos(4 pi n / (N - 1))``."""
    return _window(
        "blackman_window",
        window_length,
        periodic,
        lambda n, m: (
            0.42 - 0.5 * np.cos(2 * np.pi * n / (m - 1)) + 0.08 * np.cos(4 * np.pi * n / (m - 1))
        ),
        dtype,
        device,
        requires_grad,
    )


def bartlett_window(
    window_length: int,
    periodic: bool = True,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """The Bartlett (triangular) window ``1 - |2 n / (N - 1) - 1|``."""
    return _window(
        "bartlett_window",
        window_length,
        periodic,
        lambda n, m: 1 - np.abs(2 * n / (m - 1) - 1),
        dtype,
        device,
        requires_grad,
    )


def kaiser_window(
    window_length: int,
    periodic: bool = True,
    beta: float = 12.0,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """The Kaiser window ``I0(beta sqrt(1 - (2 n / (N - 1) - 1)^2)) / I0(beta)``, I0 the
    modified Bessel function of the first kind of order 0."""
    return _window(
        "kaiser_window",
        window_length,
        periodic,
        lambda n, m: (
            np.i0(beta * np.sqrt(np.clip(1 - (2 * n / (m - 1) - 1) ** 2, 0, 1))) / np.i0(beta)
        ),
        dtype,
        device,
        requires_grad,
    )
