"""The online linear probe (`config.objective.online_probe`): off, self-supervised training
is the committed code's bit for bit; on, the backbone and projector train exactly as
without it, the probe's accuracy rises well above chance, and it resumes, vectorizes
and validates like any other part of the network."""
import json

import jax
import numpy as np
import pytest

import jaxdl
from jaxdl import config as config_lib
from jaxdl import rng
from jaxdl.study import sweep, vectorize
from jaxdl.training import loop
from equivalence import vectorized_and_single  # tests/equivalence.py
from test_ssl_training import final_state, params_sha256 as sha256

# `jaxdl.train(ssl_config(method, online_probe=False))` recorded with the code before
# objective.online_probe existed (commit a97b947, XLA:CPU, jax 0.10.2): its metrics.jsonl
# and the sha256 of its final params' (and byol's target's) bytes. All five methods were
# measured equal bit for bit; three are `slow` to keep the default suite short.
COMMITTED = {
    "simclr": ([
        '{"step": 10, "split": "train", "loss": 7.47323681640625, "knn_accuracy": 0.335}',
        '{"step": 10, "split": "test", "loss": 7.4520166015625, "knn_accuracy": 0.313}',
        '{"step": 20, "split": "train", "loss": 7.463576171875, "knn_accuracy": 0.319}',
        '{"step": 20, "split": "test", "loss": 7.44196875, "knn_accuracy": 0.339}',
    ], "ce5b3e00518076fd5d04f40af7ac70cb9dee209aa2207c58538dee94d0717bbc", None),
    "byol": ([
        '{"step": 10, "split": "train", "loss": 1.632453857421875, "knn_accuracy": 0.316}',
        '{"step": 10, "split": "test", "loss": 1.618188232421875, "knn_accuracy": 0.312}',
        '{"step": 20, "split": "train", "loss": 1.6548233642578125, "knn_accuracy": 0.332}',
        '{"step": 20, "split": "test", "loss": 1.6358739013671875, "knn_accuracy": 0.31}',
    ], "0d0fd8c49f519863584923c46449b7ce8080c69fc7b5abbb097b3d61796f8c0e",
        "a13e42b90f691239fa43ba43ca69dda06e043b86739d58a1029e0b28a76de294"),
    "vicreg": ([
        '{"step": 10, "split": "train", "loss": 22.631314453125, "knn_accuracy": 0.314}',
        '{"step": 10, "split": "test", "loss": 23.00392578125, "knn_accuracy": 0.309}',
        '{"step": 20, "split": "train", "loss": 21.532029296875, "knn_accuracy": 0.316}',
        '{"step": 20, "split": "test", "loss": 21.498064453125, "knn_accuracy": 0.288}',
    ], "c99d7de89c8a58df6a44ecde1bf587b542ca86a4c929844444fa86b9cfb59f63", None),
    "barlow_twins": ([
        '{"step": 10, "split": "train", "loss": 20.769068359375, "knn_accuracy": 0.342}',
        '{"step": 10, "split": "test", "loss": 19.773001953125, "knn_accuracy": 0.315}',
        '{"step": 20, "split": "train", "loss": 19.333775390625, "knn_accuracy": 0.319}',
        '{"step": 20, "split": "test", "loss": 17.82634375, "knn_accuracy": 0.32}',
    ], "284bfe4b01d7888b91a646a5957c12df049a513efcdd24b61cef7c4cf074b523", None),
    "mae": ([
        '{"step": 10, "split": "train", "loss": 1.2455045166015626, "knn_accuracy": 0.329}',
        '{"step": 10, "split": "test", "loss": 1.2817391357421875, "knn_accuracy": 0.329}',
        '{"step": 20, "split": "train", "loss": 1.0454276123046875, "knn_accuracy": 0.311}',
        '{"step": 20, "split": "test", "loss": 1.07896923828125, "knn_accuracy": 0.302}',
    ], "f036fe0dedde412786cad7492d5461fcde02e34b759d7c76fe37a807443a37e6", None),
}
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
def test_probe_off_trains_as_the_committed_code_bit_for_bit(method, tmp_path):
    rows, params_sha, target_sha = COMMITTED[method]
    jaxdl.train(ssl_config(method, False), str(tmp_path), progress=False)
    assert (tmp_path / "metrics.jsonl").read_text().splitlines() == rows
    _, state = final_state(tmp_path)
    assert "online_probe" not in state["params"]
    assert sha256(state["params"]) == params_sha
    assert (sha256(state["target"]) if state["target"] else None) == target_sha


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
    real = loop.check_finite

    def crash(start, metrics, ok):
        real(start, metrics, ok)
        if start + len(metrics["loss"]) > 25:
            raise RuntimeError("crash")

    with monkeypatch.context() as m:
        m.setattr(loop, "check_finite", crash)
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
    (["objective.online_probe=True"], ["config.objective.online_probe", "'supervised'"]),
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
