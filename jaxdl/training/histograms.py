"""Activation and gradient histograms for TensorBoard (`config.histograms=True`).

    jaxdl train --config.histograms=True --workdir runs/h   # then: tensorboard --logdir runs/h

At every evaluation step the driver logs, for a fixed probe batch (the first
`PROBE_EXAMPLES` training examples, the same at every step):

    activations/<module path>   every module's output in inference mode
                                (flax `capture_intermediates`: Dense/Conv outputs are
                                pre-activations; the model's output is the logits)
    gradients/<param path>      d loss / d param on that batch: the run's own objective
                                and gradient method (penalties, attacks, SAM included)
    params/<param path>         the parameters themselves

Histograms are how one sees dead ReLUs, exploding or vanishing gradients layer by
layer, or a saturated softmax — the "look at your network" step of debugging. The
probe is a pure function of the state (dropout off, the step's DROPOUT key), so a
resumed run logs the same histograms as an uninterrupted one.
"""
from __future__ import annotations

from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import objectives

__all__ = ["PROBE_EXAMPLES", "make_probe"]

PROBE_EXAMPLES = 256


def _named(tree: Any, prefix: str) -> dict[str, Any]:
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(tree))
    return {"/".join([prefix, *(str(p) for p in path if p != "__call__")]): leaf
            for path, leaf in flat.items()}


def make_probe(run: Any) -> Callable[[Any], dict[str, np.ndarray]]:
    """state -> {tag: values} of activations, gradients and params on the probe batch."""
    x = jnp.asarray(run.dataset.x_train[:PROBE_EXAMPLES])
    y = jnp.asarray(run.dataset.y_train[:PROBE_EXAMPLES])

    @jax.jit
    def probe(state):
        variables = {"params": state.params, **state.model_state}
        _, captured = run.model.apply(variables, x, train=False,
                                      capture_intermediates=True, mutable=["intermediates"])
        keys = objectives.StepKeys(state.key, state.step)
        grads, _ = run.gradient(run.objective.loss, state.params, state.model_state,
                                state.target, (x, y), keys)
        return {**_named(captured["intermediates"], "activations"),
                **_named(grads, "gradients"), **_named(state.params, "params")}

    return lambda state: {tag: np.asarray(v).ravel() for tag, v in
                          jax.device_get(probe(state)).items()}
