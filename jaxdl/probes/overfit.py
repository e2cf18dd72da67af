"""Overfit one small batch: the first check of a new model, loss or optimizer.

    result = overfit_batch(config, examples=8, steps=300)
    result.passed, result.accuracy, result.losses[-1]

Any reasonable network has far more parameters than 8 examples have constraints, so
gradient descent on one fixed batch must drive the training loss to ~0 and the
accuracy to 100%. If it does not, something between the data and the update is
broken — labels not matching inputs, a loss or gradient of the wrong sign, a frozen
layer, a learning rate that does nothing — and no longer run can be trusted (Karpathy,
"A recipe for training neural networks", 2019).

The check trains through the core's own pieces, not a copy: the model, optimizer and
loss that `jaxdl.training.loop.build(config)` makes, the state `run.init` makes from
the seed's root key, and the run's pure train step (`run.train_step`), applied
`steps` times (one `lax.scan`) to the first `examples` training examples. It passes
when, in inference mode on that batch, the mean loss is <= `loss_tol` and (for
classification) every example is classified correctly.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxdl import config as config_lib
from jaxdl import objectives, rng
from jaxdl.training import loop

__all__ = ["OverfitResult", "overfit_batch"]


@dataclasses.dataclass(frozen=True)
class OverfitResult:
    """losses: the training loss at each step (before its update; with dropout on);
    loss, accuracy: on the batch in inference mode after the last step (accuracy NaN
    for regression); passed: loss <= loss_tol and, for classification, accuracy 1."""
    losses: np.ndarray
    loss: float
    accuracy: float
    passed: bool


def overfit_batch(config: ml_collections.ConfigDict, examples: int = 8, steps: int = 300,
                  loss_tol: float = 0.05) -> OverfitResult:
    """Train `config`'s model on its first `examples` training examples for `steps`
    steps (the optimizer's schedule spans those steps) and report whether it fits them."""
    if examples < 1:
        raise ValueError(f"examples: must be >= 1, got {examples}")
    if steps < 1:
        raise ValueError(f"steps: must be >= 1, got {steps}")
    config = ml_collections.ConfigDict(config.to_dict())
    if config.get("objective", {}).get("name") in objectives.SELF_SUPERVISED:
        raise config_lib.ConfigError(
            f"config.objective.name: {config.objective.name!r}: the one-batch check fits "
            f"labels; it needs an objective with labels")
    config.steps = steps
    run = loop.build(config)  # validates the config: ConfigError naming the key
    if examples > len(run.dataset.x_train):
        raise ValueError(f"examples: must be <= the training set size "
                         f"({len(run.dataset.x_train)}), got {examples}")
    batch = (jnp.asarray(run.dataset.x_train[:examples]),
             jnp.asarray(run.dataset.y_train[:examples]))
    classify = run.dataset.num_classes > 0
    train_step = run.train_step

    @jax.jit
    def train(state):
        return jax.lax.scan(lambda s, _: train_step(s, batch), state, length=steps)

    state, metrics = train(run.init(rng.root_key(config.seed)))
    loss, accuracy = _fit_on(run, state, batch)
    passed = loss <= loss_tol and (accuracy == 1.0 if classify else True)
    return OverfitResult(np.asarray(metrics["loss"]), loss, accuracy, bool(passed))


def _fit_on(run: loop.Run, state, batch) -> tuple[float, float]:
    """(mean loss, accuracy) on `batch` in inference mode (no dropout, running stats): the
    run's own evaluation of one batch (distilling: soft targets too)."""
    x, y = batch
    sums = run.evaluate(state, x[None], y[None], jnp.ones((1, len(x)), jnp.float32))
    scalars, _ = loop.summarize(sums)
    return scalars["loss"], scalars.get("accuracy", float("nan"))
