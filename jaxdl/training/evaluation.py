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

__all__ = ["eval_layout", "eval_sets", "evaluate", "stacked_batches", "summarize"]

Results = dict[str, tuple[dict[str, float], dict[str, list[float]]]]


def eval_layout(n: int, batch_size: int, num_devices: int = 1
                ) -> tuple[np.ndarray, np.ndarray]:
    """(rows, mask), each (nb, bs): rows[b, j] is the example at position j of batch b.
    The last batch is padded with example 0, masked out (mask 0), so every example counts
    exactly once; bs is a multiple of `num_devices` so that each batch splits over them."""
    batch_size = min(batch_size, n)
    batch_size = -(-batch_size // num_devices) * num_devices
    nb = -(-n // batch_size)
    positions = np.arange(nb * batch_size)
    rows = np.where(positions < n, positions, 0).reshape(nb, batch_size)
    mask = (positions < n).astype(np.float32).reshape(nb, batch_size)
    return rows, mask


def stacked_batches(x: np.ndarray, y: np.ndarray, batch_size: int,
                    placement: parallel.Placement | None = None):
    """(xs, ys, masks) of shape (nb, bs, ...) laid out by `eval_layout`. With a placement
    each batch is split over its devices, and each process reads and places only the
    examples its own devices hold (`parallel.process_block`): 1/P of the set per host."""
    num_devices = placement.num_devices if placement is not None else 1
    rows, mask = eval_layout(len(x), batch_size, num_devices)
    if placement is None:
        return jnp.asarray(x[rows]), jnp.asarray(y[rows]), jnp.asarray(mask)
    sharding = placement.eval_batches()
    block = parallel.process_block(sharding.addressable_devices_indices_map(rows.shape).values(),
                                   rows.shape, axis=1)
    local = rows[:, block]  # the same global arrays as one host would build, in parts
    return tuple(parallel.place_local(part, sharding, rows.shape + part.shape[2:])
                 for part in (x[local], y[local], mask[:, block]))


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
