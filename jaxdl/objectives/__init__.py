"""Objectives: what training minimizes, as pure functions, looked up by name.

An objective is registered as a factory `make(setup, **options) -> Objective | loss`; its
keyword options *are* the config section `config.objective` (besides `name`), so a
user's hyperparameter is validated, overridable on the command line, sweepable and
recorded in config.json like any built-in option. The loss has one signature for all:

    loss(params, model_state, extra, batch, keys) -> (loss, (metrics, model_state))

`extra` is state the objective keeps beside the params (BYOL's EMA target, DINO's
teacher; `{}` for most), `batch` is `(x, y)`, and `keys(purpose)` is the key of `purpose`
(`jaxdl.rng`) at this step and device — a pure function of the trial's root key and the
step. Your own:

    @jaxdl.objectives.register("focal")
    def focal(setup, gamma: float = 2.0):           # --config.objective.gamma=1.0
        def loss(params, model_state, extra, batch, keys):
            logits, model_state = setup.apply(params, model_state, batch[0], keys)
            ...
            return value, ({"loss": value}, model_state)
        return loss

(`jaxdl train --config.objective.name=focal`; docs/guide/own_objective.md). The gradient
method (`jaxdl.gradients`: plain, adversarial, sam) wraps the loss; the train step
(`training/step.py`) is one small function of (objective, gradient method, optimizer).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxdl import losses, models, rng
from jaxdl.registry import OptionError, Registry, require, rule_of, signature_options

__all__ = ["Setup", "StepKeys", "Objective", "REGISTRY", "SELF_SUPERVISED", "register", "defaults", "check",
           "build", "add_penalties", "check_penalties", "evaluate_batches", "OptionError", "require"]

Loss = Callable[..., tuple[jax.Array, tuple[dict[str, jax.Array], Any]]]
Metrics = dict[str, jax.Array]

REGISTRY = Registry("objective", {name: f"jaxdl.objectives.{name}:{name}" for name in
                                  ("supervised", "simclr", "byol", "vicreg", "barlow_twins",
                                   "mae", "distill", "dino")})
register = REGISTRY.register
SELF_SUPERVISED = ("simclr", "byol", "vicreg", "barlow_twins", "mae", "dino")  # without labels


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class StepKeys:
    """The keys of one step: `keys(purpose)` = step_key(root, purpose, step), folded with
    the device index in a per-device program (each device draws its own masks for its
    slice). A pytree, so it passes through `jax.grad` like the batch."""
    root: jax.Array
    step: jax.Array
    axis_name: Any = dataclasses.field(default=None, metadata={"static": True})

    def __call__(self, purpose: int) -> jax.Array:
        key = rng.step_key(self.root, purpose, self.step)
        if self.axis_name:
            key = jax.random.fold_in(key, jax.lax.axis_index(self.axis_name))
        return key


@dataclasses.dataclass(frozen=True)
class Setup:
    """What an objective is built from: the registered model (config.model, under the
    run's precision policy `precision`), the data's shape and classes, the run's length
    and augmentation (config.augment), and the device axis of a per-device program (None:
    one global program)."""
    model: nn.Module
    num_classes: int
    sample_x: Any  # one training example with a batch axis: shapes for tracing
    steps: int
    augment: Any = None  # config.augment (a ConfigDict), or None
    axis_name: Any = None
    precision: str = "float32"  # config.precision: a network an objective builds gets it too

    @property
    def classify(self) -> bool:
        return self.num_classes > 0

    def mean(self, value: Any) -> Any:
        """The mean over devices of a per-device program (identity otherwise): under
        `shard_map` the gradient of that mean w.r.t. replicated params is the all-reduced
        mean gradient."""
        return jax.lax.pmean(value, self.axis_name) if self.axis_name else value

    def apply(self, params: Any, model_state: Any, x: jax.Array, keys: StepKeys | None = None,
              *, train: bool = True, model: nn.Module | None = None) -> tuple[jax.Array, Any]:
        """(outputs, model state) of the model (or `model`) on x; dropout from
        keys(DROPOUT) in training."""
        key = keys(rng.DROPOUT) if keys is not None and train else None
        return models.apply(model or self.model, params, model_state, x, train=train, key=key)


def _no_extra(params: Any, model_state: Any) -> Any:
    return {}


def _keep_extra(extra: Any, params: Any, model_state: Any, step: jax.Array) -> Any:
    return extra


@dataclasses.dataclass(frozen=True)
class Objective:
    """A built objective: the loss, the network it trains (the registered model, or one
    wrapped around it: a self-supervised projector), how it evaluates a split, and the
    extra state it keeps.

    loss:      (params, model_state, extra, batch, keys) -> (loss, (metrics, model_state))
    evaluate:  (state, xs, ys, masks) -> summed metrics over stacked batches (nb, bs, ...),
               with a "count"; `training.loop.summarize` divides by it. None: the
               model's outputs scored as the supervised objective's default does
               (cross-entropy and accuracy; mse for regression).
    init_extra(params, model_state) -> extra;  update_extra(extra, params, model_state, step)
               -> extra after each optimizer update (step: the step just taken).
    """
    loss: Loss
    model: nn.Module
    evaluate: Callable | None = None
    init_extra: Callable = _no_extra
    update_extra: Callable = _keep_extra


def factory(name: str) -> Callable:
    """The `make(setup, **options)` registered as `name`."""
    return REGISTRY.get(name)


def defaults(name: str) -> dict[str, Any]:
    """The options of objective `name` with their defaults (its signature after `setup`)."""
    return signature_options(factory(name), skip=1)


def check(name: str, options: dict[str, Any]) -> None:
    """The objective's own rules on its options (OptionError naming the option)."""
    rule = rule_of(factory(name))
    if rule is not None:
        rule(options)


def build(name: str, setup: Setup, **options: Any) -> Objective:
    """Objective `name` with `options`; a factory that returns a bare loss trains the
    setup's model and evaluates with the loss's own metrics."""
    made = factory(name)(setup, **options)
    if isinstance(made, Objective):
        return made
    if not callable(made):
        raise TypeError(f"objective {name!r} must return a loss function or an Objective, "
                        f"got {type(made).__name__}")
    return Objective(loss=made, model=setup.model)


def add_penalties(total: jax.Array, params: Any, l1: float, l2: float) -> jax.Array:
    """total + l1 Σ|w| + l2 ½Σw² over weight matrices and kernels, in that order; a
    coefficient at 0 adds no op (results without the option are bitwise those of code
    without it)."""
    if l1 > 0:
        total = total + l1 * losses.l1_penalty(params)
    if l2 > 0:
        total = total + l2 * losses.l2_penalty(params)
    return total


def check_penalties(options: dict[str, Any]) -> None:
    for name in ("l1", "l2"):
        require(options[name] >= 0, name, "must be >= 0", options[name])


def evaluate_batches(eval_batch: Callable) -> Callable:
    """evaluate(state, xs, ys, masks) over stacked batches (nb, bs, ...) -> the sums of
    `eval_batch(state, x, y, mask)` (one scan, compiled once)."""

    @jax.jit
    def evaluate(state: Any, xs: jax.Array, ys: jax.Array, masks: jax.Array) -> Metrics:
        def body(total, batch):
            sums = eval_batch(state, *batch)
            return jax.tree.map(jnp.add, total, sums), None

        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                             jax.eval_shape(eval_batch, state, xs[0], ys[0], masks[0]))
        total, _ = jax.lax.scan(body, zeros, (xs, ys, masks))
        return total

    return evaluate
