"""jaxdl: a JAX research codebase for the science of deep learning.

    import jaxdl
    result = jaxdl.train(jaxdl.config.default())      # the MNIST-1D CNN recipe
    result["test"]["accuracy"]                        # ~0.94
    run = jaxdl.load_run(result["workdir"])           # the run, opened for reading
    train = jaxdl.make_train(jaxdl.config.default())  # the run as a pure function of the key
    run = jaxdl.build(jaxdl.config.default())         # its pieces, for a loop of your own

Your own components join the registries (docs/guide/):

    @jaxdl.models.register("rescnn")      # a flax module; its fields are config.model
    @jaxdl.data.register("moons")         # load(**options) -> jaxdl.data.Dataset
    @jaxdl.objectives.register("focal")   # make(setup, **options) -> loss
    @jaxdl.gradients.register("clipped")  # make(setup, **options) -> grad_fn
    jaxdl.train(config, workdir, hooks=[jaxdl.Hook(fn, every=100)])   # your measurements
"""
from jaxdl import config, data, gradients, models, objectives
from jaxdl.training import loop, pure
from jaxdl.training.hooks import Hook

__all__ = ["Hook", "build", "config", "data", "gradients", "load_run", "make_train", "models",
           "objectives", "train"]

__version__ = "0.1.0"


def train(config, workdir=None, *, hooks=(), **options):
    """Train (or resume) one run described by `config` in `workdir`; returns its result.

    hooks: your own measurements during training, e.g.
    `[jaxdl.Hook(fn, every=100)]` with `fn(state, run) -> {name: scalar}`:
    logged as their own split to metrics.jsonl and TensorBoard (docs/guide/own_hook.md).
    Re-running on the same workdir resumes from its newest checkpoint with the same bits;
    on a finished run it returns the stored result. Options (as `jaxdl train`'s flags):
    progress=True (a tqdm bar); restart=False (start from scratch when no checkpoint
    restores; they are moved aside); intervene=False (continue under a changed config,
    recorded in history.jsonl); init_from=None (a run directory to take the params from).
    """
    return loop.train(config, workdir, hooks=hooks, **options)


def make_train(config):
    """train(key) -> (final_state, per-step metrics): the whole run of `config` as one pure
    function with no I/O, which can be `jax.jit`-ed and `jax.vmap`-ed over keys;
    `train(jaxdl.rng.root_key(config.seed))` ends with bit for bit the params of
    `jaxdl.train(config)` on the same machine — see `jaxdl.training.pure.make_train`."""
    return pure.make_train(config)


def build(config):
    """The run of `config` built but not started, for a loop of your own
    (docs/guide/own_loop.md): validated, its data loaded, its model traced, its step
    compiled on first use. What `jaxdl.train` and `jaxdl.make_train` run:

    run.init(key) -> state            the initial TrainState (key: `jaxdl.rng.root_key(seed)`)
    run.device_data()                 the training arrays on the run's devices
    run.train_chunk(state, data, n)   -> (state after n steps, per-step metrics stacked);
                                      compiled once per n, the batch of step s drawn inside.
                                      It DONATES `state`: the state passed in is deleted, so
                                      keep the one it returns (copy what you want to keep first)
    run.train_step(state, (x, y))     -> (state, metrics): one pure step (not compiled, no
                                      donation) on a batch you give it
    run.evaluate, run.model, run.dataset, run.optimizer, run.config

    Chunks of any lengths end with the same bits as `jaxdl.train(config)` on the same
    machine; ``config.execution`` says whether a chunk is one `scan` or n compiled steps
    (`run.execution` is the one resolved). ConfigError (one line) for a bad config.
    """
    return loop.build(config)


def load_run(directory):
    """The run in `directory` (finished or interrupted), opened for reading: its config,
    checkpointed states, metrics, history and result, `apply(x)` and `evaluate(split)` —
    see `jaxdl.training.opened`. Nothing in the directory is written."""
    from jaxdl.training import opened  # late: pandas (~0.3 s), which `jaxdl train` never needs
    return opened.load_run(directory)
