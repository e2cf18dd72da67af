"""The NTK probe (jaxdl/probes/ntk.py) against kernels computed in the test: a linear
model's is X Xᵀ, an MLP's is the trace over outputs of its explicit Jacobian's J Jᵀ; and
the kernel distance and relative weight change on cases with known answers.

    PYTHONPATH=. python -m pytest -q tests/test_ntk.py     # 6 passed, ~10 s on 2 CPU cores
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxdl import models
from jaxdl.probes import ntk


def linear(params, aux, x):
    return x @ params["w"] + params.get("b", 0.0)


def tiny_mlp(params, aux, x):
    return jnp.tanh(x @ params["w1"] + params["b1"]) @ params["w2"] * aux


def mlp_params():
    k = iter(jax.random.split(jax.random.PRNGKey(0), 4))
    return {"w1": jax.random.normal(next(k), (5, 7)), "b1": jax.random.normal(next(k), (7,)),
            "w2": jax.random.normal(next(k), (7, 3))}


def inputs(n=9, d=5):
    return jax.random.normal(jax.random.PRNGKey(1), (n, d))


def test_linear_model_gram_is_x_xt():
    """f(x) = x·w (one output, no bias): ∂f/∂w = x, so K = X Xᵀ; with O outputs and a
    bias, each output adds x·x' + 1: K = O (X Xᵀ + 1)."""
    x = inputs()
    xxt = np.asarray(x @ x.T)
    one = ntk.ntk_gram(linear, {"w": jnp.zeros((5, 1))}, None, x)
    np.testing.assert_allclose(one, xxt, rtol=1e-5, atol=1e-5)
    four = ntk.ntk_gram(linear, {"w": jnp.ones((5, 4)), "b": jnp.ones(4)}, None, x)
    np.testing.assert_allclose(four, 4 * (xxt + 1), rtol=1e-5, atol=1e-4)


def test_mlp_gram_is_the_trace_of_the_explicit_jacobian():
    """K = Σ_o J_o J_oᵀ with J from jax.jacobian of the whole batch's outputs (n, O, P);
    the model state (aux) is passed through, not differentiated."""
    params, x = mlp_params(), inputs()
    w, unravel = ravel_pytree(params)
    jac = jax.jacobian(lambda u: tiny_mlp(unravel(u), 2.0, x))(w)  # (n, O, P)
    expected = np.einsum("iop,jop->ij", np.asarray(jac, np.float64), np.asarray(jac, np.float64))
    np.testing.assert_allclose(ntk.ntk_gram(tiny_mlp, params, 2.0, x), expected, rtol=1e-4)


def test_gram_is_symmetric_positive_semidefinite():
    k = np.asarray(ntk.ntk_gram(tiny_mlp, mlp_params(), 1.0, inputs(16)), np.float64)
    np.testing.assert_allclose(k, k.T, rtol=1e-5, atol=1e-6)
    assert np.linalg.eigvalsh(k).min() > -1e-4 * np.abs(k).max()


def test_kernel_distance():
    k = np.asarray(ntk.ntk_gram(tiny_mlp, mlp_params(), 1.0, inputs()))
    assert ntk.kernel_distance(k, k) == pytest.approx(0.0, abs=1e-12)
    assert ntk.kernel_distance(k, 3.5 * k) == pytest.approx(0.0, abs=1e-12)
    other = np.asarray(ntk.ntk_gram(linear, {"w": jnp.zeros((5, 1))}, None, inputs()))
    distance = ntk.kernel_distance(k, other)
    a, b = k.ravel(), other.ravel()
    assert distance > 0.01
    assert distance == pytest.approx(1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b), rel=1e-5)
    assert ntk.kernel_distance(k, -k) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="shapes"):
        ntk.kernel_distance(k, k[:3, :3])


def test_relative_change():
    w0 = {"a": jnp.array([3.0, 0.0]), "b": jnp.array([4.0])}  # ‖w0‖ = 5
    w = {"a": jnp.array([3.0, 1.0]), "b": jnp.array([4.0])}
    assert ntk.relative_change(w, w0) == pytest.approx(0.2)
    assert ntk.relative_change(w0, w0) == 0.0
    with pytest.raises(ValueError, match="structure"):
        ntk.relative_change({"a": w["a"]}, w0)


def test_outputs_of_a_registered_model():
    """`outputs_of(model)` is the model's inference-mode logits; one function per model
    (so `ntk_gram` compiles once per model)."""
    model = models.build("mlp", num_outputs=3, width=4, depth=1)
    x = inputs()
    variables = model.init(jax.random.PRNGKey(0), x, train=False)
    fn = ntk.outputs_of(model)
    assert fn is ntk.outputs_of(model)
    np.testing.assert_allclose(fn(variables["params"], {}, x),
                               model.apply(variables, x, train=False), rtol=1e-6)
    k = ntk.ntk_gram(fn, variables["params"], {}, x)
    assert k.shape == (9, 9)
