"""Lipschitz bounds checked by hand, and the law of robustness as a claim: networks
that memorise random labels on the sphere have Lip >= sqrt(nd/p), and the wider
interpolator is the smoother one."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.probes import lipschitz
from jaxdl.study import run, store, sweep


def test_linear_map_bounds_equal_its_norm():
    w = jnp.array([[3.0, 0.0], [4.0, 0.0], [0.0, 1.0]])  # singular values 5 and 1
    x = jax.random.normal(jax.random.PRNGKey(0), (7, 3))
    norms = lipschitz.jacobian_norms(lambda v: v @ w, x)
    np.testing.assert_allclose(norms, 5.0, rtol=1e-6)  # Jacobian w.T everywhere: ||.||_2 = 5
    scalar = lipschitz.jacobian_norms(lambda v: v @ w[:, 0], x)
    np.testing.assert_allclose(scalar, 5.0, rtol=1e-6)  # gradient (3, 4, 0)
    assert lipschitz.spectral_norm(w) == pytest.approx(5.0)


def test_relu_network_gradient_and_upper_bound_by_hand():
    # f(x) = [-1, 1] . (V relu(W x)): at x = (1, 1) only unit 0 is active.
    w = np.array([[1.0, 2.0], [-3.0, -1.0]])   # kernel layout (in, out): h = relu(x @ w)
    v = np.array([[2.0, -1.0], [0.5, 0.5]])     # (hidden, 2 logits)
    params = {"Dense_0": {"kernel": w, "bias": np.zeros(2)},
              "Dense_1": {"kernel": v, "bias": np.zeros(2)}}
    def apply(x):
        return jnp.maximum(x @ w, 0) @ v
    f = lipschitz.margin(apply)
    x = jnp.array([[1.0, 1.0]])  # pre-activations (-2, 1): unit 1 active
    grad = w[:, 1] * (v[1, 1] - v[1, 0])  # = 0 here: both logits of unit 1 move alike
    assert lipschitz.jacobian_norms(f, x)[0] == pytest.approx(np.linalg.norm(grad))
    x = jnp.array([[1.0, -1.0]])  # pre-activations (4, -1): unit 0 active
    grad = w[:, 0] * (v[0, 1] - v[0, 0])  # (-3, 9)
    assert lipschitz.lipschitz_lower_bound(f, x) == pytest.approx(np.sqrt(90.0), rel=1e-6)
    upper = lipschitz.mlp_upper_bound(params, np.array([-1.0, 1.0]))
    assert upper == pytest.approx(np.linalg.norm(w, 2) * np.linalg.norm(v @ [-1, 1]))
    assert upper >= np.sqrt(90.0)


def test_law_of_robustness_scale_and_parameter_count():
    assert lipschitz.law_of_robustness_scale(100, 10, 250) == pytest.approx(2.0)
    assert lipschitz.parameter_count({"a": np.zeros((3, 4)), "b": [np.zeros(5)]}) == 17


STUDY = """
import numpy as np
from jaxdl import config as config_lib
from jaxdl.probes import lipschitz
from jaxdl.study import sweep
SWEEP = sweep.axis("model.width", (64, 2048))
SEEDS = (0,)
METRICS = ("train/accuracy", "measure/lip")
def get_config(name=None):
    c = config_lib.default()
    c.data = config_lib.named_section("data", "sphere")
    c.data.n, c.data.d, c.data.test_size = 100, 10, 100
    c.model = config_lib.named_section("model", "mlp")
    c.model.depth = 1
    c.loss.name = "mse"
    c.optimizer.lr = 3e-3
    c.optimizer.schedule.name = "constant"
    c.steps, c.eval_every, c.checkpoint_every, c.batch_size = 1000, 1000, 1000, 50
    return c
def measure(ctx):
    f = lipschitz.margin(ctx.apply)
    p = lipschitz.parameter_count(ctx.state.params)
    return {"lip": lipschitz.lipschitz_lower_bound(f, ctx.run.dataset.x_train),
            "bound": lipschitz.law_of_robustness_scale(100, 10, p)}
"""


def test_claim_interpolators_are_no_smoother_than_the_law_allows(tmp_path):
    path = tmp_path / "lor.py"
    path.write_text(STUDY)
    study = sweep.load_study(str(path))
    run.run_study(study, str(tmp_path / "sweep"), progress=False)
    final = {}
    for r in store.records([str(tmp_path / "sweep")]):
        values = {m: v for _, m, v in r["rows"]}
        final[r["point"]["model.width"]] = values
    for width, v in final.items():
        assert v["train/accuracy"] == 1.0, f"width {width} did not interpolate"
        assert v["measure/lip"] >= v["measure/bound"]  # Bubeck & Sellke, constant 1
    assert final[2048]["measure/lip"] < final[64]["measure/lip"]  # more parameters, smoother


def test_jacobian_penalty_is_the_mean_squared_frobenius_norm_of_the_input_jacobian():
    from jaxdl import models
    from jaxdl.training import step
    model = models.build("mlp", 3, width=5, depth=1)
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 6))
    variables = model.init(jax.random.PRNGKey(1), x, train=False)
    params = variables["params"]
    penalty = step.jacobian_penalty(model, params, {}, x, None)
    per_example = [jax.jacrev(lambda v: model.apply({"params": params}, v[None], train=False)[0])(xi)
                   for xi in x]
    expected = np.mean([np.sum(np.square(j)) for j in per_example])
    assert float(penalty) == pytest.approx(expected, rel=1e-5)
    linear = models.build("mlp", 3, depth=0)
    lp = linear.init(jax.random.PRNGKey(2), x, train=False)["params"]
    w = np.asarray(lp["Dense_0"]["kernel"])
    assert float(step.jacobian_penalty(linear, lp, {}, x, None)) == pytest.approx(np.sum(w ** 2), rel=1e-5)


def test_jacobian_penalty_makes_the_interpolator_smoother(tmp_path):
    """The smooth-interpolator side of the law: same net, same data, penalized -> lower Lip."""
    from jaxdl import config as config_lib
    from jaxdl import rng
    from jaxdl.training import checkpoint, loop
    lips = {}
    for lam in (0.0, 1e-3):
        c = config_lib.default()
        c.data = config_lib.named_section("data", "sphere")
        c.data.n, c.data.d, c.data.test_size = 100, 10, 100
        c.model = config_lib.named_section("model", "mlp")
        c.model.depth, c.model.width = 1, 512
        c.loss.name, c.loss.jacobian = "mse", lam
        c.optimizer.lr, c.optimizer.schedule.name = 3e-3, "constant"
        c.steps = c.eval_every = c.checkpoint_every = 600
        c.batch_size = 50
        result = loop.train(c, str(tmp_path / str(lam)), progress=False)
        assert result["train"]["accuracy"] == 1.0  # both interpolate
        run = loop.build(c)
        ckpt = checkpoint.Checkpoints(str(tmp_path / str(lam) / "checkpoints"), read_only=True)
        state = loop.as_train_state(ckpt.restore_latest(
            lambda saved: loop.as_saved(jax.eval_shape(run.init, rng.root_key(0)), saved))[0])
        f = lipschitz.margin(lambda x: run.model.apply({"params": state.params}, x, train=False))
        lips[lam] = lipschitz.lipschitz_lower_bound(f, run.dataset.x_train)
    assert lips[1e-3] < 0.7 * lips[0.0]
