"""Hyperparameter search as the lectures teach it: random search with log-uniform sampling,
coarse-to-fine refinement, results printed as
``val acc: 0.412, lr: 1.2e-04, reg: 3.1e-03, (3 / 20)`` and sorted at the end; grid search;
and an Optuna backend (optional extra ``tune``) whose RDB storage (sqlite by default) lets
several processes or machines work on one study, with pruning.

An objective is ``objective(params, report) -> score`` (higher is better, e.g. validation
accuracy); ``report(step, value)`` passes intermediate scores to a pruner (a no-op without one)
and may raise ``Pruned``. Workers are started with ``spawn`` and the cores are divided among
them (each worker gets ``cores // n_workers`` threads), so nothing oversubscribes. With more than
one worker the objective must be picklable (a module-level function).
"""

from __future__ import annotations

import itertools
import math
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np

# report(step, value): an intermediate score for the pruner.
Report: TypeAlias = Callable[[int, float], None]
# objective(params, report) -> score, higher is better.
Objective: TypeAlias = Callable[[dict[str, Any], Report], float]
# A search space: name -> a dimension (loguniform, uniform, randint, choice) or a constant.
Space: TypeAlias = Mapping[str, Any]
# One trial: {"index": int, "params": dict, "score": float or None}.
Trial: TypeAlias = dict[str, Any]


class Pruned(Exception):
    """Raised by ``report`` when a pruner stops a trial early."""


# ----------------------------------------------------------------------------- search spaces


class loguniform:
    """A search-space dimension: floats log-uniform in [low, high) (for learning rates).
    Raises ValueError unless 0 < low < high.
    """

    def __init__(self, low: float, high: float) -> None:
        if not 0 < low < high:
            raise ValueError(f"loguniform: need 0 < low < high, got {low}, {high}")
        self.low, self.high = float(low), float(high)

    def sample(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))

    def narrowed(
        self, values: Sequence[float], margin: float = 0.5, keep: float = 0.25
    ) -> loguniform:
        """The span of ``values`` widened on each side (in log space) by ``margin`` times a
        step, the larger of that span and ``keep`` of this range, clipped to this range: the
        best trials seldom bracket the optimum exactly."""
        lo, hi = math.log(min(values)), math.log(max(values))
        step = max(hi - lo, keep * (math.log(self.high) - math.log(self.low)))
        pad = margin * step
        return loguniform(
            math.exp(max(lo - pad, math.log(self.low))),
            math.exp(min(hi + pad, math.log(self.high))) * (1 + 1e-9),
        )

    def __repr__(self) -> str:
        return f"loguniform({self.low:g}, {self.high:g})"


class uniform:
    """A search-space dimension: floats uniform in [low, high). Raises ValueError unless
    low < high.
    """

    def __init__(self, low: float, high: float) -> None:
        if not low < high:
            raise ValueError(f"uniform: need low < high, got {low}, {high}")
        self.low, self.high = float(low), float(high)

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def narrowed(self, values: Sequence[float], margin: float = 0.5, keep: float = 0.25) -> uniform:
        """The span of ``values`` widened on each side by ``margin`` times a step, the larger
        of that span and ``keep`` of this range, clipped to this range."""
        lo, hi = min(values), max(values)
        pad = margin * max(hi - lo, keep * (self.high - self.low))
        return uniform(max(lo - pad, self.low), min(hi + pad, self.high) + 1e-12)

    def __repr__(self) -> str:
        return f"uniform({self.low:g}, {self.high:g})"


class randint:
    """A search-space dimension: ints uniform in [low, high). Raises ValueError unless
    low < high.
    """

    def __init__(self, low: int, high: int) -> None:
        if not low < high:
            raise ValueError(f"randint: need low < high, got {low}, {high}")
        self.low, self.high = int(low), int(high)

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high))

    def narrowed(self, values: Sequence[int]) -> randint:
        return randint(min(values), max(values) + 1)


class choice:
    """A search-space dimension: one of ``options``, uniformly. Raises ValueError if empty."""

    def __init__(self, options: Iterable[Any]) -> None:
        self.options = list(options)
        if not self.options:
            raise ValueError("choice: need at least one option")

    def sample(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]

    def narrowed(self, values: Sequence[Any]) -> choice:
        return choice([o for o in self.options if o in values])


def _fmt(v: Any) -> str:
    return f"{v:.3e}" if isinstance(v, float) else str(v)


def format_trial(
    score: float, params: Mapping[str, Any], i: int, n: int, metric: str = "val acc"
) -> str:
    """One line for a trial: the score, each parameter, and ``(i / n)``."""
    return ", ".join(
        [f"{metric}: {score:.4f}"]
        + [f"{k}: {_fmt(v)}" for k, v in params.items()]
        + [f"({i} / {n})"]
    )


# ----------------------------------------------------------------------------- results


class SearchResult:
    """The trials of a search, best first (``best``, ``trials``, ``failed``); ``table()``
    formats them one per line.
    """

    # set by coarse_to_fine (the final ranges) and optuna_search (the study, pruned trials)
    space: dict[str, Any]
    study: Any
    pruned: int

    def __init__(self, trials: Sequence[Trial], metric: str = "val acc") -> None:
        done = [t for t in trials if t["score"] is not None and not math.isnan(t["score"])]
        self.trials = sorted(done, key=lambda t: -t["score"])
        self.failed = [t for t in trials if t not in done]
        self.metric = metric

    @property
    def best(self) -> Trial | None:
        return self.trials[0] if self.trials else None

    def table(self) -> str:
        n = len(self.trials) + len(self.failed)
        return "\n".join(
            format_trial(t["score"], t["params"], t["index"], n, self.metric) for t in self.trials
        )


# ----------------------------------------------------------------------------- workers


def _threads_per_worker(n_workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, n_workers))


def _worker_init(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import pydlk

    pydlk.set_num_threads(threads)


def _noop(step: int, value: float) -> None:
    pass


def _run_one(args: tuple[Objective, dict[str, Any], int]) -> Trial:
    objective, params, index = args
    score: float | None
    try:
        score = float(objective(params, _noop))
    except Pruned:
        score = None
    return {"index": index, "params": params, "score": score}


def _run_trials(
    objective: Objective,
    param_list: Sequence[dict[str, Any]],
    n_workers: int,
    verbose: bool,
    metric: str,
    start: int = 1,
    total: int | None = None,
) -> list[Trial]:
    total = total or len(param_list)
    jobs = [(objective, p, start + i) for i, p in enumerate(param_list)]
    results = []

    def show(r: Trial) -> None:
        if verbose and r["score"] is not None:
            print(format_trial(r["score"], r["params"], r["index"], total, metric), flush=True)

    if n_workers <= 1:
        for j in jobs:
            r = _run_one(j)
            show(r)
            results.append(r)
        return results
    threads = _threads_per_worker(n_workers)
    ctx = mp.get_context("spawn")
    with ctx.Pool(n_workers, initializer=_worker_init, initargs=(threads,)) as pool:
        for r in pool.imap_unordered(_run_one, jobs):
            show(r)
            results.append(r)
    return results


def _sample(space: Space, rng: np.random.Generator) -> dict[str, Any]:
    return {k: (d.sample(rng) if hasattr(d, "sample") else d) for k, d in space.items()}


def random_search(
    objective: Objective,
    space: Space,
    n_trials: int = 20,
    seed: int | None = 0,
    n_workers: int = 1,
    verbose: bool = True,
    metric: str = "val acc",
) -> SearchResult:
    """Sample ``n_trials`` points of ``space`` ({name: loguniform/uniform/randint/choice or a
    constant}) and evaluate them; prints each result, then the sorted table."""
    if n_trials < 1:
        raise ValueError(f"random_search: n_trials must be >= 1, got {n_trials}")
    rng = np.random.default_rng(seed)
    params = [_sample(space, rng) for _ in range(n_trials)]
    res = SearchResult(_run_trials(objective, params, n_workers, verbose, metric), metric)
    if verbose:
        print("sorted:\n" + res.table(), flush=True)
    return res


def coarse_to_fine(
    objective: Objective,
    space: Space,
    rounds: int = 2,
    n_trials: int = 20,
    keep: float = 0.25,
    seed: int = 0,
    n_workers: int = 1,
    verbose: bool = True,
    metric: str = "val acc",
    margin: float = 0.5,
) -> SearchResult:
    """Random search in rounds; after each, every range shrinks to the span of the best
    ``keep`` fraction of trials (the lectures' coarse-to-fine search), widened on each side by
    ``margin`` steps (a step: that span or ``keep`` of the previous range, the larger; log
    space for ``loguniform``; clipped to the previous range): without it an optimum just
    outside the best trials' span is lost for good."""
    all_trials: list[Trial] = []
    cur = dict(space)
    for r in range(rounds):
        if verbose:
            print(
                f"round {r + 1}/{rounds}: "
                + ", ".join(f"{k}={v!r}" for k, v in cur.items() if hasattr(v, "sample")),
                flush=True,
            )
        res = random_search(
            objective, cur, n_trials, seed + r, n_workers, verbose=False, metric=metric
        )
        if verbose:
            print(res.table(), flush=True)
        all_trials.extend(res.trials)
        top = res.trials[: max(2, math.ceil(keep * len(res.trials)))]
        if len(top) >= 2:
            cur = {
                k: (
                    d.narrowed([t["params"][k] for t in top], margin, keep)
                    if isinstance(d, (loguniform, uniform))
                    else d.narrowed([t["params"][k] for t in top])
                    if hasattr(d, "narrowed")
                    else d
                )
                for k, d in cur.items()
            }
    for i, t in enumerate(all_trials, 1):
        t["index"] = i
    final = SearchResult(all_trials, metric)
    final.space = cur
    if verbose:
        print("sorted:\n" + final.table(), flush=True)
    return final


def grid_search(
    objective: Objective,
    grid: Mapping[str, Sequence[Any]],
    n_workers: int = 1,
    verbose: bool = True,
    metric: str = "val acc",
) -> SearchResult:
    """Every combination of ``grid`` ({name: list of values})."""
    keys = list(grid)
    params = [dict(zip(keys, vals)) for vals in itertools.product(*(grid[k] for k in keys))]
    res = SearchResult(_run_trials(objective, params, n_workers, verbose, metric), metric)
    if verbose:
        print("sorted:\n" + res.table(), flush=True)
    return res


# ----------------------------------------------------------------------------- Optuna backend


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ImportError(
            "pydlk.tune.optuna_search needs Optuna: pip install 'pydlk[tune]'"
        ) from None
    return optuna


def _suggest(trial: Any, space: Space) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, d in space.items():
        if isinstance(d, loguniform):
            out[k] = trial.suggest_float(k, d.low, d.high, log=True)
        elif isinstance(d, uniform):
            out[k] = trial.suggest_float(k, d.low, d.high)
        elif isinstance(d, randint):
            out[k] = trial.suggest_int(k, d.low, d.high - 1)
        elif isinstance(d, choice):
            out[k] = trial.suggest_categorical(k, d.options)
        else:
            out[k] = d
    return out


def _grid(space: Space, points: int = 4) -> dict[str, list[Any]]:
    """A grid of ``points`` values per searched range (log-spaced for ``loguniform``)."""
    out: dict[str, list[Any]] = {}
    for k, d in space.items():
        if isinstance(d, loguniform):
            out[k] = [float(v) for v in np.geomspace(d.low, d.high, points)]
        elif isinstance(d, uniform):
            out[k] = [float(v) for v in np.linspace(d.low, d.high, points)]
        elif isinstance(d, randint):
            out[k] = list(range(d.low, d.high))
        elif isinstance(d, choice):
            out[k] = list(d.options)
    return out


def make_sampler(name: str, space: Space, seed: int | None = None) -> Any:
    """An Optuna sampler by name: 'tpe' (default), 'random' or 'grid' (``_grid`` of the
    space). ``seed`` None draws a fresh seed, so separate invocations explore differently."""
    optuna = _optuna()
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(_grid(space), seed=seed)
    raise ValueError(f"make_sampler: sampler must be 'tpe', 'random' or 'grid', got {name!r}")


def resolve_storage(storage: Any) -> Any:
    """An Optuna storage: an RDB URL ('sqlite:///study.db', 'postgresql://...') as is; any
    other string is a journal file path (``JournalStorage``: a plain file, fine on NFS)."""
    if storage is None or not isinstance(storage, str) or "://" in storage:
        return storage
    optuna = _optuna()
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(storage))


def _optuna_worker(
    objective: Objective,
    space: Space,
    n_trials: int,
    storage: Any,
    study_name: str,
    seed: int | None,
    threads: int,
    sampler: str = "random",
) -> None:
    _worker_init(threads)
    optuna = _optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=study_name,
        storage=resolve_storage(storage),
        sampler=make_sampler(sampler, space, seed),
    )

    def run(trial: Any) -> float:
        params = _suggest(trial, space)

        def report(step: int, value: float) -> None:
            trial.report(float(value), int(step))
            if trial.should_prune():
                raise optuna.TrialPruned()

        try:
            return float(objective(params, report))
        except Pruned:
            raise optuna.TrialPruned() from None

    study.optimize(run, n_trials=n_trials)


def optuna_search(
    objective: Objective,
    space: Space,
    n_trials: int = 20,
    storage: Any = None,
    study_name: str = "pydlk",
    n_workers: int = 1,
    seed: int | None = 0,
    pruner: Any = "median",
    verbose: bool = True,
    metric: str = "val acc",
    sampler: str = "random",
) -> SearchResult:
    """Run (or join) an Optuna study. ``storage`` is an RDB URL (default
    ``sqlite:///pydlk_tune.db``) or a journal file path: processes on other machines that
    point at the same storage join the same study. ``sampler``: 'random' (default here, as
    before), 'tpe' or 'grid'; ``seed`` None draws a fresh one. Pruning (``pruner='median'``,
    or None) stops trials whose reported intermediate scores fall below the median of earlier
    trials at the same step."""
    optuna = _optuna()
    storage = storage or "sqlite:///pydlk_tune.db"
    pr = (
        optuna.pruners.MedianPruner(n_warmup_steps=1)
        if pruner == "median"
        else (pruner or optuna.pruners.NopPruner())
    )
    study = optuna.create_study(
        study_name=study_name,
        storage=resolve_storage(storage),
        direction="maximize",
        pruner=pr,
        load_if_exists=True,
    )
    per = [n_trials // n_workers + (i < n_trials % n_workers) for i in range(n_workers)]
    if n_workers <= 1:
        _optuna_worker(
            objective, space, n_trials, storage, study_name, seed, _threads_per_worker(1), sampler
        )
    else:
        ctx = mp.get_context("spawn")
        procs = [
            ctx.Process(
                target=_optuna_worker,
                args=(
                    objective,
                    space,
                    k,
                    storage,
                    study_name,
                    None if seed is None else seed + i,
                    _threads_per_worker(n_workers),
                    sampler,
                ),
            )
            for i, k in enumerate(per)
            if k
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
            if p.exitcode != 0:
                raise RuntimeError(f"optuna_search: a worker exited with code {p.exitcode}")
    study = optuna.load_study(study_name=study_name, storage=resolve_storage(storage))
    trials = [
        {"index": t.number + 1, "params": dict(t.params), "score": t.value}
        for t in study.trials
        if t.state == optuna.trial.TrialState.COMPLETE
    ]
    res = SearchResult(trials, metric)
    res.study = study
    res.pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    if verbose:
        print("sorted:\n" + res.table() + f"\n({res.pruned} trials pruned)", flush=True)
    return res


__all__ = [
    "Pruned",
    "SearchResult",
    "choice",
    "coarse_to_fine",
    "format_trial",
    "grid_search",
    "loguniform",
    "make_sampler",
    "optuna_search",
    "randint",
    "random_search",
    "resolve_storage",
    "uniform",
]
