"""The supervised objective and train step as they were before adversarial training,
input/weight noise and supervised augmentation existed, verbatim (no attack, no pmap
axis; the step of commit db670a0~1 without its axis_name branch): the reference that the
bit-identity tests of those options, and of the default objective against the code
before config.objective (tests/test_ssl_training.py), compare the current step against.
Run in the test's own process, they give the bits of this machine's XLA build, so the
comparisons hold on any CPU."""
import jax
import jax.numpy as jnp
import optax

from jaxdl import losses, rng
from reference_step import apply_model  # tests/reference_step.py


def old_objective(model, loss_cfg, classify):
    """objective(params, model_state, batch, key) -> (loss + penalties, (metrics, model_state))."""
    per_example = losses.per_example_loss(loss_cfg.name, loss_cfg.label_smoothing)

    def objective(params, model_state, batch, key):
        x, y = batch
        outputs, model_state = apply_model(model, params, model_state, x, train=True,
                                                    key=key)
        loss = jnp.mean(per_example(outputs, y))
        metrics = {"loss": loss}
        if classify:
            metrics["accuracy"] = jnp.mean(losses.accuracy(outputs, y))
        total = loss
        if loss_cfg.l1 > 0:
            total = total + loss_cfg.l1 * losses.l1_penalty(params)
        if loss_cfg.l2 > 0:
            total = total + loss_cfg.l2 * losses.l2_penalty(params)
        return total, (metrics, model_state)

    return objective


def old_train_step(model, optimizer, loss_cfg, classify, transform=None):
    """The train step before the options, verbatim; `transform(state, x)` (test only)
    changes the inputs first."""
    grad_fn = jax.grad(old_objective(model, loss_cfg, classify), has_aux=True)

    def train_step(state, batch):
        if transform is not None:
            batch = (transform(state, batch[0]), batch[1])
        key = rng.step_key(state.key, rng.DROPOUT, state.step)
        grads, (metrics, model_state) = grad_fn(state.params, state.model_state, batch, key)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                             model_state=model_state), metrics

    return train_step
