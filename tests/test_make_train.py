"""`jaxdl.make_train(config) -> train(key)`: the whole run as one pure function of the key —
the same final params as `jaxdl.train` bit for bit, per-step losses as the driver's chunks,
jit-able, vmap-able over keys, and callable twice (the chunk's donation never reaches the
caller's arrays)."""
from __future__ import annotations

import copy
import warnings

import jax
import numpy as np
import pytest

import jaxdl
from jaxdl import config as C
from jaxdl import rng
from jaxdl.training import checkpoint, loop, pure

# vmap is another XLA program: the tolerance on the params' displacement, relative to their
# norm, after 40 steps (measured 0.0 on 2 CPU cores; vectorized trials, README: ~1e-6).
VMAP_RELATIVE = 1e-5


def short_config():
    c = C.default()
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = 40, 20, 20, 10
    return c


@pytest.fixture(scope="module")
def config():
    return short_config()


@pytest.fixture(scope="module")
def train(config):
    return jaxdl.make_train(config)


@pytest.fixture(scope="module")
def result(train, config):
    return train(rng.root_key(config.seed))


def leaves(tree) -> list[np.ndarray]:
    return [np.asarray(a) for a in jax.tree.leaves(tree)]


def assert_bitwise(a, b) -> None:
    a, b = leaves(a), leaves(b)
    assert len(a) == len(b) and a
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and np.array_equal(x, y)


def relative_distance(a, b) -> float:
    diff = sum(float(np.sum((x.astype(np.float64) - y) ** 2)) for x, y in zip(leaves(a), leaves(b)))
    norm = sum(float(np.sum(y.astype(np.float64) ** 2)) for y in leaves(b))
    return (diff / norm) ** 0.5


def test_public_api():
    assert "make_train" in jaxdl.__all__ and pure.__all__ == ["make_train"]


def test_final_params_equal_jaxdl_train_bit_for_bit(result, config, tmp_path):
    state, metrics = result
    jaxdl.train(config, str(tmp_path / "run"), progress=False)
    saved, _, _ = checkpoint.read_latest(str(tmp_path / "run"))
    assert int(saved["step"]) == int(state.step) == config.steps
    assert_bitwise(state.params, saved["params"])
    assert_bitwise(state.opt_state, saved["opt_state"])
    assert metrics["loss"].shape == (config.steps,)


def test_per_step_losses_equal_the_driver_chunks(result, config):
    run = loop.build(config)
    state, data, losses = run.init(rng.root_key(config.seed)), run.device_data(), []
    for length, _ in loop.chunks(0, loop.eval_points(config), config.chunk_size):
        state, metrics = run.train_chunk(state, data, length)
        losses.append(np.asarray(metrics["loss"]))
    assert np.array_equal(np.concatenate(losses), np.asarray(result[1]["loss"]))
    assert set(result[1]) == set(metrics)


def test_jit(train, result, config):
    state, metrics = jax.jit(train)(rng.root_key(config.seed))
    assert int(state.step) == config.steps
    assert metrics["loss"].shape == (config.steps,)
    assert relative_distance(state.params, result[0].params) <= VMAP_RELATIVE


def test_vmap_over_three_keys_matches_each_key_alone(train):
    keys = jax.random.split(rng.root_key(7), 3)
    states, metrics = jax.vmap(train)(keys)
    assert metrics["loss"].shape == (3, 40)
    for i in range(3):
        alone, _ = train(keys[i])
        one = jax.tree.map(lambda a: a[i], states.params)
        assert relative_distance(one, alone.params) <= VMAP_RELATIVE
    assert relative_distance(jax.tree.map(lambda a: a[0], states.params),
                             jax.tree.map(lambda a: a[1], states.params)) > 1e-2  # seeds differ


def test_called_twice_with_one_key_no_donation_trap(train, result, config):
    key = rng.root_key(config.seed)
    first = train(key)
    second = train(key)  # the chunk donated a state: never `key` nor anything of the caller's
    assert not key.is_deleted()
    assert_bitwise(first, second)
    assert_bitwise(first, result)


def test_loop_execution_is_the_scanned_run(config):
    looped = copy.deepcopy(config)
    looped.execution = "loop"
    state, _ = jaxdl.make_train(looped)(rng.root_key(config.seed))
    scanned = copy.deepcopy(config)
    scanned.execution = "scan"
    reference, _ = jaxdl.make_train(scanned)(rng.root_key(config.seed))
    assert_bitwise(state.params, reference.params)


def test_docstring_example_runs():
    lines = [line[4:] for line in pure.__doc__.splitlines() if line.startswith("    ")]
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. no donation warning under vmap
        exec("\n".join(lines), namespace)
    assert namespace["metrics"]["loss"].shape == (40,)
    assert abs(float(namespace["metrics"]["loss"][-1]) - 1.63) < 0.01
    assert namespace["states"].params["Dense_0"]["kernel"].shape == (3, 125, 10)
