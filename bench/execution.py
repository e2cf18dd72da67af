"""jaxdl's training throughput and compile time, measured through its own API.

`measure(recipe, runs, ...)` builds each run exactly as `jaxdl.train` does
(`loop.build`), then drives `run.train_chunk` with the same per-chunk work as
the driver (`int(state.step)`, `device_get` of the metrics, the NaN check on
metrics and params) and no evaluation, checkpoint or progress bar. Per run:

    compile_s     first chunk minus the median steady chunk of the same length
                  (tracing + XLA compilation + first-call setup; the persistent
                  compilation cache is off in bench workers: JAXDL_COMPILATION_CACHE='')
    steps_per_s   median over `windows` timed windows of ~`window` steps (whole
                  chunks) after `warmup` steps

One worker process (`python -m bench.worker`) measures all runs of one recipe
under one environment (XLA_FLAGS are read once, at backend start); each run is
a fresh `loop.build`, so a fresh trace and compile.
"""
from __future__ import annotations

import os
import statistics
import time

RECIPES = {"cnn": None, "mlp": "experiments/mnist1d_baselines.py:mlp"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def recipe_config(recipe: str):
    """The jaxdl config of a recipe: 'cnn' = jaxdl.config.default(), 'mlp' = the baselines' mlp."""
    from jaxdl import config as config_lib
    if RECIPES[recipe] is None:
        return config_lib.default()
    return config_lib.from_file(os.path.join(ROOT, RECIPES[recipe]))


def recipe_cli_args(recipe: str) -> list[str]:
    return [] if RECIPES[recipe] is None else ["--config", RECIPES[recipe]]


def measure_one(recipe: str, execution: str = "auto", chunk_size: int = 100, variant: str = "",
                warmup: int = 200, window: int = 1000, windows: int = 5) -> dict:
    import jax

    from bench import variants
    from jaxdl import rng
    from jaxdl.data import pipeline
    from jaxdl.training import loop
    from jaxdl.training import step as step_lib

    with variants.applied(variant):
        config = recipe_config(recipe)
        config.execution = execution
        config.chunk_size = chunk_size
        run = loop.build(config)
        data = (run.device_data() if hasattr(run, "device_data")
                else pipeline.to_device(run.dataset))
        state = run.init(rng.root_key(config.seed))
        jax.block_until_ready(state)

        def chunk(state):  # the per-chunk work of the driver, without eval/checkpoint/progress
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
        rates, chunk_times = [], []
        for _ in range(windows):
            t_window = time.perf_counter()
            for _ in range(n_chunks):
                t = time.perf_counter()
                state = chunk(state)
                chunk_times.append(time.perf_counter() - t)
            rates.append(n_chunks * chunk_size / (time.perf_counter() - t_window))
    steady = statistics.median(chunk_times)
    return {"recipe": recipe, "execution": run.execution, "chunk_size": chunk_size,
            "variant": variant, "steps_per_s": statistics.median(rates), "rates": rates,
            "compile_s": first - steady, "first_chunk_s": first, "steady_chunk_s": steady}


def measure(recipe: str, runs: list[dict], warmup: int = 200, window: int = 1000,
            windows: int = 5, jax_config: dict | None = None) -> list[dict]:
    """`measure_one` for each dict of (execution, chunk_size, variant) in `runs`."""
    import jax
    for key, value in (jax_config or {}).items():
        jax.config.update(key, value)
    return [measure_one(recipe, warmup=warmup, window=window, windows=windows, **run)
            for run in runs]
