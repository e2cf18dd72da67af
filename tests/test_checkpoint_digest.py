"""Checkpoints carry a checksum (issue 14, point 5).

A bit flipped in a checkpoint's stored array data — a high exponent bit (training
then diverges on every re-run) or the lowest mantissa bit (a silently different
result) — must be caught on restore: a one-line warning naming the step and the
directory, then the previous checkpoint, as for an unreadable one.

How a bit is flipped on disk (`flip_stored_bit`): orbax stores each array of the
state as a zarr (v2) array inside an OCDBT key-value store under
`<step>/state/`, one key prefix per array named by its dotted path
(`params.Dense_0.kernel`), with zstd-compressed chunks — so there is no raw byte to
patch. The test opens that array with tensorstore exactly as orbax reads it
(`{"driver": "zarr", "kvstore": {"driver": "ocdbt", "base": "file://<step>/state/",
"path": "params.Dense_0.kernel"}}`), reads it, flips one bit of one element in numpy
(viewed as uint32) and writes it back through tensorstore: OCDBT appends the new chunk
and a new manifest version, and orbax then restores the flipped value (asserted).
"""
import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorstore as ts

import jaxdl
from jaxdl import config as config_lib
from jaxdl.training import checkpoint, loop
from test_resume import Crash, crash_after  # tests/test_resume.py: a kill -9 after N steps

PARAM = "params.Dense_0.kernel"
HIGH_EXPONENT_BIT = 30  # float32: the exponent's top bit — a weight of ~0.1 becomes ~1e37
LOWEST_MANTISSA_BIT = 0


def small_config():
    c = config_lib.default()
    # 60 steps, a crash after 50: checkpoints at 20 and 40, and a run left unfinished,
    # so that re-running it resumes (a finished run would just return its result).
    c.steps, c.checkpoint_every, c.eval_every, c.chunk_size = 60, 20, 20, 10
    return c


def crashed_run(path, monkeypatch):
    with monkeypatch.context() as m:
        crash_after(m, 50)
        with pytest.raises(Crash):
            jaxdl.train(small_config(), str(path), progress=False)
    assert steps(path) == [20, 40]


def steps(path):
    return checkpoint.Checkpoints(f"{path}/checkpoints", read_only=True).steps()


def stored_array(step_dir, name=PARAM):
    spec = {"driver": "zarr", "kvstore": {"driver": "ocdbt", "base": f"file://{step_dir}/state/",
                                          "path": name}}
    return ts.open(spec).result()


def flip_stored_bit(step_dir, bit, name=PARAM, index=0):
    """Flip bit `bit` of element `index` (flat) of float32 array `name` as stored in the
    checkpoint directory `step_dir`, through tensorstore (see the module docstring)."""
    array = stored_array(step_dir, name)
    values = array.read().result()
    flipped = values.copy()
    flipped.reshape(-1).view(np.uint32)[index] ^= np.uint32(1 << bit)
    array.write(flipped).result()
    assert np.array_equal(stored_array(step_dir, name).read().result(), flipped)
    return values.reshape(-1)[index], flipped.reshape(-1)[index]


def metrics_rows(path):
    return open(f"{path}/metrics.jsonl").read()


def final_params(path):
    state, _, step = checkpoint.Checkpoints(f"{path}/checkpoints", read_only=True).restore_latest(None)
    return step, jax.device_get(state["params"])


def assert_same_run(a, b):
    assert metrics_rows(a) == metrics_rows(b)
    (step_a, params_a), (step_b, params_b) = final_params(a), final_params(b)
    assert step_a == step_b == 60
    jax.tree.map(np.testing.assert_array_equal, params_a, params_b)
    result_a, result_b = (json.load(open(f"{path}/result.json")) for path in (a, b))
    for result in (result_a, result_b):
        del result["wall_time_s"], result["workdir"]
    assert result_a == result_b


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    path = tmp_path_factory.mktemp("uninterrupted") / "run"
    jaxdl.train(small_config(), str(path), progress=False)
    return path


@pytest.mark.parametrize("bit", [HIGH_EXPONENT_BIT, LOWEST_MANTISSA_BIT],
                         ids=["high_exponent_bit", "lowest_mantissa_bit"])
def test_flipped_bit_falls_back_to_previous_and_resumes_bitwise(
        bit, uninterrupted, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    crashed_run(run, monkeypatch)
    before, after = flip_stored_bit(run / "checkpoints" / "40", bit)
    assert before != after and np.isfinite(before)
    directory = os.path.abspath(run / "checkpoints")

    # The flipped value really is what orbax reads back, unverified.
    checkpoints = checkpoint.Checkpoints(str(run / "checkpoints"), read_only=True)
    raw = checkpoints._manager.restore(40, args=checkpoint.ocp.args.Composite(
        state=checkpoint.ocp.args.StandardRestore()))
    assert np.asarray(raw.state["params"]["Dense_0"]["kernel"]).reshape(-1)[0].tobytes() == \
        np.float32(after).tobytes()

    capsys.readouterr()
    state, config, step = checkpoints.restore_latest(None)
    err = capsys.readouterr().err
    assert step == 20 and int(state["step"]) == 20
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1, err
    assert "checkpoint at step 40" in warnings[0] and directory in warnings[0]
    assert "checksum" in warnings[0] and "falling back" in warnings[0]
    assert "params/Dense_0/kernel" in warnings[0]
    checkpoints.close()

    jaxdl.train(small_config(), str(run), progress=False)
    err = capsys.readouterr().err
    assert "checkpoint at step 40" in err and "checksum" in err
    assert "resuming" in err and "from step 20" in err
    assert_same_run(uninterrupted, run)


def test_mismatch_is_caught_restoring_into_the_train_state_too(tmp_path, monkeypatch, capsys):
    """Restoring into the run's abstract TrainState (how `train` resumes) and restoring
    plain dicts (`abstract_for=None`) compute the same digest and both catch the flip."""
    run = tmp_path / "run"
    crashed_run(run, monkeypatch)
    built = loop.build(small_config())
    checkpoints = checkpoint.Checkpoints(str(run / "checkpoints"), read_only=True)
    as_state, _ = checkpoints.restore(40, loop._abstract_for(built, small_config().to_dict()))
    as_dicts, _ = checkpoints.restore(40)
    assert type(as_state).__name__ == "TrainState" and isinstance(as_dicts, dict)
    assert checkpoint.state_digest(as_state) == checkpoint.state_digest(as_dicts)
    saved = json.load(open(run / "checkpoints" / "40" / "digest" / "metadata"))
    assert saved["arrays"] == checkpoint.state_digest(as_state)

    flip_stored_bit(run / "checkpoints" / "40", LOWEST_MANTISSA_BIT, name="opt_state.0.0.mu.Conv_1.kernel",
                    index=7)
    for abstract_for in (None, lambda saved: loop._abstract_for(built, saved)):
        capsys.readouterr()
        state, _, step = checkpoints.restore_latest(abstract_for)
        err = capsys.readouterr().err
        assert step == 20 and int(jax.device_get(state["step"] if isinstance(state, dict)
                                                 else state.step)) == 20
        assert "checkpoint at step 40" in err and "checksum" in err
        assert "opt_state/0/0/mu/Conv_1/kernel" in err
    with pytest.raises(checkpoint.ChecksumMismatch):
        checkpoints.restore(40)


def test_read_latest_goes_through_the_check(tmp_path, monkeypatch, capsys):
    """Warm starts and teachers read another run with `read_latest`: same check."""
    run = tmp_path / "run"
    crashed_run(run, monkeypatch)
    flip_stored_bit(run / "checkpoints" / "40", HIGH_EXPONENT_BIT)
    capsys.readouterr()
    state, _, step = checkpoint.read_latest(str(run))
    err = capsys.readouterr().err
    assert step == 20 and int(state["step"]) == 20
    assert "checkpoint at step 40" in err and "checksum" in err and "falling back" in err
    assert np.all(np.isfinite(np.asarray(state["params"]["Dense_0"]["kernel"])))


def test_no_usable_checkpoint_when_every_one_fails_its_checksum(tmp_path, monkeypatch):
    run = tmp_path / "run"
    crashed_run(run, monkeypatch)
    for step in (20, 40):
        flip_stored_bit(run / "checkpoints" / str(step), LOWEST_MANTISSA_BIT)
    checkpoints = checkpoint.Checkpoints(str(run / "checkpoints"), read_only=True)
    with pytest.raises(checkpoint.NoUsableCheckpoint):
        checkpoints.restore_latest(None)


def test_checkpoint_saved_before_digests_still_restores(tmp_path, monkeypatch, capsys):
    """A checkpoint without the `digest` item (saved by jaxdl before checksums) restores,
    unverified and without a warning, and a run resumes from it bit for bit."""
    def args_without_digest(state, config):
        return checkpoint.ocp.args.Composite(
            state=checkpoint.ocp.args.StandardSave(state),
            config=checkpoint.ocp.args.JsonSave(config.to_dict()))

    run = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(checkpoint, "_args_save", args_without_digest)
        crashed_run(run, m)
    assert not os.path.exists(run / "checkpoints" / "40" / "digest")
    checkpoints = checkpoint.Checkpoints(str(run / "checkpoints"), read_only=True)
    assert not checkpoints.has_digest(40)
    capsys.readouterr()
    state, _, step = checkpoints.restore_latest(None)
    assert step == 40 and int(state["step"]) == 40
    built = loop.build(small_config())
    state, _, step = checkpoints.restore_latest(lambda saved: loop._abstract_for(built, saved))
    assert step == 40 and int(state.step) == 40
    assert "warning" not in capsys.readouterr().err
    checkpoints.close()
    jaxdl.train(small_config(), str(run), progress=False)
    assert "from step 40" in capsys.readouterr().err
    # the new checkpoint (step 60) carries a digest
    assert checkpoint.Checkpoints(str(run / "checkpoints"), read_only=True).has_digest(60)


def test_every_single_bit_flip_changes_the_digest():
    """Every bit of every element, for each dtype kind the state can hold."""
    rng = np.random.default_rng(0)
    arrays = {
        "f32": rng.standard_normal((3, 5)).astype(np.float32),
        "bf16": jnp.asarray(rng.standard_normal(6), jnp.bfloat16),
        "i32": rng.integers(-9, 9, (4,)).astype(np.int32),
        "u8": rng.integers(0, 255, (2, 3)).astype(np.uint8),
        "bool": np.array([True, False, True]),
    }
    for name, value in arrays.items():
        value = np.asarray(value)
        base = checkpoint.state_digest({name: value})[name]
        width = value.dtype.itemsize * 8
        unsigned = np.dtype(f"uint{width}")
        for i in range(value.size):
            for bit in range(1 if value.dtype == np.bool_ else width):
                flipped = value.copy()
                if value.dtype == np.bool_:
                    flipped.reshape(-1)[i] = not flipped.reshape(-1)[i]
                else:
                    flipped.reshape(-1).view(unsigned)[i] ^= unsigned.type(1 << bit)
                assert checkpoint.state_digest({name: flipped})[name] != base, (name, i, bit)
    # swapping two elements changes the weighted sum (the plain one stays)
    f = arrays["f32"].copy()
    swapped = f.copy()
    swapped[0, 0], swapped[0, 1] = f[0, 1], f[0, 0]
    a, b = checkpoint.state_digest({"x": f})["x"], checkpoint.state_digest({"x": swapped})["x"]
    assert a[0] != b[0] and a[1] == b[1]
    # PRNG key arrays: their key data
    key = jax.random.key(3)
    assert checkpoint.state_digest({"k": key}) == checkpoint.state_digest(
        {"k": jax.random.key_data(key)})


def test_digest_is_the_same_for_any_sharding():
    """On 8 (host) devices: replicated, fsdp-split and single-device copies of the same
    arrays give the same digest (wraparound sums are reductions over the shards)."""
    code = textwrap.dedent("""
        import json, jax, jax.numpy as jnp, numpy as np
        from jax.sharding import NamedSharding, PartitionSpec as P
        from jaxdl.training import checkpoint
        rng = np.random.default_rng(1)
        tree = {"w": rng.standard_normal((16, 24)).astype(np.float32),
                "b": jnp.asarray(rng.standard_normal(40), jnp.bfloat16),
                "n": np.arange(8, dtype=np.int32)}
        mesh = jax.make_mesh((2, 4), ("data", "fsdp"))
        one = checkpoint.state_digest(jax.device_put(tree, jax.devices()[0]))
        rep = checkpoint.state_digest(jax.device_put(tree, NamedSharding(mesh, P())))
        split = checkpoint.state_digest({
            "w": jax.device_put(tree["w"], NamedSharding(mesh, P("fsdp", "data"))),
            "b": jax.device_put(tree["b"], NamedSharding(mesh, P(("data", "fsdp")))),
            "n": jax.device_put(tree["n"], NamedSharding(mesh, P("fsdp")))})
        print(json.dumps({"devices": jax.device_count(), "same": one == rep == split,
                          "host": checkpoint.state_digest(tree) == one}))
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([os.path.dirname(os.path.dirname(jaxdl.__file__)),
                                          os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"devices": 8, "same": True, "host": True}
