"""jaxdl's training throughput and compile time, measured through its own API.

`measure(recipe, runs, ...)` builds each run exactly as `jaxdl.train` does
(`loop.build`), then drives `run.train_chunk` with the same per-chunk work as
the driver (`int(state.step)`, `device_get` of the metrics, the NaN check on
metrics and params) and no evaluation, checkpoint or progress bar. Per run:

    compile_s     first chunk minus the median steady chunk of the same length
                  (tracing + XLA compilation + first-call setup; the persistent
                  compilation cache is off in bench workers: JAXDL_COMPILATION_CACHE='')
    steps_per_s   median over `windows` timed windows of ~`window` steps (whole
                  chunks) after `warmup` steps; the windows of all runs are
                  interleaved (round w of every run before round w+1 of any)

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


def resolved_execution(recipe: str) -> str:
    """What `execution=auto` resolves to for `recipe` here (built and traced, not compiled)."""
    from jaxdl.training import loop
    return loop.build(recipe_config(recipe)).execution


class Prepared:
    """One run built, compiled and warmed up; `window()` times `window` more steps."""

    def __init__(self, recipe: str, execution: str = "auto", chunk_size: int = 100,
                 warmup: int = 200):
        import jax

        from jaxdl import rng
        from jaxdl.training import loop
        from jaxdl.training import step as step_lib

        self.recipe, self.chunk_size = recipe, chunk_size
        self.chunk_times: list[float] = []
        config = recipe_config(recipe)
        config.execution = execution
        config.chunk_size = chunk_size
        run = loop.build(config)
        self.execution = run.execution
        data = run.device_data()
        state = run.init(rng.root_key(config.seed))
        jax.block_until_ready(state)

        def chunk(state):  # the driver's per-chunk work, without eval/checkpoint/progress
            start = int(state.step)
            state, metrics = run.train_chunk(state, data, chunk_size)
            metrics = jax.device_get(metrics)
            loop.check_finite(start, metrics, bool(step_lib.params_finite(state.params)))
            return state

        t = time.perf_counter()
        state = chunk(state)
        self.first = time.perf_counter() - t
        done = chunk_size
        while done < warmup:
            state = chunk(state)
            done += chunk_size
        self.chunk, self.state = chunk, state

    def window(self, steps: int) -> float:
        """Steps/s over ~`steps` steps (whole chunks)."""
        n_chunks = max(1, round(steps / self.chunk_size))
        t_window = time.perf_counter()
        for _ in range(n_chunks):
            t = time.perf_counter()
            self.state = self.chunk(self.state)
            self.chunk_times.append(time.perf_counter() - t)
        return n_chunks * self.chunk_size / (time.perf_counter() - t_window)

    def result(self, rates: list[float]) -> dict:
        steady = statistics.median(self.chunk_times)
        return {"recipe": self.recipe, "execution": self.execution, "chunk_size": self.chunk_size,
                "steps_per_s": statistics.median(rates), "rates": rates,
                "compile_s": self.first - steady, "first_chunk_s": self.first,
                "steady_chunk_s": steady}


def measure(recipe: str, runs: list[dict], warmup: int = 200, window: int = 1000,
            windows: int = 5, jax_config: dict | None = None) -> list[dict]:
    """Each dict of (execution, chunk_size) in `runs`: built, compiled and warmed up
    one after the other, then timed in `windows` rounds that visit every run once, in a
    rotating order: a load spike from another process hits all runs alike, so their
    ratios hold even when the machine is shared."""
    import jax
    for key, value in (jax_config or {}).items():
        jax.config.update(key, value)
    prepared = [Prepared(recipe, warmup=warmup, **run) for run in runs]
    rates: list[list[float]] = [[] for _ in prepared]
    for w in range(windows):
        order = list(range(len(prepared)))
        shift = w % len(order)
        for i in order[shift:] + order[:shift]:
            rates[i].append(prepared[i].window(window))
    return [p.result(r) for p, r in zip(prepared, rates)]
