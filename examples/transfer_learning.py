"""Transfer learning, as the lectures teach it, on the bundled 8x8 digits: when it helps.

The recipe: pretrain LeNet-5 (with BatchNorm) on a labelled source set; then, for a target task
with only a few labelled images per class, freeze the convolutional backbone
(requires_grad_(False), its BatchNorm kept in eval mode so its statistics stay the source's),
replace the head by a fresh Linear layer, and train the head at the full learning rate and the
fully connected layers at a tenth of it (parameter groups). The baseline trains the same network
from scratch on the same images for the same number of steps. Both are tested on every test
image of the target classes, over several seeds (each seed: its own pretraining, its own
labelled images, its own initialisation).

1. Related source: pretrain on all ten digits using one half of the training images; the
   target is the other half, with --per-class labelled images of each digit. The features
   already separate these classes, and a few labels are enough to name them.
2. Unrelated source: pretrain on the digits 0-4; the target is the digits 5-9. Features
   learnt for five digits do not carry over to five others on these tiny images, and the
   frozen network does worse than one trained from scratch: negative transfer.

Measured (``python examples/transfer_learning.py``: 3 labelled images per class, 150 steps,
5 seeds, 2 threads; mean, standard deviation and range of the test accuracy):

                       transfer                      from scratch
    1. related source  0.961 (sd 0.010, 0.948-0.978)  0.739 (sd 0.017, 0.715-0.763)
    2. unrelated       0.654 (sd 0.100, 0.525-0.780)  0.829 (sd 0.044, 0.771-0.898)

(With one thread, rounding differs and case 2's transfer reads 0.617, sd 0.064.) About 10 s.
Pretrained features help when the source task is related to the target and labels are few.

    python examples/transfer_learning.py [--per-class 3] [--steps 150] [--seeds 5]
"""

import argparse

import numpy as np

import pydlk
from pydlk import models, nn, optim
from pydlk.data import DataLoader, TensorDataset
from pydlk.datasets import digits
from pydlk.train import fit, predict


def train(model, params, x, y, steps, seed):
    """Adam at 3e-3 for about ``steps`` steps of batches of up to 20 images."""
    pydlk.manual_seed(seed)
    opt = optim.Adam(params, lr=3e-3)
    batch = min(20, len(y))
    # drop_last: a batch of one sample cannot be batch-normalised in training (as in torch)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True, drop_last=True)
    fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        loader,
        epochs=max(1, steps // (len(y) // batch)),
        verbose=False,
    )


def accuracy(model, x, y):
    return float((predict(model, x).argmax(1) == y).mean())


def pretrain(x, y, num_classes, epochs, seed):
    pydlk.manual_seed(seed)
    net = models.LeNet5(num_classes=num_classes, in_size=8)
    train(net, net.parameters(), x, y, epochs * (len(y) // 20), seed)
    return net


def transfer(net, x, y, num_classes, steps, seed):
    """The recipe: frozen conv backbone, fresh head, fully connected layers at a tenth of lr."""
    models.freeze(net.features)
    head = models.replace_head(net, "classifier.6", num_classes)
    train(
        net,
        models.finetune_param_groups(net, head, lr=3e-3, backbone_factor=0.1),
        x,
        y,
        steps,
        seed,
    )
    return net


def scratch(x, y, num_classes, steps, seed):
    pydlk.manual_seed(seed)
    net = models.LeNet5(num_classes=num_classes, in_size=8)
    train(net, net.parameters(), x, y, steps, seed)
    return net


def experiment(name, src, src_y, pool, classes, test, args):
    """Over the seeds: pretrain on (src, src_y); pick per_class labelled images of each class
    from the training indices ``pool``; test transfer and scratch on the test indices."""
    xtr, ytr, xte, yte = args.data
    relabel = {c: i for i, c in enumerate(classes)}
    yv = np.array([relabel[c] for c in yte[test]])
    acc = {"transfer": [], "scratch": []}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        pick = np.concatenate(
            [rng.choice(pool[ytr[pool] == c], args.per_class, replace=False) for c in classes]
        )
        xt, yt = xtr[pick], np.array([relabel[c] for c in ytr[pick]])
        net = pretrain(xtr[src], src_y, int(src_y.max()) + 1, args.pretrain_epochs, 100 + seed)
        acc["transfer"].append(
            accuracy(transfer(net, xt, yt, len(classes), args.steps, 200 + seed), xte[test], yv)
        )
        acc["scratch"].append(
            accuracy(scratch(xt, yt, len(classes), args.steps, 200 + seed), xte[test], yv)
        )
    print(
        f"{name}: test accuracy on {test.sum()} images, {args.per_class} labelled per class, "
        f"{args.seeds} seeds"
    )
    for k, v in acc.items():
        print(
            f"   {k:<9}mean {np.mean(v):.3f}  sd {np.std(v):.3f}  range {min(v):.3f}-{max(v):.3f}"
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=3, help="labelled target images per class")
    ap.add_argument("--steps", type=int, default=150, help="training steps on the target images")
    ap.add_argument("--pretrain-epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    xtr, ytr = digits("train")
    xte, yte = digits("test")
    args.data = xtr, ytr, xte, yte

    half = np.arange(len(ytr)) % 2 == 0
    experiment(
        "1. related source (ten digits, other half of the images)",
        half,
        ytr[half],
        np.flatnonzero(~half),
        list(range(10)),
        np.ones(len(yte), bool),
        args,
    )
    low = ytr < 5
    experiment(
        "2. unrelated source (digits 0-4 -> digits 5-9)",
        low,
        ytr[low],
        np.flatnonzero(~low),
        list(range(5, 10)),
        yte >= 5,
        args,
    )


if __name__ == "__main__":
    main()
