"""The self-supervised criterion, objective and train step as they were before
`objective.online_probe` existed: jaxdl/training/step.py at commit a97b947 (the parent
of 07fd3cb, which added the probe), verbatim except for the imports, which name today's
modules (`apply_model`, `per_device`, the types) — `git show a97b947:jaxdl/training/step.py`.

Frozen here so that tests/test_online_probe.py can check, in its own process and so on
any CPU, that self-supervised training with the probe off is this code's bit for bit:
params, model state, byol's EMA target and the per-step loss. (The criterion here
returns no network outputs and the objective reads x alone; the probe's version returns
the outputs and reads (x, y).) The model is today's `SSLNet`, built with the probe off."""
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxdl import losses, rng
from jaxdl.data import augment as augment_lib
from jaxdl.models import ssl
from jaxdl.training.state import TrainState
from reference_step import Batch, Metrics, TrainStep, apply_model, per_device  # tests/


def ssl_criterion(model: ssl.SSLNet, params: Any, model_state: Any, target: Any, x: jax.Array,
                  view_key: jax.Array, *, train: bool, key: jax.Array | None = None
                  ) -> tuple[jax.Array, Any]:
    """(the method's loss on views of `x` drawn from `view_key`, updated model state).

    Both views go through the network as one batch of 2B (batch norm sees both, as in
    SimCLR's implementation); z1, z2 are the halves of the projections:

        simclr        nt_xent(z1, z2, temperature)
        vicreg        vicreg_loss(z1, z2, sim_weight, var_weight, cov_weight)
        barlow_twins  barlow_twins_loss(z1, z2, lambd)
        byol          byol_loss(p1, t2) + byol_loss(p2, t1): online predictions p against
                      the target network's projections t of the other view (no gradient)
        mae           one view with `mask_segments` windows zeroed; masked squared error
                      of the reconstruction on the hidden samples only
    """
    method = model.method
    aug = ssl.augmentation(method.views)
    if method.name == "mae":
        x1 = aug(jax.random.fold_in(view_key, 0), x)
        mask = ssl.segment_masks(jax.random.fold_in(view_key, 1), x1, method.mask_segments,
                                 method.mask_length)
        hidden = mask.reshape(mask.shape + (1,) * (x1.ndim - mask.ndim))
        out, model_state = apply_model(model, params, model_state, jnp.where(hidden, 0.0, x1),
                                       train=train, key=key)
        return losses.masked_reconstruction_loss(out["projection"], x1, mask), model_state
    n = x.shape[0]
    both = jnp.concatenate(augment_lib.two_views(view_key, x, aug))
    out, model_state = apply_model(model, params, model_state, both, train=train, key=key)
    z1, z2 = out["projection"][:n], out["projection"][n:]
    if method.name == "simclr":
        loss = losses.nt_xent(z1, z2, method.temperature)
    elif method.name == "vicreg":
        loss = losses.vicreg_loss(z1, z2, method.sim_weight, method.var_weight, method.cov_weight)
    elif method.name == "barlow_twins":
        loss = losses.barlow_twins_loss(z1, z2, method.lambd)
    elif method.name == "byol":
        t, _ = apply_model(model, target["params"], target["model_state"], both, train=train,
                           key=key)
        t, p = jax.lax.stop_gradient(t["projection"]), out["prediction"]
        loss = losses.byol_loss(p[:n], t[n:]) + losses.byol_loss(p[n:], t[:n])
    else:
        raise ValueError(f"unknown self-supervised objective {method.name!r}")
    return loss, model_state


def make_ssl_objective(model: ssl.SSLNet, loss_cfg: ml_collections.ConfigDict,
                       axis_name: Any = None):
    """objective(params, model_state, target, x, key, view_key) -> (loss + penalties,
    (metrics, model_state)); `key` draws dropout, `view_key` the views. config.loss adds
    its L1/L2 penalties; its data loss, smoothing and attacks do not apply (no labels).
    With `axis_name` each device's criterion is of its slice (its own negatives and batch
    statistics), averaged over devices like the supervised loss."""
    mean = (lambda v: jax.lax.pmean(v, axis_name)) if axis_name else (lambda v: v)

    def objective(params, model_state, target, x, key, view_key):
        loss, model_state = ssl_criterion(model, params, model_state, target, x, view_key,
                                          train=True, key=key)
        loss = mean(loss)
        model_state = jax.tree.map(mean, model_state)
        total = loss
        if loss_cfg.l1 > 0:
            total = total + loss_cfg.l1 * losses.l1_penalty(params)
        if loss_cfg.l2 > 0:
            total = total + loss_cfg.l2 * losses.l2_penalty(params)
        return total, ({"loss": loss}, model_state)

    return objective


def make_ssl_train_step(model: ssl.SSLNet, optimizer: optax.GradientTransformation,
                        loss_cfg: ml_collections.ConfigDict, axis_name: Any = None) -> TrainStep:
    """train_step(state, (x, y)) of a self-supervised model: views from step_key(root,
    AUGMENT, step), dropout from step_key(root, DROPOUT, step); y is ignored. byol: after
    the update, target <- tau_k target + (1 - tau_k) (params, model_state) with
    tau_k = byol_momentum(k, steps, ema_base), k the step just taken (0 for the first)."""
    grad_fn = jax.grad(make_ssl_objective(model, loss_cfg, axis_name), has_aux=True)
    method = model.method

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        key = per_device(rng.step_key(state.key, rng.DROPOUT, state.step), axis_name)
        view_key = per_device(rng.step_key(state.key, rng.AUGMENT, state.step), axis_name)
        grads, (metrics, model_state) = grad_fn(state.params, state.model_state, state.target,
                                                batch[0], key, view_key)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        target = state.target
        if model.ema_target:
            tau = losses.byol_momentum(state.step, method.steps, method.ema_base)
            target = losses.ema_update(target, {"params": params, "model_state": model_state},
                                       tau)
        return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                             model_state=model_state, target=target), metrics

    return train_step
