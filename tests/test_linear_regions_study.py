"""Claims of experiments/linear_regions.py as tests, on the study's own segments (pairs of
MNIST-1D test inputs) and its own measures and fits, at He initialization — the
distribution jaxdl's `lecun` init × init_scale √2 draws from (Hanin & Rolnick 2019):

- the region count grows linearly with the total number of neurons, with the slope the
  zero-bias Crofton argument predicts (θ/π per neuron for one layer, θ the angle a
  segment subtends at the origin; deeper layers see the path's image, of no larger angle);
- at a fixed number of neurons, depth does not grow it exponentially;
- σ_w does not change the count at all (zero-bias ReLU nets are positively homogeneous)
  while the trajectory length after l layers scales exactly by (σ_w ratio)^l (Raghu et al.).
"""
import importlib.util
import math
import os

import numpy as np
import pytest

from jaxdl import data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_study():
    path = os.path.join(ROOT, "experiments", "linear_regions.py")
    spec = importlib.util.spec_from_file_location("linear_regions_study", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


study = load_study()


@pytest.fixture(scope="module")
def segments():
    return study.segments(data.load("mnist1d").x_test)


def init_layers(depth: int, width: int, seed: int, sigma: float = study.HE) -> list:
    """A ReLU MLP 40 -> width^depth -> 10 as jaxdl initialises the study's trials: weights
    N(0, σ_w² / fan_in) (lecun × init_scale σ_w; He at √2), zero biases. Drawn with numpy:
    the claim is about this distribution, and tracing jaxdl's init for every architecture
    costs a compile each (seconds on a loaded 2-core machine)."""
    generator = np.random.default_rng(seed)
    dims = [40, *[width] * depth, 10]
    return [(generator.normal(size=(a, b)) * sigma / np.sqrt(a), np.zeros(b))
            for a, b in zip(dims[:-1], dims[1:])]


def mean_counts(depth: int, width: int, segments, seeds=range(3)) -> list[float]:
    """Per seed: the mean region count over the study's segments."""
    return [study.describe(init_layers(depth, width, s), *segments)["regions"] for s in seeds]


def test_count_at_he_init_grows_linearly_with_neurons_at_the_predicted_slope(segments):
    theta = study.describe(init_layers(1, 8, 0), *segments)["theta"]  # mean angle / π
    rows = [(n, count) for n in (24, 48, 96, 192) for d in (1, 2, 3)
            for count in mean_counts(d, n // d, segments)]
    neurons, counts = np.array(rows).T
    fit = study.neuron_fit(neurons, counts)
    assert fit["r2"] > 0.97, fit  # a line explains the counts, whatever the depth
    assert 0.85 < fit["exponent"] < 1.15, fit  # breakpoints ∝ N^α with α ≈ 1
    # Crofton: θ/π per neuron in the first layer; later layers see an image of no larger
    # angle (ReLU contracts angles), so the slope is at most θ/π (+ sampling noise)
    assert 0.75 * theta < fit["slope"] < 1.1 * theta, (fit, theta)


def test_at_fixed_neurons_depth_does_not_grow_the_count_exponentially(segments):
    depths = [d for d in study.DEPTHS for _ in range(3)]
    counts = [c for d in study.DEPTHS for c in mean_counts(d, 48 // d, segments)]
    fit = study.depth_fit(np.array(depths), np.array(counts))
    # the maximum number of regions can grow like width^depth; the expected count stays put
    assert fit["factor_per_layer"] < 1.1 and fit["max_over_min"] < 1.5, fit


def test_sigma_w_rescales_the_trajectory_exactly_and_leaves_the_regions_alone(segments):
    small, large = (study.describe(init_layers(6, 16, 0, sigma), *segments)
                    for sigma in (1.0, 4.0))
    np.testing.assert_array_equal(small["counts"], large["counts"])
    # length after hidden layer l scales by 4^l (weights exactly proportional, zero biases)
    ratio = large["trajectory"] / small["trajectory"]
    np.testing.assert_allclose(ratio, np.broadcast_to(4.0 ** np.arange(7), ratio.shape), rtol=1e-9)
    assert large["growth"] / small["growth"] == pytest.approx(4.0, rel=1e-9)


def test_the_study_fits_recover_known_laws():
    n = np.array([16, 32, 64, 128])
    line = study.neuron_fit(n, 1 + 0.5 * n)  # breakpoints exactly 0.5 N
    assert line["slope"] == pytest.approx(0.5) and line["r2"] == pytest.approx(1.0)
    assert line["exponent"] == pytest.approx(1.0)
    depth = np.array([1, 2, 3, 4, 6])
    exponential = study.depth_fit(depth, 3.0 * 2.0 ** depth)
    assert exponential["factor_per_layer"] == pytest.approx(2.0)
    assert exponential["r2_exponential"] == pytest.approx(1.0)
    assert exponential["r2_linear"] < 0.95
    assert exponential["max_over_min"] == pytest.approx(32.0)


def test_the_sweep_holds_each_series_the_analysis_reads():
    points = {(p["model.depth"], p["model.width"], round(p["model.init_scale"], 6))
              for p in study.SWEEP}
    he = round(study.HE, 6)
    assert all((d, t // d, he) in points for t in study.TOTALS for d in study.DEPTHS)
    assert all((d, study.SIGMA_TOTAL // d, round(s, 6)) in points
               for d in study.DEPTHS for s in study.SIGMAS)
    assert study.HE == pytest.approx(math.sqrt(2)) and len(study.SEEDS) >= 5


@pytest.mark.slow
def test_the_quick_study_confirms_its_claims(tmp_path):
    """The whole study, --quick (60 trials; minutes on 2 cores): sweep, measure, report."""
    from jaxdl.study import report, run, sweep
    path = os.path.join(ROOT, "experiments", "linear_regions.py")
    run.run_study(sweep.load_study(path, quick=True), str(tmp_path), progress=False)
    text = open(report.write_report([str(tmp_path)], study=path)).read()
    assert "**Regions grow linearly with neurons at init: confirmed.**" in text
    assert "**Not exponential in depth at fixed neurons: confirmed.**" in text
    assert "identical at every σ_w in 10 of 10 (architecture, seed) groups" in text
