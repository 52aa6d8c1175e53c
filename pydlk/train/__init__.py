"""The training loop: ``fit`` with callbacks, ``evaluate``, ``predict`` and ``History``."""
from .callbacks import (Callback, CSVLogger, EarlyStopping, EMAEvaluation,  # noqa: F401
                        LearningRateLogger, ModelCheckpoint, ProgressBar, SnapshotEnsemble,
                        TerminateOnNaN)
from .history import History  # noqa: F401
from .loop import evaluate, fit, predict  # noqa: F401
