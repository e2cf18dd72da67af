"""Model stitching: the bottom of network A, a trained stitching layer, the top of network B.

Bansal, Nakkiran & Barak ("Revisiting Model Stitching to Compare Neural
Representations", NeurIPS 2021): if B's top works as well on A's layer-k
representation — after only a simple trainable map between them — as on its own,
the two networks' representations at layer k are equally good, "stitchable". The
*stitching penalty* is acc(B) − acc(stitched).

    h = layer_output(model, variables_a, x, "Conv_1")              # A's bottom, frozen
    stitch = fit_stitch(model, variables_b, "Conv_1", h_train, y_train, key)
    acc = stitched_accuracy(model, variables_b, "Conv_1", stitch, h_test, y_test)

How the top of B runs from a given representation, for any flax model with no
code in it for this: B is applied as usual, and a method interceptor makes its
module `layer` return the stitched representation instead of computing its own
output, so everything after that module — B's activation, later layers, head —
runs on it. The representation at `layer` is that module's output (for jaxdl's
MLP and CNN, `Dense_i` / `Conv_i` outputs: pre-activations).

The stitching layer (the paper's is BN–linear–BN for conv nets): A's representation
standardized per channel with train-set statistics, then a per-position linear map
over channels (a 1×1 convolution) with bias, initialized to the identity and
trained with Adam on B's cross-entropy, every network weight frozen.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import losses


class Stitch(NamedTuple):
    """A fitted stitching layer: (h - mean) / std, then h @ kernel + bias over channels."""
    mean: jax.Array
    std: jax.Array
    kernel: jax.Array
    bias: jax.Array


def layer_output(model: nn.Module, variables: dict, x: Any, layer: str,
                 batch_size: int = 1000) -> jax.Array:
    """Output of the top-level module `layer` on `x`, in inference mode."""
    @jax.jit
    def one(xb):
        _, state = model.apply(variables, xb, train=False, mutable=["intermediates"],
                               capture_intermediates=lambda m, name: m.name == layer and name == "__call__")
        return state["intermediates"][layer]["__call__"][0]
    x = jnp.asarray(x)
    return jnp.concatenate([one(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def run_from(model: nn.Module, variables: dict, layer: str, h: jax.Array,
             input_shape: tuple[int, ...]) -> jax.Array:
    """B's logits when its module `layer` outputs `h` (B's bottom is bypassed)."""
    def replace(next_fun, args, kwargs, context):
        if context.method_name == "__call__" and context.module.path == (layer,):
            return h
        return next_fun(*args, **kwargs)

    dummy = jnp.zeros((h.shape[0], *input_shape[1:]), jnp.float32)
    with nn.intercept_methods(replace):
        return model.apply(variables, dummy, train=False)


def apply_stitch(stitch: Stitch, h: jax.Array) -> jax.Array:
    return ((h - stitch.mean) / stitch.std) @ stitch.kernel + stitch.bias


def fit_stitch(model: nn.Module, variables_b: dict, layer: str, h: jax.Array, y: jax.Array,
               key: jax.Array, input_shape: tuple[int, ...], steps: int = 500,
               batch_size: int = 100, lr: float = 1e-2) -> Stitch:
    """Train the stitching layer from A's representation `h` (train set) into B's top."""
    axes = tuple(range(h.ndim - 1))
    channels = h.shape[-1]
    stitch = Stitch(mean=jnp.mean(h, axes), std=jnp.std(h, axes) + 1e-6,
                    kernel=jnp.eye(channels), bias=jnp.zeros(channels))
    optimizer = optax.adam(lr)

    def loss(params, hb, yb):
        s = stitch._replace(kernel=params[0], bias=params[1])
        logits = run_from(model, variables_b, layer, apply_stitch(s, hb), input_shape)
        return jnp.mean(losses.cross_entropy(logits, yb))

    @jax.jit
    def train(params):
        def step(carry, i):
            params, opt_state = carry
            idx = jax.random.randint(jax.random.fold_in(key, i), (batch_size,), 0, h.shape[0])
            grads = jax.grad(loss)(params, h[idx], y[idx])
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None
        params0 = params
        (params, _), _ = jax.lax.scan(step, (params0, optimizer.init(params0)), jnp.arange(steps))
        return params

    kernel, bias = train((stitch.kernel, stitch.bias))
    return stitch._replace(kernel=kernel, bias=bias)


def stitched_accuracy(model: nn.Module, variables_b: dict, layer: str, stitch: Stitch | None,
                      h: jax.Array, y: Any, input_shape: tuple[int, ...]) -> float:
    """Accuracy of B's top on `h` (through `stitch`, or as is when None)."""
    z = h if stitch is None else apply_stitch(stitch, h)
    logits = jax.jit(lambda z: run_from(model, variables_b, layer, z, input_shape))(z)
    return float(np.mean(np.argmax(np.asarray(logits), -1) == np.asarray(y)))


def stitching_penalty(model: nn.Module, variables_a: dict, variables_b: dict, layer: str,
                      data: Any, key: jax.Array, steps: int = 500) -> dict[str, float]:
    """acc(B) − acc(A's bottom → stitch → B's top) on the test set; also both accuracies.
    `data`: a Dataset (x_train, y_train, x_test, y_test)."""
    shape = np.shape(data.x_train)
    h_train = layer_output(model, variables_a, data.x_train, layer)
    h_test = layer_output(model, variables_a, data.x_test, layer)
    stitch = fit_stitch(model, variables_b, layer, h_train, jnp.asarray(data.y_train), key,
                        shape, steps=steps)
    own = stitched_accuracy(model, variables_b, layer, None,
                            layer_output(model, variables_b, data.x_test, layer),
                            data.y_test, shape)
    stitched = stitched_accuracy(model, variables_b, layer, stitch, h_test, data.y_test, shape)
    return {"penalty": own - stitched, "accuracy_b": own, "accuracy_stitched": stitched}
