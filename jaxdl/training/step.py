"""Pure steps: `train_step(state, batch) -> (state, metrics)`, the evaluation of
a batch, and a chunk of K steps per compiled call.

Every random number a step draws comes from `fold_in(fold_in(root, PURPOSE),
step)`, so K steps in one call and K calls of one step give the same bits.
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
from jaxdl.data import pipeline
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


def make_objective(model: nn.Module, loss_cfg: ml_collections.ConfigDict, classify: bool,
                   axis_name: Any = None):
    """objective(params, model_state, batch, key) -> (loss + penalties, (metrics, model_state)).

    With `axis_name` (per-device programs), the batch is a device's slice and the loss
    and metrics are averaged over devices: under `shard_map` the gradient of that mean
    w.r.t. replicated params is already the all-reduced mean gradient.
    """
    per_example = losses.per_example_loss(loss_cfg.name, loss_cfg.label_smoothing)
    mean = (lambda v: jax.lax.pmean(v, axis_name)) if axis_name else (lambda v: v)

    def objective(params, model_state, batch: Batch, key: jax.Array):
        x, y = batch
        outputs, model_state = apply_model(model, params, model_state, x, train=True, key=key)
        loss = mean(jnp.mean(per_example(outputs, y)))
        model_state = jax.tree.map(mean, model_state)  # batch-norm statistics: device average
        metrics = {"loss": loss}
        if classify:
            metrics["accuracy"] = mean(jnp.mean(losses.accuracy(outputs, y)))
        total = loss
        if loss_cfg.l1 > 0:
            total = total + loss_cfg.l1 * losses.l1_penalty(params)
        if loss_cfg.l2 > 0:
            total = total + loss_cfg.l2 * losses.l2_penalty(params)
        return total, (metrics, model_state)

    return objective


def make_train_step(model: nn.Module, optimizer: optax.GradientTransformation,
                    loss_cfg: ml_collections.ConfigDict, classify: bool,
                    axis_name: Any = None) -> TrainStep:
    objective = make_objective(model, loss_cfg, classify, axis_name)
    grad_fn = jax.grad(objective, has_aux=True)

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        key = rng.step_key(state.key, rng.DROPOUT, state.step)
        if axis_name:  # each device draws its own dropout masks for its slice
            key = jax.random.fold_in(key, jax.lax.axis_index(axis_name))
        grads, (metrics, model_state) = grad_fn(state.params, state.model_state, batch, key)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                             model_state=model_state), metrics

    return train_step


def make_eval_batch(model: nn.Module, loss_cfg: ml_collections.ConfigDict, num_classes: int):
    """eval_batch(state, x, y, mask) -> sums over the unmasked examples of one batch."""
    per_example = losses.per_example_loss(loss_cfg.name, loss_cfg.label_smoothing)

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
    """one_step(state, data, order) -> ((state, metrics), order): the batch at
    `state.step`, then a step. `order` is the permutation of the current epoch, carried
    from step to step and recomputed at each epoch start (`pipeline.carried_order`):
    the batches are exactly `pipeline.batch_at`'s.

    jit mode: the batch is gathered on the device(s) and constrained to be split
    over all of them, so XLA partitions the step and all-reduces the gradients.
    pmap mode: the step is a per-device program (`shard_map`); each device takes
    its slice of the same global batch.
    """
    def batch(state: TrainState, data: pipeline.DeviceData, order: jax.Array, shard=(0, 1)):
        data_key = rng.purpose_key(state.key, rng.DATA_ORDER)
        order = pipeline.carried_order(data_key, state.step, order, batch_size)
        return pipeline.batch_at(data, data_key, state.step, batch_size, shard, order), order

    def global_step(state: TrainState, data: pipeline.DeviceData, order: jax.Array):
        (x, y), order = batch(state, data, order)
        if placement is not None and placement.num_devices > 1:
            x, y = jax.lax.with_sharding_constraint((x, y), placement.batch)
        return train_step(state, (x, y)), order

    if placement is None or placement.mode == "jit":
        return global_step

    from jax.sharding import PartitionSpec as P
    axes = parallel.BATCH_AXES

    def device_step(state: TrainState, data: pipeline.DeviceData, order: jax.Array):
        shard = (jax.lax.axis_index(axes), placement.num_devices)
        (x, y), order = batch(state, data, order, shard)
        return train_step(state, (x, y)), order

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
    out_shardings = order_sharding = None
    if placement is not None:
        out_shardings = ((state_sharding, placement.replicated), placement.replicated)
        order_sharding = placement.replicated

    @functools.partial(jax.jit, out_shardings=order_sharding)
    def first_order(state: TrainState, data: pipeline.DeviceData) -> jax.Array:
        """The permutation of the epoch that the chunk starts in."""
        data_key = rng.purpose_key(state.key, rng.DATA_ORDER)
        return pipeline.epoch_order(data_key, state.step, data.x.shape[0], batch_size)

    if execution == "scan":
        @functools.partial(jax.jit, static_argnames="length", donate_argnums=0,
                           out_shardings=out_shardings and out_shardings[0])
        def scan_chunk(state, data, length: int):
            def body(carry, _):
                state, order = carry
                (state, metrics), order = one_step(state, data, order)
                return (state, order), metrics
            (state, _), metrics = jax.lax.scan(body, (state, first_order(state, data)),
                                               length=length)
            return state, metrics

        return scan_chunk

    step = jax.jit(one_step, donate_argnums=(0, 2), out_shardings=out_shardings)
    # Many queued multi-device steps have crashed XLA:CPU's collectives: sync now and then.
    sync_every = 20 if placement is not None and placement.num_devices > 1 else 0

    def loop_chunk(state, data, length: int):
        order, history = first_order(state, data), []
        for i in range(length):
            (state, metrics), order = step(state, data, order)
            history.append(metrics)
            if sync_every and (i + 1) % sync_every == 0:
                jax.block_until_ready(state.step)
        return state, jax.tree.map(lambda *xs: jnp.stack(xs), *history)

    return loop_chunk
