"""``TensorBoardLogger``: per-epoch scalars as TensorBoard event files (the ``tensorboard``
extra). It uses the tensorboard package's own event writer and protobufs, imported when the
callback is created, so pydlk itself does not depend on tensorboard (nor on torch's
``SummaryWriter``)."""

from __future__ import annotations

import time
from typing import Any

from .callbacks import Callback


class TensorBoardLogger(Callback):
    """Write every logged metric (loss, accuracy, lr, val_* ...) as a scalar per epoch to
    ``log_dir`` (``tensorboard --logdir LOG_DIR`` shows them); ``every_n_batches`` > 0 also
    writes the training loss per batch under ``batch/loss``."""

    def __init__(self, log_dir: str, every_n_batches: int = 0) -> None:
        try:
            from tensorboard.compat.proto.event_pb2 import Event
            from tensorboard.compat.proto.summary_pb2 import Summary
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError:
            raise ImportError(
                "TensorBoardLogger needs tensorboard: pip install 'pydlk[tensorboard]'"
            ) from None
        if every_n_batches < 0:
            raise ValueError(
                f"TensorBoardLogger: every_n_batches must be >= 0, got {every_n_batches}"
            )
        self._Event, self._Summary = Event, Summary
        self.writer = EventFileWriter(str(log_dir))
        self.log_dir, self.every_n_batches = str(log_dir), every_n_batches
        self._step = 0

    def _scalars(self, step, values):
        summary = self._Summary(
            value=[self._Summary.Value(tag=k, simple_value=float(v)) for k, v in values.items()]
        )
        self.writer.add_event(self._Event(wall_time=time.time(), step=int(step), summary=summary))

    def on_batch_end(self, batch, logs: dict[str, Any]):
        self._step += 1
        if self.every_n_batches and self._step % self.every_n_batches == 0:
            self._scalars(self._step, {"batch/loss": logs["loss"]})

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]):
        self._scalars(epoch + 1, {k: v for k, v in logs.items() if isinstance(v, (int, float))})
        self.writer.flush()

    def on_train_end(self):
        self.writer.close()
