"""Random search over learning rate and L2 strength, log-uniform, as the lectures show it:
each trial prints `val acc: ..., lr: ..., reg: ..., (i / n)` and the results are sorted at the end.

    python examples/hyperparameter_search.py [--trials 8] [--epochs 3] [--workers 1]
"""

import argparse

import pydlk
from pydlk import models, nn, optim, tune
from pydlk.data import DataLoader, TensorDataset
from pydlk.datasets import digits
from pydlk.train import evaluate, fit


def objective(params, report):
    pydlk.manual_seed(0)
    model = models.MLP(64, (64,), 10)
    opt = optim.SGD(model.parameters(), lr=params["lr"], momentum=0.9, weight_decay=params["reg"])
    train = DataLoader(TensorDataset(*digits("train")), batch_size=64, shuffle=True)
    val = DataLoader(TensorDataset(*digits("val")), batch_size=512)
    fit(model, nn.CrossEntropyLoss(), opt, train, epochs=params["epochs"], verbose=False)
    return evaluate(model, nn.CrossEntropyLoss(), val)["accuracy"]


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    space = {
        "lr": tune.loguniform(1e-4, 1e-0),
        "reg": tune.loguniform(1e-6, 1e-2),
        "epochs": args.epochs,
    }
    result = tune.random_search(objective, space, n_trials=args.trials, n_workers=args.workers)
    print(f"best: {result.best['params']}")
