"""Transfer learning, as the lectures teach it, on the bundled 8x8 digits.

1. Pretrain LeNet-5 (with BatchNorm) on the digits 0-4 (the "source" task).
2. Transfer to the digits 5-9 (the "target" task, few labels): freeze the convolutional backbone
   (requires_grad_(False), its BatchNorm kept in eval mode so the running statistics stay those
   of the source data), replace the head by a fresh Linear layer, and fine-tune the head at the
   full learning rate and the unfrozen fully connected layers at a tenth of it, through
   parameter groups.
3. Compare with training the same network from scratch on the same few labels.

    PYTHONPATH=. python examples/transfer_learning.py [--epochs 8] [--target-samples 200]
"""
import argparse
import os
import tempfile

import numpy as np

import pydlk
from pydlk import models, nn


def batches(x, y, batch_size, rng):
    order = rng.permutation(len(x))
    for i in range(0, len(x), batch_size):
        j = order[i:i + batch_size]
        yield pydlk.tensor(x[j]), y[j]


def make_optimizer(groups, momentum=0.9):
    optim = getattr(pydlk, "optim", None)
    if optim is not None and hasattr(optim, "SGD"):
        return optim.SGD(groups, lr=groups[-1]["lr"], momentum=momentum)
    raise SystemExit("examples/transfer_learning.py needs pydlk.optim.SGD")


def train(model, opt, x, y, epochs, seed):
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for xb, yb in batches(x, y, 32, rng):
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
        print(f"  epoch {epoch + 1}: loss {total / len(x):.4f}")


def accuracy(model, x, y):
    model.eval()
    with pydlk.no_grad():
        pred = model(pydlk.tensor(x)).data.argmax(1)
    return float((pred == y).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--target-samples", type=int, default=200)
    ap.add_argument("--lr", type=float, default=0.05)
    args = ap.parse_args()

    from pydlk.datasets.digits import digits
    xtr, ytr = digits("train")
    xte, yte = digits("test")
    src, tgt = ytr < 5, ytr >= 5
    pydlk.manual_seed(0)

    print("1. pretraining on digits 0-4")
    net = models.LeNet5(num_classes=5, in_size=8)
    train(net, make_optimizer([{"params": list(net.parameters()), "lr": args.lr}]),
          xtr[src], ytr[src], args.epochs, seed=0)
    te_src = yte < 5
    print(f"  source accuracy: {accuracy(net, xte[te_src], yte[te_src]):.3f}")
    with tempfile.TemporaryDirectory() as d:  # a checkpoint round trip, as a real run would do
        path = os.path.join(d, "lenet_digits04.npz")
        pydlk.save(net.state_dict(), path)
        net.load_state_dict(pydlk.load(path))

    n = args.target_samples
    xt, yt = xtr[tgt][:n], ytr[tgt][:n] - 5
    te_tgt = yte >= 5
    xv, yv = xte[te_tgt], yte[te_tgt] - 5

    print(f"2. transfer to digits 5-9 with {n} labelled samples")
    models.freeze(net.features)                     # conv backbone: no gradients, BN in eval
    head = models.replace_head(net, "classifier.6", 5)
    groups = models.finetune_param_groups(net, head, lr=args.lr, backbone_factor=0.1)
    for g in groups:
        print(f"  group: {sum(p.numel() for p in g['params'])} parameters at lr {g['lr']:g}")
    train(net, make_optimizer(groups), xt, yt, args.epochs, seed=1)
    acc_transfer = accuracy(net, xv, yv)

    print("3. the same network from scratch on the same samples")
    pydlk.manual_seed(0)
    scratch = models.LeNet5(num_classes=5, in_size=8)
    train(scratch, make_optimizer([{"params": list(scratch.parameters()), "lr": args.lr}]),
          xt, yt, args.epochs, seed=1)
    acc_scratch = accuracy(scratch, xv, yv)
    print(f"target accuracy: transfer {acc_transfer:.3f}, scratch {acc_scratch:.3f}")
    print(pydlk.summary(net, (1, 8, 8), print_fn=None))


if __name__ == "__main__":
    main()
