"""Deep double descent, the CNN arms alone: experiments/double_descent.py's CNN channel sweeps.

The same trials (same points, seeds, base config: the same trial ids) as the CNN arms of
experiments/double_descent.py, without its MLP arm, whose full run (160 trials, 34 min;
docs/studies/double_descent/) need not be repeated to add the CNN. Two arms: Adam for 100
epochs, with label noise and a clean control; and the MNIST-1D notebook's own recipe
(SGD 0.01, momentum 0.9, 500 epochs, label noise only), compared with the notebook's
published CNN curve (its peak c = 18, valley 19.64%, first c with train error 0 = 24).
Claims, setting, tolerances and measured numbers: experiments/double_descent.py (the CNN
paragraphs, `cnn_analysis` and `notebook_cnn_analysis`).

    jaxdl sweep experiments/double_descent_cnn.py           # Adam: 8 channel counts x 2 noise
                                                            # levels x 5 seeds; notebook: 8 x 5
    jaxdl sweep experiments/double_descent_cnn.py --quick   # 12 + 6 trials of 400 steps: smoke

A finished trial of this sweep is a finished trial of experiments/double_descent.py:
copying runs/double_descent_cnn/trials/* into runs/double_descent/trials/ (same base
config) lets `jaxdl sweep experiments/double_descent.py` skip them.
"""
from __future__ import annotations

import importlib.util
import os

from jaxdl.study import sweep

_SPEC = importlib.util.spec_from_file_location(
    "double_descent_study", os.path.join(os.path.dirname(os.path.abspath(__file__)), "double_descent.py"))
dd = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(dd)

get_config, measure, analyze = dd.get_config, dd.measure, dd.analyze
SWEEP = sweep.concat(dd.cnn_arm(dd.CHANNELS), dd.notebook_cnn_arm(dd.NOTEBOOK_CHANNELS))
SEEDS = dd.SEEDS
METRICS = dd.METRICS
PUBLISHED = {"CNN: peak where train error first reaches 0 (Nakkiran et al. 2019)":
             "yes (CIFAR-10 ResNets and CNNs)", **dd.NOTEBOOK_PUBLISHED}
QUICK = {"overrides": dd.QUICK["overrides"], "seeds": range(2),
         "sweep": sweep.concat(dd.cnn_arm((8, 32, 90), steps=400),
                               dd.notebook_cnn_arm((8, 16, 32), steps=400))}
