"""SimCLR (Chen et al. 2020): NT-Xent between the projections of two views of each example.

    jaxdl train --config.objective.name=simclr --config.augment.name=mnist1d

The MNIST-1D self-supervised notebook's variant (experiments/ssl_methods.py): a projector
Dense(125)-ReLU-Dense(16) without batch norm, its one-sided InfoNCE, its views:

    jaxdl train --config.objective.name=simclr --config.objective.projector='(125, 16)' \
        --config.objective.projector_bn=False --config.objective.loss=info_nce \
        --config.augment.name=mnist1d_notebook --config.steps=8000

`projector=()` trains without a projector: the criterion acts on the representation.
"""
from __future__ import annotations

from jaxdl import losses
from jaxdl.objectives import Objective, Setup, require
from jaxdl.objectives import self_supervised as ssl_objective

__all__ = ["LOSSES", "simclr", "check", "criterion"]

# loss: nt_xent (SimCLR's: both views are anchors, 2N - 2 negatives) | info_nce (the
# notebook's: view 1's anchors against view 2's N embeddings)
LOSSES = {"nt_xent": losses.nt_xent, "info_nce": losses.info_nce}


def simclr(setup: Setup, projector: tuple = (128, 64), temperature: float = 0.5,
           projector_bn: bool = True, loss: str = "nt_xent", online_probe: bool = False,
           l1: float = 0.0, l2: float = 0.0) -> Objective:
    """loss(z1, z2, temperature) of the projections z of the two views (NT-Xent by default)."""
    net = ssl_objective.network(setup, "simclr", projector, online_probe,
                                projector_bn=projector_bn, temperature=temperature, loss=loss)
    return ssl_objective.objective(setup, net, criterion, l1=l1, l2=l2)


def criterion(net, params, model_state, extra, x, view_key, *, train, key=None):
    out, model_state = ssl_objective.forward_two_views(net, params, model_state, x, view_key,
                                                       train=train, key=key)
    n = x.shape[0]
    z1, z2 = out["projection"][:n], out["projection"][n:]
    return LOSSES[net.method.loss](z1, z2, net.method.temperature), model_state, out


def check(options: dict) -> None:
    ssl_objective.check(options, empty_projector=True)
    require(options["temperature"] > 0, "temperature", "must be > 0", options["temperature"])
    require(options["loss"] in LOSSES, "loss", f"must be one of {', '.join(LOSSES)}",
            options["loss"])
    require(isinstance(options["projector_bn"], bool), "projector_bn", "must be True or False",
            options["projector_bn"])
