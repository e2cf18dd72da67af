"""Own study: does a wider gated MLP classify MNIST-1D better after a short budget?

Claim: on MNIST-1D, 400 Adam steps, the gated MLP of gated_mlp.py with 128 hidden
units reaches a higher test accuracy than with 8, paired by seed.

    jaxdl sweep docs/guide/own_study.py --workdir runs/own_study
    jaxdl report runs/own_study --study docs/guide/own_study.py
"""
import gated_mlp  # noqa: F401 - beside this file: registers the model "gated_mlp"
from jaxdl import config as config_lib
from jaxdl.study import report, sweep

WIDTHS = (8, 128)
SWEEP = sweep.axis("model.width", WIDTHS)  # an option of your own model
SEEDS = range(3)  # every width at every seed: paired by seed
METRICS = ("test/accuracy", "test/loss")
QUICK = {"overrides": {"steps": 100, "eval_every": 100, "checkpoint_every": 100},
         "seeds": range(2)}


def get_config(name=None):
    """The base config of every trial; the sweep sets model.width and the seed."""
    c = config_lib.default()
    c.model.name = "gated_mlp"  # the section becomes {name, width: 64, gated: True}
    c.steps, c.eval_every, c.checkpoint_every = 400, 200, 400
    return c


def analyze(results):
    """The verdict, decided by code: the paired difference's 95% CI must exclude 0."""
    final = results.final("test/accuracy")
    effect = report.paired_effect(final, "model.width", WIDTHS[0], WIDTHS[1]).iloc[0]
    confirmed = effect["low"] > 0
    text = report.ci_text(effect["mean"], effect["low"], effect["high"])
    verdict = (f"**{'Confirmed' if confirmed else 'Not shown'}.** Width {WIDTHS[1]} minus "
               f"width {WIDTHS[0]}: test accuracy {text} (95% CI, {int(effect['n'])} seeds, "
               f"paired); the interval {'excludes' if confirmed else 'contains'} 0.")
    by_width = report.with_ci_column(results.summary("test/accuracy", by=["model.width"]))
    return report.Analysis(tables={"test accuracy by width": by_width}, verdict=verdict)
