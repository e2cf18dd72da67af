"""jaxdl: a JAX research codebase for the science of deep learning.

    import jaxdl
    result = jaxdl.train(jaxdl.config.default())      # the MNIST-1D CNN recipe
    result["test"]["accuracy"]                        # ~0.94
"""
from jaxdl import config

__version__ = "0.1.0"


def train(config, workdir=None, **options):
    """Train (or resume) one run described by `config` in `workdir`; returns its result.

    Options: progress=True, restart=False, intervene=False, init_from=None —
    see `jaxdl.training.loop.train`.
    """
    from jaxdl.training import loop  # late: keeps `import jaxdl` light for the CLI's --help
    return loop.train(config, workdir, **options)
