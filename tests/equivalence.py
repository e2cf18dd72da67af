"""Runs that tests compare: vectorized trials against one-by-one runs, and a run against
the same chunks around a frozen reference step (tests/reference_step.py,
tests/reference_objective.py, tests/reference_ssl_objective.py)."""
import jax
import numpy as np

from jaxdl import rng
from jaxdl.data import pipeline
from jaxdl.study import vectorize
from jaxdl.training import loop
from jaxdl.training import step as step_lib


def vectorized_and_single(configs: list, steps: int):
    """(state, metrics) of `configs` trained as one vmapped program for `steps` steps, and
    each config's metrics trained alone on the same data (the first config's)."""
    first = loop.build(configs[0])
    program = vectorize.build_program(first)
    data = pipeline.to_device(first.dataset)
    state, metrics = program.chunk(vectorize.initial_state(program, configs), data, steps)
    singles = []
    for config in configs:
        single = loop.build(config)
        singles.append(single.train_chunk(single.init(rng.root_key(config.seed)), data, steps)[1])
    return (first, program, state, metrics), singles


def run_and_reference(run, reference_step, lengths: list[int]) -> list[tuple]:
    """Chunks of `lengths` steps of `run.train_chunk`, and of the same chunk built around
    `reference_step` (a frozen old train step) as `loop.build` builds the run's (its
    execution, placement and state sharding), each from the run's initial state on the
    run's data: per chunk ((state, metrics) of the run, (state, metrics) of the
    reference), on the host."""
    config = run.config
    reference_chunk = step_lib.make_train_chunk(reference_step, config.batch_size, run.execution,
                                                run.placement, run.state_sharding)
    data = run.device_data()
    current, reference = run.init(rng.root_key(config.seed)), run.init(rng.root_key(config.seed))
    chunks = []
    for length in lengths:
        current, current_metrics = run.train_chunk(current, data, length)
        reference, reference_metrics = reference_chunk(reference, data, length)
        # copies: the next chunk donates (and may overwrite) the states' buffers
        chunks.append(jax.tree.map(np.array, jax.device_get(
            ((current, current_metrics), (reference, reference_metrics)))))
    return chunks
