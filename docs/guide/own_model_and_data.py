"""Your own model and your own data, trained by jaxdl: register them, then name them in
the config. Run it: `python docs/guide/own_model_and_data.py [--config.KEY=VALUE ...]`."""
import sys

import flax.linen as nn
import numpy as np

import jaxdl
from jaxdl import data, models


@models.register("resmlp")
class ResMLP(nn.Module):
    """A dense layer, then `depth` residual blocks; every field but num_outputs is an
    option: config.model.width, config.model.depth."""
    num_outputs: int
    width: int = 32
    depth: int = 2

    @staticmethod
    def check(options, input_shape=None):  # optional: its rules, checked before any compute
        if options["depth"] < 0:
            raise models.OptionError("depth", "must be >= 0", options["depth"])

    @nn.compact
    def __call__(self, x, train: bool = False):
        h = nn.relu(nn.Dense(self.width)(x.reshape(x.shape[0], -1)))
        for _ in range(self.depth):
            h = h + nn.relu(nn.Dense(self.width)(h))
        return nn.Dense(self.num_outputs)(h)


@data.register("moons")
def load(n: int = 1000, noise: float = 0.1, seed: int = 0) -> data.Dataset:
    """Two interleaved half circles; the signature's defaults are config.data's options."""
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")  # becomes config.data.noise: ...
    rng = np.random.default_rng(seed)
    t, y = rng.uniform(0, np.pi, n), rng.integers(0, 2, n)
    x = np.stack([np.cos(t) + y, np.sin(t) * (1 - 2 * y) + 0.5 * y], axis=1)
    x = (x + noise * rng.normal(size=x.shape)).astype(np.float32)
    cut = 4 * n // 5
    return data.Dataset(x[:cut], y[:cut].astype(np.int32), x[cut:], y[cut:].astype(np.int32),
                        num_classes=2, name="moons")


if __name__ == "__main__":
    # Named like the built-ins: validated, overridable (--config.data.noise=0.3), sweepable,
    # and recorded in the run's config.json with their import path and source digest.
    config = jaxdl.config.load(None, ["--config.model.name=resmlp", "--config.data.name=moons",
                                      "--config.steps=1000", *sys.argv[1:]])
    result = jaxdl.train(config, progress=False)
    print(f"test accuracy {result['test']['accuracy']:.3f}; run in {result['workdir']}")
