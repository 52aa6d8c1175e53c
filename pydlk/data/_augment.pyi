"""Types of the compiled batch-augmentation loops (pydlk/data/_augment.pyx).

Arrays are C-contiguous: images float32 (N, C, H, W), per-sample parameters int64, uint8 or
float64 vectors of length N. Each function writes ``out`` and returns None.
"""

import numpy as np
import numpy.typing as npt

_F32 = npt.NDArray[np.float32]
_I64 = npt.NDArray[np.int64]
_U8 = npt.NDArray[np.uint8]
_F64 = npt.NDArray[np.float64]

def crop(x: _F32, out: _F32, top: _I64, left: _I64, pad: int, num_threads: int) -> None: ...
def hflip(x: _F32, out: _F32, flip: _U8, num_threads: int) -> None: ...
def affine(x: _F32, out: _F32, angle: _F64, tx: _F64, ty: _F64, num_threads: int) -> None: ...
def resized_crop(
    x: _F32, out: _F32, top: _I64, left: _I64, height: _I64, width: _I64, num_threads: int
) -> None: ...
def color_jitter(
    x: _F32, out: _F32, brightness: _F64, contrast: _F64, saturation: _F64, num_threads: int
) -> None: ...
def add_channel_offset(x: _F32, out: _F32, offset: _F64, num_threads: int) -> None: ...
def gaussian_noise(
    x: _F32, out: _F32, std: float, seed: int, offset: int, num_threads: int
) -> None: ...
def cutout(
    x: _F32, out: _F32, cy: _I64, cx: _I64, apply: _U8, size: int, num_threads: int
) -> None: ...
