"""Experiment trackers (config.trackers, training/writers.py), offline: a short run logged to
Weights & Biases in its offline mode and to MLflow in a local store in tmp_path, read back
(W&B's .wandb file, MLflow's client) and compared with metrics.jsonl row by row; a
resumed run continues the same tracker runs; the config's one-line errors."""
import glob
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from crash import Crash, crash_in_chunk  # tests/crash.py

import jaxdl
from jaxdl import config as config_lib
from jaxdl import trackers
from jaxdl.training import build, loop, resume, workdir, writers

MEASURED = {"train_step/steps_per_s"}  # wall-clock: to the trackers, never to metrics.jsonl


def tiny(use: str, steps: int = 20) -> config_lib.RunConfig:
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.steps, c.eval_every, c.log_every, c.chunk_size, c.checkpoint_every = steps, 10, 5, 5, 10
    c.trackers.use = use
    return c


def jsonl_scalars(run_dir) -> dict[tuple[int, str], float]:
    """{(step, "<split>/<metric>"): value} of metrics.jsonl, as the trackers name them."""
    rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    found = {(r["step"], f"{r['split']}/{k}"): v for r in rows for k, v in r.items()
             if k not in ("step", "split")}
    assert len(found) == sum(len(r) - 2 for r in rows)  # no (step, key) twice
    return found


# --- W&B: offline, read back from its .wandb files ---------------------------------------

@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    """W&B offline, its settings and caches in tmp_path. Its server address and the HTTP(S)
    proxy point at a local listener: any request W&B made would land there (none may)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    reached, done = [], threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                reached.append(listener.accept()[1])
            except (TimeoutError, OSError):
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    for key, value in {"WANDB_MODE": "offline", "WANDB_BASE_URL": url, "HTTP_PROXY": url,
                       "HTTPS_PROXY": url, "http_proxy": url, "https_proxy": url,
                       "WANDB_SILENT": "true"}.items():
        monkeypatch.setenv(key, value)
    for key in ("NO_PROXY", "no_proxy", "WANDB_DIR", "WANDB_API_KEY", "WANDB_PROJECT"):
        monkeypatch.delenv(key, raising=False)
    for key in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(key, str(tmp_path / "wandb-home" / key.lower()))
    yield
    done.set()
    thread.join()
    listener.close()
    assert not reached, f"W&B opened {len(reached)} connection(s) in offline mode"


def wandb_records(path: str):
    """The records (protobuf `Record`s) of a .wandb file: W&B's LevelDB-style log of 32 KiB
    blocks, each record in chunks of [crc32, length (2 bytes), type] + data."""
    from wandb.proto import wandb_internal_pb2
    data = open(path, "rb").read()
    assert data[:4] == b":W&B", path
    pos, block, parts = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header: zero padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        parts += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a FULL record, or the LAST chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            parts = b""
            yield record


def key_of(item) -> str:
    """A history or config item's key (W&B stores a key with "/" as its parts)."""
    return item.key or "/".join(item.nested_key)


def finished_records(path: str, timeout: float = 60.0) -> list:
    """The records of a run's .wandb file once W&B has written its `exit` record: W&B's
    service writes the file in the background, and may still be at it when `finish`
    returns (seen with two runs finishing together)."""
    deadline, size = time.monotonic() + timeout, -1
    while True:
        records = list(wandb_records(path))
        # and the file no longer growing: a run read at once, under load, once lacked its
        # last history row (W&B's service writes in the background)
        if any(r.WhichOneof("record_type") == "exit" for r in records) and \
                os.path.getsize(path) == size:
            return records
        assert time.monotonic() < deadline, f"{path}: no exit record after {timeout} s"
        size = os.path.getsize(path)
        time.sleep(1.0)


def wandb_runs(directory) -> list[dict]:
    """Each offline run directory under `directory`, oldest first: its run id, name,
    project, config and scalars {(step, key): value}."""
    runs = []
    for path in sorted(glob.glob(os.path.join(directory, "offline-run-*", "run-*.wandb"))):
        run = {"scalars": {}, "config": {}}
        for record in finished_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run.update(id=record.run.run_id, name=record.run.display_name,
                           project=record.run.project)
                items = record.run.config.update
            elif kind == "config":
                items = record.config.update
            elif kind == "history":
                step = record.history.step.num
                run["scalars"].update({(step, key_of(i)): json.loads(i.value_json)
                                       for i in record.history.item
                                       if not key_of(i).startswith("_")})
                continue
            else:
                continue
            run["config"].update({key_of(i): json.loads(i.value_json) for i in items
                                  if key_of(i) != "_wandb"})
        runs.append(run)
    return runs


def test_wandb_offline_round_trip(offline_wandb, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    config = tiny("wandb")
    run_dir = tmp_path / "cnn"
    jaxdl.train(config, str(run_dir), progress=False)
    [run] = wandb_runs(run_dir / "wandb")  # <workdir>/wandb/ when $WANDB_DIR is not set
    assert (run["name"], run["project"]) == ("cnn", "jaxdl")
    assert json.load(open(run_dir / "trackers.json"))["wandb"]["id"] == run["id"]
    assert run["config"] == json.load(open(run_dir / "config.json"))
    expected = jsonl_scalars(run_dir)
    logged = {k: v for k, v in run["scalars"].items() if k[1] not in MEASURED}
    assert logged == expected  # every (step, key), every value bit for bit
    assert {step for step, key in run["scalars"] if key in MEASURED} == {5, 10, 15, 20}
    # Reading the run back needs no W&B: load_run builds it without its trackers.
    monkeypatch.setitem(sys.modules, "wandb", None)
    opened = jaxdl.load_run(str(run_dir))
    assert opened.evaluate("test")["loss"] == expected[(20, "test/loss")]


def test_several_wandb_runs_open_in_one_process(offline_wandb, tmp_path):
    """A vectorized sweep's trials each write their own W&B run, all at once."""
    pytest.importorskip("wandb")
    for name in ("a", "b"):
        os.makedirs(tmp_path / name)
    logs = [workdir.MetricsLog(str(tmp_path / name), config=tiny("wandb")) for name in ("a", "b")]
    for step in (1, 2):
        for i, log in enumerate(logs):
            log.log(step, "test", {"loss": 10 * i + step})
    for log in logs:
        log.close()
    runs = [wandb_runs(tmp_path / name / "wandb")[0] for name in ("a", "b")]
    assert runs[0]["id"] != runs[1]["id"]
    assert [r["scalars"] for r in runs] == [{(1, "test/loss"): 1, (2, "test/loss"): 2},
                                             {(1, "test/loss"): 11, (2, "test/loss"): 12}]


# --- MLflow: a local store, read back with its client ------------------------------------

def mlflow_scalars(client, run_id: str) -> dict[tuple[int, str], float]:
    run = client.get_run(run_id)
    found = [(m.step, key, m.value) for key in run.data.metrics
             for m in client.get_metric_history(run_id, key)]
    assert len({(step, key) for step, key, _ in found}) == len(found)  # each step once
    return {(step, key): value for step, key, value in found}


def test_mlflow_file_store_round_trip(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient
    # MLflow 3.18 keeps its file store (maintenance mode) behind this opt-in
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = f"file:{tmp_path / 'mlruns'}"
    config = tiny("mlflow")
    config.trackers.mlflow.tracking_uri, config.trackers.mlflow.experiment = uri, "trackers"
    run_dir = tmp_path / "mlp"
    jaxdl.train(config, str(run_dir), progress=False)
    state = json.load(open(run_dir / "trackers.json"))["mlflow"]
    assert state["tracking_uri"] == uri
    client = MlflowClient(uri)
    run = client.get_run(state["run_id"])
    assert (run.info.status, run.info.run_name) == ("FINISHED", "mlp")
    assert client.get_experiment(run.info.experiment_id).name == "trackers"
    assert run.data.tags["jaxdl.workdir"] == str(run_dir)
    saved = resume.flatten_config(json.load(open(run_dir / "config.json")))
    assert run.data.params == {k: str(v) for k, v in saved.items()}
    assert run.data.params["model.name"] == "mlp"
    scalars = mlflow_scalars(client, state["run_id"])
    assert {k: v for k, v in scalars.items() if k[1] not in MEASURED} == jsonl_scalars(run_dir)
    assert {step for step, key in scalars if key in MEASURED} == {5, 10, 15, 20}


# --- resume: the same tracker runs, no step logged twice ---------------------------------

def test_a_resumed_run_continues_its_tracker_runs(offline_wandb, tmp_path, monkeypatch):
    """Three attempts of a 30-step run checkpointed every 10 steps: killed after logging
    step 15 (MLflow only), then after step 25 (W&B added on resume), then to the end. MLflow
    (here its default store kind, SQLite) keeps one run and one value per step; W&B offline
    has one directory per attempt of one run id, the last holding the whole history."""
    pytest.importorskip("wandb")
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = tiny("mlflow", steps=30)
    config.trackers.mlflow.tracking_uri = uri
    run_dir = tmp_path / "run"
    client = MlflowClient(uri)
    for use, crash_at, last_logged in (("mlflow", 15, 15), ("mlflow, wandb", 25, 25)):
        config.trackers.use = use  # a free key: another tracker is no change to the run
        with monkeypatch.context() as m:
            crash_in_chunk(m, crash_at)
            with pytest.raises(Crash):
                jaxdl.train(config, str(run_dir), progress=False)
        state = json.load(open(run_dir / "trackers.json"))
        assert client.get_run(state["mlflow"]["run_id"]).info.status == "FAILED"
        scalars = mlflow_scalars(client, state["mlflow"]["run_id"])
        assert max(step for step, _ in scalars) == last_logged
    [added] = wandb_runs(run_dir / "wandb")  # chosen on resume: the rows before it too
    assert sorted({step for step, _ in added["scalars"]}) == [5, 10, 15, 20, 25]

    jaxdl.train(config, str(run_dir), progress=False)
    assert json.load(open(run_dir / "trackers.json")) == state  # the same tracker runs
    expected = jsonl_scalars(run_dir)
    run = client.get_run(state["mlflow"]["run_id"])
    assert run.info.status == "FINISHED"
    scalars = mlflow_scalars(client, run.info.run_id)  # asserts: no step logged twice
    assert {k: v for k, v in scalars.items() if k[1] not in MEASURED} == expected
    attempts = wandb_runs(run_dir / "wandb")
    assert [a["id"] for a in attempts] == [state["wandb"]["id"]] * 2
    assert {k: v for k, v in attempts[-1]["scalars"].items() if k[1] not in MEASURED} == expected


def test_how_a_run_ended_is_its_trackers_status():
    assert writers.end_status(None) == writers.FINISHED
    assert writers.end_status(loop.Interrupted(3, "w"), (loop.Interrupted,)) == writers.KILLED
    assert writers.end_status(KeyboardInterrupt()) == writers.KILLED
    assert writers.end_status(ValueError("x"), (loop.Interrupted,)) == writers.FAILED
    assert tuple(writers.TRACKERS) == trackers.NAMES


# --- the config ---------------------------------------------------------------------------

@pytest.mark.parametrize("override, message", [
    ("trackers.use=wandb,tensorbord", "config.trackers.use: unknown tracker 'tensorbord'; "
                                      "known: wandb, mlflow (metrics.jsonl and TensorBoard "
                                      "are always written), got 'wandb,tensorbord'"),
    ("trackers.use=wandb, wandb", "config.trackers.use: names a tracker twice, got 'wandb, wandb'"),
    ("trackers.wandb.mode=ofline", "config.trackers.wandb.mode: must be one of '', 'online', "
                                   "'offline', 'disabled', got 'ofline'"),
    ("trackers.mlflow.uri=x", "config.trackers.mlflow.uri: unknown key; allowed: "
                              "experiment, tracking_uri"),
])
def test_bad_tracker_settings_are_one_line_naming_the_key(override, message):
    with pytest.raises(config_lib.ConfigError) as info:
        config_lib.load(None, [override])
    assert str(info.value) == message


def test_a_tracker_whose_package_is_missing_is_refused_before_any_compute(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed

    def no_data(config):
        raise AssertionError("data loaded before the check")

    monkeypatch.setattr(build, "load_data", no_data)
    with pytest.raises(config_lib.ConfigError) as info:
        jaxdl.train(tiny("mlflow,wandb"), str(tmp_path / "w"), progress=False)
    assert str(info.value) == (
        "config.trackers.use: 'wandb' needs the wandb package, which is not installed: "
        "pip install 'wandb>=0.31,<1' (in a checkout: pip install -e '.[wandb]')")
    assert not (tmp_path / "w").exists()


def test_cli_names_the_extra_in_one_line(tmp_path):
    code = ("import sys; sys.modules['mlflow'] = None; from jaxdl import cli; "
            "sys.exit(cli.main(sys.argv[1:]))")
    out = subprocess.run([sys.executable, "-c", code, "train", "--config.trackers.use=mlflow",
                          "--workdir", str(tmp_path / "w")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "jaxdl: error: config.trackers.use: 'mlflow' needs the mlflow package, which is not "
        "installed: pip install 'mlflow-skinny>=3.18,<4' 'sqlalchemy>=2,<3' 'alembic>=1.13,<2' "
        "(in a checkout: pip install -e '.[mlflow]')"]
    assert not (tmp_path / "w").exists()


def test_a_tracker_that_cannot_start_is_one_line(tmp_path):
    pytest.importorskip("mlflow")
    config = tiny("mlflow")
    config.trackers.mlflow.tracking_uri = "nope://nowhere"
    with pytest.raises(config_lib.ConfigError, match=r"^config.trackers.use: 'mlflow' could "
                                                      r"not start its run \(\w+: .*nope"):
        jaxdl.train(config, str(tmp_path / "w"), progress=False)
    assert not (tmp_path / "w" / "trackers.json").exists()


def test_trackers_are_free_on_resume():
    """Another tracker, or none, is no change to a run; a config saved before the section
    existed still resumes."""
    old = config_lib.default().to_dict()
    new = json.loads(json.dumps(old))
    new["trackers"]["use"], new["trackers"]["wandb"]["project"] = "wandb", "mine"
    assert resume.config_changes(old, new) == {}
    del old["trackers"]
    assert resume.config_changes(old, new) == {}
    assert {"trackers.use", "trackers.wandb.mode", "trackers.mlflow.tracking_uri"} <= \
        resume.FREE_KEYS
