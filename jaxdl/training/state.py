"""TrainState: everything a run needs to continue, and nothing else."""
from __future__ import annotations

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxdl import rng


@flax.struct.dataclass
class TrainState:
    """A pytree: `step` counts completed steps; `model_state` holds the model's
    non-parameter collections (e.g. batch-norm statistics), `{}` when it has none;
    `key` is the trial's root key, from which every other key is folded."""
    step: jax.Array
    params: Any
    opt_state: Any
    model_state: Any
    key: jax.Array


def init_variables(model: nn.Module, key: jax.Array, sample_x: jax.Array) -> dict[str, Any]:
    init_key = rng.purpose_key(key, rng.INIT)
    rngs = {"params": init_key, "dropout": jax.random.fold_in(init_key, 1)}
    return dict(model.init(rngs, sample_x, train=False))


def create(model: nn.Module, optimizer: optax.GradientTransformation, key: jax.Array,
           sample_x: jax.Array) -> TrainState:
    """A fresh state: params from `fold_in(key, INIT)`; step 0."""
    variables = init_variables(model, key, sample_x)
    params = variables.pop("params")
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=optimizer.init(params), model_state=variables, key=key)
