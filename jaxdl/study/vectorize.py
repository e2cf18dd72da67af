"""Vectorized trials: K trials that differ only in values train as one `jax.vmap`-ed program.

    jaxdl sweep experiments/quickstart_sweep.py --vectorize yes   # 30 trials, one compiled program

Which trials share a program: those whose configs agree on every key outside
`VECTOR_KEYS` (the seed and the optimizer's numeric hyperparameters). Each
trial's values travel as data: its root key in the stacked `TrainState`, its
hyperparameters in its optimizer state (`optax.inject_hyperparams`), so one
compile serves the whole group and the core's `make_train_step` /
`make_train_chunk` / `evaluate` run unchanged under `vmap`.

Not vectorized (they change the traced program, not just values): dropout
rate (flax's `Dropout` tests `rate == 0` in Python), label smoothing and L1/L2
coefficients (`if l1 > 0` in the objective; label smoothing is captured when the
step is built), clip norm, every data and model option. Trials that differ in
those run in separate groups, each still vectorized over the rest.

Numerics — the stated tolerance, checked by tests/test_study_run.py: a vmapped
program is another XLA program (batched convolutions, other fusions), so a trial's
numbers equal its one-by-one run's only to float rounding, and training amplifies
rounding (one ReLU or Adam denominator that tips the other way moves a weight by
~lr). After 4 steps the params' displacement agrees to 1e-4 of its norm (measured
~1e-6: any difference in what a step computes would show here); after 200 steps of
the MNIST-1D CNN each trial's final test accuracy agrees within 0.02 and its loss
within 0.05 (measured <= 0.007 and <= 0.011 over 12 trials). After the quickstart's
1500 steps, per-trial test accuracy differs by 0.007 on average, 0.023 at most,
against a seed-to-seed standard deviation of 0.019: a vectorized trial is a
faithful sample of the same distribution, and the study's means, intervals and
verdicts agree. A group is itself deterministic: resumed from its checkpoint it
ends with the same bits as never stopping.

Devices: a group's trials are split over the local devices along the trial axis (a
`NamedSharding` of the stacked state on a one-axis mesh `trials`; the data and eval
sets replicated), so on a machine with several GPUs one vmapped program keeps every GPU
busy; the trials are independent, so XLA partitions the program with no communication.
Why not group g on device g % n: groups train one after another, so that would leave
n - 1 devices idle. A group of K trials uses the largest count of local devices that
divides K (jax splits an axis only evenly): --max-group a multiple of the device count
uses them all. Each trial computes what it computed on one device, so the results are
the one-device results to float rounding (tests/test_study_run.py).

Driver: a group trains through the core's one loop (training/driver.py) with the
core's hooks for evaluation, checkpoints and signals, and its own per-trial hooks for
the NaN stop and the step log; the final state is evaluated once (the last eval point's).
Checkpoints: a group saves its stacked state with orbax like a single run
(`groups/<id>/checkpoints`, every `checkpoint_every` steps) and writes each
trial's metrics into the trial's own directory as it goes; a trial is finished
(result.json, then its store record) when the group finishes, or failed (its
record) at the chunk where its loss or params became NaN/Inf — the other
trials go on.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time
import types
from typing import Any, Callable, Sequence

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jax.sharding import NamedSharding, PartitionSpec as P

from jaxdl import optim, rng
from jaxdl.data import pipeline
from jaxdl.training import checkpoint as checkpoint_lib
from jaxdl.training import driver, evaluation
from jaxdl.training import hooks as hooks_lib
from jaxdl.training import loop
from jaxdl.training import resume
from jaxdl.training import state as state_lib
from jaxdl.training import step as step_lib
from jaxdl.training import workdir as workdir_lib
from jaxdl.training import writers

__all__ = ["HYPERPARAMS", "VECTOR_KEYS", "COUPLED_DECAY", "group_key", "make_groups",
           "injectable_optimizer", "hyperparams", "GroupState", "Program", "build_program",
           "initial_state", "group_devices", "GroupPlacement", "group_placement", "abstract_state",
           "unstack", "group_id", "train_group"]

# Keys whose values a group's trials may differ in. The optimizer's are injected
# hyperparameters; `seed` is the root key in each trial's state.
HYPERPARAMS = ("lr", "weight_decay", "momentum", "b1", "b2", "eps")
VECTOR_KEYS = frozenset({"seed", *(f"optimizer.{h}" for h in HYPERPARAMS)})
# Optimizers whose weight decay the core adds to the gradient (coupled L2), see optim.py.
COUPLED_DECAY = ("sgd", "momentum", "nesterov", "adam")


def group_key(config: ml_collections.ConfigDict) -> str:
    """The config without `VECTOR_KEYS`: trials with equal keys share one program."""
    flat = resume.flatten_config(config.to_dict())
    return json.dumps({k: v for k, v in flat.items() if k not in VECTOR_KEYS}, sort_keys=True)


def make_groups(trials: Sequence[Any], max_size: int) -> list[list[Any]]:
    """Trials with the same `group_key`, in sweep order, cut into groups of at most
    `max_size` (1: every trial alone, the one-by-one mode)."""
    by_key: dict[str, list[Any]] = {}
    for trial in trials:
        by_key.setdefault(group_key(trial.config), []).append(trial)
    return [members[i:i + max_size] for members in by_key.values()
            for i in range(0, len(members), max_size)]


# ---------------------------------------------------------------- the program


def _namespace(node: dict, **values: Any) -> types.SimpleNamespace:
    """A read-only attribute view of a config section with some values replaced —
    ConfigDict refuses traced values, and `optim.make_optimizer` only reads attributes."""
    return types.SimpleNamespace(**{k: _namespace(v) if isinstance(v, dict) else v
                                    for k, v in {**node, **values}.items()})


def injectable_optimizer(opt: ml_collections.ConfigDict, steps: int
                         ) -> Callable[..., optax.GradientTransformation]:
    """`optax.inject_hyperparams` over the core's optimizer: call it with a trial's
    `HYPERPARAMS` to get a transformation whose state carries them as arrays.

    The chain is the core's (`optim.make_optimizer`, called with traced values), with
    one difference: the core adds coupled weight decay only when `weight_decay > 0`, a
    Python test a traced value cannot answer, so here it is always in the chain, in the
    core's place (after clipping, before the method); with weight_decay = 0 it adds
    0 * p, leaving the gradient unchanged.
    """
    coupled = opt.name in COUPLED_DECAY
    mask = None if opt.decay_biases_and_norms else optim.decay_mask

    def factory(lr, weight_decay, momentum, b1, b2, eps) -> optax.GradientTransformation:
        view = _namespace(opt.to_dict(), lr=lr, momentum=momentum, b1=b1, b2=b2, eps=eps,
                          weight_decay=0.0 if coupled else weight_decay,
                          clip_norm=0.0 if coupled else opt.clip_norm)
        method = optim.make_optimizer(view, steps)
        if not coupled:
            return method
        clip = [optax.clip_by_global_norm(opt.clip_norm)] if opt.clip_norm > 0 else []
        return optax.chain(*clip, optax.add_decayed_weights(weight_decay, mask), method)

    return optax.inject_hyperparams(factory)


def hyperparams(configs: Sequence[ml_collections.ConfigDict]) -> dict[str, jax.Array]:
    """{name: array (K,)} of the trials' optimizer hyperparameters."""
    return {h: jnp.asarray([float(c.optimizer[h]) for c in configs], jnp.float32)
            for h in HYPERPARAMS}


@flax.struct.dataclass
class GroupState:
    """A group's trials' TrainStates stacked on axis 0, and the step they all reached
    (a scalar, so the core's `Checkpoints` saves a group like a run)."""
    step: jax.Array
    trials: state_lib.TrainState


@flax.struct.dataclass
class Program:
    """The compiled pieces of a group: built once per shape, reused by every group of it."""
    init: Callable = flax.struct.field(pytree_node=False)
    chunk: Callable = flax.struct.field(pytree_node=False)
    evaluate: Callable = flax.struct.field(pytree_node=False)
    finite: Callable = flax.struct.field(pytree_node=False)


def build_program(run: loop.Run) -> Program:
    """The vmapped init / chunk / evaluate of `run`'s config, for any K and any values."""
    config = run.config
    make = injectable_optimizer(config.optimizer, config.steps)
    template = make(**{h: float(config.optimizer[h]) for h in HYPERPARAMS})  # update reads the state
    sample_x = jnp.asarray(run.dataset.x_train[:1])

    @jax.jit
    def init(keys: jax.Array, hyper: dict[str, jax.Array]) -> GroupState:
        trials = jax.vmap(lambda key, h: state_lib.create(run.model, make(**h), key, sample_x,
                                                          run.objective.init_extra))(keys, hyper)
        return GroupState(step=jnp.zeros((), jnp.int32), trials=trials)

    train_step = step_lib.make_train_step(run.objective, run.gradient, template,
                                          grad_norm=config.log_grad_norm)
    chunk = step_lib.make_train_chunk(train_step, config.batch_size, run.execution)

    @functools.partial(jax.jit, static_argnames="length", donate_argnums=0)
    def vchunk(trials, data, length: int):
        return jax.vmap(lambda s: chunk(s, data, length))(trials)

    def group_chunk(state: GroupState, data: pipeline.DeviceData, length: int):
        """`length` steps of every trial: one scanned call, or `length` calls of one
        vmapped step (the core's per-backend choice, `run.execution`)."""
        if run.execution == "scan":
            trials, metrics = vchunk(state.trials, data, length)
        else:
            trials, history = state.trials, []
            for _ in range(length):
                trials, metrics = vchunk(trials, data, 1)
                history.append(metrics)
            metrics = jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=1), *history)
        return GroupState(step=state.step + length, trials=trials), metrics

    return Program(init=init, chunk=group_chunk,
                   evaluate=jax.jit(jax.vmap(run.evaluate, in_axes=(0, None, None, None))),
                   finite=jax.jit(jax.vmap(step_lib.params_finite)))


def initial_state(program: Program, configs: Sequence[ml_collections.ConfigDict]) -> GroupState:
    keys = jnp.stack([rng.root_key(c.seed) for c in configs])
    return program.init(keys, hyperparams(configs))


def group_devices(k: int) -> list[jax.Device]:
    """The local devices a group of `k` trials is split over: as many as divide `k`."""
    local = jax.local_devices()
    return local[:max(d for d in range(1, min(k, len(local)) + 1) if k % d == 0)]


@dataclasses.dataclass(frozen=True)
class GroupPlacement:
    """Where a group's arrays live: its stacked trials split over `trials`, the rest
    (the step, the data, the eval sets) replicated."""
    split: NamedSharding
    replicated: NamedSharding

    def state(self, state: GroupState) -> GroupState:
        return GroupState(step=jax.device_put(state.step, self.replicated),
                          trials=jax.device_put(state.trials, self.split))


def group_placement(k: int) -> GroupPlacement:
    mesh = jax.sharding.Mesh(np.array(group_devices(k)), ("trials",))
    return GroupPlacement(NamedSharding(mesh, P("trials")), NamedSharding(mesh, P()))


def abstract_state(program: Program, configs: Sequence[ml_collections.ConfigDict]) -> Any:
    """Shapes, dtypes and placement of a group's state, for restoring into."""
    placement = group_placement(len(configs))
    shapes = jax.eval_shape(lambda: initial_state(program, configs))

    def like(sharding: NamedSharding) -> Callable[[Any], jax.ShapeDtypeStruct]:
        return lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding)

    return GroupState(step=like(placement.replicated)(shapes.step),
                      trials=jax.tree.map(like(placement.split), shapes.trials))


def unstack(tree: Any, i: int) -> Any:
    """Trial i's slice of a stacked pytree."""
    return jax.tree.map(lambda a: a[i], tree)


# ---------------------------------------------------------------- the driver


def group_id(trial_ids: Sequence[str]) -> str:
    return hashlib.sha256(" ".join(trial_ids).encode()).hexdigest()[:12]


def train_group(run: loop.Run, program: Program, trials: Sequence[Any], store: Any, *,
                stop: hooks_lib.StopRequest, progress: Callable[[float], None]) -> None:
    """Train `trials` (one group) as one vmapped program through the training driver,
    resuming from the group's newest checkpoint; commit each trial's record to `store`
    (done, or failed with its error). Trials already finished or committed are carried
    along but never rewritten."""
    config = run.config
    gid = group_id([t.id for t in trials])
    group_dir = os.path.join(store.root, "groups", gid)
    os.makedirs(group_dir, exist_ok=True)
    workdir_lib.write_json_atomic(os.path.join(group_dir, "group.json"),
                                  {"trials": [t.id for t in trials],
                                   "labels": [t.label for t in trials]})
    configs = [t.config for t in trials]
    checkpoints = checkpoint_lib.Checkpoints(f"{group_dir}/checkpoints", config.keep_checkpoints)
    group = _Group(trials, store, gid)
    try:
        placement = group_placement(len(trials))  # its trials split over the local devices
        latest = checkpoints.restore_latest(lambda saved: abstract_state(program, configs))
        state = latest[0] if latest else placement.state(initial_state(program, configs))
        group.open(int(state.step))
        data = jax.device_put(pipeline.to_device(run.dataset), placement.replicated)
        sets = jax.device_put(evaluation.eval_sets(dataclasses.replace(run, placement=None)),
                              placement.replicated)
        t0 = time.perf_counter()
        progress(len(group.live) * int(state.step) / config.steps)  # done before a resume
        def advance(chunk: driver.Chunk) -> None:
            # Returns None: a hook's True ends training, and tqdm's update returns True
            # whenever the bar redraws (a group stopped after its first chunk).
            progress(len(group.live) * chunk.length / config.steps)

        evaluate = hooks_lib.Evaluate(lambda s: _evaluate(program, s, sets),
                                      driver.every(config.eval_every, config.steps),
                                      group.write_evaluation)
        hooks = [driver.OnChunk(lambda chunk: group.fail_diverged(chunk, program.finite)),
                 driver.OnChunk(group.log_steps),
                 driver.OnChunk(advance),
                 evaluate,
                 hooks_lib.Checkpoint(checkpoints, config,
                                      driver.every(config.checkpoint_every, config.steps)),
                 hooks_lib.StopOnSignal(stop, checkpoints, config, group_dir, group.interrupted)]
        state = driver.run(state, lambda s, n: program.chunk(s, data, n), hooks,
                           end=config.steps, chunk_size=config.chunk_size)
        if group.live:
            final = evaluate.final(state)  # the last eval point's: evaluated once
            wall = time.perf_counter() - t0
            for i in group.live:
                _finish_trial(store, trials[i], final[i], int(state.step), wall,
                              f"vmap-{run.execution}x{len(trials)}", gid)
    finally:
        group.close()
        checkpoints.close()


class _Group:
    """The trials of a group that still train (`live`), each with its own MetricsLog and
    `StepLog` (its own lr): the group's hooks act per trial."""

    def __init__(self, trials: Sequence[Any], store: Any, gid: str):
        self.trials, self.store, self.gid = trials, store, gid
        self.live = [i for i, t in enumerate(trials) if store.pending(t)]
        self.logs: dict[int, workdir_lib.MetricsLog] = {}
        self.step_logs = {i: hooks_lib.StepLog.of(trials[i].config) for i in self.live}

    def open(self, step: int) -> None:
        for i in self.live:
            self.logs[i] = _open_trial(self.store, self.trials[i], step, self.gid)

    def fail_diverged(self, chunk: driver.Chunk, finite: Callable) -> bool:
        """A trial whose loss or params became NaN/Inf fails (its record), the others go
        on; True (end training) once no trial is left."""
        ok = np.asarray(finite(chunk.state.trials.params))
        for i in list(self.live):
            try:
                hooks_lib.check_finite(chunk.start, unstack(chunk.metrics, i), bool(ok[i]))
            except hooks_lib.TrainingDiverged as e:
                self.logs.pop(i).close(writers.FAILED)
                self.store.commit_failed(self.trials[i], str(e), mode="vectorized",
                                         group=self.gid)
                self.live.remove(i)
        return not self.live

    def log_steps(self, chunk: driver.Chunk) -> None:
        for i in self.live:
            self.step_logs[i].write(self.logs[i], chunk.start, unstack(chunk.metrics, i),
                                    chunk.seconds)

    def write_evaluation(self, step: int, results: list[dict]) -> None:
        for i in self.live:
            for split, (scalars, _) in results[i].items():
                self.logs[i].log(step, split, scalars)

    def interrupted(self, step: int) -> None:
        for i in self.live:
            workdir_lib.RunFiles(self.store.trial_dir(self.trials[i].id)).record(
                "interrupted", step, group=self.gid)

    def close(self) -> None:
        for log in self.logs.values():
            log.close()


def _evaluate(program: Program, state: GroupState, sets: dict[str, tuple]
              ) -> list[dict[str, tuple[dict, dict]]]:
    """Per trial: {split: (scalars, per-class)}, as `evaluation.evaluate` gives for one run."""
    sums = {split: jax.device_get(program.evaluate(state.trials, *arrays))
            for split, arrays in sets.items()}
    return [{split: evaluation.summarize(unstack(s, i)) for split, s in sums.items()}
            for i in range(state.trials.step.shape[0])]


def _open_trial(store: Any, trial: Any, step: int, gid: str) -> workdir_lib.MetricsLog:
    """The trial's directory as an ordinary jaxdl workdir, its metrics cut back to `step`."""
    workdir = workdir_lib.prepare(store.trial_dir(trial.id))
    files = workdir_lib.RunFiles(workdir)
    files.check()
    files.write_config(trial.config)
    files.truncate_metrics(step, driver.every(trial.config.eval_every, trial.config.steps))
    files.record("resume" if step else "start", step, group=gid)
    return workdir_lib.MetricsLog(workdir, resumed_from=step, config=trial.config)


def _finish_trial(store: Any, trial: Any, final: dict, step: int, wall: float, execution: str,
                  gid: str) -> None:
    workdir = store.trial_dir(trial.id)
    files = workdir_lib.RunFiles(workdir)
    files.write_result({
        "step": step, "workdir": workdir,
        **{split: scalars for split, (scalars, _) in final.items()},
        "test_per_class": final["test"][1], "execution": execution, "wall_time_s": wall})
    files.record("finish", step, group=gid)
    store.commit_done(trial, mode="vectorized", group=gid)
