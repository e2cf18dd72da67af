"""`make_train(config) -> train(key)`: a whole run as one pure function, with no I/O.

    import jax, jaxdl
    from jaxdl import rng
    config = jaxdl.config.default(); config.steps = 40
    train = jaxdl.make_train(config)                  # validates, loads the data: once
    state, metrics = train(rng.root_key(config.seed))
    metrics["loss"].shape, metrics["loss"][-1]        # (40,): every step's loss; ~1.63 at step 40
    states, _ = jax.vmap(train)(jax.random.split(rng.root_key(0), 3))   # 3 seeds, one program
    states.params["Dense_0"]["kernel"].shape          # (3, 125, 10): a leading axis of seeds
"""
from __future__ import annotations

import copy
import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections

from jaxdl.training import loop
from jaxdl.training import state as state_lib

__all__ = ["make_train"]


def make_train(config: ml_collections.ConfigDict
               ) -> Callable[[jax.Array], tuple[state_lib.TrainState, dict[str, jax.Array]]]:
    """train(key) -> (final_state, metrics): the run of `config` from `key` to its last
    step, with no evaluation, checkpoint, log or NaN stop; `metrics[name]` stacks the
    per-step training metrics over all `config.steps` steps (row s-1: step s).

    Building (validation, data loading, shape tracing) happens here, once; `train` is
    pure: it can be called again, `jax.jit`-ed, and `jax.vmap`-ed over keys (PureJaxRL's
    shape). It runs `jaxdl.train`'s own compiled programs — the run's `init`, then its
    `scan` chunk over all steps — and the scan chunk gives the same bits for any chunk
    size, so `train(rng.root_key(config.seed))` ends with bit for bit the params of
    `jaxdl.train(config)` on the same machine (tests/test_make_train.py).
    `jax.jit(train)` and `jax.vmap(train)` are other XLA programs (init and the steps
    fuse into one; vmap batches every op), so bitwise equality with `train(key)` is not
    promised: measured on 2 CPU cores (default CNN, 40 steps) both were exact; the tests
    hold vmap to 1e-5 of the params' norm (as vectorized trials, README: ~1e-6).

    Execution: `train` always scans. Where `config.execution` resolves to `loop` (native
    2-D convolutions on CPU, e.g. cnn2d and the ResNets: a Python loop of compiled steps
    cannot be one program), `train` is the run of that config with `execution="scan"`:
    bitwise equal to `jaxdl.train` with `--config.execution=scan`. Against the `loop`
    run, bitwise equality is not promised (another program; measured equal for the
    default CNN with execution=loop on 2 CPU cores), and on CPU the scan is slower for
    those models (25x for cnn2d: BENCHMARKS.md). The one-process placements only.

    The donated state: the compiled chunk donates (deletes) its input state — a state
    passed to `run.train_chunk` by hand is gone after the call. `train` donates only the
    state its own `init` call just made, from a copy of the key (so that a jit which
    forwards its input could not hand the caller's key to the donation): the caller's
    key stays alive, and calling `train` twice with one key gives the same result twice.
    """
    run = loop.build(config)
    if run.execution != "scan":  # `loop`: the same run, scanned (see above)
        config = copy.deepcopy(config)
        config.execution = "scan"
        run = loop.build(config)
    data, steps = run.device_data(), config.steps

    def train(key: jax.Array) -> tuple[state_lib.TrainState, dict[str, Any]]:
        state = run.init(jnp.array(key, copy=True))  # the state's key: never the caller's
        with warnings.catch_warnings():  # under vmap the donated state cannot be reused: fine
            warnings.filterwarnings("ignore", "Some donated buffers were not usable")
            return run.train_chunk(state, data, steps)  # donates `state`, not the caller's key

    return train
