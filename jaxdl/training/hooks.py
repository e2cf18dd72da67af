"""The hooks of the training driver, and `Hook`: a user's own measurement during training.

    def weight_norm(state, run):                       # any function of the state
        return {"norm": optax.tree.norm(state.params)}
    jaxdl.train(config, "runs/w", hooks=[Hook(weight_norm, every=100)])
    # -> metrics.jsonl rows {"step": 100, "split": "weight_norm", "norm": ...} at steps
    #    100, 200, ... and the last step; TensorBoard scalars weight_norm/norm

The built-in hooks, in the order `jaxdl.train` runs them after each chunk (driver.py):
`StopOnNaN` (a NaN/Inf loss or params stops the run, naming the step), `LogSteps` (every
`log_every`-th step's training metrics and learning rate, `StepLog`), `Progress` (the
tqdm bar), `Evaluate` (train/test metrics at the eval points, kept for the final
result), the histograms, the user hooks (`LogScalars`), `Checkpoint` (at the checkpoint
points and at the end) and `StopOnSignal` (SIGTERM/SIGINT: every process agrees, saves
and stops at the same step). Each hook's points end chunks; chunking never changes a
bit, so hooks never change the trained params.
"""
from __future__ import annotations

import dataclasses
import signal
import threading
from typing import Any, Callable, Iterable, Mapping, Sequence

import ml_collections
import numpy as np

from jaxdl import optim
from jaxdl.training import parallel
from jaxdl.training import workdir as workdir_lib
from jaxdl.training.driver import Chunk, ChunkHook, every

__all__ = ["Checkpoint", "Evaluate", "Hook", "HookError", "Interrupted", "LogScalars",
           "LogSteps", "Progress", "StepLog", "StopOnNaN", "StopOnSignal", "StopRequest",
           "TrainingDiverged", "check_finite"]

# Splits the core writes to metrics.jsonl: a user hook takes another name.
RESERVED_SPLITS = (*workdir_lib.EVAL_SPLITS, workdir_lib.TRAIN_STEP)


class TrainingDiverged(RuntimeError):
    """The loss or the params became NaN/Inf; the message names the step."""


class Interrupted(RuntimeError):
    """SIGTERM/SIGINT: the run saved a checkpoint at `step` and can be resumed."""

    def __init__(self, step: int, workdir: str):
        super().__init__(f"interrupted at step {step}; checkpoint saved in {workdir}")
        self.step, self.workdir = step, workdir


class HookError(RuntimeError):
    """A user hook raised or returned something that is not scalars: one line naming the
    hook and the step (the original exception is chained as its cause)."""


# ---------------------------------------------------------------- user hooks


@dataclasses.dataclass(frozen=True)
class Hook:
    """`fn(state, run) -> {name: scalar}`, called after steps `every`, 2·`every`, ... and
    the last step (`every=0`: the last step only); its scalars are logged as split `name`
    (default: the function's name) to metrics.jsonl and TensorBoard (`name/scalar`).

    `state` is the TrainState after that step (`state.step`, `.params`, `.model_state`,
    `.key`); `run` the built run (`loop.Run`: `.model`, `.dataset`, `.config`, ...).
    The state is valid during the call only (the next compiled chunk donates it): return
    numbers, keep no arrays of it. Derive any randomness from `state.key` with
    `jaxdl.rng` (never a Python counter), so a resumed run logs the same rows."""
    fn: Callable[[Any, Any], Mapping[str, Any]]
    every: int
    name: str = ""

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise ValueError(f"Hook: fn must be a function of (state, run), got {self.fn!r}")
        if not isinstance(self.every, int) or self.every < 0:
            raise ValueError(f"Hook {self.fn!r}: every={self.every!r}: must be an int >= 0")
        name = self.name or getattr(self.fn, "__name__", "") or "hook"
        if name == "<lambda>":
            name = "hook"
        if name in RESERVED_SPLITS or "/" in name:
            raise ValueError(f"Hook name {name!r}: taken by the core's rows "
                             f"({', '.join(RESERVED_SPLITS)}) or holds '/'; pass name=...")
        object.__setattr__(self, "name", name)

    def points(self, steps: int) -> set[int]:
        """The steps after which the hook runs, in a run of `steps` steps."""
        return every(self.every, steps)

    def scalars(self, state: Any, run: Any, step: int) -> dict[str, float]:
        """The hook's scalars at `step`, as floats; `HookError` naming it on any failure."""
        try:
            values = self.fn(state, run)
            if not isinstance(values, Mapping):
                raise TypeError(f"returned {type(values).__name__}, not a dict of scalars")
            return {str(k): _scalar(k, v) for k, v in values.items()}
        except Exception as e:  # noqa: BLE001 - any failure of user code: one line naming it
            message = (str(e) or type(e).__name__).splitlines()[0]
            raise HookError(f"hook {self.name!r} failed at step {step}: "
                            f"{type(e).__name__}: {message}") from e


def _scalar(name: Any, value: Any) -> float:
    if name in ("step", "split"):
        raise ValueError(f"value {name!r}: the row's own key; name it otherwise")
    array = np.asarray(value)
    if array.size != 1 or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"value {name!r} is not a scalar (shape {array.shape}, {array.dtype})")
    return float(array.reshape(()))


def check_names(hooks: Sequence[Hook]) -> None:
    """ValueError unless every item is a `Hook` and their names (splits) differ."""
    for hook in hooks:
        if not isinstance(hook, Hook):
            raise ValueError(f"hooks: expected jaxdl.training.hooks.Hook, got {hook!r}")
    names = [hook.name for hook in hooks]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"hooks: two hooks log as {twice[0]!r}; give one another name=")


class LogScalars(ChunkHook):
    """The user hooks: each at its points, its scalars to the run's MetricsLog."""

    def __init__(self, hooks: Sequence[Hook], run: Any, log: workdir_lib.MetricsLog, end: int):
        self.hooks, self.run, self.log = list(hooks), run, log
        self.points = [hook.points(end) for hook in self.hooks]

    def stops(self, start: int, end: int) -> Iterable[int]:
        return set().union(*self.points)

    def after_chunk(self, chunk: Chunk) -> None:
        for hook, points in zip(self.hooks, self.points):
            if chunk.step in points:
                self.log.log(chunk.step, hook.name, hook.scalars(chunk.state, self.run, chunk.step))


# ---------------------------------------------------------------- the NaN stop


def check_finite(start_step: int, metrics: dict[str, np.ndarray], params_ok: bool) -> None:
    """TrainingDiverged naming the first step whose loss is NaN/Inf, or the chunk's last
    step when only the params are."""
    bad = np.flatnonzero(~np.isfinite(metrics["loss"]))
    if bad.size:
        raise TrainingDiverged(f"loss became NaN/Inf at step {start_step + int(bad[0])}")
    if not params_ok:
        last = start_step + len(metrics["loss"]) - 1
        raise TrainingDiverged(f"params became NaN/Inf by step {last}")


class StopOnNaN(ChunkHook):
    """After every chunk: its per-step losses and the params (`params_finite(params)`,
    one jitted reduction) must be finite; the last good checkpoint stays."""

    def __init__(self, params_finite: Callable[[Any], Any]):
        self.params_finite = params_finite

    def after_chunk(self, chunk: Chunk) -> None:
        check_finite(chunk.start, chunk.metrics, bool(self.params_finite(chunk.state.params)))


# ---------------------------------------------------------------- logging


@dataclasses.dataclass(frozen=True)
class StepLog:
    """The training steps a run logs (every `every`-th; 0: none), read from the per-step
    metrics a chunk returns stacked: no host sync and no chunk boundary of its own.

    Row s holds the metrics of the s-th step — the one that took the state from step s-1
    to s, as eval row s evaluates its result — and `lr`, the rate that step applied:
    schedule(s - 1), since optax counts updates from 0."""
    every: int
    lrs: np.ndarray  # lrs[k]: the learning rate of step (k + 1) * every

    @classmethod
    def of(cls, config: ml_collections.ConfigDict) -> StepLog:
        every = config.log_every
        steps = np.arange(every, config.steps + 1, every) if every else np.arange(0)
        return cls(config.log_every, optim.learning_rates(config.optimizer, config.steps, steps - 1))

    def rows(self, start: int, metrics: dict[str, np.ndarray]) -> list[tuple[int, dict]]:
        """(step, row) of each logged step of a chunk that began at step `start`."""
        if not self.every:
            return []
        end = start + len(metrics["loss"])
        first = (start // self.every + 1) * self.every
        return [(s, {"loss": metrics["loss"][s - start - 1],
                     **{k: v[s - start - 1] for k, v in metrics.items()},
                     "lr": self.lrs[s // self.every - 1]}) for s in range(first, end + 1, self.every)]

    def write(self, log: workdir_lib.MetricsLog, start: int, metrics: dict[str, np.ndarray],
              seconds: float) -> None:
        """The chunk's rows, and its host wall time per step as steps/s — to TensorBoard
        only (`MetricsLog.log`'s `measured`): metrics.jsonl stays bit for bit reproducible."""
        speed = {"steps_per_s": len(metrics["loss"]) / max(seconds, 1e-9)}
        for step, row in self.rows(start, metrics):
            log.log(step, workdir_lib.TRAIN_STEP, row, measured=speed)


class LogSteps(ChunkHook):
    """Every `log_every`-th step's training metrics, read from the chunk's (`StepLog`)."""

    def __init__(self, step_log: StepLog, log: workdir_lib.MetricsLog):
        self.step_log, self.log = step_log, log

    def after_chunk(self, chunk: Chunk) -> None:
        self.step_log.write(self.log, chunk.start, chunk.metrics, chunk.seconds)


class Progress(ChunkHook):
    """A tqdm bar: the steps done, and the chunk's mean of each training metric."""

    def __init__(self, bar: Any):
        self.bar = bar

    def after_chunk(self, chunk: Chunk) -> None:
        self.bar.update(chunk.length)
        self.bar.set_postfix({k: f"{np.mean(v):.4f}" for k, v in chunk.metrics.items()})


# ---------------------------------------------------------------- evaluation


class Evaluate(ChunkHook):
    """`evaluate(state)` at `points`, handed to `write(step, results)`; the results of the
    newest point are kept, so the final state is evaluated once (`final`)."""

    def __init__(self, evaluate: Callable[[Any], Any], points: Iterable[int],
                 write: Callable[[int, Any], None]):
        self.evaluate, self.points, self.write = evaluate, frozenset(points), write
        self.last: tuple[int, Any] | None = None

    def stops(self, start: int, end: int) -> Iterable[int]:
        return self.points

    def after_chunk(self, chunk: Chunk) -> None:
        if chunk.step in self.points:
            results = self.evaluate(chunk.state)
            self.write(chunk.step, results)
            self.last = (chunk.step, results)

    def final(self, state: Any) -> Any:
        """The results of `state`: those of its step's eval point if it had one (the last
        step always is), else evaluated now (a resumed run that had nothing left to train)."""
        step = int(state.step)
        if self.last is not None and self.last[0] == step:
            return self.last[1]
        return self.evaluate(state)


# ---------------------------------------------------------------- checkpoints and signals


class Checkpoint(ChunkHook):
    """An async save at `points` and, waited for, at the end (a no-op when the last step
    was just saved)."""

    def __init__(self, checkpoints: Any, config: ml_collections.ConfigDict, points: Iterable[int]):
        self.checkpoints, self.config, self.points = checkpoints, config, frozenset(points)

    def stops(self, start: int, end: int) -> Iterable[int]:
        return self.points

    def after_chunk(self, chunk: Chunk) -> None:
        if chunk.step in self.points:
            self.checkpoints.save(chunk.state, self.config)

    def finish(self, state: Any) -> None:
        self.checkpoints.save(state, self.config)
        self.checkpoints.wait()


class StopRequest:
    """SIGTERM/SIGINT set a flag; the loop saves and exits after the current chunk.
    A second signal interrupts at once."""

    def __init__(self):
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class StopOnSignal(ChunkHook):
    """After every chunk: if any process got a signal, all save at this step; before the
    last step they then `record(step)` and raise `Interrupted(step, where)`."""

    def __init__(self, stop: StopRequest, checkpoints: Any, config: ml_collections.ConfigDict,
                 where: str, record: Callable[[int], None]):
        self.stop, self.checkpoints, self.config = stop, checkpoints, config
        self.where, self.record = where, record

    def after_chunk(self, chunk: Chunk) -> None:
        # A signal may reach one host of a pod only: every process asks all the others,
        # so all save at this same step and stop together.
        if not parallel.any_process(self.stop.requested):
            return
        self.checkpoints.save(chunk.state, self.config)
        if chunk.step < self.config.steps:
            self.checkpoints.wait()
            self.record(chunk.step)
            raise Interrupted(chunk.step, self.where)
