"""Accuracy on the line as a claim, small: across nine models, shifted accuracy is linear
in ID accuracy on probit axes for a shear shift, by the study's rule; the fit itself by
hand; and the study's verdict rules on hand-made numbers."""
import importlib.util

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from jaxdl.study import run, store, sweep

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


STUDY = """
import importlib.util
from jaxdl import config as config_lib
from jaxdl.study import sweep
spec = importlib.util.spec_from_file_location("aotl", {path!r})
aotl = importlib.util.module_from_spec(spec)
spec.loader.exec_module(aotl)
SWEEP = sweep.grid({{"model.width": [8, 32, 128], "data.num_samples": [1000, 2500, 5000]}})
SEEDS = (0,)
METRICS = ("measure/in_distribution", "measure/shear_x2")
def get_config(name=None):
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.steps = c.eval_every = c.checkpoint_every = 300
    return c
def measure(ctx):
    out = {{}}
    for name in ("in_distribution", "shear_x2"):
        x, y = aotl.shifted_test_set(name)
        out[name] = float((ctx.apply(x).argmax(-1) == y).mean())
    return out
"""


def test_claim_shear_shift_is_on_the_line(tmp_path):
    """Nine MLPs (widths 8, 32, 128 x 1000, 2500, 5000 samples, 300 steps), decided by the
    study's `line_status` at its bar (R² 0.9, on the 95% interval of r): six models could
    not resolve it (measured: R² 0.989, yet r's interval reached down to 0.947 <
    sqrt(0.9) = 0.949). Measured when written: R² 0.985, r in 0.963-0.998; 54 s on 2
    shared CPU cores. (Until issue 17: six models and a point R² of 0.8.)"""
    import os
    path = tmp_path / "zoo.py"
    path.write_text(STUDY.format(path=os.path.abspath("experiments/accuracy_on_the_line.py")))
    run.run_study(sweep.load_study(str(path)), str(tmp_path / "sweep"), progress=False)
    acc = pd.DataFrame([{m.split("/")[1]: v for _, m, v in r["rows"] if m.startswith("measure/")}
                        for r in store.records([str(tmp_path / "sweep")])])
    assert len(acc) == 9 and acc["in_distribution"].max() - acc["in_distribution"].min() > 0.15
    fit = stats.linregress(aotl.probit(acc["in_distribution"]), aotl.probit(acc["shear_x2"]))
    # Miller et al.: on a line, probit axes — the study's rule: r's interval clears sqrt(0.9)
    assert aotl.line_status(fit.rvalue, len(acc)) == aotl.ON, (fit.rvalue, len(acc))
    assert (acc["shear_x2"] < acc["in_distribution"]).mean() >= 0.5  # the shift costs accuracy
