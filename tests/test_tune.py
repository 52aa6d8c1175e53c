"""Hyperparameter search: sampling, the lecture's printed format, coarse-to-fine, grid, and the
Optuna backend with a shared sqlite study, workers and pruning."""

import math

import numpy as np
import pytest

from pydlk import tune


def peaked(params, report):
    """A score that peaks at lr = 1e-3, reg = 1e-4 (log scale)."""
    return -((math.log10(params["lr"]) + 3) ** 2 + (math.log10(params["reg"]) + 4) ** 2)


def staged(params, report):
    """Reports 5 intermediate scores; bad learning rates are pruned early by a median pruner."""
    score = 0.0
    for step in range(5):
        score = -abs(math.log10(params["lr"]) + 3) + 0.01 * step
        report(step, score)
    return score


SPACE = {"lr": tune.loguniform(1e-6, 1e0), "reg": tune.loguniform(1e-7, 1e-1)}


def test_loguniform_is_uniform_in_the_exponent():
    rng = np.random.default_rng(0)
    d = tune.loguniform(1e-6, 1e-2)
    e = np.log10([d.sample(rng) for _ in range(4000)])
    assert e.min() >= -6 and e.max() <= -2
    counts = np.histogram(e, bins=4, range=(-6, -2))[0]
    assert counts.min() > 850  # each decade about a quarter
    with pytest.raises(ValueError, match="0 < low < high"):
        tune.loguniform(0, 1)


def test_random_search_prints_the_lecture_format_sorted(capsys):
    res = tune.random_search(peaked, SPACE, n_trials=12, seed=1)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("val acc: ") and out[0].endswith("/ 12)") and "lr: " in out[0]
    scores = [t["score"] for t in res.trials]
    assert scores == sorted(scores, reverse=True) and len(scores) == 12
    assert res.best["score"] == max(peaked(t["params"], None) for t in res.trials)
    assert "sorted:" in out


def test_coarse_to_fine_narrows_towards_the_optimum():
    res = tune.coarse_to_fine(peaked, SPACE, rounds=3, n_trials=16, seed=0, verbose=False)
    assert res.space["lr"].high / res.space["lr"].low < SPACE["lr"].high / SPACE["lr"].low
    assert abs(math.log10(res.best["params"]["lr"]) + 3) < 1.0


def test_grid_search_covers_the_product():
    res = tune.grid_search(peaked, {"lr": [1e-4, 1e-3, 1e-2], "reg": [1e-4, 1e-2]}, verbose=False)
    assert len(res.trials) == 6
    assert res.best["params"] == {"lr": 1e-3, "reg": 1e-4}


def test_workers_are_spawned_and_give_the_same_results():
    serial = tune.random_search(peaked, SPACE, n_trials=6, seed=3, verbose=False)
    parallel = tune.random_search(peaked, SPACE, n_trials=6, seed=3, n_workers=2, verbose=False)
    assert [t["params"] for t in serial.trials] == [t["params"] for t in parallel.trials]
    assert tune._threads_per_worker(2) >= 1


def test_optuna_shared_sqlite_study_with_workers_and_pruning(tmp_path):
    pytest.importorskip("optuna")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    res = tune.optuna_search(
        staged,
        {"lr": tune.loguniform(1e-6, 1e0)},
        n_trials=12,
        storage=storage,
        study_name="s",
        n_workers=2,
        verbose=False,
    )
    assert len(res.trials) + res.pruned == 12
    assert res.pruned >= 1
    # a second process joining the same study adds to it instead of starting over
    again = tune.optuna_search(
        staged,
        {"lr": tune.loguniform(1e-6, 1e0)},
        n_trials=3,
        storage=storage,
        study_name="s",
        verbose=False,
    )
    assert len(again.trials) + again.pruned == 15


def test_coarse_to_fine_margin_keeps_the_optimum_in_range():
    """A toy score peaking at lr=1e-3: with the margin every seed's final range still holds
    the optimum; narrowing to exactly the best trials' span (margin=0) loses it."""
    import math

    def obj(p, report):
        return -((math.log10(p["lr"]) + 3) ** 2)

    def misses(margin):
        out = []
        for seed in range(20):
            res = tune.coarse_to_fine(
                obj,
                {"lr": tune.loguniform(1e-6, 1.0)},
                rounds=3,
                n_trials=12,
                seed=seed,
                verbose=False,
                margin=margin,
            )
            if not res.space["lr"].low <= 1e-3 <= res.space["lr"].high:
                out.append(seed)
        return out

    assert misses(0.5) == []
    assert len(misses(0.0)) > 3


def test_pydlk_tune_workers_share_one_journal_file(tmp_path):
    """Three ``pydlk tune`` processes started independently (as on three machines, each with
    its own --out) on one journal file: one study with every trial, numbered once each."""
    optuna = pytest.importorskip("optuna")
    import subprocess
    import sys

    from conftest import child_env

    journal = tmp_path / "shared.journal"
    workers, per_worker = 3, 2
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pydlk.cli",
                "tune",
                "--model",
                "mlp",
                "--trials",
                str(per_worker),
                "--epochs",
                "1",
                "--sampler",
                "random",
                "--seed",
                str(i),
                "--storage",
                str(journal),
                "--study-name",
                "shared",
                "--out",
                f"w{i}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=child_env(OMP_NUM_THREADS="1"),
            cwd=tmp_path,
        )
        for i in range(workers)
    ]
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(workers * per_worker))  # no duplicate, none lost
    # every trial finished; one a pruner stopped early (depending on the other workers' reports
    # at that moment) counts as finished, so not all need be COMPLETE
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    assert all(t.state in done for t in trials), [t.state for t in trials]
    assert any(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({(t.params["lr"], t.params["reg"]) for t in trials}) == workers * per_worker
    for i in range(workers):  # each worker wrote its own best settings from the shared study
        assert (tmp_path / f"w{i}" / "digits-mlp" / "best.toml").exists()
