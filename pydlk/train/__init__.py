"""The training loop: ``fit`` with callbacks, ``evaluate``, ``predict`` and ``History``."""

from .callbacks import (  # noqa: F401
    Callback,
    CSVLogger,
    EarlyStopping,
    EMAEvaluation,
    LearningRateLogger,
    ModelCheckpoint,
    ProgressBar,
    SnapshotEnsemble,
    TerminateOnNaN,
)
from .history import History  # noqa: F401
from .loop import TrainingInterrupted, evaluate, fit, predict, tta_predict  # noqa: F401
from .lr_find import LRFinderResult, lr_find  # noqa: F401


def __getattr__(name):
    # TensorBoardLogger lives in its own module so that importing pydlk.train never imports
    # tensorboard; it still reads as pydlk.train.TensorBoardLogger.
    if name == "TensorBoardLogger":
        from .tensorboard import TensorBoardLogger

        return TensorBoardLogger
    raise AttributeError(f"module 'pydlk.train' has no attribute {name!r}")
