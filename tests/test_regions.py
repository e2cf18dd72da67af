"""Exact linear-region counts along a path, and the claim (Hanin & Rolnick 2019): at He
initialization the count grows about linearly with the total number of neurons,
whatever the depth — not exponentially with depth."""
import jax
import numpy as np

from jaxdl import models
from jaxdl.probes import regions


def test_breakpoints_by_hand():
    # one input, three ReLUs switching on at t = 0.25, 0.5, 0.75; a linear head
    layers = [(np.ones((1, 3)), np.array([-0.25, -0.5, -0.75])), (np.ones((3, 1)), np.zeros(1))]
    assert regions.count_regions(layers, np.array([0.0]), np.array([1.0])) == 4
    # the image of the path after the hidden layer: slopes 1, 2, 3 on the last three quarters
    lengths = regions.trajectory_lengths(layers, np.array([0.0]), np.array([1.0]))
    np.testing.assert_allclose(lengths, [1.0, 0.25 * (1 + np.sqrt(2) + np.sqrt(3))])


def test_exact_count_equals_activation_patterns_on_a_fine_grid():
    rng = np.random.default_rng(0)
    layers = [(rng.normal(size=(3, 8)), rng.normal(size=8)),
              (rng.normal(size=(8, 8)) / np.sqrt(8), rng.normal(size=8)),
              (rng.normal(size=(8, 1)), np.zeros(1))]
    x0, x1 = rng.normal(size=3), rng.normal(size=3)
    t = np.linspace(0, 1, 200_001)[:, None]
    h, patterns = x0 + t * (x1 - x0), []
    for kernel, bias in layers[:-1]:
        z = h @ kernel + bias
        patterns.append(z > 0)
        h = np.maximum(z, 0)
    codes = np.concatenate(patterns, axis=1)
    changes = int(np.sum(np.any(codes[1:] != codes[:-1], axis=1)))
    assert regions.count_regions(layers, x0, x1) == changes + 1


def mean_count(total_neurons: int, depth: int, seeds: int = 8, d: int = 20) -> float:
    model = models.build("mlp", 1, width=total_neurons // depth, depth=depth, weight_init="he")
    init = jax.vmap(lambda k: model.init(k, np.zeros((1, d), np.float32), train=False))
    params = jax.device_get(jax.jit(init)(jax.random.split(jax.random.PRNGKey(0), seeds)))["params"]
    counts = []
    for seed in range(seeds):
        layers = regions.mlp_layers(jax.tree.map(lambda p: p[seed], params))
        rng = np.random.default_rng(seed)
        x0, x1 = (5 * v / np.linalg.norm(v) for v in rng.normal(size=(2, d)))
        counts.append(regions.count_regions(layers, x0, x1))
    return float(np.mean(counts))


def test_region_count_at_he_init_grows_linearly_with_neurons_not_with_depth():
    sizes, depths = (32, 64, 128, 256), (1, 2, 4)
    counts = np.array([[mean_count(n, depth) for depth in depths] for n in sizes])
    slope = np.polyfit(np.log(sizes), np.log(counts.mean(axis=1)), 1)[0]
    assert 0.75 < slope < 1.25, (slope, counts)  # linear in the number of neurons
    # at a fixed number of neurons depth barely matters (2^depth would be 8x from 1 to 4)
    assert np.all(counts.max(axis=1) / counts.min(axis=1) < 2), counts
