"""The ``Summary`` protobufs behind ``SummaryWriter``'s methods (torch's
``torch.utils.tensorboard.summary``, same function names and arguments): scalars, tensors,
histograms, images, audio, video, text, hparams, PR curves, meshes and custom-scalar layouts,
built with the tensorboard package's protobufs. Inputs are pydlk Tensors (on any device), NumPy
arrays or numbers."""

from __future__ import annotations

import json
import struct
import warnings
from typing import Any

import numpy as np
from google.protobuf import struct_pb2
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.pr_curve.plugin_data_pb2 import PrCurvePluginData
from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData

from ._convert import (
    ArgumentError,
    _host,
    _pil_image,
    convert_to_HWC,
    encode_png,
    make_np,
    prepare_video,
)

__all__ = [
    "audio",
    "compute_curve",
    "custom_scalars",
    "draw_boxes",
    "half_to_int",
    "histogram",
    "histogram_raw",
    "hparams",
    "image",
    "image_boxes",
    "int_to_half",
    "make_histogram",
    "make_image",
    "make_video",
    "mesh",
    "pr_curve",
    "pr_curve_raw",
    "scalar",
    "tensor_proto",
    "text",
    "video",
]


def half_to_int(f: float) -> int:
    """The int32 bit pattern of ``f`` packed as a float32: what torch's writer stores in a
    TensorProto's ``half_val`` for float16 and bfloat16 values (:func:`int_to_half` undoes
    it)."""
    return struct.unpack("i", struct.pack("f", f))[0]


def int_to_half(i: int) -> float:
    """The float whose float32 bit pattern is ``i`` (the inverse of :func:`half_to_int`)."""
    return struct.unpack("f", struct.pack("i", i))[0]


def _to_half_val(a: np.ndarray) -> list[int]:
    return [half_to_int(x) for x in a.astype(np.float32).reshape(-1).tolist()]


def _to_complex_val(a: np.ndarray) -> list[float]:
    return np.stack([a.real, a.imag], -1).reshape(-1).tolist()


def _to_list(a: np.ndarray) -> list[Any]:
    return a.reshape(-1).tolist()


# NumPy dtype name -> (TensorProto dtype, value field, conversion), torch's table
_TENSOR_TYPE_MAP = {
    "float16": ("DT_HALF", "half_val", _to_half_val),
    "bfloat16": ("DT_BFLOAT16", "half_val", _to_half_val),
    "float32": ("DT_FLOAT", "float_val", _to_list),
    "float64": ("DT_DOUBLE", "double_val", _to_list),
    "int8": ("DT_INT8", "int_val", _to_list),
    "int16": ("DT_INT16", "int_val", _to_list),
    "int32": ("DT_INT32", "int_val", _to_list),
    "int64": ("DT_INT64", "int64_val", _to_list),
    "uint8": ("DT_UINT8", "uint32_val", _to_list),
    "complex64": ("DT_COMPLEX64", "scomplex_val", _to_complex_val),
    "complex128": ("DT_COMPLEX128", "dcomplex_val", _to_complex_val),
    "bool": ("DT_BOOL", "bool_val", _to_list),
}


def _calc_scale_factor(a: np.ndarray) -> int:
    return 1 if a.dtype == np.uint8 else 255


def hparams(
    hparam_dict: Any = None, metric_dict: Any = None, hparam_domain_discrete: Any = None
) -> tuple[Summary, Summary, Summary]:
    """The three summaries of the hparams plugin: the experiment (hyperparameter and metric
    names, with the discrete domains given), the session start (the values) and the session end
    (status success). Values are int, float, str, bool (written as numbers, as torch does) or a
    one-element Tensor or array."""
    from tensorboard.plugins.hparams.api_pb2 import (
        DataType,
        Experiment,
        HParamInfo,
        MetricInfo,
        MetricName,
        Status,
    )
    from tensorboard.plugins.hparams.metadata import (
        EXPERIMENT_TAG,
        PLUGIN_DATA_VERSION,
        PLUGIN_NAME,
        SESSION_END_INFO_TAG,
        SESSION_START_INFO_TAG,
    )
    from tensorboard.plugins.hparams.plugin_data_pb2 import (
        HParamsPluginData,
        SessionEndInfo,
        SessionStartInfo,
    )

    from ...autograd import Tensor

    if not isinstance(hparam_dict, dict):
        raise TypeError("add_hparams: hparam_dict should be a dictionary, nothing logged.")
    if not isinstance(metric_dict, dict):
        raise TypeError("add_hparams: metric_dict should be a dictionary, nothing logged.")
    hparam_domain_discrete = hparam_domain_discrete or {}
    if not isinstance(hparam_domain_discrete, dict):
        raise TypeError(
            "add_hparams: hparam_domain_discrete should be a dictionary, nothing logged."
        )
    for k, v in hparam_domain_discrete.items():
        if (
            k not in hparam_dict
            or not isinstance(v, list)
            or not all(isinstance(d, type(hparam_dict[k])) for d in v)
        ):
            raise TypeError(
                f"add_hparams: hparam_domain_discrete[{k}] should be a list of same type as "
                f"hparam_dict[{k}]."
            )

    def discrete(k, field):
        if k not in hparam_domain_discrete:
            return None
        return struct_pb2.ListValue(
            values=[struct_pb2.Value(**{field: d}) for d in hparam_domain_discrete[k]]
        )

    hps = []
    ssi = SessionStartInfo()
    for k, v in hparam_dict.items():
        if v is None:
            continue
        # bool is an int: torch's order of checks writes bools as numbers, and so does this
        if isinstance(v, (int, float)):
            ssi.hparams[k].number_value = v
            hps.append(
                HParamInfo(
                    name=k,
                    type=DataType.Value("DATA_TYPE_FLOAT64"),
                    domain_discrete=discrete(k, "number_value"),
                )
            )
        elif isinstance(v, str):
            ssi.hparams[k].string_value = v
            hps.append(
                HParamInfo(
                    name=k,
                    type=DataType.Value("DATA_TYPE_STRING"),
                    domain_discrete=discrete(k, "string_value"),
                )
            )
        elif isinstance(v, (Tensor, np.ndarray)):
            ssi.hparams[k].number_value = make_np(v, f"add_hparams: hparam_dict[{k!r}]").reshape(
                -1
            )[0]
            hps.append(HParamInfo(name=k, type=DataType.Value("DATA_TYPE_FLOAT64")))
        else:
            raise ValueError(
                f"add_hparams: hparam_dict[{k!r}] should be one of int, float, str, bool, or "
                f"Tensor, got {type(v).__name__}"
            )

    def plugin_summary(tag, **content):
        data = HParamsPluginData(version=PLUGIN_DATA_VERSION, **content)
        smd = SummaryMetadata(
            plugin_data=SummaryMetadata.PluginData(
                plugin_name=PLUGIN_NAME, content=data.SerializeToString()
            )
        )
        return Summary(value=[Summary.Value(tag=tag, metadata=smd)])

    mts = [MetricInfo(name=MetricName(tag=k)) for k in metric_dict]
    exp = plugin_summary(EXPERIMENT_TAG, experiment=Experiment(hparam_infos=hps, metric_infos=mts))
    start = plugin_summary(SESSION_START_INFO_TAG, session_start_info=ssi)
    end = plugin_summary(
        SESSION_END_INFO_TAG, session_end_info=SessionEndInfo(status=Status.Value("STATUS_SUCCESS"))
    )
    return exp, start, end


def scalar(
    name: str,
    tensor: Any,
    collections: Any = None,
    new_style: bool = False,
    double_precision: bool = False,
) -> Summary:
    """A scalar summary of a one-element value: ``simple_value``, or with ``new_style`` a
    float (``double_precision``: double) TensorProto under the scalars plugin."""
    a = make_np(tensor, "add_scalar: scalar_value").squeeze()
    if a.ndim != 0:
        raise ArgumentError(
            f"add_scalar: scalar_value should contain one element (0 dimensions), got "
            f"{a.size} elements and {a.ndim} dimensions"
        )
    value = float(a)
    if not new_style:
        return Summary(value=[Summary.Value(tag=name, simple_value=value)])
    if double_precision:
        proto = TensorProto(double_val=[value], dtype="DT_DOUBLE")
    else:
        proto = TensorProto(float_val=[value], dtype="DT_FLOAT")
    smd = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
    return Summary(value=[Summary.Value(tag=name, tensor=proto, metadata=smd)])


def tensor_proto(tag: str, tensor: Any) -> Summary:
    """The whole tensor as a TensorProto (shape and values in the field torch uses for its
    dtype) under the ``tensor`` plugin."""
    a = _host(tensor, "add_tensor: tensor")
    if a.size * a.itemsize >= (1 << 31):
        raise ValueError(
            f"add_tensor: tensor {tag!r} is bigger than protocol buffer's hard limit of 2GB"
        )
    if a.dtype.name not in _TENSOR_TYPE_MAP:
        raise ValueError(f"add_tensor: tensor {tag!r} has unsupported dtype {a.dtype.name}")
    dtype, field_name, conversion_fn = _TENSOR_TYPE_MAP[a.dtype.name]
    proto = TensorProto(
        dtype=dtype,
        tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=x) for x in a.shape]),
        **{field_name: conversion_fn(a)},
    )
    smd = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="tensor"))
    return Summary(value=[Summary.Value(tag=tag, metadata=smd, tensor=proto)])


def histogram_raw(
    name: str,
    min: float,
    max: float,
    num: int,
    sum: float,
    sum_squares: float,
    bucket_limits: Any,
    bucket_counts: Any,
) -> Summary:
    """A histogram summary from its statistics and buckets (right edges and counts)."""
    hist = HistogramProto(
        min=min,
        max=max,
        num=num,
        sum=sum,
        sum_squares=sum_squares,
        bucket_limit=bucket_limits,
        bucket=bucket_counts,
    )
    return Summary(value=[Summary.Value(tag=name, histo=hist)])


def histogram(name: str, values: Any, bins: Any, max_bins: int | None = None) -> Summary:
    """A histogram summary of ``values`` (any shape) bucketed by ``np.histogram(values,
    bins)``."""
    a = make_np(values, "add_histogram: values")
    return Summary(
        value=[Summary.Value(tag=name, histo=make_histogram(a.astype(float), bins, max_bins))]
    )


def make_histogram(values: np.ndarray, bins: Any, max_bins: int | None = None) -> HistogramProto:
    """The HistogramProto of ``values`` as torch builds it: ``np.histogram``'s counts merged
    down to at most ``max_bins``, trimmed to the buckets that hold values plus one empty bucket
    on the left (TensorBoard keeps only right edges)."""
    if values.size == 0:
        raise ValueError("add_histogram: values has no element")
    values = values.reshape(-1)
    counts, limits = np.histogram(values, bins=bins)
    num_bins = len(counts)
    if max_bins is not None and num_bins > max_bins:
        subsampling = num_bins // max_bins
        remainder = num_bins % subsampling
        if remainder != 0:
            counts = np.pad(counts, pad_width=[[0, subsampling - remainder]], mode="constant")
        counts = counts.reshape(-1, subsampling).sum(axis=-1)
        new_limits = np.empty((counts.size + 1,), limits.dtype)
        new_limits[:-1] = limits[:-1:subsampling]
        new_limits[-1] = limits[-1]
        limits = new_limits
    # the first and last buckets holding values
    cum_counts = np.cumsum(np.greater(counts, 0))
    start, end = np.searchsorted(cum_counts, [0, cum_counts[-1] - 1], side="right")
    start, end = int(start), int(end) + 1
    counts = counts[start - 1 : end] if start > 0 else np.concatenate([[0], counts[:end]])
    limits = limits[start : end + 1]
    if counts.size == 0 or limits.size == 0:
        raise ValueError("add_histogram: the histogram is empty")
    return HistogramProto(
        min=values.min(),
        max=values.max(),
        num=len(values),
        sum=values.sum(),
        sum_squares=values.dot(values),
        bucket_limit=limits.tolist(),
        bucket=counts.tolist(),
    )


def image(tag: str, tensor: Any, rescale: float = 1, dataformats: str = "NCHW") -> Summary:
    """An image summary: ``tensor`` in ``dataformats`` (a batch is tiled as a grid), float
    values in [0, 1] or uint8 in [0, 255], clipped, PNG-encoded."""
    where = "add_images" if len(str(dataformats)) == 4 else "add_image"
    a = convert_to_HWC(make_np(tensor, f"{where}: img_tensor"), dataformats, where)
    scale_factor = _calc_scale_factor(a)
    pixels = (a.astype(np.float32) * scale_factor).clip(0, 255).astype(np.uint8)
    return Summary(value=[Summary.Value(tag=tag, image=make_image(pixels, rescale=rescale))])


def image_boxes(
    tag: str,
    tensor_image: Any,
    tensor_boxes: Any,
    rescale: float = 1,
    dataformats: str = "CHW",
    labels: Any = None,
) -> Summary:
    """An image summary with boxes ``(N, 4)`` (xmin, ymin, xmax, ymax in pixels) drawn in red,
    each with its label if given (needs Pillow)."""
    a = convert_to_HWC(
        make_np(tensor_image, "add_image_with_boxes: img_tensor"),
        dataformats,
        "add_image_with_boxes",
    )
    boxes = make_np(tensor_boxes, "add_image_with_boxes: box_tensor")
    a = a.astype(np.float32) * _calc_scale_factor(a)
    img = make_image(a.clip(0, 255).astype(np.uint8), rescale=rescale, rois=boxes, labels=labels)
    return Summary(value=[Summary.Value(tag=tag, image=img)])


def _draw_single_box(
    image, xmin, ymin, xmax, ymax, display_str, color="black", color_text="black", thickness=2
):
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default()
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = xmin, xmax, ymin, ymax
    draw.line(
        [(left, top), (left, bottom), (right, bottom), (right, top), (left, top)],
        width=thickness,
        fill=color,
    )
    if display_str:
        _left, _top, _right, _bottom = font.getbbox(display_str)
        text_width, text_height = _right - _left, _bottom - _top
        margin = np.ceil(0.05 * text_height)
        draw.rectangle(
            [(left, bottom - text_height - 2 * margin), (left + text_width, bottom)], fill=color
        )
        draw.text(
            (left + margin, bottom - text_height - margin),
            display_str,
            fill=color_text,
            font=font,
        )
    return image


def draw_boxes(disp_image: Any, boxes: np.ndarray, labels: Any = None) -> Any:
    """Draw ``boxes`` (xyxy) on a PIL image in red, with ``labels[i]`` above box i."""
    for i in range(boxes.shape[0]):
        disp_image = _draw_single_box(
            disp_image,
            boxes[i, 0],
            boxes[i, 1],
            boxes[i, 2],
            boxes[i, 3],
            display_str=None if labels is None else labels[i],
            color="Red",
        )
    return disp_image


def make_image(
    tensor: np.ndarray, rescale: float = 1, rois: Any = None, labels: Any = None
) -> Summary.Image:
    """The ``Summary.Image`` of ``(H, W, C)`` uint8 pixels: PNG bytes, height, width and
    colorspace (the channel count)."""
    height, width, channel = tensor.shape
    if rois is None:
        data = encode_png(tensor, rescale)
    else:
        Image = _pil_image()
        if Image is None:
            raise ImportError("add_image_with_boxes needs Pillow: pip install pillow")
        pil = draw_boxes(Image.fromarray(tensor), rois, labels=labels)
        data = encode_png(np.asarray(pil), rescale, Image)
    return Summary.Image(height=height, width=width, colorspace=channel, encoded_image_string=data)


def video(tag: str, tensor: Any, fps: float = 4) -> Summary:
    """A video summary: ``(N, T, C, H, W)`` videos tiled as a grid and encoded as an animated
    GIF (needs moviepy)."""
    a = make_np(tensor, "add_video: vid_tensor")
    if a.ndim != 5:
        raise ArgumentError(f"add_video: vid_tensor should be (N, T, C, H, W), got {a.shape}")
    a = prepare_video(a)
    pixels = (a.astype(np.float32) * _calc_scale_factor(a)).clip(0, 255).astype(np.uint8)
    return Summary(value=[Summary.Value(tag=tag, image=make_video(pixels, fps))])


def make_video(tensor: np.ndarray, fps: float) -> Summary.Image:
    """``(T, H, W, C)`` uint8 frames as a GIF ``Summary.Image``, written by moviepy (2.x's
    ``ImageSequenceClip`` or 1.x's ``moviepy.editor``)."""
    try:
        import moviepy  # noqa: F401
    except ImportError:
        raise ImportError("add_video needs moviepy: pip install moviepy") from None
    try:
        from moviepy import ImageSequenceClip
    except ImportError:
        try:
            from moviepy.editor import ImageSequenceClip
        except ImportError as e:
            raise ImportError(
                "add_video: moviepy is installed but its ImageSequenceClip does not import "
                f"({e}); some packages may be missing (imageio)"
            ) from e
    import os
    import tempfile

    _t, h, w, c = tensor.shape
    clip = ImageSequenceClip(list(tensor), fps=fps)
    with tempfile.TemporaryDirectory() as tmp:
        filename = os.path.join(tmp, "video.gif")
        try:
            clip.write_gif(filename, logger=None)
        except TypeError:  # moviepy 1.x before its logger argument
            clip.write_gif(filename, verbose=False, progress_bar=False)
        with open(filename, "rb") as f:
            data = f.read()
    return Summary.Image(height=h, width=w, colorspace=c, encoded_image_string=data)


def audio(tag: str, tensor: Any, sample_rate: int = 44100) -> Summary:
    """An audio summary: one channel of samples in [-1, 1] (clipped, with a warning) as
    16-bit PCM WAV bytes written by the stdlib ``wave`` module."""
    import io
    import wave

    array = make_np(tensor, "add_audio: snd_tensor").squeeze()
    if abs(array).max() > 1:
        warnings.warn("add_audio: audio amplitude out of range [-1, 1], clipped", stacklevel=3)
        array = array.clip(-1, 1)
    if array.ndim != 1:
        raise ArgumentError(
            f"add_audio: snd_tensor should be 1-dimensional (after squeeze), got {array.shape}"
        )
    array = (array * np.iinfo(np.int16).max).astype("<i2")
    with io.BytesIO() as fio:
        with wave.open(fio, "wb") as wave_write:
            wave_write.setnchannels(1)
            wave_write.setsampwidth(2)
            wave_write.setframerate(sample_rate)
            wave_write.writeframes(array.data)
        audio_string = fio.getvalue()
    proto = Summary.Audio(
        sample_rate=sample_rate,
        num_channels=1,
        length_frames=array.shape[-1],
        encoded_audio_string=audio_string,
        content_type="audio/wav",
    )
    return Summary(value=[Summary.Value(tag=tag, audio=proto)])


def custom_scalars(layout: dict) -> Summary:
    """The custom-scalars plugin's layout: ``{category: {chart title: ['Multiline', [tags]] or
    ['Margin', [value, lower, upper]]}}``."""
    if not isinstance(layout, dict):
        raise TypeError(f"add_custom_scalars: layout should be a dict, got {type(layout).__name__}")
    categories = []
    for k, v in layout.items():
        charts = []
        for chart_name, chart_metadata in v.items():
            tags = chart_metadata[1]
            if chart_metadata[0] == "Margin":
                if len(tags) != 3:
                    raise ArgumentError(
                        f"add_custom_scalars: the Margin chart {chart_name!r} needs 3 tags "
                        f"(value, lower, upper), got {len(tags)}"
                    )
                series = layout_pb2.MarginChartContent.Series(
                    value=tags[0], lower=tags[1], upper=tags[2]
                )
                chart = layout_pb2.Chart(
                    title=chart_name, margin=layout_pb2.MarginChartContent(series=[series])
                )
            else:
                chart = layout_pb2.Chart(
                    title=chart_name, multiline=layout_pb2.MultilineChartContent(tag=tags)
                )
            charts.append(chart)
        categories.append(layout_pb2.Category(title=k, chart=charts))
    proto = TensorProto(
        dtype="DT_STRING",
        string_val=[layout_pb2.Layout(category=categories).SerializeToString()],
        tensor_shape=TensorShapeProto(),
    )
    smd = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="custom_scalars"))
    return Summary(
        value=[Summary.Value(tag="custom_scalars__config__", tensor=proto, metadata=smd)]
    )


def text(tag: str, text: str) -> Summary:
    """A text summary (markdown) under ``<tag>/text_summary``."""
    if not isinstance(text, str):
        raise TypeError(f"add_text: text_string should be a str, got {type(text).__name__}")
    plugin_data = SummaryMetadata.PluginData(
        plugin_name="text", content=TextPluginData(version=0).SerializeToString()
    )
    proto = TensorProto(
        dtype="DT_STRING",
        string_val=[text.encode(encoding="utf_8")],
        tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]),
    )
    smd = SummaryMetadata(plugin_data=plugin_data)
    return Summary(value=[Summary.Value(tag=tag + "/text_summary", metadata=smd, tensor=proto)])


def _pr_summary(tag: str, data: np.ndarray, num_thresholds: int) -> Summary:
    content = PrCurvePluginData(version=0, num_thresholds=num_thresholds).SerializeToString()
    smd = SummaryMetadata(
        plugin_data=SummaryMetadata.PluginData(plugin_name="pr_curves", content=content)
    )
    proto = TensorProto(
        dtype="DT_FLOAT",
        float_val=data.reshape(-1).tolist(),
        tensor_shape=TensorShapeProto(
            dim=[TensorShapeProto.Dim(size=data.shape[0]), TensorShapeProto.Dim(size=data.shape[1])]
        ),
    )
    return Summary(value=[Summary.Value(tag=tag, metadata=smd, tensor=proto)])


def pr_curve_raw(
    tag: str,
    tp: Any,
    fp: Any,
    tn: Any,
    fn: Any,
    precision: Any,
    recall: Any,
    num_thresholds: int = 127,
    weights: Any = None,
) -> Summary:
    """A PR-curve summary from its counts and rates per threshold (``num_thresholds`` at most
    127, as torch caps it)."""
    names = (
        "true_positive_counts",
        "false_positive_counts",
        "true_negative_counts",
        "false_negative_counts",
        "precision",
        "recall",
    )
    arrays = []
    for n, v in zip(names, (tp, fp, tn, fn, precision, recall)):
        arrays.append(v if isinstance(v, (list, tuple)) else make_np(v, f"add_pr_curve_raw: {n}"))
    if len({np.shape(a) for a in arrays}) != 1 or np.ndim(arrays[0]) != 1:
        raise ArgumentError(
            "add_pr_curve_raw: the six count and rate arguments should be 1-D of one length, "
            f"got shapes {[np.shape(a) for a in arrays]}"
        )
    return _pr_summary(tag, np.stack(arrays), min(num_thresholds, 127))


def pr_curve(
    tag: str, labels: Any, predictions: Any, num_thresholds: int = 127, weights: Any = None
) -> Summary:
    """A PR-curve summary of binary ``labels`` against ``predictions`` in [0, 1]."""
    num_thresholds = min(num_thresholds, 127)
    data = compute_curve(labels, predictions, num_thresholds=num_thresholds, weights=weights)
    return _pr_summary(tag, data, num_thresholds)


def compute_curve(
    labels: np.ndarray, predictions: np.ndarray, num_thresholds: Any = None, weights: Any = None
) -> np.ndarray:
    """``(6, num_thresholds)``: true/false positive/negative counts, precision and recall at
    each threshold (tensorboard's pr_curve plugin's formulas)."""
    _MINIMUM_COUNT = 1e-7
    if weights is None:
        weights = 1.0
    bucket_indices = np.int32(np.floor(predictions * (num_thresholds - 1)))
    float_labels = labels.astype(np.float64)
    histogram_range = (0, num_thresholds - 1)
    tp_buckets, _ = np.histogram(
        bucket_indices, bins=num_thresholds, range=histogram_range, weights=float_labels * weights
    )
    fp_buckets, _ = np.histogram(
        bucket_indices,
        bins=num_thresholds,
        range=histogram_range,
        weights=(1.0 - float_labels) * weights,
    )
    # reverse cumulative sums: counts at or above each threshold
    tp = np.cumsum(tp_buckets[::-1])[::-1]
    fp = np.cumsum(fp_buckets[::-1])[::-1]
    tn = fp[0] - fp
    fn = tp[0] - tp
    precision = tp / np.maximum(_MINIMUM_COUNT, tp + fp)
    recall = tp / np.maximum(_MINIMUM_COUNT, tp + fn)
    return np.stack((tp, fp, tn, fn, precision, recall))


def _get_json_config(config_dict: Any) -> str:
    return "{}" if config_dict is None else json.dumps(config_dict, sort_keys=True)


def mesh(
    tag: str,
    vertices: Any,
    colors: Any,
    faces: Any,
    config_dict: Any,
    display_name: str | None = None,
    description: str | None = None,
) -> Summary:
    """The mesh plugin's summaries: one value each for vertices, faces and colors (those
    given), each ``(B, N, 3)``."""
    from tensorboard.plugins.mesh import metadata
    from tensorboard.plugins.mesh.plugin_data_pb2 import MeshPluginData

    json_config = _get_json_config(config_dict)
    given = [
        (name, make_np(t, f"add_mesh: {name}"), content_type)
        for name, t, content_type in (
            ("vertices", vertices, MeshPluginData.VERTEX),
            ("faces", faces, MeshPluginData.FACE),
            ("colors", colors, MeshPluginData.COLOR),
        )
        if t is not None
    ]
    components = metadata.get_components_bitmask([c for _, _, c in given])
    values = []
    for name, a, content_type in given:
        if a.ndim != 3:
            raise ArgumentError(f"add_mesh: {name} should be (B, N, 3), got shape {a.shape}")
        smd = metadata.create_summary_metadata(
            tag,
            display_name,
            content_type,
            components,
            a.shape,
            description,
            json_config=json_config,
        )
        proto = TensorProto(
            dtype="DT_FLOAT",
            float_val=a.reshape(-1).tolist(),
            tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=d) for d in a.shape]),
        )
        values.append(
            Summary.Value(
                tag=metadata.get_instance_name(tag, content_type), tensor=proto, metadata=smd
            )
        )
    return Summary(value=values)
