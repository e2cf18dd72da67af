"""SimCLR (Chen et al. 2020): NT-Xent between the projections of two views of each example.

    jaxdl train --config.objective.name=simclr --config.augment.name=mnist1d
"""
from __future__ import annotations

from jaxdl import losses
from jaxdl.objectives import Objective, Setup, require
from jaxdl.objectives import self_supervised as ssl_objective

__all__ = ["simclr", "check", "criterion"]


def simclr(setup: Setup, projector: tuple = (128, 64), temperature: float = 0.5,
           online_probe: bool = False, l1: float = 0.0, l2: float = 0.0) -> Objective:
    """nt_xent(z1, z2, temperature) of the projections z of the two views."""
    net = ssl_objective.network(setup, "simclr", projector, online_probe,
                                temperature=temperature)
    return ssl_objective.objective(setup, net, criterion, l1=l1, l2=l2)


def criterion(net, params, model_state, extra, x, view_key, *, train, key=None):
    out, model_state = ssl_objective.forward_two_views(net, params, model_state, x, view_key,
                                                       train=train, key=key)
    n = x.shape[0]
    z1, z2 = out["projection"][:n], out["projection"][n:]
    return losses.nt_xent(z1, z2, net.method.temperature), model_state, out


def check(options: dict) -> None:
    ssl_objective.check(options)
    require(options["temperature"] > 0, "temperature", "must be > 0", options["temperature"])
