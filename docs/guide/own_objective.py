"""Your own objective with a hyperparameter: the focal loss of focal_loss.py (beside this
file) on MNIST-1D. This file is a config file and a script:

    jaxdl train --config docs/guide/own_objective.py --config.objective.gamma=1.0
    python docs/guide/own_objective.py [RUN_DIR] [--config.KEY=VALUE ...]
"""
import hashlib
import json
import os
import sys

import numpy as np

import focal_loss  # beside this file: registers the objective "focal"
import jaxdl
from jaxdl import rng


def get_config(name=None):
    """A small MLP on MNIST-1D trained with the focal loss: `jaxdl train --config` this file."""
    config = jaxdl.config.default()
    config.model.name = "mlp"  # setting a section's name resets it to that entry's options
    config.model.width, config.model.depth = 64, 1
    config.objective.name = "focal"  # config.objective is now {name: focal, gamma: 2.0}
    config.steps, config.eval_every, config.checkpoint_every = 300, 100, 300
    return config


if __name__ == "__main__":
    overrides = [a for a in sys.argv[1:] if a.startswith("--config.")]
    workdir = next((a for a in sys.argv[1:] if not a.startswith("--")), None)
    config = jaxdl.config.load(__file__, overrides)  # get_config(), then the overrides
    result = jaxdl.train(config, workdir, progress=False)
    print(f"gamma {config.objective.gamma}: test accuracy {result['test']['accuracy']:.3f}")

    # config.json records gamma, and where "focal" came from: import path and source digest.
    saved = json.load(open(os.path.join(result["workdir"], "config.json")))
    print("config.json:", saved["objective"], saved["components"]["objective"])
    digest = "sha256:" + hashlib.sha256(open(focal_loss.__file__, "rb").read()).hexdigest()
    assert saved["objective"] == {"name": "focal", "gamma": config.objective.gamma}
    assert saved["components"]["objective"] == {"name": "focal", "path": "focal_loss:focal",
                                                "digest": digest}

    # A check that could fail: at gamma = 0 the focal loss is the cross-entropy, so its
    # per-step training losses are those of jaxdl's default objective (20 steps, same key).
    def step_losses(*overrides):
        short = jaxdl.config.load(__file__, ["--config.steps=20", *overrides])
        return np.asarray(jaxdl.make_train(short)(rng.root_key(short.seed))[1]["loss"])

    focal0 = step_losses("--config.objective.gamma=0.0")
    cross_entropy = step_losses("--config.objective.name=supervised")
    np.testing.assert_allclose(focal0, cross_entropy, rtol=1e-5)
    print(f"gamma 0 = cross-entropy: 20 step losses agree, max relative difference "
          f"{np.max(np.abs(focal0 / cross_entropy - 1)):.1e}")
