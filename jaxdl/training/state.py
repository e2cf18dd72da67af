"""TrainState: everything a run needs to continue, and nothing else."""
from __future__ import annotations

from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxdl import rng

__all__ = ["TrainState", "init_variables", "create"]


@flax.struct.dataclass
class TrainState:
    """A pytree: `step` counts completed steps; `model_state` holds the model's
    non-parameter collections (e.g. batch-norm statistics), `{}` when it has none;
    `key` is the trial's root key, from which every other key is folded.

    `target` is a second copy of the network that training moves slowly, `{"params",
    "model_state"}` (BYOL's exponential moving average of the online network), `{}`
    when the objective has none. It lives in the state so that checkpoints, resume and
    vectorized trials carry it like the params; a `{}` has no leaves, so states without
    a target (and checkpoints saved before the field existed) are unchanged."""
    step: jax.Array
    params: Any
    opt_state: Any
    model_state: Any
    key: jax.Array
    target: Any = flax.struct.field(default_factory=dict)


def init_variables(model: nn.Module, key: jax.Array, sample_x: jax.Array) -> dict[str, Any]:
    init_key = rng.purpose_key(key, rng.INIT)
    rngs = {"params": init_key, "dropout": jax.random.fold_in(init_key, 1)}
    return dict(model.init(rngs, sample_x, train=False))


def create(model: nn.Module, optimizer: optax.GradientTransformation, key: jax.Array,
           sample_x: jax.Array, init_extra: Callable[[Any, Any], Any] | None = None
           ) -> TrainState:
    """A fresh state: params from `fold_in(key, INIT)`; step 0; the objective's extra state
    `init_extra(params, model_state)` as `target` (`{}` without one)."""
    variables = init_variables(model, key, sample_x)
    params = variables.pop("params")
    target = init_extra(params, variables) if init_extra is not None else {}
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=optimizer.init(params), model_state=variables, key=key,
                      target=target)
