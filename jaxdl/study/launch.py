"""Launchers: a sweep's shards as N processes on this machine, or as a SLURM job array.

    jaxdl sweep experiments/quickstart_sweep.py --launcher local --shards 4
        # 4 shard processes here (one GPU each where there are GPUs); waits, then
        # runs/quickstart_sweep/report.md merging the 4 shards
    jaxdl sweep experiments/quickstart_sweep.py --launcher slurm --shards 16 \
        --workdir /shared/qs --slurm partition=gpu --slurm time=120 --slurm gpus_per_task=1
        # a 16-task SLURM job array (logs in /shared/qs/slurm/); waits for it, then
        # /shared/qs/report.md merging every shard

Both go through submitit (`LocalExecutor`, `SlurmExecutor`): each task runs, in its own
process, what `jaxdl sweep FILE --shard i/N --workdir DIR` runs, into the one sweep
directory (shards hold its lock shared and their own shard lock exclusively: run.py).
Re-running the same command submits only the shards that still have trials to train
(or to measure, or failed ones with --retry-failed): committed records are never
rewritten, and an interrupted trial resumes from its own checkpoints. SLURM options come
from the study file's `SLURM = {"partition": ..., "time": 60, ...}` and `--slurm
KEY=VALUE` (the command line wins): submitit's SlurmExecutor parameters (partition,
time in minutes, gpus_per_task, cpus_per_task, mem, account, qos, ...), and any other
key passed to sbatch as `--KEY=VALUE`.

Why submitit's LocalExecutor and not plain subprocesses: the same submit/wait/cancel
code and the same log layout serve both launchers, and submitit sets each local
process's CUDA_VISIBLE_DEVICES itself (to "" on a machine without GPUs, which changes
nothing there).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from typing import Any, Callable, Sequence

import submitit

from jaxdl.study import measure as measure_lib
from jaxdl.study import report as report_lib
from jaxdl.study import run as run_lib
from jaxdl.study import store as store_lib
from jaxdl.study import sweep

__all__ = ["LAUNCHERS", "LaunchError", "Launch", "check_flags", "slurm_parameters",
           "shards_with_work", "local_gpus", "make_executor", "submit", "wait", "launch"]

LAUNCHERS = ("local", "slurm")
# submitit's local default (2 min) would kill a shard mid-trial: a week, i.e. no limit.
LOCAL_TIMEOUT_MIN = 7 * 24 * 60
# Keys of SlurmExecutor.update_parameters (the rest go to sbatch as --KEY=VALUE).
SLURM_KEYS = frozenset(submitit.SlurmExecutor._valid_parameters())


class LaunchError(sweep.StudyError):
    """A launcher flag or option that cannot be used; the message is one line."""


@dataclasses.dataclass(frozen=True)
class Launch:
    """What `--launcher` asked for, checked."""
    launcher: str
    shards: int
    wait: bool
    slurm: dict[str, Any]  # --slurm KEY=VALUE, values as given


def check_flags(args: Any) -> Launch | None:
    """The launch that `args` (of `jaxdl sweep`) ask for, or None (this process runs the
    sweep itself); a LaunchError naming the flag, before anything is written."""
    if args.launcher is None:
        for flag, given in (("--shards", args.shards is not None), ("--slurm", args.slurm),
                            ("--no-wait", args.no_wait)):
            if given:
                raise LaunchError(f"{flag}: needs --launcher {'|'.join(LAUNCHERS)} (one shard "
                                  f"of N by hand: --shard i/N)")
        return None
    if args.shard:
        raise LaunchError(f"--launcher {args.launcher}: runs every shard itself; drop "
                          f"--shard {args.shard} (or drop --launcher to run one shard here)")
    shards = 1 if args.shards is None else args.shards
    if shards < 1:
        raise LaunchError(f"--shards {shards}: needs N >= 1")
    if args.launcher == "local" and (args.slurm or args.no_wait):
        flag = "--slurm" if args.slurm else "--no-wait"
        raise LaunchError(f"{flag}: only with --launcher slurm (local shards are this "
                          f"command's own processes)")
    if args.launcher == "slurm" and shutil.which("sbatch") is None:
        raise LaunchError("--launcher slurm: no sbatch on PATH (SLURM's commands); run on a "
                          "machine of the cluster, or use --launcher local")
    return Launch(args.launcher, shards, not args.no_wait,
                  dict(_key_value(pair) for pair in args.slurm or ()))


def _key_value(pair: str) -> tuple[str, Any]:
    key, sep, value = pair.partition("=")
    if not sep or not key:
        raise LaunchError(f"--slurm {pair}: expected KEY=VALUE, e.g. --slurm partition=gpu")
    return key, int(value) if value.isdigit() else value


def slurm_parameters(study: sweep.Study, given: dict[str, Any]) -> dict[str, Any]:
    """SlurmExecutor parameters: the study file's SLURM dict, then the command line's;
    keys spelled with dashes (`gpus-per-task`) as submitit's; the others for sbatch."""
    declared = getattr(study.module, "SLURM", None) or {}
    if not isinstance(declared, dict) or not all(isinstance(k, str) for k in declared):
        raise LaunchError(f"study {study.path}: SLURM must be a dict of option name -> value")
    params: dict[str, Any] = {"job_name": f"jaxdl-{study.name}"}
    extra: dict[str, Any] = {}
    for key, value in {**declared, **given}.items():
        name = key.replace("-", "_")
        if name in SLURM_KEYS and name != "additional_parameters":
            params[name] = value
        else:
            extra[key] = value
    if extra:
        params["additional_parameters"] = extra
    return params


def shards_with_work(study: sweep.Study, workdir: str, count: int, *, retry_failed: bool,
                     remeasure: bool) -> list[int]:
    """The shards of `count` that have a trial without a record (or a failed one to retry,
    or a done one to measure): the only ones worth a process."""
    store = store_lib.Store(workdir)
    measures = measure_lib.load_measure(study) is not None

    def left(trial: sweep.Trial) -> bool:
        record = store.record(trial.id)
        if record is None:
            return True
        if record["status"] == store_lib.FAILED:
            return retry_failed
        return remeasure or (measures and not record.get("measured"))

    return [i for i in range(count)
            if any(left(t) for t in sweep.shard(study.trials, f"{i}/{count}"))]


def local_gpus() -> list[str]:
    """This machine's GPUs as CUDA_VISIBLE_DEVICES names them: the ones already made
    visible, else `nvidia-smi -L`'s. Not through jax: initializing CUDA here would take
    memory on every GPU that the shard processes need."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU")]


def make_executor(spec: Launch, folder: str, study: sweep.Study) -> submitit.Executor:
    """The submitit executor of `spec`, its logs in `folder`."""
    if spec.launcher == "slurm":
        executor = submitit.SlurmExecutor(folder=folder)
        executor.update_parameters(**slurm_parameters(study, spec.slurm))
        return executor
    executor = submitit.LocalExecutor(folder=folder)
    executor.update_parameters(timeout_min=LOCAL_TIMEOUT_MIN)
    return executor


def submit(executor: submitit.Executor, task: Callable[[str], Any], shards: Sequence[int],
           count: int) -> list[Any]:
    """One job per shard `i` of `count`, running `task("i/count")`: a SLURM job array, or
    local processes with one GPU each (round robin) where there are GPUs."""
    specs = [f"{i}/{count}" for i in shards]
    if isinstance(executor, submitit.SlurmExecutor):
        return executor.map_array(task, specs)
    gpus = local_gpus()
    if len(gpus) < len(specs) and gpus:
        # Shards share GPUs: JAX's default of taking 75% of a GPU's memory per process
        # would leave the second one none. Set here, inherited by the shard processes.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    jobs = []
    for n, spec in enumerate(specs):
        if gpus:
            executor.update_parameters(gpus_per_node=1, visible_gpus=(int(gpus[n % len(gpus)]),))
        jobs.append(executor.submit(task, spec))
    return jobs


def wait(jobs: Sequence[Any], shards: Sequence[int], poll_s: float = 2.0) -> list[str]:
    """Wait for every job to end; one line per shard whose job failed or was cancelled.

    Not `job.result()` alone: for a SLURM job that ended without a result (cancelled,
    killed) submitit asks `sacct`, which a cluster without accounting storage cannot
    answer; `squeue` (what is still queued or running) can."""
    running = dict(zip(shards, jobs))
    failures = []
    while running:
        queued = _queued(running.values())
        for i, job in list(running.items()):
            local = isinstance(job, submitit.LocalJob)
            if job.paths.result_pickle.exists():
                failures += _failure(i, job)
            elif job.done() if local else job.job_id not in queued:
                failures.append(f"shard {i} (job {job.job_id}) ended without a result "
                                f"(cancelled or killed); its log: {job.paths.stderr}")
            else:
                continue
            del running[i]
        if running:
            time.sleep(poll_s)
    return failures


def _failure(shard: int, job: Any) -> list[str]:
    try:
        job.result()
    except Exception as e:  # noqa: BLE001 - a shard's failure is reported, not raised
        lines = [line for line in str(e).splitlines() if line.strip()]
        return [f"shard {shard} (job {job.job_id}) failed: "
                f"{lines[-1] if lines else type(e).__name__}"]
    return []


def _queued(jobs: Any) -> set[str]:
    """The ids (`123_4`) of the SLURM array tasks of `jobs` still pending or running."""
    arrays = sorted({j.job_id.split("_")[0] for j in jobs if isinstance(j, submitit.SlurmJob)})
    if not arrays:
        return set()
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(arrays)],
                         capture_output=True, text=True, timeout=60)
    if out.returncode and "Invalid job id" not in out.stderr:  # the controller: not sure
        return {j.job_id for j in jobs}  # ask again at the next poll
    return set(out.stdout.split())


def launch(spec: Launch, study: sweep.Study, workdir: str, task: Callable[[str], Any], *,
           retry_failed: bool, remeasure: bool, write_report: bool) -> int:
    """Submit the shards of `study` that have work left, wait for them (unless --no-wait),
    then write the report merging every shard; the exit status."""
    if study.search is not None:
        raise LaunchError(f"--launcher {spec.launcher}: a SEARCH is sequential (each point "
                          f"depends on the previous ones); run it without --launcher")
    with run_lib.locked(workdir, None):  # study.json written once, before any shard starts
        store_lib.Store(workdir).open(study)
    todo = shards_with_work(study, workdir, spec.shards, retry_failed=retry_failed,
                            remeasure=remeasure)
    if todo:
        folder = os.path.join(workdir, spec.launcher)
        jobs = submit(make_executor(spec, folder, study), task, todo, spec.shards)
        print(f"sweep {study.name}: {len(todo)} of {spec.shards} shards submitted "
              f"({spec.launcher}, jobs {', '.join(sorted({j.job_id.split('_')[0] for j in jobs}))}"
              f"); logs in {folder}")
        if not spec.wait:
            print(f"then: jaxdl report {workdir}; re-run this command to finish what is missing")
            return 0
        try:
            failures = wait(jobs, todo)
        except KeyboardInterrupt:
            return _interrupted(spec, jobs, workdir)
        # A shard stopped by SIGTERM (scancel) saves its trial and exits 0: the store says.
        left = shards_with_work(study, workdir, spec.shards, retry_failed=False,
                                remeasure=False)
        failures += [f"shard {i}: trials left to do (stopped before the end)" for i in left
                     if not any(line.startswith(f"shard {i} ") for line in failures)]
    else:
        failures = []
        print(f"sweep {study.name}: every shard of {spec.shards} is complete; nothing submitted")
    _print_counts(study, workdir)
    for line in failures:
        print(f"jaxdl: {line}", file=sys.stderr)
    if write_report:
        print(f"report: {report_lib.write_report([workdir], study=study.path)}")
    if failures:
        print("jaxdl: re-run the same command to finish the missing trials", file=sys.stderr)
    return 1 if failures else 0


def _interrupted(spec: Launch, jobs: Sequence[Any], workdir: str) -> int:
    """Ctrl-C while waiting: local shards are stopped (each saves its running trial, as a
    sweep does on SIGINT); SLURM jobs go on (the cluster runs them whether this command
    waits or not)."""
    if spec.launcher == "local":
        for job in jobs:
            job.cancel()
        print("jaxdl: stopped the local shards; re-run the same command to resume them",
              file=sys.stderr)
        return 130
    print(f"jaxdl: stopped waiting; the SLURM jobs go on (squeue --me). Then: jaxdl report "
          f"{workdir}, or re-run the same command to finish what is missing", file=sys.stderr)
    return 130


def _print_counts(study: sweep.Study, workdir: str) -> None:
    statuses = [(store_lib.Store(workdir).record(t.id) or {}).get("status") for t in study.trials]
    print(f"sweep {study.name}: {statuses.count(store_lib.DONE)} of {len(statuses)} trials "
          f"done, {statuses.count(store_lib.FAILED)} failed, {statuses.count(None)} missing; "
          f"trials in {workdir}/trials")
