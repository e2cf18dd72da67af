"""Run a study: every trial of the sweep (or of one shard), each exactly once.

    summary = run_study(sweep.load_study("experiments/quickstart_sweep.py"), "runs/quickstart_sweep")

Order of work: load and validate the study file and every trial config, build (load
data, trace shapes) one program per group, check the sweep directory — a bad key,
value or directory stops here, in one line, before anything is trained or written.
Then, per group of trials
that share a program: trials committed in the store are skipped; trials whose run
finished but was not committed are committed from their directory; the rest train
— together as one vmapped program (vectorize.py) or one by one with
`jaxdl.train(config, trials/<id>)`, which resumes each from its own newest
checkpoint. A trial that fails (divergence, any error) is committed as failed with
its error and the sweep goes on; SIGTERM/SIGINT save the running trial or group and
stop the sweep (`SweepInterrupted`), to be resumed by the same command.

Multi-process trials (`jax.distributed` started by `jaxdl sweep`): every process trains
each trial one by one — the trial's mesh spans the devices of every process, as in
`jaxdl train` — and process 0 alone locks the directory and writes the store; which
trials still need training is decided by process 0 and broadcast, so all processes
train the same ones in the same order. A shard with nothing left to do exits before
building (loading data, tracing) anything.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
import traceback
from typing import Any, Iterator, Sequence

import jax
import numpy as np
import tqdm
from jax.experimental import multihost_utils

from jaxdl import config as config_lib
from jaxdl.study import measure as measure_lib
from jaxdl.study import store as store_lib
from jaxdl.study import sweep, tensorboard, vectorize
from jaxdl.study.programs import program_for
from jaxdl.training import loop, parallel, resume
from jaxdl.training import workdir as workdir_lib

__all__ = ["VECTORIZE", "SweepInterrupted", "resolve_vectorize", "Summary", "run_study",
           "locked", "run_for"]

VECTORIZE = ("auto", "yes", "no")


class SweepInterrupted(RuntimeError):
    """SIGTERM/SIGINT: the running trial or group saved a checkpoint; the same command
    resumes the sweep."""

    def __init__(self, workdir: str):
        super().__init__(f"sweep interrupted; its trials and checkpoints are in {workdir}")
        self.workdir = workdir


def resolve_vectorize(mode: str, backend: str | None = None) -> bool:
    """'auto' -> vectorize on accelerators, one by one on CPU.

    Measured in bench/sweep.py (16 trials of the MNIST-1D CNN, 2 CPU cores): on XLA:CPU a
    vmapped step of K convnets costs about K single steps (the batched convolution runs
    as a grouped convolution, no faster per trial), so vectorizing saves only the
    per-program compiles; one by one keeps each trial bitwise equal to `jaxdl train` of
    its config. On GPU/TPU one vmapped step of K small models costs about one step.
    """
    if mode not in VECTORIZE:
        raise sweep.StudyError(f"--vectorize {mode}: choose one of {', '.join(VECTORIZE)}")
    if mode != "auto":
        return mode == "yes"
    return (backend or jax.default_backend()) != "cpu"


@dataclasses.dataclass
class Summary:
    """What one `run_study` call did."""
    workdir: str
    trials: int
    done: int
    failed: int
    ran: int
    wall_time_s: float
    vectorized: bool
    measured: int = 0


def run_study(study: sweep.Study, workdir: str, *, vectorize_mode: str = "auto",
              shard: str | None = None, max_group: int = 32, retry_failed: bool = False,
              remeasure: bool = False, progress: bool = True) -> Summary:
    """Run every trial of `study` (of shard `i/N`) not yet committed in `workdir`, then
    the study's `measure` on every finished trial not yet measured (jaxdl/study/measure.py)."""
    vectorized = resolve_vectorize(vectorize_mode)
    measure_fn = measure_lib.load_measure(study)
    if max_group < 1:
        raise sweep.StudyError(f"--max-group {max_group}: must be >= 1")
    if jax.process_count() > 1:
        vectorized = _check_multi_process(study, vectorize_mode, measure_fn)
    trials = sweep.shard(study.trials, shard)
    masked = next((t for t in trials if t.config.prune.mask), None) if vectorized else None
    if masked is not None:  # vectorize.py builds its own optimizer, without the mask
        raise sweep.StudyError(f"trial {masked.label}: config.prune.mask is not supported by "
                               f"vectorized trials; run with --vectorize no")
    groups = vectorize.make_groups(trials, max_group if vectorized else 1)
    idle = _nothing_to_do(store_lib.Store(workdir), trials, measure_fn,
                          retry_failed=retry_failed, remeasure=remeasure)
    # every shape traced and every option checked, before training (nothing to train: a
    # shard of a re-submitted launch whose trials are all committed exits at once)
    runs = {} if idle else _build_runs(groups)
    with locked(workdir, shard):
        return _run_study(study, workdir, trials, groups, runs, vectorized, measure_fn,
                          retry_failed=retry_failed, remeasure=remeasure, progress=progress)


@contextlib.contextmanager
def locked(workdir: str, shard: str | None) -> Iterator[None]:
    """One writer per sweep directory, or per shard of it: a whole sweep holds the
    directory's lock exclusively, a shard holds it shared (shards run side by side on one
    directory) and its own shard lock exclusively. A second process gets `Busy`, naming
    the holder, before it writes anything. In a multi-process job, process 0 is the
    writer and holds the locks; the others write nothing."""
    store_lib.Store(workdir).check_location()
    if not parallel.is_primary():
        yield
        return
    os.makedirs(workdir, exist_ok=True)
    what = "sweep directory"
    with contextlib.ExitStack() as stack:
        stack.enter_context(workdir_lib.Lock(workdir, what, shared=shard is not None))
        if shard is not None:
            i, n = sweep.parse_shard(shard)
            stack.enter_context(workdir_lib.Lock(workdir, f"shard {shard} of sweep directory",
                                                 name=workdir_lib.SHARD_LOCK.format(i, n)))
        yield


def _run_study(study: sweep.Study, workdir: str, trials, groups, runs, vectorized: bool,
               measure_fn, *, retry_failed: bool, remeasure: bool, progress: bool) -> Summary:
    store = store_lib.Store(workdir)
    if parallel.is_primary():
        _prepare(store, study, trials, retry_failed)
    todo = _agreed_pending(store, trials)  # process 0's view, shared by every process
    committed = sum(store.record(t.id) is not None for t in trials)
    ran, previous = 0, None  # previous: the last one-by-one trial's run (its seeds reuse it)
    t0 = time.perf_counter()
    bar = tqdm.tqdm(total=len(trials), initial=committed, desc=f"sweep {study.name}",
                    unit="trial", disable=not progress, dynamic_ncols=True, smoothing=0.1,
                    bar_format="{l_bar}{bar}| {n:.1f}/{total} trials [{elapsed}<{remaining}]")
    try:
        with loop.StopRequest() as stop:  # between trials, a signal stops the sweep cleanly
            for group in groups:
                if not any(t.id in todo for t in group):
                    continue
                if stop.requested:
                    raise loop.Interrupted(0, workdir)
                key = vectorize.group_key(group[0].config)
                if len(group) > 1:
                    ran += sum(store.pending(t) for t in group)
                    vectorize.train_group(runs[key], program_for(key, runs[key]), group, store,
                                          stop=stop, progress=bar.update)
                else:
                    ran += 1
                    previous = run_for(group[0], [runs[key], previous])
                    _train_one(group[0], store, previous)
                    bar.update(1)
    except loop.Interrupted:
        raise SweepInterrupted(workdir) from None
    finally:
        bar.close()
    parallel.sync("jaxdl: the sweep's trials are committed")  # then every process reads them
    measured = 0
    if measure_fn is not None:  # one process only (_check_multi_process)
        measured = measure_lib.measure_trials(measure_fn, trials, store, runs,
                                              remeasure=remeasure, progress=progress,
                                              quick=study.quick)
    if parallel.is_primary():
        tensorboard.export(trials, store)  # done trials as named TensorBoard runs with hparams
    statuses = [(store.record(t.id) or {}).get("status") for t in trials]
    return Summary(workdir=workdir, trials=len(trials), done=statuses.count(store_lib.DONE),
                   failed=statuses.count(store_lib.FAILED), ran=ran,
                   wall_time_s=time.perf_counter() - t0, vectorized=vectorized,
                   measured=measured)


def _check_multi_process(study: sweep.Study, vectorize_mode: str, measure_fn: Any) -> bool:
    """Whether a multi-process sweep vectorizes: never. Its trials train one by one over
    the devices of every process; a vmapped group and a study's probes run in one."""
    if vectorize_mode == "yes":
        raise sweep.StudyError("--vectorize yes: a multi-process sweep trains its trials one "
                               "by one over every process's devices; drop --vectorize yes")
    if measure_fn is not None:
        raise sweep.StudyError(f"study {study.path}: its measure() runs in one process; run "
                               f"this sweep without jax.distributed (--coordinator)")
    return False


def _nothing_to_do(store: store_lib.Store, trials: Sequence[sweep.Trial], measure_fn: Any, *,
                   retry_failed: bool, remeasure: bool) -> bool:
    """Every trial committed or finished, and measured where the study measures: read
    from the store only (a directory that does not exist yet has everything to do)."""
    if retry_failed or remeasure or any(store.pending(t) for t in trials):
        return False
    return measure_fn is None or all(
        (store.record(t.id) or {}).get("measured") for t in trials
        if (store.record(t.id) or {}).get("status") == store_lib.DONE)


def _prepare(store: store_lib.Store, study: sweep.Study, trials: Sequence[sweep.Trial],
             retry_failed: bool) -> None:
    """The writer's first steps: open the store, move failed records aside to retry them,
    commit trials that finished before a kill but were not committed (no compute)."""
    store.open(study)  # refuses a directory of another sweep; nothing written before this
    if retry_failed:
        for trial in trials:
            if (store.record(trial.id) or {}).get("status") == store_lib.FAILED:
                _uncommit(store, trial)
    for trial in trials:
        if store.record(trial.id) is None and not store.pending(trial):
            store.commit_done(trial, mode=_mode_of(store, trial))


def _agreed_pending(store: store_lib.Store, trials: Sequence[sweep.Trial]) -> set[str]:
    """The ids of the trials that still need training, as process 0 sees them: every
    process of a multi-process sweep trains the same trials (one process: its own view)."""
    pending = np.array([store.pending(t) for t in trials], dtype=np.int32)
    if jax.process_count() > 1:
        parallel.sync("jaxdl: the sweep directory is ready")  # after process 0's _prepare
        pending = np.asarray(multihost_utils.broadcast_one_to_all(pending))
    return {t.id for t, flag in zip(trials, pending) if flag}


# Built runs by group key, kept for the life of the process: a search's successive
# points, or several sweeps in one notebook, reuse them (and their programs: programs.py).
_RUNS: dict[str, loop.Run] = {}


def _build_runs(groups: list[list[sweep.Trial]]) -> dict[str, loop.Run]:
    """One `loop.build` per distinct program: loads the data and traces the model, so
    a bad data/model option fails here (ConfigError naming a trial), not mid-sweep.
    Trial configs were validated when the study was loaded: not validated again."""
    for group in groups:
        key = vectorize.group_key(group[0].config)
        if key not in _RUNS:
            try:
                _RUNS[key] = loop.build(group[0].config, validated=True)
            except config_lib.ConfigError as e:
                raise config_lib.ConfigError(f"trial {group[0].label}: {e}") from None
    return _RUNS


def run_for(trial: sweep.Trial, built: Sequence[loop.Run | None]) -> loop.Run:
    """The trial's built run, built once: a run of `built` (its group's, built before
    training; the previous trial's) whose config differs from the trial's at most in
    `seed`, else built now from the trial's config.

    A Run depends on the seed only through its config (the root key is an argument of
    its `init`), as vectorized groups and `measure` rely on too; so the seeds of one
    point share the compiled programs, which give the same bits as building anew."""
    for run in built:
        if run is not None and _without_seed(run.config) == _without_seed(trial.config):
            return dataclasses.replace(run, config=trial.config)
    return loop.build(trial.config, validated=True)


def _without_seed(config: Any) -> dict:
    return {k: v for k, v in resume.flatten_config(config.to_dict()).items() if k != "seed"}


def _train_one(trial: sweep.Trial, store: store_lib.Store, run: loop.Run) -> None:
    """`jaxdl.train(run, trials/<id>)` with the trial's built run: resumes the trial's own
    checkpoints; a failure is committed with its error and does not stop the sweep."""
    commit = parallel.is_primary()  # every process trains, process 0 writes the record
    try:
        loop.train(run, store.trial_dir(trial.id), progress=False)
    except loop.Interrupted:
        raise
    except loop.TrainingDiverged as e:
        if commit:
            store.commit_failed(trial, str(e), mode="single")
    except (workdir_lib.WorkdirError, OSError):
        # The infrastructure, not the trial: damaged or busy files, a full disk. The trial
        # stays pending (never a permanent failure) and the sweep stops on this one line.
        raise
    except Exception as e:  # any error of one trial: recorded, the sweep goes on
        lines = traceback.format_exception_only(type(e), e)
        print(f"jaxdl: trial {trial.label} failed: {lines[-1].strip()}", file=sys.stderr)
        if commit:
            store.commit_failed(trial, "".join(lines).strip(), mode="single")
    else:
        if commit:
            store.commit_done(trial, mode="single")


def _mode_of(store: store_lib.Store, trial: sweep.Trial) -> str:
    result = workdir_lib.RunFiles(store.trial_dir(trial.id)).result()
    return "vectorized" if str(result.get("execution", "")).startswith("vmap") else "single"


def _uncommit(store: store_lib.Store, trial: sweep.Trial) -> None:
    """Move a failed trial's record to <sweep>/retried/ (kept, never deleted) so that the
    trial runs again."""
    retried = os.path.join(store.root, "retried")
    os.makedirs(retried, exist_ok=True)
    os.replace(os.path.join(store.trial_dir(trial.id), store_lib.RECORD),
               os.path.join(retried, f"{trial.id}-{time.strftime('%Y%m%d-%H%M%S')}.json"))
