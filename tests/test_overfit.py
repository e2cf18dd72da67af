"""Overfit one small batch: a working MLP fits 8 examples exactly; the same model with a
learning rate too small to move (validation refuses lr = 0, so 1e-9) does not."""
import numpy as np
import pytest

from jaxdl import config as config_lib
from jaxdl.probes import overfit


def mlp_config(lr: float) -> config_lib.ml_collections.ConfigDict:
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")  # defaults: width 100, depth 2
    c.optimizer.lr = lr
    return c


def test_a_default_mlp_fits_eight_examples_and_a_frozen_one_does_not():
    fit = overfit.overfit_batch(mlp_config(1e-2), examples=8, steps=150)
    assert fit.passed and fit.accuracy == 1.0 and fit.loss < 0.05
    assert fit.losses.shape == (150,) and fit.losses[-1] < 0.01 * fit.losses[0]
    frozen = overfit.overfit_batch(mlp_config(1e-9), examples=8, steps=150)
    assert not frozen.passed and frozen.accuracy < 1.0
    # nothing moves: the loss stays at its initial value (ln 10 ≈ 2.3 for 10 classes, ±)
    np.testing.assert_allclose(frozen.losses, frozen.losses[0], rtol=1e-4)
    assert frozen.losses[0] == pytest.approx(fit.losses[0])  # same init: same seed's key


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="^examples: must be <= the training set size"):
        overfit.overfit_batch(mlp_config(1e-2), examples=10**6, steps=1)
    with pytest.raises(ValueError, match="^steps: "):
        overfit.overfit_batch(mlp_config(1e-2), steps=0)
    with pytest.raises(config_lib.ConfigError, match="config.optimizer.lr"):
        overfit.overfit_batch(mlp_config(0.0), steps=1)


def test_jaxdl_overfit_command_passes_and_fails_by_exit_status(capsys):
    from jaxdl import cli
    assert cli.main(["overfit", "--config.model.name=mlp", "--steps", "150"]) == 0
    assert capsys.readouterr().out.startswith("PASS: 8 examples, 150 steps")
    assert cli.main(["overfit", "--config.model.name=mlp", "--config.optimizer.lr=1e-9",
                     "--steps", "20"]) == 1
    assert capsys.readouterr().out.startswith("FAIL:")
    assert cli.main(["overfit", "--examples", "0"]) == 2
    assert capsys.readouterr().err.strip() == "jaxdl: error: examples: must be >= 1, got 0"
