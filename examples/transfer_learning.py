"""Transfer learning, as the lectures teach it, on the bundled 8x8 digits.

1. Pretrain LeNet-5 (with BatchNorm) on the digits 0-4, using every training image of them.
2. Transfer to the digits 5-9 with only 20 labelled images per class: freeze the convolutional
   backbone (requires_grad_(False), its BatchNorm kept in eval mode so its statistics stay
   those of the source data), replace the head by a fresh Linear layer, and fine-tune the head
   at the full learning rate and the fully connected layers at a tenth of it (parameter groups).
3. Train the same network from scratch on the same 100 images, with the same number of steps.
Both are tested on every test image of the digits 5-9. On these small 8x8 images the two
come out close (over three seeds: transfer 0.83-0.91, scratch 0.92-0.94 at 20 per class): the
digits are easy to learn from 100 images, and five source classes teach few general features.

    python examples/transfer_learning.py [--epochs 40] [--per-class 20]
"""
import argparse

import numpy as np

import pydlk
from pydlk import models, nn, optim
from pydlk.data import DataLoader, TensorDataset
from pydlk.datasets import digits
from pydlk.train import fit, predict


def train(model, params, x, y, epochs, seed):
    pydlk.manual_seed(seed)
    opt = optim.Adam(params, lr=3e-3)
    # drop_last: a batch of one sample cannot be batch-normalised in training (as in torch)
    loader = DataLoader(TensorDataset(x, y), batch_size=min(20, len(y)), shuffle=True,
                        drop_last=True)
    fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=epochs, verbose=False)


def accuracy(model, x, y):
    return float((predict(model, x).argmax(1) == y).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40, help="epochs on the 100 target images")
    ap.add_argument("--per-class", type=int, default=20)
    args = ap.parse_args()

    xtr, ytr = digits("train")
    xte, yte = digits("test")
    src = ytr < 5
    print(f"1. pretraining on digits 0-4 ({src.sum()} images)")
    pydlk.manual_seed(0)
    net = models.LeNet5(num_classes=5, in_size=8)
    train(net, net.parameters(), xtr[src], ytr[src], epochs=15, seed=0)
    print(f"   source test accuracy {accuracy(net, xte[yte < 5], yte[yte < 5]):.3f}")

    # 20 images of each of the digits 5-9, relabelled 0-4
    pick = np.concatenate([np.flatnonzero(ytr == c)[:args.per_class] for c in range(5, 10)])
    xt, yt = xtr[pick], ytr[pick] - 5
    xv, yv = xte[yte >= 5], yte[yte >= 5] - 5

    print(f"2. transfer to digits 5-9 with {args.per_class} images per class")
    models.freeze(net.features)                         # conv backbone: fixed, BN in eval mode
    head = models.replace_head(net, "classifier.6", 5)  # a fresh Linear(84, 5)
    groups = models.finetune_param_groups(net, head, lr=3e-3, backbone_factor=0.1)
    for g in groups:
        print(f"   group of {sum(p.numel() for p in g['params'])} parameters at lr {g['lr']:g}")
    train(net, groups, xt, yt, args.epochs, seed=1)
    transfer = accuracy(net, xv, yv)

    print("3. the same network from scratch on the same images and steps")
    pydlk.manual_seed(0)
    scratch = models.LeNet5(num_classes=5, in_size=8)
    train(scratch, scratch.parameters(), xt, yt, args.epochs, seed=1)
    print(f"test accuracy on digits 5-9 ({len(yv)} images): transfer {transfer:.3f}, "
          f"from scratch {accuracy(scratch, xv, yv):.3f}")


if __name__ == "__main__":
    main()
