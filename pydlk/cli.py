"""The ``pydlk`` command line.

    pydlk train      train a model (default: LeNet-5 with BatchNorm on the bundled digits)
    pydlk doctor     sanity checks before training (initial loss, gradients, overfit, lr range)
    pydlk tune       random search over learning rate and weight decay
    pydlk bench      run the benchmark suite and print pydlk/torch and pydlk/NumPy ratios
    pydlk summary    the model's layer table, receptive fields and FLOPs
    pydlk info       build and runtime configuration

Every option of ``train``/``doctor``/``tune``/``summary`` can also come from a TOML file
(``--config run.toml``; keys are the long option names with '_' for '-'); flags win over it.
"""
import argparse
import os
import sys
import time

DEFAULTS = {"model": "lenet5", "data": "digits", "optimizer": "adam", "lr": 3e-3,
            "weight_decay": 0.0, "schedule": "cosine", "epochs": 30, "batch_size": 64,
            "augment": "none", "seed": 0, "out": "runs", "progress": True,
            "trials": 8, "workers": 1, "tune_epochs": 3}
# Precedence: DEFAULTS < the --config file < flags given on the command line. No argparse
# option has a default of its own (a default would be indistinguishable from a given flag and
# would override the file).


# ----------------------------------------------------------------------------- building blocks

def load_data(spec):
    """'digits', 'mnist:DIR', 'fashion-mnist:DIR' or 'cifar10:DIR' -> dict of (x, y) splits.
    Sets without a validation split get one carved from the end of the training set (10%)."""
    from . import datasets
    name, _, root = spec.partition(":")
    if name == "digits":
        return {s: datasets.digits(s) for s in ("train", "val", "test")}
    loaders = {"mnist": datasets.mnist, "fashion-mnist": datasets.fashion_mnist,
               "cifar10": datasets.cifar10}
    if name not in loaders:
        raise SystemExit(f"pydlk: unknown data set {spec!r}; use digits, mnist:DIR, "
                         "fashion-mnist:DIR or cifar10:DIR")
    if not root:
        raise SystemExit(f"pydlk: --data {name} needs a directory: {name}:DIR")
    xtr, ytr = loaders[name](root, "train")
    xte, yte = loaders[name](root, "test")
    k = len(ytr) // 10
    return {"train": (xtr[:-k], ytr[:-k]), "val": (xtr[-k:], ytr[-k:]), "test": (xte, yte)}


def build_model(name, x, num_classes):
    from . import models
    C, H = x.shape[1], x.shape[2]
    if name == "lenet5":
        return models.LeNet5(num_classes=num_classes, in_channels=C, in_size=H)
    if name == "mlp":
        return models.MLP(C * H * x.shape[3], (256, 128), num_classes)
    if name == "resnet":
        return models.resnet_small(num_classes=num_classes, in_channels=C)
    raise SystemExit(f"pydlk: unknown model {name!r}; use lenet5, mlp or resnet")


def build_optimizer(name, params, lr, weight_decay):
    from . import optim
    table = {"adam": lambda: optim.Adam(params, lr=lr, weight_decay=weight_decay),
             "adamw": lambda: optim.AdamW(params, lr=lr, weight_decay=weight_decay or 1e-2),
             "sgd": lambda: optim.SGD(params, lr=lr, momentum=0.9, nesterov=True,
                                      weight_decay=weight_decay),
             "rmsprop": lambda: optim.RMSprop(params, lr=lr, weight_decay=weight_decay)}
    if name not in table:
        raise SystemExit(f"pydlk: unknown optimizer {name!r}; use {', '.join(table)}")
    return table[name]()


def build_schedule(name, optimizer, epochs):
    from .optim import lr_scheduler as S
    if name == "none":
        return None
    if name == "cosine":
        return S.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "step":
        return S.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "warmup-cosine":
        w = max(1, epochs // 10)
        return S.SequentialLR(optimizer, [S.LinearLR(optimizer, 0.1, 1.0, w),
                                          S.CosineAnnealingLR(optimizer, max(1, epochs - w))], [w])
    raise SystemExit(f"pydlk: unknown schedule {name!r}; use none, cosine, step, warmup-cosine")


def build_augment(name, x):
    from .data import augment as A
    if name == "none":
        return None
    pad = max(1, x.shape[2] // 8)
    if name == "basic":  # small shifts; no flips (digits and letters are not mirror-symmetric)
        return A.Compose([A.RandomCrop(padding=pad)])
    if name == "flip":
        return A.Compose([A.RandomCrop(padding=pad), A.RandomHorizontalFlip()])
    raise SystemExit(f"pydlk: unknown augmentation {name!r}; use none, basic or flip")


# ----------------------------------------------------------------------------- commands

def cmd_train(cfg):
    import numpy as np

    import pydlk

    from . import nn
    from .data import DataLoader, TensorDataset
    from .train import (
        CSVLogger,
        ModelCheckpoint,
        ProgressBar,
        TrainingInterrupted,
        evaluate,
        fit,
    )

    pydlk.manual_seed(cfg["seed"])
    data = load_data(cfg["data"])
    xtr, ytr = data["train"]
    num_classes = int(max(int(y.max()) for _, y in data.values())) + 1
    model = build_model(cfg["model"], xtr, num_classes)
    opt = build_optimizer(cfg["optimizer"], model.parameters(), cfg["lr"], cfg["weight_decay"])
    sched = build_schedule(cfg["schedule"], opt, cfg["epochs"])
    train = DataLoader(TensorDataset(xtr, ytr), batch_size=cfg["batch_size"], shuffle=True,
                       transform=build_augment(cfg["augment"], xtr))
    val = DataLoader(TensorDataset(*data["val"]), batch_size=512)
    test = DataLoader(TensorDataset(*data["test"]), batch_size=512)
    run = os.path.join(cfg["out"], f"{cfg['data'].split(':')[0]}-{cfg['model']}")
    os.makedirs(run, exist_ok=True)
    ckpt = os.path.join(run, "checkpoint.npz")
    loss_fn = nn.CrossEntropyLoss()
    print(f"pydlk train: {cfg['model']} on {cfg['data']} ({len(ytr)} training images), "
          f"{cfg['optimizer']} lr {cfg['lr']:g}, {cfg['epochs']} epochs, "
          f"{pydlk.get_num_threads()} threads", flush=True)
    t0 = time.perf_counter()
    callbacks = [ProgressBar(), ModelCheckpoint(ckpt, monitor="val_accuracy", save_best_only=True),
                 CSVLogger(os.path.join(run, "history.csv"))]
    try:
        history = fit(model, loss_fn, opt, train, val, epochs=cfg["epochs"], scheduler=sched,
                      callbacks=callbacks if cfg["progress"] else callbacks[1:],
                      resume=cfg.get("resume"), verbose=False,
                      preempt_path=os.path.join(run, "interrupted.npz"))
    except TrainingInterrupted as e:  # SIGTERM/SIGINT: state saved; the shell's exit codes
        print(f"pydlk train: {e}\n(pydlk train --resume {e.path} continues)", file=sys.stderr)
        return 128 + e.signum
    seconds = time.perf_counter() - t0
    best = pydlk.load(ckpt)
    model.load_state_dict(best["model"])
    res = evaluate(model, loss_fn, test)
    plot = os.path.join(run, "history.png")
    try:
        history.plot(plot)
    except ImportError:
        plot = "(not written: install pydlk[plot] for matplotlib)"
    print(f"test accuracy {res['accuracy'] * 100:.2f}% on {len(data['test'][1])} images "
          f"(best validation epoch {int(np.argmax(history['val_accuracy'])) + 1}); "
          f"trained in {seconds:.1f} s")
    print(f"checkpoint {ckpt}\nhistory    {plot}")
    return 0


def cmd_doctor(cfg):
    import pydlk

    from . import nn
    from .doctor import doctor

    pydlk.manual_seed(cfg["seed"])
    x, y = load_data(cfg["data"])["train"]
    num_classes = int(y.max()) + 1
    checks = doctor(lambda: build_model(cfg["model"], x, num_classes), nn.CrossEntropyLoss(),
                    x, y, num_classes)
    return 0 if all(c.ok for c in checks) else 1


def _tune_objective(params, report, cfg):
    import pydlk

    from . import nn
    from .data import DataLoader, TensorDataset
    from .train import Callback, fit

    class Report(Callback):  # validation accuracy after each epoch, to the pruner
        def on_epoch_end(self, epoch, logs):
            report(epoch, logs["val_accuracy"])

    pydlk.manual_seed(cfg["seed"])
    data = load_data(cfg["data"])
    xtr, ytr = data["train"]
    model = build_model(cfg["model"], xtr, int(ytr.max()) + 1)
    opt = build_optimizer(cfg["optimizer"], model.parameters(), params["lr"], params["reg"])
    train = DataLoader(TensorDataset(xtr, ytr), batch_size=cfg["batch_size"], shuffle=True)
    val = DataLoader(TensorDataset(*data["val"]), batch_size=512)
    history = fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=cfg["epochs"],
                  callbacks=[Report()], verbose=False)
    return history["val_accuracy"][-1] if history.epoch else 0.0


class _Objective:
    """A picklable objective carrying the configuration (workers are spawned)."""

    def __init__(self, cfg):
        self.cfg = cfg

    def __call__(self, params, report):
        return _tune_objective(dict(params), report, self.cfg)


def cmd_tune(cfg):
    from . import tune
    space = {"lr": tune.loguniform(1e-4, 3e-2), "reg": tune.loguniform(1e-6, 1e-2)}
    obj = _Objective(dict(cfg, epochs=cfg["tune_epochs"]))
    if cfg.get("storage"):
        tune.optuna_search(obj, space, n_trials=cfg["trials"], storage=cfg["storage"],
                           n_workers=cfg["workers"])
    else:
        tune.random_search(obj, space, n_trials=cfg["trials"], n_workers=cfg["workers"],
                           seed=cfg["seed"])
    return 0


def cmd_summary(cfg):
    import pydlk
    x, y = load_data(cfg["data"])["train"]
    model = build_model(cfg["model"], x, int(y.max()) + 1)
    pydlk.summary(model, x.shape[1:])
    return 0


def bench_dir():
    """The benchmark suite: installed with the package, or bench/ of a source checkout."""
    here = os.path.join(os.path.dirname(__file__), "bench")
    if os.path.isdir(here):
        return here
    if os.path.isdir("bench"):
        return "bench"
    raise SystemExit("pydlk bench: no benchmark suite found")


def ratio_table(bench_json):
    """Per benchmark group: median times and the pydlk/torch and pydlk/numpy ratios."""
    import json
    import re
    with open(bench_json) as f:
        data = json.load(f)
    groups = {}
    for b in data["benchmarks"]:
        m = re.search(r"pydlk|numpy|torch", b["name"])  # which implementation this row times
        if m is None:
            continue
        impl = m.group(0)
        g = groups.setdefault(b["group"] or b["name"], {})
        g[impl] = min(g.get(impl, float("inf")), b["stats"]["median"])  # the faster variant counts
    rows = [f"{'benchmark':<52}{'pydlk ms':>10}{'numpy ms':>10}{'torch ms':>10}"
            f"{'pydlk/torch':>13}{'pydlk/numpy':>13}"]
    for g, t in sorted(groups.items()):
        p, n, tt = t.get("pydlk"), t.get("numpy"), t.get("torch")
        fmt = lambda v: f"{v * 1e3:.3f}" if v else "-"
        r = lambda a, b: f"{a / b:.2f}" if a and b else "-"
        rows.append(f"{g[:51]:<52}{fmt(p):>10}{fmt(n):>10}{fmt(tt):>10}{r(p, tt):>13}{r(p, n):>13}")
    return "\n".join(rows)


def cmd_bench(cfg):
    import subprocess
    import tempfile
    work = tempfile.mkdtemp(prefix="pydlk-bench-")
    out = os.path.join(work, "bench.json")
    cmd = [sys.executable, "-m", "pytest", os.path.abspath(bench_dir()), "-q", "-p",
           "no:cacheprovider", f"--benchmark-json={out}",
           "--benchmark-columns=median,iqr,rounds"] + cfg["pytest_args"]
    # The child starts in an empty directory (python -m puts the working directory first on
    # sys.path, and a source checkout's pydlk/ would shadow the installed one) with the same
    # import path as this process.
    env = dict(os.environ)
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in
                                            env["PYTHONPATH"].split(os.pathsep) if p)
    print("running: " + " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=work, env=env)
    if os.path.exists(out):
        print(ratio_table(out))
    return rc


def cmd_info(cfg):
    import pydlk
    pydlk.show_config()
    return 0


# ----------------------------------------------------------------------------- parsing

def _read_toml(path):
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    return {k.replace("-", "_"): v for k, v in raw.items()}


def _common(p):
    p.add_argument("--config", help="TOML file with any of these options")
    p.add_argument("--model", help="lenet5 (default), mlp, resnet")
    p.add_argument("--data", help="digits (default), mnist:DIR, fashion-mnist:DIR, cifar10:DIR")
    p.add_argument("--optimizer", help="adam (default), adamw, sgd, rmsprop")
    p.add_argument("--lr", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--schedule", help="cosine (default), none, step, warmup-cosine")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--augment", help="none (default), basic (random shifts), flip")
    p.add_argument("--seed", type=int)
    p.add_argument("--out", help="output directory (default runs/)")


def main(argv=None):
    p = argparse.ArgumentParser(prog="pydlk", description="pydlk: train neural networks on CPUs")
    sub = p.add_subparsers(dest="command")
    t = sub.add_parser("train", help="train a model (default LeNet-5 + BatchNorm on digits)")
    _common(t)
    t.add_argument("--resume", help="continue from a checkpoint written by a previous run")
    t.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    t.set_defaults(func=cmd_train)
    d = sub.add_parser("doctor", help="sanity checks before training")
    _common(d)
    d.set_defaults(func=cmd_doctor)
    u = sub.add_parser("tune", help="random search over lr and weight decay")
    _common(u)
    u.add_argument("--trials", type=int, help="number of trials (default 8)")
    u.add_argument("--workers", type=int, help="parallel worker processes (default 1)")
    u.add_argument("--tune-epochs", type=int, help="epochs per trial (default 3)")
    u.add_argument("--storage", help="Optuna RDB URL (e.g. sqlite:///study.db) to share a study")
    u.set_defaults(func=cmd_tune)
    s = sub.add_parser("summary", help="layer table, receptive fields and FLOPs")
    _common(s)
    s.set_defaults(func=cmd_summary)
    b = sub.add_parser("bench", help="run the benchmarks and print the ratio table")
    b.add_argument("pytest_args", nargs="*", help="extra pytest arguments, e.g. -k conv2d")
    b.set_defaults(func=cmd_bench)
    i = sub.add_parser("info", help="print the build and runtime configuration")
    i.set_defaults(func=cmd_info)
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"] and not {"-h", "--help"} & set(argv[1:]):
        return cmd_bench({"pytest_args": argv[1:]})  # everything after 'bench' goes to pytest
    args = p.parse_args(argv)
    if args.command is None:
        p.print_help()
        return 2
    cfg = dict(DEFAULTS)
    if getattr(args, "config", None):
        cfg.update(_read_toml(args.config))
    cfg.update({k: v for k, v in vars(args).items() if v is not None and k not in ("func", "config")})
    return args.func(cfg)


if __name__ == "__main__":
    sys.exit(main())
