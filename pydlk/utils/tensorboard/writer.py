"""``SummaryWriter`` and ``FileWriter``: torch.utils.tensorboard's writers on the tensorboard
package's ``EventFileWriter``, writing the same events (and projector files) as torch 2.13's
for pydlk Tensors (on any device: copied to the host), NumPy arrays and numbers."""

from __future__ import annotations

import os
import time
from typing import Any

from tensorboard.compat import tf
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from . import _embedding
from ._convert import ArgumentError, figure_to_image, make_np
from ._graph import graph, model_args
from .summary import (
    audio,
    custom_scalars,
    histogram,
    histogram_raw,
    hparams,
    image,
    image_boxes,
    mesh,
    pr_curve,
    pr_curve_raw,
    scalar,
    tensor_proto,
    text,
    video,
)

__all__ = ["FileWriter", "SummaryWriter"]


class FileWriter:
    """Writes ``Event`` protobufs to an event file in ``log_dir`` (torch's ``FileWriter``):
    queued, written by tensorboard's background writer every ``flush_secs`` seconds or when
    ``max_queue`` events wait."""

    def __init__(
        self, log_dir: Any, max_queue: int = 10, flush_secs: int = 120, filename_suffix: str = ""
    ) -> None:
        self._args = (str(log_dir), max_queue, flush_secs, filename_suffix)
        self.event_writer = EventFileWriter(*self._args)

    def get_logdir(self) -> str:
        """The directory the event file is in."""
        return self.event_writer.get_logdir()

    def add_event(self, event: Event, step: int | None = None, walltime: float | None = None):
        """Queue ``event`` with its wall time (now unless ``walltime``) and step."""
        event.wall_time = time.time() if walltime is None else walltime
        if step is not None:
            event.step = int(step)
        self.event_writer.add_event(event)

    def add_summary(
        self, summary: Any, global_step: int | None = None, walltime: float | None = None
    ):
        """Queue a ``Summary`` protobuf as an event."""
        self.add_event(event_pb2.Event(summary=summary), global_step, walltime)

    def add_graph(self, graph_profile: Any, walltime: float | None = None) -> None:
        """Queue a ``(GraphDef, RunMetadata)`` pair: the graph event and the run metadata
        tagged ``step1``, as torch writes them."""
        graph_def, stepstats = graph_profile
        self.add_event(event_pb2.Event(graph_def=graph_def.SerializeToString()), None, walltime)
        trm = event_pb2.TaggedRunMetadata(tag="step1", run_metadata=stepstats.SerializeToString())
        self.add_event(event_pb2.Event(tagged_run_metadata=trm), None, walltime)

    def add_onnx_graph(self, graph: Any, walltime: float | None = None) -> None:
        """Queue a GraphDef as a graph event."""
        self.add_event(event_pb2.Event(graph_def=graph.SerializeToString()), None, walltime)

    def flush(self) -> None:
        """Write the queued events to disk."""
        self.event_writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self.event_writer.close()

    def reopen(self) -> None:
        """Start a new event file in the same directory after :meth:`close` (tensorboard's
        ``EventFileWriter`` has no reopen of its own, so torch's raises AttributeError)."""
        self.event_writer = EventFileWriter(*self._args)


class SummaryWriter:
    """torch.utils.tensorboard.SummaryWriter: writes scalars, histograms, images, text,
    hyperparameters, PR curves, embeddings, audio, video, meshes and a model's graph as
    TensorBoard event files in ``log_dir`` (default ``runs/<date>_<host><comment>``).
    ``purge_step`` makes TensorBoard drop the events at and after that step left by an earlier
    run (after a crash and resume); events are queued and written every ``flush_secs`` seconds
    or when ``max_queue`` wait; ``filename_suffix`` ends the event files' names.

    Values may be pydlk Tensors on any device (copied to the host), NumPy arrays or numbers.
    The events are torch 2.13's (tags, steps, values, encodings); the differences:
    ``add_graph`` writes the module tree seen in one run instead of a traced op graph (see
    :meth:`add_graph`), ``add_video`` raises ImportError without moviepy (torch prints a line
    and writes an empty image), ``add_onnx_graph`` is not provided, and out-of-range audio or
    a reused embedding directory give a warning instead of a printed line. Bad values raise
    errors naming the method and argument; where torch raises AssertionError they are
    ``ValueError`` and ``AssertionError`` both.

    After :meth:`close`, writing again opens a new event file in the same directory, as
    torch's writer does."""

    def __init__(
        self,
        log_dir: Any = None,
        comment: str = "",
        purge_step: int | None = None,
        max_queue: int = 10,
        flush_secs: int = 120,
        filename_suffix: str = "",
    ) -> None:
        if not log_dir:
            import socket
            from datetime import datetime

            current_time = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", current_time + "_" + socket.gethostname() + comment)
        self.log_dir = log_dir
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        # the writers are dropped on close and made again on the next write
        self.file_writer: FileWriter | None = None
        self.all_writers: dict[str, FileWriter] | None = None
        self._get_file_writer()
        # the 'tensorflow' histogram buckets: +-1e-12 * 1.1**k up to 1e20, and 0
        v = 1e-12
        buckets, neg_buckets = [], []
        while v < 1e20:
            buckets.append(v)
            neg_buckets.append(-v)
            v *= 1.1
        self.default_bins = neg_buckets[::-1] + [0] + buckets

    def _get_file_writer(self) -> FileWriter:
        """The default FileWriter, made again if the writer was closed."""
        if self.all_writers is None or self.file_writer is None:
            self.file_writer = FileWriter(
                self.log_dir, self.max_queue, self.flush_secs, self.filename_suffix
            )
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                # TensorBoard drops the events at or after purge_step written before this
                self.file_writer.add_event(
                    Event(step=self.purge_step, file_version="brain.Event:2")
                )
                self.file_writer.add_event(
                    Event(step=self.purge_step, session_log=SessionLog(status=SessionLog.START))
                )
                self.purge_step = None
        return self.file_writer

    def get_logdir(self) -> str:
        """The directory the event files are written to."""
        return self.log_dir

    def add_hparams(
        self,
        hparam_dict: dict,
        metric_dict: dict,
        hparam_domain_discrete: dict | None = None,
        run_name: str | None = None,
        global_step: int | None = None,
    ) -> None:
        """Write a run's hyperparameters and final metrics for the HParams dashboard, in the
        sub-directory ``run_name`` (default: the current time) of the log dir; the metrics are
        also written there as scalars."""
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("add_hparams: hparam_dict and metric_dict should be dictionaries.")
        exp, ssi, sei = hparams(hparam_dict, metric_dict, hparam_domain_discrete)
        if not run_name:
            run_name = str(time.time())
        logdir = os.path.join(self._get_file_writer().get_logdir(), run_name)
        with SummaryWriter(log_dir=logdir) as w_hp:
            fw = w_hp._get_file_writer()
            fw.add_summary(exp, global_step)
            fw.add_summary(ssi, global_step)
            fw.add_summary(sei, global_step)
            for k, v in metric_dict.items():
                w_hp.add_scalar(k, v, global_step)

    def add_scalar(
        self,
        tag: str,
        scalar_value: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        new_style: bool = False,
        double_precision: bool = False,
    ) -> None:
        """Write one scalar (a number or one-element Tensor/array) at ``global_step``;
        ``new_style`` writes it as a tensor of the scalars plugin (float, or double with
        ``double_precision``)."""
        summary = scalar(tag, scalar_value, new_style=new_style, double_precision=double_precision)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_scalars(
        self,
        main_tag: str,
        tag_scalar_dict: dict,
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Write several scalars in one chart: each ``tag`` goes to its own event file in
        ``<log_dir>/<main_tag>_<tag>`` (``/`` in main_tag becomes ``_``) under ``main_tag``."""
        if not isinstance(tag_scalar_dict, dict):
            raise TypeError(
                "add_scalars: tag_scalar_dict should be a dict, got "
                f"{type(tag_scalar_dict).__name__}"
            )
        walltime = time.time() if walltime is None else walltime
        fw_logdir = self._get_file_writer().get_logdir()
        assert self.all_writers is not None
        for tag, scalar_value in tag_scalar_dict.items():
            fw_tag = fw_logdir + "/" + main_tag.replace("/", "_") + "_" + tag
            fw = self.all_writers.get(fw_tag)
            if fw is None:
                fw = FileWriter(fw_tag, self.max_queue, self.flush_secs, self.filename_suffix)
                self.all_writers[fw_tag] = fw
            fw.add_summary(scalar(main_tag, scalar_value), global_step, walltime)

    def add_tensor(
        self, tag: str, tensor: Any, global_step: int | None = None, walltime: float | None = None
    ) -> None:
        """Write a whole tensor (shape and values, in its dtype's TensorProto field)."""
        self._get_file_writer().add_summary(tensor_proto(tag, tensor), global_step, walltime)

    def add_histogram(
        self,
        tag: str,
        values: Any,
        global_step: int | None = None,
        bins: Any = "tensorflow",
        walltime: float | None = None,
        max_bins: int | None = None,
    ) -> None:
        """Write a histogram of ``values``. ``bins='tensorflow'`` uses TensorFlow's buckets
        (edges +-1e-12 * 1.1**k and 0); any other value is NumPy's ``bins`` ('auto', 'fd',
        a count, edges); ``max_bins`` merges neighbouring buckets down to at most that many."""
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        self._get_file_writer().add_summary(
            histogram(tag, values, bins, max_bins=max_bins), global_step, walltime
        )

    def add_histogram_raw(
        self,
        tag: str,
        min: float,
        max: float,
        num: int,
        sum: float,
        sum_squares: float,
        bucket_limits: Any,
        bucket_counts: Any,
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Write a histogram given its statistics and buckets (right edges and counts of one
        length)."""
        if len(bucket_limits) != len(bucket_counts):
            raise ValueError(
                "add_histogram_raw: bucket_limits and bucket_counts should have one length, "
                f"got {len(bucket_limits)} and {len(bucket_counts)}"
            )
        self._get_file_writer().add_summary(
            histogram_raw(tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts),
            global_step,
            walltime,
        )

    def add_image(
        self,
        tag: str,
        img_tensor: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        dataformats: str = "CHW",
    ) -> None:
        """Write an image: float values in [0, 1] or uint8 in [0, 255], laid out as
        ``dataformats`` (CHW, HWC, HW, ...); 1-channel images are written as RGB, 4-channel
        ones as RGBA."""
        self._get_file_writer().add_summary(
            image(tag, img_tensor, dataformats=dataformats), global_step, walltime
        )

    def add_images(
        self,
        tag: str,
        img_tensor: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        dataformats: str = "NCHW",
    ) -> None:
        """Write a batch of images (1 or 3 channels) tiled as one image, 8 a row."""
        self._get_file_writer().add_summary(
            image(tag, img_tensor, dataformats=dataformats), global_step, walltime
        )

    def add_image_with_boxes(
        self,
        tag: str,
        img_tensor: Any,
        box_tensor: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        rescale: float = 1,
        dataformats: str = "CHW",
        labels: Any = None,
    ) -> None:
        """Write an image with boxes ``(N, 4)`` (xmin, ymin, xmax, ymax) drawn on it, labelled
        by ``labels`` if there is one per box (needs Pillow)."""
        if labels is not None:
            if isinstance(labels, str):
                labels = [labels]
            if len(labels) != box_tensor.shape[0]:
                labels = None
        self._get_file_writer().add_summary(
            image_boxes(
                tag, img_tensor, box_tensor, rescale=rescale, dataformats=dataformats, labels=labels
            ),
            global_step,
            walltime,
        )

    def add_figure(
        self,
        tag: str,
        figure: Any,
        global_step: int | None = None,
        close: bool = True,
        walltime: float | None = None,
    ) -> None:
        """Render a matplotlib figure (or a list of them, tiled) and write it as an image;
        ``close`` closes the figures."""
        if isinstance(figure, list):
            self.add_image(tag, figure_to_image(figure, close), global_step, walltime, "NCHW")
        else:
            self.add_image(tag, figure_to_image(figure, close), global_step, walltime, "CHW")

    def add_video(
        self,
        tag: str,
        vid_tensor: Any,
        global_step: int | None = None,
        fps: float = 4,
        walltime: float | None = None,
    ) -> None:
        """Write ``(N, T, C, H, W)`` videos (tiled as a grid) as an animated GIF; needs
        moviepy (ImportError without it)."""
        self._get_file_writer().add_summary(video(tag, vid_tensor, fps), global_step, walltime)

    def add_audio(
        self,
        tag: str,
        snd_tensor: Any,
        global_step: int | None = None,
        sample_rate: int = 44100,
        walltime: float | None = None,
    ) -> None:
        """Write one channel of audio samples in [-1, 1] as a 16-bit WAV."""
        self._get_file_writer().add_summary(
            audio(tag, snd_tensor, sample_rate=sample_rate), global_step, walltime
        )

    def add_text(
        self,
        tag: str,
        text_string: str,
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Write a text (markdown) under ``<tag>/text_summary``."""
        self._get_file_writer().add_summary(text(tag, text_string), global_step, walltime)

    def add_graph(
        self,
        model: Any,
        input_to_model: Any = None,
        verbose: bool = False,
        use_strict_trace: bool = True,
    ) -> None:
        """Write ``model``'s graph. pydlk has no tracer, so the model runs once on
        ``input_to_model`` (a tuple is the arguments; eval mode, ``no_grad``; errors surface
        as they would in a forward pass) and the graph written is its module tree: a node per
        module call named by scope as torch names them (``Net/Linear[fc1]/output``), the
        module's class as op, parameters and buffers as nodes with their shapes, and edges
        from the tensors each call received. Functional ops between modules are not nodes
        (torch's traced graph has one node per aten op). ``verbose`` prints the nodes;
        ``use_strict_trace`` is accepted and has no effect."""
        self._get_file_writer().add_graph(graph(model, model_args(input_to_model), verbose))

    @staticmethod
    def _encode(rawstr: str) -> str:
        return _embedding.encode_tag(rawstr)

    def add_embedding(
        self,
        mat: Any,
        metadata: Any = None,
        label_img: Any = None,
        global_step: int | None = None,
        tag: str = "default",
        metadata_header: Any = None,
    ) -> None:
        """Write an embedding for the projector: ``mat`` ``(N, D)`` to
        ``<log_dir>/<step:05>/<tag>/tensors.tsv``, ``metadata`` (N labels, or N rows of
        columns named by ``metadata_header``) to ``metadata.tsv``, ``label_img`` ``(N, C, H,
        W)`` to ``sprite.png``, and the embedding's entry to ``projector_config.pbtxt``."""
        import warnings

        from google.protobuf import text_format

        mat = make_np(mat, "add_embedding: mat")
        if global_step is None:
            global_step = 0
        subdir = f"{str(global_step).zfill(5)}/{self._encode(tag)}"
        save_path = os.path.join(self._get_file_writer().get_logdir(), subdir)
        fs = tf.io.gfile
        if fs.exists(save_path):
            if not fs.isdir(save_path):
                raise NotADirectoryError(
                    f"add_embedding: `{save_path}` exists, but is a file. Cannot proceed."
                )
            warnings.warn(
                f"add_embedding: {save_path} exists; set global_step to keep embeddings apart",
                stacklevel=2,
            )
        if mat.ndim != 2:
            raise ArgumentError(
                f"add_embedding: mat should be 2-D (points, dimensions), got shape {mat.shape}"
            )
        if metadata is not None and mat.shape[0] != len(metadata):
            raise ArgumentError(
                f"add_embedding: metadata has {len(metadata)} labels for {mat.shape[0]} points"
            )
        if metadata is not None and metadata_header and len(metadata_header) != len(metadata[0]):
            raise ArgumentError(
                f"add_embedding: metadata_header has {len(metadata_header)} columns but "
                f"metadata rows have {len(metadata[0])}"
            )
        imgs = None if label_img is None else _embedding.label_images(label_img)
        if imgs is not None and mat.shape[0] != imgs.shape[0]:
            raise ArgumentError(
                f"add_embedding: label_img has {imgs.shape[0]} images for {mat.shape[0]} points"
            )
        if not fs.exists(save_path):
            fs.makedirs(save_path)
        if metadata is not None:
            _embedding.make_tsv(metadata, save_path, metadata_header=metadata_header)
        if imgs is not None:
            _embedding.make_sprite(imgs, save_path)
        _embedding.make_mat(mat, save_path)
        # the file system may not append: the config is kept here and written whole each time
        if not hasattr(self, "_projector_config"):
            self._projector_config = ProjectorConfig()
        info = _embedding.get_embedding_info(metadata, imgs, subdir, global_step, tag)
        self._projector_config.embeddings.extend([info])
        _embedding.write_pbtxt(
            self._get_file_writer().get_logdir(),
            text_format.MessageToString(self._projector_config),
        )

    def add_pr_curve(
        self,
        tag: str,
        labels: Any,
        predictions: Any,
        global_step: int | None = None,
        num_thresholds: int = 127,
        weights: Any = None,
        walltime: float | None = None,
    ) -> None:
        """Write a precision-recall curve of binary ``labels`` against ``predictions`` in
        [0, 1] at ``num_thresholds`` thresholds (at most 127)."""
        labels = make_np(labels, "add_pr_curve: labels")
        predictions = make_np(predictions, "add_pr_curve: predictions")
        if labels.shape != predictions.shape:
            raise ArgumentError(
                f"add_pr_curve: labels {labels.shape} and predictions {predictions.shape} "
                "should have one shape"
            )
        self._get_file_writer().add_summary(
            pr_curve(tag, labels, predictions, num_thresholds, weights), global_step, walltime
        )

    def add_pr_curve_raw(
        self,
        tag: str,
        true_positive_counts: Any,
        false_positive_counts: Any,
        true_negative_counts: Any,
        false_negative_counts: Any,
        precision: Any,
        recall: Any,
        global_step: int | None = None,
        num_thresholds: int = 127,
        weights: Any = None,
        walltime: float | None = None,
    ) -> None:
        """Write a precision-recall curve from its counts and rates at each threshold."""
        self._get_file_writer().add_summary(
            pr_curve_raw(
                tag,
                true_positive_counts,
                false_positive_counts,
                true_negative_counts,
                false_negative_counts,
                precision,
                recall,
                num_thresholds,
                weights,
            ),
            global_step,
            walltime,
        )

    def add_custom_scalars_multilinechart(
        self, tags: list[str], category: str = "default", title: str = "untitled"
    ) -> None:
        """Write a custom-scalars layout of one multiline chart of ``tags``."""
        self._get_file_writer().add_summary(
            custom_scalars({category: {title: ["Multiline", tags]}})
        )

    def add_custom_scalars_marginchart(
        self, tags: list[str], category: str = "default", title: str = "untitled"
    ) -> None:
        """Write a custom-scalars layout of one margin chart: ``tags`` are the value, lower
        and upper bound."""
        if len(tags) != 3:
            raise ArgumentError(
                f"add_custom_scalars_marginchart: tags should be 3, got {len(tags)}"
            )
        self._get_file_writer().add_summary(custom_scalars({category: {title: ["Margin", tags]}}))

    def add_custom_scalars(self, layout: dict) -> None:
        """Write the custom-scalars dashboard's layout: ``{category: {title: ['Multiline',
        [tags]] or ['Margin', [value, lower, upper]]}}`` (tags may be regular expressions)."""
        self._get_file_writer().add_summary(custom_scalars(layout))

    def add_mesh(
        self,
        tag: str,
        vertices: Any,
        colors: Any = None,
        faces: Any = None,
        config_dict: Any = None,
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Write a 3-D mesh or point cloud: ``vertices`` ``(B, N, 3)``, optional ``colors``
        ``(B, N, 3)`` uint8 and ``faces`` ``(B, F, 3)`` vertex indices; ``config_dict``
        configures the three.js scene."""
        self._get_file_writer().add_summary(
            mesh(tag, vertices, colors, faces, config_dict), global_step, walltime
        )

    def flush(self) -> None:
        """Write every queued event to disk."""
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()

    def close(self) -> None:
        """Flush and close every event file; a later write opens new ones."""
        if self.all_writers is None:
            return  # closed already
        for writer in self.all_writers.values():
            writer.flush()
            writer.close()
        self.file_writer = self.all_writers = None

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.close()
