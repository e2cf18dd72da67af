"""Running studies in-process: failures recorded, shards merged, the store never mixes
sweeps, vectorized results within the stated tolerance of one-by-one results."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pandas as pd
import pytest
import tqdm

import jaxdl
from jaxdl import config as config_lib
from jaxdl.data import pipeline
from jaxdl.study import report, run, store, sweep, vectorize
from jaxdl.training import checkpoint, loop

# Stated tolerance (jaxdl/study/vectorize.py, README "Studies"): vectorized and one-by-one runs
# of a trial agree to float rounding per step — after 4 steps, how far the params moved
# differs by at most 1e-4 of its norm (measured: ~1e-6) — and,
# after 200 steps of the MNIST-1D CNN, in final test accuracy within 0.02 and test loss
# within 0.05 (measured: <= 0.007 and <= 0.011 over 12 trials of the quickstart).
STEP_RTOL = 1e-4
ACCURACY_TOL = 0.02
LOSS_TOL = 0.05

STUDY = """
from jaxdl import config as config_lib
from jaxdl.study import sweep
SWEEP = sweep.axis("optimizer.lr", {lrs})
SEEDS = {seeds}
METRICS = ("test/accuracy", "test/loss")
def get_config(name=None):
    c = config_lib.default()
    c.model = config_lib.named_section("model", "{model}")
    c.optimizer.name = "{optimizer}"
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = {steps}, {eval_every}, {steps}, 10
    return c
"""


def write_study(path, lrs=(1e-3, 1e-2), seeds=(0, 1), model="mlp", optimizer="adam",
                steps=40, eval_every=20):
    path.write_text(STUDY.format(lrs=tuple(lrs), seeds=tuple(seeds), model=model,
                                 optimizer=optimizer, steps=steps, eval_every=eval_every))
    return str(path)


def sweep_frame(roots, axes=("optimizer.lr",)):
    df = store.frame(store.records(roots), list(axes))
    return df.sort_values(["trial", "step", "metric"]).reset_index(drop=True)


@pytest.mark.parametrize("mode", ["no", "yes"])
def test_a_failing_trial_is_recorded_and_the_sweep_finishes(tmp_path, mode):
    study = sweep.load_study(write_study(tmp_path / "s.py", lrs=(0.1, 1e30), seeds=(0,),
                                         optimizer="sgd", steps=20, eval_every=10))
    summary = run.run_study(study, str(tmp_path / "sweep"), vectorize_mode=mode, progress=False)
    assert (summary.done, summary.failed) == (1, 1)
    s = store.Store(str(tmp_path / "sweep"))
    good, bad = (s.record(t.id) for t in study.trials)
    assert good["status"] == "done" and good["rows"]
    assert bad["status"] == "failed" and "NaN/Inf" in bad["error"]
    text = open(report.write_report([str(tmp_path / "sweep")])).read()
    assert "1 done, 1 failed, 0 missing of 2" in text
    assert "## Failed trials" in text and "loss became NaN/Inf" in text
    again = run.run_study(study, str(tmp_path / "sweep"), vectorize_mode=mode, progress=False)
    assert again.ran == 0  # failed trials are results too: not run again unless asked
    retried = run.run_study(study, str(tmp_path / "sweep"), vectorize_mode=mode,
                            retry_failed=True, progress=False)
    assert retried.ran == 1 and os.listdir(tmp_path / "sweep" / "retried")


def test_shards_merge_into_the_report_of_the_whole_sweep(tmp_path):
    study = sweep.load_study(write_study(tmp_path / "s.py", lrs=(1e-3, 3e-3, 1e-2)))
    whole = str(tmp_path / "whole")
    run.run_study(study, whole, vectorize_mode="no", progress=False)
    shards = [str(tmp_path / f"shard{i}") for i in range(2)]
    for i, root in enumerate(shards):
        summary = run.run_study(study, root, vectorize_mode="no", shard=f"{i}/2", progress=False)
        assert summary.trials == (3 if i == 0 else 3)
    part = open(report.write_report(shards[:1])).read()
    assert "3 done, 0 failed, 3 missing of 6" in part and "## Missing trials" in part
    merged = report.write_report(shards, out=str(tmp_path / "merged"))
    assert open(merged).read() == open(report.write_report([whole])).read()
    assert sweep_frame(shards).equals(sweep_frame([whole]))


def test_a_sweep_directory_is_never_mixed_with_another_sweep(tmp_path):
    path = write_study(tmp_path / "s.py", steps=20, eval_every=10)
    root = str(tmp_path / "sweep")
    run.run_study(sweep.load_study(path), root, progress=False)
    write_study(tmp_path / "s.py", steps=30, eval_every=10)  # another base config
    with pytest.raises(store.StoreError, match=r"another base config \(steps: 20 -> 30"):
        run.run_study(sweep.load_study(path), root, progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(store.StoreError, match="not empty and holds no sweep"):
        run.run_study(sweep.load_study(path), str(tmp_path / "other"), progress=False)
    # more seeds extend the sweep: old trials are kept, only the new ones run
    write_study(tmp_path / "s.py", seeds=(0, 1, 2), steps=20, eval_every=10)
    before = {r["trial"]: r["committed"] for r in store.records([root])}
    summary = run.run_study(sweep.load_study(path), root, progress=False)
    assert summary.ran == 2 and summary.done == 6
    after = {r["trial"]: r["committed"] for r in store.records([root])}
    assert all(after[t] == c for t, c in before.items())


OPTIMIZERS = {  # (config overrides, (lr, weight decay) of two trials): coupled and decoupled
    "adam": ({}, [(1e-2, 0.0), (3e-3, 1e-3)]),  # decay, clipping, warmup into a cosine
    "adamw": ({"optimizer.name": "adamw"}, [(1e-2, 0.0), (3e-3, 0.05)]),
    "momentum": ({"optimizer.name": "momentum", "optimizer.clip_norm": 0.5,
                  "optimizer.schedule.name": "cosine", "optimizer.schedule.warmup_steps": 2},
                 [(0.1, 1e-3), (0.03, 0.0)]),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_vectorized_steps_match_one_by_one_to_float_rounding(small_config, name):
    """Any difference in what a step computes (lr, decay, clipping, schedule, data order,
    keys) shows in the first steps; later, one flipped ReLU can move a weight by ~lr."""
    overrides, values = OPTIMIZERS[name]
    small_config.steps = 4
    small_config.model = config_lib.named_section("model", "mlp")
    base = config_lib.apply_overrides(small_config, [f"{k}={v}" for k, v in overrides.items()])
    points = [{"optimizer.lr": lr, "optimizer.weight_decay": wd} for lr, wd in values]
    configs = [t.config for t in sweep.make_trials(base, points, [0, 1])]
    first = loop.build(configs[0])
    program = vectorize.build_program(first)
    state = vectorize.initial_state(program, configs)
    data = pipeline.to_device(first.dataset)
    state, metrics = program.chunk(state, data, 4)
    for i, config in enumerate(configs):
        single = loop.build(config)
        start = single.init(jax.random.PRNGKey(config.seed))
        init = flat(start.params)
        ref, ref_metrics = single.train_chunk(start, data, 4)
        np.testing.assert_allclose(metrics["loss"][i], ref_metrics["loss"], rtol=1e-5)
        moved, ref_moved = flat(vectorize.unstack(state.trials.params, i)) - init, flat(ref.params) - init
        assert np.linalg.norm(moved - ref_moved) <= STEP_RTOL * np.linalg.norm(ref_moved)


def flat(params):
    return np.concatenate([np.ravel(p) for p in jax.tree.leaves(jax.device_get(params))])


def test_vectorized_and_one_by_one_sweeps_agree_within_tolerance(tmp_path):
    path = write_study(tmp_path / "s.py", lrs=(3e-3, 1e-2), model="cnn1d", steps=200,
                       eval_every=100)
    study = sweep.load_study(path)
    frames = {}
    for mode in ("no", "yes"):
        root = str(tmp_path / mode)
        run.run_study(study, root, vectorize_mode=mode, progress=False)
        recs = {r["trial"]: r for r in store.records([root])}
        assert {r["mode"] for r in recs.values()} == {"single" if mode == "no" else "vectorized"}
        frame = sweep_frame([root])
        logged = frame[frame.metric.str.startswith("train_step/")]  # log_every: 100
        assert len(logged) == 4 * 2 * 3  # trials x log points x (loss, accuracy, lr)
        frames[mode] = frame.drop(logged.index).set_index(["trial", "step", "metric"])["value"]
    diff = (frames["no"] - frames["yes"]).abs()  # the stated tolerance is of the evaluations
    assert len(diff) == 4 * 2 * 2 * 3  # trials x evals x splits x metrics
    metric = diff.index.get_level_values("metric")
    assert diff[metric.str.endswith("accuracy")].max() <= ACCURACY_TOL
    assert diff[metric.str.endswith("loss")].max() <= LOSS_TOL
    assert diff.max() > 0  # different programs: not bitwise equal (else this test is moot)
    # each vectorized trial directory is an ordinary finished jaxdl workdir
    trial = study.trials[0]
    workdir = store.Store(str(tmp_path / "yes")).trial_dir(trial.id)
    saved = json.load(open(os.path.join(workdir, "result.json")))
    assert saved["execution"].startswith("vmap") and saved["step"] == 200
    assert loop.train(trial.config, workdir, progress=False)["test"] == saved["test"]


SEARCH_STUDY = """
from jaxdl import config as config_lib
from jaxdl.study import search, sweep
SEARCH = search.Search(space={"optimizer.lr": sweep.log_uniform(1e-4, 1e-1),
                              "model.width": sweep.choice([16, 32])}, points=4, seed=3)
SEEDS = (0, 1)
METRICS = ("test/accuracy",)
def get_config(name=None):
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = 20, 10, 20, 10
    return c
"""


def test_bayesian_search_writes_to_the_store_and_resumes_by_replay(tmp_path):
    pytest.importorskip("optuna")
    from jaxdl.study import search
    (tmp_path / "s.py").write_text(SEARCH_STUDY)
    study = sweep.load_study(str(tmp_path / "s.py"))
    root = str(tmp_path / "sweep")
    summary = search.run_search(study, root, vectorize_mode="yes", progress=False)
    recs = store.records([root])
    points = {json.dumps(r["point"], sort_keys=True) for r in recs}
    assert summary.ran == len(recs) == 2 * len(points) and 2 <= len(points) <= 4
    assert all(1e-4 <= r["point"]["optimizer.lr"] <= 1e-1 for r in recs)
    assert len(store.read_study(root)["trials"]) == len(recs)
    again = search.run_search(study, root, vectorize_mode="yes", progress=False)
    assert again.ran == 0  # the same asks, told from the store: nothing trains twice
    assert "## test/accuracy (final)" in open(report.write_report([root])).read()


def test_the_sweep_command_prints_the_report_path_and_the_studys_verdict(tmp_path, capsys):
    from jaxdl import cli
    path = write_study(tmp_path / "s.py", lrs=(1e-2,), seeds=(0,), steps=20, eval_every=10)
    with open(path, "a") as f:
        f.write("from jaxdl.study import report\n"
                "def analyze(results):\n"
                "    acc = results.final('test/accuracy')['value'].mean()\n"
                "    return report.Analysis(verdict=f'accuracy {acc:.4f}\\n\\nsecond paragraph')\n")
    workdir = str(tmp_path / "sweep")
    assert cli.main(["sweep", path, "--workdir", workdir, "--no-progress"]) == 0
    out = capsys.readouterr().out.splitlines()
    accuracy = store.frame(store.records([workdir]), ["optimizer.lr"]).query(
        "metric == 'test/accuracy'").sort_values("step")["value"].iloc[-1]
    assert out[-4:] == [f"report: {workdir}/report.md", f"verdict: accuracy {accuracy:.4f}", "",
                        "second paragraph"]
    assert cli.main(["report", workdir, "--study", path]) == 0  # the same two things
    assert capsys.readouterr().out.splitlines()[-3:] == out[-3:]


def test_status_of_reads_the_claims_verdicts():
    assert report.status_of(["confirmed", "Confirmed"], matches_published=True) == "reproduced"
    assert report.status_of(["confirmed"]) == "reproduced in direction"
    assert report.status_of(["confirmed", "not resolved"]) == "partly reproduced"
    assert report.status_of(["confirmed", "refuted"]) == "partly reproduced"
    assert report.status_of(["not resolved", "refuted"]) == "refuted"
    assert report.status_of(["not resolved"]) == "not reproduced"
    with pytest.raises(ValueError):
        report.status_of([])
    with pytest.raises(sweep.StudyError, match="'done'"):
        report.Analysis(status="done")


def test_a_reports_status_is_written_beside_it_and_removed_with_it(tmp_path):
    """The study's decided status heads the verdict and goes to status.json with the
    published-vs-ours rows; a report written again without one leaves no stale file."""
    path = write_study(tmp_path / "s.py", lrs=(1e-2,), seeds=(0,), steps=20, eval_every=10)
    with open(path, "a") as f:
        f.write("from jaxdl.study import report\n"
                "PUBLISHED = {'accuracy': 0.5}\n"
                "def analyze(results):\n"
                "    acc = results.final('test/accuracy')['value'].mean()\n"
                "    outcome = 'confirmed' if acc > 0.5 else 'refuted'\n"
                "    return report.Analysis(verdict=f'accuracy {acc:.4f}', status=report.status_of(\n"
                "        [outcome]), published={'accuracy': (0.5, f'{acc:.4f}')})\n")
    root = str(tmp_path / "sweep")
    run.run_study(sweep.load_study(path), root, progress=False)
    text = open(report.write_report([root], study=path)).read()
    status = report.read_status(root)
    acc = float(status["published"][0][2])
    expected = "reproduced in direction" if acc > 0.5 else "refuted"
    assert status == {"study": "s", "quick": False, "status": expected,
                      "published": [["accuracy", "0.5", f"{acc:.4f}"]]}
    assert f"## Verdict\n\n**Status: {expected}**" in text
    report.write_report([root])  # the records alone: no analysis, no status
    assert report.read_status(root) is None


def snapshot(root):
    """{path: bytes} of every file under `root`."""
    return {os.path.join(d, n): open(os.path.join(d, n), "rb").read()
            for d, _, names in os.walk(root) for n in names}


def test_a_variant_sweeps_into_its_own_directory_and_is_never_mixed(tmp_path, capsys,
                                                                     monkeypatch):
    """`jaxdl sweep FILE --config.steps 10`: every trial's base has 10 steps, in
    runs/s-steps=10 (never the plain study's runs/s), recorded in study.json; the same
    command continues it, other overrides on its directory are refused naming the key."""
    from jaxdl import cli
    path = write_study(tmp_path / "s.py", lrs=(1e-2,), seeds=(0,), steps=20, eval_every=10)
    monkeypatch.chdir(tmp_path)
    command = ["sweep", path, "--config.steps", "10", "--config.eval_every=5", "--no-progress"]
    assert cli.main(command) == 0
    variant = os.path.join("runs", "s-eval_every=5,steps=10")
    assert os.listdir("runs") == ["s-eval_every=5,steps=10"]
    info = store.read_study(variant)
    assert info["overrides"] == {"steps": 10, "eval_every": 5} and info["base"]["steps"] == 10
    assert info["fingerprint"] == sweep.load_study(
        path, config_overrides=["--config.steps=10", "--config.eval_every=5"]).fingerprint()
    (trial,) = info["trials"]
    saved = json.load(open(os.path.join(variant, "trials", trial["trial"], "config.json")))
    assert saved["steps"] == 10 and saved["eval_every"] == 5
    assert max(r[0] for r in store.records([variant])[0]["rows"]) == 10
    assert "# Study: s (--config.eval_every=5; --config.steps=10)" in open(
        os.path.join(variant, report.REPORT)).read()
    capsys.readouterr()
    assert cli.main(command) == 0  # the same variant: continued, nothing runs again
    assert "(0 run now" in capsys.readouterr().out
    before = snapshot(variant)
    for other, message in (
            (["--config.steps=12", "--config.eval_every=5"],
             "with --config.steps=10, not with --config.steps=12"),
            (["--config.steps=10"], "with --config.eval_every=5, not without --config.eval_every"),
            ([], "with --config.eval_every=5, not without --config.eval_every")):
        assert cli.main(["sweep", path, *other, "--workdir", variant, "--no-progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and variant in err[0], err
    assert snapshot(variant) == before  # nothing already written was touched
    assert cli.main(["report", variant, "--study", path]) == 0  # the study, as the variant
    assert cli.main(["sweep", path, "--no-progress", "--no-report"]) == 0  # the plain study
    assert sorted(os.listdir("runs")) == ["s", "s-eval_every=5,steps=10"]
    assert store.read_study(os.path.join("runs", "s"))["overrides"] == {}
    capsys.readouterr()
    assert cli.main(["report", variant, os.path.join("runs", "s")]) == 2  # never merged
    assert "holds another variant" in capsys.readouterr().err


def test_results_select_keeps_one_arm_and_derives_an_axis():
    def record(trial, point, seed, value, status=store.DONE):
        return {"trial": trial, "point": point, "seed": seed, "status": status,
                "rows": [[10, "test/accuracy", value]], "error": "boom" if status != store.DONE else None}
    recs = [record("a", {"model.width": 4}, 0, 0.1), record("b", {"model.width": 8}, 0, 0.2),
            record("c", {"model.name": "cnn1d", "model.channels": [16, 16, 16]}, 0, 0.3),
            record("d", {"model.name": "cnn1d", "model.channels": [32, 32, 32]}, 1, 0.4),
            record("e", {"model.name": "cnn1d", "model.channels": [64, 64, 64]}, 0, 0.0, store.FAILED)]
    axes = ["model.width", "model.name", "model.channels"]
    failed = pd.DataFrame([{"trial": "e", "model.width": None, "seed": 0, "error": "boom"}])
    results = report.Results(store.frame(recs, axes), axes, ["test/accuracy"], {}, failed, recs)
    cnn = results.select(lambda p: p.get("model.name") == "cnn1d",
                         derived={"model.width": lambda p: p["model.channels"][0]})
    final = cnn.final("test/accuracy").sort_values("trial")
    assert final["trial"].tolist() == ["c", "d"]  # the failed one is not final, and not the MLP's
    assert final["model.width"].tolist() == [16, 32] and final["value"].tolist() == [0.3, 0.4]
    assert cnn.axes == axes and cnn.failed["trial"].tolist() == ["e"]
    mlp = results.select(lambda p: "model.name" not in p)
    assert mlp.final("test/accuracy")["trial"].tolist() == ["a", "b"] and mlp.failed.empty
    assert results.final("test/accuracy")["model.width"].isna().sum() == 2  # the original unchanged


def test_a_shard_from_before_a_new_config_key_merges_with_one_from_after(tmp_path):
    study = sweep.load_study(write_study(tmp_path / "s.py", lrs=(1e-3, 1e-2), seeds=(0,)))
    shards = [str(tmp_path / f"shard{i}") for i in range(2)]
    for i, root in enumerate(shards):
        run.run_study(study, root, vectorize_mode="no", shard=f"{i}/2", progress=False)
    old = json.load(open(os.path.join(shards[0], store.STUDY)))
    del old["base"]["objective"]["label_smoothing"]  # as jaxdl wrote it before that key existed
    old["fingerprint"] = "000000000000"
    for order in (shards, shards[::-1]):  # the older shard first or second
        with open(os.path.join(shards[0], store.STUDY), "w") as f:
            json.dump(old, f)
        assert "2 done, 0 failed, 0 missing of 2" in open(report.write_report(order)).read()
    old["base"]["optimizer"]["b1"] = 0.5  # a real difference is still refused
    with open(os.path.join(shards[0], store.STUDY), "w") as f:
        json.dump(old, f)
    with pytest.raises(store.StoreError, match="another sweep"):
        report.write_report(shards)


def test_one_by_one_trials_are_validated_and_built_once_and_equal_jaxdl_train(
        tmp_path, monkeypatch):
    """Each trial's config is validated once (when the study loads) and its run built once
    (a point's seeds share one build); a trial that reused another seed's run still ends
    bit for bit as `jaxdl.train` of its config."""
    study = sweep.load_study(write_study(tmp_path / "s.py", lrs=(1e-3, 2e-3), seeds=(0, 1),
                                         steps=20, eval_every=10))
    counts = {"build": 0, "validate": 0}

    def counted(name, fn):
        def call(*args, **kwargs):
            counts[name] += 1
            return fn(*args, **kwargs)
        return call

    monkeypatch.setattr(run, "_RUNS", {})  # no run built by another test of this process
    with monkeypatch.context() as m:
        m.setattr(loop, "build", counted("build", loop.build))
        m.setattr(config_lib, "validate", counted("validate", config_lib.validate))
        run.run_study(study, str(tmp_path / "sweep"), vectorize_mode="no", progress=False)
    assert counts == {"build": 2, "validate": 0}  # 2 points; validated by load_study
    trial = study.trials[-1]  # lr 2e-3, seed 1: trained with seed 0's build
    jaxdl.train(trial.config, str(tmp_path / "alone"), progress=False)
    sweep_dir = tmp_path / "sweep" / "trials" / trial.id
    assert (sweep_dir / "metrics.jsonl").read_text() == \
        (tmp_path / "alone" / "metrics.jsonl").read_text()
    params = [jax.device_get(checkpoint.read_latest(str(d))[0]["params"])
              for d in (sweep_dir, tmp_path / "alone")]
    jax.tree.map(np.testing.assert_array_equal, *params)


SPREAD = """
import json, sys, jax
from jaxdl.study import run, store, sweep, vectorize
from jaxdl.training import loop
study = sweep.load_study(sys.argv[1])
configs = [t.config for t in study.trials]
program = vectorize.build_program(loop.build(configs[0]))
state = vectorize.group_placement(len(configs)).state(vectorize.initial_state(program, configs))
leaf = jax.tree.leaves(state.trials.params)[0]
run.run_study(study, sys.argv[2], vectorize_mode="yes", max_group=len(configs), progress=False)
print("RESULT " + json.dumps({
    "devices": jax.local_device_count(),
    "shards": sorted((s.device.id, s.index[0].start or 0) for s in leaf.addressable_shards),
    "step": sorted(d.id for d in state.step.devices())}))
"""


@pytest.mark.slow  # a 4-device subprocess (~13 s)
def test_a_vectorized_group_is_split_over_the_local_devices_with_the_one_device_results(
        tmp_path):
    """Issue 16, point 7: on a machine with 4 devices, the 4 trials of a group train on 4
    devices (one each), to the results of the same group on one device within the stated
    tolerance (every trial computes what it computed on one device)."""
    path = write_study(tmp_path / "s.py", lrs=(1e-3, 1e-2), seeds=(0, 1), steps=20,
                       eval_every=10)
    results = {}
    for devices in (1, 4):
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
        out = subprocess.run([sys.executable, "-c", SPREAD, path, str(tmp_path / str(devices))],
                             capture_output=True, text=True, env=env, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        results[devices] = json.loads(out.stdout.split("RESULT ")[1])
    assert results[4]["devices"] == 4
    assert results[4]["shards"] == [[0, 0], [1, 1], [2, 2], [3, 3]]  # trial i on device i
    assert results[4]["step"] == [0, 1, 2, 3]  # the step: replicated
    assert results[1]["shards"] == [[0, 0]]
    frames = {d: sweep_frame([str(tmp_path / str(d))]).set_index(["trial", "step", "metric"])
              for d in (1, 4)}
    assert frames[1].index.equals(frames[4].index)
    assert {r["mode"] for r in store.records([str(tmp_path / "4")])} == {"vectorized"}
    diff = (frames[1]["value"] - frames[4]["value"]).abs()
    metric = diff.index.get_level_values("metric")
    assert diff[metric.str.endswith("accuracy")].max() <= ACCURACY_TOL
    assert diff[metric.str.endswith("loss")].max() <= LOSS_TOL



def test_a_progress_bar_that_redraws_does_not_stop_a_vectorized_group(tmp_path, monkeypatch):
    """tqdm's `update` returns True when the bar redraws, and a hook's True ends training:
    the bar's value must be ignored, or `jaxdl sweep --vectorize yes` with its bar stops
    each group after its first chunk (found in a --quick sweep: trials recorded done at
    step 10 of 40, then 'no checkpoint of its last step' in measure)."""
    real = tqdm.tqdm.update

    def update(self, n=1):
        real(self, n)
        return True  # as on every redraw

    monkeypatch.setattr(tqdm.tqdm, "update", update)
    study = sweep.load_study(write_study(tmp_path / "s.py", seeds=(0,)))
    run.run_study(study, str(tmp_path / "sweep"), vectorize_mode="yes", progress=True)
    records = store.records([str(tmp_path / "sweep")])
    assert len(records) == 2 and all(r["status"] == "done" for r in records)
    assert {r["mode"] for r in records} == {"vectorized"}
    assert all(max(row[0] for row in r["rows"]) == 40 for r in records)
