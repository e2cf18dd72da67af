"""jaxdl: a JAX research codebase for the science of deep learning.

    import jaxdl
    result = jaxdl.train(jaxdl.config.default())      # the MNIST-1D CNN recipe
    result["test"]["accuracy"]                        # ~0.94
    run = jaxdl.load_run(result["workdir"])           # the run, opened for reading
"""
from jaxdl import config

__all__ = ["config", "load_run", "train"]

__version__ = "0.1.0"


def train(config, workdir=None, **options):
    """Train (or resume) one run described by `config` in `workdir`; returns its result.

    Options: progress=True, restart=False, intervene=False, init_from=None —
    see `jaxdl.training.loop.train`.
    """
    from jaxdl.training import loop  # late: keeps `import jaxdl` light for the CLI's --help
    return loop.train(config, workdir, **options)


def load_run(directory):
    """The run in `directory` (finished or interrupted), opened for reading: its config,
    checkpointed states, metrics, history and result, `apply(x)` and `evaluate(split)` —
    see `jaxdl.training.opened`. Nothing in the directory is written."""
    from jaxdl.training import opened  # late, as for train
    return opened.load_run(directory)
