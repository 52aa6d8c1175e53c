"""What the summaries are made of: pydlk Tensors, arrays and numbers as NumPy arrays
(``make_np``, GPU tensors copied to the host), image layouts (``convert_to_HWC``, ``make_grid``),
video frames laid out as a grid, matplotlib figures as pixels, and PNG bytes (Pillow when it is
installed, else a small zlib encoder). Nothing here imports tensorboard."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

from ..._backend import host_array, is_cupy

__all__ = [
    "ArgumentError",
    "ArgumentTypeError",
    "convert_to_HWC",
    "encode_png",
    "figure_to_image",
    "make_grid",
    "make_np",
]


class ArgumentError(ValueError, AssertionError):
    """A bad value given to a ``SummaryWriter`` method. torch's writer raises
    ``AssertionError`` in these places; this is a ``ValueError`` and an ``AssertionError``,
    so code written against either catches it."""


class ArgumentTypeError(TypeError, NotImplementedError):
    """An argument of a type the writer cannot convert to an array (torch's writer raises
    ``NotImplementedError``); a ``TypeError`` and a ``NotImplementedError``."""


def _host(x: Any, where: str) -> np.ndarray:
    """``x`` as a NumPy array on the host, dtype kept (bfloat16 too)."""
    from ...autograd import Tensor

    if isinstance(x, np.ndarray):
        return x
    if np.isscalar(x):
        return np.array([x])
    if isinstance(x, Tensor):
        return host_array(x.detach()._data)
    if is_cupy(x):
        return host_array(x)
    raise ArgumentTypeError(
        f"{where}: got {type(x).__name__}, expected a pydlk Tensor, a NumPy array or a number"
    )


def make_np(x: Any, where: str = "make_np") -> np.ndarray:
    """``x`` (a pydlk Tensor on any device, a NumPy or CuPy array, a number) as a NumPy array,
    as torch's ``make_np``: a number becomes a 1-element array and bfloat16 becomes float16.
    ``where`` names the method and argument in the error for anything else."""
    a = _host(x, where)
    if a.dtype.name == "bfloat16":
        a = a.astype(np.float16)
    return a


def make_grid(I: np.ndarray, ncols: int = 8, where: str = "make_grid") -> np.ndarray:
    """Tile a batch ``(N, 1 or 3, H, W)`` into one ``(3, H * rows, W * cols)`` image, ``ncols``
    images a row (fewer when N is smaller), as torch's writer does."""
    if not isinstance(I, np.ndarray):
        raise ArgumentTypeError("make_grid: expected a NumPy array")
    if I.ndim == 4 and I.shape[1] == 1:
        I = np.concatenate([I, I, I], 1)
    if I.ndim != 4 or I.shape[1] != 3:
        raise ArgumentError(
            f"{where}: expected a batch of images (N, C, H, W) with 1 or 3 channels, "
            f"got shape {I.shape}"
        )
    nimg, _, H, W = I.shape
    ncols = min(nimg, ncols)
    nrows = int(np.ceil(float(nimg) / ncols))
    canvas = np.zeros((3, H * nrows, W * ncols), dtype=I.dtype)
    for i in range(nimg):
        y, x = divmod(i, ncols)
        canvas[:, y * H : (y + 1) * H, x * W : (x + 1) * W] = I[i]
    return canvas


def convert_to_HWC(tensor: np.ndarray, input_format: str, where: str = "image") -> np.ndarray:
    """An image in ``input_format`` (a permutation of CHW, HWC, HW, or NCHW for a batch, tiled
    by :func:`make_grid`) as ``(H, W, C)`` with C 3 (or 4 for RGBA; 1-channel images are
    repeated to 3), as torch's writer lays images out."""
    if not isinstance(input_format, str) or len(set(input_format)) != len(input_format):
        raise ArgumentError(f"{where}: dataformats may use each letter once, got {input_format!r}")
    if tensor.ndim != len(input_format):
        raise ArgumentError(
            f"{where}: dataformats {input_format!r} has {len(input_format)} dimensions "
            f"but the image has shape {tensor.shape}"
        )
    fmt = input_format.upper()
    wanted = {4: "NCHW", 3: "HWC", 2: "HW"}.get(len(fmt))
    if wanted is None or set(fmt) != set(wanted):
        raise ArgumentError(
            f"{where}: dataformats must be a permutation of NCHW, CHW/HWC or HW, "
            f"got {input_format!r}"
        )
    index = [fmt.find(c) for c in wanted]
    if len(fmt) == 4:
        return make_grid(tensor.transpose(index), where=where).transpose(1, 2, 0)
    if len(fmt) == 3:
        hwc = tensor.transpose(index)
        if hwc.shape[2] == 1:
            hwc = np.concatenate([hwc, hwc, hwc], 2)
        return hwc
    hw = tensor.transpose(index)
    return np.stack([hw, hw, hw], 2)


def figure_to_image(figures: Any, close: bool = True) -> np.ndarray:
    """Render a matplotlib figure to a ``(3, H, W)`` uint8 array (a list of figures to
    ``(N, 3, H, W)``) with the Agg canvas, closing the figures if ``close``."""
    import matplotlib.backends.backend_agg as plt_backend_agg
    import matplotlib.pyplot as plt

    def render_to_rgb(figure):
        canvas = plt_backend_agg.FigureCanvasAgg(figure)
        canvas.draw()
        data = np.frombuffer(canvas.buffer_rgba(), dtype=np.uint8)
        w, h = figure.canvas.get_width_height()
        image_chw = np.moveaxis(data.reshape([h, w, 4])[:, :, 0:3], source=2, destination=0)
        if close:
            plt.close(figure)
        return image_chw

    if isinstance(figures, list):
        return np.stack([render_to_rgb(f) for f in figures])
    return render_to_rgb(figures)


def prepare_video(V: np.ndarray) -> np.ndarray:
    """``(B, T, C, H, W)`` videos as ``(T, H', W', C)`` frames, the batch padded with black
    videos to a power of two and tiled as a grid (as torch's writer)."""
    b, t, c, h, w = V.shape
    if V.dtype == np.uint8:
        V = np.float32(V) / 255.0
    if b & (b - 1):  # not a power of two: pad the batch up to one
        pad = int(2 ** b.bit_length() - b)
        V = np.concatenate((V, np.zeros(shape=(pad, t, c, h, w))), axis=0)
    n_rows = 2 ** ((b.bit_length() - 1) // 2)
    n_cols = V.shape[0] // n_rows
    V = np.reshape(V, (n_rows, n_cols, t, c, h, w))
    V = np.transpose(V, axes=(2, 0, 4, 1, 5, 3))
    return np.reshape(V, (t, n_rows * h, n_cols * w, c))


def _pil_image() -> Any:
    """PIL.Image, or None when Pillow is not installed."""
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


# PNG colour types by channel count: grey, grey + alpha, RGB, RGBA
_PNG_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}


def _png_zlib(img: np.ndarray) -> bytes:
    """PNG bytes of an ``(H, W, C)`` uint8 image: one IDAT of unfiltered rows (filter 0)."""
    h, w, c = img.shape

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    rows = np.concatenate([np.zeros((h, 1), np.uint8), img.reshape(h, w * c)], axis=1)
    header = struct.pack(">IIBBBBB", w, h, 8, _PNG_COLOR_TYPE[c], 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(np.ascontiguousarray(rows).tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def encode_png(img: np.ndarray, rescale: float = 1, image_module: Any = None) -> bytes:
    """PNG bytes of an ``(H, W, C)`` uint8 image (C in 1..4). With Pillow (``image_module``,
    default ``PIL.Image`` if installed) the bytes are torch's writer's, resized with Lanczos
    when ``rescale != 1``; without it a stdlib zlib encoder writes the same pixels."""
    import io

    if img.ndim != 3 or img.shape[2] not in _PNG_COLOR_TYPE or img.dtype != np.uint8:
        raise ArgumentError(
            f"image: expected (H, W, C) uint8 pixels with C in 1..4, got {img.dtype} {img.shape}"
        )
    Image = _pil_image() if image_module is None else image_module
    if Image is None:
        if rescale != 1:
            raise ImportError("image: rescale != 1 needs Pillow: pip install pillow")
        return _png_zlib(img)
    height, width, _ = img.shape
    image = Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img)
    image = image.resize((int(width * rescale), int(height * rescale)), Image.Resampling.LANCZOS)
    with io.BytesIO() as out:
        image.save(out, format="PNG")
        return out.getvalue()
