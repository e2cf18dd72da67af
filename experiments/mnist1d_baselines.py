"""MNIST-1D baselines: logistic regression, MLP, CNN and GRU on the published dataset.

Claim (Greydanus & Kobak, "Scaling down deep learning with MNIST-1D", 2020/ICML 2024):
on the frozen MNIST-1D split (4000 train / 1000 test), the published models reach
test accuracy logistic 32%, MLP 68%, CNN 94%, GRU 91% — the dataset separates
architectures with inductive biases for translation from those without.

Each model is a named config; train one with

    jaxdl train --config experiments/mnist1d_baselines.py:cnn      # logistic | mlp | cnn | gru

and measure all four (seeds 0..S-1) into a markdown table with

    python experiments/mnist1d_baselines.py --seeds 3

Recipe for all four, as published: Adam 1e-2, batch 100, 6000 steps, no weight
decay. Models as published: logistic = one linear layer; MLP = 40-100-100-10
with a residual second layer (h + relu(W2 h)); CNN = 3 conv layers of 25
channels (kernels 5, 3, 3; stride 2; padding 1) + linear head; GRU =
bidirectional, hidden 6, all 40 outputs flattened into a linear head.

Published vs measured (test accuracy, mean ± 95% CI over seeds 0, 1, 2 on 2 CPU cores,
measured by `python experiments/mnist1d_baselines.py --seeds 3`):

| model    | published | jaxdl        |
|----------|-----------|--------------|
| logistic | 32%       | 31.6 ± 6.3%  |
| mlp      | 68%       | 65.7 ± 5.3%  |
| cnn      | 94%       | 93.3 ± 1.2%  |
| gru      | 91%       | 89.6 ± 4.8%  |

Per seed (0, 1, 2): logistic 30.0 30.2 34.5; mlp 63.2 67.1 66.7; cnn 93.5 92.8 93.7;
gru 90.6 90.9 87.4. Every mean is within 3 points of the published value
(tests/test_baselines.py, marked slow, checks this). The CI is a t interval
over 3 seeds, hence wide.
"""
from __future__ import annotations

import argparse
import tempfile

import ml_collections
import numpy as np

from jaxdl import config as config_lib

PUBLISHED = {"logistic": 0.32, "mlp": 0.68, "cnn": 0.94, "gru": 0.91}


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    """The published recipe with model `name` (default: cnn)."""
    name = name or "cnn"
    if name not in PUBLISHED:
        raise KeyError(f"unknown baseline {name!r}; choose one of {', '.join(PUBLISHED)}")
    c = config_lib.default()
    if name == "logistic":
        c.model = config_lib.named_section("model", "mlp")
        c.model.depth = 0
    elif name == "mlp":
        c.model = config_lib.named_section("model", "mlp")
        c.model.update(width=100, depth=2, residual=True)
    elif name == "gru":
        c.model = config_lib.named_section("model", "gru")
        c.model.update(hidden=6, bidirectional=True, readout="flatten")
    return c


def measure(seeds: int) -> dict[str, list[float]]:
    """Test accuracy of each baseline for seeds 0..seeds-1."""
    import jaxdl
    accuracies = {}
    for name in PUBLISHED:
        accuracies[name] = []
        for seed in range(seeds):
            config = get_config(name)
            config.seed = seed
            with tempfile.TemporaryDirectory() as workdir:
                result = jaxdl.train(config, f"{workdir}/run", progress=False)
            accuracies[name].append(result["test"]["accuracy"])
            print(f"{name} seed {seed}: test accuracy {accuracies[name][-1]:.4f}", flush=True)
    return accuracies


def table(accuracies: dict[str, list[float]]) -> str:
    from scipy import stats
    lines = ["| model    | published | jaxdl        |", "|----------|-----------|--------------|"]
    for name, values in accuracies.items():
        values = np.asarray(values) * 100
        half = (stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
                if len(values) > 1 else float("nan"))
        lines.append(f"| {name:<8} | {PUBLISHED[name]:.0%}       | "
                     f"{values.mean():.1f} ± {half:.1f}%  |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Measure the MNIST-1D baselines.")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per model")
    print(table(measure(parser.parse_args().seeds)))
