"""Model stitching: the bottom of network A, a trained stitching layer, the top of network B.

Bansal, Nakkiran & Barak ("Revisiting Model Stitching to Compare Neural
Representations", NeurIPS 2021): if B's top works as well on A's layer-k
representation — after only a simple trainable map between them — as on its own,
the two networks' representations at layer k are equally good, "stitchable". The
*stitching penalty* is acc(B) − acc(stitched).

    h = layer_output(model, variables_a, x, "Conv_1")              # A's bottom, frozen
    stitch = fit_stitch(model, variables_b, "Conv_1", h_train, y_train, key, x.shape,
                        h_b=layer_output(model, variables_b, x_train, "Conv_1"))
    acc = stitched_accuracy(model, variables_b, "Conv_1", stitch, h_test, y_test)

How the top of B runs from a given representation, for any flax model with no
code in it for this: B is applied as usual, and a method interceptor makes its
module `layer` return the stitched representation instead of computing its own
output, so everything after that module — B's activation, later layers, head —
runs on it. The representation at `layer` is that module's output (for jaxdl's
MLP and CNN, `Dense_i` / `Conv_i` outputs: pre-activations).

The stitching layer (the paper's is BN–1×1 conv–BN for conv nets, a linear layer for
fully connected ones): A's representation standardized per channel with train-set
statistics (the first BN at inference), then a per-position affine map over channels
(the 1×1 convolution; the second BN, an affine map per channel at inference, is folded
into it). Every network weight stays frozen. Two things make the fit reliable (the
penalties of an earlier version, identity init and 500 Adam steps at a constant 1e-2,
were largely the stitch's own optimisation error: its stitched nets reached only
0.71–0.97 train accuracy where B has 1.0, against 1.0 with this fit but at the CNN's
last conv, 0.985; B stitched into itself now loses at most 0.008;
docs/studies/stitching/report.md):

- *least-squares init*: the affine map starts at the regression of B's representation
  on A's standardized one over the training set (Csiszárik et al. 2021's "direct
  matching"), so B stitched into itself starts exactly at B, and a first layer — a
  full-rank linear function of the input in both networks — starts exactly at B's;
  an identity init leaves B's ReLUs fed by unrelated units, many of them dead, and
  gets stuck there (MLP first layer: 0.094 penalty after 10,000 steps);
- *training to convergence*: then Adam on B's cross-entropy on the training set,
  cosine-decayed to 0 over 10,000 steps of batch 100.

`check_stitchable` refuses a layer whose output is not the whole state the top
runs on (a skip connection around it, as in the residual MLP's second layer), where
"B's top from layer k" would silently be another network.
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import losses

__all__ = ["Stitch", "layer_output", "run_from", "apply_stitch", "least_squares_stitch",
           "check_stitchable", "fit_stitch", "stitched_accuracy", "stitching_penalty"]


class Stitch(NamedTuple):
    """A fitted stitching layer: (h - mean) / std, then h @ kernel + bias over channels."""
    mean: jax.Array
    std: jax.Array
    kernel: jax.Array
    bias: jax.Array


def layer_output(model: nn.Module, variables: dict, x: Any, layer: str,
                 batch_size: int = 1000) -> jax.Array:
    """Output of the top-level module `layer` on `x`, in inference mode."""
    x = jnp.asarray(x)
    return jnp.concatenate([_layer_output(model, layer, variables, x[i:i + batch_size])
                            for i in range(0, len(x), batch_size)])


@functools.partial(jax.jit, static_argnums=(0, 1))
def _layer_output(model: nn.Module, layer: str, variables: dict, x: jax.Array) -> jax.Array:
    _, state = model.apply(variables, x, train=False, mutable=["intermediates"],
                           capture_intermediates=lambda m, name: m.name == layer and name == "__call__")
    return state["intermediates"][layer]["__call__"][0]


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


def least_squares_stitch(h_a: jax.Array, h_b: jax.Array) -> Stitch:
    """The stitch whose affine map best predicts B's representation `h_b` from A's `h_a`
    (same examples) in the least-squares sense, A's side standardized per channel."""
    a = h_a.reshape(-1, h_a.shape[-1])
    b = h_b.reshape(-1, h_b.shape[-1])
    mean, std = jnp.mean(a, 0), jnp.std(a, 0) + 1e-6
    design = jnp.concatenate([(a - mean) / std, jnp.ones((len(a), 1))], axis=1)
    solution = jnp.linalg.lstsq(design, b)[0]
    return Stitch(mean=mean, std=std, kernel=solution[:-1], bias=solution[-1])


def check_stitchable(model: nn.Module, variables: dict, layer: str, x: Any) -> None:
    """ValueError unless running the model's top from its own `layer` output gives its
    outputs: `layer` must carry everything the rest of the network reads."""
    x = jnp.asarray(x)
    own = run_from(model, variables, layer, layer_output(model, variables, x, layer), x.shape)
    if not np.allclose(own, model.apply(variables, x, train=False), rtol=1e-4, atol=1e-4):
        raise ValueError(f"stitching: layer {layer} is not the whole state of the network's "
                         f"top (a skip connection bypasses it); stitch at another layer")


def fit_stitch(model: nn.Module, variables_b: dict, layer: str, h: jax.Array, y: jax.Array,
               key: jax.Array, input_shape: tuple[int, ...], h_b: jax.Array,
               steps: int = 10_000, batch_size: int = 100, lr: float = 3e-3,
               init: str = "least_squares", decay: bool = True) -> Stitch:
    """Train the stitching layer from A's representation `h` (train set) into B's top,
    starting at the least-squares map onto B's own representation `h_b` there (or, with
    init="identity", at the identity after standardizing; decay=False: constant lr —
    together with steps=500, lr=1e-2, the earlier version, kept for comparison)."""
    if init == "least_squares":
        stitch = least_squares_stitch(h, h_b)
    elif init == "identity":
        flat = h.reshape(-1, h.shape[-1])
        stitch = Stitch(mean=jnp.mean(flat, 0), std=jnp.std(flat, 0) + 1e-6,
                        kernel=jnp.eye(h.shape[-1]), bias=jnp.zeros(h.shape[-1]))
    else:
        raise ValueError(f"fit_stitch: init must be least_squares or identity, got {init!r}")
    kernel, bias = _train(model, layer, tuple(input_shape), steps, batch_size, lr, decay,
                          variables_b, stitch, h, y, key) if steps else (stitch.kernel, stitch.bias)
    return stitch._replace(kernel=kernel, bias=bias)


@functools.partial(jax.jit, static_argnums=range(7))
def _train(model, layer, input_shape, steps, batch_size, lr, decay, variables_b, stitch, h, y,
           key):
    """(kernel, bias) after `steps` Adam steps on B's cross-entropy. Jitted with the arrays
    as arguments, so fits of the same shapes (other bottoms, seeds) share one program."""
    optimizer = optax.adam(optax.cosine_decay_schedule(lr, steps) if decay else lr)

    def loss(params, hb, yb):
        s = stitch._replace(kernel=params[0], bias=params[1])
        logits = run_from(model, variables_b, layer, apply_stitch(s, hb), input_shape)
        return jnp.mean(losses.cross_entropy(logits, yb))

    def step(carry, i):
        params, opt_state = carry
        idx = jax.random.randint(jax.random.fold_in(key, i), (batch_size,), 0, h.shape[0])
        grads = jax.grad(loss)(params, h[idx], y[idx])
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), None

    params = (stitch.kernel, stitch.bias)
    (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), jnp.arange(steps))
    return params


def stitched_accuracy(model: nn.Module, variables_b: dict, layer: str, stitch: Stitch | None,
                      h: jax.Array, y: Any, input_shape: tuple[int, ...]) -> float:
    """Accuracy of B's top on `h` (through `stitch`, or as is when None)."""
    z = h if stitch is None else apply_stitch(stitch, h)
    logits = _run_from(model, layer, tuple(input_shape), variables_b, z)
    return float(np.mean(np.argmax(np.asarray(logits), -1) == np.asarray(y)))


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _run_from(model: nn.Module, layer: str, input_shape: tuple[int, ...], variables: dict,
              h: jax.Array) -> jax.Array:
    return run_from(model, variables, layer, h, input_shape)


def stitching_penalty(model: nn.Module, variables_a: dict, variables_b: dict, layer: str,
                      data: Any, key: jax.Array, **fit: Any) -> dict[str, float]:
    """acc(B) − acc(A's bottom → stitch → B's top) on the test set; also both accuracies
    and the stitched net's train accuracy. `data`: a Dataset (x_train, y_train, x_test,
    y_test); A and B share `model`'s architecture up to `layer` (variables_a only needs
    what A's bottom reads); `fit`: options of `fit_stitch` (steps, lr, init, decay)."""
    shape = np.shape(data.x_train)
    check_stitchable(model, variables_b, layer, data.x_test[:100])
    h_train = layer_output(model, variables_a, data.x_train, layer)
    h_test = layer_output(model, variables_a, data.x_test, layer)
    stitch = fit_stitch(model, variables_b, layer, h_train, jnp.asarray(data.y_train), key,
                        shape, layer_output(model, variables_b, data.x_train, layer), **fit)
    own = stitched_accuracy(model, variables_b, layer, None,
                            layer_output(model, variables_b, data.x_test, layer),
                            data.y_test, shape)
    stitched = stitched_accuracy(model, variables_b, layer, stitch, h_test, data.y_test, shape)
    train = stitched_accuracy(model, variables_b, layer, stitch, h_train, data.y_train, shape)
    return {"penalty": own - stitched, "accuracy_b": own, "accuracy_stitched": stitched,
            "train_accuracy_stitched": train}
