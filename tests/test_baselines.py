"""The MNIST-1D baselines reproduce the published test accuracies (slow: ~8 min)."""
import importlib.util
import os

import numpy as np
import pytest

PATH = os.path.join(os.path.dirname(__file__), "..", "experiments", "mnist1d_baselines.py")


def baselines():
    spec = importlib.util.spec_from_file_location("mnist1d_baselines", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_named_configs_are_the_published_models():
    b = baselines()
    assert b.get_config("logistic").model.depth == 0
    mlp = b.get_config("mlp").model
    assert (mlp.name, mlp.width, mlp.depth, mlp.residual) == ("mlp", 100, 2, True)
    assert b.get_config(None).model.name == "cnn1d"
    assert b.get_config("gru").model.hidden == 6
    with pytest.raises(KeyError, match="unknown baseline"):
        b.get_config("transformer")


@pytest.mark.slow
def test_measured_accuracy_within_3_points_of_published():
    b = baselines()
    measured = b.measure(seeds=3)
    for name, values in measured.items():
        assert abs(np.mean(values) - b.PUBLISHED[name]) <= 0.03, (name, values)
