"""Self-supervised training through the core: the default objective unchanged bit for
bit (against the frozen pre-objective step, run in process), every method trains, BYOL's
EMA target by hand, exact resume, old checkpoints, one-line config errors."""
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdl
from jaxdl import config as config_lib
from jaxdl import models, rng
from jaxdl.data import augment as augment_lib
from jaxdl.models import ssl
from jaxdl.objectives.self_supervised import knn_leave_one_out
from jaxdl.training import checkpoint, hooks, loop, resume

from equivalence import run_and_reference  # tests/equivalence.py
from reference_objective import old_train_step  # tests/reference_objective.py
from reference_step import OLD_LOSS  # tests/reference_step.py

METHODS = ("simclr", "byol", "vicreg", "barlow_twins", "mae", "dino")


def short_default():
    c = config_lib.default()
    c.steps, c.eval_every, c.chunk_size, c.checkpoint_every = 60, 30, 30, 0
    return c


def ssl_config(method, steps=40, **objective):
    c = config_lib.default()
    c.objective.name = method
    c.augment.name = "mnist1d"
    c.steps, c.eval_every, c.chunk_size, c.checkpoint_every = steps, 20, 10, 10
    c.eval_train_examples = 1000
    for k, v in objective.items():
        c.objective[k] = v
    config_lib.validate(c)
    return c


def final_state(path):
    ck = checkpoint.Checkpoints(f"{path}/checkpoints", read_only=True)
    try:
        state, _, step = ck.restore_latest(None)
    finally:
        ck.close()
    return step, jax.device_get(state)


# ---------------------------------------------------------------- default unchanged


def test_default_objective_trains_as_the_pre_objective_step_bit_for_bit(tmp_path):
    """`jaxdl.train` of the default (supervised) config trains as the train step from
    before config.objective existed (tests/reference_objective.py: with no option on, that
    step is the pre-objective code's op for op), bit for bit: per-step loss and accuracy,
    the final params, optimizer and model state, and the evaluations in metrics.jsonl are
    those of the reference's states. The reference runs here, so the bits are this
    machine's (XLA:CPU's differ between CPUs), in the run's own chunks (eval_every 30)."""
    config = short_default()
    jaxdl.train(config, str(tmp_path / "run"), progress=False)
    rows = [json.loads(line)
            for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    step, saved = final_state(tmp_path / "run")
    assert step == 60 and saved["target"] == {}

    run = loop.build(config)
    reference_step = old_train_step(run.model, run.optimizer, OLD_LOSS, True)
    chunks = run_and_reference(run, reference_step, [30, 30])
    sets, expected_rows = loop.eval_sets(run), []
    for (state, metrics), (reference, reference_metrics) in chunks:
        assert set(reference_metrics) == {"loss", "accuracy"}
        assert set(metrics) == {"loss", "accuracy"}
        for name in reference_metrics:
            np.testing.assert_array_equal(metrics[name], reference_metrics[name], err_msg=name)
        jax.tree.map(np.testing.assert_array_equal, state, reference)
        for split, (scalars, _) in loop.evaluate(run, reference, sets).items():
            expected_rows.append({"step": int(reference.step), "split": split, **scalars})
    assert rows == expected_rows  # floats compared exactly: json round-trips them
    jax.tree.map(np.testing.assert_array_equal, saved["params"], reference.params)
    jax.tree.map(np.testing.assert_array_equal, saved["model_state"], reference.model_state)


def test_config_without_the_new_sections_is_the_default_run():
    """A config saved before objective/augment existed: no change for resume, and it builds
    the same (supervised) model and step as the one with the sections at their defaults."""
    old = short_default().to_dict()
    for section in ("objective", "augment"):
        del old[section]
    assert resume.config_changes(old, short_default().to_dict()) == {}
    completed = loop.with_new_keys(old)
    assert completed.to_dict() == short_default().to_dict()
    run = loop.build(completed)
    assert not isinstance(run.model, ssl.SSLNet)
    assert jax.tree.structure(jax.eval_shape(run.init, rng.root_key(0))) == jax.tree.structure(
        jax.eval_shape(loop.build(short_default()).init, rng.root_key(0)))


def test_checkpoint_from_before_the_target_field_resumes_exactly(tmp_path, monkeypatch):
    """A run checkpointed by the old code (state without `target`, config without the new
    sections) resumes under the new code and ends as an uninterrupted run."""
    c = short_default()
    c.checkpoint_every = 30
    jaxdl.train(c, str(tmp_path / "a"), progress=False)

    real_save = checkpoint._args_save

    def old_save(state, config):
        old_state = {k: getattr(state, k) for k in ("step", "params", "opt_state",
                                                     "model_state", "key")}
        old_config = {k: v for k, v in config.to_dict().items()
                      if k not in ("objective", "augment")}
        return real_save(old_state, config_lib.ml_collections.ConfigDict(old_config))

    real_check = hooks.check_finite

    def crash(start, metrics, ok):
        real_check(start, metrics, ok)
        if start >= 30:
            raise RuntimeError("crash")

    with monkeypatch.context() as m:
        m.setattr(checkpoint, "_args_save", old_save)
        m.setattr(hooks, "check_finite", crash)
        with pytest.raises(RuntimeError):
            jaxdl.train(c, str(tmp_path / "b"), progress=False)
    ck = checkpoint.Checkpoints(f"{tmp_path}/b/checkpoints", read_only=True)
    assert ck.steps() == [30] and "objective" not in ck.saved_config(30)
    ck.close()
    jaxdl.train(c, str(tmp_path / "b"), progress=False)
    assert (tmp_path / "a" / "metrics.jsonl").read_text() == \
        (tmp_path / "b" / "metrics.jsonl").read_text()
    jax.tree.map(np.testing.assert_array_equal, final_state(tmp_path / "a")[1]["params"],
                 final_state(tmp_path / "b")[1]["params"])


# ---------------------------------------------------------------- the methods


@pytest.fixture(scope="module")
def data():
    return loop.build(ssl_config("simclr")).device_data()


@pytest.mark.parametrize("method", METHODS)
def test_each_method_trains_with_finite_loss_and_evaluates(method, data):
    run = loop.build(ssl_config(method))
    state = run.init(rng.root_key(0))
    before = jax.device_get(state.params)
    state, metrics = run.train_chunk(state, data, 3)
    loss = np.asarray(metrics["loss"])
    assert loss.shape == (3,) and np.all(np.isfinite(loss))
    moved = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), before,
                         jax.device_get(state.params))
    assert min(jax.tree.leaves(moved)) > 0  # every param (backbone and heads) is trained
    assert "Dense_0" not in state.params["backbone"]  # the classification head is cut off
    scalars = loop.evaluate(run, state, loop.eval_sets(run))
    for split in ("train", "test"):
        assert math.isfinite(scalars[split][0]["loss"])
        assert 0.0 <= scalars[split][0]["knn_accuracy"] <= 1.0
    assert (state.target != {}) == (method in ("byol", "dino"))  # the EMA target / teacher


def test_representation_is_the_backbone_head_input():
    """For the MNIST-1D CNN: relu(last conv) flattened, 5 x 25 = 125 features."""
    run = loop.build(ssl_config("simclr"))
    state = run.init(rng.root_key(0))
    x = jnp.asarray(run.dataset.x_train[:4])
    out, _ = models.apply(run.model, state.params, state.model_state, x, train=False)
    conv = models.build("cnn1d", 125)  # the same convolutions, an identity head
    variables = {"params": {**state.params["backbone"],
                            "Dense_0": {"kernel": jnp.eye(125), "bias": jnp.zeros(125)}}}
    np.testing.assert_allclose(out["representation"], conv.apply(variables, x, train=False),
                               rtol=1e-6)
    assert out["projection"].shape == (4, 64)


def test_notebook_simclr_heads_and_views():
    """SimCLR as the MNIST-1D notebook has it: a projector Dense-ReLU-Dense without batch
    norm, or none (the projection is the representation); its views are its `augment`."""
    run = loop.build(ssl_config("simclr", projector=(125, 16), projector_bn=False,
                                loss="info_nce"))
    state = run.init(rng.root_key(0))
    assert set(state.params["projector"]) == {"Dense_0", "Dense_1"} and not state.model_state
    x = jnp.asarray(run.dataset.x_train[:4])
    out, _ = models.apply(run.model, state.params, state.model_state, x, train=False)
    p = state.params["projector"]
    hidden = jax.nn.relu(out["representation"] @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])
    np.testing.assert_allclose(out["projection"], hidden @ p["Dense_1"]["kernel"]
                               + p["Dense_1"]["bias"], rtol=1e-5, atol=1e-6)
    bare = loop.build(ssl_config("simclr", projector=()))
    state = bare.init(rng.root_key(0))
    assert "projector" not in state.params
    out, _ = models.apply(bare.model, state.params, state.model_state, x, train=False)
    np.testing.assert_array_equal(out["projection"], out["representation"])
    # the notebook's views: after its de-trend, view = roll(de-trended x, s), s in 0..9
    views = ssl.Views(name="mnist1d_notebook", max_shift=10, slope_std=0.04, offset_std=0.3)
    signals = np.asarray(run.dataset.x_train[:8])
    out = np.asarray(ssl.augmentation(views)(jax.random.PRNGKey(3), jnp.asarray(signals)))
    detrend = np.asarray(augment_lib.remove_trend(None, jnp.asarray(signals)))
    again = np.asarray(augment_lib.remove_trend(None, jnp.asarray(out)))
    for row, base in zip(again, detrend):
        shifted = [np.asarray(augment_lib.remove_trend(None, jnp.roll(base, s)[None]))[0]
                   for s in range(10)]
        assert any(np.allclose(row, r, atol=1e-4) for r in shifted)
    assert not np.allclose(out, detrend, atol=1e-2)  # a new trend and offset were added


def test_byol_target_follows_the_momentum_schedule_by_hand(data):
    steps, base = 10, 0.9
    run = loop.build(ssl_config("byol", steps=steps, ema_base=base))
    state = run.init(rng.root_key(0))
    s0 = jax.device_get(state)
    jax.tree.map(np.testing.assert_array_equal, s0.target,
                 {"params": s0.params, "model_state": s0.model_state})
    state, _ = run.train_chunk(state, data, 1)
    s1 = jax.device_get(state)
    state, _ = run.train_chunk(state, data, 1)
    s2 = jax.device_get(state)
    tau0 = base  # 1 - (1 - base)(cos 0 + 1) / 2
    tau1 = 1 - (1 - base) * (math.cos(math.pi / steps) + 1) / 2  # = 0.902447...
    assert abs(tau1 - 0.9024471741852423) < 1e-12

    def online(s):
        return {"params": s.params, "model_state": s.model_state}

    t1 = jax.tree.map(lambda t, o: tau0 * t + (1 - tau0) * o, s0.target, online(s1))
    t2 = jax.tree.map(lambda t, o: tau1 * t + (1 - tau1) * o, t1, online(s2))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                 s1.target, t1)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                 s2.target, t2)
    assert not np.allclose(s2.target["params"]["projector"]["Dense_0"]["kernel"],
                           s2.params["projector"]["Dense_0"]["kernel"])


def test_views_are_keyed_by_the_step_and_chunking_does_not_change_a_run(data):
    run = loop.build(ssl_config("simclr"))
    a, _ = run.train_chunk(run.init(rng.root_key(0)), data, 4)
    b = run.init(rng.root_key(0))
    for _ in range(2):
        b, _ = run.train_chunk(b, data, 2)
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(a.params),
                 jax.device_get(b.params))


def test_knn_leave_one_out_by_hand():
    """Four points on two rays: each one's nearest other point is its ray-mate, except
    the masked one, which is neither a query nor a neighbour."""
    f = jnp.asarray([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 3.0]]).reshape(2, 2, 2)
    y = jnp.asarray([[0, 0], [1, 1]])
    assert int(knn_leave_one_out(f, y, jnp.ones((2, 2)), 2, k=1)) == 4
    wrong = jnp.asarray([[0, 1], [1, 1]])  # example 1 labelled 1 among class-0 neighbours
    assert int(knn_leave_one_out(f, wrong, jnp.ones((2, 2)), 2, k=1)) == 2
    mask = jnp.asarray([[1.0, 1.0], [1.0, 0.0]])  # example 3 masked: example 2 has no ray-mate
    assert int(knn_leave_one_out(f, y, mask, 2, k=1)) == 2


# ---------------------------------------------------------------- resume


class Crash(Exception):
    pass


# Methods with an EMA target (dino: and a center). byol's ~10 s is over the default run's
# budget; dino's run carries every kind of state byol's does, and more.
@pytest.mark.parametrize("method", [pytest.param("byol", marks=pytest.mark.slow), "dino"])
def test_ssl_run_resumes_bit_identically_after_a_crash(method, tmp_path, monkeypatch):
    config = ssl_config(method)
    jaxdl.train(config, str(tmp_path / "a"), progress=False)
    real = hooks.check_finite

    def check(start, metrics, ok):
        real(start, metrics, ok)
        if start + len(metrics["loss"]) > 25:
            raise Crash()

    with monkeypatch.context() as m:
        m.setattr(hooks, "check_finite", check)
        with pytest.raises(Crash):
            jaxdl.train(config, str(tmp_path / "b"), progress=False)
    jaxdl.train(config, str(tmp_path / "b"), progress=False)
    assert (tmp_path / "a" / "metrics.jsonl").read_text() == \
        (tmp_path / "b" / "metrics.jsonl").read_text()
    (step_a, a), (step_b, b) = final_state(tmp_path / "a"), final_state(tmp_path / "b")
    assert step_a == step_b == 40 and a["target"]
    if method == "dino":  # the center, carried in the model state, has moved
        assert np.abs(a["model_state"][ssl.CENTER]["center"]).max() > 0
    jax.tree.map(np.testing.assert_array_equal, a, b)
    history = [json.loads(line)["event"]
               for line in (tmp_path / "b" / "history.jsonl").read_text().splitlines()]
    assert history == ["start", "resume", "finish"]
    result = json.loads((tmp_path / "b" / "result.json").read_text())
    assert set(result["test"]) == {"loss", "knn_accuracy"}


# ---------------------------------------------------------------- config errors


def error_of(overrides):
    with pytest.raises(config_lib.ConfigError) as info:
        config_lib.load(None, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("overrides,names", [
    (["objective.name=no_such_objective"], ["config.objective.name", "simclr"]),
    (["objective.name=simclr", "objective.temperature=0"], ["config.objective.temperature", "> 0"]),
    (["objective.name=byol", "objective.ema_base=1.0"], ["config.objective.ema_base", "[0, 1)"]),
    (["objective.name=byol", "objective.projector=()"], ["config.objective.projector", "non-empty"]),
    (["objective.name=simclr", "objective.loss=mse"], ["config.objective.loss", "info_nce"]),
    (["objective.name=simclr", "augment.slope_std=-1"], ["config.augment.slope_std", ">= 0"]),
    (["objective.name=vicreg", "objective.projector=(64,0)"], ["config.objective.projector", "> 0"]),
    (["objective.name=barlow_twins", "objective.lambd=-1"], ["config.objective.lambd", ">= 0"]),
    (["objective.name=mae", "objective.mask_length=0"], ["config.objective.mask_length", ">= 1"]),
    (["objective.projector=(64,)"], ["config.objective.projector", "unknown key", "loss"]),
    (["augment.name=cifar"], ["config.augment.name", "mnist1d"]),  # supervised too (#8)
    (["objective.name=simclr", "augment.name=cifar"], ["config.augment.name", "mnist1d"]),
    (["objective.name=simclr", "augment.min_scale=0"], ["config.augment.min_scale", "(0, 1]"]),
    (["objective.name=simclr", "augment.noise_std=-0.1"], ["config.augment.noise_std", ">= 0"]),
    (["objective.name=simclr", "objective.temperature=0.1", "objective.name=byol"],
     ["config.objective.temperature", "unknown key"]),  # the last name wins: byol's options
    (["objective.temprature=0.1"], ["config.objective.temprature", "unknown key"]),
])
def test_bad_objective_and_augment_values_fail_with_one_line_naming_the_key(overrides, names):
    message = error_of(overrides)
    for name in names:
        assert name in message, message


def test_checks_that_need_the_data_fail_with_one_line():
    c = config_lib.load(None, ["objective.name=mae", "objective.mask_length=41"])
    with pytest.raises(config_lib.ConfigError) as info:
        loop.build(c)
    assert str(info.value).startswith("config.objective: mask_length 41") and \
        "\n" not in str(info.value)
    c = config_lib.load(None, ["objective.name=simclr", "data.name=teacher",
                               "data.num_classes=0"])
    with pytest.raises(config_lib.ConfigError) as info:
        loop.build(c)
    assert "config.objective.name" in str(info.value) and "regression" in str(info.value)
