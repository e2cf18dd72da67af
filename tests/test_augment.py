"""Augmentations: values by hand, what each must preserve, keys, jit and static shapes."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.data import augment

KEY = jax.random.PRNGKey(0)
SIGNALS = jax.random.normal(jax.random.PRNGKey(1), (6, 12))
IMAGES = jax.random.uniform(jax.random.PRNGKey(2), (5, 6, 7, 3))

# Options are passed by keyword everywhere, so the hand tests below (other values, same
# keywords and shapes) reuse these compiled programs: compiling dominates this file's time.
SIGNAL_AUGS = {
    "circular_shift": partial(augment.circular_shift, max_shift=3),
    "amplitude_scale": partial(augment.amplitude_scale, low=0.8, high=1.2),
    "slope_offset": partial(augment.slope_offset, max_slope=1.0, max_offset=0.5),
    "gaussian_noise": partial(augment.gaussian_noise, std=0.1),
    "crop_and_resize": partial(augment.crop_and_resize, min_scale=0.75),
    "gaussian_trend": partial(augment.gaussian_trend, slope_std=0.04, offset_std=0.3),
}
IMAGE_AUGS = {
    "random_crop": partial(augment.random_crop, padding=2),
    "random_resized_crop": partial(augment.random_resized_crop, scale=(0.08, 1.0), ratio=(0.75, 4 / 3)),
    "horizontal_flip": partial(augment.horizontal_flip, p=0.5),
    "color_jitter": partial(augment.color_jitter, brightness=0.4, contrast=0.4, saturation=0.4),
    "random_grayscale": partial(augment.random_grayscale, p=0.5),
    "gaussian_blur": partial(augment.gaussian_blur, sigma=(0.1, 2.0), kernel_size=3),
    "simclr_image": augment.simclr_image(),
}
ALL = [(name, aug, SIGNALS) for name, aug in SIGNAL_AUGS.items()] + \
      [(name, aug, IMAGES) for name, aug in IMAGE_AUGS.items()]


def example_key(i, key=KEY):
    return jax.random.fold_in(key, i)


@pytest.mark.parametrize("name,aug,x", ALL, ids=[a[0] for a in ALL])
def test_keys_jit_and_shapes(name, aug, x):
    out = aug(KEY, x)
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(out, aug(KEY, x))                      # same key, same bits
    assert not np.allclose(out, aug(jax.random.PRNGKey(7), x))           # another key, other bits


def test_jit_and_batch_size_independence():
    aug = augment.compose(IMAGE_AUGS["horizontal_flip"], IMAGE_AUGS["random_grayscale"])
    np.testing.assert_allclose(jax.jit(aug)(KEY, IMAGES), aug(KEY, IMAGES), rtol=1e-6)
    # example i depends on (key, i) only: a shorter batch augments its examples the same way
    crop = SIGNAL_AUGS["crop_and_resize"]
    np.testing.assert_allclose(crop(KEY, SIGNALS[:3]), crop(KEY, SIGNALS)[:3], rtol=1e-5, atol=1e-5)


def test_circular_shift_is_the_documented_rotation():
    out = np.asarray(augment.circular_shift(KEY, SIGNALS, max_shift=3))
    for i, (xi, oi) in enumerate(zip(np.asarray(SIGNALS), out)):
        s = int(jax.random.randint(example_key(i), (), -3, 4))
        np.testing.assert_array_equal(oi, np.roll(xi, s))
        np.testing.assert_array_equal(np.sort(oi), np.sort(xi))  # a permutation of its values
    shifted = augment.circular_shift(KEY, SIGNALS[..., None], max_shift=3)  # (B, L, C) too
    np.testing.assert_array_equal(shifted[..., 0], out)
    np.testing.assert_array_equal(augment.circular_shift(KEY, SIGNALS, max_shift=0), SIGNALS)


def test_one_sided_circular_shift():
    out = np.asarray(augment.circular_shift(KEY, SIGNALS, max_shift=3, min_shift=0))
    for i, (xi, oi) in enumerate(zip(np.asarray(SIGNALS), out)):
        np.testing.assert_array_equal(oi, np.roll(xi, int(jax.random.randint(example_key(i), (),
                                                                              0, 4))))


def notebook_detrend(x):
    """The notebook's `augment` up to its shift: x minus its mean and slope (numpy)."""
    t = np.arange(x.shape[1]) - (x.shape[1] - 1) / 2
    slopes = (x * t).sum(axis=1) / (t ** 2).sum()
    return x - x.mean(axis=1, keepdims=True) - slopes[:, None] * t


def test_remove_trend_is_the_notebooks_detrend():
    x = np.asarray(SIGNALS)
    out = np.asarray(augment.remove_trend(KEY, SIGNALS))
    np.testing.assert_allclose(out, notebook_detrend(x), atol=1e-5)
    np.testing.assert_allclose(augment.remove_trend(KEY, out), out, atol=1e-5)  # idempotent
    line = 0.3 * np.arange(12.0)[None] - 2.0
    np.testing.assert_allclose(augment.remove_trend(KEY, jnp.asarray(line)), 0 * line, atol=1e-5)
    np.testing.assert_allclose(augment.remove_trend(KEY, SIGNALS[..., None])[..., 0], out,
                               atol=1e-6)  # (B, L, C): per channel


def test_gaussian_trend_adds_a_centred_line_of_the_given_spread():
    added = np.asarray(augment.gaussian_trend(KEY, ZEROS, slope_std=0.04, offset_std=0.3))
    t = np.arange(100) - 49.5
    slopes = (added * t).sum(axis=1) / (t ** 2).sum()
    offsets = added.mean(axis=1)
    np.testing.assert_allclose(added, slopes[:, None] * t + offsets[:, None], atol=1e-5)
    assert abs(slopes.std() - 0.04) < 0.04 * 0.15 and abs(offsets.std() - 0.3) < 0.3 * 0.15


def test_amplitude_scale_is_one_factor_per_example():
    out = np.asarray(augment.amplitude_scale(KEY, SIGNALS, low=0.5, high=2.0))
    ratio = out / np.asarray(SIGNALS)
    np.testing.assert_allclose(ratio, ratio[:, :1].repeat(12, 1), rtol=1e-5)
    assert np.all((ratio[:, 0] >= 0.5) & (ratio[:, 0] <= 2.0))
    assert np.ptp(ratio[:, 0]) > 0.1  # examples get different factors


def test_slope_offset_adds_a_line():
    out = np.asarray(augment.slope_offset(KEY, SIGNALS, max_slope=2.0, max_offset=0.5))
    added = out - np.asarray(SIGNALS)
    t = np.linspace(0, 1, 12)
    for row in added:
        slope, offset = np.polyfit(t, row, 1)
        np.testing.assert_allclose(row, slope * t + offset, atol=1e-5)  # exactly a line
        assert abs(slope) <= 2.0 and abs(offset) <= 0.5
    # no slope: a constant shift per example
    flat = np.asarray(augment.slope_offset(KEY, SIGNALS, max_slope=0.0, max_offset=0.5))
    flat = flat - np.asarray(SIGNALS)
    np.testing.assert_allclose(flat, flat[:, :1].repeat(12, 1), atol=1e-6)


ZEROS = jnp.zeros((400, 100))


def test_gaussian_noise_has_its_std():
    noise = np.asarray(augment.gaussian_noise(KEY, ZEROS, std=0.3))
    assert abs(noise.std() - 0.3) < 0.3 * 0.02 and abs(noise.mean()) < 0.01
    np.testing.assert_array_equal(augment.gaussian_noise(KEY, SIGNALS, std=0.0), SIGNALS)


def test_resample_by_hand():
    x = jnp.array([0.0, 10.0, 20.0, 30.0])
    # between samples: linear; beyond the ends: clamped to the end values
    np.testing.assert_allclose(augment.resample(x, jnp.array([0.5, 2.25, -1.0, 3.7])),
                               [5.0, 22.5, 0.0, 30.0])


def test_crop_and_resize_of_a_ramp_is_a_gentler_ramp():
    ramp = jnp.tile(jnp.arange(12.0), (6, 1))
    np.testing.assert_allclose(augment.crop_and_resize(KEY, ramp, min_scale=1.0), ramp, atol=1e-5)
    out = np.asarray(augment.crop_and_resize(KEY, ramp, min_scale=0.5))
    for row in out:
        steps = np.diff(row)
        np.testing.assert_allclose(steps, steps[0], atol=1e-4)  # still linear
        assert 0.5 - 1e-5 <= steps[0] <= 1.0 + 1e-5 and row.min() >= 0 and row.max() <= 11
    assert np.ptp(out[:, 1] - out[:, 0]) > 0.05  # different windows per example


def test_random_crop_is_a_translation_of_the_padded_image():
    out = np.asarray(augment.random_crop(KEY, IMAGES, padding=2))
    padded = np.pad(np.asarray(IMAGES), ((0, 0), (2, 2), (2, 2), (0, 0)))
    for i in range(IMAGES.shape[0]):
        dy, dx = np.asarray(jax.random.randint(example_key(i), (2,), 0, 5))
        np.testing.assert_array_equal(out[i], padded[i, dy:dy + 6, dx:dx + 7])


def test_random_resized_crop_full_crop_is_identity_and_keeps_constants():
    # all of the 6 x 7 image: area 42 at aspect 7/6 is 6 rows by 7 columns
    same = augment.random_resized_crop(KEY, IMAGES, scale=(1.0, 1.0), ratio=(7 / 6, 7 / 6))
    np.testing.assert_allclose(same, IMAGES, atol=1e-5)
    const = jnp.full_like(IMAGES, 0.25)
    np.testing.assert_allclose(IMAGE_AUGS["random_resized_crop"](KEY, const), const, atol=1e-6)


def test_horizontal_flip():
    np.testing.assert_array_equal(augment.horizontal_flip(KEY, IMAGES, p=1.0), IMAGES[:, :, ::-1])
    np.testing.assert_array_equal(augment.horizontal_flip(KEY, IMAGES, p=0.0), IMAGES)
    flip = IMAGE_AUGS["horizontal_flip"]
    once = flip(KEY, IMAGES)
    np.testing.assert_array_equal(flip(KEY, once), IMAGES)  # the same key flips the same images back
    flipped = [not np.array_equal(a, b) for a, b in zip(once, IMAGES)]
    assert 0 < sum(flipped) < len(flipped)  # per image


def test_grayscale_is_the_luma_in_every_channel():
    gray = np.asarray(augment.random_grayscale(KEY, IMAGES, p=1.0))
    x = np.asarray(IMAGES)
    expected = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    for c in range(3):
        np.testing.assert_allclose(gray[..., c], expected, rtol=1e-6)
    np.testing.assert_array_equal(augment.random_grayscale(KEY, IMAGES, p=0.0), IMAGES)
    one_channel = IMAGES[..., :1]
    np.testing.assert_array_equal(augment.random_grayscale(KEY, one_channel, p=1.0), one_channel)


def test_color_jitter_factors():
    def jitter(x, b, c, s):
        return np.asarray(augment.color_jitter(KEY, x, brightness=b, contrast=c, saturation=s))

    def mean_luma(x):
        return np.tensordot(np.asarray(x), [0.299, 0.587, 0.114], axes=([-1], [0])).mean((1, 2))

    np.testing.assert_allclose(jitter(IMAGES, 0.0, 0.0, 0.0), IMAGES)
    dim = 0.25 * IMAGES + 0.25  # in [0.25, 0.5]: no clipping for factors in [0.5, 1.5]
    ratio = jitter(dim, 0.5, 0.0, 0.0) / np.asarray(dim)
    for r in ratio:
        np.testing.assert_allclose(r, r.flat[0], rtol=1e-5)  # one brightness factor per image
        assert 0.5 <= r.flat[0] <= 1.5
    # contrast keeps the mean luma while changing the pixels
    contrast = jitter(dim, 0.0, 0.5, 0.0)
    np.testing.assert_allclose(mean_luma(contrast), mean_luma(dim), rtol=1e-5)
    assert not np.allclose(contrast, dim)
    gray = augment.random_grayscale(KEY, dim, p=1.0)  # saturation leaves gray images alone
    np.testing.assert_allclose(jitter(gray, 0.0, 0.0, 0.9), gray, atol=1e-6)
    assert jitter(IMAGES, 0.9, 0.9, 0.9).max() <= 1.0


def test_gaussian_blur_by_hand():
    sigma = 0.8
    w = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * sigma ** 2))
    w /= w.sum()

    def blur_axis0(a):  # explicit loops, reflect padding: a[-1] = a[1], a[n] = a[n - 2]
        n, out = a.shape[0], np.zeros_like(a)
        for i in range(n):
            for t, d in enumerate((-1, 0, 1)):
                r = abs(i + d)
                out[i] += w[t] * a[2 * (n - 1) - r if r > n - 1 else r]
        return out

    x = np.asarray(IMAGES)
    expected = [blur_axis0(blur_axis0(im).swapaxes(0, 1)).swapaxes(0, 1) for im in x]
    got = augment.gaussian_blur(KEY, IMAGES, sigma=(sigma, sigma), kernel_size=3)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    const = jnp.full_like(IMAGES, 0.3)
    np.testing.assert_allclose(IMAGE_AUGS["gaussian_blur"](KEY, const), const, atol=1e-6)


def test_combinators():
    a, b = SIGNAL_AUGS["circular_shift"], SIGNAL_AUGS["gaussian_noise"]
    expected = b(jax.random.fold_in(KEY, 1), a(jax.random.fold_in(KEY, 0), SIGNALS))
    np.testing.assert_array_equal(augment.compose(a, b)(KEY, SIGNALS), expected)
    v1, v2 = augment.two_views(KEY, SIGNALS, a)
    np.testing.assert_array_equal(v1, a(jax.random.fold_in(KEY, 0), SIGNALS))
    np.testing.assert_array_equal(v2, a(jax.random.fold_in(KEY, 1), SIGNALS))
    assert not np.array_equal(v1, v2)
    np.testing.assert_array_equal(augment.random_apply(b, 0.0)(KEY, SIGNALS), SIGNALS)
    np.testing.assert_array_equal(augment.random_apply(b, 1.0)(KEY, SIGNALS),
                                  b(jax.random.fold_in(KEY, 0), SIGNALS))
    half = augment.random_apply(b, 0.5)(KEY, ZEROS)
    changed = np.any(np.asarray(half) != 0, axis=1)
    assert 0.4 < changed.mean() < 0.6  # per example, not per batch


def test_bad_inputs_raise_one_line():
    with pytest.raises(ValueError, match="signals of shape"):
        augment.circular_shift(KEY, IMAGES, max_shift=2)
    with pytest.raises(ValueError, match=r"images of shape \(B, H, W, C\)"):
        augment.horizontal_flip(KEY, SIGNALS, p=0.5)
    with pytest.raises(ValueError, match="kernel_size must be a positive odd"):
        augment.gaussian_blur(KEY, IMAGES, sigma=(0.1, 2.0), kernel_size=4)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        augment.random_grayscale(KEY, jnp.zeros((1, 2, 2, 2)), p=1.0)
