"""FROZEN: the train step as it was before objectives and gradient methods became
registered components — jaxdl/training/step.py at commit c1cee8d (`git show
c1cee8d:jaxdl/training/step.py`), verbatim up to its evaluation code (dropped), except
that `apply_model` is copied in and `per_device` kept here. tests/test_objectives.py runs
it in its own process beside today's step and checks that the default objective and
each self-supervised one train to the same bits. Do not edit.

Its docstring as it was:

Pure steps: `train_step(state, batch) -> (state, metrics)`, the evaluation of
a batch, and a chunk of K steps per compiled call.

Every random number a step draws comes from `fold_in(fold_in(root, PURPOSE),
step)`, so K steps in one call and K calls of one step give the same bits.

Self-supervised objectives (a `jaxdl.models.ssl.SSLNet` model, which carries its
method) go through the same `make_train_step` and chunk: two views of the batch
from step_key(root, AUGMENT, step), the method's criterion on their projections
(labels unused, except by the optional online probe, a linear classifier on the
stop-gradient representation), and for byol the EMA target in `state.target` moved
after each optimizer update — a pure function of the step like everything else.
"""
from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxdl import losses, rng
from jaxdl.data import augment as augment_lib
from jaxdl.models import precision, ssl
from jaxdl.probes import adversarial
from jaxdl.training.state import TrainState

Batch = tuple[jax.Array, jax.Array]
Metrics = dict[str, jax.Array]
TrainStep = Callable[[TrainState, Batch], tuple[TrainState, Metrics]]


def apply_model(model: nn.Module, params: Any, model_state: Any, x: jax.Array, *,
                train: bool, key: jax.Array | None = None) -> tuple[jax.Array, Any]:
    """Outputs and the updated model state (batch-norm statistics change only in training)."""
    variables = {"params": params, **model_state}
    rngs = {"dropout": key} if key is not None else {}
    if train and model_state:
        outputs, new_state = model.apply(variables, x, train=True, rngs=rngs,
                                         mutable=list(model_state))
        return outputs, dict(new_state)
    return model.apply(variables, x, train=train, rngs=rngs), model_state


def per_example_loss(loss_cfg: ml_collections.ConfigDict) -> losses.PerExampleLoss:
    """config.loss's per-example loss; distilling (config.loss.distill.teacher set), a
    teacher's logits as targets get the soft-target loss at its temperature."""
    distill = loss_cfg.get("distill")
    temperature = distill.temperature if distill and distill.teacher else None
    return losses.per_example_loss(loss_cfg.name, loss_cfg.label_smoothing, temperature)


def make_objective(model: nn.Module, loss_cfg: ml_collections.ConfigDict, classify: bool,
                   axis_name: Any = None):
    """objective(params, model_state, batch, key[, attack_key, noise_key]) -> (loss +
    penalties, (metrics, model_state)); `key` draws dropout, `attack_key` an attack's
    random start, `noise_key` the weight noise.

    Weight noise (`loss_cfg.weight_noise` = s > 0): the data loss is that of the network
    with weights W + s eps, eps ~ N(0, I) drawn from `noise_key`, on every weight matrix
    and kernel (`perturb_weights`); the penalties are of the unperturbed params. Its
    gradient w.r.t. W is the gradient at the perturbed point, so in expectation training
    minimizes E_eps L(W + s eps) ~ L(W) + s^2/2 tr H (a curvature penalty: Graves 2011,
    An 1996).

    With `axis_name` (per-device programs), the batch is a device's slice and the loss
    and metrics are averaged over devices: under `shard_map` the gradient of that mean
    w.r.t. replicated params is already the all-reduced mean gradient.

    Adversarial training (`loss_cfg.adversarial.attack` fgsm | pgd, see `make_adversary`):
    the data loss is (1 - f) L(x) + f L(x'), f = `fraction`, with metrics `loss` and
    `accuracy` mixed the same way plus `adversarial_loss` / `adversarial_accuracy` on x'.
    Batch-norm statistics follow the clean pass, then the adversarial one (f = 1: only
    the adversarial). Off (attack "none", or no such section), the objective is the
    plain one, op for op: results are bit-identical to a run without the option.
    """
    per_example = per_example_loss(loss_cfg)
    mean = (lambda v: jax.lax.pmean(v, axis_name)) if axis_name else (lambda v: v)
    adversary = make_adversary(model, loss_cfg)

    def data_loss(params, model_state, x, y, key):
        outputs, model_state = apply_model(model, params, model_state, x, train=True, key=key)
        loss = mean(jnp.mean(per_example(outputs, y)))
        metrics = {"loss": loss}
        if classify:
            metrics["accuracy"] = mean(jnp.mean(losses.accuracy(outputs, y)))
        return metrics, model_state

    def adversarial_loss(params, model_state, x, y, key, attack_key):
        fraction = loss_cfg.adversarial.fraction
        x_adv = adversary(params, model_state, x, y, key, attack_key)
        clean = None
        if fraction < 1:
            clean, model_state = data_loss(params, model_state, x, y, key)
        attacked, model_state = data_loss(params, model_state, x_adv, y, key)
        metrics = {k: attacked[k] if clean is None else
                   (1 - fraction) * clean[k] + fraction * attacked[k] for k in attacked}
        metrics.update({f"adversarial_{k}": v for k, v in attacked.items()})
        return metrics, model_state

    def objective(params, model_state, batch: Batch, key: jax.Array,
                  attack_key: jax.Array | None = None, noise_key: jax.Array | None = None):
        x, y = batch
        forward = params
        if loss_cfg.get("weight_noise", 0.0) > 0:
            forward = perturb_weights(params, noise_key, loss_cfg.weight_noise)
        if adversary is None:
            metrics, model_state = data_loss(forward, model_state, x, y, key)
        else:
            metrics, model_state = adversarial_loss(forward, model_state, x, y, key, attack_key)
        model_state = jax.tree.map(mean, model_state)  # batch-norm statistics: device average
        total = metrics["loss"]
        if loss_cfg.l1 > 0:
            total = total + loss_cfg.l1 * losses.l1_penalty(params)
        if loss_cfg.l2 > 0:
            total = total + loss_cfg.l2 * losses.l2_penalty(params)
        if loss_cfg.get("jacobian", 0.0) > 0:
            total = total + loss_cfg.jacobian * mean(
                jacobian_penalty(model, params, model_state, x, key))
        return total, (metrics, model_state)

    return objective


def perturb_weights(params: Any, key: jax.Array, std: float) -> Any:
    """params with N(0, std^2) noise added to every weight matrix and kernel (the leaves
    with ndim > 1, as the L1/L2 penalties; biases and norm scales unchanged); leaf i
    draws from fold_in(key, i)."""
    leaves, tree = jax.tree.flatten(params)
    noisy = [w + std * jax.random.normal(jax.random.fold_in(key, i), w.shape, w.dtype)
             if w.ndim > 1 else w for i, w in enumerate(leaves)]
    return jax.tree.unflatten(tree, noisy)


def make_input_transform(loss_cfg: ml_collections.ConfigDict,
                         augment: ml_collections.ConfigDict | None):
    """transform(view_key, noise_key, x) -> x' of a supervised training batch, or None
    when neither data augmentation (`augment.name` != none: one view of each example by
    `ssl.augmentation`, from `view_key`) nor input noise (`loss_cfg.input_noise` = s > 0:
    x + s eps, eps ~ N(0, I) from `noise_key`) is on. For small s, training with input
    noise is Tikhonov regularization (Bishop 1995)."""
    aug = (ssl.augmentation(ssl.views_of(augment))
           if augment is not None and augment.name != "none" else None)
    std = loss_cfg.get("input_noise", 0.0)
    if aug is None and std == 0:
        return None

    def transform(view_key: jax.Array, noise_key: jax.Array, x: jax.Array) -> jax.Array:
        if aug is not None:
            x = aug(view_key, x)
        if std > 0:
            x = augment_lib.gaussian_noise(noise_key, x, std=std)
        return x

    return transform


def jacobian_penalty(model: nn.Module, params: Any, model_state: Any, x: jax.Array,
                     key: jax.Array | None) -> jax.Array:
    """mean_b ||J_b||_F^2, J_b = d f(x_b) / d x_b the input Jacobian of the outputs (in
    training mode, the step's dropout key): one VJP per output unit, exact. Penalizing
    it asks for a smooth fit (Drucker & LeCun 1992's double backpropagation; Hoffman
    et al. 2019) — the smooth interpolators of the law of robustness. Per-example
    Jacobians come from one VJP of the batch because examples do not interact (not so
    under batch norm in training mode, where this is the batch's joint Jacobian)."""
    def f(x):
        return apply_model(model, params, model_state, x, train=True, key=key)[0]

    outputs, vjp = jax.vjp(f, x)
    basis = jnp.eye(outputs.shape[-1], dtype=outputs.dtype)
    cotangents = jnp.broadcast_to(basis[:, None, :], (basis.shape[0], *outputs.shape))
    grads = jax.vmap(lambda c: vjp(c)[0])(cotangents)  # (outputs, batch, *input)
    return jnp.sum(jnp.square(grads)) / x.shape[0]


def adversarial_config(loss_cfg: ml_collections.ConfigDict) -> Any:
    """`loss_cfg.adversarial` when it asks for an attack, else None."""
    options = getattr(loss_cfg, "adversarial", None)
    return options if options is not None and options.attack != "none" else None


def make_adversary(model: nn.Module, loss_cfg: ml_collections.ConfigDict):
    """adversary(params, model_state, x, y, key, attack_key) -> x', the configured attack
    on the batch against the current params (None when off).

    The attack maximizes the same per-example loss the step minimizes, through the model
    in training mode with the step's dropout key (the function being trained; batch-norm
    updates discarded). Its params are `stop_gradient`-ed and so is x': the parameter
    gradient is that of L(x') at fixed x' (Danskin's theorem: the gradient of the max
    over the ball, when the attack finds the max), not a derivative through the attack.
    """
    options = adversarial_config(loss_cfg)
    if options is None:
        return None
    per_example = per_example_loss(loss_cfg)

    def adversary(params, model_state, x, y, key, attack_key):
        params = jax.lax.stop_gradient(params)

        def loss_fn(x, y):
            outputs, _ = apply_model(model, params, model_state, x, train=True, key=key)
            return jnp.mean(per_example(outputs, y))

        if options.attack == "fgsm":
            x_adv = adversarial.fgsm(loss_fn, x, y, options.eps, options.norm)
        else:
            x_adv = adversarial.pgd(loss_fn, x, y, attack_key, options.eps, options.step_size,
                                    options.steps, options.norm, options.random_start)
        return jax.lax.stop_gradient(x_adv)

    return adversary


def per_device(key: jax.Array, axis_name: Any) -> jax.Array:
    """Each device draws its own dropout masks (random starts, views) for its slice."""
    return jax.random.fold_in(key, jax.lax.axis_index(axis_name)) if axis_name else key


def make_train_step(model: nn.Module, optimizer: optax.GradientTransformation,
                    loss_cfg: ml_collections.ConfigDict, classify: bool,
                    axis_name: Any = None,
                    augment: ml_collections.ConfigDict | None = None) -> TrainStep:
    """train_step(state, batch): dropout draws from step_key(root, DROPOUT, step); an
    adversarial-training attack from step_key(root, ADVERSARIAL, step); data augmentation
    (`augment`, config.augment) from step_key(root, AUGMENT, step); input and weight
    noise from fold_ins of step_key(root, NOISE, step). Each is drawn only when its
    option is on, so the DROPOUT contract and results without the options are unchanged.
    A self-supervised model trains with its own method (`make_ssl_train_step`)."""
    if isinstance(precision.unwrap(model), ssl.SSLNet):
        return make_ssl_train_step(model, optimizer, loss_cfg, axis_name)
    objective = make_objective(model, loss_cfg, classify, axis_name)
    grad_fn = jax.grad(objective, has_aux=True)
    attacks = adversarial_config(loss_cfg) is not None
    transform = make_input_transform(loss_cfg, augment)
    weight_noise = loss_cfg.get("weight_noise", 0.0) > 0

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        def key_of(purpose: int) -> jax.Array:
            return per_device(rng.step_key(state.key, purpose, state.step), axis_name)

        # NOISE key: fold_in 0 for the input noise, fold_in 1 for the weight noise
        if transform is not None:
            x = transform(key_of(rng.AUGMENT), jax.random.fold_in(key_of(rng.NOISE), 0),
                          batch[0])
            batch = (x, batch[1])
        keys = [key_of(rng.DROPOUT)]
        if attacks:
            keys.append(key_of(rng.ADVERSARIAL))
        kwargs = ({"noise_key": jax.random.fold_in(key_of(rng.NOISE), 1)} if weight_noise
                  else {})
        grads, (metrics, model_state) = grad_fn(state.params, state.model_state, batch, *keys,
                                                **kwargs)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                             model_state=model_state), metrics

    return train_step


# ---------------------------------------------------------------- self-supervised


def ssl_criterion(model: ssl.SSLNet, params: Any, model_state: Any, target: Any, x: jax.Array,
                  view_key: jax.Array, *, train: bool, key: jax.Array | None = None
                  ) -> tuple[jax.Array, Any, dict[str, jax.Array]]:
    """(the method's loss on views of `x` drawn from `view_key`, updated model state, the
    network's outputs on the views: rows [view 1; view 2] of the batch, mae's one view).

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
        return losses.masked_reconstruction_loss(out["projection"], x1, mask), model_state, out
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
    return loss, model_state, out


def online_probe_terms(logits: jax.Array, y: jax.Array) -> dict[str, jax.Array]:
    """Per-row cross-entropy and correctness of the online probe's logits; the rows are
    views of the batch stacked (`ssl_criterion`: 2B or B), so the labels repeat."""
    labels = jnp.tile(y, logits.shape[0] // y.shape[0])
    return {"online_probe_loss": losses.cross_entropy(logits, labels),
            "online_probe_accuracy": losses.accuracy(logits, labels)}


def make_ssl_objective(model: ssl.SSLNet, loss_cfg: ml_collections.ConfigDict,
                       axis_name: Any = None):
    """objective(params, model_state, target, (x, y), key, view_key) -> (loss + penalties,
    (metrics, model_state)); `key` draws dropout, `view_key` the views. config.loss adds
    its L1/L2 penalties; its data loss, smoothing and attacks do not apply (no labels).
    With `axis_name` each device's criterion is of its slice (its own negatives and batch
    statistics), averaged over devices like the supervised loss.

    The labels y are read only by the online probe (`model.online_probe`): its mean
    cross-entropy on the training views is added to the loss and logged with its accuracy
    (metrics `online_probe_loss`, `online_probe_accuracy`); `loss` stays the criterion.
    Its input is stop-gradient-ed, so the backbone's and projector's gradients are the
    criterion's (and penalties') alone."""
    mean = (lambda v: jax.lax.pmean(v, axis_name)) if axis_name else (lambda v: v)

    def objective(params, model_state, target, batch: Batch, key, view_key):
        x, y = batch
        loss, model_state, out = ssl_criterion(model, params, model_state, target, x,
                                               view_key, train=True, key=key)
        loss = mean(loss)
        model_state = jax.tree.map(mean, model_state)
        metrics = {"loss": loss}
        total = loss
        if model.online_probe:
            probe = online_probe_terms(out["online_probe"], y)
            metrics.update({name: mean(jnp.mean(v)) for name, v in probe.items()})
            total = total + metrics["online_probe_loss"]
        if loss_cfg.l1 > 0:
            total = total + loss_cfg.l1 * losses.l1_penalty(params)
        if loss_cfg.l2 > 0:
            total = total + loss_cfg.l2 * losses.l2_penalty(params)
        return total, (metrics, model_state)

    return objective


def make_ssl_train_step(model: ssl.SSLNet, optimizer: optax.GradientTransformation,
                        loss_cfg: ml_collections.ConfigDict, axis_name: Any = None) -> TrainStep:
    """train_step(state, (x, y)) of a self-supervised model: views from step_key(root,
    AUGMENT, step), dropout from step_key(root, DROPOUT, step); y is read only by the
    online probe (`make_ssl_objective`). byol: after
    the update, target <- tau_k target + (1 - tau_k) (params, model_state) with
    tau_k = byol_momentum(k, steps, ema_base), k the step just taken (0 for the first)."""
    grad_fn = jax.grad(make_ssl_objective(model, loss_cfg, axis_name), has_aux=True)
    method = model.method

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        key = per_device(rng.step_key(state.key, rng.DROPOUT, state.step), axis_name)
        view_key = per_device(rng.step_key(state.key, rng.AUGMENT, state.step), axis_name)
        grads, (metrics, model_state) = grad_fn(state.params, state.model_state, state.target,
                                                batch, key, view_key)
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


# config.loss as it was by default (every option off): the `loss_cfg` these steps take.
OLD_LOSS = ml_collections.ConfigDict(dict(
    name="cross_entropy", label_smoothing=0.0, l1=0.0, l2=0.0, jacobian=0.0, input_noise=0.0,
    weight_noise=0.0, adversarial=dict(attack="none", eps=0.1, norm="linf", steps=7,
                                       step_size=0.035, random_start=True, fraction=1.0),
    distill=dict(teacher="", temperature=4.0, inputs="train", num_inputs=100_000,
                 inputs_seed=1)))
