"""The online linear probe (`config.objective.online_probe`): off, self-supervised training
is the pre-probe code's bit for bit (a frozen copy, run in process); on, the backbone and
projector train exactly as without it, the probe's accuracy rises well above chance, and
it resumes, vectorizes and validates like any other part of the network."""
import json

import jax
import numpy as np
import pytest

import jaxdl
from jaxdl import config as config_lib
from jaxdl import rng
from jaxdl.study import sweep, vectorize
from jaxdl.training import hooks, loop
from equivalence import run_and_reference, vectorized_and_single  # tests/equivalence.py
from reference_ssl_objective import make_ssl_train_step as pre_probe_step  # tests/, a97b947
from reference_step import OLD_LOSS  # tests/reference_step.py
from test_ssl_training import final_state

SLOW = pytest.mark.slow
PROBE_METRICS = ("online_probe_accuracy", "online_probe_loss")


def ssl_config(method, online_probe, steps=20, eval_every=10, checkpoint_every=0):
    c = config_lib.default()
    c.objective.name, c.objective.online_probe = method, online_probe
    c.augment.name = "mnist1d"
    c.steps, c.eval_every, c.chunk_size, c.checkpoint_every = steps, eval_every, 10, checkpoint_every
    c.eval_train_examples = 1000
    config_lib.validate(c)
    return c


def without_probe(params):
    return {k: v for k, v in params.items() if k != "online_probe"}


@pytest.mark.parametrize("method", ["simclr", pytest.param("byol", marks=SLOW),
                                    pytest.param("vicreg", marks=SLOW),
                                    pytest.param("barlow_twins", marks=SLOW),
                                    pytest.param("mae", marks=SLOW)])
def test_probe_off_trains_as_the_pre_probe_step_bit_for_bit(method, tmp_path):
    """`jaxdl.train` with the probe off trains as the self-supervised step from before
    objective.online_probe existed (tests/reference_ssl_objective.py, commit a97b947), bit
    for bit: per-step loss, the params, model state, optimizer state and byol's target after
    each chunk, and the metrics.jsonl rows are the evaluations of the reference's states.
    The reference runs here, so the bits are this machine's (XLA:CPU's differ between CPUs).
    All five methods are equal; four are `slow` to keep the default suite short."""
    config = ssl_config(method, False)
    jaxdl.train(config, str(tmp_path), progress=False)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    _, saved = final_state(tmp_path)
    assert "online_probe" not in saved["params"]

    run = loop.build(config)
    reference_step = pre_probe_step(run.model, run.optimizer, OLD_LOSS)
    chunks = run_and_reference(run, reference_step, [10, 10])  # chunk_size 10, eval_every 10
    sets, expected_rows = loop.eval_sets(run), []
    for (state, metrics), (reference, reference_metrics) in chunks:
        assert set(metrics) == set(reference_metrics) == {"loss"}
        np.testing.assert_array_equal(metrics["loss"], reference_metrics["loss"])
        jax.tree.map(np.testing.assert_array_equal, state, reference)
        for split, (scalars, _) in loop.evaluate(run, reference, sets).items():
            expected_rows.append({"step": int(reference.step), "split": split, **scalars})
    assert rows == expected_rows  # floats compared exactly: json round-trips them
    assert bool(reference.target) == (method == "byol")
    for part in ("params", "model_state", "target"):
        jax.tree.map(np.testing.assert_array_equal, saved[part], getattr(reference, part))


@pytest.mark.parametrize("method", ["simclr", pytest.param("mae", marks=SLOW),
                                    pytest.param("byol", marks=SLOW),
                                    pytest.param("vicreg", marks=SLOW),
                                    pytest.param("barlow_twins", marks=SLOW)])
def test_probe_leaves_backbone_projector_and_batch_statistics_bit_for_bit(method):
    """The probe reads stop_gradient(representation) and Adam acts per param, so after N
    steps every other param, the batch-norm statistics (and byol's target) are those of
    the run without the probe — measured equal bit for bit, not just to rounding — while
    the probe itself trained."""
    off, on = loop.build(ssl_config(method, False)), loop.build(ssl_config(method, True))
    data = off.device_data()
    a, b = off.init(rng.root_key(0)), on.init(rng.root_key(0))
    probe_at_init = jax.device_get(b.params["online_probe"])
    for _ in range(2):  # chunks of 10 steps: the programs the other tests compile (cached)
        a, _ = off.train_chunk(a, data, 10)
        b, metrics = on.train_chunk(b, data, 10)
    a, b = jax.device_get((a, b))
    jax.tree.map(np.testing.assert_array_equal, a.params, without_probe(b.params))
    jax.tree.map(np.testing.assert_array_equal, a.model_state, b.model_state)
    if a.target:
        jax.tree.map(np.testing.assert_array_equal, a.target["params"],
                     without_probe(b.target["params"]))
    assert b.params["online_probe"]["kernel"].shape == (125, 10)  # the CNN's 125 features
    assert np.max(np.abs(b.params["online_probe"]["kernel"] - probe_at_init["kernel"])) > 0.05
    assert np.all(np.isfinite(metrics["online_probe_loss"]))
    assert np.all((0 <= metrics["online_probe_accuracy"]) & (metrics["online_probe_accuracy"] <= 1))


def test_online_probe_accuracy_rises_well_above_chance_during_a_short_simclr_run(tmp_path):
    """1000 SimCLR steps (25 epochs) on MNIST-1D, 10 classes (chance 0.1). Measured: test
    online-probe accuracy 0.299 at step 200, 0.458 at step 1000 (kNN 0.556)."""
    result = jaxdl.train(ssl_config("simclr", True, steps=1000, eval_every=200),
                         str(tmp_path), progress=False)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["split"] != "train_step"]  # the evaluations (log_every: 100)
    assert [(r["step"], r["split"]) for r in rows] == [
        (s, split) for s in range(200, 1001, 200) for split in ("train", "test")]
    test = [r["online_probe_accuracy"] for r in rows if r["split"] == "test"]
    assert test[-1] >= 0.35, test  # 3.5 x chance
    assert test[-1] >= test[0] + 0.05, test  # it rises as the representation trains
    assert set(PROBE_METRICS) <= set(result["test"]) and set(PROBE_METRICS) <= set(result["train"])
    assert result["test"]["online_probe_accuracy"] == test[-1]


def test_run_with_the_probe_resumes_bit_identically_after_a_crash(tmp_path, monkeypatch):
    config = ssl_config("simclr", True, steps=40, eval_every=20, checkpoint_every=10)
    jaxdl.train(config, str(tmp_path / "a"), progress=False)
    real = hooks.check_finite

    def crash(start, metrics, ok):
        real(start, metrics, ok)
        if start + len(metrics["loss"]) > 25:
            raise RuntimeError("crash")

    with monkeypatch.context() as m:
        m.setattr(hooks, "check_finite", crash)
        with pytest.raises(RuntimeError):
            jaxdl.train(config, str(tmp_path / "b"), progress=False)
    jaxdl.train(config, str(tmp_path / "b"), progress=False)
    metrics = (tmp_path / "a" / "metrics.jsonl").read_text()
    assert metrics == (tmp_path / "b" / "metrics.jsonl").read_text()
    assert all(name in json.loads(line) for line in metrics.splitlines() for name in PROBE_METRICS)
    (step_a, a), (step_b, b) = final_state(tmp_path / "a"), final_state(tmp_path / "b")
    assert step_a == step_b == 40 and "online_probe" in b["params"]
    jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.mark.slow  # ~40 s on 2 shared cores: a vmapped program and two single ones
def test_vectorized_trials_train_and_evaluate_the_probe_as_one_by_one():
    """Two seeds as one vmapped program: per step, each trial's probe loss and accuracy on
    the views agree with its one-by-one run's to float rounding, and the evaluation reports
    the probe's accuracy per trial."""
    base = ssl_config("simclr", True, steps=4)
    configs = [t.config for t in sweep.make_trials(base, [{"optimizer.lr": 1e-2}], [0, 1])]
    (first, program, state, metrics), singles = vectorized_and_single(configs, 4)
    for i, ref in enumerate(singles):
        for name in ("loss", *PROBE_METRICS):
            np.testing.assert_allclose(metrics[name][i], ref[name], rtol=1e-5, atol=1e-6)
    sets = loop.eval_sets(first)
    per_trial = vectorize._evaluate(program, state, {"test": sets["test"]})
    accuracies = [trial["test"][0]["online_probe_accuracy"] for trial in per_trial]
    assert len(accuracies) == 2 and all(0 <= a <= 1 for a in accuracies)


def test_the_probe_turns_on_from_the_command_line():
    c = config_lib.load(None, ["objective.name=byol", "objective.online_probe=True"])
    assert c.objective.online_probe is True
    run = loop.build(c)
    assert run.model.online_probe == 10
    shapes = jax.eval_shape(run.init, rng.root_key(0))
    assert shapes.params["online_probe"]["kernel"].shape == (125, 10)
    assert "online_probe" in shapes.target["params"]  # byol's EMA target carries it too


@pytest.mark.parametrize("overrides,names", [
    (["objective.online_probe=True"], ["config.objective.online_probe", "unknown key"]),
    (["objective.name=simclr", "objective.online_probe=maybe"],
     ["config.objective.online_probe", "expected bool"]),
    (["objective.name=simclr", "objective.online_probe=True", "optimizer.clip_norm=1.0"],
     ["config.optimizer.clip_norm", "online_probe"]),
])
def test_bad_online_probe_settings_fail_with_one_line_naming_the_key(overrides, names):
    with pytest.raises(config_lib.ConfigError) as info:
        config_lib.load(None, overrides)
    message = str(info.value)
    assert "\n" not in message
    for name in names:
        assert name in message, message


def test_a_config_saved_before_the_key_existed_resumes_as_the_probe_off():
    """A run saved by the code before objective.online_probe: no config change (resume
    goes on without --intervene), and it rebuilds the network without a probe."""
    current = ssl_config("simclr", False).to_dict()
    old = json.loads(json.dumps(current))
    del old["objective"]["online_probe"]
    from jaxdl.training import resume
    assert resume.config_changes(old, current) == {}
    assert loop.with_new_keys(old).objective.online_probe is False
    assert resume.config_changes(old, ssl_config("simclr", True).to_dict()) != {}
