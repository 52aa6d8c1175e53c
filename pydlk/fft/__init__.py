"""torch.fft: discrete Fourier transforms under torch's names, arguments and dtypes.

``fft``/``ifft``, ``fft2``/``ifft2``, ``fftn``/``ifftn`` transform complex (or real, promoted)
tensors; ``rfft*`` take real input and keep the non-negative frequencies, ``irfft*`` invert
them; ``hfft*``/``ihfft*`` are the Hermitian-signal pair. float32 gives complex64 and float64
complex128; integer input becomes float32. ``n``/``s`` zero-pad or trim the signal, ``norm``
is None/"backward" (inverse scaled by 1/n), "ortho" (both by 1/sqrt(n)) or "forward".

NumPy's pocketfft (``numpy.fft``) runs them on the CPU and cuFFT (``cupy.fft``) on CuPy arrays.
All are differentiable, to any order, with torch's complex gradient convention; the one-sided
transforms' gradients carry torch's Hermitian weighting. Argument errors are ValueError (torch:
RuntimeError), dtype errors TypeError.
"""

from ._freq import fftfreq, fftshift, ifftshift, rfftfreq
from ._transforms import (
    fft,
    fft2,
    fftn,
    hfft,
    hfft2,
    hfftn,
    ifft,
    ifft2,
    ifftn,
    ihfft,
    ihfft2,
    ihfftn,
    irfft,
    irfft2,
    irfftn,
    rfft,
    rfft2,
    rfftn,
)

__all__ = [
    "fft",
    "ifft",
    "fft2",
    "ifft2",
    "fftn",
    "ifftn",
    "rfft",
    "irfft",
    "rfft2",
    "irfft2",
    "rfftn",
    "irfftn",
    "hfft",
    "ihfft",
    "hfft2",
    "ihfft2",
    "hfftn",
    "ihfftn",
    "fftfreq",
    "rfftfreq",
    "fftshift",
    "ifftshift",
]
