"""Multi-host correctness, on CPU with two local processes under jax.distributed (gloo):

- every jitted computation on global arrays runs on every process — the histogram
  probe included — and a two-process run logs what a one-process run on as many
  devices logs;
- evaluation places on each process only the examples its own devices hold, and
  counts every example exactly once;
- `jax.distributed.initialize()` is called with no arguments where the cluster
  describes a multi-process job (SLURM, OpenMPI, TPU pod), and not for a job of one task.

Two processes of one device each and one process of two devices split every batch the
same way and all-reduce two partial sums (a commutative sum), so their bits agree: the
comparisons below are exact. Against one device the bits differ by rounding
(tests/test_parallel.py's ROUNDING).
"""
import json
import os
import random
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from jaxdl.training import evaluation, parallel
from test_histograms import read_events  # tests/test_histograms.py
from test_parallel import ROUNDING, free_port  # tests/test_parallel.py

TWO_DEVICES = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}


def two_processes(command, tmp_path, name, env=None, coordinator_flags=True):
    """Start `command` (an argv) as processes 0 and 1 of one job, told so by jaxdl's
    coordinator flags (or else by each one's `env`); output to files."""
    port = free_port()
    return [subprocess.Popen(
        [*command, *(["--coordinator", f"localhost:{port}", "--num-processes", "2",
                      "--process-id", str(i)] if coordinator_flags else [])],
        env=env[i] if env else None, stdout=open(tmp_path / f"{name}{i}.log", "w"),
        stderr=subprocess.STDOUT) for i in range(2)]


def wait_all(procs, tmp_path, name, timeout=240):
    """Every process's exit status; a hung job (a collective one process never joins)
    is killed, so that the test fails instead of hanging."""
    try:
        codes = [p.wait(timeout=timeout) for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
            p.wait()
        codes = ["hung"] * len(procs)
    logs = [(tmp_path / f"{name}{i}.log").read_text()[-2000:] for i in range(len(procs))]
    assert codes == [0] * len(procs), (codes, logs)
    return [(tmp_path / f"{name}{i}.log").read_text() for i in range(len(procs))]


# ---------------------------------------------------------------- histograms on every process

# Params split over the two processes (fsdp=2; the 512-wide MLP's kernels are large
# enough to be split): the probe needs the other process's half, so a probe that process
# 0 runs alone fails ("collective mismatch") or hangs. With a replicated state it
# happened to need no collective.
TRAIN = [sys.executable, "-m", "jaxdl.cli", "train", "--config.steps=4",
         "--config.eval_every=2", "--config.checkpoint_every=4", "--config.chunk_size=2",
         "--config.histograms=True", "--config.parallel.fsdp=2", "--config.model.name=mlp",
         "--config.model.width=512", "--no-progress"]


def histograms(workdir):
    return {(e.step, v.tag): v.histo for e in read_events(workdir) for v in e.summary.value
            if v.HasField("histo")}


@pytest.mark.slow  # two processes under gloo (~15 s); the parts are tested in-process
def test_histograms_of_two_processes_equal_one_process_on_two_devices(tmp_path):
    reference = subprocess.Popen([*TRAIN, "--workdir", str(tmp_path / "one")], env=TWO_DEVICES,
                                 stdout=open(tmp_path / "one.log", "w"), stderr=subprocess.STDOUT)
    wait_all(two_processes([*TRAIN, "--workdir", str(tmp_path / "two")], tmp_path, "two"),
             tmp_path, "two")
    assert reference.wait(timeout=240) == 0, (tmp_path / "one.log").read_text()[-2000:]
    two, one = histograms(tmp_path / "two"), histograms(tmp_path / "one")
    assert {step for step, _ in two} == {2, 4}
    assert {"activations/Dense_0", "gradients/Dense_1/kernel", "params/Dense_1/kernel"} <= {
        tag for _, tag in two}
    assert two.keys() == one.keys()
    for key in two:
        assert two[key] == one[key], key  # every field: count, sum, min, max, buckets
    assert all(np.isfinite(h.sum) and h.num > 0 for h in two.values())
    assert (tmp_path / "two" / "metrics.jsonl").read_text() == \
        (tmp_path / "one" / "metrics.jsonl").read_text()
    assert not list((tmp_path / "two").glob("events.out.*.1"))  # process 1 writes nothing


def test_the_probe_runs_per_device_in_pmap_mode_as_the_train_step_does():
    """parallel.mode=pmap: the objective averages over the device axis, which exists only
    in the per-device program; on one device its probe equals jit mode's."""
    from jaxdl import config as config_lib
    from jaxdl.training import histograms, loop
    probes = {}
    for mode in ("jit", "pmap"):
        c = config_lib.default()
        c.model = config_lib.named_section("model", "mlp")
        c.parallel.mode, c.parallel.data = mode, 1
        run = loop.build(c)
        probes[mode] = histograms.make_probe(run)(run.init(jax.random.PRNGKey(0)))
    assert probes["pmap"].keys() == probes["jit"].keys()
    for tag, values in probes["jit"].items():
        np.testing.assert_array_equal(probes["pmap"][tag], values, err_msg=tag)


# ---------------------------------------------------------------- evaluation across hosts

EVAL_SCRIPT = textwrap.dedent("""
    import json, sys
    from jaxdl.training import parallel
    if len(sys.argv) > 1:  # --coordinator HOST:PORT --num-processes 2 --process-id I
        parallel.initialize_distributed(sys.argv[2], int(sys.argv[4]), int(sys.argv[6]))
    import jax, numpy as np
    from jaxdl import config as C
    from jaxdl.training import evaluation, loop

    class Recording:
        '''An array that records which examples are read from it.'''
        def __init__(self, a):
            self.a, self.read, self.shape, self.dtype = a, [], a.shape, a.dtype
        def __len__(self):
            return len(self.a)
        def __getitem__(self, index):
            self.read += np.arange(len(self.a))[index].ravel().tolist()
            return self.a[index]
        def __array__(self, dtype=None, copy=None):
            self.read += list(range(len(self.a)))
            return self.a

    def metrics(data, n=777, batch_size=100):  # odd: the last batch is padded
        c = C.default()
        c.parallel.data = data
        run = loop.build(c)
        x, y = Recording(run.dataset.x_test[:n]), Recording(run.dataset.y_test[:n])
        sets = evaluation.stacked_batches(x, y, batch_size, run.placement)
        sums = run.evaluate(run.init(jax.random.PRNGKey(0)), *sets)
        scalars, _ = evaluation.summarize(sums)
        return {**scalars, "count": float(jax.device_get(sums["count"])), "read": x.read,
                "n": n, "positions": int(np.prod(sets[2].shape))}

    out = {"devices": jax.device_count(), "two": metrics(0)}
    if jax.process_count() == 1:
        out["one"] = metrics(1)
    print("RESULT " + json.dumps(out))
""")


def result(log):
    return json.loads(log.split("RESULT ")[1].splitlines()[0])


@pytest.mark.slow  # two processes under gloo (~15 s); the parts are tested in-process
def test_two_process_eval_reads_each_example_on_one_host_and_matches_one_process(tmp_path):
    reference = subprocess.run([sys.executable, "-c", EVAL_SCRIPT], env=TWO_DEVICES,
                               capture_output=True, text=True, timeout=300)
    assert reference.returncode == 0, reference.stderr[-3000:]
    single = result(reference.stdout)
    parts = [result(log) for log in wait_all(two_processes(
        [sys.executable, "-c", EVAL_SCRIPT], tmp_path, "eval"), tmp_path, "eval")]

    assert single["devices"] == 2 and [p["devices"] for p in parts] == [2, 2]
    n, positions = single["two"]["n"], single["two"]["positions"]
    for part in parts:  # both processes hold the same global result
        metrics = {k: part["two"][k] for k in ("count", "loss", "accuracy", "f1_macro")}
        assert metrics == {k: single["two"][k] for k in metrics}
        assert metrics["count"] == n
    # Each host read only its half of the padded batches, and the halves cover every example.
    reads = [part["two"]["read"] for part in parts]
    assert [len(r) for r in reads] == [positions // 2] * 2
    assert set(reads[0]) | set(reads[1]) == set(range(n))
    assert len(set(single["two"]["read"])) == n  # one process: every example, read once
    # One device sums in another order: equal to rounding.
    one = single["one"]
    assert one["count"] == n
    assert abs(one["loss"] - single["two"]["loss"]) <= ROUNDING * abs(one["loss"])
    assert abs(one["accuracy"] - single["two"]["accuracy"]) <= 1 / n


def split_columns(batch_size, processes, devices_per_process):
    """Per process, the indices of its devices into (nb, bs) stacked batches split over
    processes x devices_per_process devices in order (what a mesh over jax.devices() does)."""
    width = batch_size // (processes * devices_per_process)
    return [[(slice(None), slice(k * width, (k + 1) * width))
             for k in range(p * devices_per_process, (p + 1) * devices_per_process)]
            for p in range(processes)]


@pytest.mark.parametrize("processes,devices_per_process", [(1, 1), (2, 1), (2, 4), (3, 2), (4, 2)])
@pytest.mark.parametrize("n,batch_size", [(1, 64), (7, 3), (777, 100), (1001, 1000), (999, 8)])
def test_per_process_parts_of_the_eval_batches_hold_every_example_once(
        n, batch_size, processes, devices_per_process):
    rows, mask = evaluation.eval_layout(n, batch_size, processes * devices_per_process)
    held = []
    for indices in split_columns(rows.shape[1], processes, devices_per_process):
        block = parallel.process_block(indices, rows.shape, axis=1)
        assert block.stop - block.start == rows.shape[1] // processes
        held += rows[:, block][mask[:, block] == 1].tolist()
    assert sorted(held) == list(range(n))


def test_process_block_refuses_devices_that_hold_no_contiguous_block():
    indices = [(slice(None), slice(0, 2)), (slice(None), slice(4, 6))]
    with pytest.raises(ValueError, match="no contiguous block of axis 1"):
        parallel.process_block(indices, (3, 8), axis=1)
    replicated = [(slice(None), slice(None))] * 2  # every device holds all of it
    assert parallel.process_block(replicated, (3, 8), axis=1) == slice(0, 8)
    assert parallel.process_block([], (3, 8), axis=1) == slice(0, 0)


def test_stacked_batches_without_placement_pad_with_example_zero_masked():
    x, y = np.arange(7, dtype=np.float32)[:, None], np.arange(7)
    xs, ys, masks = evaluation.stacked_batches(x, y, 3)
    assert xs.shape == (3, 3, 1)
    assert np.asarray(ys).tolist() == [[0, 1, 2], [3, 4, 5], [6, 0, 0]]
    assert np.asarray(masks).tolist() == [[1, 1, 1], [1, 1, 1], [1, 0, 0]]


# ---------------------------------------------------------------- cluster auto-detection

SLURM = {"SLURM_JOB_ID": "4242", "SLURM_STEP_NODELIST": "node[001-002]", "SLURM_NTASKS": "2",
         "SLURM_PROCID": "1", "SLURM_LOCALID": "0"}  # what jax/_src/clusters/slurm_cluster.py reads
OMPI = {"OMPI_MCA_orte_hnp_uri": "1531576320.0;tcp://10.96.0.1:34911",
        "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "3",
        "OMPI_COMM_WORLD_LOCAL_RANK": "1"}  # and ompi_cluster.py
CLUSTER_VARIABLES = (*SLURM, *OMPI, "TPU_WORKER_HOSTNAMES", "JAXDL_COORDINATOR",
                     "JAXDL_NUM_PROCESSES", "JAXDL_PROCESS_ID")


@pytest.fixture
def initialize(monkeypatch):
    """A clean environment, and jax.distributed.initialize replaced by a recorder."""
    for name in CLUSTER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: calls.append((a, k)))
    monkeypatch.setattr(jax.config, "update", lambda *a, **k: None)  # gloo: not for this process

    def start(env, *args):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return parallel.initialize_distributed(*args), calls
    return start


@pytest.mark.parametrize("env,cluster,method", [
    (SLURM, "slurm", "slurm"), (OMPI, "openmpi", "ompi"),
    ({**SLURM, "SLURM_NTASKS": "1", **OMPI}, "openmpi", "ompi"),  # mpirun in a 1-task srun
    ({"TPU_WORKER_HOSTNAMES": "t0,t1"}, "tpu", None)])
def test_a_multi_process_cluster_job_initializes_with_no_job_arguments(initialize, env, cluster,
                                                                      method):
    """No coordinator, count or id: jax's own detection of that cluster fills them in."""
    started, calls = initialize(env)
    assert started and calls == [((), {"cluster_detection_method": method})]
    assert parallel.cluster_environment() == cluster


@pytest.mark.parametrize("env", [
    {**SLURM, "SLURM_NTASKS": "1"},                               # a job of one task
    {k: v for k, v in SLURM.items() if k != "SLURM_STEP_NODELIST"},  # a batch script, no srun
    {**OMPI, "OMPI_COMM_WORLD_SIZE": "1"},
    {k: v for k, v in OMPI.items() if k != "OMPI_MCA_orte_hnp_uri"},  # jax could not find it
    {"TPU_WORKER_HOSTNAMES": "t0"},                                # one TPU worker
    {}])
def test_a_job_of_one_process_does_not_initialize(initialize, env):
    started, calls = initialize(env)
    assert not started and calls == []
    assert parallel.cluster_environment() is None


def test_an_explicit_coordinator_wins_over_the_cluster(initialize):
    started, calls = initialize(SLURM, "host0:1234", 2, 0)
    assert started and calls == [(("host0:1234", 2, 0), {})]
    with pytest.raises(ValueError, match="--coordinator needs --num-processes"):
        initialize({"JAXDL_COORDINATOR": "host0:1234"})


SLURM_PORTS = (65535 - 2 ** 12 + 1, 65535)  # jax's SlurmCluster: port = job id % 4096 + 61440


def free_slurm_port():
    """A free port in the range jax's SlurmCluster derives from SLURM_JOB_ID."""
    for port in random.sample(range(SLURM_PORTS[0], SLURM_PORTS[1] + 1), 200):
        with socket.socket() as s:
            try:
                s.bind(("localhost", port))
            except OSError:
                continue
        return port
    pytest.skip("no free port in jax's SLURM port range")


JOIN_SCRIPT = textwrap.dedent("""
    import json
    from jaxdl.training import parallel
    started = parallel.initialize_distributed()
    import jax
    print("RESULT " + json.dumps({"started": started, "processes": jax.process_count(),
          "index": jax.process_index(), "devices": jax.device_count(),
          "any": parallel.any_process(jax.process_index() == 1)}))
""")


def test_two_processes_of_a_fake_slurm_step_join_with_no_coordinator(tmp_path):
    job_id = free_slurm_port() - SLURM_PORTS[0]
    base = {k: v for k, v in os.environ.items() if k not in CLUSTER_VARIABLES}
    env = [{**base, "SLURM_JOB_ID": str(job_id), "SLURM_STEP_NODELIST": "localhost",
            "SLURM_NTASKS": "2", "SLURM_PROCID": str(i), "SLURM_LOCALID": str(i)}
           for i in range(2)]
    logs = wait_all(two_processes([sys.executable, "-c", JOIN_SCRIPT], tmp_path, "slurm",
                                  env=env, coordinator_flags=False), tmp_path, "slurm", timeout=120)
    assert [result(log) for log in logs] == [
        {"started": True, "processes": 2, "index": i, "devices": 2, "any": True}
        for i in range(2)]
