"""Pruning (jaxdl/pruning.py, config.prune.mask): masks per layer, training under a mask,
rewinding, lottery-ticket rounds that resume and reproduce, and the config contract."""
import os

import jax
import numpy as np
import pytest

import jaxdl
from jaxdl import config as config_lib
from jaxdl import optim, pruning, rng
from jaxdl.training import loop
from jaxdl.training import state as state_lib
from jaxdl.training import step as step_lib


def mlp_config(steps=30, width=32):
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.model.width, c.model.residual = width, True
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = steps, 0, 0, 10
    return c


def params_of(width=32):
    run = loop.build(mlp_config(width=width))
    return jax.device_get(run.init(rng.root_key(0)).params)


def train_params(config, steps=None):
    """Params after `steps` (default config.steps) steps from the run's own init."""
    run = loop.build(config)
    data, state = run.device_data(), run.init(rng.root_key(config.seed))
    for length, _ in loop.chunks(0, [steps or config.steps], config.chunk_size):
        state, _ = run.train_chunk(state, data, length)
    return jax.device_get(state.params), run


# ---------------------------------------------------------------- masks


def test_magnitude_mask_keeps_the_largest_of_the_survivors_in_every_layer():
    params = params_of()
    first = pruning.magnitude_mask(params, pruning.ones_like_weights(params), 0.5)
    second = pruning.magnitude_mask(params, first, 0.8)
    w = pruning.weights(params)
    assert sorted(first) == ["Dense_0/kernel", "Dense_1/kernel", "Dense_2/kernel"]  # no biases
    for k, m in second.items():
        assert m.sum() == pruning.kept_count(m.size, 0.8)  # per layer, not global
        assert np.all(m <= first[k])  # nested: a pruned weight never comes back
        assert np.abs(w[k])[m == 1].min() >= np.abs(w[k])[(m == 0) & (first[k] == 1)].max()
    assert pruning.sparsity(second) == pytest.approx(0.8, abs=1e-3)
    with pytest.raises(ValueError, match="sparsity must not decrease"):
        pruning.magnitude_mask(params, second, 0.5)


def test_random_mask_has_the_magnitude_masks_counts_and_is_a_function_of_its_key():
    params = params_of()
    ones = pruning.ones_like_weights(params)
    magnitude = pruning.magnitude_mask(params, ones, 0.9)
    a = pruning.random_mask(rng.step_key(rng.root_key(0), rng.PRUNE, 1), ones, 0.9)
    again = pruning.random_mask(rng.step_key(rng.root_key(0), rng.PRUNE, 1), ones, 0.9)
    b = pruning.random_mask(rng.step_key(rng.root_key(0), rng.PRUNE, 2), ones, 0.9)
    for k in magnitude:
        assert a[k].sum() == magnitude[k].sum()  # matched per-layer sparsity
        np.testing.assert_array_equal(a[k], again[k])
        assert not np.array_equal(a[k], b[k]) and not np.array_equal(a[k], magnitude[k])
    nested = pruning.random_mask(jax.random.PRNGKey(3), a, 0.95)
    assert all(np.all(nested[k] <= a[k]) for k in a)


def test_pooled_masks_prune_each_layers_bias_with_its_weights_as_one_vector():
    """biases=True (the MNIST-1D notebook's SparseLinear): per layer one pool of kernel and
    bias, `kept_count` of the pool kept, by |w| over the pool or at random."""
    params = params_of()
    ones = pruning.ones_like_prunable(params, biases=True)
    assert sorted(ones) == ["Dense_0/bias", "Dense_0/kernel", "Dense_1/bias", "Dense_1/kernel",
                            "Dense_2/bias", "Dense_2/kernel"]
    assert pruning.ones_like_prunable(params).keys() == pruning.ones_like_weights(params).keys()
    # Zero-initialized biases have the smallest |w|: magnitude pruning takes them first.
    params = jax.tree_util.tree_map_with_path(
        lambda path, v: v + (0.5 if path[-1].key == "bias" else 0.0), params)
    flat = pruning.flat_params(params)
    key = rng.step_key(rng.root_key(0), rng.PRUNE, 1)
    magnitude = pruning.next_mask("magnitude", params, ones, 0.9, key, pooled=True)
    rand = pruning.next_mask("random", params, ones, 0.9, key, pooled=True)
    for layer, paths in pruning.layer_groups(ones).items():
        size = sum(ones[p].size for p in paths)
        kept = pruning.kept_count(size, 0.9)
        assert sum(magnitude[p].sum() for p in paths) == kept == sum(rand[p].sum() for p in paths)
        pool = np.concatenate([np.abs(np.asarray(flat[p])).ravel() for p in paths])
        keep = np.concatenate([magnitude[p].ravel() for p in paths])
        assert pool[keep == 1].min() >= pool[keep == 0].max()
        assert magnitude[f"{layer}/bias"].all()  # |0.5| beats the 10% largest weights here
    assert 0 < rand["Dense_1/bias"].sum() < rand["Dense_1/bias"].size  # drawn with the weights
    np.testing.assert_array_equal(
        rand["Dense_1/kernel"],
        pruning.next_mask("random", params, ones, 0.9, key, pooled=True)["Dense_1/kernel"])
    # Not pooled: the per-weight-matrix masks, bit for bit.
    plain = pruning.ones_like_weights(params)
    assert pruning.next_mask("random", params, plain, 0.9, key).keys() == plain.keys()
    for k, m in pruning.next_mask("random", params, plain, 0.9, key).items():
        np.testing.assert_array_equal(m, pruning.random_mask(key, plain, 0.9)[k])


def test_rounds_with_pruned_biases_and_fresh_random_masks(tmp_path):
    """The notebook's control: each round a fresh random mask over weights and biases (not
    nested in the last round's survivors); pruned biases stay exactly 0 through training."""
    config = mlp_config(steps=20)
    init = pruning.weights_at_step(loop.build(config), 0)
    init = jax.tree_util.tree_map_with_path(  # torch-like nonzero biases, to see them pruned
        lambda path, v: v + (0.1 if path[-1].key == "bias" else 0.0), init)
    rounds = pruning.prune_and_retrain(config, str(tmp_path / "r"), init, init, (0.5, 0.8),
                                       "random", biases=True, fresh=True)
    assert [r["sparsity"] for r in rounds] == pytest.approx([0.5, 0.8], abs=1e-3)
    masks = [np.load(tmp_path / "r" / f"round_0{r}" / "mask.npz") for r in (1, 2)]
    assert "Dense_1/bias" in masks[0].files
    assert np.any(masks[1]["Dense_1/kernel"] > masks[0]["Dense_1/kernel"])  # not nested
    trained = np.load(tmp_path / "r" / "round_02" / "params.npz")
    pruned = masks[1]["Dense_1/bias"] == 0
    assert pruned.any() and not np.any(trained["Dense_1/bias"][pruned])
    assert np.all(trained["Dense_1/bias"][~pruned] != 0)
    with pytest.raises(ValueError, match="fresh=True"):
        pruning.prune_and_retrain(config, str(tmp_path / "m"), init, init, (0.5,), "magnitude",
                                  fresh=True)


# ---------------------------------------------------------------- config contract


def test_default_config_builds_exactly_the_unmasked_step():
    """prune.mask = "" (the default): the run's optimizer, init and chunk are the ones
    built before the option existed, so results are bit-identical."""
    config = mlp_config(steps=20)
    params, run = train_params(config)
    assert config.prune.mask == "" and run.mask is None
    model = run.model
    reference_opt = optim.make_optimizer(config.optimizer, config.steps)
    sample_x = np.asarray(run.dataset.x_train[:1])
    init = jax.jit(lambda key: state_lib.create(model, reference_opt, key, sample_x),
                   out_shardings=run.state_sharding)  # loop.build's init before the option
    state = init(rng.root_key(0))
    chunk = step_lib.make_train_chunk(
        step_lib.make_train_step(run.objective, run.gradient, reference_opt), config.batch_size,
        run.execution, run.placement, run.state_sharding)
    data = run.device_data()
    for length, _ in loop.chunks(0, [config.steps], config.chunk_size):
        state, _ = chunk(state, data, length)
    jax.tree.map(np.testing.assert_array_equal, params, jax.device_get(state.params))
    assert (jax.tree.structure(run.init(rng.root_key(0)).opt_state)
            == jax.tree.structure(state.opt_state))


def test_a_mask_of_ones_trains_like_no_mask(tmp_path):
    """Equal to float rounding, not bit for bit: multiplying by the mask is another XLA
    program, whose fusions may round differently (measured: ~1e-7 after 20 steps)."""
    config = mlp_config(steps=20)
    plain, _ = train_params(config)
    path = pruning.save_mask(str(tmp_path / "ones.npz"), pruning.ones_like_weights(plain))
    config.prune.mask = path
    masked, run = train_params(config)
    assert run.mask is not None
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), plain, masked)


def test_training_under_a_mask_keeps_pruned_weights_at_exactly_zero(tmp_path):
    config = mlp_config(steps=30)
    init = params_of()
    mask = pruning.random_mask(jax.random.PRNGKey(0), pruning.ones_like_weights(init), 0.9)
    config.prune.mask = pruning.save_mask(str(tmp_path / "m.npz"), mask)
    trained, _ = train_params(config)
    w, w0 = pruning.weights(trained), pruning.weights(init)
    for k, m in mask.items():
        assert np.all(w[k][m == 0] == 0.0)
    moved = np.concatenate([w[k][m == 1] != w0[k][m == 1] for k, m in mask.items()])
    assert moved.mean() > 0.8  # the survivors trained (a few feed dead ReLUs)
    assert pruning.sparsity(w) == pytest.approx(0.9, abs=1e-3)
    assert not np.array_equal(trained["Dense_0"]["bias"], init["Dense_0"]["bias"])  # not pruned


def test_bad_mask_files_are_refused_in_one_line_naming_the_key(tmp_path):
    params = params_of()
    good = pruning.ones_like_weights(params)
    cases = {
        "missing.npz": (None, "config.prune.mask: no such file"),
        "shape.npz": ({**good, "Dense_0/kernel": np.ones((40, 7))},
                      r"shape.npz: Dense_0/kernel has shape \(40, 7\), the param \(40, 32\)"),
        "name.npz": ({**good, "Dense_9/kernel": np.ones((2, 2))},
                     "name.npz: 'Dense_9/kernel' is not a param of the model"),
        "values.npz": ({**good, "Dense_1/kernel": np.full((32, 32), 0.5)},
                       "values.npz: Dense_1/kernel holds values other than 0 and 1"),
    }
    for name, (mask, message) in cases.items():
        config = mlp_config()
        config.prune.mask = str(tmp_path / name)
        if mask is not None:
            pruning.save_mask(config.prune.mask, mask)
        with pytest.raises(config_lib.ConfigError, match=message) as e:
            loop.build(config)
        assert "\n" not in str(e.value) and str(e.value).startswith("config.prune.mask: ")
    (tmp_path / "text.npz").write_text("not numpy")
    config = mlp_config()
    config.prune.mask = str(tmp_path / "text.npz")
    with pytest.raises(config_lib.ConfigError, match="not an .npz file of masks"):
        loop.build(config)


# ---------------------------------------------------------------- rewinding and rounds


def test_weights_at_step_k_are_the_dense_runs_checkpoint_at_step_k(tmp_path):
    config = mlp_config(steps=20)
    config.checkpoint_every = 10
    jaxdl.train(config, str(tmp_path / "dense"), progress=False)
    from jaxdl.training import checkpoint as checkpoint_lib
    checkpoints = checkpoint_lib.Checkpoints(str(tmp_path / "dense" / "checkpoints"), read_only=True)
    saved, _ = checkpoints.restore(10)
    checkpoints.close()
    run = loop.build(config)
    jax.tree.map(np.testing.assert_array_equal, saved["params"], pruning.weights_at_step(run, 10))
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(run.init(rng.root_key(0)).params),
                 pruning.weights_at_step(run, 0))


def test_pruning_rounds_resume_reproduce_and_equal_jaxdl_train_under_the_mask(tmp_path):
    config = mlp_config(steps=40)
    jaxdl.train(config, str(tmp_path / "dense"), progress=False)
    dense = pruning.final_params(str(tmp_path / "dense"))
    init = pruning.weights_at_step(loop.build(config), 0)
    args = (dense, init, (0.5, 0.8), "magnitude", 0)
    first = pruning.prune_and_retrain(config, str(tmp_path / "a"), *args)
    assert [r["target_sparsity"] for r in first] == [0.5, 0.8]
    assert [r["sparsity"] for r in first] == pytest.approx([0.5, 0.8], abs=1e-3)
    assert pruning.prune_and_retrain(config, str(tmp_path / "a"), *args) == first  # read back
    os.remove(tmp_path / "a" / "round_02" / "result.json")  # as if killed before the end
    assert pruning.prune_and_retrain(config, str(tmp_path / "a"), *args) == first
    assert pruning.prune_and_retrain(config, str(tmp_path / "b"), *args) == first  # afresh
    for name in ("mask.npz", "params.npz"):
        a, b = (np.load(tmp_path / d / "round_02" / name) for d in ("a", "b"))
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    # A round is what `jaxdl train --config.prune.mask=<its mask>` trains from the seed's init.
    mask_path = str(tmp_path / "a" / "round_02" / "mask.npz")
    alone = jaxdl.train(pruning.retrain_config(config, config.steps, mask_path),
                        str(tmp_path / "alone"), progress=False)
    assert alone["test"]["accuracy"] == first[1]["test_accuracy"]
    jax.tree.map(np.testing.assert_array_equal, pruning.final_params(str(tmp_path / "alone")),
                 pruning._load_params(str(tmp_path / "a" / "round_02" / "params.npz")))


def test_a_masked_sweep_refuses_to_vectorize_before_training(tmp_path):
    """Vectorized trials build their own optimizer (study/vectorize.py), without the mask."""
    from jaxdl.study import run as run_lib
    from jaxdl.study import sweep
    mask = pruning.save_mask(str(tmp_path / "m.npz"), pruning.ones_like_weights(params_of()))
    (tmp_path / "masked.py").write_text(
        "from jaxdl import config as config_lib\n"
        f"SWEEP = [{{'prune.mask': {mask!r}}}]\n"
        "SEEDS = range(2)\nMETRICS = ('test/accuracy',)\n"
        "def get_config(name=None):\n"
        "    c = config_lib.default()\n"
        "    c.model = config_lib.named_section('model', 'mlp')\n"
        "    c.model.width = 32\n"
        "    return c\n")
    study = sweep.load_study(str(tmp_path / "masked.py"))
    with pytest.raises(sweep.StudyError, match="config.prune.mask is not supported by "
                                               "vectorized trials; run with --vectorize no"):
        run_lib.run_study(study, str(tmp_path / "sweep"), vectorize_mode="yes", progress=False)
    assert not (tmp_path / "sweep").exists()


def test_a_masked_run_resumed_from_a_checkpoint_ends_with_the_same_bits(tmp_path):
    """The mask is in the optimizer state, so a resumed run keeps it."""
    import shutil
    config = mlp_config(steps=20)
    config.checkpoint_every = 10
    mask = pruning.random_mask(jax.random.PRNGKey(1), pruning.ones_like_weights(params_of()), 0.8)
    config.prune.mask = pruning.save_mask(str(tmp_path / "m.npz"), mask)
    whole = jaxdl.train(config, str(tmp_path / "run"), progress=False)
    params = pruning.final_params(str(tmp_path / "run"))
    shutil.rmtree(tmp_path / "run" / "checkpoints" / "20")  # as if killed after step 10's save
    os.remove(tmp_path / "run" / "result.json")
    resumed = jaxdl.train(config, str(tmp_path / "run"), progress=False)
    assert resumed["test"] == whole["test"]
    jax.tree.map(np.testing.assert_array_equal, params, pruning.final_params(str(tmp_path / "run")))
    assert pruning.sparsity(pruning.weights(params)) == pytest.approx(0.8, abs=1e-3)


def test_a_config_saved_before_prune_existed_is_the_same_run():
    from jaxdl.training import resume
    old = mlp_config().to_dict()
    del old["prune"]
    assert resume.config_changes(old, mlp_config().to_dict()) == {}
    assert loop.with_new_keys(old).to_dict() == mlp_config().to_dict()


def test_an_intervention_to_a_new_mask_prunes_with_the_new_one(tmp_path):
    """--intervene with another prune.mask: the optimizer state (which holds the mask) and
    the params start under the new mask, whatever the old run's state held."""
    config = mlp_config(steps=10)
    ones = pruning.ones_like_weights(params_of())
    jaxdl.train(config, str(tmp_path / "run"), progress=False)  # dense
    mask = pruning.random_mask(jax.random.PRNGKey(2), ones, 0.7)
    config.prune.mask = pruning.save_mask(str(tmp_path / "m.npz"), mask)
    config.steps = 20
    jaxdl.train(config, str(tmp_path / "run"), progress=False, intervene=True)
    w = pruning.weights(pruning.final_params(str(tmp_path / "run")))
    assert all(np.all(w[k][m == 0] == 0.0) for k, m in mask.items())
    assert pruning.sparsity(w) == pytest.approx(0.7, abs=1e-3)
