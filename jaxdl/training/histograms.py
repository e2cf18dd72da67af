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

The probe is one jitted computation on the run's global arrays, so every process of a
multi-process run builds and calls it (a program run by one process alone would wait for,
or mismatch, the others' collectives); only process 0 writes what it returns. Its batch
is replicated on every device and its outputs gathered to every device, so each process
reads the whole of every histogram.
"""
from __future__ import annotations

from typing import Any, Callable

import flax
import jax
import numpy as np
from jax.sharding import PartitionSpec as P

from jaxdl import objectives
from jaxdl.training import parallel

__all__ = ["PROBE_EXAMPLES", "make_probe"]

PROBE_EXAMPLES = 256


def _named(tree: Any, prefix: str) -> dict[str, Any]:
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(tree))
    return {"/".join([prefix, *(str(p) for p in path if p != "__call__")]): leaf
            for path, leaf in flat.items()}


def make_probe(run: Any) -> Callable[[Any], dict[str, np.ndarray]]:
    """state -> {tag: values} of activations, gradients and params on the probe batch."""
    replicated = run.placement.replicated
    # A small batch, replicated: no batch size that must divide over the devices
    x = parallel.place(run.dataset.x_train[:PROBE_EXAMPLES], replicated)
    y = parallel.place(run.dataset.y_train[:PROBE_EXAMPLES], replicated)

    def probe(state, x, y):
        variables = {"params": state.params, **state.model_state}
        _, captured = run.model.apply(variables, x, train=False,
                                      capture_intermediates=True, mutable=["intermediates"])
        keys = objectives.StepKeys(state.key, state.step)
        grads, _ = run.gradient(run.objective.loss, state.params, state.model_state,
                                state.target, (x, y), keys)
        return {**_named(captured["intermediates"], "activations"),
                **_named(grads, "gradients"), **_named(state.params, "params")}

    if run.placement.mode == "pmap":  # the objective averages over the device axis, so it
        # runs per device (as the train step does); every device probes the whole batch
        probe = jax.shard_map(probe, mesh=run.placement.mesh, in_specs=(P(), P(), P()),
                              out_specs=P())
    compiled = jax.jit(probe, out_shardings=replicated)
    return lambda state: {tag: np.asarray(v).ravel() for tag, v in
                          jax.device_get(compiled(state, x, y)).items()}
