"""The batch at step s is a pure function of (data key, s)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


@pytest.mark.parametrize("n", [0, 1, 2, 3, N, 4000, 4096, 4097, 70_000])
@pytest.mark.parametrize("new_style_key", [False, True])
def test_permutation_is_jax_random_permutation_bit_for_bit(n, new_style_key):
    for seed in range(3):
        key = jax.random.key(seed) if new_style_key else jax.random.PRNGKey(seed)
        key = jax.random.fold_in(key, n)
        ours = jax.jit(pipeline.permutation, static_argnums=1)(key, n)
        theirs = jax.random.permutation(key, n)
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("n", [1, 5, 50, 4000, 70_000])
def test_stable_argsort_keeps_ties_in_order(n):
    keys = np.random.default_rng(n).integers(0, 8, n).astype(np.uint32) * np.uint32(2 ** 29 + 12345)
    keys[::3] ^= np.uint32(1)  # ties in the high and low bits alike
    np.testing.assert_array_equal(pipeline.stable_argsort_u32(jnp.asarray(keys)),
                                  np.argsort(keys, kind="stable"))


@pytest.mark.parametrize("copy", [True, False])
@pytest.mark.parametrize("shard", [(0, 1), (1, 2)])
def test_carried_epochs_give_batch_at_batches(copy, shard, monkeypatch):
    """Steps carrying their epoch (from a mid-epoch start, across epoch starts), with or
    without the training set in order, see exactly `batch_at`'s batches."""
    monkeypatch.setattr(pipeline, "PERMUTED_COPY_BYTES", 10 ** 9 if copy else 0)
    x = np.arange(N * 2, dtype=np.float32).reshape(N, 2)
    data = pipeline.DeviceData(jnp.asarray(x), jnp.arange(N, dtype=jnp.int32))
    key = jax.random.PRNGKey(7)
    carry = jax.jit(lambda s, e: pipeline.carried_epoch(data, key, s, e, B))
    batch = jax.jit(lambda s, e: pipeline.batch_at(data, key, s, B, shard, e))
    epoch = pipeline.epoch_at(data, key, 13, B)
    assert (epoch.data is not None) == copy
    for step in range(13, 42):
        epoch = carry(jnp.int32(step), epoch)
        got = batch(jnp.int32(step), epoch)
        want = pipeline.batch_at(data, key, step, B, shard)
        jax.tree.map(np.testing.assert_array_equal, got, want)
        index, count = shard
        np.testing.assert_array_equal(got[1], indices(7, step)[index * B // count:(index + 1) * B // count])
