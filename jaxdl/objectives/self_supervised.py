"""What the self-supervised objectives (simclr.py, byol.py, vicreg.py, barlow_twins.py,
mae.py, dino.py) share: the network, the loss around a method's criterion, the online
probe, and the evaluation a run logs.

The network is config.model's backbone with its classification head cut off, then a
projector (`jaxdl.models.ssl.SSLNet`). A method file gives its criterion,

    criterion(net, params, model_state, extra, x, view_key, *, train, key)
        -> (loss, model_state, outputs)

on views of x drawn from `view_key` = keys(AUGMENT) (labels unused). The loss adds the
online probe's cross-entropy (`online_probe`: a linear classifier on the stop-gradient
representation, trained on the views with the batch's labels — SimCLR's and BYOL's
"online classifier"; `loss` stays the criterion) and the L1/L2 penalties. With a device
axis each device's criterion is of its slice (its own negatives and batch statistics),
averaged over devices.

Evaluation, per split: the criterion in inference mode on fixed views (keys
step_key(root, AUGMENT, EVAL_VIEWS) folded with the batch index), a leave-one-out 20-NN
accuracy of the representation within the split (`knn_leave_one_out`, no labels used in
training, no classifier fitted), and the online probe's accuracy and loss on the clean
signals. Linear probes and train-to-test kNN are a study's measure().

The online probe (`--config.objective.online_probe=True` with any method) is SimCLR's and
BYOL's "online classifier"; the stop-gradient leaves every backbone and projector update
that of the self-supervised loss alone (optimizers act per param; global-norm clipping,
which would couple them, is refused).
Measured, SimCLR in the ssl_methods recipe (4000 steps; 11-18 s of training per run on
2 CPU cores shared with other jobs):
    jaxdl train --config experiments/ssl_methods.py --config.objective.online_probe=True \
                --config.seed=S --workdir runs/online_probe/seedS      # S = 0..4
final test online-probe accuracy 0.514 ± 0.032 (seeds 0-4: 0.542, 0.473, 0.528, 0.516,
0.513; 0.377 at step 500), against 0.745 ± 0.010 for the offline linear probe of the
same networks (docs/studies/ssl_methods/report.md, seeds 0-4; with the probe on, the
backbones are the probe-off run's bit for bit: tests/test_online_probe.py).
It lags by 0.230 ± 0.038, is as low on the training split (0.50-0.56: not
overfitting) and moves by up to 0.125 between evaluations (seed 0: 0.540, 0.415, 0.492
at steps 2000-3000): a view of the trend during training, not a substitute for the
offline probe. We did not test why (it trains on the views, at the run's lr, on
features that keep moving). The study with its report, SimCLR and BYOL: `jaxdl sweep
experiments/online_probe.py` (docs/studies/online_probe/report.md).
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxdl import losses, models, rng
from jaxdl.data import augment as augment_lib
from jaxdl.models import precision, ssl
from jaxdl.objectives import Objective, Setup, add_penalties, check_penalties, require

__all__ = ["network", "objective", "check", "forward_two_views", "two_views", "knn_leave_one_out",
           "online_probe_terms", "EVAL_VIEWS"]

Criterion = Callable[..., tuple[jax.Array, Any, dict[str, jax.Array]]]

# Fold-in index of the evaluation's views: never a training step, so evaluation and
# training draw different views, and every evaluation of a run the same ones.
EVAL_VIEWS = 2 ** 31 - 1


def network(setup: Setup, name: str, projector: tuple[int, ...], online_probe: bool,
            predictor: int = 128, projector_bn: bool = True, **numbers: Any) -> ssl.SSLNet:
    """The SSLNet of method `name` around the setup's model, under the run's precision
    policy (ValueError for a backbone without a Dense head, or an online probe without
    classes)."""
    method = ssl.Method(name=name, steps=setup.steps, views=ssl.views_of(setup.augment),
                        **numbers)
    if online_probe and setup.num_classes < 1:
        raise ValueError("online_probe needs a classification dataset (num_classes > 0)")
    backbone = precision.unwrap(setup.model)
    net = ssl.SSLNet(backbone=backbone, head=ssl.head_name(backbone, setup.sample_x),
                     projector=tuple(projector), predictor=predictor, method=method,
                     online_probe=setup.num_classes if online_probe else 0,
                     projector_bn=projector_bn)
    return precision.apply_policy(net, setup.precision)


def objective(setup: Setup, net: ssl.SSLNet, criterion: Criterion, *, l1: float, l2: float,
              init_extra: Callable | None = None, update_extra: Callable | None = None
              ) -> Objective:
    """The Objective of a method: its criterion plus the online probe and penalties."""
    def loss(params, model_state, extra, batch, keys):
        x, y = batch
        value, model_state, out = criterion(net, params, model_state, extra, x,
                                            keys(rng.AUGMENT), train=True,
                                            key=keys(rng.DROPOUT))
        value = setup.mean(value)
        model_state = jax.tree.map(setup.mean, model_state)
        metrics = {"loss": value}
        total = value
        if net.online_probe:
            probe = online_probe_terms(out["online_probe"], y)
            metrics.update({name: setup.mean(jnp.mean(v)) for name, v in probe.items()})
            total = total + metrics["online_probe_loss"]
        return add_penalties(total, params, l1, l2), (metrics, model_state)

    extras = {k: v for k, v in (("init_extra", init_extra), ("update_extra", update_extra))
              if v is not None}
    return Objective(loss=loss, model=net,
                     evaluate=make_evaluate(net, criterion, setup.num_classes), **extras)


def check(options: dict[str, Any], empty_projector: bool = False) -> None:
    """The options every method shares: the projector's widths (`empty_projector`: () is
    allowed, no projector), the penalties."""
    p = options["projector"]
    widths_ok = all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in p)
    if empty_projector:
        require(widths_ok, "projector", "must be a tuple of widths > 0 (empty: none)", p)
    else:
        require(len(p) >= 1 and widths_ok, "projector", "must be a non-empty tuple of widths > 0",
                p)
    check_penalties(options)


def forward_two_views(net: ssl.SSLNet, params: Any, model_state: Any, x: jax.Array,
                      view_key: jax.Array, *, train: bool, key: jax.Array | None = None):
    """(outputs, model state) of the network on both views of x stacked [view 1; view 2]:
    one batch of 2B (batch norm sees both, as in SimCLR's implementation); rows [:B] are
    view 1's."""
    return models.apply(net, params, model_state, two_views(net, x, view_key), train=train,
                        key=key)


def two_views(net: ssl.SSLNet, x: jax.Array, view_key: jax.Array) -> jax.Array:
    """Both views of x, stacked [view 1; view 2]."""
    return jnp.concatenate(augment_lib.two_views(view_key, x, ssl.augmentation(net.method.views)))


def online_probe_terms(logits: jax.Array, y: jax.Array) -> dict[str, jax.Array]:
    """Per-row cross-entropy and correctness of the online probe's logits; the rows are
    views of the batch stacked (2B or B), so the labels repeat."""
    labels = jnp.tile(y, logits.shape[0] // y.shape[0])
    return {"online_probe_loss": losses.cross_entropy(logits, labels),
            "online_probe_accuracy": losses.accuracy(logits, labels)}


def make_evaluate(net: ssl.SSLNet, criterion: Criterion, num_classes: int, k: int = 20,
                  temperature: float = 0.07):
    """evaluate(state, xs, ys, masks) over stacked batches -> sums of count, loss,
    knn_accuracy (and the online probe's), divided by count in `loop.summarize`. The
    criterion couples a batch's examples, so a padded last batch's padding takes part in
    its loss (none when the split divides into batches)."""
    @jax.jit
    def evaluate(state: Any, xs: jax.Array, ys: jax.Array, masks: jax.Array):
        view_key = rng.step_key(state.key, rng.AUGMENT, EVAL_VIEWS)

        def body(_, batch):
            i, x, y, mask = batch
            loss, _, _ = criterion(net, state.params, state.model_state, state.target, x,
                                   jax.random.fold_in(view_key, i), train=False)
            out, _ = models.apply(net, state.params, state.model_state, x, train=False)
            probe = {}
            if net.online_probe:
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
    classifies correctly: ``jaxdl.probes.knn``'s protocol (cosine similarity, the k nearest
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
