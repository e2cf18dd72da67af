"""The streamed input (`jaxdl.data.stream`, config.data.placement) keeps the batch contract:
the batch at step s is the device path's, bit for bit, for any number of processes and
grain workers, and a stream opened mid-epoch needs no state but the step."""
import json
import os
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

import jaxdl
from jaxdl import config as config_lib
from jaxdl import rng
from jaxdl.data import pipeline, stream
from jaxdl.training import build as build_lib

N, B = 203, 20  # 10 steps per epoch, 3 examples dropped from each
X = np.arange(N * 3, dtype=np.float32).reshape(N, 3)
Y = np.arange(N, dtype=np.int32)
ROOT = rng.root_key(7)
DATA_KEY = rng.purpose_key(ROOT, rng.DATA_ORDER)


def one_device_stacked() -> NamedSharding:
    return NamedSharding(jax.make_mesh((1, 1), ("data", "fsdp")), P(None, ("data", "fsdp")))


def device_batch(step: int) -> tuple[np.ndarray, np.ndarray]:
    data = pipeline.DeviceData(jnp.asarray(X), jnp.asarray(Y))
    return tuple(np.asarray(a) for a in pipeline.batch_at(data, DATA_KEY, step, B))


@pytest.mark.parametrize("processes", [1, 2, 4])
def test_each_process_reads_its_part_of_the_device_paths_batch(processes):
    """Steps across three epochs: the parts of the P processes, put together, are the
    batch the device path draws at that step."""
    readers = [stream.ReadStep(X, Y, np.asarray(DATA_KEY), B, (p, processes))
               for p in range(processes)]
    for step in (0, 9, 10, 11, 25, 29):
        parts = [read(step) for read in readers]
        assert all(len(x) == B // processes for x, _ in parts)
        x_dev, y_dev = device_batch(step)
        np.testing.assert_array_equal(np.concatenate([x for x, _ in parts]), x_dev)
        np.testing.assert_array_equal(np.concatenate([y for _, y in parts]), y_dev)


# workers=2 spawns two grain processes (~20 s): slow; the default run has workers in
# tests/test_guides.py::test_streaming (2 workers, equal to the device path)
@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_stream_opened_mid_epoch_gives_what_one_from_the_start_gives(workers):
    """No iterator state: resuming at step 13 needs only 13; grain worker processes
    (which compute the epochs themselves) change nothing."""
    whole = stream.Stream(X, Y, B, one_device_stacked(), workers=workers)
    xs, ys = whole.batches(ROOT, 0, 30)
    resumed = stream.Stream(X, Y, B, one_device_stacked(), workers=workers)
    xs_r, ys_r = resumed.batches(ROOT, 13, 17)
    again_x, _ = resumed.batches(ROOT, 30, 5)  # continues where it stopped
    whole.close(), resumed.close()
    np.testing.assert_array_equal(np.asarray(xs)[13:], np.asarray(xs_r))
    np.testing.assert_array_equal(np.asarray(ys)[13:], np.asarray(ys_r))
    assert xs.shape == (30, B, 3) and again_x.shape == (5, B, 3)
    for step in (0, 13, 29):
        np.testing.assert_array_equal(np.asarray(ys)[step], device_batch(step)[1])


def config_for(placement: str, **extra):
    overrides = [f"data.placement={placement}", "steps=120", "eval_every=0",
                 "checkpoint_every=0", "chunk_size=50", "batch_size=50",
                 "data.num_samples=1000"]
    return config_lib.load(None, overrides + [f"{k}={v}" for k, v in extra.items()])


def advance_through(run, state, lengths):
    with run.feed() as advance:
        for length in lengths:
            state, _ = advance(state, length)
    return state


def test_streamed_training_is_the_device_paths_bit_for_bit_and_resumes_exactly():
    """Same batches, same steps: the params after 120 steps are equal bit for bit, and a
    stream reopened at step 37 (a resumed run: a new feed) changes nothing."""
    device, streamed = (build_lib.build(config_for(p)) for p in ("device", "stream"))
    assert (device.input_placement, streamed.input_placement) == ("device", "stream")
    key = rng.root_key(0)
    by_device = advance_through(device, device.init(key), [50, 50, 20])
    by_stream = advance_through(streamed, streamed.init(key), [50, 50, 20])
    state = advance_through(streamed, streamed.init(key), [37])
    resumed = advance_through(streamed, state, [50, 33])
    for other in (by_stream, resumed):
        assert int(other.step) == 120
        for a, b in zip(jax.tree.leaves(by_device.params), jax.tree.leaves(other.params)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_auto_streams_a_training_set_over_the_budget():
    run_config = config_for("auto")
    dataset = build_lib.load_data(run_config)
    assert build_lib.input_placement(run_config, dataset) == "device"
    run_config.data.device_budget_mb = 0  # 1000 x 40 floats are over 0 MB: streamed
    assert build_lib.input_placement(run_config, dataset) == "stream"


@pytest.mark.parametrize("key, value, rule", [("placement", "disk", "must be one of"),
                                              ("workers", -1, "must be >= 0"),
                                              ("prefetch", 0, "must be >= 1")])
def test_bad_input_option_is_one_line_naming_the_key(key, value, rule):
    with pytest.raises(config_lib.ConfigError, match=f"^config.data.{key}: {rule}"):
        config_lib.load(None, [f"data.{key}={value}"])


def test_input_options_are_free_on_resume():
    """Moving a run between the device path and the stream keeps its batches: a resume
    under another placement is not a change of the run."""
    from jaxdl.training import resume
    old = config_for("device").to_dict()
    new = config_for("stream", **{"data.workers": 3}).to_dict()
    assert resume.config_changes(old, new) == {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


ARGS = ["--config.steps=60", "--config.eval_every=0", "--config.checkpoint_every=0",
        "--config.chunk_size=20", "--config.batch_size=50", "--no-progress"]


@pytest.mark.slow  # ~30 s; the default run checks each process's part in-process (above)
def test_two_processes_stream_their_halves_and_match_the_device_path(tmp_path):
    """Two processes (one CPU device each), each reading half of every batch from the
    host, against one process with two devices drawing the batches on the device: same
    examples, same device count, so the metrics agree to float rounding."""
    single = subprocess.run(
        [sys.executable, "-m", "jaxdl.cli", "train", *ARGS, "--config.data.placement=device",
         "--workdir", str(tmp_path / "single")], capture_output=True, text=True, timeout=300,
        env={**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert single.returncode == 0, single.stderr[-3000:]
    port, workdir = free_port(), tmp_path / "two"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "jaxdl.cli", "train", *ARGS, "--config.data.placement=stream",
         "--workdir", str(workdir), "--coordinator", f"localhost:{port}",
         "--num-processes", "2", "--process-id", str(i)],
        stdout=open(tmp_path / f"out{i}.log", "w"), stderr=subprocess.STDOUT) for i in range(2)]
    for i, p in enumerate(procs):
        assert p.wait(timeout=300) == 0, (tmp_path / f"out{i}.log").read_text()[-3000:]
    one, two = (json.load(open(d / "result.json")) for d in (tmp_path / "single", workdir))
    assert abs(one["test"]["loss"] - two["test"]["loss"]) < 1e-4 * abs(one["test"]["loss"])
    assert one["test"]["accuracy"] == two["test"]["accuracy"]


@pytest.mark.parametrize("preset", ["crop_flip", "resized_crop_flip"])
@pytest.mark.parametrize("processes", [1, 2, 4])
def test_host_views_of_each_process_part_are_the_device_views(preset, processes):
    """The image presets on the host (a process's part of a batch, `ssl.HostViews`) give
    the views the device path computes for the whole batch, keys from step_key."""
    from jaxdl.models import ssl
    a = config_lib.default().augment
    a.name = preset
    views = ssl.views_of(a)
    images = np.random.default_rng(0).random((8, 6, 6, 3), np.float32)
    step = 17
    whole = ssl.augmentation(views)(rng.step_key(ROOT, rng.AUGMENT, step), jnp.asarray(images))
    size = 8 // processes
    parts = [ssl.HostViews(views)(np.asarray(ROOT), step, images[p * size:(p + 1) * size],
                                  p * size) for p in range(processes)]
    got = np.concatenate([np.asarray(p) for p in parts])
    if preset == "crop_flip":  # moves pixels only: exact
        np.testing.assert_array_equal(got, np.asarray(whole))
    else:  # bilinear resampling, compiled for another batch size: float32 rounding (1 ulp)
        np.testing.assert_allclose(got, np.asarray(whole), rtol=0, atol=2 ** -22)
    assert not np.array_equal(np.asarray(whole), images)  # the views do change the images
