"""A masked autoencoder for signals (after He et al. 2022): one view with `mask_segments`
windows of `mask_length` samples zeroed; the decoder (the projector, its last width the
signal's size) reconstructs the view; the loss is the squared error on the hidden samples
only.

    jaxdl train --config.objective.name=mae --config.augment.name=mnist1d
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl import losses, models
from jaxdl.models import ssl
from jaxdl.objectives import Objective, Setup, require
from jaxdl.objectives import self_supervised as ssl_objective

__all__ = ["mae", "check", "criterion"]


def mae(setup: Setup, projector: tuple = (128, 64), mask_segments: int = 2,
        mask_length: int = 8, online_probe: bool = False, l1: float = 0.0,
        l2: float = 0.0) -> Objective:
    """Masked reconstruction; ValueError when a window is longer than the signal."""
    length = jnp.shape(setup.sample_x)[1]
    if mask_length > length:
        raise ValueError(f"mask_length {mask_length} is longer than the signal "
                         f"({length} samples)")
    net = ssl_objective.network(setup, "mae", projector, online_probe,
                                mask_segments=mask_segments, mask_length=mask_length)
    return ssl_objective.objective(setup, net, criterion, l1=l1, l2=l2)


def criterion(net, params, model_state, extra, x, view_key, *, train, key=None):
    m = net.method
    x1 = ssl.augmentation(m.views)(jax.random.fold_in(view_key, 0), x)
    mask = ssl.segment_masks(jax.random.fold_in(view_key, 1), x1, m.mask_segments, m.mask_length)
    hidden = mask.reshape(mask.shape + (1,) * (x1.ndim - mask.ndim))
    out, model_state = models.apply(net, params, model_state, jnp.where(hidden, 0.0, x1),
                                    train=train, key=key)
    return losses.masked_reconstruction_loss(out["projection"], x1, mask), model_state, out


def check(options: dict) -> None:
    ssl_objective.check(options)
    require(options["mask_segments"] >= 1, "mask_segments", "must be >= 1",
            options["mask_segments"])
    require(options["mask_length"] >= 1, "mask_length", "must be >= 1", options["mask_length"])
