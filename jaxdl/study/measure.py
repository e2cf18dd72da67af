"""Measurements of finished trials: a study's `measure(ctx)`, run after training.

A study file may define

    def measure(ctx: measure.Context) -> dict[str, float | np.ndarray]:
        acc = robust_accuracy(ctx.run.model, ctx.state.params, ...)   # any probe
        return {"pgd_accuracy": acc, "test_probabilities": probs}

`jaxdl sweep` calls it once per trial that finished, after every trial of the
sweep (of this shard) has trained — so `ctx.load(seed=1)` can hand it another
trial's final state for ensembles, stitching or cross-seed comparisons. What it
returns is committed into the trial's record: scalars become metric rows
`measure/<name>` at the trial's last step (`results.final("measure/<name>")`,
`results.summary(...)`, and a study may list them in METRICS); arrays are saved
in the trial's `measures.npz` and read back with `results.arrays("<name>")`.
`ctx.history("test/accuracy")` gives the trial's logged curve and `ctx.at_step(step)`
its checkpointed state at that step — early stopping as a measurement: restore the step
of the best validation score (experiments/regularization.py). `ctx.quick` is True in the
study's --quick variant, for a smaller probe plan (experiments/transfer.py).

Exactness and resumption: a measurement is a pure function of the trial's final
checkpoint and `ctx.key` (the trial's MEASURE-purpose key), so it gives the same
values on every re-run; a trial is measured once (its record says `measured`)
and a sweep killed mid-measurement measures the rest when re-run. After a change
to `measure`, `jaxdl sweep ... --remeasure` measures every trial again; the
replaced records are kept in `<sweep>/remeasured/`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Callable, Sequence

import jax
import ml_collections
import numpy as np
import tqdm

from jaxdl import saved as saved_lib
from jaxdl import models, rng
from jaxdl.study import store as store_lib
from jaxdl.study import sweep, vectorize
from jaxdl.study.programs import program_for
from jaxdl.training import checkpoint as checkpoint_lib
from jaxdl.training import loop
from jaxdl.training import workdir as workdir_lib

__all__ = ["SPLIT", "ARRAYS", "MeasureError", "Context", "load_measure", "measure_trials",
           "split_values", "first_step"]

SPLIT = "measure"
ARRAYS = store_lib.ARRAYS
Measure = Callable[["Context"], dict[str, Any]]


class MeasureError(RuntimeError):
    """A study's `measure` failed or returned something that cannot be stored."""


@dataclasses.dataclass
class Context:
    """What `measure(ctx)` gets for one finished trial."""
    trial: sweep.Trial
    config: ml_collections.ConfigDict  # the trial's config
    run: loop.Run  # built from the trial's config: .model, .dataset, .evaluate, ...
    state: Any  # the trial's final TrainState (.params, .model_state, .step)
    key: jax.Array  # fold_in(root key of the trial's seed, rng.MEASURE)
    _load: Callable[..., Any]  # (trial, step=None) -> state
    _trials: Sequence[sweep.Trial]
    _rows: Sequence[Sequence[Any]] = ()  # the trial's logged metric rows [step, metric, value]
    directory: str = ""  # the trial's run directory: a probe that trains (pruning rounds)
    # writes its own runs under it, so they resume with the trial and move with the sweep
    quick: bool = False  # the sweep runs the study's --quick variant (a smaller probe plan)

    def apply(self, x: Any, state: Any = None) -> jax.Array:
        """The model's outputs (logits) on `x` in inference mode, with this trial's final
        state or `state` (e.g. one from `load`)."""
        state = self.state if state is None else state
        return models.apply(self.run.model, state.params, state.model_state,
                            jax.numpy.asarray(x), train=False)[0]

    def evaluate(self, state: Any = None) -> dict[str, dict[str, float]]:
        """{split: {loss, accuracy, f1_macro}} as the run's own evaluation computes them."""
        state = self.state if state is None else state
        return {split: scalars for split, (scalars, _) in
                loop.evaluate(self.run, state, loop.eval_sets(self.run)).items()}

    def history(self, metric: str) -> dict[int, float]:
        """{step: value} of a metric the trial logged during training, e.g. 'test/accuracy'
        at every eval step (the rows of its metrics.jsonl)."""
        return {int(step): float(value) for step, name, value in self._rows if name == metric}

    def at_step(self, step: int) -> Any:
        """This trial's state at training step `step`, restored from its checkpoint there
        (e.g. early stopping: the step of the best validation score). Checkpoints exist at
        every `checkpoint_every` steps, of which the newest `keep_checkpoints` are kept."""
        return self._load(self.trial, step)

    def seeds(self) -> list[int]:
        """The seeds of the finished trials at this trial's point (sorted)."""
        return sorted({t.seed for t in self._trials if t.point == self.trial.point})

    def load(self, seed: int | None = None, point: dict | None = None, **values: Any) -> Any:
        """The final state of another trial of this sweep: this trial's point with
        `point` / `values` replacing some axis values (dotted keys: pass `point`), and
        `seed` (default: this trial's)."""
        return self.load_trial(self.trial_at({**self.trial.point, **(point or {}), **values},
                                             seed))

    def trial_at(self, point: dict, seed: int | None = None) -> sweep.Trial:
        """The finished trial of this sweep at exactly `point` (nothing of this trial's point
        merged in: a study whose arms differ in keys, e.g. stitching's SimCLR bottom into a
        supervised top) and `seed` (default: this trial's)."""
        seed = self.trial.seed if seed is None else seed
        for t in self._trials:
            if t.seed == seed and t.point == point:
                return t
        raise sweep.StudyError(f"measure: no trial at {point} seed {seed} in this sweep (shard)")

    def load_trial(self, trial: sweep.Trial) -> Any:
        """The final state of `trial` (one of `trial_at`'s)."""
        return self._load(trial)


def load_measure(study: sweep.Study) -> Measure | None:
    """The study file's `measure` function, if it defines one."""
    fn = getattr(sweep.load_module(study.path), "measure", None)
    if fn is not None and not callable(fn):
        raise sweep.StudyError(f"study {study.path}: measure must be a function of ctx")
    return fn


def measure_trials(fn: Measure, trials: Sequence[sweep.Trial], store: store_lib.Store,
                   runs: dict[str, loop.Run], *, remeasure: bool = False,
                   progress: bool = True, quick: bool = False) -> int:
    """Measure every done trial of `trials` not measured yet (all done ones with
    `remeasure`); returns how many were measured now. `quick`: the sweep is the study's
    --quick variant (`Context.quick`)."""
    done = [t for t in trials if (store.record(t.id) or {}).get("status") == store_lib.DONE]
    todo = [t for t in done if remeasure or not store.record(t.id).get("measured")]
    if not todo:
        return 0
    states = _StateLoader(store, runs)
    bar = tqdm.tqdm(todo, desc="measure", unit="trial", disable=not progress, dynamic_ncols=True)
    for trial in bar:
        run = dataclasses.replace(runs[vectorize.group_key(trial.config)], config=trial.config)
        ctx = Context(trial=trial, config=trial.config, run=run, state=states(trial),
                      key=rng.purpose_key(rng.root_key(trial.seed), rng.MEASURE),
                      _load=states, _trials=done, _rows=store.record(trial.id)["rows"],
                      directory=store.trial_dir(trial.id), quick=quick)
        try:
            values = fn(ctx)
        except sweep.StudyError:
            raise
        except Exception as e:
            raise MeasureError(f"measure failed on trial {trial.label}: "
                               f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                               ) from e
        _commit(store, trial, values, remeasure)
    return len(todo)


def _commit(store: store_lib.Store, trial: sweep.Trial, values: Any, remeasure: bool) -> None:
    """Arrays into measures.npz (atomically), then the record with the scalar rows and
    `measured` (atomically): from that moment the trial counts as measured."""
    if not isinstance(values, dict):
        raise MeasureError(f"measure returned {type(values).__name__} for trial {trial.label}; "
                           f"expected a dict of name -> number or array")
    scalars, arrays = split_values(values, trial.label)
    record = store.record(trial.id)
    directory = store.trial_dir(trial.id)
    path = os.path.join(directory, ARRAYS)
    if arrays:
        workdir_lib.write_npz_atomic(path, arrays)
    elif os.path.exists(path):  # a remeasure that stores no arrays any more
        os.remove(path)
    if remeasure and record.get("measured"):
        kept = os.path.join(store.root, "remeasured")
        os.makedirs(kept, exist_ok=True)
        workdir_lib.write_json_atomic(
            os.path.join(kept, f"{trial.id}-{time.strftime('%Y%m%d-%H%M%S')}.json"), record)
    step = max((row[0] for row in record["rows"]), default=trial.config.steps)
    rows = [r for r in record["rows"] if not r[1].startswith(SPLIT + "/")]
    rows += [[step, f"{SPLIT}/{name}", value] for name, value in scalars.items()]
    store.commit({k: v for k, v in record.items() if k != "committed"}
                 | {"rows": rows, "measured": True, "arrays": sorted(arrays)})


def first_step(history: dict[int, float], threshold: float) -> float:
    """The first evaluated step of a logged metric (`Context.history`) whose value is at
    least `threshold`; NaN if none (time to fit, time to generalize)."""
    hits = [step for step, value in sorted(history.items()) if value >= threshold]
    return float(hits[0]) if hits else float("nan")


def split_values(values: dict[str, Any], label: str) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """(scalars as floats, arrays as numpy) of what a measure returned; names checked."""
    scalars, arrays = {}, {}
    for name, value in values.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise MeasureError(f"measure of trial {label}: name {name!r} must be a non-empty "
                               f"string without '/'")
        value = np.asarray(jax.device_get(value))
        if value.dtype == object or not (np.issubdtype(value.dtype, np.number)
                                         or value.dtype == bool):
            raise MeasureError(f"measure of trial {label}: {name} is not numeric")
        if value.ndim == 0:
            scalars[name] = float(value)  # NaN/Inf kept: a probe may legitimately give them
        else:
            arrays[name] = value
    return scalars, arrays


class _StateLoader:
    """Final states of done trials, restored from their checkpoints: a one-by-one trial
    from `trials/<id>/checkpoints`, a vectorized one from its group's stacked checkpoint
    (the last group restored is kept, since its trials are measured one after another)."""

    def __init__(self, store: store_lib.Store, runs: dict[str, loop.Run]):
        self.store, self.runs = store, runs
        self._last_group: tuple[str, Any, list[str]] | None = None

    def __call__(self, trial: sweep.Trial, step: int | None = None) -> Any:
        """The trial's final state, or its state at checkpointed step `step`."""
        record = self.store.record(trial.id)
        if record.get("group"):
            if step is None:
                stacked, ids = self._group(record["group"], trial)
            else:
                stacked, ids = self._restore_group(record["group"], trial, step)
            return jax.tree.map(lambda a: a[ids.index(trial.id)], stacked)
        return self._single(trial, step)

    def _single(self, trial: sweep.Trial, step: int | None = None) -> Any:
        run = self.runs[vectorize.group_key(trial.config)]
        directory = os.path.join(self.store.trial_dir(trial.id), "checkpoints")
        abstract = jax.eval_shape(run.init, rng.root_key(trial.seed))
        # A checkpoint from before TrainState had `target` restores as a dict: completed.
        return loop.as_train_state(
            _restore(directory, lambda saved: loop.as_saved(abstract, saved), trial, step))

    def _group(self, gid: str, trial: sweep.Trial) -> tuple[Any, list[str]]:
        if self._last_group is None or self._last_group[0] != gid:
            self._last_group = (gid, *self._restore_group(gid, trial))
        return self._last_group[1:]

    def _restore_group(self, gid: str, trial: sweep.Trial,
                       step: int | None = None) -> tuple[Any, list[str]]:
        group_dir = os.path.join(self.store.root, "groups", gid)
        ids = json.load(open(os.path.join(group_dir, "group.json")))["trials"]
        key = vectorize.group_key(trial.config)
        program = program_for(key, self.runs[key])
        configs = [self._config(tid) for tid in ids]
        state = _restore(os.path.join(group_dir, "checkpoints"),
                         lambda saved: vectorize.abstract_state(program, configs), trial, step)
        return state.trials, ids

    def _config(self, trial_id: str) -> ml_collections.ConfigDict:
        path = os.path.join(self.store.trial_dir(trial_id), workdir_lib.CONFIG)
        return ml_collections.ConfigDict(saved_lib.without_components(json.load(open(path))))


def _restore(directory: str, abstract_for: Callable, trial: sweep.Trial,
             step: int | None = None) -> Any:
    """The state of the checkpoint at `step`, or (None) of the newest one, which must be
    the trial's last step."""
    try:
        restored = checkpoint_lib.read(directory, abstract_for, step)
    except checkpoint_lib.NoCheckpointAt as e:
        raise MeasureError(f"trial {trial.label}: {e}") from None
    if step is None and (restored is None or restored[2] < trial.config.steps):
        raise MeasureError(f"trial {trial.label}: no checkpoint of its last step "
                           f"{trial.config.steps} in {directory}")
    return restored[0]
