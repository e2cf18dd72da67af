"""The `jaxdl` command line.

    jaxdl train                                   # the MNIST-1D CNN recipe: test accuracy ~0.94
    jaxdl train --config experiments/mnist1d_baselines.py:mlp
    jaxdl train --config.optimizer.lr=0.003 --config.steps=2000 --workdir runs/lr3e-3
    jaxdl inspect runs/lr3e-3                     # its summary; curves in ./lr3e-3-curves.png
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import threading
from typing import Any, Sequence

from jaxdl import config as config_lib
from jaxdl import saved as saved_lib
from jaxdl.probes import overfit as overfit_lib
from jaxdl.study import cli as study_cli  # `jaxdl sweep | report`
from jaxdl.study import sweep as sweep_lib
from jaxdl.training import loop, parallel, resume
from jaxdl.training import workdir as workdir_lib
from jaxdl.training.checkpoint import disk_full

__all__ = ["DESCRIPTION", "TRAIN_HELP", "parser", "OVERFIT_HELP", "INSPECT_HELP", "BENCH_HELP",
           "add_option", "overfit", "inspect", "show_run", "is_run", "report_run",
           "inspect_summary", "plot_curves", "bench", "run_config",
           "split_overrides", "TAKE_OVERRIDES", "main"]

DESCRIPTION = """\
jaxdl: reproducible JAX experiments on how deep learning works.

Every run is described by one config (an ml_collections ConfigDict); every
run with the same config gives the same bits on the same backend."""

TRAIN_HELP = """\
Train one run and print its final test accuracy.

With no --config it trains the default: the published MNIST-1D CNN recipe
(3 stride-2 conv layers of 25 channels + linear head, Adam 1e-2, batch 100,
6000 steps), which reaches test accuracy 0.935 (published: 0.94) in about 13 s
on 2 idle CPU cores.

The workdir receives config.json (first), metrics.jsonl (one JSON object per
line: step, split, metrics; the evaluations and, every log_every steps, split
train_step), TensorBoard event files, orbax checkpoints of the whole train state
(each with a checksum), history.jsonl and, last, result.json. SIGTERM or Ctrl-C
saves a checkpoint and exits 0 with the command that resumes the run; a kill at
any moment leaves a run that the same command resumes. One process at a time
trains in a workdir (a second is refused, naming the first); resuming on another
device or process count changes the bits, so it needs --intervene."""


def _flatten(node: Any, prefix: str = "config") -> list[str]:
    lines = []
    for key, value in node.items():
        if hasattr(value, "items"):
            lines += _flatten(value, f"{prefix}.{key}")
        else:
            lines.append(f"  --{prefix}.{key}={value!r}")
    return lines


def _train_epilog() -> str:
    return ("config keys and their defaults (override any with --config.KEY=VALUE or "
            "--config.KEY VALUE; "
            "setting config.model.name or config.data.name resets that section to the "
            "new entry's defaults; models: mlp cnn1d cnn2d gru resnet vit; data: mnist1d "
            "sphere teacher digits tfds):\n" + "\n".join(_flatten(config_lib.default())))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jaxdl", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    t = sub.add_parser("train", help="train one run (default: the MNIST-1D CNN recipe)",
                       description=TRAIN_HELP, epilog=_train_epilog(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--config", metavar="FILE[:NAME]",
                   help="a Python file defining get_config(name) -> ConfigDict; NAME picks "
                        "one of its configs (e.g. experiments/mnist1d_baselines.py:mlp). "
                        "Default: the config of the run in --workdir if it holds one "
                        "(importing the models and data sources it registered), else the "
                        "built-in MNIST-1D CNN recipe")
    t.add_argument("--workdir", metavar="DIR",
                   help="where the run writes its files (default: a fresh runs/DATE-TIME). "
                        "Re-running the same command on the same workdir (or `jaxdl train "
                        "--workdir DIR` alone) resumes from its "
                        "newest complete checkpoint, with the same bits as never stopping; "
                        "on a finished run it prints the stored result")
    t.add_argument("--intervene", action="store_true",
                   help="continue the run in --workdir under a changed config (new optimizer "
                        "or lr, activation, more steps, ...): params whose path and shape "
                        "match are kept, new parts initialized, the change is recorded in "
                        "history.jsonl. Without it a changed config is refused")
    t.add_argument("--restart", action="store_true",
                   help="when no checkpoint in --workdir can be restored, start from scratch "
                        "(the unusable checkpoints are moved aside, not deleted)")
    add_option(t, "--init-from", metavar="RUN_DIR",
               help="warm start: params (not optimizer state) from the newest checkpoint "
                    "of another run; shapes must match key by key")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    hosts = t.add_argument_group(
        "multi-process runs (jax.distributed; automatic on TPU pod slices and in "
        "SLURM/OpenMPI jobs of several tasks; see BUILD.md)")
    hosts.add_argument("--coordinator", metavar="HOST:PORT",
                       help="address of process 0; every process gets the same command "
                            "(env JAXDL_COORDINATOR)")
    add_option(hosts, "--num-processes", type=int, metavar="N",
               help="number of processes (env JAXDL_NUM_PROCESSES)")
    add_option(hosts, "--process-id", type=int, metavar="I",
               help="this process, 0..N-1 (env JAXDL_PROCESS_ID)")
    study_cli.add_parsers(sub)
    o = sub.add_parser("overfit", help="can the model fit one small batch? (the first check)",
                       description=OVERFIT_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    o.add_argument("--config", metavar="FILE[:NAME]", help="as for `jaxdl train`")
    o.add_argument("--examples", type=int, default=8, help="batch size to fit (default 8)")
    o.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    o.add_argument("--loss-tol", type=float, default=0.05,
                   help="pass when the batch's mean loss ends at or below this (default 0.05)")
    i = sub.add_parser("inspect", help="summarize a run directory and plot its learning curves",
                       description=INSPECT_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    i.add_argument("dir", metavar="DIR", help="a run directory (finished or interrupted)")
    i.add_argument("--out", metavar="FILE",
                   help="where the learning-curve PNG goes (default: ./<DIR's name>-curves.png; "
                        "never into DIR)")
    b = sub.add_parser("bench", help="benchmarks against PyTorch and flax -> BENCHMARKS.md",
                       description=BENCH_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
                       add_help=False)
    b.add_argument("bench_args", nargs=argparse.REMAINDER,
                   help="passed to `python -m bench` (try: jaxdl bench --help)")
    return p


def add_option(parser: Any, flag: str, **kwargs: Any) -> argparse.Action:
    """Add the kebab-case `flag` (the one spelling --help shows) and, when it has a dash,
    its snake_case spelling of before (`--init_from`) as a hidden option of the same dest:
    command lines and scripts written before the flags were renamed keep working."""
    action = parser.add_argument(flag, **kwargs)
    old = "--" + flag[2:].replace("-", "_")
    if old != flag:
        parser.add_argument(old, **{**kwargs, "dest": action.dest, "help": argparse.SUPPRESS,
                                    "default": argparse.SUPPRESS})
    return action


OVERFIT_HELP = """Train the config's model on its first N training examples only and check that it
fits them: loss <= --loss-tol and (classification) every example right. Any
network has far more parameters than 8 examples have constraints, so failing
means something between the data and the update is broken (labels, loss sign,
a frozen layer, a learning rate that does nothing). Exit 0 on pass, 1 on fail.

    jaxdl overfit                                         # the default CNN: passes
    jaxdl overfit --config.optimizer.lr=1e-9              # fails: the lr does nothing"""


INSPECT_HELP = """Print a summary of a run directory and write its learning curves (every metric of
metrics.jsonl against the step, one line per split) to a PNG. The directory is only
read: nothing is written into it, its lock is not taken (a run still training can be
inspected), and no code is run but the import of the user components its config.json
records. From Python: jaxdl.load_run(DIR).

    $ jaxdl inspect runs/cnn
    run runs/cnn: model cnn1d, data mnist1d, objective supervised
    steps: 6000 of 6000, finished
    test: accuracy 0.9350, f1_macro 0.9347, loss 0.4307
    history: start at 0, finish at 6000
    checkpoints: 4000, 5000, 6000
    curves: cnn-curves.png

An interrupted run says `steps: 2300 of 6000, interrupted at step 2300` instead.
Exit 0, or 2 with one line when DIR holds no readable run. `jaxdl report DIR` on a
run does the same (its --out: a directory for the PNG)."""


BENCH_HELP = """Run the benchmarks of a source checkout (bench/ beside jaxdl/): `python -m bench`
with the same arguments, from the checkout's root; writes BENCHMARKS.md (~20 min
on 2 idle CPU cores; --only SECTIONS re-measures some; --quick is a < 5 min smoke run
into runs/bench-quick/). PyTorch
comes from the `bench` extra: pip install -e '.[bench]' (or `make bench`)."""


def overfit(args: argparse.Namespace, overrides: Sequence[str]) -> int:
    """`jaxdl overfit`: probes/overfit.py on the config; prints the loss curve's ends."""
    try:
        config = config_lib.load(args.config, overrides)
        result = overfit_lib.overfit_batch(config, args.examples, args.steps, args.loss_tol)
    except (config_lib.ConfigError, ValueError) as e:
        print(f"jaxdl: error: {e}", file=sys.stderr)
        return 2
    accuracy = "" if result.accuracy != result.accuracy else f", accuracy {result.accuracy:.3f}"
    print(f"{'PASS' if result.passed else 'FAIL'}: {args.examples} examples, {args.steps} steps: "
          f"loss {result.losses[0]:.4f} -> {result.loss:.4f}{accuracy} (tolerance {args.loss_tol})")
    return 0 if result.passed else 1


def inspect(args: argparse.Namespace) -> int:
    """`jaxdl inspect DIR`: the summary on stdout, the curves into --out."""
    return show_run(args.dir, args.out)


def show_run(directory: str, out: str | None = None, out_dir: str | None = None) -> int:
    """`jaxdl inspect DIR` and `jaxdl report RUN_DIR`: the run's summary on stdout, its
    curves into the file `out` (default: <out_dir or .>/<run's name>-curves.png), never
    into the run directory."""
    from jaxdl.training import opened  # late: pandas (~0.3 s), which `jaxdl train` never needs
    try:
        if os.path.isfile(os.path.join(directory, sweep_lib.STUDY_JSON)):
            raise workdir_lib.WorkdirError(f"{directory}: a sweep directory (it holds "
                                           f"{sweep_lib.STUDY_JSON}), not a run; its report: "
                                           f"jaxdl report {shlex.quote(directory)}")
        run = opened.load_run(directory)
        lines = inspect_summary(run)
        out = out or os.path.join(out_dir or "", f"{run.name}-curves.png")
        if _inside(out, directory):
            raise workdir_lib.WorkdirError(f"--out {out}: inside the run directory, which "
                                           f"inspect never writes into; choose another file")
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
        plot_curves(run.metrics, out, title=run.directory)
    except (config_lib.ConfigError, workdir_lib.WorkdirError) as e:
        print(f"jaxdl: error: {e}", file=sys.stderr)
        return 2
    print("\n".join([*lines, f"curves: {out}"]))
    return 0


def is_run(directory: str) -> bool:
    """Whether `directory` holds a run of `jaxdl train` (its config.json) rather than a sweep."""
    return os.path.isfile(os.path.join(directory, workdir_lib.CONFIG))


def report_run(args: argparse.Namespace) -> int:
    """`jaxdl report RUN_DIR` on one run (no sweep): what `jaxdl inspect` does, with the
    curves into --out (a directory, as for a sweep's report) or the current directory."""
    (directory,) = args.dirs
    if args.study is not None:
        print(f"jaxdl: error: --study {args.study}: {directory} is a single run, not a sweep "
              f"directory; a study's analyze() reports sweeps", file=sys.stderr)
        return 2
    return show_run(directory, out_dir=args.out)


def inspect_summary(run: Any) -> list[str]:
    """The lines `jaxdl inspect` prints about an opened run (files only: nothing built)."""
    config, result, steps = run.config, run.result, run.steps
    done = result["step"] if result else max(steps, default=0)
    status = "finished" if result else f"interrupted at step {done}"
    lines = [f"run {run.directory}: model {config.model.name}, data {config.data.name}, "
             f"objective {config.objective.name}",
             f"steps: {done} of {config.steps}, {status}"]
    if result:
        lines.append("test: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(result["test"].items())))
    events = [f"{row.get('event')} at {row.get('step')}" for row in run.history]
    lines.append(f"history: {', '.join(events) or 'none'}")
    lines.append(f"checkpoints: {', '.join(map(str, steps)) or 'none'}")
    return lines


def plot_curves(metrics: Any, out: str, title: str) -> None:
    """One panel per metric of `metrics` (a load_run DataFrame), a line per split."""
    # late (~0.4 s, which `jaxdl train` never needs); no pyplot: no GUI backend, no global state
    from matplotlib.figure import Figure
    names = [c for c in metrics.columns if c not in ("step", "split")]
    figure = Figure(figsize=(4 * max(len(names), 1), 3.2), layout="constrained")
    figure.suptitle(title)
    for axes, name in zip(figure.subplots(1, max(len(names), 1), squeeze=False)[0], names):
        for split, rows in metrics.groupby("split"):
            axes.plot(rows["step"], rows[name], marker=".", label=split)
        axes.set(xlabel="step", title=name)
        axes.legend()
    figure.savefig(out, metadata={"Software": None})  # no metadata: same curves, same bytes


def _inside(path: str, directory: str) -> bool:
    """Whether `path` lies in `directory` (links resolved)."""
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return os.path.commonpath([path, directory]) == directory


def bench(args: Sequence[str]) -> int:
    """`python -m bench ARGS` in the checkout that holds this jaxdl."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.isfile(os.path.join(root, "bench", "__main__.py")):
        print(f"jaxdl: error: jaxdl bench needs a source checkout (no bench/ in {root}); "
              f"clone the repository and install it with pip install -e .", file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", "bench", *args], cwd=root)


def run_config(spec: str | None, workdir: str | None, overrides: Sequence[str]) -> Any:
    """The config to train: `spec`'s (a --config file, or the default) with `overrides`;
    without a --config, the one of the run already in `workdir`, so that `jaxdl train
    --workdir RUN` reopens RUN as it was made (its user components imported again)."""
    saved = (workdir_lib.RunFiles(workdir).saved_config()
             if spec is None and workdir and os.path.isdir(workdir) else None)
    return saved_lib.reopen(saved, overrides) if saved else config_lib.load(spec, overrides)


def split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate the config overrides from the other arguments: `--config.KEY=VALUE`, or
    `--config.KEY VALUE` (returned as `--config.KEY=VALUE`). An argument that starts with
    `--` is the next option, never a value, so `--config.steps --workdir w` is a ConfigError
    naming the key; `-0.1` is a value (which validation then judges, like `=-0.1`)."""
    rest, overrides, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--config.") or "=" in arg:
            (overrides if arg.startswith("--config.") else rest).append(arg)
            i += 1
            continue
        if i + 1 == len(argv) or argv[i + 1].startswith("--"):
            raise config_lib.ConfigError(f"{arg[2:]}: no value; give {arg}=VALUE or {arg} VALUE")
        overrides.append(f"{arg}={argv[i + 1]}")
        i += 2
    return rest, overrides


def main(argv: Sequence[str] | None = None) -> int:
    """`jaxdl ...`: the exit status. Failures of the machine rather than of the run (a full
    disk, a file that cannot be written, a second Ctrl-C) end in one line, no traceback;
    what was already written (checkpoints, results) stays as it was."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _quiet_closed_event_loops()
    try:
        return _main(argv)
    except KeyboardInterrupt:  # a second SIGTERM/SIGINT: stop now, without saving
        print("jaxdl: stopped at once by a second signal, without saving; the newest "
              "complete checkpoint is kept: re-run the same command to resume from it",
              file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - only the machine's failures are caught here
        if not isinstance(e, OSError) and not disk_full(e):
            raise
        reason = "no space left on device" if disk_full(e) else (e.strerror or str(e))
        where = getattr(e, "filename", None) or _workdir_of(argv)
        print(f"jaxdl: error: {where + ': ' if where else ''}{reason}; nothing already "
              f"written was removed — fix this and re-run the same command to continue",
              file=sys.stderr)
        # Writer threads (TensorBoard's, orbax's) would each print the same error again at
        # exit: the line above is the whole report.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


def _quiet_closed_event_loops() -> None:
    """tensorstore's callbacks for writes or reads that failed (a full disk, a damaged
    checkpoint) can land after orbax closed its asyncio loop; each then prints a
    'RuntimeError: Event loop is closed' traceback straight to sys.stderr (not through
    sys.excepthook), although the error itself reached the main thread and is reported in
    one line. Those tracebacks, and only those, are dropped from this process's stderr."""
    if not isinstance(sys.stderr, _WithoutClosedLoopTracebacks):
        sys.stderr = _WithoutClosedLoopTracebacks(sys.stderr)


class _WithoutClosedLoopTracebacks:
    """sys.stderr, less the traceback blocks that end in 'RuntimeError: Event loop is
    closed'. Other text passes through; other tracebacks pass once their last line is in."""

    HEADER = "Traceback (most recent call last):"

    def __init__(self, stream: Any):
        self._stream, self._local = stream, threading.local()  # one block per thread

    def write(self, text: str) -> int:
        block = getattr(self._local, "block", None)
        if block is None and not text.startswith(self.HEADER):
            return self._stream.write(text)
        block = (block or "") + text
        lines = block.split("\n")
        self._local.block = block
        if block.endswith("\n") and len(lines) > 2 and not lines[-2].startswith(" "):
            self._local.block = None  # the exception's own line: the block is complete
            if lines[-2] != "RuntimeError: Event loop is closed":
                self._stream.write(block)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, ...
        return getattr(self._stream, name)


def _workdir_of(argv: Sequence[str]) -> str | None:
    """The --workdir of a command line, if it names one."""
    for i, arg in enumerate(argv):
        if arg == "--workdir" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--workdir="):
            return arg.split("=", 1)[1]
    return None


# The commands that build configs; the others read files, and refuse an override.
TAKE_OVERRIDES = ("train", "overfit", "sweep")


def _main(argv: list[str]) -> int:
    if argv[:1] == ["bench"]:  # everything after `bench` belongs to python -m bench
        return bench(argv[1:])
    try:
        args_list, overrides = split_overrides(argv)
    except config_lib.ConfigError as e:
        print(f"jaxdl: error: {e}", file=sys.stderr)
        return 2
    args = parser().parse_args(args_list)
    if overrides and args.command not in TAKE_OVERRIDES:
        print(f"jaxdl: error: {overrides[0]}: `jaxdl {args.command}` takes no config "
              f"overrides (only {', '.join(TAKE_OVERRIDES)} do)", file=sys.stderr)
        return 2
    if args.command == "report" and any(is_run(d) for d in args.dirs):
        if len(args.dirs) > 1:
            run = next(d for d in args.dirs if is_run(d))
            print(f"jaxdl: error: {run}: a single run of jaxdl train, not a sweep directory; "
                  f"report it alone (jaxdl report {shlex.quote(run)})", file=sys.stderr)
            return 2
        return report_run(args)
    if args.command in ("sweep", "report"):
        return study_cli.main(args, argv, overrides)
    if args.command == "overfit":
        return overfit(args, overrides)
    if args.command == "inspect":
        return inspect(args)
    try:
        parallel.initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    except ValueError as e:
        print(f"jaxdl: error: {e}", file=sys.stderr)
        return 2
    try:
        config = run_config(args.config, args.workdir, overrides)  # validated here, once
        result = loop.train(loop.build(config, validated=True), args.workdir,
                            progress=not args.no_progress,
                            restart=args.restart, intervene=args.intervene,
                            init_from=args.init_from)
    except loop.Interrupted as e:
        if parallel.is_primary():
            command = study_cli.resume_command(argv, e.workdir)
            print(f"jaxdl: {e}; resume with: {command}", file=sys.stderr)
        return 0
    except (config_lib.ConfigError, workdir_lib.WorkdirError, resume.ParamsMismatch) as e:
        print(f"jaxdl: error: {e}", file=sys.stderr)
        return 2
    except loop.TrainingDiverged as e:
        print(f"jaxdl: error: {e}", file=sys.stderr)
        return 1
    if not parallel.is_primary():
        return 0
    test = result["test"]
    summary = f"test accuracy {test['accuracy']:.4f}, " if "accuracy" in test else ""
    if "knn_accuracy" in test:  # self-supervised: the representation's kNN accuracy
        summary += f"test kNN accuracy {test['knn_accuracy']:.4f}, "
    if "online_probe_accuracy" in test:  # objective.online_probe: the online linear probe's
        summary += f"test online-probe accuracy {test['online_probe_accuracy']:.4f}, "
    print(f"{summary}test loss {test['loss']:.4f} after {result['step']} steps "
          f"({result['wall_time_s']:.1f} s); results in {result['workdir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
