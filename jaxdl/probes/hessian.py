"""The sharpness: the top eigenvalue of the training loss's Hessian, by power iteration on
Hessian-vector products (the Hessian is never formed).

    Hv = d/dε ∇L(w + ε v) |_{ε=0}   (`jax.jvp` of `jax.grad`: about 2-3 gradients' cost)
    v ← Hv / |Hv|,  λ ← v·Hv        (until |Δλ| <= tol·|λ|, or max_iterations products)

Power iteration finds the eigenvalue of largest magnitude. When that one is negative,
a second pass on H − λ₋I (whose spectrum is λ_i − λ₋ ≥ 0) finds the largest algebraic
one, λ_max — so `top_eigenvalue` is λ_max whatever the sign of the spectrum. The
Rayleigh quotient converges fast even when the top two eigenvalues are close (its error
is quadratic in the vector's), which is why a relative tolerance on λ suffices.

    loss = lambda params, data: mse(f(params, data[0]), data[1])   # any (params, data) -> scalar
    top = top_eigenvalue(loss, params, (x, y), key)                 # TopEigen(value, iterations)
    top = sharpness(run, state, (x, y))   # a run's own objective; key: MEASURE folded with the step

Edge of stability (Cohen et al. 2021): gradient descent at learning rate η is stable on
a quadratic only while λ_max < 2/η (experiments/edge_of_stability.py). `sharpness_hook`
logs λ_max during `jaxdl.train`; a study measures it at checkpoints instead.
The guide docs/guide/own_hook.py writes the same probe by hand, as a user would.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxdl import rng
from jaxdl.objectives import StepKeys
from jaxdl.training.hooks import Hook

__all__ = ["Loss", "TopEigen", "hessian_vector_product", "top_eigenvalue", "objective_loss",
           "sharpness", "sharpness_hook", "TOL", "MAX_ITERATIONS"]

Loss = Callable[[Any, Any], jax.Array]  # (params, data) -> scalar; hashable (jit-static)
TOL = 1e-3  # relative change of λ between two products at which iteration stops
MAX_ITERATIONS = 100


class TopEigen(NamedTuple):
    """λ_max of the Hessian and the Hessian-vector products spent on it."""
    value: jax.Array
    iterations: jax.Array


def hessian_vector_product(loss: Loss, params: Any, data: Any) -> tuple[Callable, jax.Array]:
    """(hvp, w): hvp(v) = H v for flat vectors v, H the Hessian of `loss(·, data)` at the
    flattened params w."""
    w, unravel = ravel_pytree(params)
    grad = jax.grad(lambda u: loss(unravel(u), data))
    return (lambda v: jax.jvp(grad, (w,), (v.astype(w.dtype),))[1]), w


def _power_iteration(matvec: Callable, v: jax.Array, tol: float,
                     max_iterations: int) -> TopEigen:
    """The eigenvalue of largest magnitude of the symmetric map `matvec`, from start `v`."""
    def step(carry):
        i, v, _, value = carry
        hv = matvec(v)
        return i + 1, hv / jnp.maximum(jnp.linalg.norm(hv), 1e-30), value, v @ hv

    def going(carry):
        i, _, previous, value = carry
        return (i < max_iterations) & ((i < 2) | (jnp.abs(value - previous) > tol * jnp.abs(value)))

    zero = jnp.zeros((), v.dtype)
    i, _, _, value = jax.lax.while_loop(going, step, (jnp.zeros((), jnp.int32),
                                                      v / jnp.linalg.norm(v), zero, zero))
    return TopEigen(value, i)


@functools.partial(jax.jit, static_argnames=("loss", "tol", "max_iterations"))
def top_eigenvalue(loss: Loss, params: Any, data: Any, key: jax.Array, *, tol: float = TOL,
                   max_iterations: int = MAX_ITERATIONS) -> TopEigen:
    """λ_max of the Hessian of `loss(·, data)` at `params`, by power iteration from a
    random start drawn from `key` (a second, shifted pass when the dominant eigenvalue is
    negative; `iterations` counts both). Deterministic given the key."""
    hvp, w = hessian_vector_product(loss, params, data)
    v = jax.random.normal(jax.random.fold_in(key, 0), w.shape, w.dtype)
    dominant = _power_iteration(hvp, v, tol, max_iterations)

    def shifted(d: TopEigen) -> TopEigen:  # H − d.value·I: its top is λ_max − d.value
        u = jax.random.normal(jax.random.fold_in(key, 1), w.shape, w.dtype)
        top = _power_iteration(lambda v: hvp(v) - d.value * v, u, tol, max_iterations)
        return TopEigen(top.value + d.value, top.iterations + d.iterations)

    return jax.lax.cond(dominant.value < 0, shifted, lambda d: d, dominant)


@functools.lru_cache(maxsize=32)
def objective_loss(objective_loss_fn: Callable) -> Loss:
    """A run's objective (`run.objective.loss`: penalties included, what training
    minimizes) as a `Loss` of data = (model_state, target, batch, keys); one function per
    objective, so `top_eigenvalue` compiles once per run."""
    def loss(params: Any, data: Any) -> jax.Array:
        model_state, target, batch, keys = data
        return objective_loss_fn(params, model_state, target, batch, keys)[0]
    return loss


def sharpness(run: Any, state: Any, batch: tuple[Any, Any], *, tol: float = TOL,
              max_iterations: int = MAX_ITERATIONS) -> TopEigen:
    """λ_max of the Hessian of the run's training objective on the fixed `batch` (x, y) at
    the state's params, with the keys of the state's step (a deterministic model draws
    none); the start vector from `rng.step_key(state.key, MEASURE, state.step)`."""
    keys = StepKeys(state.key, state.step)
    data = (state.model_state, state.target, tuple(jnp.asarray(a) for a in batch), keys)
    key = rng.step_key(state.key, rng.MEASURE, state.step)
    return top_eigenvalue(objective_loss(run.objective.loss), state.params, data, key,
                          tol=tol, max_iterations=max_iterations)


def sharpness_hook(batch: tuple[Any, Any], every: int, **options: Any) -> Hook:
    """A `Hook` logging split `sharpness`: {top_eigenvalue, iterations} on the fixed
    `batch` every `every` steps (`jaxdl.train(config, hooks=[sharpness_hook((x, y), 50)])`)."""
    def measure(state: Any, run: Any) -> dict[str, float]:
        top = sharpness(run, state, batch, **options)
        return {"top_eigenvalue": top.value, "iterations": top.iterations}
    return Hook(measure, every, name="sharpness")
