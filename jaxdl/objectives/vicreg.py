"""VICReg (Bardes, Ponce & LeCun 2022): invariance + variance + covariance of the two views'
projections, with the published weights 25, 25, 1.

    jaxdl train --config.objective.name=vicreg --config.augment.name=mnist1d
"""
from __future__ import annotations

from jaxdl import losses
from jaxdl.objectives import Objective, Setup, require
from jaxdl.objectives import self_supervised as ssl_objective

__all__ = ["vicreg", "check", "criterion"]


def vicreg(setup: Setup, projector: tuple = (128, 64), sim_weight: float = 25.0,
           var_weight: float = 25.0, cov_weight: float = 1.0, online_probe: bool = False,
           l1: float = 0.0, l2: float = 0.0) -> Objective:
    """vicreg_loss(z1, z2, sim_weight, var_weight, cov_weight)."""
    net = ssl_objective.network(setup, "vicreg", projector, online_probe, sim_weight=sim_weight,
                                var_weight=var_weight, cov_weight=cov_weight)
    return ssl_objective.objective(setup, net, criterion, l1=l1, l2=l2)


def criterion(net, params, model_state, extra, x, view_key, *, train, key=None):
    out, model_state = ssl_objective.forward_two_views(net, params, model_state, x, view_key,
                                                       train=train, key=key)
    n, m = x.shape[0], net.method
    z1, z2 = out["projection"][:n], out["projection"][n:]
    return (losses.vicreg_loss(z1, z2, m.sim_weight, m.var_weight, m.cov_weight),
            model_state, out)


def check(options: dict) -> None:
    ssl_objective.check(options)
    for name in ("sim_weight", "var_weight", "cov_weight"):
        require(options[name] >= 0, name, "must be >= 0", options[name])
