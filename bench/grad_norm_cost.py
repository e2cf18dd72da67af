"""What logging the gradient norm costs the train step (config.log_grad_norm).

    python -m bench.grad_norm_cost [--model mlp|cnn1d] [--repeats 8]

Builds the default run's pieces for the model, then times 1,000 steps (10 chunks of 100)
of the same chunk compiled three ways, in alternation within this one process: without
the norm, with `optax.tree.norm(grads)` at every step, and with it under `lax.cond` at
every 100th step only. Prints the median steps/s and min–max of each. (The `lax.cond`
variant is the one jaxdl does not use: it changed the fusion of the update and so the
params' bits, tests/test_objectives.py.)
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxdl
from jaxdl import rng
from jaxdl.objectives import StepKeys
from jaxdl.training import step as step_lib


def train_step(run, norm: str):
    """run's step with the gradient norm as `norm` says: none | every | cond."""
    def step(state, batch):
        keys = StepKeys(state.key, state.step)
        grads, (metrics, model_state) = run.gradient(run.objective.loss, state.params,
                                                     state.model_state, state.target, batch, keys)
        updates, opt_state = run.optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        if norm == "every":
            metrics = {**metrics, "grad_norm": optax.tree.norm(grads)}
        elif norm == "cond":
            metrics = {**metrics, "grad_norm": jax.lax.cond(
                state.step % 100 == 99, optax.tree.norm,
                lambda g: jnp.full((), jnp.nan, jnp.float32), grads)}
        return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                             model_state=model_state), metrics
    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mlp")
    p.add_argument("--repeats", type=int, default=8)
    args = p.parse_args()
    run = jaxdl.build(jaxdl.config.load(None, [f"model.name={args.model}"]))
    data = run.device_data()
    chunks = {norm: step_lib.make_train_chunk(train_step(run, norm), run.config.batch_size,
                                              run.execution, run.placement, run.state_sharding)
              for norm in ("none", "every", "cond")}
    rates = {norm: [] for norm in chunks}
    for chunk in chunks.values():  # compile
        jax.block_until_ready(chunk(run.init(rng.root_key(0)), data, 100))
    for _ in range(args.repeats):
        for norm, chunk in chunks.items():
            state = jax.block_until_ready(run.init(rng.root_key(0)))
            start = time.perf_counter()
            for _ in range(10):
                state, _ = chunk(state, data, 100)
            jax.block_until_ready(state)
            rates[norm].append(1000 / (time.perf_counter() - start))
    for norm, r in rates.items():
        print(f"{args.model} grad norm {norm:5s}: {np.median(r):7.0f} steps/s "
              f"(min–max {min(r):.0f}–{max(r):.0f}, {args.repeats} repeats)")


if __name__ == "__main__":
    main()
