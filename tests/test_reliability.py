"""Issue 14's promises under stress: a run killed at every point where it creates a file
resumes to the uninterrupted run's bits; one writer per run or sweep directory; damaged
run files get one line, never a traceback, and nothing written is lost; atomic files
follow the umask; another device count is an intervention; a second signal stops
without a traceback."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

import jaxdl
from jaxdl import cli
from jaxdl import config as config_lib
from jaxdl.training import checkpoint, workdir as workdir_lib

HERE = Path(__file__).parent
ARGS = ["--config.steps=20", "--config.eval_every=10", "--config.checkpoint_every=10",
        "--config.chunk_size=10", "--no-progress"]


def small_config():
    return config_lib.load(None, [a for a in ARGS if a.startswith("--config.")])


def kill_points(root: Path, argv: list[str], list_file: Path | None = None,
                kill_at: str | None = None, env: dict | None = None
                ) -> subprocess.CompletedProcess:
    """`jaxdl argv` under tests/kill_points.py: lists creation points and/or dies at one."""
    return subprocess.run(
        [sys.executable, str(HERE / "kill_points.py"), str(root), str(list_file or "-"),
         kill_at or "-", "--", *argv], capture_output=True, text=True, timeout=600,
        env={**os.environ, **(env or {})})


def distinct(points_file: Path) -> list[str]:
    """The points of a listing, each once, in the order first seen."""
    return list(dict.fromkeys(points_file.read_text().splitlines()))


def final_params(workdir: Path):
    state, _, step = checkpoint.read_latest(str(workdir))
    return step, jax.tree.leaves(state["params"])


def same_run(a: Path, b: Path) -> None:
    """Two finished workdirs hold the same run: metrics rows, final params bit for bit,
    and result (apart from where and how long)."""
    assert (a / "metrics.jsonl").read_text() == (b / "metrics.jsonl").read_text()
    (sa, pa), (sb, pb) = final_params(a), final_params(b)
    assert sa == sb and all(np.array_equal(x, y) for x, y in zip(pa, pb))
    ra, rb = (json.loads((d / "result.json").read_text()) for d in (a, b))
    for r in (ra, rb):
        del r["workdir"], r["wall_time_s"]
    assert ra == rb


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, list[str]]:
    """An uninterrupted `jaxdl train` and the creation points it passed, in order."""
    root = tmp_path_factory.mktemp("reference")
    out = kill_points(root / "run", ["train", *ARGS, "--workdir", str(root / "run")],
                      list_file=root / "points")
    assert out.returncode == 0, out.stderr
    return root / "run", distinct(root / "points")


# Where `jaxdl train` creates files, as tests/kill_points.py names them. First the
# points before its first checkpoint, where a kill used to leave a workdir refused for
# ever (checkpoints/ was made before config.json); then orbax's checkpoint files (made
# from a background thread, so listed sorted) and the result: `slow`.
CREATION_WINDOW = [
    "os.mkdir:.",
    "open:jaxdl.lock",
    "tempfile.mkstemp:.tmp-X.json",
    "open:.tmp-X.json",
    "os.rename:.tmp-X.json -> config.json",
    "os.mkdir:checkpoints",
    "open:history.jsonl",
    "open:metrics.jsonl",
    "open:events.out.tfevents.N.HOST",
]
CKPT = "checkpoints/N.orbax-checkpoint-tmp"
LATER = [
    f"open:{CKPT}/_CHECKPOINT_METADATA",
    f"open:{CKPT}/commit_success.txt",
    f"open:{CKPT}/config.orbax-checkpoint-tmp/commit_success.txt",
    f"open:{CKPT}/config.orbax-checkpoint-tmp/metadata",
    f"open:{CKPT}/digest.orbax-checkpoint-tmp/commit_success.txt",
    f"open:{CKPT}/digest.orbax-checkpoint-tmp/metadata",
    f"open:{CKPT}/state.orbax-checkpoint-tmp/_METADATA",
    f"open:{CKPT}/state.orbax-checkpoint-tmp/array_metadatas/process_N",
    f"open:{CKPT}/state.orbax-checkpoint-tmp/commit_success.txt",
    f"os.mkdir:{CKPT}",
    f"os.mkdir:{CKPT}/config.orbax-checkpoint-tmp",
    f"os.mkdir:{CKPT}/digest.orbax-checkpoint-tmp",
    f"os.mkdir:{CKPT}/state.orbax-checkpoint-tmp",
    f"os.mkdir:{CKPT}/state.orbax-checkpoint-tmp/array_metadatas",
    "os.rename:.tmp-X.json -> result.json",
    f"os.rename:{CKPT} -> checkpoints/N",
    f"os.rename:{CKPT}/config.orbax-checkpoint-tmp -> {CKPT}/config",
    f"os.rename:{CKPT}/digest.orbax-checkpoint-tmp -> {CKPT}/digest",
    f"os.rename:{CKPT}/state.orbax-checkpoint-tmp -> {CKPT}/state",
]


def test_the_listed_creation_points_are_all_of_them(reference):
    """A new place where `jaxdl train` writes fails here until it is listed (and so killed at)."""
    _, points = reference
    assert points[:len(CREATION_WINDOW)] == CREATION_WINDOW
    assert sorted(points[len(CREATION_WINDOW):]) == sorted(LATER)


# Killed at in the default run (each kill costs a process start): the point of the bug
# (checkpoints/ before config.json) and the first file of each kind; the rest are `slow`.
DEFAULT_KILLS = {"open:jaxdl.lock", "os.rename:.tmp-X.json -> config.json", "os.mkdir:checkpoints",
                 "open:history.jsonl", "os.rename:.tmp-X.json -> study.json", "os.mkdir:trials",
                 "os.mkdir:trials/ID", "os.rename:trials/ID/.tmp-X.json -> trials/ID/record.json"}


def slow_unless_default(points: list[str]) -> list:
    return [p if p in DEFAULT_KILLS else pytest.param(p, marks=pytest.mark.slow) for p in points]


@pytest.mark.parametrize("point", [
    *slow_unless_default(CREATION_WINDOW),
    *(pytest.param(p, marks=pytest.mark.slow) for p in LATER),
    # the second checkpoint's finalisation: a resume from the first one
    pytest.param(f"os.rename:{CKPT} -> checkpoints/N#2", marks=pytest.mark.slow)])
def test_train_killed_at_each_file_creation_point_resumes_to_the_same_bits(
        reference, point, tmp_path):
    run, _ = reference
    workdir = tmp_path / "run"
    kill_at = point if "#" in point else f"{point}#1"
    killed = kill_points(workdir, ["train", *ARGS, "--workdir", str(workdir)], kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
    assert not (workdir / "result.json").exists()
    rerun = cli.main(["train", *ARGS, "--workdir", str(workdir)])
    assert rerun == 0, point
    same_run(workdir, run)


# ---------------------------------------------------------------- sweeps

STUDY = """
from jaxdl import config as config_lib
from jaxdl.study import sweep
SWEEP = sweep.axis("optimizer.lr", (3e-3, 1e-2))
SEEDS = (0,)
METRICS = ("test/accuracy", "test/loss")
def get_config(name=None):
    c = config_lib.default()
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = 20, 10, 10, 10
    return c
"""


def sweep_argv(study: Path, workdir: Path) -> list[str]:
    return ["sweep", str(study), "--workdir", str(workdir), "--vectorize", "no",
            "--no-progress", "--no-report"]


def records(workdir: Path) -> dict:
    """Each trial's committed status and metric rows (what a report is made of)."""
    out = {}
    for path in sorted(workdir.glob("trials/*/record.json")):
        r = json.loads(path.read_text())
        out[r["trial"]] = (r["status"], r["rows"])
    return out


@pytest.fixture(scope="module")
def reference_sweep(tmp_path_factory) -> tuple[Path, Path, list[str]]:
    """The study file, an uninterrupted sweep of it, and the points it created files at."""
    root = tmp_path_factory.mktemp("reference_sweep")
    study = root / "study.py"
    study.write_text(STUDY)
    out = kill_points(root / "sweep", sweep_argv(study, root / "sweep"), list_file=root / "points")
    assert out.returncode == 0, out.stderr
    return study, root / "sweep", distinct(root / "points")


# Where `jaxdl sweep` creates files, beyond what `jaxdl train` of a trial creates (the
# train test above kills there): the sweep directory's own files, a trial's directory,
# and the commit of a trial's record after its result.
SWEEP_POINTS = [
    "os.mkdir:.",
    "open:jaxdl.lock",
    "tempfile.mkstemp:.tmp-X.json",
    "open:.tmp-X.json",
    "os.rename:.tmp-X.json -> study.json",
    "os.mkdir:trials",
    "open:study.py",
    "os.mkdir:trials/ID",
    "os.rename:trials/ID/.tmp-X.json -> trials/ID/result.json",
    "os.rename:trials/ID/.tmp-X.json -> trials/ID/record.json",
    # the done trials as TensorBoard runs (study/tensorboard.py), after every trial
    "os.mkdir:tensorboard",
    "os.mkdir:tensorboard/.partial-ID",
    "open:tensorboard/.partial-ID/events.out.tfevents.N.HOST",
    "os.rename:tensorboard/.partial-ID -> tensorboard/lr=N.N seed=N",
]
TRIAL_POINTS = [p.replace(":", ":trials/ID/", 1).replace("-> ", "-> trials/ID/")
                for p in CREATION_WINDOW[1:]]


def test_the_listed_sweep_points_are_all_of_them(reference_sweep):
    _, _, points = reference_sweep
    assert [p for p in points if "orbax-checkpoint" not in p] == (
        SWEEP_POINTS[:8] + TRIAL_POINTS + SWEEP_POINTS[8:])


@pytest.mark.parametrize("point", [
    *slow_unless_default(SWEEP_POINTS),
    *(pytest.param(p, marks=pytest.mark.slow) for p in TRIAL_POINTS),
    pytest.param(SWEEP_POINTS[9] + "#2", marks=pytest.mark.slow)])  # the second trial's record
def test_sweep_killed_at_each_file_creation_point_completes_as_uninterrupted(
        reference_sweep, point, tmp_path):
    """A kill before each file a sweep creates leaves a sweep that the same command
    completes, with every trial done (none failed for good: the kill is the machine's
    failure, not the trial's) and the same records as an uninterrupted sweep."""
    study, reference, _ = reference_sweep
    workdir = tmp_path / "sweep"
    kill_at = point if "#" in point else f"{point}#1"
    killed = kill_points(workdir, sweep_argv(study, workdir), kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
    assert cli.main(sweep_argv(study, workdir)) == 0, point
    assert records(workdir) == records(reference)
    assert {status for status, _ in records(workdir).values()} == {"done"}
    # Every trial's TensorBoard run, none half-written (a partial export is redone).
    assert sorted(os.listdir(workdir / "tensorboard")) == sorted(os.listdir(reference / "tensorboard"))


# ---------------------------------------------------------------- one writer


def test_a_second_process_on_a_workdir_is_refused_and_the_first_is_unharmed(
        reference, tmp_path):
    run, _ = reference
    workdir = tmp_path / "run"
    first, gate = gated_train(workdir)  # waits, holding the workdir: the second meets it
    before = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()}
    second = subprocess.run([sys.executable, "-m", "jaxdl.cli", "train", *ARGS, "--workdir",
                             str(workdir)], capture_output=True, text=True, timeout=300)
    assert second.returncode == 2
    assert second.stderr.strip().splitlines() == [
        f"jaxdl: error: workdir {workdir} is in use by another jaxdl process "
        f"(pid {first.pid} on {os.uname().nodename} since "
        + second.stderr.split("since ")[1].split(")")[0] + "); wait for it to end or stop it"]
    assert {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()} == before
    gate.touch()
    assert first.wait(timeout=300) == 0, first.communicate()[1][-2000:]
    same_run(workdir, run)


# `jaxdl train` that, once its workdir is claimed, waits for a file to exist.
GATED_TRAIN = """
import os, sys, time
from jaxdl import cli
from jaxdl.training import loop
gate, argv = sys.argv[1], sys.argv[2:]
original = loop._run
def gated(*args, **kwargs):
    open(gate + ".waiting", "w").close()
    while not os.path.exists(gate):
        time.sleep(0.05)
    return original(*args, **kwargs)
loop._run = gated
sys.exit(cli.main(argv))
"""

def gated_train(workdir: Path) -> tuple[subprocess.Popen, Path]:
    """A `jaxdl train` process on `workdir`, returned once it has claimed the workdir and
    waits, before its first step, for the returned gate file to exist."""
    gate = workdir.parent / f"{workdir.name}.go"
    proc = subprocess.Popen(
        [sys.executable, "-c", GATED_TRAIN, str(gate), "train", *ARGS, "--workdir", str(workdir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not Path(f"{gate}.waiting").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    return proc, gate


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(os.path.join(sys.argv[1], "jaxdl.lock"), os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, f"pid {os.getpid()} on test".encode())
print("locked", flush=True)
time.sleep(120)
"""


@contextlib.contextmanager
def lock_held_elsewhere(directory: Path):
    directory.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(directory)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_a_sweep_directory_held_by_another_process_is_refused_before_anything_is_written(
        tmp_path, capsys):
    study = tmp_path / "study.py"
    study.write_text(STUDY)
    workdir = tmp_path / "sweep"
    with lock_held_elsewhere(workdir) as pid:
        assert cli.main(sweep_argv(study, workdir)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"jaxdl: error: sweep directory {workdir} is in use by another jaxdl "
                   f"process (pid {pid} on test); wait for it to end or stop it"]
    assert sorted(os.listdir(workdir)) == ["jaxdl.lock"]


def test_shards_share_a_sweep_directory_but_one_shard_has_one_writer(tmp_path, capsys):
    from jaxdl.study import run as run_lib
    with run_lib.locked(str(tmp_path), "0/2"), run_lib.locked(str(tmp_path), "1/2"):
        pass  # two shards side by side (in one process here: the locks nest)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from jaxdl.study import run\n"
         "with run.locked(sys.argv[1], '0/2'):\n print('locked', flush=True); time.sleep(120)",
         str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with run_lib.locked(str(tmp_path), "1/2"):
            pass  # another shard: fine
        with pytest.raises(workdir_lib.Busy, match="shard 0/2"):
            with run_lib.locked(str(tmp_path), "0/2"):
                pass
        with pytest.raises(workdir_lib.Busy, match="sweep directory"):
            with run_lib.locked(str(tmp_path), None):  # the whole sweep: not beside a shard
                pass
    finally:
        holder.kill()
        holder.wait()


# ---------------------------------------------------------------- damaged files


def damage(workdir: Path, name: str, content) -> None:
    path = workdir / name
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    if content is IS_DIRECTORY:
        path.mkdir()
    else:
        path.write_bytes(content)


IS_DIRECTORY = object()
BAD_JSON = {"garbage": b"{not json", "empty": b"", "list": b"[]", "empty object": b"{}",
            "binary": b"\x80\x81\xfe", "directory": IS_DIRECTORY}
CASES = [
    *((f"config.json {k}", "config.json", v, False) for k, v in BAD_JSON.items()),
    *((f"result.json {k}", "result.json", v, True) for k, v in BAD_JSON.items()),
    ("metrics.jsonl binary", "metrics.jsonl", b'{"step": 10}\n\x00\xff\xfe garbage\n', False),
    ("metrics.jsonl directory", "metrics.jsonl", IS_DIRECTORY, False),
    ("history.jsonl directory", "history.jsonl", IS_DIRECTORY, False),
    ("checkpoints a file", "checkpoints", b"not a directory", False),
]


@pytest.fixture(scope="module")
def interrupted_and_finished(tmp_path_factory, reference) -> dict[bool, Path]:
    """A finished run (the reference) and one stopped after its first checkpoint."""
    run, _ = reference
    partial = tmp_path_factory.mktemp("partial") / "run"
    shutil.copytree(run, partial)
    os.remove(partial / "result.json")
    shutil.rmtree(partial / "checkpoints" / "20")
    return {True: run, False: partial}


@pytest.mark.parametrize("case,name,content,finished", CASES, ids=[c[0] for c in CASES])
def test_a_damaged_run_file_is_one_line_naming_it_and_nothing_is_changed(
        interrupted_and_finished, tmp_path, capsys, case, name, content, finished):
    workdir = tmp_path / "run"
    shutil.copytree(interrupted_and_finished[finished], workdir)
    damage(workdir, name, content)
    before = snapshot(workdir)
    assert cli.main(["train", *ARGS, "--workdir", str(workdir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxdl: error: ") and str(workdir / name) in err[0], err
    assert snapshot(workdir) == before


def snapshot(root: Path) -> dict:
    """Every file's bytes and every directory, by path (the lock file's content aside)."""
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes())
            for p in sorted(root.rglob("*")) if p.name != workdir_lib.LOCK}


def test_a_workdir_under_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert cli.main(["train", *ARGS, "--workdir", str(tmp_path / "file" / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"jaxdl: error: workdir {tmp_path}/file/run: its parent {tmp_path}/file "
                   f"is a file, not a directory"]


def test_deleted_metrics_rows_are_named_in_a_warning_and_the_run_completes(
        interrupted_and_finished, tmp_path, capsys):
    workdir = tmp_path / "run"
    shutil.copytree(interrupted_and_finished[False], workdir)
    (workdir / "metrics.jsonl").write_text("")  # the rows of step 10, deleted
    assert cli.main(["train", *ARGS, "--workdir", str(workdir)]) == 0
    err = capsys.readouterr().err
    assert f"jaxdl: warning: {workdir}/metrics.jsonl has no rows for steps 10 " in err
    assert [json.loads(r)["step"] for r in (workdir / "metrics.jsonl").read_text().splitlines()] == [20, 20]


def test_a_torn_last_metrics_line_is_dropped_silently(interrupted_and_finished, tmp_path, capsys):
    """A kill in the middle of writing a row leaves a torn last line: expected, no warning."""
    workdir = tmp_path / "run"
    shutil.copytree(interrupted_and_finished[False], workdir)
    with open(workdir / "metrics.jsonl", "a") as f:
        f.write('{"step": 20, "split": "tr')
    assert cli.main(["train", *ARGS, "--workdir", str(workdir)]) == 0
    assert "warning" not in capsys.readouterr().err
    same_run(workdir, interrupted_and_finished[True])


# ---------------------------------------------------------------- shared directories


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_atomic_files_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        workdir_lib.write_json_atomic(str(tmp_path / "a.json"), {"x": 1})
        workdir_lib.write_npz_atomic(str(tmp_path / "b.npz"), {"x": np.zeros(2)})
        files = workdir_lib.RunFiles(str(tmp_path))
        (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')
        os.chmod(tmp_path / "metrics.jsonl", 0o666 & ~umask)
        files.truncate_metrics(1)
    finally:
        os.umask(old)
    for name in ("a.json", "b.npz", "metrics.jsonl"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


# ---------------------------------------------------------------- device count


def test_resuming_on_another_device_count_is_an_intervention(reference, tmp_path, capsys):
    """A run checkpointed on 2 devices and resumed on 1 (this process) would continue with
    other bits: refused without --intervene, recorded with it."""
    workdir = tmp_path / "run"
    killed = kill_points(workdir, ["train", *ARGS, "--workdir", str(workdir)],
                         kill_at="os.mkdir:checkpoints/N.orbax-checkpoint-tmp#2",
                         env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert jax.device_count() == 1
    assert cli.main(["train", *ARGS, "--workdir", str(workdir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"jaxdl: error: workdir {workdir} was trained on 2 device(s) in 1 "
                   f"process(es) and this run has 1 device(s) in 1 process(es), which changes "
                   f"the bits (the gradient's all-reduce sums in another order); pass "
                   f"--intervene to continue it with these changes recorded, or choose "
                   f"another --workdir"]
    assert cli.main(["train", *ARGS, "--workdir", str(workdir), "--intervene"]) == 0
    history = [json.loads(r) for r in (workdir / "history.jsonl").read_text().splitlines()]
    assert [h["event"] for h in history] == ["start", "intervention", "finish"]
    assert (history[0]["devices"], history[1]["devices"]) == (2, 1)
    assert cli.main(["train", *ARGS, "--workdir", str(workdir)]) == 0  # finished: as it is


# ---------------------------------------------------------------- signals


def test_a_second_sigterm_stops_at_once_without_a_traceback(tmp_path):
    workdir = tmp_path / "run"
    proc, _ = gated_train(workdir)
    proc.send_signal(signal.SIGTERM)  # noted: save after this chunk
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)  # now: stop at once
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("jaxdl: stopped at once by a second signal")
    assert cli.main(["train", *ARGS, "--workdir", str(workdir)]) == 0  # and it resumes


def test_a_deleted_checkpoint_manifest_falls_back_in_one_line_without_tracebacks(
        interrupted_and_finished, tmp_path):
    """Without its OCDBT manifest the newest checkpoint cannot be read: one warning naming
    the file, then the previous checkpoint (tensorstore's failed reads used to print
    'Event loop is closed' tracebacks)."""
    run = interrupted_and_finished[True]
    workdir = tmp_path / "run"
    shutil.copytree(run, workdir)
    os.remove(workdir / "result.json")
    os.remove(workdir / "checkpoints" / "20" / "state" / "manifest.ocdbt")
    out = subprocess.run([sys.executable, "-m", "jaxdl.cli", "train", *ARGS, "--workdir",
                          str(workdir)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and "Event loop" not in out.stderr, out.stderr
    assert out.stderr.splitlines()[:2] == [
        f"jaxdl: warning: checkpoint at step 20 in {workdir}/checkpoints is unreadable "
        f"(FileNotFoundError: {workdir}/checkpoints/20/state/manifest.ocdbt is missing); "
        f"falling back to the previous one", f"jaxdl: resuming {workdir} from step 10"]
    assert out.stderr.splitlines()[2].startswith(
        "jaxdl: warning: the damaged checkpoint at step 20 is moved to ")
    same_run(workdir, run)  # its newest checkpoint is step 20 saved anew, not the damaged one
    assert len(list((workdir / "checkpoints.damaged").iterdir())) == 1


@contextlib.contextmanager
def small_disk(path: Path, size: str = "400k"):
    """A tmpfs of `size` at `path` (skips where this process may not mount)."""
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_full_disk_is_one_line_and_the_run_continues_elsewhere(tmp_path):
    """orbax's writer threads each printed a traceback (~800 lines); now one line, exit 1,
    and what was written is intact: copied to a disk with room, the run completes."""
    argv = ["train", "--config.steps=200", "--config.eval_every=10",
            "--config.checkpoint_every=10", "--config.chunk_size=10", "--no-progress"]
    with small_disk(tmp_path / "small") as disk:
        out = subprocess.run([sys.executable, "-m", "jaxdl.cli", *argv, "--workdir",
                              str(disk / "run")], capture_output=True, text=True, timeout=300)
        shutil.copytree(disk / "run", tmp_path / "run")
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f"jaxdl: error: {disk}/run: no space left on device; nothing already written was "
        f"removed — fix this and re-run the same command to continue"], out.stderr[-3000:]
    workdir = tmp_path / "run"
    assert cli.main([*argv, "--workdir", str(workdir)]) == 0
    assert json.loads((workdir / "result.json").read_text())["step"] == 200


def test_a_read_only_workdir_is_one_line_and_left_as_it_is(reference, tmp_path, capsys):
    run, _ = reference
    with small_disk(tmp_path / "ro", "4m") as disk:
        shutil.copytree(run, disk / "run")
        os.remove(disk / "run" / "result.json")  # unfinished: it would have to write
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        before = snapshot(disk / "run")
        assert cli.main(["train", *ARGS, "--workdir", str(disk / "run")]) == 2
        assert snapshot(disk / "run") == before
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"jaxdl: error: workdir {disk}/run: cannot open its lock file "
                   f"{disk}/run/jaxdl.lock (Read-only file system); is the directory writable?"]
