"""Gradient methods: how a step turns an objective's loss into the gradient it applies.

A gradient method is registered as a factory `make(setup, **options) -> grad_fn`; its
keyword options *are* the config section `config.gradient` (besides `name`). The
gradient function wraps any objective's loss (`jaxdl.objectives`):

    grad_fn(loss, params, model_state, extra, batch, keys) -> (grads, (metrics, model_state))

Built in: `plain` (the gradient of the loss), `adversarial` (the gradient at an attack on
the inputs — Danskin's theorem), `sam` (the gradient at the worst nearby weights, Foret
et al. 2021). Your own joins the same way:

    @jaxdl.gradients.register("clipped")
    def clipped(setup, max_norm: float = 1.0):     # --config.gradient.max_norm=0.5
        def grad_fn(loss, params, model_state, extra, batch, keys):
            grads, aux = jax.grad(loss, has_aux=True)(params, model_state, extra, batch, keys)
            return optax.clip_by_global_norm(max_norm).update(grads, None)[0], aux
        return grad_fn
"""
from __future__ import annotations

from typing import Any, Callable

from jaxdl.objectives import Setup
from jaxdl.registry import OptionError, Registry, require, rule_of, signature_options

__all__ = ["REGISTRY", "register", "defaults", "check", "build", "GradFn", "OptionError",
           "require"]

GradFn = Callable[..., tuple[Any, tuple[dict[str, Any], Any]]]

REGISTRY = Registry("gradient method", {name: f"jaxdl.gradients.{name}:{name}" for name in
                                        ("plain", "adversarial", "sam")})
register = REGISTRY.register


def defaults(name: str) -> dict[str, Any]:
    """The options of gradient method `name` with their defaults (its signature after
    `setup`)."""
    return signature_options(REGISTRY.get(name), skip=1)


def check(name: str, options: dict[str, Any]) -> None:
    """The method's own rules on its options (OptionError naming the option)."""
    rule = rule_of(REGISTRY.get(name))
    if rule is not None:
        rule(options)


def build(name: str, setup: Setup, **options: Any) -> GradFn:
    """The gradient function of method `name` with `options`."""
    return REGISTRY.get(name)(setup, **options)
