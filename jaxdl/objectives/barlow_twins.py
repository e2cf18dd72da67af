"""Barlow Twins (Zbontar et al. 2021): the cross-correlation of the two views' projections
driven to the identity; `lambd` weighs the off-diagonal terms.

    jaxdl train --config.objective.name=barlow_twins --config.augment.name=mnist1d
"""
from __future__ import annotations

from jaxdl import losses
from jaxdl.objectives import Objective, Setup, require
from jaxdl.objectives import self_supervised as ssl_objective

__all__ = ["barlow_twins", "check", "criterion"]


def barlow_twins(setup: Setup, projector: tuple = (128, 64), lambd: float = 5e-3,
                 online_probe: bool = False, l1: float = 0.0, l2: float = 0.0) -> Objective:
    """barlow_twins_loss(z1, z2, lambd)."""
    net = ssl_objective.network(setup, "barlow_twins", projector, online_probe, lambd=lambd)
    return ssl_objective.objective(setup, net, criterion, l1=l1, l2=l2)


def criterion(net, params, model_state, extra, x, view_key, *, train, key=None):
    out, model_state = ssl_objective.forward_two_views(net, params, model_state, x, view_key,
                                                       train=train, key=key)
    n = x.shape[0]
    z1, z2 = out["projection"][:n], out["projection"][n:]
    return losses.barlow_twins_loss(z1, z2, net.method.lambd), model_state, out


def check(options: dict) -> None:
    ssl_objective.check(options)
    require(options["lambd"] >= 0, "lambd", "must be >= 0", options["lambd"])
