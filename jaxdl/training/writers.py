"""Where a run's scalars go: one `Writer` interface, one writer per destination.

    JsonlWriter        metrics.jsonl   always: the record, rewritten bit for bit on resume
    TensorBoardWriter  events.out.*    always; also histograms (config.histograms)
    WandbWriter        a W&B run       config.trackers.use=wandb   (extra: wandb)
    MlflowWriter       an MLflow run   config.trackers.use=mlflow  (extra: mlflow)

`workdir.MetricsLog` holds a list of them and hands each row to all: `scalars(step, split,
values)`, `histograms(step, values)` (a no-op but for TensorBoard), `close(status)`. A
writer whose `measured` is False (metrics.jsonl) never gets the measured values (wall-clock
ones such as `steps_per_s`), so its rows stay a function of the config and the step.

A tracker (W&B, MLflow; `open_trackers`) gets the run's config at its start — W&B's run
config, MLflow's params (flattened: `model.name`, `optimizer.lr`) — and each scalar as
`<split>/<metric>` at its step, as TensorBoard does; the run is named by its workdir
(`runs/cnn` -> `cnn`; a sweep's trial: its id), and ends as finished, failed or killed
(interrupted, resumable). Its `state` (the W&B run id, the MLflow run id and store) is
kept in the workdir's trackers.json, so a resumed run continues the same tracker run.
On opening, a tracker is handed the rows metrics.jsonl already holds (`MetricsLog`):
it logs those it lacks — all for a tracker chosen only when the run resumed — and,
like the steps the resumed run recomputes, skips the steps it has (their values are the
same: a resumed run recomputes them bit for bit): W&B those before the resumed run's
`starting_step`, MLflow those up to each metric's last logged step. W&B files go to
`<workdir>/wandb/` ($WANDB_DIR if set). In W&B's offline mode each attempt is an offline
directory of the one run id, the last holding the whole history (but the measured
values of the steps before it resumed): `wandb sync` it.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import ml_collections
import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from jaxdl import trackers as trackers_lib
from jaxdl.schema import ConfigError
from jaxdl.training import resume

__all__ = ["FINISHED", "FAILED", "KILLED", "Writer", "JsonlWriter", "TensorBoardWriter",
           "WandbWriter", "MlflowWriter", "TRACKERS", "open_trackers", "end_status",
           "EventFile", "scalar_summary", "histogram_summary"]

# How a run ended (`close`): killed is an interrupted run, saved and resumable.
FINISHED = "finished"
FAILED = "failed"
KILLED = "killed"


class Writer:
    """One destination of a run's scalars. `state`: what a tracker needs to continue its
    run when the run resumes (kept in trackers.json); {} for the files of the workdir."""
    name = ""
    measured = True  # also gets the measured (wall-clock) values
    state: dict[str, Any] = {}

    def scalars(self, step: int, split: str, values: dict[str, float]) -> None:
        raise NotImplementedError

    def histograms(self, step: int, values: dict[str, Any]) -> None:
        """Histograms (tag -> array of values) at `step`; only TensorBoard keeps them."""

    def close(self, status: str = FINISHED) -> None:
        """Flush and close; `status` is how the run ended (FINISHED, FAILED, KILLED)."""


class JsonlWriter(Writer):
    """metrics.jsonl: one JSON object per line, {"step", "split", <metric>: value, ...}."""
    measured = False

    def __init__(self, path: str):
        self._file = open(path, "a")

    def scalars(self, step: int, split: str, values: dict[str, float]) -> None:
        self._file.write(json.dumps({"step": step, "split": split, **values}) + "\n")
        self._file.flush()

    def close(self, status: str = FINISHED) -> None:
        self._file.close()


HISTOGRAM_BINS = 30  # equal-width buckets per histogram; TensorBoard re-bins what it draws


def scalar_summary(tag: str, value: float) -> summary_pb2.Summary:
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag,
                                                                simple_value=float(value))])


def histogram_summary(tag: str, values: Any) -> summary_pb2.Summary:
    """`values` as TensorBoard's classic histogram: their count, min, max, sum and sum of
    squares (exact), and HISTOGRAM_BINS equal-width buckets, each named by its right edge."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    counts, edges = np.histogram(x, bins=HISTOGRAM_BINS)
    histo = summary_pb2.HistogramProto(
        min=x.min(), max=x.max(), num=x.size, sum=x.sum(), sum_squares=float(x @ x),
        bucket_limit=edges[1:].tolist(), bucket=counts.tolist())
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, histo=histo)])


class EventFile:
    """One new TensorBoard event file in `logdir`, written by tensorboard's own writer (not
    tensorboardX's, which imports torch whenever torch is installed: 1.86 s per process in
    docs/benchmarks_history.md).
    `resumed_from`: the checkpoint step a resumed run starts from; TensorBoard then hides
    what earlier files logged after it (a killed attempt's steps, which this one logs again)."""

    def __init__(self, logdir: str, flush_secs: int = 30, resumed_from: int = 0):
        self._writer = EventFileWriter(logdir, flush_secs=flush_secs)
        if resumed_from:
            # A restart hides every earlier event at its step and later: the step after the
            # checkpoint, so that the checkpoint's own step (logged once) stays shown.
            restart = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
            self._writer.add_event(event_pb2.Event(step=resumed_from + 1, wall_time=time.time(),
                                                   session_log=restart))

    def add(self, summary: summary_pb2.Summary, step: int = 0) -> None:
        self._writer.add_event(event_pb2.Event(summary=summary, step=step,
                                               wall_time=time.time()))

    def close(self) -> None:
        self._writer.close()


class TensorBoardWriter(Writer):
    """TensorBoard event files in `logdir`: scalars `<split>/<metric>`, and histograms.
    `resumed_from`: TensorBoard drops the events a killed earlier attempt logged after it."""

    def __init__(self, logdir: str, resumed_from: int = 0):
        self._file = EventFile(logdir, resumed_from=resumed_from)

    def scalars(self, step: int, split: str, values: dict[str, float]) -> None:
        for name, value in values.items():
            self._file.add(scalar_summary(f"{split}/{name}", value), step)

    def histograms(self, step: int, values: dict[str, Any]) -> None:
        for tag, array in values.items():
            self._file.add(histogram_summary(tag, array), step)

    def close(self, status: str = FINISHED) -> None:
        self._file.close()


class WandbWriter(Writer):
    """A Weights & Biases run (`config.trackers.wandb`: project, entity, mode). Several
    may be open in one process (a vectorized sweep's trials): each is its own W&B run."""
    name = "wandb"

    def __init__(self, options: ml_collections.ConfigDict, config: dict[str, Any],
                 workdir: str, name: str, previous: dict[str, Any]):
        import wandb  # the optional extra: only a run that chose W&B imports it
        resumed = previous.get("id")
        self._run = wandb.init(
            project=options.project or os.environ.get("WANDB_PROJECT") or "jaxdl",
            entity=options.entity or None, mode=options.mode or None, name=name,
            dir=None if os.environ.get("WANDB_DIR") else workdir, reinit="create_new",
            id=resumed, resume="allow" if resumed else None,
            config=None if resumed else config)
        if resumed:  # the config may have changed in free keys (chunk_size, trackers...)
            self._run.config.update(config, allow_val_change=True)
        self.state = {"id": self._run.id, "project": self._run.project}
        # An online run resumed: steps before this one are on the server already.
        self._first = int(getattr(self._run, "starting_step", 0) or 0)

    def scalars(self, step: int, split: str, values: dict[str, float]) -> None:
        if step >= self._first:
            self._run.log({f"{split}/{k}": v for k, v in values.items()}, step=step)

    def close(self, status: str = FINISHED) -> None:
        self._run.finish(exit_code=0 if status == FINISHED else 1)


class MlflowWriter(Writer):
    """An MLflow run (`config.trackers.mlflow`: tracking_uri, experiment) through
    `MlflowClient`, so that several runs may be open in one process. Metrics are sent in
    batches, at most every FLUSH_SECONDS (a tracking server's round trip per logged row
    would slow a small model's training), and at `close`."""
    name = "mlflow"
    FLUSH_SECONDS = 5.0
    STATUSES = {FINISHED: "FINISHED", FAILED: "FAILED", KILLED: "KILLED"}

    def __init__(self, options: ml_collections.ConfigDict, config: dict[str, Any],
                 workdir: str, name: str, previous: dict[str, Any]):
        # the optional extra, imported only by a run that chose MLflow
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient
        self._metric, self._param = Metric, Param
        self._client = MlflowClient(tracking_uri=options.tracking_uri or None)
        uri = self._client.tracking_uri
        run = self._reopened(previous) if previous.get("tracking_uri") == uri else None
        if run is None:
            run = self._client.create_run(self._experiment(options), run_name=name,
                                          tags={"jaxdl.workdir": os.path.abspath(workdir)})
        self._id = run.info.run_id
        self.state = {"run_id": self._id, "tracking_uri": uri,
                      "experiment_id": run.info.experiment_id}
        self._logged = self._logged_steps(run)
        self._params(config, run.data.params)
        self._pending: list[Any] = []
        self._flushed, self._warned = time.monotonic(), False

    def _experiment(self, options: ml_collections.ConfigDict) -> str:
        name = options.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "jaxdl"
        found = self._client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self._client.create_experiment(name)
        except Exception:  # noqa: BLE001 - created meanwhile by another process (a shard)
            found = self._client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def _reopened(self, previous: dict[str, Any]) -> Any:
        """The run an earlier attempt started, running again; None if the store lost it."""
        try:
            run = self._client.get_run(previous["run_id"])
        except Exception:  # noqa: BLE001 - MlflowException: no such run in this store
            return None
        if run.info.lifecycle_stage != "active":
            return None
        self._client.update_run(run.info.run_id, status="RUNNING")
        return run

    def _logged_steps(self, run: Any) -> dict[str, int]:
        """{metric: the last step logged} of a reopened run: those are not sent again."""
        return {key: max(m.step for m in self._client.get_metric_history(run.info.run_id, key))
                for key in run.data.metrics}

    def _params(self, config: dict[str, Any], logged: dict[str, str]) -> None:
        """The config, flattened, as params. A param cannot change in MLflow: a resumed
        run adds the keys it lacks (config.json and history.jsonl hold the changes)."""
        params = [self._param(k, str(v)[:6000]) for k, v in resume.flatten_config(config).items()
                  if k not in logged]  # 6000: MLflow's longest param value
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self._client.log_batch(self._id, params=params[i:i + 100])

    def scalars(self, step: int, split: str, values: dict[str, float]) -> None:
        now = int(time.time() * 1000)
        self._pending += [self._metric(f"{split}/{k}", v, now, step) for k, v in values.items()
                          if step > self._logged.get(f"{split}/{k}", -1)]
        if time.monotonic() - self._flushed >= self.FLUSH_SECONDS:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending, self._flushed = self._pending, [], time.monotonic()
        try:
            for i in range(0, len(pending), 1000):  # MLflow's batch limit
                self._client.log_batch(self._id, metrics=pending[i:i + 1000])
        except Exception as e:  # noqa: BLE001 - a tracker's failure never stops the run
            if not self._warned:
                print(f"jaxdl: warning: MLflow: could not log metrics ({_first_line(e)}); "
                      f"metrics.jsonl holds them", file=sys.stderr)
            self._warned = True

    def close(self, status: str = FINISHED) -> None:
        self._flush()
        self._client.set_terminated(self._id, self.STATUSES[status])


TRACKERS: dict[str, type[Writer]] = {"wandb": WandbWriter, "mlflow": MlflowWriter}  # trackers.NAMES


def open_trackers(section: ml_collections.ConfigDict, config: dict[str, Any], workdir: str,
                  name: str, previous: dict[str, dict]) -> list[Writer]:
    """A writer for each tracker `section.use` names (config.trackers), continuing the
    tracker runs `previous` (trackers.json) holds. A tracker that cannot start is one
    ConfigError line naming it (the ones already started end as failed)."""
    opened: list[Writer] = []
    for tracker in trackers_lib.chosen(section):
        try:
            opened.append(TRACKERS[tracker](section[tracker], config, workdir, name,
                                            previous.get(tracker) or {}))
        except Exception as e:  # noqa: BLE001 - the tracker's own errors are of any kind
            for writer in opened:
                writer.close(FAILED)
            raise ConfigError(f"config.trackers.use: {tracker!r} could not start its run "
                              f"({type(e).__name__}: {_first_line(e)})") from e
    return opened


def end_status(error: BaseException | None, interrupted: tuple[type, ...] = ()) -> str:
    """How a run ended, from the exception that ended it: none (FINISHED), a second signal
    or one of `interrupted` (KILLED: it saved and can resume), any other (FAILED)."""
    if error is None:
        return FINISHED
    return KILLED if isinstance(error, (KeyboardInterrupt, *interrupted)) else FAILED


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0][:200]
