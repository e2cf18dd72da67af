"""The `jaxdl sweep` and `jaxdl report` commands (hooked into jaxdl/cli.py).

    jaxdl sweep experiments/quickstart_sweep.py            # every trial, then report.md
    jaxdl sweep experiments/quickstart_sweep.py --shard 0/4 --workdir /shared/qs
    jaxdl sweep experiments/quickstart_sweep.py --launcher local --shards 4  # 4 processes, then report.md
    jaxdl sweep experiments/quickstart_sweep.py --launcher slurm --shards 16 --slurm partition=gpu
    jaxdl sweep experiments/quickstart_sweep.py --config.steps=100  # a variant: runs/quickstart_sweep-steps=100
    jaxdl report runs/quickstart_sweep                     # report.md again; shards merged
    jaxdl report runs/lr3e-3                               # one run: as `jaxdl inspect runs/lr3e-3`
    jaxdl report runs/quickstart_sweep --study experiments/quickstart_sweep.py  # + analyze()

A study file is Python that is executed: only the one the user names on the command
line (`jaxdl sweep STUDY.py`, `jaxdl report DIR --study STUDY.py`). A sweep directory
is data: `jaxdl report DIR` builds its report from the records (and the title and
claim study.json recorded), never running code found in or named by the directory.
"""
from __future__ import annotations

import argparse
import functools
import os
import shlex
import sys
from typing import Any, Callable, Sequence

from jaxdl import config as config_lib
from jaxdl.study import sweep
from jaxdl.training import parallel
from jaxdl.training import workdir as workdir_lib

__all__ = ["SWEEP_HELP", "REPORT_HELP", "add_parsers", "main", "sweep_command", "print_report",
           "print_hint", "resume_command", "run_task", "shard_argv", "run_shard"]

SWEEP_HELP = """\
Run every trial of a study and write its report.

A study is a Python file (see experiments/quickstart_sweep.py) declaring a base
config, sweep axes, seeds, metrics and an analysis. Each trial is an ordinary
jaxdl run in DIR/trials/<id>/ (id: a hash of its axis values and seed); its
record in the store (DIR/trials/<id>/record.json, written last and atomically)
marks it done or failed. Re-running the same command skips committed trials,
resumes interrupted ones from their checkpoints and runs the rest; a failing
trial is recorded with its error and the sweep goes on. SIGTERM or Ctrl-C saves
the running trial and exits 0 with the command that resumes the sweep. A study
that defines measure(ctx) has it run on every finished trial once all have
trained (probes on the final state; see jaxdl/study/measure.py). When the sweep
ends, DIR/report.md is written with the study's analysis (`jaxdl report DIR
--study STUDY.py` writes it again). A damaged DIR/study.json or record.json is
refused before anything runs; nothing in DIR is overwritten to repair it.

A variant of the study: --config.KEY=VALUE (or --config.KEY VALUE) overrides its base
config for every trial, e.g. fewer steps (--config.steps=100), after --quick's own.
The variant has its own fingerprint and default directory (runs/<study>-steps=100),
and DIR/study.json records its overrides: re-running with the same ones continues it,
other ones are refused. Axes and the seed are set per trial, so not overridable.

Shards as processes (jaxdl/study/launch.py, through submitit): --launcher local
--shards N runs N shard processes on this machine (one GPU each where there are
GPUs); --launcher slurm --shards N submits them as a SLURM job array, its options
from the study file's SLURM dict and --slurm KEY=VALUE (e.g. --slurm partition=gpu
--slurm time=120 --slurm gpus_per_task=1), its logs in DIR/slurm/. Both wait for
every shard, then write DIR/report.md merging them (--no-wait: submit and return).
Re-running the same command submits only the shards with trials left to do.

Multi-process trials: under jax.distributed (--coordinator, --num-processes,
--process-id, or JAXDL_COORDINATOR, JAXDL_NUM_PROCESSES, JAXDL_PROCESS_ID, or what
the cluster's environment says) every process trains each trial, one by one, and
process 0 alone writes the store and the report."""

REPORT_HELP = """\
Write report.md and its plots for one or more sweep directories (shards of one
sweep are merged): per metric, mean ± 95% CI over seeds at each axis point, line
plots with CI bands, the published values it checks, and the failed and missing
trials. The directories are read as data only: no code in them is run. The
study's own tables, plots and verdict (its analyze()) come only with --study FILE,
a study file you name and trust (it is executed).

On one run directory of `jaxdl train` (config.json, metrics.jsonl) it does what
`jaxdl inspect` does: the run's summary, and its learning curves in a PNG (in --out,
or the current directory; never in the run directory)."""


def add_parsers(subparsers: Any) -> None:
    """Add `sweep` and `report` to the `jaxdl` command's subparsers."""
    raw = argparse.RawDescriptionHelpFormatter
    s = subparsers.add_parser("sweep", help="run a study's trials and write its report",
                              description=SWEEP_HELP, formatter_class=raw)
    s.add_argument("study", metavar="STUDY.py", help="the study file, e.g. "
                   "experiments/quickstart_sweep.py")
    s.add_argument("--workdir", metavar="DIR",
                   help="the sweep directory (default: runs/<study>, runs/<study>-quick with "
                        "--quick, runs/<study>-KEY=VALUE,... with --config overrides); "
                        "re-running on it continues the sweep")
    s.add_argument("--quick", action="store_true",
                   help="the study's QUICK variant: fewer steps and seeds, a smoke test")
    s.add_argument("--shard", metavar="i/N",
                   help="run only shard i of N (every N-th trial from the i-th): N machines "
                        "split a sweep; `jaxdl report DIR...` merges their directories")
    s.add_argument("--vectorize", choices=("auto", "yes", "no"), default="auto",
                   help="train trials that differ only in seed and optimizer values as one "
                        "vmapped program (yes), one by one with `jaxdl train` (no), or by "
                        "backend (auto: one by one on CPU, vectorized on GPU/TPU; see "
                        "BENCHMARKS.md). Default: auto")
    s.add_argument("--max-group", type=int, default=32, metavar="K",
                   help="at most K trials per vectorized program (default: 32)")
    s.add_argument("--retry-failed", action="store_true",
                   help="run failed trials again (their records are kept in DIR/retried/)")
    s.add_argument("--remeasure", action="store_true",
                   help="run the study's measure() again on every finished trial (after a "
                        "change to it; the replaced records are kept in DIR/remeasured/)")
    s.add_argument("--no-report", action="store_true", help="do not write report.md at the end")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    shards = s.add_argument_group("shards as processes (jaxdl/study/launch.py, submitit)")
    shards.add_argument("--launcher", choices=("local", "slurm"),
                        help="run the --shards N shards as processes on this machine (local: "
                             "one GPU each where there are GPUs) or as a SLURM job array "
                             "(slurm), then write the report merging them")
    shards.add_argument("--shards", type=int, metavar="N",
                        help="how many shards --launcher runs (default: 1)")
    shards.add_argument("--slurm", action="append", metavar="KEY=VALUE",
                        help="a SLURM option, repeated: submitit's (partition, time [minutes], "
                             "gpus_per_task, cpus_per_task, mem, account, qos, ...) or any "
                             "sbatch option (--slurm constraint=a100); over the study file's "
                             "SLURM dict")
    shards.add_argument("--no-wait", action="store_true",
                        help="with --launcher slurm: submit and return, without the report "
                             "(then `jaxdl report DIR`). Default: wait for every shard")
    hosts = s.add_argument_group("multi-process trials (jax.distributed; see BUILD.md)")
    hosts.add_argument("--coordinator", metavar="HOST:PORT",
                       help="address of process 0 (env JAXDL_COORDINATOR)")
    hosts.add_argument("--num-processes", type=int, metavar="N",
                       help="number of processes (env JAXDL_NUM_PROCESSES)")
    hosts.add_argument("--process-id", type=int, metavar="I",
                       help="this process, 0..N-1 (env JAXDL_PROCESS_ID)")
    r = subparsers.add_parser("report", help="write report.md for sweep directories (or a "
                              "run's summary and curves)", description=REPORT_HELP,
                              formatter_class=raw)
    r.add_argument("dirs", nargs="+", metavar="DIR",
                   help="sweep directories (shards merged), or one run directory")
    r.add_argument("--out", metavar="DIR",
                   help="where report.md goes (default: the first DIR); for a run, where its "
                        "curves go (default: the current directory)")
    r.add_argument("--study", metavar="FILE",
                   help="run this study file's analyze() for the verdict, tables and plots "
                        "(Python that is executed: only a file you trust)")


def main(args: argparse.Namespace, argv: Sequence[str], overrides: Sequence[str] = ()) -> int:
    """Run `jaxdl sweep` or `jaxdl report`; returns the exit status."""
    # The study stack (pandas, scipy, matplotlib: ~1.3 s) is imported when its command
    # runs, so that `jaxdl train` starts without it (tests/test_layering.py).
    from jaxdl.study import measure, report, store
    try:
        if args.command == "report":
            print_report(report.write_report(args.dirs, args.out, study=args.study))
            if args.study is None:
                print_hint(args.dirs)
            return 0
        return sweep_command(args, argv, overrides)
    except (sweep.StudyError, config_lib.ConfigError, store.StoreError,
            workdir_lib.WorkdirError, measure.MeasureError) as e:
        print(f"jaxdl: error: {e}", file=sys.stderr)
        return 2


def sweep_command(args: argparse.Namespace, argv: Sequence[str],
                  overrides: Sequence[str] = ()) -> int:
    """`jaxdl sweep`: the study (a variant with --quick and --config overrides) in its
    directory; everything is checked before the first trial trains."""
    from jaxdl.study import report, run, search, store  # late: see main
    spec = None
    if args.launcher or args.shards is not None or args.slurm or args.no_wait:
        from jaxdl.study import launch  # late: submitit too, only when a launcher is asked for
        spec = launch.check_flags(args)  # a bad flag fails before anything is written
    if args.shard:
        sweep.parse_shard(args.shard)
    if spec is None:  # this process trains: join a multi-process job first (before any JAX work)
        try:
            parallel.initialize_distributed(args.coordinator, args.num_processes,
                                            args.process_id)
        except ValueError as e:
            raise sweep.StudyError(str(e)) from None
    # Loaded first: a variant's default directory is named by the values its overrides set.
    study = sweep.load_study(args.study, quick=args.quick, config_overrides=overrides)
    workdir = args.workdir or sweep.default_workdir(args.study, args.quick, study.overrides)
    if os.path.lexists(os.path.join(workdir, store.STUDY)):
        saved = store.check_directory(workdir)  # damaged study.json or record: refused
        store.check_variant(workdir, saved, study)  # before the lock: nothing is touched
    if spec is not None:
        return launch.launch(spec, study, workdir, run_task(args, workdir, overrides),
                             retry_failed=args.retry_failed,
                             remeasure=args.remeasure, write_report=not args.no_report)
    try:
        if study.search is not None:
            if args.shard:
                raise sweep.StudyError("--shard: a SEARCH is sequential (each point depends on "
                                       "the previous ones); run it on one machine")
            summary = search.run_search(study, workdir, vectorize_mode=args.vectorize,
                                        retry_failed=args.retry_failed,
                                        progress=not args.no_progress)
        else:
            summary = run.run_study(study, workdir, vectorize_mode=args.vectorize,
                                    shard=args.shard, max_group=args.max_group,
                                    retry_failed=args.retry_failed,
                                    remeasure=args.remeasure, progress=not args.no_progress)
    except run.SweepInterrupted as e:
        print(f"jaxdl: {e}; resume with: {resume_command(argv, workdir)}", file=sys.stderr)
        return 0
    if not parallel.is_primary():
        return 0  # process 0 reports
    mode = "vectorized" if summary.vectorized else "one by one"
    measured = f", {summary.measured} measured now" if getattr(summary, "measured", 0) else ""
    print(f"sweep {study.name}: {summary.done} of {summary.trials} trials done, "
          f"{summary.failed} failed ({summary.ran} run now, {mode}{measured}, "
          f"{summary.wall_time_s:.0f} s); trials in {workdir}/trials")
    if not args.no_report:
        print_report(report.write_report([workdir], study=study.path))
    return 0


def run_task(args: argparse.Namespace, workdir: str, overrides: Sequence[str]
             ) -> Callable[[str], str]:
    """What each task of a launch runs, given its shard "i/N": a picklable `run_shard`."""
    return functools.partial(run_shard, tuple(shard_argv(args, workdir)), tuple(overrides))


def shard_argv(args: argparse.Namespace, workdir: str) -> list[str]:
    """The arguments of `jaxdl sweep` that every shard of a launch gets (paths absolute:
    a SLURM task may start elsewhere), less the launcher's own."""
    argv = [os.path.abspath(args.study), "--workdir", os.path.abspath(workdir),
            "--vectorize", args.vectorize, "--max-group", str(args.max_group),
            "--no-report", "--no-progress"]
    flags = {"--quick": args.quick, "--retry-failed": args.retry_failed,
             "--remeasure": args.remeasure}
    return argv + [flag for flag, given in flags.items() if given]


def run_shard(argv: Sequence[str], overrides: Sequence[str], shard: str) -> str:
    """One task of a launch (jaxdl/study/launch.py), in its own process: `jaxdl sweep ARGV
    --shard SHARD`; raises when it fails, so that submitit marks the job failed."""
    p = argparse.ArgumentParser(prog="jaxdl")
    add_parsers(p.add_subparsers(dest="command", required=True))
    argv = ["sweep", *argv, "--shard", shard]
    status = main(p.parse_args(argv), argv[1:], overrides)
    if status:
        raise RuntimeError(f"jaxdl sweep --shard {shard} exited with status {status}")
    return f"shard {shard}: done"


def print_report(path: str) -> None:
    """Where the report is, then its verdict: the study's answer without opening a file."""
    from jaxdl.study import report  # late: see main
    print(f"report: {path}")
    for note in report.read_notes(path):
        print(f"note: {note}")
    verdict = report.read_verdict(path)
    if verdict:
        print(f"verdict: {verdict}")


def print_hint(dirs: Sequence[str]) -> None:
    """For a study whose analyze() was not run: the command that runs it."""
    from jaxdl.study import store  # late: see main
    info = store.read_study(dirs[0])
    if info.get("analysis"):
        recorded = info.get("study") or f"{info['name']}.py"
        recorded = recorded if recorded.isprintable() else ascii(recorded)
        print(f"note: the study's analyze() was not run (code runs only from a file you "
              f"name): jaxdl report {' '.join(shlex.quote(d) for d in dirs)} --study FILE  "
              f"(the sweep ran {recorded})")


def resume_command(argv: Sequence[str], workdir: str) -> str:
    """The command that continues an interrupted run or sweep: the same one, with its
    workdir. (Here, below jaxdl/cli.py, which uses it for `jaxdl train`.)"""
    argv = list(argv)
    if not any(a == "--workdir" or a.startswith("--workdir=") for a in argv):
        argv += ["--workdir", workdir]
    return " ".join(["jaxdl", *(shlex.quote(a) for a in argv)])
