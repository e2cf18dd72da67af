"""jaxdl: a JAX research codebase for the science of deep learning.

    import jaxdl
    result = jaxdl.train(jaxdl.config.default())      # the MNIST-1D CNN recipe
    result["test"]["accuracy"]                        # ~0.94
    run = jaxdl.load_run(result["workdir"])           # the run, opened for reading
    train = jaxdl.make_train(jaxdl.config.default())  # the run as a pure function of the key
"""
from jaxdl import config
from jaxdl.training import loop, pure

__all__ = ["config", "load_run", "make_train", "train"]

__version__ = "0.1.0"


def train(config, workdir=None, *, hooks=(), **options):
    """Train (or resume) one run described by `config` in `workdir`; returns its result.

    hooks: your own measurements during training, e.g.
    `[jaxdl.training.hooks.Hook(fn, every=100)]` with `fn(state, run) -> {name: scalar}`:
    logged as their own split to metrics.jsonl and TensorBoard (docs/guide/own_hook.md).
    Options: progress=True, restart=False, intervene=False, init_from=None —
    see `jaxdl.training.loop.train`.
    """
    return loop.train(config, workdir, hooks=hooks, **options)


def make_train(config):
    """train(key) -> (final_state, per-step metrics): the whole run of `config` as one pure
    function with no I/O, which can be `jax.jit`-ed and `jax.vmap`-ed over keys;
    `train(jaxdl.rng.root_key(config.seed))` ends with bit for bit the params of
    `jaxdl.train(config)` on the same machine — see `jaxdl.training.pure.make_train`."""
    return pure.make_train(config)


def load_run(directory):
    """The run in `directory` (finished or interrupted), opened for reading: its config,
    checkpointed states, metrics, history and result, `apply(x)` and `evaluate(split)` —
    see `jaxdl.training.opened`. Nothing in the directory is written."""
    from jaxdl.training import opened  # late: pandas (~0.3 s), which `jaxdl train` never needs
    return opened.load_run(directory)
