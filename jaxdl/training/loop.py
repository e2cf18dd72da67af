"""`jaxdl.train`: build a run, open its workdir, train it through the driver with its hooks.

    result = jaxdl.train(jaxdl.config.default(), "runs/cnn")   # test accuracy ~0.93, ~15 s on 2 CPU cores

It validates the config (once), loads the data onto the device, builds the pure step
(`build`), opens the workdir (fresh, resumed from its newest checkpoint, or continued
after a declared intervention: `open_workdir`), then trains with `driver.run` and the
hooks of training/hooks.py: a stop naming the step when the loss or the params become
NaN/Inf (the last good checkpoint stays), `metrics.jsonl` + TensorBoard (+ the trackers
of config.trackers: W&B, MLflow) every `log_every`-th step and at each evaluation, a
tqdm bar, the user's own hooks, async orbax checkpoints, a save-and-exit on
SIGTERM/SIGINT — and `result.json` last, from the evaluation of the last step (the final
state is evaluated once).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from typing import Any, Iterator, Sequence

import jax
import ml_collections
import tqdm

from jaxdl import rng
from jaxdl import saved as saved_lib
from jaxdl.training import checkpoint as checkpoint_lib
from jaxdl.training import driver
from jaxdl.training import masks
from jaxdl.training import histograms
from jaxdl.training import hooks as hooks_lib
from jaxdl.training import parallel
from jaxdl.training import resume
from jaxdl.training import state as state_lib
from jaxdl.training import step as step_lib
from jaxdl.training import workdir as workdir_lib
from jaxdl.training import writers
# Moved to build.py, driver.py, hooks.py and evaluation.py; kept here for the callers of
# `loop.X` (tests and bench replace `loop.build`: `train` looks it up here at each call).
from jaxdl.training.build import (Run, build, build_component, check_views,  # noqa: F401
                                  enable_compilation_cache, has_native_convolution,
                                  resolve_execution, untracked)
from jaxdl.training.driver import chunks, every  # noqa: F401
from jaxdl.training.evaluation import eval_sets, evaluate, stacked_batches, summarize  # noqa: F401
from jaxdl.training.hooks import (Interrupted, StepLog, StopRequest,  # noqa: F401
                                  TrainingDiverged, check_finite)

__all__ = ["eval_points", "abstract_state", "Start", "open_workdir", "as_saved",
           "as_train_state", "with_new_keys", "apply_intervention", "warm_start", "train",
           "claimed"]


def eval_points(config: ml_collections.ConfigDict) -> list[int]:
    """Steps after which the run evaluates: every `eval_every`, and the last."""
    return sorted(every(config.eval_every, config.steps))


def abstract_state(run: Run) -> Any:
    """Shapes, dtypes and shardings of the run's state, for restoring into."""
    shapes = jax.eval_shape(run.init, rng.root_key(run.config.seed))
    return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                        shapes, run.state_sharding)


@dataclasses.dataclass
class Start:
    """Where a call of `train` starts: a state, or the result of a finished run."""
    state: Any = None
    finished: dict | None = None


def open_workdir(run: Run, workdir: str, checkpoints: checkpoint_lib.Checkpoints, *,
                 restart: bool, intervene: bool, init_from: str | None) -> Start:
    """Fresh start, resume, intervention or 'already finished' — never a silent overwrite."""
    config = run.config
    files = workdir_lib.RunFiles(workdir, write=parallel.is_primary())
    try:
        latest = checkpoints.restore_latest(lambda saved: _abstract_for(run, saved))
    except checkpoint_lib.NoUsableCheckpoint as e:
        if not restart:
            raise workdir_lib.WorkdirError(
                f"{e}; refusing to start from scratch — pass --restart to do so "
                f"(the unusable checkpoints are moved aside, not deleted)") from None
        aside = files.set_aside(checkpoints.directory)
        files.record("restart", 0, unusable_checkpoints_moved_to=aside)
        latest = None
    saved_config = latest[1] if latest else files.saved_config()
    changes = resume.config_changes(saved_config, config.to_dict()) if saved_config else {}
    changed_sources = saved_lib.source_changes(saved_config or {}, config)
    if parallel.is_primary():
        for line in changed_sources:
            print(f"jaxdl: warning: {line}", file=sys.stderr)
    topology = run.placement.topology()
    moved = resume.topology_change(files.topology(), topology) if latest else None
    if (changes or moved) and not intervene:
        what = "; ".join(filter(None, [changes and f"holds a run of another config "
                                       f"({resume.describe_changes(changes)})", moved]))
        raise workdir_lib.WorkdirError(
            f"workdir {workdir} {what}; pass --intervene to continue it with these changes "
            f"recorded, or choose another --workdir")
    if files.finished() and not changes:
        return Start(finished=files.result())
    if latest is None:
        state = run.init(rng.root_key(config.seed))
        if init_from:
            state = warm_start(run, state, init_from)
        files.record("start", 0, init_from=init_from, **topology)
    else:
        state = as_train_state(latest[0])
        if changed_sources:  # the run's own record that its code changed at this step
            files.record("source_changed", int(state.step), components=changed_sources)
        if changes:
            state = apply_intervention(run, state, changes, files)
        if moved:  # other devices change the bits from here on: an intervention
            files.record("intervention", int(state.step), reason=moved, **topology)
        elif not changes:
            files.record("resume", int(state.step), **topology)
    files.write_config(config)
    files.truncate_metrics(int(state.step), every(config.eval_every, config.steps))
    return Start(state=state)


def _abstract_for(run: Run, saved: dict) -> Any:
    """The abstract state of the run that saved `saved` (this run's, if the configs agree),
    as that checkpoint holds it (`as_saved`)."""
    if not resume.config_changes(saved, run.config.to_dict()):
        return as_saved(abstract_state(run), saved)
    return as_saved(abstract_state(build(untracked(with_new_keys(saved)))), saved)


def as_saved(abstract: state_lib.TrainState, saved: dict) -> Any:
    """`abstract` as a checkpoint saved with config `saved` holds it: one saved before
    TrainState had a `target` (its config has no `objective`) holds the other fields, so
    they are restored as a dict (`as_train_state` completes it)."""
    if "objective" in saved:
        return abstract
    return {f.name: getattr(abstract, f.name) for f in dataclasses.fields(abstract)
            if f.name != "target"}


def as_train_state(restored: Any) -> state_lib.TrainState:
    """A restored state as a TrainState (a checkpoint from before `target` existed restores
    as a dict of the other fields: its target is `{}`, as it was)."""
    return restored if isinstance(restored, state_lib.TrainState) else \
        state_lib.TrainState(**restored)


def with_new_keys(saved: dict) -> ml_collections.ConfigDict:
    """A saved config as a ConfigDict that builds the state it saved (`saved.from_saved`)."""
    return saved_lib.from_saved(saved)


def apply_intervention(run: Run, old: Any, changes: dict, files: "workdir_lib.RunFiles") -> Any:
    """Continue `old` under the new config: matching params kept, new parts initialized."""
    fresh = run.init(old.key)
    params, kept, initialized = resume.transplant(old.params, fresh.params)
    model_state, _, _ = resume.transplant(old.model_state, fresh.model_state)
    same_optimizer = ("optimizer.name" not in changes and "prune.mask" not in changes and
                      jax.tree.structure(old.opt_state) == jax.tree.structure(fresh.opt_state))
    if run.mask is not None:  # the optimizer state holds the mask: a new one starts anew
        params = masks.apply_mask(params, run.mask)
    state = fresh.replace(step=old.step, params=params, model_state=model_state)
    if fresh.target:  # the objective's extra state (an EMA target): kept where it matches,
        old_target = getattr(old, "target", None) or {}  # else it starts as the objective's
        state = state.replace(target=run.objective.init_extra(state.params, state.model_state))
        if old_target:
            state = state.replace(target={
                part: resume.transplant(old_target.get(part) or {}, state.target[part])[0]
                for part in ("params", "model_state")})
    state = run.shard(state)
    opt_state = old.opt_state if same_optimizer else run.optimizer.init(state.params)
    files.archive_result(int(old.step))
    files.record("intervention", int(old.step),
                 changes={k: list(v) for k, v in changes.items()}, params_kept=kept,
                 params_initialized=initialized,
                 optimizer_state="kept" if same_optimizer else "reinitialized")
    return run.shard(state.replace(opt_state=opt_state))


def warm_start(run: Run, state: Any, source: str) -> Any:
    """`state` with params (and model state) from `source`'s newest checkpoint."""
    source_checkpoints = f"{source.rstrip('/')}/checkpoints"
    if not os.path.isdir(source_checkpoints):
        raise workdir_lib.WorkdirError(f"--init-from {source}: no checkpoints directory there")
    latest = checkpoint_lib.read_latest(source)
    if latest is None:
        raise workdir_lib.WorkdirError(f"--init-from {source}: no complete checkpoint there")
    saved = latest[0]
    problems = resume.shape_mismatches(saved["params"], state.params, allow_missing=False)
    if problems:
        raise resume.ParamsMismatch(f"--init-from {source}: params do not match: "
                                    + "; ".join(problems))
    params, _, _ = resume.transplant(saved["params"], state.params)
    if run.mask is not None:  # e.g. a lottery ticket: the rewound weights, pruned
        params = masks.apply_mask(params, run.mask)
    model_state, _, _ = resume.transplant(saved.get("model_state") or {}, state.model_state)
    state = state.replace(params=params, model_state=model_state)
    if state.target:  # the objective's extra state starts anew (an EMA target: at the net)
        state = state.replace(target=run.objective.init_extra(state.params, state.model_state))
    state = run.shard(state)
    return run.shard(state.replace(opt_state=run.optimizer.init(state.params)))


def train(config: ml_collections.ConfigDict | Run, workdir: str | None = None, *,
          progress: bool = True, restart: bool = False, intervene: bool = False,
          init_from: str | None = None, hooks: Sequence[hooks_lib.Hook] = ()
          ) -> dict[str, Any]:
    """Train one run to its last step; returns (and writes to result.json) the final metrics.

    `config` may be a built `Run` (`build(config)`), which is then not built again.
    `hooks`: the user's own `hooks.Hook`s, each logged as its own split. Re-running on
    the same workdir resumes from the newest complete checkpoint and ends with the same
    bits (and the same metric and hook rows) as an uninterrupted run; on a finished run
    it returns the stored result.
    """
    hooks = list(hooks)
    hooks_lib.check_names(hooks)
    run = config if isinstance(config, Run) else build(config)
    config = run.config
    if workdir is None and jax.process_count() > 1:  # each process would pick its own name
        raise workdir_lib.WorkdirError("a multi-process run needs --workdir: one directory "
                                       "that every process sees")
    workdir = workdir or workdir_lib.default_workdir()
    with claimed(workdir, config):
        checkpoints = checkpoint_lib.Checkpoints(f"{workdir}/checkpoints", config.keep_checkpoints)
        try:
            with StopRequest() as stop:  # from here on, SIGTERM/SIGINT mean "save, then exit"
                start = open_workdir(run, workdir, checkpoints, restart=restart,
                                     intervene=intervene, init_from=init_from)
                if start.finished is not None:
                    if parallel.is_primary():
                        print(f"jaxdl: {workdir} holds this finished run; nothing to do",
                              file=sys.stderr)
                    return start.finished
                return _run(run, workdir, start.state, checkpoints, stop, progress, hooks)
        finally:
            checkpoints.close()  # waits for an async save in flight: the last good one completes


@contextlib.contextmanager
def claimed(workdir: str, config: ml_collections.ConfigDict) -> Iterator[None]:
    """The run directory, locked by this process for as long as it trains: created with
    config.json as its first file, or reopened after its files were checked. Process 0 of
    a multi-process run does this; the others wait until it has."""
    lock = None
    if parallel.is_primary():
        workdir_lib.prepare(workdir)
        lock = workdir_lib.Lock(workdir).acquire()
        try:
            workdir_lib.RunFiles(workdir).check()
            workdir_lib.create(workdir, config)
        except BaseException:
            lock.release()
            raise
    parallel.sync("jaxdl: the run directory is ready")
    try:
        yield
    finally:
        if lock is not None:
            lock.release()




def _run(run: Run, workdir: str, state: Any, checkpoints: checkpoint_lib.Checkpoints,
         stop: StopRequest, progress: bool, user_hooks: Sequence[hooks_lib.Hook]
         ) -> dict[str, Any]:
    """Train `state` to the last step through the driver, then write result.json."""
    config, files = run.config, workdir_lib.RunFiles(workdir, write=parallel.is_primary())
    first, t0 = int(state.step), time.perf_counter()
    if first and parallel.is_primary():
        print(f"jaxdl: resuming {workdir} from step {first}", file=sys.stderr)
    with contextlib.ExitStack() as stack:
        log = workdir_lib.MetricsLog(workdir, resumed_from=first, write=parallel.is_primary(),
                                     config=config)
        # closed last; a tracker's run ends as finished, failed or killed (interrupted)
        stack.push(lambda kind, error, tb: log.close(writers.end_status(error, (Interrupted,))))
        bar = stack.enter_context(tqdm.tqdm(
            total=config.steps, initial=first, desc="train", unit="step", dynamic_ncols=True,
            disable=not (progress and parallel.is_primary()), mininterval=0.5))
        evaluation = _evaluation_hook(run, log)
        hooks = [hooks_lib.StopOnNaN(step_lib.params_finite),
                 hooks_lib.LogSteps(StepLog.of(config), log), hooks_lib.Progress(bar),
                 evaluation, *_histogram_hooks(run, log),
                 hooks_lib.LogScalars(user_hooks, run, log, config.steps),
                 hooks_lib.Checkpoint(checkpoints, config,
                                      every(config.checkpoint_every, config.steps)),
                 hooks_lib.StopOnSignal(stop, checkpoints, config, workdir,
                                        lambda step: files.record("interrupted", step))]
        advance = stack.enter_context(run.feed())  # batches on the device, or streamed
        state = driver.run(state, advance, hooks, end=config.steps, chunk_size=config.chunk_size)
    final = evaluation.final(state)
    result = {
        "step": int(state.step),
        "workdir": workdir,
        **{split: scalars for split, (scalars, _) in final.items()},
        "test_per_class": final["test"][1],
        "execution": run.execution,
        "wall_time_s": time.perf_counter() - t0,
    }
    files.write_result(result)
    files.record("finish", int(state.step))
    return result


def _evaluation_hook(run: Run, log: workdir_lib.MetricsLog) -> hooks_lib.Evaluate:
    """Train/test metrics at every eval point, to metrics.jsonl and TensorBoard."""
    sets = eval_sets(run)

    def write(step: int, results: dict) -> None:
        for split, (scalars, _) in results.items():
            log.log(step, split, scalars)

    # `evaluate` looked up at each call: bench/profile.py times it by replacing loop.evaluate
    return hooks_lib.Evaluate(lambda state: evaluate(run, state, sets),
                              every(run.config.eval_every, run.config.steps), write)


def _histogram_hooks(run: Run, log: workdir_lib.MetricsLog) -> list[driver.ChunkHook]:
    """`config.histograms`: activation, gradient and param histograms at each eval point.
    Every process computes them (the probe is jitted on global arrays); `log` writes
    them on process 0 only."""
    if not run.config.histograms:
        return []
    probe = histograms.make_probe(run)
    return [driver.OnChunk(lambda chunk: log.histograms(chunk.step, probe(chunk.state)),
                           every(run.config.eval_every, run.config.steps))]
