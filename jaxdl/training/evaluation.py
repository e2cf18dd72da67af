"""Evaluation of a run's state on its train and test sets: what metrics.jsonl's `train` and
`test` rows and result.json hold.

    results = evaluate(run, state, eval_sets(run))   # {"train": (scalars, per_class), "test": ...}
    results["test"][0]                               # {"loss": ..., "accuracy": ..., "f1_macro": ...}

`run.evaluate(state, xs, ys, masks)` (built by `loop.build`) sums the metrics over the
stacked batches on device; `summarize` divides by the count on the host.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import losses
from jaxdl.training import parallel

__all__ = ["eval_sets", "evaluate", "stacked_batches", "summarize"]

Results = dict[str, tuple[dict[str, float], dict[str, list[float]]]]


def stacked_batches(x: np.ndarray, y: np.ndarray, batch_size: int,
                    placement: parallel.Placement | None = None):
    """(xs, ys, masks) of shape (nb, bs, ...): the last batch padded, padding masked out;
    with a placement, bs is a multiple of the device count and each batch is split."""
    n = len(x)
    batch_size = min(batch_size, n)
    if placement is not None:
        batch_size = -(-batch_size // placement.num_devices) * placement.num_devices
    nb = -(-n // batch_size)
    pad = nb * batch_size - n
    mask = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
    x = np.concatenate([x, np.repeat(x[:1], pad, axis=0)])
    y = np.concatenate([y, np.repeat(y[:1], pad, axis=0)])
    shape = lambda a: a.reshape(nb, batch_size, *a.shape[1:])
    if placement is None:
        return jnp.asarray(shape(x)), jnp.asarray(shape(y)), jnp.asarray(shape(mask))
    sharding = placement.eval_batches()
    return tuple(parallel.place(shape(a), sharding) for a in (x, y, mask))


def eval_sets(run: Any) -> dict[str, tuple]:
    """The stacked batches of a run's (`loop.Run`) train split — at most
    `eval_train_examples` — and test split, placed on its devices."""
    config, dataset = run.config, run.dataset
    n_train = config.eval_train_examples or len(dataset.x_train)
    return {
        "train": stacked_batches(dataset.x_train[:n_train], dataset.y_train[:n_train],
                                 config.eval_batch_size, run.placement),
        "test": stacked_batches(dataset.x_test, dataset.y_test, config.eval_batch_size,
                                run.placement),
    }


def summarize(sums: dict[str, Any]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Mean metrics and per-class precision/recall/F1 from summed eval metrics."""
    sums = jax.device_get(sums)
    count = float(sums["count"])
    scalars = {"loss": float(sums["loss"]) / count}
    per_class = {}
    if "accuracy" in sums:
        scalars["accuracy"] = float(sums["accuracy"]) / count
        per_class = {k: np.asarray(v).tolist()
                     for k, v in losses.precision_recall_f1(sums["confusion"]).items()}
        scalars["f1_macro"] = float(np.mean(per_class["f1"]))
    for name in sorted(set(sums) - {"count", "loss", "accuracy", "confusion"}):
        scalars[name] = float(sums[name]) / count  # e.g. a self-supervised run's knn_accuracy
    return scalars, per_class


def evaluate(run: Any, state: Any, sets: dict[str, tuple]) -> Results:
    """{split: (scalars, per-class)} of `state` on each of `sets` (`eval_sets(run)`)."""
    return {split: summarize(run.evaluate(state, *arrays)) for split, arrays in sets.items()}
