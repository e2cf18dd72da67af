"""Regularization: the core options (input noise, weight noise, supervised augmentation,
cnn1d dropout; off: the old train step bit for bit, and old configs resume), the
MC-dropout probe, and claims of experiments/regularization.py as tests: L1 gives sparser
weights than L2 (at an L2 strength that costs at least as much accuracy); augmentation
regularizes the overfitting MLP; MC averaging over dropout masks reaches weight scaling;
the restored best-validation checkpoint is the logged best, and changes little here."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxdl import config as config_lib
from jaxdl import saved as saved_lib
from jaxdl import data as data_lib
from jaxdl import losses, models, objectives, rng
from jaxdl.data import augment as augment_lib
from jaxdl.models import ssl
from jaxdl.objectives import supervised
from jaxdl.probes import mc_dropout
from jaxdl.probes.sparsity import hoyer
from jaxdl.training import checkpoint, loop
from jaxdl.training import step as step_lib

import reference_step  # tests/reference_step.py: the step before objectives, frozen
from reference_objective import old_objective, old_train_step  # tests/reference_objective.py


def test_hoyer_by_hand():
    assert hoyer(np.ones(4)) == 0.0 and hoyer(np.array([0.0, 0, 0, 3])) == 1.0


def trained_weights(tmp_path, l1: float, l2: float) -> tuple[float, np.ndarray]:
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.objective.l1, c.objective.l2 = l1, l2
    c.steps = c.eval_every = c.checkpoint_every = 600
    workdir = str(tmp_path / f"l1={l1},l2={l2}")
    result = loop.train(c, workdir, progress=False)
    run = loop.build(c)
    saved = checkpoint.Checkpoints(f"{workdir}/checkpoints", read_only=True).restore_latest(
        lambda s: loop.as_saved(jax.eval_shape(run.init, rng.root_key(c.seed)), s))
    params = loop.as_train_state(saved[0]).params
    w = np.concatenate([np.ravel(x) for x in jax.tree.leaves(params) if x.ndim > 1])
    return result["test"]["accuracy"], w


def test_claim_l1_gives_sparser_weights_than_l2(tmp_path):
    acc_l1, w_l1 = trained_weights(tmp_path, 3e-4, 0.0)
    acc_l2, w_l2 = trained_weights(tmp_path, 0.0, 3e-3)
    assert acc_l2 <= acc_l1 + 0.02  # L2 at least as strong (it costs as much accuracy)
    assert hoyer(w_l1) > hoyer(w_l2) + 0.05  # measured 0.508 vs 0.391
    assert np.mean(np.abs(w_l1) < 1e-2) > np.mean(np.abs(w_l2) < 1e-2) + 0.05  # 0.465 vs 0.326


# ---------------------------------------------------------------- the core options
# The regularizers are options of the supervised objective (config.objective), written op
# for op as the step before objectives (tests/reference_step.py, frozen) computed them.


def _mlp(*overrides: str):
    c = config_lib.apply_overrides(config_lib.default(), ["model.name=mlp", "objective.l2=1e-4",
                                                          *overrides])
    return c, loop.build(c)


def old_loss(c) -> ml_collections.ConfigDict:
    """config.loss as it was (the frozen steps' `loss_cfg`) for `c`'s supervised objective."""
    o = c.objective
    return ml_collections.ConfigDict(dict(
        name=o.loss, label_smoothing=o.label_smoothing, l1=o.l1, l2=o.l2, jacobian=o.jacobian,
        input_noise=o.input_noise, weight_noise=o.weight_noise, adversarial=dict(attack="none"),
        distill=dict(teacher="", temperature=4.0)))


def _chunk(run, train_step, steps=20):
    chunk = step_lib.make_train_chunk(train_step, run.config.batch_size, "loop")
    return jax.device_get(chunk(run.init(rng.root_key(0)), run.device_data(), steps))


def assert_same_run(new, old):
    """(state, metrics) of today's step equal the old step's bit for bit."""
    (state, metrics), (old_state, old_metrics) = new, old
    assert jax.tree.structure(state) == jax.tree.structure(old_state)
    jax.tree.map(np.testing.assert_array_equal, state, old_state)
    assert set(metrics) == set(old_metrics)
    for name in old_metrics:
        np.testing.assert_array_equal(metrics[name], old_metrics[name])


@pytest.mark.parametrize("overrides", [(), ("model.dropout=0.2", "model.batch_norm=True")])
def test_options_off_leave_a_short_run_bit_identical(overrides):
    """The supervised objective with its noise options off trains as the step before the
    options existed and as the step before objectives, bit for bit."""
    c, run = _mlp(*overrides)
    new = _chunk(run, run.train_step)
    assert_same_run(new, _chunk(run, old_train_step(run.model, run.optimizer, old_loss(c), True)))
    assert_same_run(new, _chunk(run, reference_step.make_train_step(
        run.model, run.optimizer, old_loss(c), True, augment=c.augment)))


def test_input_noise_and_augmentation_are_the_old_step_on_keyed_transformed_inputs():
    c, run = _mlp("objective.input_noise=0.3", "augment.name=mnist1d", "model.dropout=0.2")
    aug = ssl.augmentation(ssl.views_of(c.augment))

    def transform(state, x):
        x = aug(rng.step_key(state.key, rng.AUGMENT, state.step), x)
        noise_key = jax.random.fold_in(rng.step_key(state.key, rng.NOISE, state.step), 0)
        return augment_lib.gaussian_noise(noise_key, x, std=0.3)

    old = old_train_step(run.model, run.optimizer, old_loss(c), True, transform)
    plain = old_train_step(run.model, run.optimizer, old_loss(c), True)
    frozen = reference_step.make_train_step(run.model, run.optimizer, old_loss(c), True,
                                            augment=c.augment)
    a, b, p = _chunk(run, run.train_step, 5), _chunk(run, old, 5), _chunk(run, plain, 5)
    assert_same_run(a, _chunk(run, frozen, 5))  # op for op as the step before objectives
    # the oldest step on inputs transformed outside its program: rounding may differ
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=2e-5, atol=1e-6),
                 a, b)
    assert not np.allclose(a[1]["loss"], p[1]["loss"])  # the inputs did change


def test_weight_noise_takes_the_data_gradient_at_perturbed_weights_and_the_penalty_at_w():
    c, run = _mlp("objective.weight_noise=0.05")
    state = run.init(rng.root_key(0))
    batch = (jnp.asarray(run.dataset.x_train[:64]), jnp.asarray(run.dataset.y_train[:64]))
    keys = objectives.StepKeys(state.key, jnp.asarray(3, jnp.int32))
    key, noise_key = keys(rng.DROPOUT), jax.random.fold_in(keys(rng.NOISE), 1)
    loss = run.objective.loss
    g_new = jax.grad(lambda p: loss(p, {}, {}, batch, keys)[0])(state.params)
    noisy = supervised.perturb_weights(state.params, noise_key, 0.05)
    plain = old_loss(config_lib.apply_overrides(c, ["objective.l2=0"]))
    g_data = jax.grad(lambda p: old_objective(run.model, plain, True)(p, {}, batch, key)[0])(noisy)
    g_penalty = jax.grad(lambda p: c.objective.l2 * losses.l2_penalty(p))(state.params)
    jax.tree.map(lambda u, v, w: np.testing.assert_allclose(u, v + w, rtol=1e-4, atol=1e-7),
                 g_new, g_data, g_penalty)
    # op for op as the step before objectives, given the same NOISE and DROPOUT keys
    frozen = reference_step.make_objective(run.model, old_loss(c), True)
    g_frozen = jax.grad(lambda p: frozen(p, {}, batch, key, noise_key=noise_key)[0])(state.params)
    jax.tree.map(np.testing.assert_array_equal, g_new, g_frozen)
    for w, n in zip(jax.tree.leaves(state.params), jax.tree.leaves(noisy)):
        if w.ndim > 1:  # weights: N(0, 0.05^2) noise; biases untouched
            assert abs(float(jnp.std(n - w)) - 0.05) < 0.005
        else:
            np.testing.assert_array_equal(w, n)


def _saved_before_objectives() -> dict:
    """A config.json from before objectives and before the noise options and model.dropout:
    `loss` held the supervised loss and its regularizers."""
    saved = config_lib.default().to_dict()
    del saved["gradient"], saved["model"]["dropout"]
    saved["objective"] = {"name": "supervised"}
    saved["loss"] = dict(name="cross_entropy", label_smoothing=0.0, l1=0.0, l2=0.0,
                         jacobian=0.0, adversarial=dict(attack="none", eps=0.1),
                         distill=dict(teacher="", temperature=4.0))
    return saved


def test_configs_saved_before_the_new_keys_compare_unchanged_once_upgraded():
    """An old config (a `loss` section without input_noise and weight_noise, a model
    without dropout) upgrades to today's default: no change; a changed noise option is the
    one change, under its new name."""
    from jaxdl.training import resume
    old = saved_lib.upgrade(_saved_before_objectives())
    assert "loss" not in old
    assert resume.config_changes(old, config_lib.default().to_dict()) == {}
    assert saved_lib.from_saved(_saved_before_objectives()).to_dict() == \
        config_lib.default().to_dict()
    changed = config_lib.apply_overrides(config_lib.default(), ["objective.input_noise=0.1"])
    assert list(resume.config_changes(old, changed.to_dict())) == ["objective.input_noise"]


def test_a_run_saved_before_objectives_resumes_unchanged(tmp_path):
    """A finished run whose config.json and checkpoint hold the old layout (as written
    before objectives) is the same run as today's config: training it again finds it
    finished, instead of refusing a run of another config."""
    import glob
    import json
    c = config_lib.load(None, ["model.name=mlp", "steps=2", "eval_every=0", "chunk_size=2",
                               "data.num_samples=1000"])
    workdir = str(tmp_path / "run")
    result = loop.train(c, workdir, progress=False)
    paths = [f"{workdir}/config.json", *glob.glob(f"{workdir}/checkpoints/*/config/metadata")]
    assert len(paths) == 2
    for path in paths:
        with open(path) as f:
            saved = json.load(f)
        # the files this rewrites hold the config, as JSON
        assert saved == json.loads(json.dumps(c.to_dict()))
        old = {k: v for k, v in saved.items() if k != "gradient"}  # the same config, as the
        old.update(objective={"name": "supervised"},  # old layout wrote it
                   loss=_saved_before_objectives()["loss"])
        old["model"] = {k: v for k, v in saved["model"].items() if k != "dropout"}
        assert json.loads(json.dumps(saved_lib.from_saved(old).to_dict())) == saved
        with open(path, "w") as f:
            json.dump(old, f)
    assert loop.train(c, workdir, progress=False) == result


@pytest.mark.parametrize("override,message", [
    ("objective.input_noise=-0.1", "config.objective.input_noise: must be >= 0"),
    ("objective.weight_noise=nan", "config.objective.weight_noise: must be a finite number"),
])
def test_noise_options_are_validated_naming_the_key(override, message):
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.load(None, [override])


def test_noise_needs_the_supervised_objective_but_augmentation_is_allowed_there():
    with pytest.raises(config_lib.ConfigError,
                       match="config.objective.input_noise: unknown key; allowed: .*temperature"):
        config_lib.load(None, ["objective.name=simclr", "augment.name=mnist1d",
                               "objective.input_noise=0.1"])
    config_lib.load(None, ["augment.name=mnist1d", "objective.input_noise=0.1"])
    images = config_lib.load(None, ["data.name=digits", "model.name=cnn2d",
                                    "augment.name=mnist1d"])
    with pytest.raises(config_lib.ConfigError, match="config.augment.name.*signals") as info:
        loop.build(images)  # 1-D views on images: refused before any compute, in one line
    assert "\n" not in str(info.value)


def test_cnn1d_dropout_masks_features_in_training_only():
    x = jnp.asarray(data_lib.load("mnist1d").x_test[:64])
    plain, dropped = models.build("cnn1d", 10), models.build("cnn1d", 10, dropout=0.5)
    params = plain.init({"params": jax.random.PRNGKey(0)}, x[:1], train=False)["params"]
    assert jax.tree.structure(params) == jax.tree.structure(
        dropped.init({"params": jax.random.PRNGKey(0)}, x[:1], train=False)["params"])
    rngs = {"dropout": jax.random.PRNGKey(1)}
    reference = plain.apply({"params": params}, x, train=True, rngs=rngs)
    np.testing.assert_array_equal(dropped.apply({"params": params}, x, train=False),
                                  plain.apply({"params": params}, x, train=False))
    masked = dropped.apply({"params": params}, x, train=True, rngs=rngs)
    assert float(jnp.mean(jnp.abs(masked - reference))) > 0.05


# ---------------------------------------------------------------- dropout at test time


def test_mc_dropout_equals_weight_scaling_without_dropout_and_differs_with_it():
    x = jnp.asarray(data_lib.load("mnist1d").x_test[:200])
    for rate in (0.0, 0.5):
        model = models.build("mlp", 10, dropout=rate)
        params = model.init({"params": jax.random.PRNGKey(0)}, x[:1], train=False)["params"]
        ws = mc_dropout.weight_scaled_probabilities(model, params, x)
        mc = mc_dropout.mc_probabilities(model, params, x, jax.random.PRNGKey(3), 8)
        if rate == 0:
            np.testing.assert_allclose(mc, np.broadcast_to(ws, mc.shape), atol=1e-6)
        else:  # passes are different thinned nets, and pass t is reproducible from its key
            assert float(jnp.max(jnp.abs(mc[0] - mc[1]))) > 0.05
            again = mc_dropout.mc_probabilities(model, params, x, jax.random.PRNGKey(3), 3)
            np.testing.assert_array_equal(again, mc[:3])
            curve = mc_dropout.mc_accuracy_curve(mc, data_lib.load("mnist1d").y_test[:200], (1, 8))
            assert curve[1] == mc_dropout.accuracy_of(mc[0], data_lib.load("mnist1d").y_test[:200])


def test_mc_dropout_refuses_batch_norm_models():
    model = models.build("mlp", 10, dropout=0.5, batch_norm=True)
    x = jnp.zeros((4, 40))
    variables = model.init({"params": jax.random.PRNGKey(0)}, x, train=False)
    with pytest.raises(ValueError, match="batch norm"):
        mc_dropout.mc_probabilities(model, variables["params"], x, jax.random.PRNGKey(0), 2,
                                    model_state={"batch_stats": variables["batch_stats"]})


# ---------------------------------------------------------------- claims of the study

# R4 needs early stopping's restore, so the unregularized net trains through a sweep: the
# study's recipe for 3000 steps (its validation loss is lowest near step 1250 and has risen
# by a quarter at 3000), evaluated and checkpointed every 1000 steps and at the end (early
# stopping restores one of these), in chunks of 250 (one compiled program; chunking never
# changes a bit). R1 and R3 need only the final nets of augmentation and dropout 0.5:
# `trained` below, no run directory.
CLAIM_STUDY = """
from jaxdl.study import sweep
study = sweep.load_module({path!r})
SWEEP = study.points(["none"])
SEEDS = (0,)
METRICS = ("measure/clean",)
def get_config(name=None):
    c = study.get_config()
    c.steps, c.eval_every, c.checkpoint_every = 3000, 1000, 1000
    c.chunk_size, c.keep_checkpoints = 250, 3000 // 1000 + 1
    return c
measure = study.measure
"""


def trained(study, name: str, steps: int, seed: int = 0):
    """A measure.Context of the study's regularizer `name` (seed `seed`) trained `steps`
    steps by the core's driver without a run directory (pruning.train_steps, the bits of
    `jaxdl.train`: tests/test_pruning.py), with the key a sweep's measure gets."""
    from jaxdl import pruning
    from jaxdl.study import measure, sweep
    config = config_lib.apply_overrides(study.get_config(), [
        *sweep.overrides(study.points([name])[0]), f"steps={steps}"])
    config_lib.validate(config)
    run = loop.build(config)
    state = pruning.train_steps(run, run.init(rng.root_key(seed)), steps)
    return measure.Context(trial=None, config=config, run=run, state=state,
                           key=rng.purpose_key(rng.root_key(seed), rng.MEASURE), _load=None,
                           _trials=())


def test_claims_augmentation_wins_mc_dropout_matches_weight_scaling_early_stopping_restores(
        tmp_path):
    """The full run (experiments/regularization.py, 5 seeds, 6000 steps): augmentation
    +0.121 ± 0.007 clean accuracy over none; MC (T = 100) - weight scaling -0.005 ± 0.007
    at dropout 0.5 while one pass is 0.095 worse; for none the validation loss doubles after
    its minimum while restoring the best-validation-accuracy checkpoint changes clean
    accuracy by -0.003 ± 0.005. Here: one seed; none and augmentation 3000 steps, dropout
    1250. Measured (2-core Intel Xeon, shared; XLA_FLAGS=--xla_cpu_max_isa=AVX2 gives the
    same bits, SSE4_2's in brackets): augmentation 0.685 vs none 0.6075, +0.0775 [+0.078];
    dropout: weight scaling 0.4805, one pass 0.3715 (0.109 [0.109] worse), MC T = 100 0.471
    (|Δ| 0.0095 [0.0095]); none's validation loss 1.350 at 3000 vs 1.062 at its lowest
    (x1.271 [x1.268]), restoring its best step (2000) changes clean accuracy by 0.006
    [0.0035]. (Until the suite's diet: all three through a sweep, 3000 steps each, evaluated
    and checkpointed every 250 — the restore checked on each: +0.078, 0.108, 0.002, x1.284,
    0.011; 12.4 s of CPU, now 6.)"""
    import os
    from jaxdl.study import run as run_lib
    from jaxdl.study import store, sweep
    path = tmp_path / "small.py"
    path.write_text(CLAIM_STUDY.format(path=os.path.abspath("experiments/regularization.py")))
    run_lib.run_study(sweep.load_study(str(path)), str(tmp_path / "sweep"), progress=False)
    [record] = store.records([str(tmp_path / "sweep")])
    none = {k.split("/")[1]: v for _, k, v in record["rows"] if k.startswith("measure/")}
    val = {s: v for s, k, v in record["rows"] if k == "test/accuracy"}
    # the restored checkpoint is the best validation step's, re-evaluated
    assert none["early_stopped_validation"] == max(val.values())
    assert val[int(none["early_stopped_step"])] == max(val.values())
    study = sweep.load_module(os.path.abspath("experiments/regularization.py"))
    aug = study.test_accuracies(trained(study, "augmentation", 3000))
    drop = study.dropout_inference(trained(study, "dropout 0.5", 1250))
    assert aug["clean"] > none["clean"] + 0.05  # R1: augmentation regularizes the MLP
    # R3: one thinned net is worse than weight scaling; averaging 100 closes the gap
    assert drop["mc_1"] < drop["weight_scaled"] - 0.03
    assert abs(drop["mc_100"] - drop["weight_scaled"]) <= 0.02
    # R4 here: the net overfits in loss, not in accuracy, so restoring changes little
    assert none["final_validation_loss"] > 1.2 * none["min_validation_loss"]  # 1.35 vs 1.06
    assert abs(none["early_stopped_clean"] - none["clean"]) <= 0.02
    print({"none": {k: round(none[k], 4) for k in ("clean", "early_stopped_clean")},
           "augmentation": round(aug["clean"], 4),
           "dropout": {k: round(drop[k], 4) for k in ("weight_scaled", "mc_1", "mc_100")}})
