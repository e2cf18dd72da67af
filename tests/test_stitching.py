"""Model stitching: the top of B run from a replaced layer is B itself when nothing is
replaced; and the claim, small: two seeds' CNNs stitch with a small penalty, a
random-init bottom does not."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import models
from jaxdl.probes import stitching
from jaxdl.study import run, store, sweep


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


STUDY = """
import importlib.util
spec = importlib.util.spec_from_file_location("stitching_study", {path!r})
st = importlib.util.module_from_spec(spec)
spec.loader.exec_module(st)
SWEEP = [st.MODELS[0]]
SEEDS = (0, 1)
METRICS = ("test/accuracy",)
measure = st.measure
def get_config(name=None):
    c = st.get_config()
    c.steps = c.eval_every = c.checkpoint_every = 600
    return c
"""


def test_claim_seeds_stitch_and_random_bottoms_do_not(tmp_path):
    path = tmp_path / "st.py"
    path.write_text(STUDY.format(path=os.path.abspath("experiments/stitching.py")))
    run.run_study(sweep.load_study(str(path)), str(tmp_path / "sweep"), progress=False)
    values = [dict((m, v) for _, m, v in r["rows"]) for r in store.records([str(tmp_path / "sweep")])]
    seeds = np.mean([v["measure/seeds_Conv_2"] for v in values])
    random = np.mean([v["measure/random_Conv_2"] for v in values])
    assert abs(seeds) < 0.06  # Bansal et al.: another seed's bottom serves B's top
    assert random > 0.15 and random > seeds + 0.1  # a random bottom does not
