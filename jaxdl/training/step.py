"""Pure steps: `train_step(state, batch) -> (state, metrics)`, the evaluation of
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

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxdl import losses, rng
from jaxdl.data import augment as augment_lib
from jaxdl.data import pipeline
from jaxdl.models import precision, ssl
from jaxdl.probes import adversarial
from jaxdl.training import parallel
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


# Fold-in index of the evaluation's views: never a training step, so evaluation and
# training draw different views, and every evaluation of a run the same ones.
EVAL_VIEWS = 2 ** 31 - 1


def make_ssl_evaluate(model: ssl.SSLNet, num_classes: int, k: int = 20,
                      temperature: float = 0.07):
    """evaluate(state, xs, ys, masks) of a self-supervised run, over stacked batches ->
    sums of count, loss and knn_accuracy (divided by count in `loop.summarize`):

    loss: the method's criterion in inference mode on fixed views of each batch (keys
    step_key(root, AUGMENT, EVAL_VIEWS) folded with the batch index), weighted by the
    batch's unmasked count; the criterion couples a batch's examples, so a padded last
    batch's padding takes part in it (none when the split divides into batches).
    knn_accuracy: `knn_leave_one_out` on the representation, within the split — how well
    the representation clusters classes, with no labels used in training and no
    classifier fitted. Linear probes and train-to-test kNN are a study's measure().
    online_probe_accuracy, online_probe_loss (with `model.online_probe`): the online
    probe's accuracy and cross-entropy on the split's signals themselves (no views), in
    inference mode — the classifier trained alongside the representation.
    """
    @jax.jit
    def evaluate(state: TrainState, xs: jax.Array, ys: jax.Array, masks: jax.Array) -> Metrics:
        view_key = rng.step_key(state.key, rng.AUGMENT, EVAL_VIEWS)

        def body(_, batch):
            i, x, y, mask = batch
            loss, _, _ = ssl_criterion(model, state.params, state.model_state, state.target, x,
                                       jax.random.fold_in(view_key, i), train=False)
            out, _ = apply_model(model, state.params, state.model_state, x, train=False)
            probe = {}
            if model.online_probe:
                probe = {name: jnp.sum(v * mask) for name, v in
                         online_probe_terms(out["online_probe"], y).items()}
            return None, (loss, out["representation"], probe)

        _, (batch_losses, features, probe) = jax.lax.scan(
            body, None, (jnp.arange(xs.shape[0]), xs, ys, masks))
        return {"count": jnp.sum(masks), "loss": jnp.sum(batch_losses * jnp.sum(masks, axis=1)),
                "knn_accuracy": knn_leave_one_out(features, ys, masks, num_classes, k,
                                                  temperature),
                **{name: jnp.sum(v) for name, v in probe.items()}}

    return evaluate


def knn_leave_one_out(features: jax.Array, labels: jax.Array, mask: jax.Array, num_classes: int,
                      k: int = 20, temperature: float = 0.07) -> jax.Array:
    """How many unmasked examples the weighted kNN vote of the *other* unmasked examples
    classifies correctly: `jaxdl.probes.knn`'s protocol (cosine similarity, the k nearest
    vote with weight exp(s / T)) with each example left out of its own neighbours.
    features (nb, bs, ...), labels and mask (nb, bs); queries go block by block."""
    nb, bs = mask.shape
    f = features.reshape(nb * bs, -1).astype(jnp.float32)
    f = f / jnp.maximum(jnp.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    y, m = labels.reshape(-1), mask.reshape(-1)
    k = min(k, nb * bs - 1)

    def block(b):
        idx = b * bs + jnp.arange(bs)
        sims = f[idx] @ f.T
        excluded = (m[None, :] == 0) | (idx[:, None] == jnp.arange(nb * bs)[None, :])
        sims, nearest = jax.lax.top_k(jnp.where(excluded, -jnp.inf, sims), k)
        votes = jnp.einsum("qk,qkc->qc", jnp.exp(sims / temperature),
                           jax.nn.one_hot(y[nearest], num_classes))
        return jnp.sum((jnp.argmax(votes, axis=1) == y[idx]) * m[idx])

    return jnp.sum(jax.lax.map(block, jnp.arange(nb)))


# ---------------------------------------------------------------- evaluation


def make_eval_batch(model: nn.Module, loss_cfg: ml_collections.ConfigDict, num_classes: int):
    """eval_batch(state, x, y, mask) -> sums over the unmasked examples of one batch."""
    per_example = per_example_loss(loss_cfg)

    def eval_batch(state: TrainState, x: jax.Array, y: jax.Array, mask: jax.Array) -> Metrics:
        outputs, _ = apply_model(model, state.params, state.model_state, x, train=False)
        sums = {"count": jnp.sum(mask), "loss": jnp.sum(per_example(outputs, y) * mask)}
        if num_classes:
            sums["accuracy"] = jnp.sum(losses.accuracy(outputs, y) * mask)
            sums["confusion"] = losses.confusion_matrix(outputs, y, num_classes, mask)
        return sums

    return eval_batch


def make_evaluate(eval_batch) -> Callable[[TrainState, jax.Array, jax.Array, jax.Array], Metrics]:
    """evaluate(state, xs, ys, masks) over stacked batches (nb, bs, ...) -> summed metrics."""

    @jax.jit
    def evaluate(state: TrainState, xs: jax.Array, ys: jax.Array, masks: jax.Array) -> Metrics:
        def body(total, batch):
            sums = eval_batch(state, *batch)
            return jax.tree.map(jnp.add, total, sums), None

        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                             jax.eval_shape(eval_batch, state, xs[0], ys[0], masks[0]))
        total, _ = jax.lax.scan(body, zeros, (xs, ys, masks))
        return total

    return evaluate


@jax.jit  # one call instead of ~2 eager ops per leaf after every chunk
def params_finite(params: Any) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(params)]))


def make_one_step(train_step: TrainStep, batch_size: int, placement: Any = None):
    """one_step(state, data, epoch) -> ((state, metrics), epoch): the batch at
    `state.step`, then a step. `epoch` (a `pipeline.Epoch`: the current epoch's
    permutation, and a small training set in that order) is carried from step to step
    and recomputed at each epoch start (`pipeline.carried_epoch`): the batches are
    exactly `pipeline.batch_at`'s.

    jit mode: the batch is gathered on the device(s) and constrained to be split
    over all of them, so XLA partitions the step and all-reduces the gradients.
    pmap mode: the step is a per-device program (`shard_map`); each device takes
    its slice of the same global batch.
    """
    def batch(state: TrainState, data: pipeline.DeviceData, epoch: pipeline.Epoch,
              shard=(0, 1)):
        data_key = rng.purpose_key(state.key, rng.DATA_ORDER)
        epoch = pipeline.carried_epoch(data, data_key, state.step, epoch, batch_size)
        return pipeline.batch_at(data, data_key, state.step, batch_size, shard, epoch), epoch

    def global_step(state: TrainState, data: pipeline.DeviceData, epoch: pipeline.Epoch):
        (x, y), epoch = batch(state, data, epoch)
        if placement is not None and placement.num_devices > 1:
            x, y = jax.lax.with_sharding_constraint((x, y), placement.batch)
        return train_step(state, (x, y)), epoch

    if placement is None or placement.mode == "jit":
        return global_step

    from jax.sharding import PartitionSpec as P
    axes = parallel.BATCH_AXES

    def device_step(state: TrainState, data: pipeline.DeviceData, epoch: pipeline.Epoch):
        shard = (jax.lax.axis_index(axes), placement.num_devices)
        (x, y), epoch = batch(state, data, epoch, shard)
        return train_step(state, (x, y)), epoch

    return jax.shard_map(device_step, mesh=placement.mesh, in_specs=(P(), P(), P()),
                         out_specs=((P(), P()), P()))


def make_train_chunk(train_step: TrainStep, batch_size: int, execution: str,
                     placement: Any = None, state_sharding: Any = None):
    """chunk(state, data, length) -> (state, metrics stacked over the `length` steps).

    'scan' compiles the K steps into one `lax.scan`; 'loop' calls one compiled
    step K times (dispatch is asynchronous, so the host syncs once a chunk).
    Both draw the batch at step s from `pipeline.batch_at`, on the device.
    """
    one_step = make_one_step(train_step, batch_size, placement)
    out_shardings = epoch_sharding = None
    if placement is not None:
        out_shardings = ((state_sharding, placement.replicated), placement.replicated)
        epoch_sharding = placement.replicated

    @functools.partial(jax.jit, out_shardings=epoch_sharding)
    def first_epoch(state: TrainState, data: pipeline.DeviceData) -> pipeline.Epoch:
        """The `pipeline.Epoch` that the chunk starts in."""
        data_key = rng.purpose_key(state.key, rng.DATA_ORDER)
        return pipeline.epoch_at(data, data_key, state.step, batch_size)

    if execution == "scan":
        @functools.partial(jax.jit, static_argnames="length", donate_argnums=0,
                           out_shardings=out_shardings and out_shardings[0])
        def scan_chunk(state, data, length: int):
            def body(carry, _):
                state, epoch = carry
                (state, metrics), epoch = one_step(state, data, epoch)
                return (state, epoch), metrics
            (state, _), metrics = jax.lax.scan(body, (state, first_epoch(state, data)),
                                               length=length)
            return state, metrics

        return scan_chunk

    step = jax.jit(one_step, donate_argnums=(0, 2), out_shardings=out_shardings)
    # Many queued multi-device steps have crashed XLA:CPU's collectives: sync now and then.
    sync_every = 20 if placement is not None and placement.num_devices > 1 else 0

    def loop_chunk(state, data, length: int):
        epoch, history = first_epoch(state, data), []
        for i in range(length):
            (state, metrics), epoch = step(state, data, epoch)
            history.append(metrics)
            if sync_every and (i + 1) % sync_every == 0:
                jax.block_until_ready(state.step)
        return state, jax.tree.map(lambda *xs: jnp.stack(xs), *history)

    return loop_chunk
