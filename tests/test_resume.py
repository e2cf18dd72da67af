"""Exact resume: checkpoints of the whole state, fallbacks, interventions, warm starts.

Crashes are simulated in-process here (fast); tests/test_preemption.py kills real
`jaxdl train` processes with SIGKILL and SIGTERM.
"""
import json
import os

import jax
import numpy as np
import pytest

import jaxdl
from jaxdl import config as config_lib
from jaxdl.training import checkpoint, hooks, loop, resume, workdir


class Crash(Exception):
    pass


@pytest.fixture
def config(small_config):
    c = small_config
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = 60, 20, 20, 10
    return c


def crash_after(monkeypatch, step):
    """Make the run die (like kill -9: no save) once `step` steps are done."""
    real = hooks.check_finite

    def check(start, metrics, ok):
        real(start, metrics, ok)
        if start + len(metrics["loss"]) > step:
            raise Crash(step)

    monkeypatch.setattr(hooks, "check_finite", check)


def final_params(path):
    ckpt = checkpoint.Checkpoints(f"{path}/checkpoints", read_only=True)
    state, _, step = ckpt.restore_latest(None)
    return step, jax.device_get(state["params"])


def metrics_rows(path):
    return open(f"{path}/metrics.jsonl").read()


def assert_same_run(a, b):
    assert metrics_rows(a) == metrics_rows(b)
    step_a, params_a = final_params(a)
    step_b, params_b = final_params(b)
    assert step_a == step_b
    jax.tree.map(np.testing.assert_array_equal, params_a, params_b)


def history(path):
    return [json.loads(line) for line in open(f"{path}/history.jsonl")]


def test_crash_then_resume_is_bitwise_identical(config, tmp_path, monkeypatch):
    jaxdl.train(config, str(tmp_path / "a"), progress=False)
    with monkeypatch.context() as m:
        crash_after(m, 50)
        with pytest.raises(Crash):
            jaxdl.train(config, str(tmp_path / "b"), progress=False)
    assert checkpoint.Checkpoints(f"{tmp_path}/b/checkpoints", read_only=True).steps() == [20, 40]
    assert '"step": 60' not in metrics_rows(tmp_path / "b")
    jaxdl.train(config, str(tmp_path / "b"), progress=False)
    assert_same_run(tmp_path / "a", tmp_path / "b")
    assert [h["event"] for h in history(tmp_path / "b")] == ["start", "resume", "finish"]


def test_stop_request_saves_and_resumes_exactly(config, tmp_path, monkeypatch):
    jaxdl.train(config, str(tmp_path / "a"), progress=False)
    chunks_done = []
    real = hooks.check_finite

    def check(start, metrics, ok):  # a SIGTERM arriving during the chunk ending at step 30
        real(start, metrics, ok)
        chunks_done.append(start)
        if start == 20:
            os.kill(os.getpid(), __import__("signal").SIGTERM)

    monkeypatch.setattr(hooks, "check_finite", check)
    with pytest.raises(loop.Interrupted) as info:
        jaxdl.train(config, str(tmp_path / "b"), progress=False)
    assert info.value.step == 30
    assert 30 in checkpoint.Checkpoints(f"{tmp_path}/b/checkpoints", read_only=True).steps()
    monkeypatch.setattr(hooks, "check_finite", real)
    jaxdl.train(config, str(tmp_path / "b"), progress=False)
    assert_same_run(tmp_path / "a", tmp_path / "b")


def test_finished_run_is_returned_not_rerun_nor_overwritten(config, tmp_path):
    first = jaxdl.train(config, str(tmp_path / "run"), progress=False)
    before = (tmp_path / "run" / "result.json").read_bytes()
    again = jaxdl.train(config, str(tmp_path / "run"), progress=False)
    assert again == json.loads(before) and again["test"] == first["test"]
    assert (tmp_path / "run" / "result.json").read_bytes() == before


def test_changed_config_is_refused_with_the_changed_keys(config, tmp_path):
    jaxdl.train(config, str(tmp_path / "run"), progress=False)
    config.optimizer.lr = 0.001
    config.model.activation = "gelu"
    config.chunk_size = 7  # how a run is executed is not a change of the run
    with pytest.raises(workdir.WorkdirError) as info:
        jaxdl.train(config, str(tmp_path / "run"), progress=False)
    message = str(info.value)
    assert "model.activation: 'relu' -> 'gelu'" in message
    assert "optimizer.lr: 0.01 -> 0.001" in message
    assert "chunk_size" not in message and "--intervene" in message


def truncate_files(directory):
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            if os.path.getsize(path) > 8 and "CHECKPOINT_METADATA" not in name:
                with open(path, "r+b") as f:
                    f.truncate(os.path.getsize(path) // 2)


def test_truncated_newest_checkpoint_falls_back_to_the_previous(config, tmp_path, monkeypatch, capsys):
    jaxdl.train(config, str(tmp_path / "a"), progress=False)
    with monkeypatch.context() as m:
        crash_after(m, 50)
        with pytest.raises(Crash):
            jaxdl.train(config, str(tmp_path / "b"), progress=False)
    truncate_files(tmp_path / "b" / "checkpoints" / "40" / "state")
    capsys.readouterr()
    jaxdl.train(config, str(tmp_path / "b"), progress=False)
    err = capsys.readouterr().err
    assert "checkpoint at step 40" in err and "falling back" in err
    assert "resuming" in err and "from step 20" in err
    assert_same_run(tmp_path / "a", tmp_path / "b")


def test_no_usable_checkpoint_refuses_unless_restart(config, tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        crash_after(m, 30)
        with pytest.raises(Crash):
            jaxdl.train(config, str(tmp_path / "b"), progress=False)
    truncate_files(tmp_path / "b" / "checkpoints" / "20" / "state")
    with pytest.raises(workdir.WorkdirError, match="--restart"):
        jaxdl.train(config, str(tmp_path / "b"), progress=False)
    result = jaxdl.train(config, str(tmp_path / "b"), progress=False, restart=True)
    assert result["step"] == 60
    aside = [p for p in os.listdir(tmp_path / "b") if p.startswith("checkpoints.unusable-")]
    assert len(aside) == 1  # moved aside, not deleted
    assert "restart" in [h["event"] for h in history(tmp_path / "b")]


def test_more_steps_as_declared_intervention_is_recorded(config, tmp_path):
    first = jaxdl.train(config, str(tmp_path / "run"), progress=False)
    config.steps = 80
    result = jaxdl.train(config, str(tmp_path / "run"), progress=False, intervene=True)
    assert result["step"] == 80
    event = [h for h in history(tmp_path / "run") if h["event"] == "intervention"][0]
    assert event["step"] == 60 and event["changes"] == {"steps": [60, 80]}
    assert event["optimizer_state"] == "kept" and event["params_initialized"] == []
    kept = json.load(open(tmp_path / "run" / "history" / "result-step-60.json"))
    assert kept["test"] == first["test"]  # the replaced result is archived, not lost
    assert json.load(open(tmp_path / "run" / "config.json"))["steps"] == 80


def test_sgd_to_adam_switch_keeps_params_and_reinitializes_the_optimizer(config, tmp_path, monkeypatch):
    config.optimizer.name = "sgd"
    config.optimizer.lr = 0.05
    with monkeypatch.context() as m:
        crash_after(m, 40)
        with pytest.raises(Crash):
            jaxdl.train(config, str(tmp_path / "run"), progress=False)
    _, params_at_40 = final_params(tmp_path / "run")
    config.optimizer.name = "adam"
    config.optimizer.lr = 0.001
    run = loop.build(config)
    ckpt = checkpoint.Checkpoints(f"{tmp_path}/run/checkpoints")
    start = loop.open_workdir(run, str(tmp_path / "run"), ckpt, restart=False, intervene=True,
                              init_from=None)
    ckpt.close()
    assert int(start.state.step) == 40
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(start.state.params), params_at_40)
    assert type(start.state.opt_state[0][0]).__name__ == "ScaleByAdamState"
    event = [h for h in history(tmp_path / "run") if h["event"] == "intervention"][0]
    assert event["optimizer_state"] == "reinitialized"
    assert event["changes"]["optimizer.name"] == ["sgd", "adam"]
    result = jaxdl.train(config, str(tmp_path / "run"), progress=False, intervene=True)
    assert result["step"] == 60


def test_activation_swap_keeps_every_param(config, tmp_path):
    config.model = jaxdl.config.named_section("model", "mlp")
    config.model.activation = "gelu"
    config.steps = 40
    jaxdl.train(config, str(tmp_path / "run"), progress=False)
    config.model.activation = "relu"
    config.steps = 60
    result = jaxdl.train(config, str(tmp_path / "run"), progress=False, intervene=True)
    event = [h for h in history(tmp_path / "run") if h["event"] == "intervention"][0]
    assert event["changes"]["model.activation"] == ["gelu", "relu"]
    assert event["params_initialized"] == [] and len(event["params_kept"]) == 6
    assert result["step"] == 60


def test_init_from_copies_params_not_optimizer_state(config, tmp_path):
    config.steps = 20
    jaxdl.train(config, str(tmp_path / "source"), progress=False)
    _, source_params = final_params(tmp_path / "source")
    run = loop.build(config)
    fresh = run.init(jax.random.PRNGKey(1))
    warm = loop.warm_start(run, fresh, str(tmp_path / "source"))
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(warm.params), source_params)
    assert int(warm.step) == 0
    mu = jax.tree.leaves(warm.opt_state[0][0].mu)
    assert all(not np.any(np.asarray(x)) for x in mu)  # optimizer state starts afresh


def test_init_from_with_mismatched_shapes_names_each_key(config, tmp_path):
    config.steps = 10
    jaxdl.train(config, str(tmp_path / "source"), progress=False)
    config.model.channels = (25, 25, 30)
    with pytest.raises(resume.ParamsMismatch) as info:
        jaxdl.train(config, str(tmp_path / "target"), progress=False,
                    init_from=str(tmp_path / "source"))
    message = str(info.value)
    assert "Conv_2/kernel: shape (3, 25, 25) in the source, (3, 25, 30) here" in message
    assert "Dense_0/kernel: shape (125, 10) in the source, (150, 10) here" in message


def test_divergence_keeps_the_last_good_checkpoint(config, tmp_path):
    config.optimizer.name = "sgd"
    config.optimizer.lr = 1e30
    with pytest.raises(loop.TrainingDiverged):
        jaxdl.train(config, str(tmp_path / "run"), progress=False)
    steps = checkpoint.Checkpoints(f"{tmp_path}/run/checkpoints", read_only=True).steps()
    for step in steps:  # every checkpoint that exists holds finite params
        state, _ = checkpoint.Checkpoints(f"{tmp_path}/run/checkpoints", read_only=True).restore(step)
        assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state["params"]))


def test_keys_added_to_jaxdl_later_are_no_change_at_their_default():
    """A config saved before a key existed still resumes when the key is at its default."""
    from jaxdl.training import resume
    new = config_lib.default().to_dict()
    old = json.loads(json.dumps(new))
    del old["objective"]["label_smoothing"]  # as if saved before the key was added
    del old["optimizer"]["schedule"]
    assert resume.config_changes(old, new) == {}
    new["objective"]["label_smoothing"] = 0.1  # not the default: a real change
    assert list(resume.config_changes(old, new)) == ["objective.label_smoothing"]
    del new["seed"]  # a key that disappeared is always a change
    assert "seed" in resume.config_changes(old, new)


def test_a_sweep_directory_from_before_a_new_key_still_opens(tmp_path):
    from jaxdl.study import store, sweep
    path = tmp_path / "s.py"
    path.write_text("from jaxdl import config as c\nfrom jaxdl.study import sweep\n"
                    "SWEEP = sweep.axis('optimizer.lr', [0.01])\nSEEDS = (0,)\nMETRICS = ('test/loss',)\n"
                    "def get_config(name=None):\n    return c.default()\n")
    study = sweep.load_study(str(path))
    s = store.Store(str(tmp_path / "sweep"))
    s.open(study)
    saved = json.load(open(tmp_path / "sweep" / store.STUDY))
    del saved["base"]["objective"]["label_smoothing"]
    saved["fingerprint"] = "000000000000"  # what the older jaxdl computed
    (tmp_path / "sweep" / store.STUDY).write_text(json.dumps(saved))
    s.open(study)  # accepted: the only difference is a new key at its default
    saved["base"]["optimizer"]["lr"] = 0.5
    (tmp_path / "sweep" / store.STUDY).write_text(json.dumps(saved))
    with pytest.raises(store.StoreError, match="optimizer.lr: 0.5 -> 0.01"):
        s.open(study)
