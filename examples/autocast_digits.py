"""Training under bf16 autocast reaches float32's accuracy: LeNet-5+BN on the bundled digits (what
``pydlk train`` trains with its defaults: Adam 3e-3, cosine schedule, batch 64), once in float32
and once inside ``pydlk.autocast``, from the same seed, for a few seeds.

    python examples/autocast_digits.py [--epochs 30] [--seeds 0 1 2]

Prints the test accuracy of each run and the mean difference (autocast minus float32) in points.
Needs a CPU with AVX512_BF16 (elsewhere autocast falls back to float32 and says so)."""

import argparse

import numpy as np

import pydlk
from pydlk import nn
from pydlk._cli_build import DEFAULTS, build_model, build_optimizer, build_schedule, load_data
from pydlk.data import DataLoader, TensorDataset


def train_digits(seed, autocast, epochs):
    """Test accuracy (percent) of LeNet-5+BN trained on the digits with the CLI's defaults."""
    data = load_data("digits")
    pydlk.manual_seed(seed)
    model = build_model("lenet5", data["train"][0], 10)
    opt = build_optimizer("adam", model.parameters(), DEFAULTS["lr"], 0.0)
    sched = build_schedule("cosine", opt, epochs)
    loader = DataLoader(
        TensorDataset(*data["train"]), batch_size=DEFAULTS["batch_size"], shuffle=True
    )
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            with pydlk.autocast(enabled=autocast):
                loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    x, y = data["test"]
    with pydlk.no_grad(), pydlk.autocast(enabled=autocast):
        pred = np.asarray(model(pydlk.tensor(x))).argmax(1)
    return 100.0 * float(np.mean(pred == np.asarray(y)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    diffs = []
    for seed in args.seeds:
        fp32, bf16 = (train_digits(seed, ac, args.epochs) for ac in (False, True))
        diffs.append(bf16 - fp32)
        print(
            f"seed {seed}: test accuracy float32 {fp32:.2f}%, autocast {bf16:.2f}% "
            f"(difference {diffs[-1]:+.2f})"
        )
    print(f"mean difference over {len(diffs)} seeds: {np.mean(diffs):+.2f} points")


if __name__ == "__main__":
    main()
