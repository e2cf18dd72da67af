"""A training loop of your own, from jaxdl's public pieces: the whole run as a pure
function, a loop over compiled chunks, and a loop over single steps with batches you
draw — each ending with the params of `jaxdl.train`, bit for bit.
Run it: `python docs/guide/own_loop.py [RUN_DIR]` (default: new directories in runs/)."""
import copy
import sys

import jax
import numpy as np

import jaxdl
from jaxdl import rng
from jaxdl.data import pipeline

config = jaxdl.config.default()
config.model.name = "mlp"  # a small MLP on MNIST-1D
config.model.width, config.model.depth = 32, 1
config.steps, config.eval_every, config.checkpoint_every = 300, 100, 300
key = rng.root_key(config.seed)  # the run's root key: every random number derives from it


def same_bits(a, b):
    return all(jax.tree.leaves(jax.tree.map(lambda x, y: np.array_equal(x, y), a, b)))


# jaxdl's own loop, for reference: evaluation, logs and checkpoints in RUN_DIR.
workdir = sys.argv[1] if len(sys.argv) > 1 else None
result = jaxdl.train(config, workdir, progress=False)
reference = jaxdl.load_run(result["workdir"]).state()  # the state at its last step

# 1. The whole run as one pure function of the key (no I/O): jit- and vmap-able.
train = jaxdl.make_train(config)
state, metrics = train(key)  # metrics["loss"]: the loss of every step, shape (300,)
assert same_bits(state.params, reference.params)

# 2. Your loop over compiled chunks: between them, log, evaluate or save as you like.
run = jaxdl.build(config)  # validated, data loaded, model traced; what jaxdl.train runs
data = run.device_data()
state = run.init(key)
for _ in range(3):
    state, metrics = run.train_chunk(state, data, 100)  # 100 steps; DONATES the state given
    print(f"step {int(state.step)}: training loss {float(metrics['loss'][-1]):.4f}")
assert same_bits(state.params, reference.params)  # chunking never changes a bit

# 3. Your loop over single steps, on batches you draw: run.train_step is one pure step
# (your jit, your donation); pipeline.batch_at(data, data_key, s) is the batch of step s.
# One compiled step per call is jaxdl's `loop` execution: compare with that run.
stepwise = copy.deepcopy(config)
stepwise.execution = "loop"
run = jaxdl.build(stepwise)
data, state = run.device_data(), run.init(key)
data_key = rng.purpose_key(key, rng.DATA_ORDER)
step = jax.jit(run.train_step, donate_argnums=0)  # donated: rebind `state` at every call
for s in range(stepwise.steps):
    state, metrics = step(state, pipeline.batch_at(data, data_key, s, stepwise.batch_size))
looped = jaxdl.train(stepwise, None if workdir is None else workdir + "-loop", progress=False)
assert same_bits(state.params, jaxdl.load_run(looped["workdir"]).state().params)
print(f"make_train, chunks and steps: the params of jaxdl.train, bit for bit "
      f"(test accuracy {result['test']['accuracy']:.3f})")
