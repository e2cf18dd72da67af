"""Exact linear-region counts along a path: by hand, against activation patterns on a fine
grid, the Crofton expectation at a zero-bias Gaussian init, and positive homogeneity. The
study's claims (count ~ neurons at He init, not exponential in depth) are tested in
tests/test_linear_regions_study.py."""
import numpy as np
import pytest

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


def test_angular_length_by_hand():
    # identity ReLU layer in 2-D; the path (1, -0.5) -> (-0.5, 1) has its first coordinate
    # positive for t < 2/3 and its second for t > 1/3: three regions. After the layer the
    # image runs along the x axis, from (0.5, 0) to (0, 0.5), then along the y axis: only
    # the middle piece turns, by π/2. The input subtends arccos(-0.8) at the origin.
    layers = [(np.eye(2), np.zeros(2)), (np.ones((2, 1)), np.zeros(1))]
    x0, x1 = np.array([1.0, -0.5]), np.array([-0.5, 1.0])
    assert regions.count_regions(layers, x0, x1) == 3
    theta = np.arccos(-0.8)
    np.testing.assert_allclose(regions.angular_lengths(layers, x0, x1), [theta, np.pi / 2])
    assert regions.expected_breakpoints(layers, x0, x1) == pytest.approx(2 * theta / np.pi)


def random_layers(rng, widths, d=10):
    dims = [d, *widths, 1]
    return [(rng.normal(size=(a, b)) * np.sqrt(2 / a), np.zeros(b))
            for a, b in zip(dims[:-1], dims[1:])]


def test_zero_bias_count_matches_the_crofton_expectation():
    # E[breakpoints] = Σ_l n_l Λ_(l-1) / π over isotropic Gaussian weights, zero biases;
    # one layer: n θ / π exactly. Mean of 400 random nets within 4 standard errors.
    rng = np.random.default_rng(0)
    x0, x1 = rng.normal(size=(2, 10))
    theta = np.arccos(x0 @ x1 / np.linalg.norm(x0) / np.linalg.norm(x1))
    for widths in ((16,), (16, 16, 16)):
        nets = [random_layers(rng, widths) for _ in range(400)]
        breaks = np.array([regions.count_regions(n, x0, x1) - 1 for n in nets])
        expected = np.array([regions.expected_breakpoints(n, x0, x1) for n in nets])
        if len(widths) == 1:
            np.testing.assert_allclose(expected, 16 * theta / np.pi)
        assert abs(breaks.mean() - expected.mean()) < 4 * breaks.std() / np.sqrt(len(nets)), widths


def test_positive_rescaling_keeps_the_regions_and_scales_the_lengths():
    # zero-bias ReLU layers are positively homogeneous: scaling layer l by c_l keeps every
    # activation pattern and multiplies the image after layer l by c_1 ... c_l
    rng = np.random.default_rng(1)
    layers = random_layers(rng, (12, 12, 12))
    scales = np.array([0.5, 3.0, 2.0, 7.0])
    scaled = [(w * c, b) for (w, b), c in zip(layers, scales)]
    x0, x1 = rng.normal(size=(2, 10))
    assert regions.count_regions(scaled, x0, x1) == regions.count_regions(layers, x0, x1)
    ratio = np.divide(regions.trajectory_lengths(scaled, x0, x1),
                      regions.trajectory_lengths(layers, x0, x1))
    np.testing.assert_allclose(ratio, np.cumprod([1.0, *scales[:-1]]), rtol=1e-10)
    np.testing.assert_allclose(regions.angular_lengths(scaled, x0, x1),
                               regions.angular_lengths(layers, x0, x1), rtol=1e-10)


def test_along_segments_gathers_the_per_segment_measures():
    rng = np.random.default_rng(2)
    layers = random_layers(rng, (8, 8))
    starts, ends = rng.normal(size=(2, 3, 10))
    out = regions.along_segments(layers, starts, ends)
    assert out["trajectory"].shape == out["angular"].shape == (3, 3)
    for i in range(3):
        assert out["regions"][i] == regions.count_regions(layers, starts[i], ends[i])
        np.testing.assert_allclose(out["trajectory"][i],
                                   regions.trajectory_lengths(layers, starts[i], ends[i]))
        assert out["breakpoints_expected"][i] == pytest.approx(
            regions.expected_breakpoints(layers, starts[i], ends[i]))
