"""The supervised objective as it was before adversarial training, input/weight noise and
supervised augmentation existed, verbatim (no attack, no pmap axis): the reference that the
bit-identity tests of those options compare the current step against."""
import jax.numpy as jnp

from jaxdl import losses
from jaxdl.training import step as step_lib


def old_objective(model, loss_cfg, classify):
    """objective(params, model_state, batch, key) -> (loss + penalties, (metrics, model_state))."""
    per_example = losses.per_example_loss(loss_cfg.name, loss_cfg.label_smoothing)

    def objective(params, model_state, batch, key):
        x, y = batch
        outputs, model_state = step_lib.apply_model(model, params, model_state, x, train=True,
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
