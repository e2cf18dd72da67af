"""Power-law fits (jaxdl/study/fits.py): exponents, floors and residuals recovered from
curves made by hand."""
import numpy as np
import pytest

from jaxdl.study import fits


def test_power_law_recovers_the_exponent():
    n = np.array([100.0, 200, 400, 800, 1600])
    fit = fits.power_law(n, 3.0 * n ** -0.4)
    assert fit["b"] == pytest.approx(0.4) and fit["a"] == pytest.approx(3.0)
    assert fit["r"] == pytest.approx(-1.0) and fit["b_ci"] == pytest.approx(0.0, abs=1e-6)


def test_power_law_with_floor_recovers_exponent_and_floor():
    x = np.geomspace(60, 66000, 6)
    fit = fits.power_law_with_floor(x, 2.0 * x ** -0.6 + 1e-3)
    assert fit["b"] == pytest.approx(0.6, rel=1e-4) and fit["a"] == pytest.approx(2.0, rel=1e-3)
    assert fit["floor"] == pytest.approx(1e-3, rel=1e-3) and fit["rms"] < 1e-6


def test_power_law_with_floor_without_a_floor_and_with_noise():
    x = np.geomspace(4096, 2 ** 20, 5)
    clean = 5.0 * x ** -0.8
    assert fits.power_law_with_floor(x, clean)["floor"] == pytest.approx(0.0, abs=1e-9)
    noise = np.exp(0.05 * np.random.default_rng(0).standard_normal(5))
    noisy = fits.power_law_with_floor(x, clean * noise)
    assert 0.6 < noisy["b"] < 1.0 and 0.01 < noisy["rms"] < 0.06  # the 5% noise, seen


def test_a_flat_curve_has_exponent_zero_and_a_curved_one_a_large_residual():
    x = np.geomspace(60, 66000, 6)
    assert fits.power_law_with_floor(x, np.full(6, 0.05))["b"] == 0.0
    bumpy = np.array([0.05, 0.01, 0.05, 0.01, 0.05, 0.01])  # no power law plus floor fits it
    assert fits.power_law_with_floor(x, bumpy)["rms"] > 0.5


def test_bad_input_is_one_line():
    with pytest.raises(ValueError, match="needs >= 3 positive"):
        fits.power_law_with_floor(np.array([1.0, 2.0]), np.array([1.0, 0.5]))
    with pytest.raises(ValueError, match="needs >= 3 positive"):
        fits.power_law_with_floor(np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 0.5]))
