"""The sharpness probe (jaxdl/probes/hessian.py): power iteration on Hessian-vector
products against the eigenvalues of Hessians formed explicitly in the same test.

    PYTHONPATH=. python -m pytest -q tests/test_hessian.py     # 5 passed, ~20 s on 2 CPU cores
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jaxdl
from jaxdl import config as config_lib
from jaxdl.probes import hessian


def quadratic(spectrum) -> tuple[jax.Array, np.ndarray]:
    """A = Q diag(spectrum) Q^T with a random orthogonal Q: (A, spectrum)."""
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(len(spectrum), len(spectrum))))
    return jnp.asarray(q @ np.diag(spectrum) @ q.T, jnp.float32), np.asarray(spectrum)


def half_quadratic_form(w, a):
    return 0.5 * w @ a @ w  # Hessian: a, wherever w is


@pytest.mark.parametrize("spectrum", [[5.0, 3.0, 1.0, 0.5, -2.0, 0.0],  # dominant positive
                                      [2.0, 1.0, 0.5, -6.0, -1.0]])   # dominant negative
def test_quadratic_with_known_spectrum(spectrum):
    """λ_max of the known spectrum, also when the eigenvalue of largest magnitude is
    negative (the shifted second pass); the products used stay within the budget."""
    a, spectrum = quadratic(spectrum)
    top = hessian.top_eigenvalue(half_quadratic_form, jnp.ones(len(spectrum)), a,
                                 jax.random.PRNGKey(0), tol=1e-7, max_iterations=500)
    assert float(top.value) == pytest.approx(spectrum.max(), rel=1e-4)
    assert 2 <= int(top.iterations) <= 1000


def tiny_mlp_loss(params, data):
    """MSE of a 3-6-2 tanh MLP (38 params) on a fixed batch."""
    x, y = data
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    return jnp.mean((h @ params["w2"] + params["b2"] - y) ** 2)


def tiny_mlp():
    k = iter(jax.random.split(jax.random.PRNGKey(1), 6))
    params = {"w1": jax.random.normal(next(k), (3, 6)), "b1": jax.random.normal(next(k), (6,)),
              "w2": jax.random.normal(next(k), (6, 2)), "b2": jax.random.normal(next(k), (2,))}
    data = (jax.random.normal(next(k), (16, 3)), jax.random.normal(next(k), (16, 2)))
    return params, data


def explicit_top(loss, params, data) -> float:
    w, unravel = ravel_pytree(params)
    h = jax.hessian(lambda u: loss(unravel(u), data))(w)
    return float(np.linalg.eigvalsh(np.asarray(h, np.float64)).max())


def test_tiny_model_against_the_explicit_hessian():
    params, data = tiny_mlp()
    exact = explicit_top(tiny_mlp_loss, params, data)
    top = hessian.top_eigenvalue(tiny_mlp_loss, params, data, jax.random.PRNGKey(2),
                                 tol=1e-7, max_iterations=2000)
    assert float(top.value) == pytest.approx(exact, rel=1e-3)
    loose = hessian.top_eigenvalue(tiny_mlp_loss, params, data, jax.random.PRNGKey(2))
    assert int(loose.iterations) <= int(top.iterations)  # the default tolerance stops sooner
    assert float(loose.value) == pytest.approx(exact, rel=1e-2)


def test_deterministic_given_the_key():
    params, data = tiny_mlp()
    runs = [hessian.top_eigenvalue(tiny_mlp_loss, params, data, jax.random.PRNGKey(k), tol=1e-9,
                                   max_iterations=7) for k in (3, 3, 4)]
    assert np.array_equal(runs[0].value, runs[1].value)  # same key: same bits
    assert int(runs[0].iterations) == 7  # tol unreachable: max_iterations stops it
    assert not np.array_equal(runs[0].value, runs[2].value)  # another start, unconverged


def test_sharpness_hook_during_training_matches_the_explicit_hessian(tmp_path):
    """The hook on a run's own objective (MSE, a 418-param MLP on 64 examples): rows at
    steps 5 and 10, the last equal to λ_max of the Hessian formed from the final state."""
    c = config_lib.default()
    c.data.num_samples, c.data.train_split = 80, 0.8
    c.model = config_lib.named_section("model", "mlp")
    c.model.width, c.model.depth, c.model.activation = 8, 1, "tanh"
    c.objective.loss = "mse"
    c.optimizer.name, c.optimizer.lr = "sgd", 0.5
    c.batch_size, c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = 64, 10, 10, 10, 5
    built = jaxdl.training.loop.build(c)
    batch = (built.dataset.x_train, built.dataset.y_train)
    hook = hessian.sharpness_hook(batch, 5, tol=1e-6, max_iterations=1000)
    result = jaxdl.train(c, str(tmp_path / "run"), progress=False, hooks=[hook])
    run = jaxdl.load_run(result["workdir"])
    rows = run.metrics[run.metrics["split"] == "sharpness"]
    assert list(rows["step"]) == [5, 10]
    state = run.state()

    def loss(params, data):
        logits = built.model.apply({"params": params}, data[0], train=False)
        return jnp.mean((logits - jax.nn.one_hot(data[1], 10)) ** 2)  # losses.mse
    exact = explicit_top(loss, state.params, batch)
    assert float(rows["top_eigenvalue"].iloc[-1]) == pytest.approx(exact, rel=1e-3)
