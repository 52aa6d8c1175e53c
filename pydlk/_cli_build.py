"""What the command line builds from its options: the defaults, the data set, the model, the
optimiser, the schedule and the augmentation (``pydlk.cli`` and its ``tune`` command share them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

if TYPE_CHECKING:  # the command line imports the library lazily, so do its annotations
    from collections.abc import Callable, Iterable

    from .autograd import Tensor
    from .data.augment import Compose
    from .nn.module import Module
    from .optim.lr_scheduler import LRScheduler
    from .optim.optimizer import Optimizer

# A command's settings: the option names ('_' for '-') and their values.
Config: TypeAlias = dict[str, Any]
# A data set's splits: 'train', 'val', 'test' -> (images, labels).
Splits: TypeAlias = dict[str, tuple[np.ndarray, np.ndarray]]

DEFAULTS: Config = {
    "model": "lenet5",
    "data": "digits",
    "optimizer": "adam",
    "lr": 3e-3,
    "weight_decay": 0.0,
    "schedule": "cosine",
    "epochs": 30,
    "batch_size": 64,
    "augment": "none",
    "seed": 0,
    "out": "runs",
    "progress": True,
    "trials": 8,
    "workers": 1,
    "tune_epochs": 3,
    "num_iter": 100,
    "device": "cpu",
}
# Precedence: DEFAULTS < the --config file < flags given on the command line. No argparse
# option has a default of its own (a default would be indistinguishable from a given flag and
# would override the file).


# ----------------------------------------------------------------------------- building blocks


class UsageError(Exception):
    """A bad option value or file: ``main`` prints it as one line and exits with status 2."""


def load_data(spec: str, download: bool = False) -> Splits:
    """'digits', 'mnist:DIR', 'fashion-mnist:DIR' or 'cifar10:DIR' -> dict of (x, y) splits.
    Sets without a validation split get one carved from the end of the training set (10%).
    ``download`` fetches missing files (the ``--download`` flag)."""
    from . import datasets

    name, _, root = spec.partition(":")
    if name == "digits":
        return {s: datasets.digits(s) for s in ("train", "val", "test")}
    loaders: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
        "mnist": datasets.mnist,
        "fashion-mnist": datasets.fashion_mnist,
        "cifar10": datasets.cifar10,
    }
    if name not in loaders:
        raise UsageError(
            f"unknown data set {spec!r}; use digits, mnist:DIR, fashion-mnist:DIR or cifar10:DIR"
        )
    if not root:
        raise UsageError(f"--data {name} needs a directory: {name}:DIR")
    try:
        xtr, ytr = loaders[name](root, "train", download=download)
        xte, yte = loaders[name](root, "test", download=download)
    except FileNotFoundError as e:  # the library's advice names its keyword; here it is a flag
        raise UsageError(str(e).replace("pass download=True", "pass --download")) from None
    k = len(ytr) // 10
    return {"train": (xtr[:-k], ytr[:-k]), "val": (xtr[-k:], ytr[-k:]), "test": (xte, yte)}


def build_model(name: str, x: np.ndarray, num_classes: int) -> Module:
    from . import models

    C, H = x.shape[1], x.shape[2]
    if name == "lenet5":
        return models.LeNet5(num_classes=num_classes, in_channels=C, in_size=H)
    if name == "mlp":
        return models.MLP(C * H * x.shape[3], (256, 128), num_classes)
    if name == "resnet":
        return models.resnet_small(num_classes=num_classes, in_channels=C)
    raise UsageError(f"unknown model {name!r}; use lenet5, mlp or resnet")


def build_optimizer(
    name: str, params: Iterable[Tensor], lr: float, weight_decay: float
) -> Optimizer:
    from . import optim

    table = {
        "adam": lambda: optim.Adam(params, lr=lr, weight_decay=weight_decay),
        "adamw": lambda: optim.AdamW(params, lr=lr, weight_decay=weight_decay or 1e-2),
        "sgd": lambda: optim.SGD(
            params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay
        ),
        "rmsprop": lambda: optim.RMSprop(params, lr=lr, weight_decay=weight_decay),
    }
    if name not in table:
        raise UsageError(f"unknown optimizer {name!r}; use {', '.join(table)}")
    return table[name]()


def build_schedule(name: str, optimizer: Optimizer, epochs: int) -> LRScheduler | None:
    from .optim import lr_scheduler as S

    if name == "none":
        return None
    if name == "cosine":
        return S.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "step":
        return S.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "warmup-cosine":
        w = max(1, epochs // 10)
        return S.SequentialLR(
            optimizer,
            [
                S.LinearLR(optimizer, 0.1, 1.0, w),
                S.CosineAnnealingLR(optimizer, max(1, epochs - w)),
            ],
            [w],
        )
    raise UsageError(f"unknown schedule {name!r}; use none, cosine, step, warmup-cosine")


def build_augment(name: str, x: np.ndarray) -> Compose | None:
    from .data import augment as A

    if name == "none":
        return None
    pad = max(1, x.shape[2] // 8)
    if name == "basic":  # small shifts; no flips (digits and letters are not mirror-symmetric)
        return A.Compose([A.RandomCrop(padding=pad)])
    if name == "flip":
        return A.Compose([A.RandomCrop(padding=pad), A.RandomHorizontalFlip()])
    raise UsageError(f"unknown augmentation {name!r}; use none, basic or flip")


# ----------------------------------------------------------------------------- commands
