"""What TensorBoard shows, read back with TensorBoard's own reader: a run's per-step training
metrics and evaluations, and a sweep's trials as runs named by their axis values and seed,
with the HParams plugin's session data (hparams and final metrics)."""
import json
import os
import subprocess
import sys

import pytest
from crash import Crash, crash_in_chunk  # tests/crash.py
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

import jaxdl
from jaxdl import config as config_lib
from jaxdl.study import run, store, sweep
from jaxdl.study import tensorboard as tb_export

STUDY = """
from jaxdl import config as config_lib
from jaxdl.study import sweep
SWEEP = sweep.axis("optimizer.lr", (0.1, 1e30))
SEEDS = (0, 1)
METRICS = ("test/accuracy",)
def get_config(name=None):
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.optimizer.name = "sgd"
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size, c.log_every = 20, 10, 20, 10, 5
    return c
"""


def events(directory: str) -> event_accumulator.EventAccumulator:
    acc = event_accumulator.EventAccumulator(directory, size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def rows(directory: str) -> list[dict]:
    return [json.loads(line) for line in open(os.path.join(directory, "metrics.jsonl"))]


def test_a_run_logs_training_steps_and_evaluations_to_tensorboard(tmp_path):
    config = config_lib.default()
    config.model = config_lib.named_section("model", "mlp")
    config.steps, config.eval_every, config.log_every = 20, 10, 5
    jaxdl.train(config, str(tmp_path / "run"), progress=False)
    acc = events(str(tmp_path / "run"))
    tags = set(acc.Tags()["scalars"])
    assert {"train_step/loss", "train_step/lr", "test/accuracy", "train/loss"} <= tags
    logged = [r for r in rows(str(tmp_path / "run")) if r["split"] == "train_step"]
    assert [e.step for e in acc.Scalars("train_step/loss")] == [r["step"] for r in logged]
    assert [e.value for e in acc.Scalars("train_step/loss")] == pytest.approx(
        [r["loss"] for r in logged], rel=1e-6)


def test_writing_tensorboard_files_imports_no_torch(tmp_path):
    """With torch installed (here a stand-in package that records its import), a run's
    metrics log imports no torch: tensorboardX did, 1.86 s per process
    (docs/benchmarks_history.md), so the files are written with tensorboard's own writer."""
    fake = tmp_path / "site" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path / "site"), *filter(None, [os.environ.get("PYTHONPATH")])])}

    def log_one_scalar(run, first=""):
        os.mkdir(run)
        code = (f"{first}from jaxdl.training import workdir, writers\n"
                f"log = workdir.MetricsLog({str(run)!r})\n"
                "[w.scalars(1, 'train', {'loss': 0.5}) for w in log.writers]\n"
                "log.close(writers.FINISHED)\n")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True)
        assert out.returncode == 0, out.stderr
        return (tmp_path / "imported").exists()

    assert log_one_scalar(tmp_path / "control", first="import torch\n")  # the stand-in works
    os.remove(tmp_path / "imported")
    assert not log_one_scalar(tmp_path / "run")
    assert [e.value for e in events(str(tmp_path / "run")).Scalars("train/loss")] == [0.5]


def test_a_resumed_run_shows_each_step_once(tmp_path, monkeypatch):
    """Killed after logging step 25 (checkpoint at 20), then resumed: the second attempt's
    file tells TensorBoard to hide what the first logged from step 21 on, so step 25 is
    shown once and step 20 still is. (Without the restart event, checked once, it shows
    5, ..., 25, 25, 30; with it at the checkpoint's step, as tensorboardX's `purge_step`
    was given before, step 20 is lost: 5, 10, 15, 25, 30.)"""
    config = config_lib.default()
    config.model = config_lib.named_section("model", "mlp")
    config.steps, config.eval_every, config.checkpoint_every = 30, 0, 10
    config.chunk_size, config.log_every = 5, 5
    with monkeypatch.context() as m:
        crash_in_chunk(m, 25)
        with pytest.raises(Crash):
            jaxdl.train(config, str(tmp_path), progress=False)
    jaxdl.train(config, str(tmp_path), progress=False)
    assert len([f for f in os.listdir(tmp_path) if f.startswith("events.out.tfevents")]) == 2
    logged = [r["step"] for r in rows(str(tmp_path)) if r["split"] == "train_step"]
    assert logged == [5, 10, 15, 20, 25, 30]
    assert [e.step for e in events(str(tmp_path)).Scalars("train_step/loss")] == logged


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    (tmp / "s.py").write_text(STUDY)
    study = sweep.load_study(str(tmp / "s.py"))
    root = str(tmp / "out")
    run.run_study(study, root, vectorize_mode="no", progress=False)
    return study, root


def test_sweep_trials_are_runs_named_by_axis_values_and_seed(swept):
    study, root = swept
    exported = sorted(os.listdir(os.path.join(root, tb_export.DIRECTORY)))
    # lr=1e30 diverges: failed trials have no run
    assert exported == ["lr=0.1 seed=0", "lr=0.1 seed=1"]


def test_each_trial_run_carries_its_hparams_and_metrics(swept):
    study, root = swept
    s = store.Store(root)
    for trial in (t for t in study.trials if t.point["optimizer.lr"] == 0.1):
        acc = events(os.path.join(root, tb_export.DIRECTORY, trial.label))
        content = acc.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
        start = hparams_metadata.parse_session_start_info_plugin_data(
            content[hparams_metadata.SESSION_START_INFO_TAG])
        hparams = {k: v.number_value for k, v in start.hparams.items()}
        assert hparams == {"optimizer.lr": 0.1, "seed": float(trial.seed)}
        assert hparams_metadata.SESSION_END_INFO_TAG in content
        metrics = rows(s.trial_dir(trial.id))
        final = [r for r in metrics if r["split"] == "test"][-1]
        (last,) = [e for e in acc.Scalars("test/accuracy") if e.step == final["step"]]
        assert last.value == pytest.approx(final["accuracy"], rel=1e-6)
        steps = [r["step"] for r in metrics if r["split"] == "train_step"]
        assert [e.step for e in acc.Scalars("train_step/loss")] == steps


def test_export_writes_each_trial_once(swept):
    study, root = swept
    directory = os.path.join(root, tb_export.DIRECTORY, "lr=0.1 seed=0")
    before = {f: os.path.getmtime(os.path.join(directory, f)) for f in os.listdir(directory)}
    assert tb_export.export(study.trials, store.Store(root)) == 0
    after = {f: os.path.getmtime(os.path.join(directory, f)) for f in os.listdir(directory)}
    assert before == after


def test_run_names_keep_trials_apart():
    a = sweep.Trial(id="aaa", point={"model.width": 8, "data.width": 8}, seed=0, config=None)
    b = sweep.Trial(id="bbb", point={"model.width": 8, "data.width": 16}, seed=0, config=None)
    labels = [a.label, b.label]
    assert tb_export.run_name(a, labels) == "model.width=8 data.width=8 seed=0"
    c = sweep.Trial(id="ccc", point={"model.width": 8, "data.width": 8}, seed=0, config=None)
    assert tb_export.run_name(a, [a.label, c.label]) == "model.width=8 data.width=8 seed=0 (aaa)"
    assert tb_export.hparams_of(b) == {"model.width": 8, "data.width": 16, "seed": 0}
    listed = sweep.Trial(id="d", point={"model.widths": [8, 16]}, seed=1, config=None)
    assert tb_export.hparams_of(listed)["model.widths"] == "[8, 16]"


def test_the_tensorboard_command_of_this_environment_reads_the_sweep(swept):
    """README's `tensorboard --logdir ...` works in the venv `make` builds (tensorboard is in
    the lock) and finds every trial's run."""
    _, root = swept
    command = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    out = subprocess.run([command, "--inspect", "--logdir", os.path.join(root, tb_export.DIRECTORY)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "These tags are in" in out.stdout and "lr=0.1 seed=1" in out.stdout
    assert "train_step/loss" in out.stdout and "test/accuracy" in out.stdout
