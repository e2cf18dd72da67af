"""config.precision=bfloat16: bfloat16 compute around float32 params, loss and checkpoints."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdl
from jaxdl import config as config_lib
from jaxdl import models, rng
from jaxdl.models import precision
from jaxdl.training import loop


def short(precision_name: str, steps: int = 300):
    c = config_lib.default()
    c.precision, c.steps, c.eval_every, c.checkpoint_every = precision_name, steps, steps, steps
    return c


def test_bfloat16_step_multiplies_in_bfloat16_and_keeps_float32_state():
    run = loop.build(short("bfloat16"))
    state = run.init(rng.root_key(0))
    hlo = run.train_chunk.lower(state, run.device_data(), 2).as_text()
    dots = [line for line in hlo.splitlines() if "dot_general" in line]
    assert dots and all("bf16" in line for line in dots)  # every matmul, forward and backward
    state, metrics = run.train_chunk(state, run.device_data(), 2)
    assert {leaf.dtype for leaf in jax.tree.leaves(state.params)} == {jnp.dtype("float32")}
    assert {leaf.dtype for leaf in jax.tree.leaves(state.opt_state)
            if jnp.issubdtype(leaf.dtype, jnp.floating)} == {jnp.dtype("float32")}
    assert metrics["loss"].dtype == jnp.float32


def test_float32_is_the_model_itself():
    run = loop.build(short("float32"))
    assert not isinstance(run.model, precision.MixedPrecision)
    hlo = run.train_chunk.lower(run.init(rng.root_key(0)), run.device_data(), 2).as_text()
    assert "bf16" not in hlo


def test_bfloat16_trains_about_as_well_as_float32(tmp_path):
    f32 = jaxdl.train(short("float32"), str(tmp_path / "f32"), progress=False)
    bf16 = jaxdl.train(short("bfloat16"), str(tmp_path / "bf16"), progress=False)
    a, b = f32["test"]["accuracy"], bf16["test"]["accuracy"]
    assert a > 0.5 and abs(a - b) < 0.08, (a, b)  # rounding, not a different network


def test_mixed_precision_casts_inputs_params_and_outputs():
    model = precision.MixedPrecision(models.build("mlp", 3, width=8, depth=1))
    x = jnp.ones((2, 5))
    variables = model.init(jax.random.PRNGKey(0), x, train=False)  # float32 params
    assert variables["params"]["Dense_0"]["kernel"].dtype == jnp.float32
    out = model.apply(variables, x, train=False)
    assert out.dtype == jnp.float32
    reference = jax.tree.map(lambda a: a.astype(jnp.bfloat16), variables)
    expected = model.model.apply(reference, x.astype(jnp.bfloat16), train=False)
    np.testing.assert_array_equal(out, expected.astype(jnp.float32))
    assert model.width == 8  # fields are the model's


def test_unknown_precision_is_a_config_error():
    with pytest.raises(config_lib.ConfigError, match=r"config.precision: must be one of float32, bfloat16"):
        loop.build(short("float16"))
