"""The empirical neural tangent kernel, how far it moves in training, and how far the
weights move.

    K(x, x') = Σ_o ⟨∂f_o(x; w)/∂w, ∂f_o(x'; w)/∂w⟩        (n × n, on a fixed probe set)
    kernel_distance(K0, K1) = 1 − ⟨K0, K1⟩_F / (‖K0‖_F ‖K1‖_F)   (Fort et al. 2020)
    relative_change(w, w0) = ‖w − w0‖ / ‖w0‖              (all params, flattened)

The kernel is the *trace over the outputs* of the (n·O × n·O) NTK J Jᵀ: for each output
o the Jacobian J_o (n × P) of f_o with respect to the flattened params, K = Σ_o J_o J_oᵀ.
Why the trace and not the Jacobian of the summed logits Σ_o f_o: the sum adds the
cross-output blocks J_o J_o'ᵀ, which vanish in the infinite-width limit and at finite
width are noise of the random readout (the readout layer contributes nothing to them),
so they would make a wide kernel look as if it moved; the trace is invariant to
permuting or rotating the outputs and is the kernel of kernel gradient descent on a
loss that treats the outputs alike (the squared loss). It costs O Jacobians instead of
one; one output's at a time is held (n × P floats), never the whole (n·O × P).

`kernel_distance` is scale invariant (K and cK are at distance 0), so the NTK of
h = α(f − f0) and that of f are the same for it. It is computed in float64 on the host
as ½‖K0/‖K0‖ − K1/‖K1‖‖²_F, which equals 1 − cos but does not cancel catastrophically:
a kernel that barely moves is at distance ~ (its relative change)², far below float32's
resolution of 1 − cos.

    fn = outputs_of(run.model)                      # (params, model_state, x) -> logits
    k0 = ntk_gram(fn, params0, model_state, x)      # (n, n)
    k1 = ntk_gram(fn, params, model_state, x)
    kernel_distance(k0, k1), relative_change(params, params0)
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxdl import models

__all__ = ["Outputs", "outputs_of", "ntk_gram", "kernel_distance", "relative_change"]

Outputs = Callable[[Any, Any, jax.Array], jax.Array]  # (params, aux, x) -> (n, O); hashable


@functools.lru_cache(maxsize=32)
def outputs_of(model: Any) -> Outputs:
    """A model's logits in inference mode as an `Outputs` with aux = its model state; one
    function per model, so `ntk_gram` compiles once per model."""
    def outputs(params: Any, model_state: Any, x: jax.Array) -> jax.Array:
        return models.apply(model, params, model_state, x, train=False)[0]
    return outputs


@functools.partial(jax.jit, static_argnames=("fn",))
def ntk_gram(fn: Outputs, params: Any, aux: Any, x: jax.Array) -> jax.Array:
    """K = Σ_o J_o J_oᵀ (n × n) on the n rows of `x`: the trace over the outputs of the
    empirical NTK of `fn(params, aux, ·)` at `params` (module docstring)."""
    w, unravel = ravel_pytree(params)
    x = jnp.asarray(x)

    def output(w: jax.Array, xi: jax.Array, o: jax.Array) -> jax.Array:
        return jnp.reshape(fn(unravel(w), aux, xi[None]), (-1,))[o]

    def add_output(o: jax.Array, gram: jax.Array) -> jax.Array:
        jac = jax.vmap(jax.grad(output), in_axes=(None, 0, None))(w, x, o)  # (n, P)
        return gram + jac @ jac.T

    count = int(np.prod(jax.eval_shape(lambda: fn(params, aux, x[:1])).shape))
    return jax.lax.fori_loop(0, count, add_output, jnp.zeros((x.shape[0],) * 2, w.dtype))


def kernel_distance(k0: Any, k1: Any) -> float:
    """1 − ⟨K0, K1⟩_F / (‖K0‖_F ‖K1‖_F), in float64: 0 for K with itself or any positive
    multiple of it, at most 2 (K1 = −K0)."""
    a, b = np.asarray(k0, np.float64), np.asarray(k1, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"kernel_distance: shapes {a.shape} and {b.shape} differ")
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    return float(0.5 * np.sum((a - b) ** 2))


def relative_change(params: Any, params0: Any) -> float:
    """‖w − w0‖ / ‖w0‖ over all leaves of two params pytrees of the same structure."""
    if jax.tree.structure(params) != jax.tree.structure(params0):
        raise ValueError("relative_change: params and params0 differ in structure")
    w = np.asarray(ravel_pytree(params)[0], np.float64)
    w0 = np.asarray(ravel_pytree(params0)[0], np.float64)
    return float(np.linalg.norm(w - w0) / np.linalg.norm(w0))
