"""The batch at step s is a pure function of (data key, s)."""
import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.data import pipeline

N, B = 103, 10  # 10 steps per epoch, 3 examples dropped from each


def indices(seed: int, step: int) -> np.ndarray:
    return np.asarray(pipeline.batch_indices(jax.random.PRNGKey(seed), step, N, B))


def test_each_epoch_is_a_permutation_without_repeats():
    for epoch in range(3):
        seen = np.concatenate([indices(0, s) for s in range(epoch * 10, epoch * 10 + 10)])
        assert len(seen) == 100 and len(set(seen.tolist())) == 100
        assert seen.min() >= 0 and seen.max() < N


def test_epochs_are_shuffled_differently():
    first = np.concatenate([indices(0, s) for s in range(10)])
    second = np.concatenate([indices(0, s) for s in range(10, 20)])
    assert not np.array_equal(first, second)


def test_batch_is_a_pure_function_of_seed_and_step():
    np.testing.assert_array_equal(indices(3, 17), indices(3, 17))
    assert not np.array_equal(indices(3, 17), indices(4, 17))
    # computed inside jit with a traced step, in any order: same indices
    traced = jax.jit(lambda s: pipeline.batch_indices(jax.random.PRNGKey(3), s, N, B))
    for step in (17, 0, 25):
        np.testing.assert_array_equal(traced(jnp.int32(step)), indices(3, step))


def test_batch_at_gathers_matching_rows():
    x = np.arange(N * 2, dtype=np.float32).reshape(N, 2)
    y = np.arange(N, dtype=np.int32)
    data = pipeline.DeviceData(jnp.asarray(x), jnp.asarray(y))
    bx, by = pipeline.batch_at(data, jax.random.PRNGKey(0), 5, B)
    np.testing.assert_array_equal(by, indices(0, 5))
    np.testing.assert_array_equal(bx, x[indices(0, 5)])
