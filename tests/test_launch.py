"""Sweeps as shard processes (jaxdl/study/launch.py) and multi-process trials.

- `jaxdl sweep FILE --launcher local --shards 4` runs 4 shard processes through
  submitit's LocalExecutor: every trial is committed exactly once and the report merges
  them; the same command again submits nothing.
- A cancelled shard leaves its trials missing; the same command re-submits only that
  shard, and the records already written stay byte for byte (and file time) as they were.
- `--launcher slurm` on a real single-node SLURM cluster (tests/slurm/start_cluster.sh):
  4 array tasks, one `scancel`-ed, re-submitted, every trial once.
- `jaxdl sweep` under jax.distributed (two processes): every trial committed once, by
  process 0, with the results of a one-process sweep of the same study (to the rounding
  tolerance of tests/test_parallel.py: the batch is split over two devices).
- Bad launcher flags: one line naming the flag, nothing written.
"""
import json
import os
import signal
import shutil
import socket
import subprocess
import sys

import pytest

from jaxdl import cli
from jaxdl.study import cli as study_cli
from jaxdl.study import launch, store, sweep

STUDY = """
from jaxdl import config as config_lib
from jaxdl.study import sweep
SWEEP = sweep.axis("optimizer.lr", {lrs})
SEEDS = {seeds}
METRICS = ("test/accuracy", "test/loss")
SLURM = {slurm}
def get_config(name=None):
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = {steps}, {steps}, 5, 5
    return c
"""


def write_study(path, lrs=(1e-3, 1e-2), seeds=(0, 1), steps=10, slurm=None):
    path.write_text(STUDY.format(lrs=tuple(lrs), seeds=tuple(seeds), steps=steps,
                                 slurm=slurm or {}))
    return str(path)


def records(root):
    """{trial id: (record.json bytes, its mtime)} of the committed trials."""
    out = {}
    for trial in sorted(os.listdir(os.path.join(root, "trials"))):
        path = os.path.join(root, "trials", trial, store.RECORD)
        if os.path.exists(path):
            out[trial] = (open(path, "rb").read(), os.stat(path).st_mtime_ns)
    return out


def assert_every_trial_once(study_path, root):
    """Every trial of the study committed done, and trained to its end exactly once
    (one `finish` in its history: a resumed trial has one `resume`, never two starts)."""
    study = sweep.load_study(study_path)
    recs = store.records([root])
    assert sorted(r["trial"] for r in recs) == sorted(t.id for t in study.trials)
    assert all(r["status"] == "done" for r in recs)
    for trial in study.trials:
        events = [json.loads(line)["event"] for line in
                  open(os.path.join(root, "trials", trial.id, "history.jsonl"))]
        assert events.count("finish") == 1 and events.count("start") == 1, (trial.id, events)


def test_a_local_launch_of_two_shards_commits_each_trial_once(tmp_path, capsys):
    """The fast one (~20 s): two shard processes, one trial each."""
    path = write_study(tmp_path / "s.py", lrs=(1e-2,), seeds=(0, 1), steps=5)
    root = str(tmp_path / "sweep")
    assert cli.main(["sweep", path, "--workdir", root, "--launcher", "local", "--shards", "2",
                     "--no-report"]) == 0
    assert "2 of 2 shards submitted (local" in capsys.readouterr().out
    assert_every_trial_once(path, root)


@pytest.mark.slow
def test_a_local_launch_runs_four_shards_each_trial_once_and_the_report_merges_them(
        tmp_path, capsys):
    path, root = write_study(tmp_path / "s.py"), str(tmp_path / "sweep")
    assert cli.main(["sweep", path, "--workdir", root, "--launcher", "local",
                     "--shards", "4"]) == 0
    out = capsys.readouterr().out
    assert "4 of 4 shards submitted (local" in out and "4 of 4 trials done" in out
    assert_every_trial_once(path, root)
    assert len(os.listdir(os.path.join(root, "local"))) >= 4 * 3  # each shard's log, result
    assert "4 done, 0 failed, 0 missing of 4" in open(os.path.join(root, "report.md")).read()
    before = records(root)
    assert cli.main(["sweep", path, "--workdir", root, "--launcher", "local", "--shards", "4",
                     "--no-report"]) == 0  # nothing left: no process started
    assert "every shard of 4 is complete; nothing submitted" in capsys.readouterr().out
    assert records(root) == before


@pytest.mark.slow
def test_a_cancelled_shard_is_finished_by_submitting_again_and_nothing_is_overwritten(
        tmp_path, capsys):
    path, root = write_study(tmp_path / "s.py", steps=60), str(tmp_path / "sweep")
    study = sweep.load_study(path)
    parser = cli.parser()
    args = parser.parse_args(["sweep", path, "--workdir", root, "--launcher", "local",
                              "--shards", "4"])
    spec = launch.check_flags(args)
    task = study_cli.run_task(args, root, [])
    store.Store(root).open(study)
    jobs = launch.submit(launch.make_executor(spec, str(tmp_path / "logs"), study), task,
                         range(4), 4)
    # SIGTERM to shard 1, as scancel sends (jax alone takes seconds to import: it never
    # ends). Not submitit's cancel(): its SIGINT is ignored by a process started from a
    # pytest-xdist worker, which ignores SIGINT, a disposition children inherit.
    jobs[1]._process.send_signal(signal.SIGTERM)
    failures = launch.wait(jobs, range(4))
    assert [f.split(" ")[:2] for f in failures] == [["shard", "1"]], failures
    cancelled = sweep.shard(study.trials, "1/4")[0].id
    before = records(root)
    assert sorted(before) == sorted(t.id for t in study.trials if t.id != cancelled)

    assert cli.main(["sweep", path, "--workdir", root, "--launcher", "local",
                     "--shards", "4"]) == 0
    assert "1 of 4 shards submitted" in capsys.readouterr().out
    assert_every_trial_once(path, root)
    after = records(root)
    assert {t: after[t] for t in before} == before  # same bytes, never rewritten
    assert "4 done, 0 failed, 0 missing of 4" in open(os.path.join(root, "report.md")).read()


@pytest.mark.parametrize("flags, message", [
    (["--launcher", "local", "--shards", "0"], "--shards 0: needs N >= 1"),
    (["--launcher", "local", "--shard", "0/2"], "--launcher local: runs every shard itself"),
    (["--shards", "4"], "--shards: needs --launcher local|slurm"),
    (["--slurm", "partition=gpu"], "--slurm: needs --launcher"),
    (["--launcher", "local", "--slurm", "partition=gpu"], "--slurm: only with --launcher slurm"),
    (["--launcher", "local", "--no-wait"], "--no-wait: only with --launcher slurm"),
    (["--launcher", "slurm", "--slurm", "partition"], "--slurm partition: expected KEY=VALUE"),
])
def test_bad_launcher_flags_fail_in_one_line_before_anything_is_written(
        tmp_path, capsys, monkeypatch, flags, message):
    if shutil.which("sbatch") is None:  # so that the flag, not the missing sbatch, is named
        monkeypatch.setattr(launch.shutil, "which", lambda name: "/bin/sbatch")
    root = tmp_path / "sweep"
    assert cli.main(["sweep", write_study(tmp_path / "s.py"), "--workdir", str(root),
                     *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"jaxdl: error: {message}") and "\n" not in err, err
    assert not root.exists()


def test_launcher_slurm_without_sbatch_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(launch.shutil, "which", lambda name: None)
    root = tmp_path / "sweep"
    assert cli.main(["sweep", write_study(tmp_path / "s.py"), "--workdir", str(root),
                     "--launcher", "slurm", "--shards", "2"]) == 2
    assert "--launcher slurm: no sbatch on PATH" in capsys.readouterr().err
    assert not root.exists()


def test_slurm_options_come_from_the_study_file_and_the_command_line_wins(tmp_path):
    import submitit.slurm.slurm as submitit_slurm
    study = sweep.load_study(write_study(
        tmp_path / "s.py", slurm={"partition": "cpu", "time": 30, "licenses": "fs:1"}))
    params = launch.slurm_parameters(study, {"partition": "gpu", "gpus-per-task": 1,
                                             "reservation": "mine"})
    assert params["partition"] == "gpu" and params["time"] == 30
    assert params["gpus_per_task"] == 1
    assert params["additional_parameters"] == {"licenses": "fs:1", "reservation": "mine"}
    text = submitit_slurm._make_sbatch_string(command="true", folder=str(tmp_path), **params)
    for line in ("--partition=gpu", "--time=30", "--gpus-per-task=1", "--licenses=fs:1",
                 "--reservation=mine", "--job-name=jaxdl-s"):
        assert f"#SBATCH {line}" in text, text


def test_sweep_help_explains_the_launcher_flags(capsys):
    with pytest.raises(SystemExit):
        cli.main(["sweep", "--help"])
    text = capsys.readouterr().out
    for flag in ("--launcher", "--shards", "--slurm KEY=VALUE", "--no-wait", "--coordinator"):
        assert flag in text


# ---------------------------------------------------------------- multi-process trials


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


ROUNDING = 1e-5  # tests/test_parallel.py: per-step loss over the first 10 steps, relative


@pytest.mark.slow
def test_two_processes_sweep_each_trial_once_with_the_results_of_one_process(tmp_path):
    path = write_study(tmp_path / "s.py", lrs=(1e-2,), seeds=(0, 1), steps=10)
    one = str(tmp_path / "one")
    single = subprocess.run([sys.executable, "-m", "jaxdl.cli", "sweep", path, "--workdir",
                             one, "--no-progress", "--no-report"], capture_output=True,
                            text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]
    two, port = str(tmp_path / "two"), free_port()
    procs = [subprocess.Popen(
        [sys.executable, "-m", "jaxdl.cli", "sweep", path, "--workdir", two, "--no-progress"],
        env={**os.environ, "JAXDL_COORDINATOR": f"localhost:{port}",
             "JAXDL_NUM_PROCESSES": "2", "JAXDL_PROCESS_ID": str(i)},
        stdout=open(tmp_path / f"out{i}.log", "w"), stderr=subprocess.STDOUT) for i in range(2)]
    for i, p in enumerate(procs):
        assert p.wait(timeout=600) == 0, (tmp_path / f"out{i}.log").read_text()[-3000:]
    assert_every_trial_once(path, two)
    assert "sweep s: 2 of 2 trials done" in (tmp_path / "out0.log").read_text()
    assert "trials done" not in (tmp_path / "out1.log").read_text()  # process 0 reports
    assert os.path.exists(os.path.join(two, "report.md"))
    for trial in os.listdir(os.path.join(one, "trials")):
        a, b = (json.load(open(os.path.join(r, "trials", trial, store.RECORD)))
                for r in (one, two))
        assert [row[:2] for row in a["rows"]] == [row[:2] for row in b["rows"]]
        for (step, metric, x), (_, _, y) in zip(a["rows"], b["rows"]):
            if metric == "train/loss":  # the per-step loss over the first 10 steps
                assert abs(x - y) <= ROUNDING * abs(x), (trial, step, x, y)


# ---------------------------------------------------------------- a real SLURM cluster


@pytest.fixture
def slurm_cluster(tmp_path, monkeypatch):
    """A single-node SLURM cluster of this host, as the current user (Debian's slurm-wlm
    and munge; tests/slurm/start_cluster.sh)."""
    if shutil.which("slurmctld") is None and not os.path.exists("/usr/sbin/slurmctld"):
        pytest.skip("slurmctld not installed (apt-get install slurm-wlm munge)")
    script = os.path.join(os.path.dirname(__file__), "slurm", "start_cluster.sh")
    directory = str(tmp_path / "cluster")
    env = {**os.environ, "SLURM_TEST_PORT": str(free_port() // 2 * 2)}
    started = subprocess.run(["bash", script, directory], capture_output=True, text=True,
                             env=env, timeout=120)
    try:
        assert started.returncode == 0, started.stderr
        monkeypatch.setenv("SLURM_CONF", os.path.join(directory, "slurm.conf"))
        yield directory
    finally:
        subprocess.run(["bash", script.replace("start_", "stop_"), directory], timeout=60)


@pytest.mark.slow
def test_a_slurm_array_of_four_shards_with_one_scancelled_task_finishes_when_resubmitted(
        tmp_path, capsys, slurm_cluster):
    path, root = write_study(tmp_path / "s.py", steps=60), str(tmp_path / "sweep")
    study = sweep.load_study(path)
    args = cli.parser().parse_args(["sweep", path, "--workdir", root, "--launcher", "slurm",
                                    "--shards", "4", "--slurm", "cpus_per_task=1"])
    spec = launch.check_flags(args)
    store.Store(root).open(study)
    jobs = launch.submit(launch.make_executor(spec, os.path.join(root, "slurm"), study),
                         study_cli.run_task(args, root, []), range(4), 4)
    subprocess.run(["scancel", jobs[2].job_id], check=True)  # array task 2 of 4
    failures = launch.wait(jobs, range(4))
    assert [f.split(" ")[:2] for f in failures] == [["shard", "2"]], failures
    before = records(root)
    assert sweep.shard(study.trials, "2/4")[0].id not in before and len(before) == 3

    assert cli.main(["sweep", path, "--workdir", root, "--launcher", "slurm", "--shards", "4",
                     "--slurm", "cpus_per_task=1"]) == 0
    assert "1 of 4 shards submitted (slurm" in capsys.readouterr().out
    assert_every_trial_once(path, root)
    after = records(root)
    assert {t: after[t] for t in before} == before
    assert "4 done, 0 failed, 0 missing of 4" in open(os.path.join(root, "report.md")).read()
