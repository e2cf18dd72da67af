"""The driver: the one place where training does I/O.

    result = jaxdl.train(jaxdl.config.default())   # ~0.94 test accuracy, ~1 min on 2 CPU cores

It validates the config, loads the data onto the device, builds the pure step,
then runs chunks of steps between evaluation points: a tqdm bar with loss and
accuracy, `metrics.jsonl` + TensorBoard at each evaluation, a stop naming the
step when the loss or the params become NaN/Inf, and `result.json` last.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm

from jaxdl import config as config_lib
from jaxdl import data as data_lib
from jaxdl import models, optim, rng
from jaxdl.data import pipeline
from jaxdl.training import state as state_lib
from jaxdl.training import step as step_lib
from jaxdl.training import workdir as workdir_lib


class TrainingDiverged(RuntimeError):
    """The loss or the params became NaN/Inf; the message names the step."""


@dataclasses.dataclass(frozen=True)
class Run:
    """Everything built from a config before any compute."""
    config: ml_collections.ConfigDict
    dataset: data_lib.Dataset
    model: Any
    init: Callable[[jax.Array], state_lib.TrainState]
    train_chunk: Callable
    evaluate: Callable
    execution: str


def resolve_execution(execution: str, backend: str | None = None) -> str:
    """'auto' -> the strategy measured fastest on this backend (BENCHMARKS.md):
    per-step calls on CPU, where XLA runs small convs inside `scan` slower;
    one `scan` per chunk on accelerators, where per-call dispatch dominates."""
    if execution != "auto":
        return execution
    return "loop" if (backend or jax.default_backend()) == "cpu" else "scan"


def build(config: ml_collections.ConfigDict) -> Run:
    """Validate, load the data and trace the model's shapes; fails with `ConfigError`."""
    config_lib.validate(config)
    options = {k: v for k, v in config.data.items() if k != "name"}
    try:
        dataset = data_lib.load(config.data.name, **options)
    except (ValueError, TypeError, OSError) as e:  # OSError: a tfds dataset not prepared
        raise config_lib.ConfigError(f"config.data: {e}") from None
    config_lib.check_against_data(config, len(dataset.x_train), dataset.num_classes)
    model_options = {k: v for k, v in config.model.items() if k != "name"}
    model = models.build(config.model.name, dataset.num_outputs, **model_options)
    optimizer = optim.make_optimizer(config.optimizer, config.steps)
    sample_x = jnp.asarray(dataset.x_train[:1])

    def init(key: jax.Array) -> state_lib.TrainState:
        return state_lib.create(model, optimizer, key, sample_x)

    try:  # traces the model on abstract values: errors surface before any compute
        jax.eval_shape(init, rng.root_key(config.seed))
    except (ValueError, TypeError, KeyError) as e:
        raise config_lib.ConfigError(f"config.model: {str(e).splitlines()[0]}") from None
    classify = dataset.num_classes > 0
    train_step = step_lib.make_train_step(model, optimizer, config.loss, classify)
    execution = resolve_execution(config.execution)
    return Run(
        config=config, dataset=dataset, model=model, init=jax.jit(init),
        train_chunk=step_lib.make_train_chunk(train_step, config.batch_size, execution),
        evaluate=step_lib.make_evaluate(
            step_lib.make_eval_batch(model, config.loss, dataset.num_classes)),
        execution=execution)


def eval_points(config: ml_collections.ConfigDict) -> list[int]:
    """Steps after which the run evaluates: every `eval_every`, and the last."""
    every = config.eval_every or config.steps
    return sorted(set(range(every, config.steps, every)) | {config.steps})


def chunks(start: int, stops: list[int], chunk_size: int) -> Iterator[tuple[int, bool]]:
    """(length, stop_after) of each chunk: at most `chunk_size` steps, never across a stop."""
    step = start
    for stop in (s for s in stops if s > start):
        while step < stop:
            length = min(chunk_size, stop - step)
            step += length
            yield length, step == stop


def stacked_batches(x: np.ndarray, y: np.ndarray, batch_size: int):
    """(xs, ys, masks) of shape (nb, bs, ...): the last batch padded, padding masked out."""
    n = len(x)
    batch_size = min(batch_size, n)
    nb = -(-n // batch_size)
    pad = nb * batch_size - n
    mask = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
    x = np.concatenate([x, np.repeat(x[:1], pad, axis=0)])
    y = np.concatenate([y, np.repeat(y[:1], pad, axis=0)])
    shape = lambda a: a.reshape(nb, batch_size, *a.shape[1:])
    return jnp.asarray(shape(x)), jnp.asarray(shape(y)), jnp.asarray(shape(mask))


def eval_sets(config: ml_collections.ConfigDict, dataset: data_lib.Dataset) -> dict[str, tuple]:
    n_train = config.eval_train_examples or len(dataset.x_train)
    return {
        "train": stacked_batches(dataset.x_train[:n_train], dataset.y_train[:n_train],
                                 config.eval_batch_size),
        "test": stacked_batches(dataset.x_test, dataset.y_test, config.eval_batch_size),
    }


def summarize(sums: dict[str, Any]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Mean metrics and per-class precision/recall/F1 from summed eval metrics."""
    from jaxdl import losses
    sums = jax.device_get(sums)
    count = float(sums["count"])
    scalars = {"loss": float(sums["loss"]) / count}
    per_class = {}
    if "accuracy" in sums:
        scalars["accuracy"] = float(sums["accuracy"]) / count
        per_class = {k: np.asarray(v).tolist()
                     for k, v in losses.precision_recall_f1(sums["confusion"]).items()}
        scalars["f1_macro"] = float(np.mean(per_class["f1"]))
    return scalars, per_class


def check_finite(start_step: int, metrics: dict[str, np.ndarray], params_ok: bool) -> None:
    bad = np.flatnonzero(~np.isfinite(metrics["loss"]))
    if bad.size:
        raise TrainingDiverged(f"loss became NaN/Inf at step {start_step + int(bad[0])}")
    if not params_ok:
        last = start_step + len(metrics["loss"]) - 1
        raise TrainingDiverged(f"params became NaN/Inf by step {last}")


def train(config: ml_collections.ConfigDict, workdir: str | None = None, *,
          progress: bool = True) -> dict[str, Any]:
    """Train one run to the end; returns (and writes to result.json) the final metrics."""
    run = build(config)
    workdir = workdir_lib.prepare(workdir or workdir_lib.default_workdir())
    workdir_lib.write_json_atomic(f"{workdir}/config.json", config.to_dict())
    data = pipeline.to_device(run.dataset)
    sets = eval_sets(config, run.dataset)
    log = workdir_lib.MetricsLog(workdir)
    t0 = time.perf_counter()
    state = run.init(rng.root_key(config.seed))
    final = {}
    bar = tqdm.tqdm(total=config.steps, desc="train", unit="step", disable=not progress,
                    dynamic_ncols=True)
    try:
        for length, evaluate_now in chunks(0, eval_points(config), config.chunk_size):
            start = int(state.step)
            state, metrics = run.train_chunk(state, data, length)
            metrics = jax.device_get(metrics)
            check_finite(start, metrics, bool(step_lib.params_finite(state.params)))
            bar.update(length)
            bar.set_postfix({k: f"{np.mean(v):.4f}" for k, v in metrics.items()})
            if evaluate_now:
                final = {split: summarize(run.evaluate(state, *arrays))
                         for split, arrays in sets.items()}
                for split, (scalars, _) in final.items():
                    log.write(int(state.step), split, scalars)
    finally:
        bar.close()
        log.close()
    result = {
        "step": int(state.step),
        "workdir": workdir,
        **{split: scalars for split, (scalars, _) in final.items()},
        "test_per_class": final["test"][1],
        "execution": run.execution,
        "wall_time_s": time.perf_counter() - t0,
    }
    workdir_lib.write_json_atomic(f"{workdir}/result.json", result)
    return result
