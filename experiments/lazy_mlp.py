"""The model of experiments/lazy_training.py: h_α(x) = α·(f(x; w) − f(x; w0)), a ReLU MLP
f in the NTK parameterization, centred on its initial function and scaled by α (Chizat,
Oyallon & Bach 2019). Importing this module registers it as "lazy_mlp"; its fields
besides num_outputs are config.model's options (alpha, width, depth).

It lives in a module beside the study, not in the study file, so that its recorded
import path (`lazy_mlp:LazyMLP`) and source digest belong to the model alone: editing
the study's docstring or analysis does not mark the sweep's trials as trained with
changed code.

w0 is made once, at init, as a copy of the params into the `reference` collection: the
train state carries it as model state (checkpoints and measurements see it), no
optimizer touches it, and f(x; w0) is subtracted under a stop-gradient, so
h_α ≡ 0 at init and its gradient is α·∂f/∂w.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax

from jaxdl import models


@models.register("lazy_mlp")
class LazyMLP(nn.Module):
    """h_α(x) = α·(f(x; w) − f(x; w0)), f = `ntk_mlp` with `depth` hidden layers of
    `width` units; w0 is kept in the `reference` collection and never trained."""
    num_outputs: int
    alpha: float = 1.0
    width: int = 256
    depth: int = 1

    @staticmethod
    def check(options: dict, input_shape: tuple[int, ...] | None = None) -> None:
        if not options["alpha"] > 0:
            raise models.OptionError("alpha", "must be > 0", options["alpha"])
        for key in ("width", "depth"):
            if options[key] < 1:
                raise models.OptionError(key, "must be >= 1", options[key])

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        x = x.reshape(x.shape[0], -1)
        sizes = [x.shape[-1], *[self.width] * self.depth, self.num_outputs]
        params = {}
        for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
            params[f"w{i}"] = self.param(f"w{i}", nn.initializers.normal(1.0), (fan_in, fan_out))
            params[f"b{i}"] = self.param(f"b{i}", nn.initializers.zeros, (fan_out,))
        w0 = self.variable("reference", "params", lambda: dict(params))  # made once, at init
        initial = ntk_mlp(jax.lax.stop_gradient(w0.value), x, self.depth)
        return self.alpha * (ntk_mlp(params, x, self.depth) - initial)


def ntk_mlp(params: dict[str, jax.Array], x: jax.Array, depth: int) -> jax.Array:
    """The ReLU MLP in the NTK parameterization: layer i is √(g/fan_in)·(h W_i) + b_i,
    g = 2 for hidden layers (He's gain, so activations keep their scale), 1 for the
    readout."""
    h = x
    for i in range(depth + 1):
        gain = 2.0 if i < depth else 1.0
        h = h @ params[f"w{i}"] * math.sqrt(gain / h.shape[-1]) + params[f"b{i}"]
        h = nn.relu(h) if i < depth else h
    return h
