"""The pure train step and a chunk of K steps per compiled call.

    train_step = make_train_step(objective, gradient, optimizer)   # objectives/, gradients/
    state, metrics = train_step(state, (x, y))

A step is one small function of (objective, gradient method, optimizer): the gradient
method turns the objective's loss into gradients (`jaxdl.gradients`: plain, adversarial,
sam), the optimizer applies them, and the objective moves its extra state (BYOL's EMA
target). Every random number a step draws comes from `keys(PURPOSE)` =
fold_in(fold_in(root, PURPOSE), step) (`objectives.StepKeys`), so K steps in one call and
K calls of one step give the same bits. The step's metrics are the objective's (plus
`grad_norm`, the global norm of the gradient applied, with config.log_grad_norm).
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from jax.sharding import PartitionSpec as P

from jaxdl import rng
from jaxdl.data import pipeline
from jaxdl.gradients import GradFn
from jaxdl.objectives import Objective, StepKeys
from jaxdl.training import parallel
from jaxdl.training.state import TrainState

__all__ = ["make_train_step", "make_one_step", "make_train_chunk", "make_streamed_chunk",
           "params_finite"]

Batch = tuple[jax.Array, jax.Array]
Metrics = dict[str, jax.Array]
TrainStep = Callable[[TrainState, Batch], tuple[TrainState, Metrics]]


def make_train_step(objective: Objective, gradient: GradFn,
                    optimizer: optax.GradientTransformation, axis_name: Any = None,
                    grad_norm: bool = False) -> TrainStep:
    """train_step(state, batch) -> (state, metrics): the gradient of the objective's loss by
    the gradient method, one optimizer update, the objective's extra state moved. With
    `axis_name` (a per-device program) each device draws its own keys for its slice.

    `grad_norm=True` (config.log_grad_norm): metric `grad_norm`, the global norm of the
    gradient applied, at every step. Off by default: on CPU it cost ~10% of a small MLP's
    steps/s (`python -m bench.grad_norm_cost`), and computing it only at logged steps
    (`lax.cond`) changed the fusion of the update and so the params' bits."""
    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        keys = StepKeys(state.key, state.step, axis_name)
        grads, (metrics, model_state) = gradient(objective.loss, state.params,
                                                 state.model_state, state.target, batch, keys)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        target = objective.update_extra(state.target, params, model_state, state.step)
        if grad_norm:
            metrics = {**metrics, "grad_norm": optax.tree.norm(grads)}
        return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                             model_state=model_state, target=target), metrics

    return train_step


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


def make_streamed_chunk(train_step: TrainStep, execution: str, placement: Any = None,
                        state_sharding: Any = None):
    """chunk(state, (xs, ys), length) -> (state, metrics): like `make_train_chunk`'s, with
    the `length` batches given (stacked on axis 0: `jaxdl.data.stream`) instead of drawn
    on the device — the same batches, so the same steps."""
    def one_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        if placement is not None and placement.num_devices > 1:
            batch = jax.lax.with_sharding_constraint(batch, placement.batch)
        return train_step(state, batch)

    if placement is not None and placement.mode == "pmap":  # each device its slice
        one_step = jax.shard_map(train_step, mesh=placement.mesh,
                                 in_specs=(P(), P(parallel.BATCH_AXES)), out_specs=(P(), P()))
    out_shardings = None if placement is None else (state_sharding, placement.replicated)
    if execution == "scan":
        @functools.partial(jax.jit, static_argnames="length", donate_argnums=0,
                           out_shardings=out_shardings)
        def scan_chunk(state, batches, length: int):
            return jax.lax.scan(one_step, state, batches, length=length)
        return scan_chunk

    step = jax.jit(one_step, donate_argnums=0, out_shardings=out_shardings)

    def loop_chunk(state, batches, length: int):
        history = []
        for i in range(length):
            state, metrics = step(state, jax.tree.map(lambda a: a[i], batches))
            history.append(metrics)
        return state, jax.tree.map(lambda *xs: jnp.stack(xs), *history)

    return loop_chunk
