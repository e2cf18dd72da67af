"""The plain gradient of the objective's loss: what every run uses unless told otherwise."""
from __future__ import annotations

import jax

from jaxdl.objectives import Setup

__all__ = ["plain"]


def plain(setup: Setup):
    """grad_fn(loss, params, ...) = ∇_params loss(params, ...), with the loss's aux."""
    def grad_fn(loss, params, model_state, extra, batch, keys):
        return jax.grad(loss, has_aux=True)(params, model_state, extra, batch, keys)
    return grad_fn
