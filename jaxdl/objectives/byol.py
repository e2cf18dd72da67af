"""BYOL (Grill et al. 2020): an online network's predictions of a slowly moving target
network's projections of the other view; no negatives.

    loss = byol_loss(p1, t2) + byol_loss(p2, t1)

p the online predictor's outputs, t the target network's projections (no gradient). The
target is the objective's extra state, `{"params", "model_state"}` (`TrainState.target`,
so checkpoints, resume and vmap carry it): it starts as a copy of the network and after
each optimizer update moves as target <- τ_k target + (1 - τ_k) online, τ_k =
byol_momentum(k, steps, ema_base) rising from `ema_base` to 1 (cosine), k the step just
taken.

    jaxdl train --config.objective.name=byol --config.augment.name=mnist1d
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl import losses, models
from jaxdl.objectives import Objective, Setup, require
from jaxdl.objectives import self_supervised as ssl_objective

__all__ = ["byol", "check", "criterion", "initial_target", "target_update", "target_outputs"]


def byol(setup: Setup, projector: tuple = (128, 64), predictor: int = 128,
         ema_base: float = 0.996, online_probe: bool = False, l1: float = 0.0,
         l2: float = 0.0) -> Objective:
    """BYOL with a predictor Dense(predictor)-BN-ReLU-Dense and target momentum `ema_base`."""
    net = ssl_objective.network(setup, "byol", projector, online_probe, predictor=predictor,
                                ema_base=ema_base)
    return ssl_objective.objective(setup, net, criterion, l1=l1, l2=l2,
                                   init_extra=initial_target,
                                   update_extra=target_update(setup.steps, ema_base))


def target_update(steps: int, ema_base: float):
    """update_extra(target, params, model_state, step) of an EMA target (BYOL's, DINO's
    teacher): target <- τ_k target + (1 - τ_k) online, τ_k = byol_momentum(k, steps,
    ema_base), k the step just taken."""
    def update_target(target, params, model_state, step):
        tau = losses.byol_momentum(step, steps, ema_base)
        return losses.ema_update(target, {"params": params, "model_state": model_state}, tau)

    return update_target


def initial_target(params, model_state):
    """The target network at the start: a copy of the online one."""
    return jax.tree.map(jnp.copy, {"params": params, "model_state": model_state})


def target_outputs(net, target, x, view_key, *, train, key=None) -> dict:
    """The target network's outputs on both views of x, stacked [view 1; view 2] (its
    batch-norm statistics move only by the EMA, so its updated state is dropped)."""
    both = ssl_objective.two_views(net, x, view_key)
    return models.apply(net, target["params"], target["model_state"], both, train=train,
                        key=key)[0]


def criterion(net, params, model_state, target, x, view_key, *, train, key=None):
    out, model_state = ssl_objective.forward_two_views(net, params, model_state, x, view_key,
                                                       train=train, key=key)
    t = target_outputs(net, target, x, view_key, train=train, key=key)
    n = x.shape[0]
    t, p = jax.lax.stop_gradient(t["projection"]), out["prediction"]
    return losses.byol_loss(p[:n], t[n:]) + losses.byol_loss(p[n:], t[:n]), model_state, out


def check(options: dict) -> None:
    ssl_objective.check(options)
    require(options["predictor"] > 0, "predictor", "must be > 0", options["predictor"])
    require(0 <= options["ema_base"] < 1, "ema_base", "must be in [0, 1)", options["ema_base"])
