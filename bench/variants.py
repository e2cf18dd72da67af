"""Candidate speed-ups of jaxdl, applied in-process by patching jaxdl's modules.

Nothing under `jaxdl/` is edited: each variant replaces one function with a
bench-local version before `loop.build` runs, so the measured code is exactly
what the proposed change would put into jaxdl. `apply(names)` patches; the
variants compose (e.g. "epoch_order,jit_finite").

    epoch_order   the batch order of an epoch is computed once per epoch and carried
                  from step to step (the `lax.cond` at each epoch start recomputes it),
                  instead of a full `jax.random.permutation(4000)` inside every step.
                  Same permutation, same batches: bitwise-identical training.
    host_stack    `loop` chunks hand back the per-step metrics as a list stacked on the
                  host (the driver `device_get`s them anyway) instead of an eager
                  `jnp.stack` of K device scalars per metric.
    jit_finite    `params_finite` (the NaN check after each chunk) as one jitted call
                  instead of ~2 eager ops per parameter leaf.
    unroll=N      `scan` strategy with `lax.scan(..., unroll=N)`.

Environment-level candidates (XLA_FLAGS, thread counts, matmul precision) are
set by the harness before jax is imported; see `bench/__main__.py`.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import rng
from jaxdl.data import pipeline
from jaxdl.training import step as step_lib

VARIANTS = ("epoch_order", "host_stack", "jit_finite", "unroll")


def make_train_chunk(train_step, batch_size: int, execution: str, *, epoch_order: bool = False,
                     host_stack: bool = False, unroll: int = 1):
    """`jaxdl.training.step.make_train_chunk` with the candidate changes switchable."""

    def order_at(data: pipeline.DeviceData, key: jax.Array, step: jax.Array) -> jax.Array:
        n = data.x.shape[0]
        epoch = step // (n // batch_size)
        return jax.random.permutation(jax.random.fold_in(key, epoch), n)

    def one_step(state, data: pipeline.DeviceData, order):
        data_key = rng.purpose_key(state.key, rng.DATA_ORDER)
        if not epoch_order:
            return train_step(state, pipeline.batch_at(data, data_key, state.step, batch_size)), order
        # exactly pipeline.batch_indices, with the epoch's permutation reused across its steps
        n = data.x.shape[0]
        position = state.step % (n // batch_size)
        order = jax.lax.cond(position == 0, lambda: order_at(data, data_key, state.step),
                             lambda: order)
        idx = jax.lax.dynamic_slice_in_dim(order, position * batch_size, batch_size)
        batch = jnp.take(data.x, idx, axis=0), jnp.take(data.y, idx, axis=0)
        return train_step(state, batch), order

    @jax.jit
    def first_order(state, data):
        if not epoch_order:
            return jnp.zeros((), jnp.int32)
        return order_at(data, rng.purpose_key(state.key, rng.DATA_ORDER), state.step)

    if execution == "scan":
        @functools.partial(jax.jit, static_argnames="length", donate_argnums=0)
        def scan_chunk(state, data, length: int):
            def body(carry, _):
                state, order = carry
                (state, metrics), order = one_step(state, data, order)
                return (state, order), metrics
            (state, _), metrics = jax.lax.scan(body, (state, first_order(state, data)),
                                               length=length, unroll=unroll)
            return state, metrics

        return scan_chunk

    step = jax.jit(one_step, donate_argnums=(0, 2))

    def loop_chunk(state, data, length: int):
        order = first_order(state, data)
        history = []
        for _ in range(length):
            (state, metrics), order = step(state, data, order)
            history.append(metrics)
        if host_stack:
            history = jax.device_get(history)
            return state, {k: np.stack([m[k] for m in history]) for k in history[0]}
        return state, jax.tree.map(lambda *xs: jnp.stack(xs), *history)

    return loop_chunk


@jax.jit
def params_finite_jit(params):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(params)]))


def parse(spec: str) -> dict:
    """'epoch_order,unroll=4' -> {'epoch_order': True, 'unroll': 4}."""
    options = {}
    for part in filter(None, (spec or "").split(",")):
        name, _, value = part.partition("=")
        if name not in VARIANTS:
            raise ValueError(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
        options[name] = int(value) if value else True
    return options


def apply(spec: str) -> None:
    """Patch jaxdl in this process with the variants named in `spec` (before `loop.build`)."""
    options = parse(spec)
    if options.pop("jit_finite", False):
        step_lib.params_finite = params_finite_jit
    chunk_options = {k: v for k, v in options.items() if k in ("epoch_order", "host_stack", "unroll")}
    if chunk_options:
        step_lib.make_train_chunk = functools.partial(make_train_chunk, **chunk_options)
