"""The focal loss (Lin, Goyal, Girshick, He & Dollár 2017, "Focal Loss for Dense Object
Detection") as a jaxdl objective named "focal":

    FL(p_y) = -(1 - p_y)^gamma log p_y

gamma = 0 is the cross-entropy; a larger gamma down-weights the examples the model
already gets right. Importing this module registers it (docs/guide/own_objective.md)."""
import jax
import jax.numpy as jnp

from jaxdl import objectives


@objectives.register("focal")
def focal(setup, gamma: float = 2.0):
    """The factory: its keyword options with their defaults are config.objective
    (here config.objective.gamma); it returns the loss."""
    def loss(params, model_state, extra, batch, keys):
        x, y = batch
        logits, model_state = setup.apply(params, model_state, x, keys)  # dropout: keys
        log_p = jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=-1)[:, 0]
        value = jnp.mean(-(1 - jnp.exp(log_p)) ** gamma * log_p)
        accuracy = jnp.mean(jnp.argmax(logits, axis=-1) == y)
        return value, ({"loss": value, "accuracy": accuracy}, model_state)
    return loss


def check(options):
    """Its rules, checked with the config before any compute (a function named `check` in
    the component's module, or a `check` attribute of the factory)."""
    objectives.require(options["gamma"] >= 0, "gamma", "must be >= 0", options["gamma"])
