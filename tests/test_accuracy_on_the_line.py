"""Accuracy on the line as a claim, small: across 24 models (3 widths x 2 data sizes x 4
seeds), shifted accuracy is linear in ID accuracy on probit axes for a shear shift, by the
study's rule; the fit itself by hand; and the study's verdict rules on hand-made numbers."""
import importlib.util

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from jaxdl import config as config_lib
from jaxdl import pruning, rng
from jaxdl.study import measure
from jaxdl.training import loop

SPEC = importlib.util.spec_from_file_location("aotl", "experiments/accuracy_on_the_line.py")
aotl = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(aotl)


def test_line_fit_recovers_a_probit_line():
    ident = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    shifted = stats.norm.cdf(0.8 * stats.norm.ppf(ident) - 0.5)  # exactly on a probit line
    models = pd.DataFrame({name: ident for name in aotl.SHIFTS})
    models["shear_x2"] = shifted
    models["iid_noise_x5"] = [0.9, 0.2, 0.8, 0.3, 0.7, 0.1]  # no line
    fits = aotl.line_fits(models).set_index("shift")
    assert fits.loc["shear_x2", "slope"] == pytest.approx(0.8)
    assert fits.loc["shear_x2", "intercept"] == pytest.approx(-0.5)
    assert fits.loc["shear_x2", "R²"] == pytest.approx(1.0)
    assert fits.loc["shear_x2", "on the line"] == aotl.ON
    assert fits.loc["iid_noise_x5", "on the line"] == aotl.OFF  # r -0.52: not a rising line
    assert aotl.probit([0.0, 1.0]).tolist() == pytest.approx(stats.norm.ppf([1e-3, 1 - 1e-3]))


def test_a_shift_is_on_the_line_only_when_its_interval_clears_the_bar():
    """Fisher's z over n models: R² 0.99 over 72 models is on, 0.5 off; 0.92 straddles
    sqrt(0.9) (r in 0.937-0.972), and 3 models resolve nothing; a falling line is off."""
    assert aotl.line_status(np.sqrt(0.99), 72) == aotl.ON
    assert aotl.line_status(np.sqrt(0.5), 72) == aotl.OFF
    assert aotl.line_status(np.sqrt(0.92), 72) == aotl.NOT_RESOLVED
    assert aotl.line_status(np.sqrt(0.99), 3) == aotl.NOT_RESOLVED
    assert aotl.line_status(-0.99, 72) == aotl.OFF
    low, high = aotl.r_interval(0.9, 28)  # z = atanh 0.9 ± 1.96 / 5
    z = np.arctanh(0.9)
    assert (low, high) == pytest.approx((np.tanh(z - 0.392), np.tanh(z + 0.392)), abs=1e-4)


def test_the_claim_needs_most_shifts_on_the_line():
    on, off, open_ = aotl.ON, aotl.OFF, aotl.NOT_RESOLVED
    assert aotl.claim_outcome([on, on, on, off, off]) == "confirmed"
    assert aotl.claim_outcome([on, on, open_, off, off]) == "not resolved"
    assert aotl.claim_outcome([on, on, off, off, off]) == "refuted"
    assert aotl.claim_outcome([on, off, off, off, off]) == "refuted"  # the old rule: "Confirmed"
    assert aotl.claim_outcome([open_] * 5) == "not resolved"


def accuracies(width: int, num_samples: int, seeds: range, steps: int = 300) -> list[dict]:
    """Per seed, in-distribution and shear accuracy of the MNIST-1D MLP of `width` trained
    `steps` steps on `num_samples` examples: one build for the seeds (they share its compiled
    programs, as a sweep's trials do: run.run_for), trained by the core's driver without a
    run directory (pruning.train_steps, the bits of `jaxdl.train`: tests/test_pruning.py),
    applied as a sweep's measure applies it (measure.Context.apply)."""
    config = config_lib.default()
    config.model = config_lib.named_section("model", "mlp")
    config.model.width, config.data.num_samples, config.steps = width, num_samples, steps
    config_lib.validate(config)
    run = loop.build(config)
    out = []
    for seed in seeds:
        state = pruning.train_steps(run, run.init(rng.root_key(seed)), steps)
        ctx = measure.Context(trial=None, config=config, run=run, state=state, key=None,
                              _load=None, _trials=())
        out.append({name: float((np.asarray(ctx.apply(x)).argmax(-1) == y).mean())
                    for name, (x, y) in ((n, aotl.shifted_test_set(n))
                                         for n in ("in_distribution", "shear_x2"))})
    return out


def test_claim_shear_shift_is_on_the_line():
    """24 MLPs (widths 8, 32, 128 x 1000, 5000 samples x seeds 0-3, 300 steps), decided by
    the study's `line_status` at its bar (R² 0.9, on the 95% interval of r). Measured
    (2-core Intel Xeon, shared; XLA_FLAGS=--xla_cpu_max_isa=AVX2 gives the same bits):
    R² 0.979, r's interval from 0.975 (sqrt(0.9) = 0.949); under SSE4_2 0.977, from 0.972;
    over all 15 choices of 4 of seeds 0-5, from 0.969 at least. Why seeds: the nine models
    of one seed this test had before (widths 8, 32, 128 x 1000, 2500, 5000 samples: R²
    0.985, from 0.963) were one seed's luck — over seeds 0-5 and the two builds 6 of 12
    such zoos left the claim not resolved (from 0.925 at worst); six models could not
    resolve it either (R² 0.989, from 0.947). A configuration's seeds share its build, so
    they cost a tenth of a configuration. (Until issue 17: six models and a point R² of
    0.8. Until the suite's diet: nine trials through a sweep, with run directories,
    checkpoints and evaluations the claim does not read, 7.3 s of CPU; now 4 s.)"""
    acc = pd.DataFrame([a for w in (8, 32, 128) for n in (1000, 5000)
                        for a in accuracies(w, n, range(4))])
    assert len(acc) == 24 and acc["in_distribution"].max() - acc["in_distribution"].min() > 0.15
    fit = stats.linregress(aotl.probit(acc["in_distribution"]), aotl.probit(acc["shear_x2"]))
    # Miller et al.: on a line, probit axes — the study's rule: r's interval clears sqrt(0.9)
    assert aotl.line_status(fit.rvalue, len(acc)) == aotl.ON, (fit.rvalue, len(acc))
    assert (acc["shear_x2"] < acc["in_distribution"]).mean() >= 0.5  # the shift costs accuracy
