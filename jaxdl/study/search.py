"""Bayesian optimisation with Optuna's TPE sampler, writing trials to the same store.

    .venv/bin/pip install -e '.[optuna]'   # in a jaxdl checkout: the `optuna` extra
    jaxdl sweep experiments/X.py        # a study that declares SEARCH instead of SWEEP

A study declares

    SEARCH = search.Search(space={"optimizer.lr": sweep.log_uniform(1e-4, 1e-1),
                                  "optimizer.weight_decay": sweep.log_uniform(1e-6, 1e-2)},
                           points=20, seed=0, objective="test/accuracy", direction="maximize")

and `jaxdl sweep` asks Optuna for one point at a time, trains it at every seed in
SEEDS as ordinary trials of the store (vectorized over the seeds where that is the
mode), tells Optuna the mean final objective over the seeds that finished, and
asks again. Optuna keeps nothing: its study lives in memory and is rebuilt from
the store. A re-run replays the same asks — TPE with a fixed seed proposes the same
point given the same told values, and the told values are read back from the
committed records — so points already in the store are told without training and
the search continues exactly where it stopped. A search is sequential: no --shard.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import tqdm

from jaxdl.study import run
from jaxdl.study import store as store_lib
from jaxdl.study import sweep

__all__ = ["DIRECTIONS", "Search", "suggest", "objective_value", "run_search"]

DIRECTIONS = ("maximize", "minimize")


@dataclasses.dataclass(frozen=True)
class Search:
    """A Bayesian search: `points` points of `space`, each trained at every seed."""
    space: dict[str, sweep.Distribution]
    points: int
    objective: str = "test/accuracy"
    direction: str = "maximize"
    seed: int = 0

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise sweep.StudyError(f"Search: direction {self.direction!r} is not one of "
                                   f"{', '.join(DIRECTIONS)}")
        if self.points < 1:
            raise sweep.StudyError(f"Search: points must be >= 1, got {self.points}")


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise sweep.StudyError("this study's SEARCH needs optuna: pip install -e '.[optuna]' "
                               "in a jaxdl checkout (or pip install 'optuna>=4,<6')") from None
    optuna.logging.set_verbosity(logging.WARNING)
    return optuna


def suggest(trial: Any, key: str, dist: sweep.Distribution) -> Any:
    """The value Optuna's `trial` proposes for axis `key` from `dist`."""
    if dist.kind in ("log_uniform", "uniform"):
        return trial.suggest_float(key, *dist.args, log=dist.kind == "log_uniform")
    if dist.kind == "int_uniform":
        return trial.suggest_int(key, *dist.args)
    return trial.suggest_categorical(key, list(dist.args))


def objective_value(store: store_lib.Store, trials: list[sweep.Trial], metric: str
                    ) -> float | None:
    """The mean over the point's done trials of `metric` at their last step; None when
    every seed failed."""
    values = []
    for trial in trials:
        record = store.record(trial.id) or {}
        if record.get("status") == store_lib.DONE:
            rows = [(step, value) for step, m, value in record["rows"] if m == metric]
            values.append(max(rows)[1])
    return float(np.mean(values)) if values else None


def run_search(study: sweep.Study, workdir: str, *, vectorize_mode: str = "auto",
               retry_failed: bool = False, progress: bool = True) -> Any:
    """Ask, train (or read from the store), tell — `study.search.points` times."""
    optuna = _optuna()
    search = study.search
    sampler = optuna.samplers.TPESampler(seed=search.seed)
    optimizer = optuna.create_study(direction=search.direction, sampler=sampler)
    store = store_lib.Store(workdir)
    trials: dict[str, sweep.Trial] = {}
    summaries = []
    bar = tqdm.tqdm(total=search.points, desc=f"search {study.name}", unit="point",
                    disable=not progress, dynamic_ncols=True)
    try:
        with run.locked(workdir, None):  # held across points: no writer between them
            for _ in range(search.points):
                asked = optimizer.ask()
                point = {key: suggest(asked, key, dist) for key, dist in search.space.items()}
                new = sweep.make_trials(study.base, [point], study.seeds)
                trials.update((t.id, t) for t in new)
                # The store's study.json lists every trial asked so far; only `new` ones run.
                so_far = dataclasses.replace(study, trials=tuple(trials.values()))
                summaries.append(run.run_study(so_far, workdir, vectorize_mode=vectorize_mode,
                                               retry_failed=retry_failed, progress=False))
                value = objective_value(store, new, search.objective)
                if value is None:
                    optimizer.tell(asked, state=optuna.trial.TrialState.FAIL)
                else:
                    optimizer.tell(asked, value)
                bar.update(1)
    finally:
        bar.close()
    return dataclasses.replace(summaries[-1], ran=sum(s.ran for s in summaries),
                               wall_time_s=sum(s.wall_time_s for s in summaries))
