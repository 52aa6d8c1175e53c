"""The training loop: ``fit`` with callbacks, ``evaluate``, ``predict`` and ``History``."""
from .callbacks import (Callback, CSVLogger, EarlyStopping, EMAEvaluation,  # noqa: F401
                        LearningRateLogger, ModelCheckpoint, ProgressBar, SnapshotEnsemble,
                        TerminateOnNaN)
from .history import History  # noqa: F401
from .loop import TrainingInterrupted, evaluate, fit, predict, tta_predict  # noqa: F401
