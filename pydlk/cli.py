"""The ``pydlk`` command line.

    pydlk train      train a model (default: LeNet-5 with BatchNorm on the bundled digits)
    pydlk lr-find    learning-rate range test (writes lr_find.png)
    pydlk doctor     sanity checks before training (initial loss, gradients, overfit, lr range)
    pydlk tune       random search over learning rate and weight decay
    pydlk bench      run the benchmark suite and print pydlk/torch and pydlk/NumPy ratios
    pydlk summary    the model's layer table, receptive fields and FLOPs
    pydlk info       build and runtime configuration

Every option of ``train``/``doctor``/``tune``/``summary`` can also come from a TOML file
(``--config run.toml``; keys are the long option names with '_' for '-'); flags win over it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from ._cli_build import (  # noqa: F401  (re-exported: the CLI's building blocks)
    DEFAULTS,
    Config,
    UsageError,
    build_augment,
    build_model,
    build_optimizer,
    build_schedule,
    load_data,
)


def cmd_train(cfg: Config) -> int:
    """Train the configured job. Under ``mpiexec -n N`` (N > 1) it trains data-parallel
    (``fit_support.data_parallel``: DistributedSampler shards of the global batch, SyncBatchNorm,
    DistributedDataParallel); validation and test sets are split over the ranks and their
    counts summed; rank 0 alone prints and writes the run directory. Preemption saving
    (SIGTERM -> interrupted.npz) is single-process only: under mpiexec the launcher ends every
    rank, and ``--resume`` continues from the last epoch's last.npz, which every rank reads
    (a shared file system, or the same path on every host)."""
    import pydlk

    from . import nn
    from .data import DataLoader, TensorDataset
    from .distributed import fit_support as dp
    from .train import (
        CSVLogger,
        ModelCheckpoint,
        ProgressBar,
        TrainingInterrupted,
        evaluate,
        fit,
    )

    pydlk.manual_seed(cfg["seed"])
    data = load_data(cfg["data"], cfg.get("download", False))
    xtr, ytr = data["train"]
    num_classes = int(max(int(y.max()) for _, y in data.values())) + 1
    model = build_model(cfg["model"], xtr, num_classes)
    device = _train_device(cfg["device"])
    model.to(device)  # before the optimiser: its arena is allocated on the parameters' device
    opt = build_optimizer(cfg["optimizer"], model.parameters(), cfg["lr"], cfg["weight_decay"])
    sched = build_schedule(cfg["schedule"], opt, cfg["epochs"])
    try:
        model, train = dp.data_parallel(
            model,
            TensorDataset(xtr, ytr),
            cfg["batch_size"],
            transform=build_augment(cfg["augment"], xtr),
        )
    except ValueError as e:  # a batch size that does not split over the ranks
        raise UsageError(str(e)) from None
    world = pydlk.distributed.get_world_size()
    is_main = dp.is_main_process()
    val = DataLoader(dp.eval_shard(TensorDataset(*data["val"])), batch_size=512)
    test = DataLoader(dp.eval_shard(TensorDataset(*data["test"])), batch_size=512)
    run = os.path.join(cfg["out"], f"{cfg['data'].split(':')[0]}-{cfg['model']}")
    if is_main:
        os.makedirs(run, exist_ok=True)
    # last.npz: every epoch, what --resume continues from; best.npz: the best validation
    # accuracy, what the test figure uses. checkpoint.npz is the older name of best.npz.
    last, best_path = os.path.join(run, "last.npz"), os.path.join(run, "best.npz")
    loss_fn = nn.CrossEntropyLoss()
    if is_main:
        ranks = f", {world} ranks (global batch {cfg['batch_size']})" if world > 1 else ""
        print(
            f"pydlk train: {cfg['model']} on {cfg['data']} ({len(ytr)} training images), "
            f"{cfg['optimizer']} lr {cfg['lr']:g}, {cfg['epochs']} epochs, "
            f"{pydlk.get_num_threads()} threads{ranks}",
            flush=True,
        )
    t0 = time.perf_counter()
    # fit keeps the printing and writing callbacks on rank 0 only
    callbacks = [
        ModelCheckpoint(last),
        ModelCheckpoint(best_path, monitor="val_accuracy", save_best_only=True),
        CSVLogger(os.path.join(run, "history.csv")),
    ]
    if cfg["progress"]:  # epoch lines always; the bar itself only on a terminal
        callbacks.insert(0, ProgressBar())
    try:
        history = fit(
            model,
            loss_fn,
            opt,
            train,
            val,
            epochs=cfg["epochs"],
            scheduler=sched,
            callbacks=callbacks,
            resume=cfg.get("resume"),
            verbose=False,
            preempt_path=os.path.join(run, "interrupted.npz") if world == 1 else None,
            device=device,
        )
    except TrainingInterrupted as e:  # SIGTERM/SIGINT: state saved; the shell's exit codes
        print(f"pydlk train: {e}\n(pydlk train --resume {e.path} continues)", file=sys.stderr)
        return 128 + e.signum
    seconds = time.perf_counter() - t0
    # rank 0 has written its checkpoints by now; what it finds decides for every rank
    trained = dp.broadcast_from_rank_zero(
        bool(history.epoch) and (not is_main or os.path.exists(best_path))
    )
    if not trained:
        done = len(history.epoch)
        if is_main:
            print(
                f"nothing trained: --epochs {cfg['epochs']}"
                + (" is not more than the checkpoint's epochs" if cfg.get("resume") else "")
                + (f" ({done} epochs ran)" if done else "")
                + "; no checkpoint written"
            )
        return 0
    best_epoch = 0
    if is_main:
        import shutil

        shutil.copyfile(best_path, os.path.join(run, "checkpoint.npz"))
        best = pydlk.load(best_path, map_location="cpu")  # load_state_dict copies to the model
        dp.unwrap(model).load_state_dict(best["model"])
        best_epoch = int(best["epoch"])
    # rank 0's best weights to every rank (no rank but 0 needs to read the run directory)
    dp.broadcast_model(model)
    res = evaluate(model, loss_fn, test, device=device)  # the batches go where the model is
    if is_main:
        plot = os.path.join(run, "history.png")
        try:
            history.plot(plot)
        except ImportError:
            plot = "(not written: install pydlk[plot] for matplotlib)"
        print(
            f"test accuracy {res['accuracy'] * 100:.2f}% on {len(data['test'][1])} images "
            f"(best validation epoch {best_epoch}); trained in {seconds:.1f} s"
        )
        print(
            f"checkpoint {best_path} (best), {last} (last; --resume continues from it)\n"
            f"history    {plot}"
        )
    dp.barrier()  # every rank ends once rank 0 has written everything
    return 0


def cmd_doctor(cfg: Config) -> int:
    import pydlk

    from . import nn
    from .doctor import doctor

    pydlk.manual_seed(cfg["seed"])
    x, y = load_data(cfg["data"], cfg.get("download", False))["train"]
    num_classes = int(y.max()) + 1
    # the range test sweeps the optimiser that train would use (its lr is what is swept)
    checks = doctor(
        lambda: build_model(cfg["model"], x, num_classes),
        nn.CrossEntropyLoss(),
        x,
        y,
        num_classes,
        make_optimizer=lambda params: build_optimizer(
            cfg["optimizer"], params, cfg["lr"], cfg["weight_decay"]
        ),
        batch_size=cfg["batch_size"],
    )
    return 0 if all(c.ok for c in checks) else 1


def cmd_lr_find(cfg: Config) -> int:
    """The learning-rate range test with the configured model, optimiser and batch size;
    prints the suggestion and writes OUT/DATA-MODEL/lr_find.png."""
    import pydlk

    from . import nn
    from .data import DataLoader, TensorDataset
    from .train import lr_find

    pydlk.manual_seed(cfg["seed"])
    x, y = load_data(cfg["data"], cfg.get("download", False))["train"]
    model = build_model(cfg["model"], x, int(y.max()) + 1)
    opt = build_optimizer(cfg["optimizer"], model.parameters(), cfg["lr"], cfg["weight_decay"])
    loader = DataLoader(TensorDataset(x, y), batch_size=cfg["batch_size"], shuffle=True)
    res = lr_find(model, nn.CrossEntropyLoss(), opt, loader, num_iter=cfg["num_iter"])
    run = os.path.join(cfg["out"], f"{cfg['data'].split(':')[0]}-{cfg['model']}")
    os.makedirs(run, exist_ok=True)
    k = min(range(len(res.losses)), key=res.losses.__getitem__)
    sugg = f"{res.suggestion:.2e}" if res.suggestion is not None else "none (sweep too short)"
    print(
        f"pydlk lr-find: {cfg['optimizer']} on {cfg['model']}: suggested lr {sugg} (steepest "
        f"descent); lowest loss {res.losses[k]:.3f} at lr {res.lrs[k]:.2e}"
    )
    try:
        print(f"plot {res.plot(os.path.join(run, 'lr_find.png'))}")
    except ImportError:
        print("plot not written: install pydlk[plot] for matplotlib")
    return 0


def _tune_objective(
    params: dict[str, Any], report: Callable[[int, float], None], cfg: Config
) -> float:
    import pydlk

    from . import nn
    from .data import DataLoader, TensorDataset
    from .train import Callback, fit

    class Report(Callback):  # validation accuracy after each epoch, to the pruner
        def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
            report(epoch, logs["val_accuracy"])

    pydlk.manual_seed(cfg["seed"])
    data = load_data(cfg["data"], cfg.get("download", False))
    xtr, ytr = data["train"]
    model = build_model(cfg["model"], xtr, int(ytr.max()) + 1)
    opt = build_optimizer(cfg["optimizer"], model.parameters(), params["lr"], params["reg"])
    train = DataLoader(TensorDataset(xtr, ytr), batch_size=cfg["batch_size"], shuffle=True)
    val = DataLoader(TensorDataset(*data["val"]), batch_size=512)
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        train,
        val,
        epochs=cfg["epochs"],
        callbacks=[Report()],
        verbose=False,
    )
    return history["val_accuracy"][-1] if history.epoch else 0.0


class _Objective:
    """A picklable objective carrying the configuration (workers are spawned)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def __call__(self, params: dict[str, Any], report: Callable[[int, float], None]) -> float:
        return _tune_objective(dict(params), report, self.cfg)


def _tune_space(cfg: Config) -> dict[str, Any]:
    """lr and weight decay are searched (log-uniform) unless given, then they are fixed."""
    from . import tune

    given = cfg.get("_given", set())
    return {
        "lr": cfg["lr"] if "lr" in given else tune.loguniform(1e-4, 3e-2),
        "reg": cfg["weight_decay"] if "weight_decay" in given else tune.loguniform(1e-6, 1e-2),
    }


def write_best_toml(path: str, cfg: Config, params: dict[str, Any]) -> str:
    """The best trial's settings as a config file that ``pydlk train --config`` accepts."""
    keys = {
        "model": cfg["model"],
        "data": cfg["data"],
        "optimizer": cfg["optimizer"],
        "lr": float(params["lr"]),
        "weight-decay": float(params["reg"]),
        "batch-size": int(cfg["batch_size"]),
        "schedule": cfg["schedule"],
        "augment": cfg["augment"],
    }
    lines = ["# best settings found by pydlk tune"]
    for k, v in keys.items():
        lines.append(f"{k} = {v!r}" if isinstance(v, (int, float)) else f'{k} = "{v}"')
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def cmd_tune(cfg: Config) -> int:
    """Search lr and weight decay. With Optuna: a named study (default DATA-MODEL) in
    ``--storage`` (default a journal file in the run directory), TPE sampling by default,
    median pruning on the per-epoch validation accuracy; without it, a random search. The
    sampler's seed is fresh on each invocation unless --seed is given. --lr/--weight-decay fix
    that value instead of searching it; --epochs (when given) overrides --tune-epochs as the
    epochs per trial. The best settings are printed and written to OUT/DATA-MODEL/best.toml."""
    from . import tune

    given = cfg.get("_given", set())
    space = _tune_space(cfg)
    per_trial = cfg["epochs"] if "epochs" in given else cfg["tune_epochs"]
    if per_trial < 1:
        raise UsageError(f"epochs per trial must be >= 1, got {per_trial}")
    obj = _Objective(dict(cfg, epochs=per_trial))
    run = os.path.join(cfg["out"], f"{cfg['data'].split(':')[0]}-{cfg['model']}")
    os.makedirs(run, exist_ok=True)
    seed = cfg["seed"] if "seed" in given else None
    try:
        import optuna  # noqa: F401

        have_optuna = True
    except ImportError:
        have_optuna = False
    sampler = cfg.get("sampler") or ("tpe" if have_optuna else "random")
    if have_optuna:
        name = cfg.get("study_name") or os.path.basename(run)
        storage = cfg.get("storage") or os.path.join(run, "tune.journal")
        res = tune.optuna_search(
            obj,
            space,
            n_trials=cfg["trials"],
            storage=storage,
            study_name=name,
            n_workers=cfg["workers"],
            seed=seed,
            sampler=sampler,
        )
    else:
        if cfg.get("storage") or sampler != "random":
            raise UsageError(
                "--storage and --sampler tpe/grid need Optuna: pip install 'pydlk[tune]'"
            )
        res = tune.random_search(
            obj, space, n_trials=cfg["trials"], n_workers=cfg["workers"], seed=seed
        )
    if not res.trials:
        print("pydlk tune: no trial completed")
        return 1
    best = max(res.trials, key=lambda t: t["score"])
    params = {**{k: v for k, v in space.items() if not hasattr(v, "sample")}, **best["params"]}
    path = write_best_toml(os.path.join(run, "best.toml"), cfg, params)
    print(
        f"best: val acc {best['score']:.4f}, lr {params['lr']:.3g}, weight decay "
        f"{params['reg']:.3g}\nwritten to {path} (pydlk train --config {path})"
    )
    return 0


def cmd_summary(cfg: Config) -> int:
    import pydlk

    x, y = load_data(cfg["data"], cfg.get("download", False))["train"]
    model = build_model(cfg["model"], x, int(y.max()) + 1)
    pydlk.summary(model, x.shape[1:])
    return 0


def bench_dir() -> str:
    """The benchmark suite: installed with the package, or bench/ of a source checkout."""
    here = os.path.join(os.path.dirname(__file__), "bench")
    if os.path.isdir(here):
        return here
    if os.path.isdir("bench"):
        return "bench"
    raise SystemExit("pydlk bench: no benchmark suite found")


def ratio_table(bench_json: str) -> str:
    """Per benchmark group: median times and the pydlk/torch and pydlk/numpy ratios."""
    import json
    import re

    with open(bench_json) as f:
        data = json.load(f)
    groups: dict[str, dict[str, float]] = {}
    for b in data["benchmarks"]:
        m = re.search(r"pydlk|numpy|torch", b["name"])  # which implementation this row times
        if m is None:
            continue
        impl = m.group(0)
        g = groups.setdefault(b["group"] or b["name"], {})
        g[impl] = min(g.get(impl, float("inf")), b["stats"]["median"])  # the faster variant counts
    rows = [
        (
            f"{'benchmark':<52}{'pydlk ms':>10}{'numpy ms':>10}{'torch ms':>10}"
            f"{'pydlk/torch':>13}{'pydlk/numpy':>13}"
        )
    ]
    for name, t in sorted(groups.items()):
        p, n, tt = t.get("pydlk"), t.get("numpy"), t.get("torch")

        def fmt(v: float | None) -> str:
            return f"{v * 1e3:.3f}" if v else "-"

        def r(a: float | None, b: float | None) -> str:
            return f"{a / b:.2f}" if a and b else "-"

        rows.append(
            f"{name[:51]:<52}{fmt(p):>10}{fmt(n):>10}{fmt(tt):>10}{r(p, tt):>13}{r(p, n):>13}"
        )
    return "\n".join(rows)


def cmd_bench(cfg: Config) -> int:
    import subprocess
    import tempfile

    from ._config import blas_kernel_warning

    warning = blas_kernel_warning()
    if warning:
        print(f"pydlk bench: warning: {warning}", file=sys.stderr)
    work = tempfile.mkdtemp(prefix="pydlk-bench-")
    out = os.path.join(work, "bench.json")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        os.path.abspath(bench_dir()),
        "-q",
        "-p",
        "no:cacheprovider",
        f"--benchmark-json={out}",
        "--benchmark-columns=median,iqr,rounds",
    ] + cfg["pytest_args"]
    # The child starts in an empty directory (python -m puts the working directory first on
    # sys.path, and a source checkout's pydlk/ would shadow the installed one) with the same
    # import path as this process.
    env = dict(os.environ)
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(
            os.path.abspath(p) for p in env["PYTHONPATH"].split(os.pathsep) if p
        )
    print("running: " + " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=work, env=env)
    if os.path.exists(out):
        print(ratio_table(out))
    return rc


def _train_device(spec: str) -> str:
    """``--device`` as 'cpu' or 'cuda:N'; a UsageError for a malformed one or a GPU that is not
    there (before any data is loaded)."""
    from . import cuda
    from ._device import device_str

    try:
        dev = device_str(spec)
    except ValueError:
        raise UsageError(f"--device must be cpu, cuda or cuda:N, got {spec!r}") from None
    if dev != "cpu" and not cuda.is_available():
        raise UsageError(f"--device {spec}: no CUDA GPU is available (CuPy and a GPU are needed)")
    assert dev is not None  # device_str gives None only for None
    return dev


def cmd_info(cfg: Config) -> int:
    import pydlk

    pydlk.show_config()
    gpu = pydlk.cuda.versions()
    if gpu is None:
        print(f"{'GPU':<12}  no GPU (CuPy is not installed, or it found no CUDA device)")
    else:
        for k in ("GPU", "driver", "CUDA runtime", "CuPy", "cuDNN"):
            print(f"{k:<12}  {gpu[k]}")
    return 0


# ----------------------------------------------------------------------------- parsing

HELP = {
    "model": "lenet5, mlp or resnet",
    "data": "digits, mnist:DIR, fashion-mnist:DIR or cifar10:DIR",
    "optimizer": "adam, adamw, sgd or rmsprop",
    "lr": "learning rate (> 0)",
    "weight_decay": "L2 penalty / decoupled decay (>= 0)",
    "schedule": "learning-rate schedule: cosine, none, step or warmup-cosine",
    "epochs": "epochs to train (>= 0; with --resume, the total including earlier ones)",
    "batch_size": "training batch size (>= 1)",
    "augment": "none, basic (random shifts) or flip",
    "seed": "random seed",
    "out": "output directory; the run goes to OUT/DATA-MODEL/",
    "trials": "number of trials (>= 1)",
    "workers": "parallel worker processes (>= 1)",
    "tune_epochs": "epochs per trial (>= 1)",
}
# Value checks: (type, predicate, what is expected). Types are checked because TOML values
# arrive untyped ('lr = "fast"').
CHECKS: dict[str, tuple[type, Callable[[Any], bool], str]] = {
    "lr": (float, lambda v: v > 0, "a number > 0"),
    "weight_decay": (float, lambda v: v >= 0, "a number >= 0"),
    "epochs": (int, lambda v: v >= 0, "an integer >= 0"),
    "batch_size": (int, lambda v: v >= 1, "an integer >= 1"),
    "seed": (int, lambda v: v >= 0, "an integer >= 0"),
    "trials": (int, lambda v: v >= 1, "an integer >= 1"),
    "workers": (int, lambda v: v >= 1, "an integer >= 1"),
    "tune_epochs": (int, lambda v: v >= 1, "an integer >= 1"),
    "num_iter": (int, lambda v: v >= 2, "an integer >= 2"),
    "progress": (bool, lambda v: True, "true or false"),
    "download": (bool, lambda v: True, "true or false"),
}
for _k in ("model", "data", "optimizer", "schedule", "augment", "out", "resume", "device"):
    CHECKS[_k] = (str, lambda v: bool(v), "a non-empty string")
# Keys a --config file may hold (one file may serve several commands).
CONFIG_KEYS = sorted(set(DEFAULTS) | set(CHECKS) | {"storage", "study_name", "sampler"})


def _read_toml(path: str) -> Config:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # tomli, tomllib's backport, is a dependency on Python 3.10
        import tomli as tomllib
    if not os.path.isfile(path):
        raise UsageError(f"--config {path}: no such file")
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"--config {path}: not valid TOML ({e})") from None
    out: Config = {}
    for k, v in raw.items():
        key = k.replace("-", "_")
        if key not in CONFIG_KEYS:
            import difflib

            close = difflib.get_close_matches(key, CONFIG_KEYS, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0].replace('_', '-')}'?" if close else ""
            raise UsageError(
                f"--config {path}: unknown key '{k}'{hint} (valid keys: "
                f"{', '.join(c.replace('_', '-') for c in CONFIG_KEYS)})"
            )
        out[key] = v
    return out


def validate(cfg: Config) -> Config:
    """Check every known value's type and range; raises ``UsageError`` naming the option."""
    for k, v in cfg.items():
        if k not in CHECKS:
            continue
        typ, ok, expected = CHECKS[k]
        if typ is float and isinstance(v, int) and not isinstance(v, bool):
            v = cfg[k] = float(v)
        if not isinstance(v, typ) or (typ is not bool and isinstance(v, bool)) or not ok(v):
            raise UsageError(f"--{k.replace('_', '-')} must be {expected}, got {v!r}")
    if cfg.get("resume") and not os.path.isfile(cfg["resume"]):
        raise UsageError(f"--resume {cfg['resume']}: no such file")
    return cfg


def _add(
    p: argparse.ArgumentParser, name: str, typ: type = str, default_shown: bool = True
) -> None:
    key = name.replace("-", "_")
    text = HELP[key]
    if default_shown:
        text += f" (default: {DEFAULTS[key]})"
    p.add_argument("--" + name, type=typ, help=text)


def _common(p: argparse.ArgumentParser, training: bool = True) -> None:
    """The options a command honours: the model/data ones everywhere, the training ones only
    where the command trains (or, for doctor, runs the range test with them)."""
    p.add_argument(
        "--config",
        help="TOML file with any of these options (keys are the long "
        "option names; flags win over it) (default: none)",
    )
    _add(p, "model")
    _add(p, "data")
    p.add_argument(
        "--download",
        action="store_true",
        default=None,
        help="download a missing mnist/fashion-mnist/cifar10 data set into DIR (default: off)",
    )
    _add(p, "seed", int)
    if training:
        _add(p, "optimizer")
        _add(p, "lr", float)
        _add(p, "weight-decay", float)
        _add(p, "schedule")
        _add(p, "epochs", int)
        _add(p, "batch-size", int)
        _add(p, "augment")
        _add(p, "out")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("pydlk")
    except ImportError:  # PackageNotFoundError: a source checkout that was never installed
        import re

        here = os.path.join(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyproject.toml"
        )
        try:
            with open(here) as f:
                m = re.search(r'^version\s*=\s*"([^"]+)"', f.read(), re.MULTILINE)
            return m.group(1) if m else "unknown"
        except OSError:
            return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The ``pydlk`` argument parser (every option shows its help and default)."""
    # Defaults are written into each help text: the options have no argparse defaults (None
    # means 'not given', so the --config file can fill them), which ArgumentDefaultsHelpFormatter
    # would show as 'default: None'.
    fmt = argparse.HelpFormatter
    p = argparse.ArgumentParser(
        prog="pydlk", description="pydlk: train neural networks on CPUs", formatter_class=fmt
    )
    p.add_argument("--version", action="version", version=f"pydlk {_version()}")
    sub = p.add_subparsers(dest="command")
    t = sub.add_parser(
        "train", help="train a model (default LeNet-5 + BatchNorm on digits)", formatter_class=fmt
    )
    _common(t)
    t.add_argument(
        "--resume",
        help="continue from a checkpoint, e.g. OUT/DATA-MODEL/last.npz, "
        "up to --epochs in all; the scheduler continues from its saved state (a "
        "cosine schedule keeps the first run's length: past it, torch's curve rises "
        "again slowly, it does not restart) (default: none)",
    )
    t.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=None,
        help="no progress bar (default: a bar when stdout is a terminal)",
    )
    t.add_argument(
        "--device",
        help="where to train: cpu, cuda or cuda:N (a GPU needs CuPy) (default: cpu)",
    )
    t.set_defaults(func=cmd_train)
    d = sub.add_parser(
        "doctor",
        help="sanity checks before training; the learning-rate range "
        "test uses --optimizer, --weight-decay and --batch-size",
        formatter_class=fmt,
    )
    _common(d, training=False)
    _add(d, "optimizer")
    _add(d, "weight-decay", float)
    _add(d, "batch-size", int)
    d.set_defaults(func=cmd_doctor)
    u = sub.add_parser(
        "tune",
        help="search lr and weight decay (given ones stay fixed); "
        "--epochs, when given, is the epochs per trial",
        formatter_class=fmt,
    )
    _common(u)
    _add(u, "trials", int)
    _add(u, "workers", int)
    _add(u, "tune-epochs", int)
    u.add_argument(
        "--storage",
        help="Optuna storage: an RDB URL (sqlite:///study.db, "
        "postgresql://...) or a journal file path, to share a study "
        "(default: OUT/DATA-MODEL/tune.journal)",
    )
    u.add_argument("--study-name", help="Optuna study name (default: DATA-MODEL)")
    u.add_argument(
        "--sampler",
        choices=("tpe", "random", "grid"),
        help="how trials are chosen (default: tpe with Optuna, else random)",
    )
    u.set_defaults(func=cmd_tune)
    f = sub.add_parser(
        "lr-find", help="learning-rate range test; writes lr_find.png", formatter_class=fmt
    )
    _common(f)
    f.add_argument("--num-iter", type=int, help="steps of the sweep (default: 100)")
    f.set_defaults(func=cmd_lr_find)
    s = sub.add_parser(
        "summary", help="layer table, receptive fields and FLOPs", formatter_class=fmt
    )
    _common(s, training=False)
    s.set_defaults(func=cmd_summary)
    b = sub.add_parser(
        "bench", help="run the benchmarks and print the ratio table", formatter_class=fmt
    )
    b.add_argument("pytest_args", nargs="*", help="extra pytest arguments, e.g. -k conv2d")
    b.set_defaults(func=cmd_bench)
    i = sub.add_parser(
        "info", help="print the build and runtime configuration", formatter_class=fmt
    )
    i.set_defaults(func=cmd_info)
    return p


class _StderrHandler:
    """Shows the library's 'pydlk' log messages (INFO and up) on the current sys.stderr."""

    @staticmethod
    def install() -> None:
        import logging

        class Handler(logging.Handler):
            _pydlk_cli = True  # what a second install() recognises

            def emit(self, record: logging.LogRecord) -> None:
                try:
                    print(f"pydlk: {record.getMessage()}", file=sys.stderr, flush=True)
                except (OSError, ValueError):  # a closed or broken stderr
                    self.handleError(record)

        log = logging.getLogger("pydlk")
        if not any(
            type(h).__name__ == "Handler" and getattr(h, "_pydlk_cli", False) for h in log.handlers
        ):
            log.addHandler(Handler(logging.INFO))
        if log.level == logging.NOTSET or log.level > logging.INFO:
            log.setLevel(logging.INFO)


def _run(argv: Sequence[str] | None) -> int:
    _StderrHandler.install()
    p = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"] and not {"-h", "--help"} & set(argv[1:]):
        # everything after 'bench' goes to pytest; a leading '--' (the usual way to say "the
        # rest is for the inner program") is dropped, as pytest would take what follows it
        # for file names
        rest = argv[2:] if argv[1:2] == ["--"] else argv[1:]
        return cmd_bench({"pytest_args": rest})
    args = p.parse_args(argv)
    if args.command is None:
        p.print_help()
        return 2
    try:
        cfg = dict(DEFAULTS)
        given: set[str] = set()  # keys set by the file or a flag, not by DEFAULTS
        if getattr(args, "config", None):
            from_file = _read_toml(args.config)
            cfg.update(from_file)
            given |= set(from_file)
        flags = {
            k: v for k, v in vars(args).items() if v is not None and k not in ("func", "config")
        }
        cfg.update(flags)
        given |= set(flags)
        validate(cfg)
        cfg["_given"] = given
        return args.func(cfg)
    except UsageError as e:
        print(f"pydlk {args.command}: error: {e}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        rc = _run(argv)
        sys.stdout.flush()
        return rc
    except BrokenPipeError:
        # The reader went away (``pydlk train | head -1``). As the Python docs advise: point
        # stdout at devnull so the interpreter's final flush does not fail again, and exit
        # like a process killed by SIGPIPE would be seen by the shell.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + 13


if __name__ == "__main__":
    sys.exit(main())
