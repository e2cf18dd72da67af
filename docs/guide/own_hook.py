"""Your own hook: the top eigenvalue of the loss's Hessian (the sharpness) every 100 steps
of training, logged beside jaxdl's own metrics, then read back from the finished run.
Run it: `python docs/guide/own_hook.py [RUN_DIR]` (default: a new directory in runs/)."""
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

import jaxdl
from jaxdl import rng
from jaxdl import Hook

BATCH = 512  # the fixed batch: the first 512 training examples, the same at every call


def top_eigenvalue(loss, params, key, iterations=30):
    """Power iteration: v <- Hv / |Hv|, with the Hessian-vector product Hv as the forward
    derivative (jax.jvp) of the gradient (jax.grad) — the Hessian itself is never formed."""
    w, unravel = ravel_pytree(params)
    grad = jax.grad(lambda w: loss(unravel(w)))

    def power_step(_, carry):
        v, _ = carry
        hv = jax.jvp(grad, (w,), (v,))[1]
        return hv / jnp.linalg.norm(hv), v @ hv  # v @ Hv: the Rayleigh quotient

    v = jax.random.normal(key, w.shape)
    _, eigenvalue = jax.lax.fori_loop(0, iterations, power_step, (v / jnp.linalg.norm(v), 0.0))
    return eigenvalue


def training_loss(state, run):
    """The mean cross-entropy of the state's params on the fixed batch (inference mode)."""
    x, y = run.dataset.x_train[:BATCH], run.dataset.y_train[:BATCH]

    def loss(params):
        logits = run.model.apply({"params": params, **state.model_state}, x, train=False)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss


def sharpness(state, run):
    """The hook: a function of the state (and the built run) returning scalars to log.
    Its randomness comes from the run's key (jaxdl.rng), so a resumed run logs the same."""
    key = rng.step_key(state.key, rng.MEASURE, state.step)
    return {"top_eigenvalue": top_eigenvalue(training_loss(state, run), state.params, key)}


config = jaxdl.config.default()
config.model = jaxdl.config.named_section("model", "mlp")  # a small MLP on MNIST-1D
config.model.width, config.model.depth = 32, 1
config.steps, config.eval_every, config.checkpoint_every = 300, 100, 100

result = jaxdl.train(config, sys.argv[1] if len(sys.argv) > 1 else None, progress=False,
                     hooks=[Hook(sharpness, every=100)])  # split "sharpness", steps 100-300

# The hook's rows are in metrics.jsonl (and TensorBoard: sharpness/top_eigenvalue).
run = jaxdl.load_run(result["workdir"])
rows = run.metrics[run.metrics["split"] == "sharpness"]
print(rows[["step", "top_eigenvalue"]].to_string(index=False))

# Check against the exact Hessian at the last step (1,642 params: small enough to form).
state = run.state()
w, unravel = ravel_pytree(state.params)
hessian = jax.hessian(lambda w: training_loss(state, run.built)(unravel(w)))(w)
exact = np.max(np.abs(np.linalg.eigvalsh(np.asarray(hessian, np.float64))))
last = float(rows["top_eigenvalue"].iloc[-1])
print(f"step {int(state.step)}: power iteration {last:.4f}, exact {exact:.4f}")
assert abs(last - exact) < 0.05 * exact, (last, exact)
