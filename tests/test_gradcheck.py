"""The gradient check passes for every registered model and catches a wrong gradient."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import losses, models
from jaxdl.probes import gradcheck

INPUTS = {"mlp": (4, 40), "cnn1d": (4, 40), "gru": (4, 40), "resnet": (4, 16),
          "vit": (4, 16), "cnn2d": (4, 8, 8, 1)}
# Every layer type at its smallest depth: the float64 program of the default resnet and vit
# took 14-16 s each to compile; one block per stage and one transformer block check the
# same layers (stride change, projection shortcut, attention, MLP) in ~a third of that.
SMALL = {"resnet": {"stage_sizes": (1, 1), "width": 8}, "vit": {"depth": 1, "dim": 16,
                                                                "mlp_dim": 32}}


@pytest.mark.parametrize("name", sorted(models.REGISTRY.builtins()))
def test_autodiff_matches_finite_differences_for_every_model(name):
    # gelu: smooth, so finite differences never straddle a kink
    options = {"activation": "gelu"} if "activation" in models.defaults(name) else {}
    options.update(SMALL.get(name, {}))
    model = models.build(name, num_outputs=3, **options)
    x = jax.random.normal(jax.random.PRNGKey(1), INPUTS[name])
    y = jnp.arange(x.shape[0]) % 3
    variables = jax.jit(lambda k, x: model.init(k, x, train=False))(jax.random.PRNGKey(0), x)
    rest = {k: v for k, v in variables.items() if k != "params"}

    def loss(params):
        logits = model.apply({"params": params, **rest}, x.astype(jnp.float64), train=False)
        return jnp.mean(losses.cross_entropy(logits, y))

    errors = gradcheck.directional_gradcheck(loss, variables["params"], jax.random.PRNGKey(2))
    assert np.max(errors) < 1e-6, errors


def test_a_wrong_gradient_is_caught():
    params = {"w": jnp.array([1.0, -2.0, 0.5])}

    @jax.custom_vjp
    def f(w):
        return jnp.sum(w ** 3)

    f.defvjp(lambda w: (f(w), w), lambda w, g: (g * 2 * w,))  # wrong: should be 3 w^2
    errors = gradcheck.directional_gradcheck(lambda p: f(p["w"]), params, jax.random.PRNGKey(0))
    assert np.min(errors) > 1e-2
