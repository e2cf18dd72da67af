"""Sharpness-aware minimization (Foret, Kleiner, Mobahi & Neyshabur 2021, "Sharpness-Aware
Minimization for Efficiently Improving Generalization").

SAM minimizes max_{||ε||_2 <= ρ} L(w + ε). To first order the worst ε is
ε̂ = ρ g / ||g||_2 with g = ∇L(w), and the update uses the gradient there:

    g_SAM = ∇L(w)|_{w + ε̂}

two forward-backward passes per step, on the same batch and keys. The metrics and
batch-norm statistics are those of the first pass, at w (what the step trains on), as
in the paper's implementation. `adaptive` is ASAM (Kwon et al. 2021): ε̂ scaled
elementwise by |w|², ε̂ = ρ w² g / ||w g||_2, invariant to rescaling a layer's weights.

    jaxdl train --config.gradient.name=sam --config.gradient.rho=0.05
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxdl.objectives import Setup
from jaxdl.registry import require

__all__ = ["sam", "check"]


def sam(setup: Setup, rho: float = 0.05, adaptive: bool = False):
    """grad_fn: ∇L at w + ε̂, ε̂ = ρ g / ||g|| (ASAM: ρ w² g / ||w g||)."""
    def grad_fn(loss, params, model_state, extra, batch, keys):
        grad = jax.grad(loss, has_aux=True)
        g, aux = grad(params, model_state, extra, batch, keys)
        scale = jax.tree.map(jnp.abs, params) if adaptive else None
        scaled = jax.tree.map(jnp.multiply, g, scale) if adaptive else g
        norm = optax.tree.norm(scaled)
        eps = jax.tree.map(lambda s: rho * s / (norm + 1e-12), scaled)
        if adaptive:
            eps = jax.tree.map(jnp.multiply, eps, scale)
        perturbed = jax.tree.map(jnp.add, params, jax.lax.stop_gradient(eps))
        g_sam, _ = grad(perturbed, model_state, extra, batch, keys)
        return g_sam, aux
    return grad_fn


def check(options: dict) -> None:
    require(options["rho"] >= 0, "rho", "must be >= 0 (0: the plain gradient)", options["rho"])
