"""The MLP's batch-norm option and the claims of experiments/trainability.py as tests.

- `batch_norm=False` (the default) is the MLP of before, parameter for parameter and bit
  for bit (checked against a copy of the old layer loop);
- `batch_norm=True` puts a BatchNorm between every hidden Dense and its activation, keeps
  running statistics in `batch_stats`, and makes training-mode outputs independent of the
  hidden kernels' scale — the reason BN tolerates a badly scaled initialization;
- the claim, trained through the core on MNIST-1D at depth 20: a plain ReLU network at the
  study's naive init N(0, 0.01²) stays at chance while He init trains (He et al. 2015), and
  batch norm rescues the naive init (Ioffe & Szegedy 2015).
"""
from __future__ import annotations

import importlib.util
import math
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import scipy.stats

from jaxdl import config as config_lib
from jaxdl import models
from jaxdl.models import layers
from jaxdl.training import loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
X = jax.random.normal(jax.random.key(1), (16, 40))


def load_study():
    path = os.path.join(ROOT, "experiments", "trainability.py")
    spec = importlib.util.spec_from_file_location("trainability_study", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


study = load_study()


class MLPBefore(nn.Module):
    """The MLP's layer loop as it was before the batch-norm option (dropout omitted: 0)."""
    width: int
    depth: int
    residual: bool

    @nn.compact
    def __call__(self, x, *, train: bool):
        h = layers.flatten(x)
        for i in range(self.depth):
            out = nn.relu(layers.dense(self.width, "lecun", 1.0)(h))
            h = h + out if self.residual and i > 0 else out
            h = nn.Dropout(0.0, deterministic=not train)(h)
        return layers.dense(10, "lecun", 1.0)(h)


@pytest.mark.parametrize("residual", [False, True])
def test_batch_norm_off_is_the_mlp_of_before_bit_for_bit(residual):
    new = models.build("mlp", 10, width=12, depth=3, residual=residual)
    old = MLPBefore(width=12, depth=3, residual=residual)
    key = {"params": jax.random.key(0)}
    v_new, v_old = new.init(key, X, train=False), old.init(key, X, train=False)
    assert set(v_new) == {"params"}  # no batch_stats collection
    assert jax.tree.structure(v_new) == jax.tree.structure(v_old)
    for a, b in zip(jax.tree.leaves(v_new), jax.tree.leaves(v_old)):
        np.testing.assert_array_equal(a, b)
    for train in (False, True):
        np.testing.assert_array_equal(new.apply(v_new, X, train=train),
                                      old.apply(v_old, X, train=train))


def test_batch_norm_sits_between_every_hidden_dense_and_its_activation():
    model = models.build("mlp", 10, width=12, depth=3, batch_norm=True)
    variables = model.init({"params": jax.random.key(0)}, X, train=False)
    params, stats = variables["params"], variables["batch_stats"]
    assert sorted(stats) == ["BatchNorm_0", "BatchNorm_1", "BatchNorm_2"]
    assert all("bias" not in params[f"Dense_{i}"] for i in range(3))  # BN's shift replaces it
    assert "bias" in params["Dense_3"]  # the linear head keeps its bias
    # one training step moves the running mean towards the batch mean of Dense_0's outputs
    _, new = model.apply(variables, X, train=True, mutable=["batch_stats"])
    batch_mean = np.asarray(X @ params["Dense_0"]["kernel"]).mean(axis=0)
    np.testing.assert_allclose(new["batch_stats"]["BatchNorm_0"]["mean"],
                               (1 - layers.BATCH_NORM_MOMENTUM) * batch_mean, rtol=1e-5,
                               atol=1e-7)


def test_batch_norm_makes_training_outputs_blind_to_the_hidden_weights_scale():
    """BN(a·Wh) = BN(Wh) for a > 0: scaling every hidden kernel by 100 or 0.1 leaves the
    logits unchanged (up to BN's epsilon), so a badly scaled init starts where a good one
    does; without BN a ReLU net's logits scale by a^depth."""
    def logits(batch_norm: bool, factor: float):
        model = models.build("mlp", 10, width=32, depth=4, batch_norm=batch_norm)
        v = model.init({"params": jax.random.key(0)}, X, train=False)
        hidden = {k: ({**p, "kernel": p["kernel"] * factor}
                      if k.startswith("Dense_") and k != "Dense_4" else p)
                  for k, p in v["params"].items()}
        out = model.apply({**v, "params": hidden}, X, train=True, mutable=["batch_stats"])
        return np.asarray(out[0])
    base = logits(True, 1.0)
    np.testing.assert_allclose(logits(True, 100.0), base, rtol=1e-4, atol=2e-4)
    # here BN sees variances ~1e-2 smaller: epsilon (1e-5) shifts each layer by ~eps/var ~ 2e-3
    np.testing.assert_allclose(logits(True, 0.1), base, rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(logits(False, 0.01), logits(False, 1.0) * 1e-8, rtol=1e-3,
                               atol=1e-12)  # zero biases: positively homogeneous, degree 4


def test_the_study_defines_naive_and_good_init_as_documented():
    assert study.INITS["he"] == {"model.weight_init": "he", "model.init_scale": 1.0}
    assert study.INITS["naive"] == {"model.weight_init": "normal", "model.init_scale": 0.01}
    kinds = {(p["model.residual"], p["model.batch_norm"], p["model.weight_init"])
             for p in study.architecture_points(study.DEPTH)}
    assert kinds == {(r, b, i) for r in (False, True) for b in (False, True)
                     for i in ("he", "normal")}
    assert len(study.SEEDS) >= 5 and study.TRAINS_ABOVE == pytest.approx(0.2)


def test_seed_counts_fisher_test_and_paired_effects_by_hand():
    """The study's counting of seeds that train (diverged and collapsed ones included),
    its one-sided Fisher exact test and its paired effect, on numbers worked by hand."""
    x, y = "plain, he, d20", "residual, he, d20"
    acc = pd.DataFrame({"trial": ["a", "b", "c", "d"], "config": [x, x, x, y],
                        "seed": [0, 1, 2, 0], "value": [0.5, 0.15, 0.1, 0.9]})
    curves = pd.DataFrame({"trial": ["a", "b", "b", "c", "d"],
                           "value": [0.5, 0.6, 0.15, 0.1, 0.9]})  # b peaked, then fell
    failed = pd.DataFrame({"config": [y, y]})
    counts = study.trains_count(acc, curves, failed)
    assert counts[x] == study.Count(trains=1, runs=3, diverged=0, collapsed=1)
    assert counts[y] == study.Count(trains=1, runs=3, diverged=2, collapsed=0)
    # P(all k trained seeds fall in the second group) under the hypergeometric law
    assert study.more_train(study.Count(0, 5, 0, 0), study.Count(5, 5, 0, 0)) == \
        pytest.approx(1 / math.comb(10, 5))
    assert study.more_train(study.Count(0, 5, 0, 0), study.Count(4, 5, 0, 0)) == \
        pytest.approx(math.comb(5, 4) / math.comb(10, 4))
    df = pd.DataFrame({"seed": [0, 1, 2, 0, 1, 2], "k": ["a"] * 3 + ["b"] * 3,
                       "value": [1.0, 2.0, 3.0, 2.0, 4.0, 3.0]})
    e = study.paired(df, "k", "a", "b")  # differences 1, 2, 0
    half = scipy.stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)
    assert (e["mean"], e["n"]) == (1.0, 3)
    assert e["high"] - e["mean"] == pytest.approx(half)
    assert study.sign_word(e) == "not resolved" and study.paired(df, "k", "a", "c") is None


def train_accuracy(point: dict, seed: int, steps: int, workdir: str) -> float:
    """Final train accuracy of the study's trial at `point`, shortened to `steps`."""
    base = study.get_config()
    config = config_lib.apply_overrides(base, [*study.sweep.overrides(point), f"seed={seed}",
                                               f"steps={steps}", "eval_every=0",
                                               "checkpoint_every=0"])
    config_lib.validate(config)
    return loop.train(config, workdir, progress=False)["train"]["accuracy"]


def test_at_depth_20_naive_init_stalls_a_plain_net_he_init_and_batch_norm_train_it(tmp_path):
    """The study's own depth-20 configurations, 300 steps, 2 seeds: naive-init plain nets
    stay within 0.03 of chance (their signal shrinks by ~0.06 per layer, 1e-24 after 20),
    He init and naive init + BN clear the study's 'trains' threshold on every seed."""
    points = {(p["model.batch_norm"], p["model.weight_init"]): p
              for p in study.architecture_points(study.DEPTH, residuals=(False,))}
    for seed in (0, 1):
        naive, he, naive_bn = (
            train_accuracy(points[key], seed, 300, str(tmp_path / f"{name}-{seed}"))
            for name, key in (("naive", (False, "normal")), ("he", (False, "he")),
                              ("naive_bn", (True, "normal"))))
        assert abs(naive - 0.1) < 0.03, naive
        assert he > study.TRAINS_ABOVE and naive_bn > study.TRAINS_ABOVE, (he, naive_bn)
