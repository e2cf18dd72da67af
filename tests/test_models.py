"""Tests of jaxdl.models: shapes, published architectures, modes, initialisers, registry.

Shape and parameter-count checks of full-size models use ``jax.eval_shape``
(tracing only, no XLA compilation) so the file stays fast on a CPU; tests
that need numbers use small models.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import models
from jaxdl.models import layers

KEY = jax.random.key(0)
MNIST1D = (4, 40)
DIGITS = (4, 8, 8, 1)
CIFAR = (4, 32, 32, 3)
SUPPORTED = {
    "mlp": (MNIST1D, DIGITS, CIFAR),
    "cnn1d": (MNIST1D,),
    "cnn2d": (DIGITS, CIFAR),
    "gru": (MNIST1D,),
    "resnet": (MNIST1D, DIGITS, CIFAR),
    "vit": (MNIST1D, DIGITS, CIFAR),
}
COMMON = {"weight_init", "init_scale"}


def rngs(seed: int = 0) -> dict[str, jax.Array]:
    return {"params": jax.random.key(seed), "dropout": jax.random.key(seed + 1)}


def init(model, x: jax.Array) -> dict:
    return model.init(rngs(), x, train=False)


def abstract_init(model, shape: tuple[int, ...]) -> dict:
    """Variable shapes without compiling or running anything."""
    x = jax.ShapeDtypeStruct(shape, jnp.float32)
    return jax.eval_shape(functools.partial(model.init, train=False), rngs(), x)


def count(tree) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def normal(shape: tuple[int, ...], seed: int = 1) -> jax.Array:
    return jax.random.normal(jax.random.key(seed), shape)


# --- shapes -----------------------------------------------------------------

@pytest.mark.parametrize("name,shape", [(n, s) for n, shapes in SUPPORTED.items()
                                        for s in shapes])
@pytest.mark.parametrize("train", [False, True])
def test_logits_shape(name, shape, train):
    model = models.build(name, num_outputs=7)
    variables = abstract_init(model, shape)
    apply = functools.partial(model.apply, train=train, mutable=["batch_stats"] if train else False)
    out = jax.eval_shape(apply, variables, jax.ShapeDtypeStruct(shape, jnp.float32),
                         rngs={"dropout": KEY})
    logits = out[0] if train else out
    assert logits.shape == (shape[0], 7)


@pytest.mark.parametrize("name,shape", [("cnn1d", DIGITS), ("cnn2d", MNIST1D), ("gru", CIFAR)])
def test_unsupported_input_rank_raises(name, shape):
    with pytest.raises(ValueError, match="expected"):
        abstract_init(models.build(name, 10), shape)


def test_cnn2d_accepts_grayscale_without_channel_axis():
    model = models.build("cnn2d", 10)
    with_axis = abstract_init(model, DIGITS)["params"]
    without_axis = abstract_init(model, DIGITS[:3])["params"]
    assert jax.tree.map(lambda a: a.shape, with_axis) == jax.tree.map(lambda a: a.shape,
                                                                      without_axis)


def test_mlp_runs_on_uint8_images():
    model = models.build("mlp", 10, width=8)
    x = jnp.full(DIGITS, 3, jnp.uint8)
    assert model.apply(init(model, x), x, train=False).dtype == jnp.float32


# --- published MNIST-1D architectures ------------------------------------------

def test_cnn1d_defaults_are_published_mnist1d_cnn():
    params = abstract_init(models.build("cnn1d", 10), MNIST1D)["params"]
    assert count(params) == 5210
    # Lengths 40 -> 19 -> 10 -> 5 with 25 channels: the head sees 125 features.
    assert params["Dense_0"]["kernel"].shape == (125, 10)
    assert [params[f"Conv_{i}"]["kernel"].shape for i in range(3)] == [
        (5, 1, 25), (3, 25, 25), (3, 25, 25)]


def test_mlp_residual_is_published_mnist1d_mlp():
    model = models.build("mlp", 10, residual=True)
    assert count(abstract_init(model, MNIST1D)["params"]) == 15210
    x = normal(MNIST1D)
    p = init(model, x)["params"]
    layer = lambda name, h: h @ p[name]["kernel"] + p[name]["bias"]  # noqa: E731
    h = jax.nn.relu(layer("Dense_0", x))
    h = h + jax.nn.relu(layer("Dense_1", h))
    expected = layer("Dense_2", h)
    np.testing.assert_allclose(model.apply({"params": p}, x, train=False), expected,
                               rtol=1e-5, atol=1e-5)
    plain = models.build("mlp", 10, residual=False).apply({"params": p}, x, train=False)
    assert not np.allclose(plain, expected, atol=1e-3)


def test_gru_defaults_are_published_mnist1d_gru():
    params = abstract_init(models.build("gru", 10), MNIST1D)["params"]
    # Per direction 3 * (6*1 + 6*6) kernels + 4 * 6 biases; head 40 * 12 -> 10.
    assert count(params) == 2 * (3 * (6 + 36) + 24) + 480 * 10 + 10 == 5110
    assert params["Dense_0"]["kernel"].shape == (480, 10)


@pytest.mark.parametrize("readout,bidirectional,features", [
    ("last", True, 12), ("mean", True, 12), ("last", False, 6), ("flatten", False, 240)])
def test_gru_readouts(readout, bidirectional, features):
    model = models.build("gru", 10, readout=readout, bidirectional=bidirectional)
    params = abstract_init(model, MNIST1D)["params"]
    assert params["Dense_0"]["kernel"].shape == (features, 10)


@pytest.mark.parametrize("direction,sees_future", [("forward", False), ("backward", True)])
def test_gru_directions(direction, sees_future):
    """The first step's forward features ignore later inputs; backward ones see them."""
    model = models.build("gru", 3, hidden=4, bidirectional=True)
    x = normal((2, 10))
    params = init(model, x)["params"]
    # Keep only the head rows that read step 0's forward (0:4) or backward (4:8) features.
    rows = slice(0, 4) if direction == "forward" else slice(4, 8)
    mask = jnp.zeros_like(params["Dense_0"]["kernel"]).at[rows].set(1.0)
    params = {**params, "Dense_0": {**params["Dense_0"],
                                    "kernel": params["Dense_0"]["kernel"] * mask}}
    apply = lambda x: model.apply({"params": params}, x, train=False)  # noqa: E731
    changed = not np.allclose(apply(x), apply(x.at[:, -1].add(5.0)), atol=1e-6)
    assert changed == sees_future


# --- linear model -------------------------------------------------------------

def test_depth0_mlp_is_affine():
    model = models.build("mlp", 10, depth=0)
    x, y = normal(MNIST1D, 1), normal(MNIST1D, 2)
    variables = init(model, x)
    assert count(variables["params"]) == 410
    f = lambda x: model.apply(variables, x, train=False)  # noqa: E731
    a, b = 2.5, -1.5
    np.testing.assert_allclose(f(a * x + b * y), a * f(x) + b * f(y) + (1 - a - b) * f(0 * x),
                               rtol=1e-4, atol=1e-4)


def test_deep_mlp_is_not_affine():
    """The same check fails for a hidden layer, so the test above can fail."""
    model = models.build("mlp", 10, depth=1)
    x, y = normal(MNIST1D, 1), normal(MNIST1D, 2)
    variables = init(model, x)
    f = lambda x: model.apply(variables, x, train=False)  # noqa: E731
    a, b = 2.5, -1.5
    assert not np.allclose(f(a * x + b * y), a * f(x) + b * f(y) + (1 - a - b) * f(0 * x),
                           atol=1e-3)


# --- batch norm -----------------------------------------------------------------

BATCH_NORM_MODELS = [
    ("cnn1d", {"batch_norm": True, "channels": (4, 4), "kernel_sizes": (3, 3)}, MNIST1D),
    ("cnn2d", {"batch_norm": True, "channels": (4,), "kernel_sizes": (3,)}, DIGITS),
    ("resnet", {"stage_sizes": (1,), "width": 4}, MNIST1D),
]


@pytest.mark.parametrize("name,options,shape", BATCH_NORM_MODELS)
def test_batch_norm_statistics_update_in_train_mode(name, options, shape):
    model = models.build(name, 10, **options)
    x = 3.0 + normal(shape)
    variables = init(model, x)
    _, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
    before, after = variables["batch_stats"], updates["batch_stats"]
    assert jax.tree.structure(before) == jax.tree.structure(after)
    for old, new in zip(jax.tree.leaves(before), jax.tree.leaves(after)):
        assert not np.allclose(old, new)


@pytest.mark.parametrize("name,options,shape", BATCH_NORM_MODELS)
def test_batch_norm_eval_uses_running_statistics(name, options, shape):
    model = models.build(name, 10, **options)
    x = 3.0 + normal(shape)
    variables = init(model, x)
    _, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
    updated = {**variables, **updates}
    evaluate = lambda v, x: model.apply(v, x, train=False)  # noqa: E731
    train = lambda x: model.apply(  # noqa: E731
        variables, x, train=True, mutable=["batch_stats"])[0]
    # Eval: an example's logits depend on the running statistics, not on its batch.
    assert not np.allclose(evaluate(variables, x), evaluate(updated, x), atol=1e-4)
    np.testing.assert_allclose(evaluate(updated, x)[:1], evaluate(updated, x[:2])[:1],
                               rtol=1e-5, atol=1e-5)
    # Train: batch statistics, so the rest of the batch matters.
    assert not np.allclose(train(x)[:1], train(x[:2])[:1], atol=1e-4)


def test_models_without_batch_norm_have_no_batch_stats():
    assert "batch_stats" not in abstract_init(models.build("cnn1d", 10), MNIST1D)
    assert "batch_stats" not in abstract_init(models.build("resnet", 10, batch_norm=False),
                                              MNIST1D)


def test_batch_norm_train_step_under_jit():
    model = models.build("cnn1d", 10, batch_norm=True, channels=(4,), kernel_sizes=(3,))
    x, y = normal(MNIST1D), jnp.arange(4) % 10
    variables = init(model, x)

    @jax.jit
    def loss_fn(params, batch_stats):
        logits, updates = model.apply({"params": params, "batch_stats": batch_stats}, x,
                                      train=True, mutable=["batch_stats"])
        logp = jax.nn.log_softmax(logits)
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean(), updates

    grads, updates = jax.grad(loss_fn, has_aux=True)(variables["params"],
                                                      variables["batch_stats"])
    assert jax.tree.structure(grads) == jax.tree.structure(variables["params"])
    assert all(bool(jnp.any(g != 0)) for g in jax.tree.leaves(grads))
    assert jax.tree.structure(updates["batch_stats"]) == jax.tree.structure(
        variables["batch_stats"])


# --- dropout ----------------------------------------------------------------------

DROPOUT_MODELS = [
    ("mlp", {"width": 16}),
    ("vit", {"dim": 16, "heads": 2, "mlp_dim": 16, "depth": 1}),
]


@pytest.mark.parametrize("name,options", DROPOUT_MODELS)
def test_dropout_is_random_in_train_and_off_in_eval(name, options):
    model = models.build(name, 10, dropout=0.5, **options)
    x = normal(MNIST1D)
    variables = init(model, x)
    run = lambda train, seed: model.apply(variables, x, train=train,  # noqa: E731
                                          rngs={"dropout": jax.random.key(seed)})
    assert not np.allclose(run(True, 1), run(True, 2))
    np.testing.assert_array_equal(run(True, 1), run(True, 1))
    np.testing.assert_array_equal(run(False, 1), run(False, 2))
    # In eval mode dropout is the identity: same logits as the model without it.
    no_dropout = models.build(name, 10, dropout=0.0, **options)
    np.testing.assert_allclose(run(False, 1), no_dropout.apply(variables, x, train=True),
                               rtol=1e-5, atol=1e-5)


# --- activations and initialisers -------------------------------------------------

def test_activations():
    x = jnp.array([-2.0, -0.5, 0.0, 1.5])
    expected = {
        "relu": [0.0, 0.0, 0.0, 1.5],
        "identity": [-2.0, -0.5, 0.0, 1.5],
        "tanh": np.tanh(x),
        "sigmoid": 1 / (1 + np.exp(-x)),
        "silu": x / (1 + np.exp(-x)),
        "elu": np.where(x > 0, x, np.expm1(x)),
        "leaky_relu": np.where(x > 0, x, 0.01 * x),
        "gelu": jax.nn.gelu(x),
    }
    assert set(expected) == set(layers.ACTIVATIONS)
    for name, values in expected.items():
        np.testing.assert_allclose(layers.activation(name)(x), values, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,scale,shape,std", [
    ("he", 1.0, (400, 1000), np.sqrt(2 / 400)),
    ("he", 1.0, (3, 3, 16, 256), np.sqrt(2 / 144)),  # conv: fan_in counts the window
    ("lecun", 2.0, (400, 1000), 2 / np.sqrt(400)),
    ("glorot", 1.0, (300, 500), np.sqrt(2 / 800)),
    ("normal", 0.3, (400, 1000), 0.3),
    ("normal", 0.3, (20, 1000), 0.3),  # independent of fan
])
def test_kernel_init_std(name, scale, shape, std):
    w = layers.kernel_init(name, scale)(jax.random.key(3), shape)
    assert w.shape == shape
    assert abs(float(w.std()) / std - 1) < 0.03
    assert abs(float(w.mean())) < 0.05 * std
    # Untruncated normal: about 0.27% of draws lie beyond 3 standard deviations.
    assert float(jnp.mean(jnp.abs(w) > 3 * std)) > 0.001


def test_models_use_the_chosen_init():
    model = models.build("mlp", 10, width=500, depth=1, weight_init="normal", init_scale=0.5)
    params = init(model, normal(MNIST1D))["params"]
    assert abs(float(params["Dense_0"]["kernel"].std()) / 0.5 - 1) < 0.05
    assert not np.any(params["Dense_0"]["bias"])


def test_torch_init_is_pytorchs_default_for_kernels_and_biases():
    """'torch': kernels and biases U(+-1/sqrt(fan_in)) (PyTorch's nn.Linear, nn.Conv1d), the
    fan-in counting a convolution's taps; the layers compute what nn.Dense and lax do."""
    model = models.build("cnn1d", 10, channels=(400, 300), kernel_sizes=(5, 3),
                         weight_init="torch")
    x = normal(MNIST1D)
    params = init(model, x)["params"]
    for layer, fan_in in (("Conv_0", 5), ("Conv_1", 3 * 400), ("Dense_0", 300 * 10)):
        bound = 1 / np.sqrt(fan_in)
        for name in ("kernel", "bias"):
            w = np.asarray(params[layer][name])
            assert np.abs(w).max() <= bound, (layer, name)
            assert w.size < 300 or np.abs(w).max() > 0.95 * bound, (layer, name)  # uniform
        assert abs(float(params[layer]["kernel"].std()) * np.sqrt(3 * fan_in) - 1) < 0.05, layer
    dense = layers.dense(7, "torch", 1.0)
    variables = dense.init(jax.random.key(0), x)
    np.testing.assert_allclose(dense.apply(variables, x), nn.Dense(7).apply(variables, x),
                               rtol=1e-6)
    assert isinstance(layers.dense(7, "lecun", 1.0), nn.Dense) and \
        type(layers.dense(7, "lecun", 1.0)) is nn.Dense  # the other inits: flax's own layer


# --- registry -------------------------------------------------------------------------

DOCUMENTED = {
    "mlp": dict(width=100, depth=2, activation="relu", residual=False, dropout=0.0,
                batch_norm=False,
                weight_init="lecun", init_scale=1.0),
    "cnn1d": dict(channels=(25, 25, 25), kernel_sizes=(5, 3, 3), stride=2, padding=1,
                  batch_norm=False, activation="relu", dropout=0.0, weight_init="lecun",
                  init_scale=1.0),
    "cnn2d": dict(channels=(32, 64), kernel_sizes=(3, 3), stride=2, padding=1,
                  batch_norm=False, readout="flatten", activation="relu",
                  weight_init="lecun", init_scale=1.0),
    "gru": dict(hidden=6, bidirectional=True, readout="flatten", weight_init="lecun",
                init_scale=1.0),
    "resnet": dict(stage_sizes=(2, 2, 2), width=16, width_multiplier=1, batch_norm=True,
                   activation="relu", weight_init="he", init_scale=1.0),
    "vit": dict(patch_size=4, dim=64, depth=2, heads=4, mlp_dim=128, dropout=0.0, pool="cls",
                activation="gelu", weight_init="glorot", init_scale=1.0),
}


@pytest.mark.parametrize("name", sorted(models.REGISTRY.builtins()))
def test_defaults_are_the_documented_options(name):
    assert models.defaults(name) == DOCUMENTED[name]
    for option, value in models.defaults(name).items():
        assert type(value) in (int, float, str, bool, tuple), option
    # Every option is described in the class docstring, under its own name.
    doc = models.model_class(name).__doc__
    for option in DOCUMENTED[name]:
        assert f"{option}:" in doc, option
    assert COMMON <= set(DOCUMENTED[name])


def test_build_passes_options():
    model = models.build("mlp", 3, width=7, depth=1)
    assert (model.num_outputs, model.width, model.depth) == (3, 7, 1)


def test_unknown_model_lists_the_registered_names():
    with pytest.raises(KeyError) as info:
        models.build("transformer9000", 10)
    assert all(name in str(info.value) for name in models.REGISTRY)


def test_unknown_option_lists_the_options():
    with pytest.raises(TypeError, match="widht.*width"):
        models.build("mlp", 10, widht=3)


def test_unknown_activation_lists_the_allowed_names():
    with pytest.raises(ValueError) as info:
        layers.activation("swish9")
    assert all(name in str(info.value) for name in layers.ACTIVATIONS)
    with pytest.raises(ValueError, match="swish9"):
        abstract_init(models.build("cnn1d", 10, activation="swish9"), MNIST1D)


def test_unknown_init_lists_the_allowed_names():
    with pytest.raises(ValueError) as info:
        layers.kernel_init("xavier", 1.0)
    assert all(name in str(info.value) for name in ("lecun", "glorot", "he", "normal"))
    with pytest.raises(ValueError, match="xavier"):
        abstract_init(models.build("resnet", 10, weight_init="xavier"), MNIST1D)


@pytest.mark.parametrize("name,option", [("cnn2d", "readout"), ("gru", "readout"),
                                         ("vit", "pool")])
def test_unknown_choice_lists_the_allowed_values(name, option):
    shape = MNIST1D if name != "cnn2d" else DIGITS
    with pytest.raises(ValueError, match=f"unknown {option} 'bogus'; choose one of"):
        abstract_init(models.build(name, 10, **{option: "bogus"}), shape)


# --- ResNet and ViT structure -----------------------------------------------------------

@pytest.mark.parametrize("shape,stem", [(MNIST1D, (3, 1, 16)), ((4, 40, 2), (3, 2, 16)),
                                        (DIGITS, (3, 3, 1, 16)), (CIFAR, (3, 3, 3, 16))])
def test_resnet_convolution_rank_follows_input(shape, stem):
    params = abstract_init(models.build("resnet", 10), shape)["params"]
    assert params["Conv_0"]["kernel"].shape == stem


def test_resnet_stage_widths():
    model = models.build("resnet", 10, stage_sizes=(1, 2, 1), width=4, width_multiplier=2)
    params = abstract_init(model, CIFAR)["params"]
    widths = [params[f"BasicBlock_{i}"]["Conv_1"]["kernel"].shape[-1] for i in range(4)]
    assert widths == [8, 16, 16, 32]
    # Only the first block of a changing stage needs a projection shortcut.
    assert ["Conv_2" in params[f"BasicBlock_{i}"] for i in range(4)] == [True, True, False,
                                                                          True]
    assert params["Dense_0"]["kernel"].shape == (32, 10)


@pytest.mark.parametrize("shape,pool,tokens", [(MNIST1D, "cls", 11), (DIGITS, "cls", 5),
                                               (CIFAR, "cls", 65), (CIFAR, "mean", 64)])
def test_vit_tokens(shape, pool, tokens):
    params = abstract_init(models.build("vit", 10, pool=pool), shape)["params"]
    assert params["position_embedding"].shape == (1, tokens, 64)
    assert ("cls" in params) == (pool == "cls")


def test_vit_rejects_sizes_that_are_not_multiples_of_the_patch():
    with pytest.raises(ValueError, match="patch_size"):
        abstract_init(models.build("vit", 10, patch_size=3), MNIST1D)


@pytest.mark.parametrize("kernel_size,stride,padding", [(5, 2, 1), (3, 1, 0), (3, 2, 1), (4, 3, 2)])
def test_im2col_conv_equals_flax_conv(kernel_size, stride, padding):
    """layers.Conv (1-D as im2col + matmul) has nn.Conv's params and outputs."""
    import flax.linen as nn
    from jaxdl.models import layers
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 40, 5))
    ours = layers.conv(7, kernel_size, 1, stride, padding, "lecun", 1.0)
    theirs = nn.Conv(7, (kernel_size,), (stride,), padding=((padding, padding),),
                     kernel_init=layers.kernel_init("lecun", 1.0))
    params = ours.init(jax.random.PRNGKey(1), x)
    reference = theirs.init(jax.random.PRNGKey(1), x)
    jax.tree.map(np.testing.assert_array_equal, params, reference)  # same tree, same init
    params = jax.tree.map(lambda p: p + 0.1, params)  # a nonzero bias too
    np.testing.assert_allclose(ours.apply(params, x), theirs.apply(params, x), rtol=1e-5, atol=1e-5)
    assert isinstance(ours, nn.Conv) and type(ours).__name__ == "Conv"  # flax names it Conv_i


@pytest.mark.parametrize("length,channels,k,s", [(42, 1, 5, 2), (21, 25, 3, 2), (12, 4, 3, 2),
                                                 (10, 3, 3, 1), (9, 2, 4, 3), (11, 3, 5, 4),
                                                 (8, 2, 2, 2)])
def test_conv_patches_are_the_strided_taps(length, channels, k, s):
    """Blocked extraction = the k strided slices side by side, value for value (the
    step's bits do not change with it)."""
    from jaxdl.models import layers
    x = jax.random.normal(jax.random.PRNGKey(length), (2, length, channels))
    outputs = (length - k) // s + 1
    strided = jnp.concatenate([x[:, j:j + s * (outputs - 1) + 1:s, :] for j in range(k)], axis=-1)
    np.testing.assert_array_equal(layers.conv_patches(x, k, s), strided)


def test_dilated_1d_conv_goes_to_flax():
    import flax.linen as nn
    from jaxdl.models import layers
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 20, 3))
    ours = layers.Conv(4, (3,), (1,), padding=((2, 2),), kernel_dilation=(2,))
    theirs = nn.Conv(4, (3,), (1,), padding=((2, 2),), kernel_dilation=(2,))
    params = ours.init(jax.random.PRNGKey(1), x)
    np.testing.assert_array_equal(ours.apply(params, x), theirs.apply(params, x))
