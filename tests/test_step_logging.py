"""Logging of training: every `log_every`-th step's metrics and learning rate go to
metrics.jsonl (split `train_step`) and TensorBoard, read from the per-step metrics a
chunk returns; steps/s goes to TensorBoard only."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxdl
from jaxdl import config as config_lib
from jaxdl import objectives, optim, rng
from jaxdl.data import pipeline
from jaxdl.study import run as study_run
from jaxdl.study import store, sweep
from jaxdl.training import loop, workdir
from test_histograms import read_events  # tests/test_histograms.py
from test_resume import Crash, crash_after  # tests/test_resume.py

TRAIN_STEP = workdir.TRAIN_STEP


def small(steps=40, log_every=10):
    """The MLP with a warmup + cosine schedule (the lr changes at every step); chunks of 15
    steps, so most log points fall inside a chunk."""
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = steps, 20, 20, 15
    c.log_every = log_every
    c.optimizer.schedule.name, c.optimizer.schedule.warmup_steps = "cosine", 5
    return c


def rows(path, split=TRAIN_STEP):
    lines = (path / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if split is None or r["split"] == split]


def per_step_metrics(config):
    """The stacked per-step metrics of `loop.build(config).train_chunk` over the whole run."""
    run = loop.build(config)
    data, state, chunks = run.device_data(), run.init(rng.root_key(config.seed)), []
    for length, _ in loop.chunks(0, [config.steps], config.chunk_size):
        state, metrics = run.train_chunk(state, data, length)
        chunks.append(jax.device_get(metrics))
    return {k: np.concatenate([m[k] for m in chunks]) for k in chunks[0]}


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    c = small()
    path = tmp_path_factory.mktemp("run")
    jaxdl.train(c, str(path), progress=False)
    return c, path


def test_rows_hold_the_chunks_own_per_step_metrics_and_the_schedules_lr(logged_run):
    c, path = logged_run
    logged = rows(path)
    assert [r["step"] for r in logged] == [10, 20, 30, 40]
    reference = per_step_metrics(c)
    schedule = optim.learning_rate_schedule(c.optimizer, c.steps)
    for r in logged:
        s = r["step"]
        assert set(r) == {"step", "split", "lr", *reference}
        for name, values in reference.items():  # row s: the s-th step, bit for bit
            assert np.float32(r[name]) == values[s - 1], (s, name)
        np.testing.assert_allclose(r["lr"], float(schedule(s - 1)), rtol=1e-6)  # its update's lr
    assert "steps_per_s" not in logged[0]  # wall-clock: TensorBoard only


def test_tensorboard_holds_the_same_scalars_and_steps_per_s(logged_run):
    _, path = logged_run
    scalars = {(e.step, v.tag): v.simple_value for e in read_events(path)
               for v in e.summary.value if v.tag.startswith(f"{TRAIN_STEP}/")}
    for r in rows(path):
        for name in ("loss", "accuracy", "lr"):
            assert scalars[(r["step"], f"{TRAIN_STEP}/{name}")] == np.float32(r[name])
        assert scalars[(r["step"], f"{TRAIN_STEP}/steps_per_s")] > 0


def test_resumed_run_rewrites_the_rows_of_an_uninterrupted_one(tmp_path, monkeypatch, capsys):
    c = small(steps=60)
    jaxdl.train(c, str(tmp_path / "a"), progress=False)
    with monkeypatch.context() as m:
        crash_after(m, 55)  # dies after logging step 50; the newest checkpoint is step 40
        with pytest.raises(Crash):
            jaxdl.train(c, str(tmp_path / "b"), progress=False)
    assert [r["step"] for r in rows(tmp_path / "b")] == [10, 20, 30, 40, 50]
    jaxdl.train(c, str(tmp_path / "b"), progress=False)
    assert (tmp_path / "a" / "metrics.jsonl").read_text() == \
        (tmp_path / "b" / "metrics.jsonl").read_text()
    assert "warning" not in capsys.readouterr().err


def test_log_every_0_logs_no_training_steps(tmp_path):
    c = small(steps=20, log_every=0)
    jaxdl.train(c, str(tmp_path), progress=False)
    assert {r["split"] for r in rows(tmp_path, split=None)} == {"train", "test"}


def test_a_train_step_row_does_not_stand_for_a_missing_eval_row(tmp_path, capsys):
    lines = [{"step": 10, "split": TRAIN_STEP, "loss": 1.0},
             {"step": 20, "split": TRAIN_STEP, "loss": 1.0}, {"step": 20, "split": "test"}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    workdir.RunFiles(str(tmp_path)).truncate_metrics(20, {10, 20})
    assert "has no rows for steps 10 " in capsys.readouterr().err  # the eval at 10 is lost
    workdir.RunFiles(str(tmp_path)).truncate_metrics(20, {20})
    assert capsys.readouterr().err == ""


STUDY = """
from jaxdl import config as config_lib
from jaxdl.study import sweep
SWEEP = sweep.axis("optimizer.lr", (1e-3, 1e-2))
SEEDS = (0,)
METRICS = ("test/accuracy",)
def get_config(name=None):
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size, c.log_every = 40, 20, 40, 15, 10
    c.optimizer.schedule.name, c.optimizer.schedule.warmup_steps = "cosine", 5
    return c
"""


def test_vectorized_trials_log_their_own_steps(tmp_path):
    (tmp_path / "s.py").write_text(STUDY)
    study = sweep.load_study(str(tmp_path / "s.py"))
    study_run.run_study(study, str(tmp_path / "sweep"), vectorize_mode="yes", progress=False)
    s = store.Store(str(tmp_path / "sweep"))
    losses = []
    for trial in study.trials:
        assert s.record(trial.id)["mode"] == "vectorized"
        logged = rows(tmp_path / "sweep" / "trials" / trial.id)
        assert [r["step"] for r in logged] == [10, 20, 30, 40]
        schedule = optim.learning_rate_schedule(trial.config.optimizer, trial.config.steps)
        for r in logged:  # each trial its own lr
            np.testing.assert_allclose(r["lr"], float(schedule(r["step"] - 1)), rtol=1e-6)
        alone = per_step_metrics(trial.config)  # to float rounding: a vmapped program
        np.testing.assert_allclose([r["loss"] for r in logged], alone["loss"][9::10], rtol=1e-4)
        losses.append([r["loss"] for r in logged])
    assert losses[0] != losses[1]


@pytest.mark.parametrize("value, says", [(-1, "must be >= 0"), (1, "at most 1000000 points")])
def test_a_bad_log_every_is_one_line_naming_it(value, says):
    c = config_lib.default()
    c.steps, c.log_every = 2_000_000, value
    with pytest.raises(config_lib.ConfigError) as e:
        config_lib.validate(c)
    message = str(e.value)
    assert message.startswith("config.log_every: ")
    assert says in message and "\n" not in message


def test_the_gradient_norm_is_logged_on_request_and_changes_no_bit(tmp_path):
    """config.log_grad_norm: every logged row of split train_step has `grad_norm`, the
    global norm of the step's gradient (recomputed here by hand for the first step), and
    the run's params are bit for bit those of the run without it."""
    base = ["model.name=mlp", "steps=20", "log_every=1", "eval_every=0", "chunk_size=10"]
    runs = {on: jaxdl.build(jaxdl.config.load(None, base + [f"log_grad_norm={on}"]))
            for on in (False, True)}
    out = {}
    for on, run in runs.items():
        state, metrics = run.train_chunk(run.init(rng.root_key(0)), run.device_data(), 20)
        out[on] = jax.device_get((state.params, metrics))
    jax.tree.map(np.testing.assert_array_equal, out[False][0], out[True][0])
    assert "grad_norm" not in out[False][1] and out[True][1]["grad_norm"].shape == (20,)
    run = runs[True]
    state = run.init(rng.root_key(0))
    data = run.device_data()
    batch = pipeline.batch_at(data, rng.purpose_key(state.key, rng.DATA_ORDER), 0,
                              run.config.batch_size)
    grads, _ = run.gradient(run.objective.loss, state.params, state.model_state, state.target,
                            batch, objectives.StepKeys(state.key, jnp.zeros((), jnp.int32)))
    np.testing.assert_allclose(out[True][1]["grad_norm"][0], optax.tree.norm(grads), rtol=1e-5)
    result = jaxdl.train(jaxdl.config.load(None, base + ["log_grad_norm=True"]),
                         str(tmp_path / "run"), progress=False)
    assert result["step"] == 20
    logged = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")
              if '"train_step"' in line]
    assert len(logged) == 20 and all(r["grad_norm"] > 0 for r in logged)
