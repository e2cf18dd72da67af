"""Adversarial training as a gradient method: the gradient of the loss at an attack on the
batch (Goodfellow et al. 2015; Madry et al. 2018).

The data loss becomes (1 - fraction) L(x) + fraction L(x'), x' the attack (`attack`:
fgsm | pgd, `jaxdl.gradients.attacks`) on the batch against the current params: fraction
1 is Madry et al.'s min-max objective, 0.5 Goodfellow et al.'s mix. The attack maximizes
the objective's own loss through the model in training mode with the step's keys
(batch-norm updates discarded); params and x' are `stop_gradient`-ed, so the parameter
gradient is that of L(x') at fixed x' (Danskin's theorem: the gradient of the max over
the ball, when the attack finds the max), not a derivative through the attack.

Metrics `loss`, `accuracy`, ... are mixed the same way, plus `adversarial_<metric>` on x'.
Batch-norm statistics follow the clean pass, then the adversarial one (fraction 1: only
the adversarial one). PGD's random start draws from keys(ADVERSARIAL).

    jaxdl train --config.gradient.name=adversarial --config.gradient.eps=0.1
"""
from __future__ import annotations

import jax

from jaxdl import rng
from jaxdl.gradients import attacks
from jaxdl.objectives import Setup
from jaxdl.registry import require

__all__ = ["adversarial", "check", "ATTACKS"]

ATTACKS = ("fgsm", "pgd")


def adversarial(setup: Setup, attack: str = "pgd", eps: float = 0.1, norm: str = "linf",
                steps: int = 7, step_size: float = 0.035, random_start: bool = True,
                fraction: float = 1.0):
    """grad_fn: ∇ of (1 - fraction) L(x) + fraction L(x'), x' = attack(x) within `eps`
    (`norm` ball; pgd: `steps` of `step_size` (~2.5 eps / steps, as Madry et al.) from a
    uniform point of the ball when `random_start`)."""
    def perturb(loss, params, model_state, extra, batch, keys):
        x, y = batch
        frozen = jax.lax.stop_gradient(params)

        def loss_fn(x, y):
            return loss(frozen, model_state, extra, (x, y), keys)[0]

        if attack == "fgsm":
            x_adv = attacks.fgsm(loss_fn, x, y, eps, norm)
        else:
            x_adv = attacks.pgd(loss_fn, x, y, keys(rng.ADVERSARIAL), eps, step_size, steps,
                                norm, random_start)
        return jax.lax.stop_gradient(x_adv)

    def grad_fn(loss, params, model_state, extra, batch, keys):
        x_adv = perturb(loss, params, model_state, extra, batch, keys)

        def mixed(params, model_state):
            clean = None
            if fraction < 1:
                clean_loss, (clean, model_state) = loss(params, model_state, extra, batch, keys)
            adv_loss, (attacked, model_state) = loss(params, model_state, extra,
                                                     (x_adv, batch[1]), keys)
            total = adv_loss if clean is None else \
                (1 - fraction) * clean_loss + fraction * adv_loss
            metrics = {k: attacked[k] if clean is None else
                       (1 - fraction) * clean[k] + fraction * attacked[k] for k in attacked}
            metrics.update({f"adversarial_{k}": v for k, v in attacked.items()})
            return total, (metrics, model_state)

        return jax.grad(mixed, has_aux=True)(params, model_state)
    return grad_fn


def check(options: dict) -> None:
    require(options["attack"] in ATTACKS, "attack", f"must be one of {', '.join(ATTACKS)}",
            options["attack"])
    require(options["norm"] in attacks.NORMS, "norm",
            f"must be one of {', '.join(attacks.NORMS)}", options["norm"])
    require(options["eps"] > 0, "eps", "must be > 0", options["eps"])
    require(options["steps"] >= 1, "steps", "must be >= 1", options["steps"])
    require(options["step_size"] > 0, "step_size", "must be > 0", options["step_size"])
    require(0 <= options["fraction"] <= 1, "fraction", "must be in [0, 1]", options["fraction"])
