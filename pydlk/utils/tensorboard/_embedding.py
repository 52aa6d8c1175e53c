"""The projector plugin's files, as torch's writer writes them: ``<step>/<tag>/tensors.tsv``
(one row per point), ``metadata.tsv`` (labels, or a header row and columns), ``sprite.png``
(the label images tiled in a square) and the log dir's ``projector_config.pbtxt`` listing every
embedding. Paths go through tensorboard's ``gfile``, as the event files do."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from tensorboard.compat import tf
from tensorboard.plugins.projector.projector_config_pb2 import EmbeddingInfo

from ._convert import ArgumentError, encode_png, make_grid, make_np

_HAS_GFILE_JOIN = hasattr(tf.io.gfile, "join")


def _gfile_join(a: str, b: str) -> str:
    # tensorboard's TF stub and TF itself spell join differently
    if _HAS_GFILE_JOIN:
        return tf.io.gfile.join(a, b)
    return tf.io.gfile.get_filesystem(a).join(a, b)


def _write(path: str, data: bytes) -> None:
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(data)


def make_tsv(metadata: Any, save_path: str, metadata_header: Any = None) -> None:
    """``metadata.tsv``: one label a line, or with ``metadata_header`` a header row and one
    tab-separated row of columns per point."""
    if not metadata_header:
        lines = [str(x) for x in metadata]
    else:
        if len(metadata_header) != len(metadata[0]):
            raise ArgumentError(
                f"add_embedding: metadata_header has {len(metadata_header)} columns but "
                f"metadata rows have {len(metadata[0])}"
            )
        lines = ["\t".join(str(e) for e in row) for row in [metadata_header] + list(metadata)]
    _write(_gfile_join(save_path, "metadata.tsv"), tf.compat.as_bytes("\n".join(lines) + "\n"))


def make_sprite(label_img: np.ndarray, save_path: str) -> None:
    """``sprite.png``: the ``(N, C, H, W)`` label images (float in [0, 1]) tiled
    ``ceil(sqrt(N))`` a row on a square black canvas."""
    nrow = math.ceil(label_img.shape[0] ** 0.5)
    grid_chw = make_grid(label_img, ncols=nrow, where="add_embedding: label_img")
    square = np.zeros((grid_chw.shape[2], grid_chw.shape[2], 3))
    grid_hwc = grid_chw.transpose(1, 2, 0)
    square[: grid_hwc.shape[0], :, :] = grid_hwc
    pixels = np.uint8((square * 255).clip(0, 255))
    _write(_gfile_join(save_path, "sprite.png"), encode_png(pixels))


def get_embedding_info(
    metadata: Any, label_img: np.ndarray | None, subdir: str, global_step: int, tag: str
) -> EmbeddingInfo:
    """The projector config's entry for one embedding."""
    info = EmbeddingInfo()
    info.tensor_name = f"{tag}:{str(global_step).zfill(5)}"
    info.tensor_path = _gfile_join(subdir, "tensors.tsv")
    if metadata is not None:
        info.metadata_path = _gfile_join(subdir, "metadata.tsv")
    if label_img is not None:
        info.sprite.image_path = _gfile_join(subdir, "sprite.png")
        info.sprite.single_image_dim.extend([label_img.shape[3], label_img.shape[2]])
    return info


def write_pbtxt(save_path: str, contents: str) -> None:
    """``projector_config.pbtxt`` in ``save_path``."""
    _write(_gfile_join(save_path, "projector_config.pbtxt"), tf.compat.as_bytes(contents))


def make_mat(matlist: np.ndarray, save_path: str) -> None:
    """``tensors.tsv``: one tab-separated row per point, each number as Python prints it."""
    with tf.io.gfile.GFile(_gfile_join(save_path, "tensors.tsv"), "wb") as f:
        for x in matlist:
            f.write(tf.compat.as_bytes("\t".join(str(i.item()) for i in x) + "\n"))


def encode_tag(rawstr: str) -> str:
    """``tag`` made safe as a directory name (``%``, ``/`` and ``\\`` percent-encoded)."""
    return rawstr.replace("%", "%25").replace("/", "%2f").replace("\\", "%5c")


def label_images(label_img: Any) -> np.ndarray:
    """``label_img`` as an ``(N, C, H, W)`` NumPy array."""
    a = make_np(label_img, "add_embedding: label_img")
    if a.ndim != 4:
        raise ArgumentError(f"add_embedding: label_img should be (N, C, H, W), got {a.shape}")
    return a
