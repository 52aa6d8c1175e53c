"""torch.utils.tensorboard: ``SummaryWriter`` writes TensorBoard event files (``tensorboard
--logdir runs`` shows them) with the tensorboard package's own event writer and protobufs.
tensorboard is the optional ``tensorboard`` extra: importing this module without it raises
ImportError, as ``import torch.utils.tensorboard`` does, with the command that installs it.
``import pydlk`` does not import this module; ``pydlk.utils.tensorboard`` imports it when first
used."""

try:
    import tensorboard as _tensorboard
except ImportError:
    raise ModuleNotFoundError(
        "pydlk.utils.tensorboard needs tensorboard: pip install 'pydlk[tensorboard]'",
        name="tensorboard",
    ) from None
del _tensorboard

from tensorboard.summary.writer.record_writer import RecordWriter

from .writer import FileWriter, SummaryWriter

__all__ = ["FileWriter", "RecordWriter", "SummaryWriter"]
