"""Model stitching: the top of B run from a replaced layer is B itself when nothing is
replaced; a layer that a skip connection bypasses is refused; the least-squares init
stitches B into itself exactly; and the claim, small, decided by the study's own rule
(`_outcome`) at its bars: two seeds' CNNs stitch with a penalty near 0 (every layer's
mean at most NEAR_ZERO = 0.03), a random-init bottom does not (every mean above LARGE =
0.1). The test's networks train 1000 steps (the --quick length), where the study's
--quick run stitches seeds at 0.008 or less; the full run's 6000-step networks reach
0.033 ± 0.016 at Conv_2, "not resolved" at the same bar — a scale this test does not
claim to resolve. Each stitch is fitted 2000 Adam steps (the study's 10,000, shortened;
3000 before: seeds at 0.014 / -0.002, random bottoms at 0.130 / 0.386, and the test took
19-24 s of CPU against 16-21 s now, four runs of each interleaved on a shared 2-core Xeon:
most of it is the networks' training and the stitch's init and checks, not its steps).
Measured (2 seeds, Conv_1 / Conv_2): seeds 0.010 / 0.004, random 0.132 / 0.419; the same
bits with XLA_FLAGS=--xla_cpu_max_isa=AVX2, and seeds 0.006 / 0.017, random 0.140 / 0.412
with SSE4_2. Fewer stitch steps move the seeds' penalty at Conv_2 towards the 0.03 bar
(and the random bottoms' away from 0.1): 2000 keeps both margins. (Until issue 17 the test
asked only |penalty| <= 0.05 and random > 0.08, looser than the study.) The random bottom
is the claim with its effect removed: the same rule at NEAR_ZERO does not confirm it
(asserted).

Claim 3 (a SimCLR bottom into a supervised top, at most SMALL = 0.05) has two bottoms,
our recipe's SimCLR CNN and the MNIST-1D notebook's (experiments/ssl_methods.py's
recipe); its rule is checked by hand, each bottom its own verdict, and the stitch is
shown blind to a per-channel scale and offset of A's layer — why the notebook network's
PyTorch init, against the tops' lecun init, does not enter the stitch by itself. The
whole file: 6 passed in 30-33 s (`PYTHONPATH=. python -m pytest -q tests/test_stitching.py`,
2-core Intel Xeon shared with other jobs)."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from jaxdl import data, models
from jaxdl.probes import stitching
from jaxdl.study import report, run, store, sweep


def test_running_b_from_its_own_layer_output_is_b():
    model = models.build("cnn1d", 10)
    x = jax.random.normal(jax.random.PRNGKey(0), (7, 40))
    variables = model.init(jax.random.PRNGKey(1), x, train=False)
    logits = model.apply(variables, x, train=False)
    for layer in ("Conv_0", "Conv_1", "Conv_2", "Dense_0"):
        h = stitching.layer_output(model, variables, x, layer)
        np.testing.assert_allclose(stitching.run_from(model, variables, layer, h, x.shape),
                                   logits, rtol=1e-5, atol=1e-5)
    identity = stitching.Stitch(mean=jnp.zeros(25), std=jnp.ones(25), kernel=jnp.eye(25),
                                bias=jnp.zeros(25))
    h = stitching.layer_output(model, variables, x, "Conv_1")
    np.testing.assert_array_equal(stitching.apply_stitch(identity, h), h)


def test_a_layer_bypassed_by_a_skip_connection_is_refused():
    # The residual MLP's h = h + relu(Dense_1(h)): Dense_1's output is not all the top reads.
    model = models.build("mlp", 10, width=30, depth=2, residual=True)
    x = jax.random.normal(jax.random.PRNGKey(0), (9, 40))
    variables = model.init(jax.random.PRNGKey(1), x, train=False)
    stitching.check_stitchable(model, variables, "Dense_0", x)
    with pytest.raises(ValueError, match="layer Dense_1 is not the whole state"):
        stitching.check_stitchable(model, variables, "Dense_1", x)


def head(ds, train: int, test: int):
    """The first `train` training and `test` test examples of `ds`."""
    return type(ds)(ds.x_train[:train], ds.y_train[:train], ds.x_test[:test],
                    ds.y_test[:test], ds.num_classes, ds.name)


def test_least_squares_init_stitches_a_network_into_itself_exactly():
    ds = data.load("mnist1d")
    small = head(ds, 500, 300)
    model = models.build("cnn1d", 10)
    variables = model.init(jax.random.PRNGKey(3), ds.x_train[:1], train=False)
    result = stitching.stitching_penalty(model, variables, variables, "Conv_2", small,
                                         jax.random.PRNGKey(0), steps=0)
    assert result["penalty"] == 0.0 and result["accuracy_b"] > 0.05


STUDY = """
import importlib.util
spec = importlib.util.spec_from_file_location("stitching_study", {path!r})
st = importlib.util.module_from_spec(spec)
spec.loader.exec_module(st)
st.LAYERS = {{"cnn1d": ("Conv_1", "Conv_2")}}
st.KINDS = {{"seeds": {{}}, "random": {{}}}}
st.STITCH_STEPS = {stitch_steps}
SWEEP = [st.CNN]
SEEDS = (0, 1)
METRICS = ("test/accuracy",)
measure = st.measure
def get_config(name=None):
    c = st.get_config()
    c.steps = c.eval_every = c.checkpoint_every = {steps}
    return c
"""


def test_claim_seeds_stitch_and_random_bottoms_do_not(tmp_path):
    path = tmp_path / "st.py"
    path.write_text(STUDY.format(path=os.path.abspath("experiments/stitching.py"),
                                 stitch_steps=2000, steps=1000))
    run.run_study(sweep.load_study(str(path)), str(tmp_path / "sweep"), progress=False)
    values = [dict((m, v) for _, m, v in r["rows"]) for r in store.records([str(tmp_path / "sweep")])]
    st = sweep.load_module(os.path.abspath("experiments/stitching.py"))
    rows = {kind: pd.DataFrame([dict(zip(("layer", "mean", "low", "high"), (layer, *report.mean_ci(
                [v[f"measure/{kind}_{layer}"] for v in values])))) for layer in ("Conv_1", "Conv_2")])
            for kind in ("seeds", "random")}
    # Bansal et al.: another seed's bottom serves B's top; a random bottom does not.
    assert st._outcome(rows["seeds"], st.NEAR_ZERO) == "confirmed", rows["seeds"]
    assert (rows["seeds"]["mean"].abs() <= st.NEAR_ZERO).all(), rows["seeds"]
    assert st._outcome(rows["random"], st.LARGE, above=True) == "confirmed", rows["random"]
    # The effect removed (a bottom that learned nothing): the seeds' rule does not confirm.
    assert st._outcome(rows["random"], st.NEAR_ZERO) != "confirmed", rows["random"]
    assert (rows["random"]["mean"] > rows["seeds"]["mean"] + 0.08).all()


def test_the_stitch_does_not_see_a_per_channel_scale_and_offset_of_the_bottom():
    # Why the SimCLR bottoms' init (the notebook's torch init against the supervised tops'
    # lecun) does not enter the stitch by itself: A's layer is standardized per channel
    # first, so A's bottom with its layer's channels scaled and shifted (as a different
    # init scale would leave them) gets the same stitch, to float precision.
    ds = data.load("mnist1d")
    small = head(ds, 400, 200)
    model = models.build("cnn1d", 10)
    a = model.init(jax.random.PRNGKey(3), ds.x_train[:1], train=False)
    b = model.init(jax.random.PRNGKey(4), ds.x_train[:1], train=False)
    scale = jnp.exp(jax.random.normal(jax.random.PRNGKey(5), (25,)))  # positive, per channel
    shift = jax.random.normal(jax.random.PRNGKey(6), (25,))
    conv = a["params"]["Conv_1"]
    scaled = {"params": {**a["params"], "Conv_1": {"kernel": conv["kernel"] * scale,
                                                   "bias": conv["bias"] * scale + shift}}}
    x = jnp.asarray(small.x_train)
    h_b = stitching.layer_output(model, b, x, "Conv_1")
    stitches = [stitching.fit_stitch(model, b, "Conv_1", h, jnp.asarray(small.y_train),
                                     jax.random.PRNGKey(0), x.shape, h_b, steps=50)
                for h in (stitching.layer_output(model, v, x, "Conv_1") for v in (a, scaled))]
    h = stitching.layer_output(model, a, x, "Conv_1")
    np.testing.assert_allclose(stitching.apply_stitch(stitches[1], h * scale + shift),
                               stitching.apply_stitch(stitches[0], h), rtol=1e-3, atol=1e-3)


def test_each_simclr_bottom_gets_its_own_claim_3_verdict():
    # By hand, through the study's analyze: our recipe's SimCLR bottom with a large penalty
    # at the last conv ("refuted" at SMALL = 0.05), the notebook recipe's small everywhere
    # ("confirmed"); each its own row of the published table, the first under its old key.
    st = sweep.load_module(os.path.abspath("experiments/stitching.py"))
    penalties = {"seeds": (0.0, 0.01, 0.02), "random": (0.0, 0.2, 0.4),
                 "ssl": (0.0, 0.06, 0.14), "ssl_notebook": (0.0, 0.01, 0.02)}
    rows = [{"trial": f"{kind}{s}", "model.name": "cnn1d", "seed": s, "status": store.DONE,
             "step": 1, "metric": f"measure/{kind}_{layer}", "value": p + 0.002 * s}
            for kind, ps in penalties.items() for layer, p in zip(st.LAYERS["cnn1d"], ps)
            for s in range(5)]
    results = report.Results(pd.DataFrame(rows), ["model.name"], [], {}, pd.DataFrame())
    analysis = st.analyze(results)
    claim = "stitching penalty, self-supervised bottom into a supervised top"
    assert "(at most 0.05: refuted)" in analysis.published[claim][1]
    assert "(at most 0.05: confirmed)" in analysis.published[
        f"{claim} ({st.SSL_RECIPES['ssl_notebook']})"][1]
    assert "our recipe) into a supervised top stitches with a small penalty: refuted" in \
        analysis.verdict
    assert analysis.status == report.status_of(["confirmed", "confirmed", "refuted", "confirmed"])
