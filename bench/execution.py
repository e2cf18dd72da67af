"""jaxdl's training throughput and compile time, measured through its own API.

`measure(recipe, execution, chunk_size, ...)` builds the run exactly as
`jaxdl.train` does (`loop.build`), then drives `run.train_chunk` with the same
per-chunk work as the driver (`int(state.step)`, `device_get` of the metrics,
the NaN check on metrics and params) and no evaluation, checkpoint or progress
bar. It times:

    compile_s     first chunk minus the median steady chunk of the same length
                  (tracing + XLA compilation + first-call setup; cache off)
    steps_per_s   `window` steps (whole chunks) after `warmup` steps, wall clock

Run in a fresh process per measurement (`python -m bench.worker`), so each
sees a cold jit cache and the XLA flags the harness sets.
"""
from __future__ import annotations

import os
import statistics
import time

RECIPES = {"cnn": None, "mlp": "experiments/mnist1d_baselines.py:mlp"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def recipe_config(recipe: str):
    from jaxdl import config as config_lib
    if RECIPES[recipe] is None:
        return config_lib.default()
    return config_lib.from_file(os.path.join(ROOT, RECIPES[recipe]))


def measure(recipe: str, execution: str = "auto", chunk_size: int = 100, warmup: int = 200,
            window: int = 1000, variant: str = "", jax_config: dict | None = None) -> dict:
    import jax

    for key, value in (jax_config or {}).items():
        jax.config.update(key, value)
    from bench import variants
    variants.apply(variant)
    from jaxdl import rng
    from jaxdl.data import pipeline
    from jaxdl.training import loop
    from jaxdl.training import step as step_lib

    config = recipe_config(recipe)
    config.execution = execution
    config.chunk_size = chunk_size
    run = loop.build(config)
    data = run.device_data() if hasattr(run, "device_data") else pipeline.to_device(run.dataset)
    state = run.init(rng.root_key(config.seed))
    jax.block_until_ready(state)

    def chunk(state):  # the per-chunk work of loop._run, without eval/checkpoint/progress
        start = int(state.step)
        state, metrics = run.train_chunk(state, data, chunk_size)
        metrics = jax.device_get(metrics)
        loop.check_finite(start, metrics, bool(step_lib.params_finite(state.params)))
        return state

    t = time.perf_counter()
    state = chunk(state)
    first = time.perf_counter() - t
    done = chunk_size
    while done < warmup:
        state = chunk(state)
        done += chunk_size
    n_chunks = max(1, round(window / chunk_size))
    times = []
    t_window = time.perf_counter()
    for _ in range(n_chunks):
        t = time.perf_counter()
        state = chunk(state)
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - t_window
    steady = statistics.median(times)
    return {"steps_per_s": n_chunks * chunk_size / total, "compile_s": first - steady,
            "first_chunk_s": first, "steady_chunk_s": steady, "execution": run.execution,
            "chunk_size": chunk_size}
