"""Candidate speed-ups of jaxdl, applied in-process by patching jaxdl's modules.

Nothing under `jaxdl/` is edited: each variant replaces one function with a
bench-local version before `loop.build` runs, so the measured code is exactly
what the proposed change would put into jaxdl. `applied(spec)` patches for a
block, `apply(spec)` for the process; variants compose ("host_stack,patch_conv").

    per_step_order  jaxdl before commit 18785c5, for reference: a full
                  `jax.random.permutation` of the training set inside every step
                  (`pipeline.batch_indices`) instead of the carried epoch order.
                  Bitwise-identical batches.
    eager_finite  jaxdl before 18785c5, for reference: `params_finite` as ~2 eager ops
                  per parameter leaf instead of one jitted call.
    host_stack    `loop` chunks hand back the per-step metrics as a list stacked on the
                  host (the driver `device_get`s them anyway) instead of an eager
                  `jnp.stack` of K device scalars per metric. Identical.
    unroll=N      `scan` strategy with `lax.scan(..., unroll=N)`.
    swap_or_not=R a sort-free step-indexed order: the epoch's permutation is the
                  swap-or-not shuffle (Hoang, Morris & Rogaway 2012) with R rounds, of
                  which a step evaluates only its own `batch_size` positions: O(batch x R)
                  hashes per step instead of two 4000-element sorts per epoch. Still a pure
                  function of (data key, step) and a true permutation per epoch, but a
                  different order than `jax.random.permutation`: training changes bits.
    patch_conv    1-D convolutions as strided slices + one matmul (im2col) instead of
                  `lax.conv_general_dilated`: same parameters (names, shapes, init), same
                  math; the gradient is matmuls, pads and slices, which XLA:CPU runs fast
                  inside `scan` too (BENCHMARKS.md: why its native conv is slow there).
    data_cache    MNIST-1D arrays cached on disk (bench/data_cache.py): the generator is
                  seeded, so the arrays are exactly those it makes; saves its seconds of
                  import + generation in every process after the first.

Without a chunk option (per_step_order, host_stack, unroll, swap_or_not) jaxdl's own
`make_train_chunk` runs; with one, `make_train_chunk` below does, which carries the
epoch order exactly as jaxdl's does (same batches). Environment-level candidates
(XLA_FLAGS, JAX config) are set by the harness; see `bench/__main__.py`.
"""
from __future__ import annotations

import contextlib
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import rng
from jaxdl.data import pipeline
from jaxdl.training import step as step_lib

VARIANTS = ("per_step_order", "eager_finite", "host_stack", "unroll", "swap_or_not", "patch_conv",
            "data_cache")
CHUNK_OPTIONS = ("per_step_order", "host_stack", "unroll", "swap_or_not")


def swap_or_not_indices(data_key: jax.Array, step, num_examples: int, batch_size: int,
                        rounds: int = 12) -> jax.Array:
    """Indices of the batch at `step`: positions [p*bs, (p+1)*bs) of the epoch's permutation.

    Each round pairs x with (K_r - x) mod n and swaps the pair when a keyed hash of
    the pair (its larger member) has its low bit set: an involution, so every
    round, and their composition, is a bijection of [0, n)."""
    from jax.extend.random import threefry2x32_p  # elementwise: (k1, k2, x1, x2) -> 2 words
    n = num_examples
    epoch, position = jnp.divmod(step, n // batch_size)
    key = jax.random.fold_in(data_key, epoch)
    x = (position * batch_size + jnp.arange(batch_size)).astype(jnp.uint32)
    offsets = jax.random.randint(jax.random.fold_in(key, rounds), (rounds,), 0, n).astype(jnp.uint32)
    for r in range(rounds):
        partner = (offsets[r] + jnp.uint32(n) - x) % jnp.uint32(n)
        k = jax.random.fold_in(key, r)
        high = jnp.maximum(x, partner)
        bits, _ = threefry2x32_p.bind(k[0], k[1], high, jnp.zeros_like(high))
        x = jnp.where((bits & 1) == 1, partner, x)
    return x.astype(jnp.int32)


_ORIGINAL_MAKE_TRAIN_CHUNK = step_lib.make_train_chunk


def make_train_chunk(train_step, batch_size: int, execution: str, placement=None,
                     state_sharding=None, *, per_step_order: bool = False, host_stack: bool = False,
                     unroll: int = 1, swap_or_not: int = 0):
    """`jaxdl.training.step.make_train_chunk` with the candidate changes switchable
    (single device only: with a multi-device placement it is jaxdl's own)."""
    if placement is not None and getattr(placement, "num_devices", 1) > 1:
        return _ORIGINAL_MAKE_TRAIN_CHUNK(train_step, batch_size, execution, placement,
                                          state_sharding)
    carried = not (per_step_order or swap_or_not)

    def order_at(data: pipeline.DeviceData, key: jax.Array, step: jax.Array) -> jax.Array:
        n = data.x.shape[0]
        return jax.random.permutation(jax.random.fold_in(key, step // (n // batch_size)), n)

    def one_step(state, data: pipeline.DeviceData, order):
        data_key = rng.purpose_key(state.key, rng.DATA_ORDER)
        n = data.x.shape[0]
        if swap_or_not:
            rounds = 12 if swap_or_not is True else swap_or_not
            idx = swap_or_not_indices(data_key, state.step, n, batch_size, rounds)
        elif per_step_order:
            idx = pipeline.batch_indices(data_key, state.step, n, batch_size)
        else:  # the carried epoch order, as jaxdl's pipeline.carried_order
            position = state.step % (n // batch_size)
            order = jax.lax.cond(position == 0, lambda: order_at(data, data_key, state.step),
                                 lambda: order)
            idx = jax.lax.dynamic_slice_in_dim(order, position * batch_size, batch_size)
        batch = jnp.take(data.x, idx, axis=0), jnp.take(data.y, idx, axis=0)
        return train_step(state, batch), order

    @jax.jit
    def first_order(state, data):
        if not carried:
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


def params_finite_eager(params):
    """jaxdl's NaN check before 18785c5: eager ops, one per leaf and reduction."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(params)]))


class Conv(nn.Conv):
    """`nn.Conv` computed as im2col + matmul for 1-D inputs (B, L, C); 2-D as `nn.Conv`.

    Named `Conv` so that flax auto-names it `Conv_0, Conv_1, ...` like `nn.Conv`:
    the same param tree and the same initial values."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != 3 or self.feature_group_count != 1 or isinstance(self.padding, str):
            return super().__call__(x)
        (k,), (s,) = self.kernel_size, self.strides or (1,)
        (lo, hi), = self.padding
        cin = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (k, cin, self.features), self.param_dtype)
        xp = jnp.pad(x, ((0, 0), (lo, hi), (0, 0)))
        out_len = (xp.shape[1] - k) // s + 1
        patches = jnp.concatenate(
            [xp[:, j:j + s * (out_len - 1) + 1:s, :] for j in range(k)], axis=-1)
        y = patches @ kernel.reshape(k * cin, self.features)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,), self.param_dtype)
        return y


def _patched_conv(features, kernel_size, ndim, stride, padding, init, scale, use_bias=True,
                  name=None):
    from jaxdl.models import layers
    return Conv(features, kernel_size=(kernel_size,) * ndim, strides=(stride,) * ndim,
                padding=((padding, padding),) * ndim, use_bias=use_bias,
                kernel_init=layers.kernel_init(init, scale), bias_init=nn.initializers.zeros,
                name=name)


def parse(spec: str) -> dict:
    """'patch_conv,unroll=4' -> {'patch_conv': True, 'unroll': 4}."""
    options = {}
    for part in filter(None, (spec or "").split(",")):
        name, _, value = part.partition("=")
        if name not in VARIANTS:
            raise ValueError(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
        options[name] = int(value) if value else True
    return options


@contextlib.contextmanager
def applied(spec: str):
    """Patch jaxdl with the variants named in `spec` while the block runs (build, trace and
    the steps that call the patched functions must all happen inside it)."""
    from bench import data_cache
    from jaxdl.models import layers
    options = parse(spec)
    saved = step_lib.params_finite, step_lib.make_train_chunk, layers.conv
    cache = options.pop("data_cache", False)
    try:
        if cache:
            data_cache.install()
        if options.pop("patch_conv", False):
            layers.conv = _patched_conv
        if options.pop("eager_finite", False):
            step_lib.params_finite = params_finite_eager
        if options:
            step_lib.make_train_chunk = functools.partial(make_train_chunk, **options)
        yield
    finally:
        step_lib.params_finite, step_lib.make_train_chunk, layers.conv = saved
        if cache:
            data_cache.uninstall()


_ACTIVE: list = []  # held, or the generator would be closed (and jaxdl restored) on collection


def apply(spec: str) -> None:
    """Patch jaxdl for the rest of this process (e.g. before `jaxdl.cli.main`)."""
    patch = applied(spec)
    patch.__enter__()
    _ACTIVE.append(patch)
