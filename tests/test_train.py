"""The training core: it learns, it is reproducible bit for bit, it stops on NaN."""
import json

import jax
import numpy as np
import pytest

import jaxdl
from jaxdl import config as config_lib
from jaxdl.training import loop


def read_metrics(path):
    return [json.loads(line) for line in open(path / "metrics.jsonl")]


def final_params(config):
    """Params after config.steps steps, run in chunks of config.chunk_size."""
    run = loop.build(config)
    data = run.device_data()
    state = run.init(jax.random.PRNGKey(config.seed))
    for length, _ in loop.chunks(0, [config.steps], config.chunk_size):
        state, _ = run.train_chunk(state, data, length)
    return jax.device_get(state.params)


def test_short_default_run_learns_and_writes_its_files(small_config, tmp_path):
    result = jaxdl.train(small_config, str(tmp_path / "run"), progress=False)
    assert result["test"]["accuracy"] > 0.4  # chance is 0.1
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.json", "metrics.jsonl", "result.json"} <= files
    assert any(name.startswith("events.out.tfevents") for name in files)
    rows = read_metrics(tmp_path / "run")
    assert [(r["step"], r["split"]) for r in rows] == [
        (100, "train_step"), (100, "train"), (100, "test"),  # log_every: 100
        (200, "train_step"), (200, "train"), (200, "test")]
    assert rows[-1]["accuracy"] == result["test"]["accuracy"]
    saved = json.load(open(tmp_path / "run" / "result.json"))
    assert saved["test"] == result["test"] and len(saved["test_per_class"]["f1"]) == 10


def test_same_config_twice_gives_identical_metrics(small_config, tmp_path):
    small_config.steps = 100
    jaxdl.train(small_config, str(tmp_path / "a"), progress=False)
    jaxdl.train(small_config, str(tmp_path / "b"), progress=False)
    assert read_metrics(tmp_path / "a") == read_metrics(tmp_path / "b")


@pytest.mark.parametrize("execution", ["scan", "loop"])
def test_chunk_size_does_not_change_a_bit(small_config, execution):
    small_config.steps = 60  # crosses an epoch boundary? no: 40 steps/epoch at batch 100 -> yes
    small_config.execution = execution
    small_config.chunk_size = 1
    one = final_params(small_config)
    small_config.chunk_size = 50
    fifty = final_params(small_config)
    jax.tree.map(np.testing.assert_array_equal, one, fifty)


def test_scan_and_loop_agree_to_float_precision(small_config):
    small_config.steps = 50
    small_config.execution = "scan"
    scan = final_params(small_config)
    small_config.execution = "loop"
    loop_ = final_params(small_config)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), scan, loop_)


def test_divergence_stops_with_the_step_and_no_result(small_config, tmp_path):
    small_config.optimizer.name = "sgd"
    small_config.optimizer.lr = 1e30
    with pytest.raises(loop.TrainingDiverged, match=r"NaN/Inf (at|by) step \d+"):
        jaxdl.train(small_config, str(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run" / "result.json").exists()


def test_batch_norm_statistics_are_trained_state(small_config, tmp_path):
    small_config.steps = 20
    small_config.model.batch_norm = True
    run = loop.build(small_config)
    state = run.init(jax.random.PRNGKey(0))
    before = jax.device_get(state.model_state)
    assert "batch_stats" in before
    state, _ = run.train_chunk(state, run.device_data(), 5)
    after = jax.device_get(state.model_state)
    changed = jax.tree.leaves(jax.tree.map(lambda a, b: not np.array_equal(a, b), before, after))
    assert all(changed)


def test_chunks_never_cross_an_evaluation():
    plan = list(loop.chunks(0, [100, 250, 300], 60))
    assert [length for length, _ in plan] == [60, 40, 60, 60, 30, 50]
    assert [stop for _, stop in plan] == [False, True, False, False, True, True]


def test_auto_execution_is_loop_on_cpu_only_for_native_convolutions():
    """BENCHMARKS.md: inside `scan`, XLA:CPU runs native convolutions ~25x slower."""
    import jax.numpy as jnp
    from jaxdl import models
    assert loop.resolve_execution("auto", "cpu") == "scan"
    assert loop.resolve_execution("auto", "cpu", native_convolutions=True) == "loop"
    assert loop.resolve_execution("auto", "gpu", native_convolutions=True) == "scan"
    assert loop.resolve_execution("scan", "cpu", native_convolutions=True) == "scan"
    x = jnp.zeros((2, 8, 8, 3))
    for name, native in (("cnn2d", True), ("mlp", False)):
        model = models.build(name, 10)
        variables = model.init(jax.random.PRNGKey(0), x, train=False)
        assert loop.has_native_convolution(
            lambda v, x: model.apply(v, x, train=False), variables, x) is native
    model = models.build("cnn1d", 10)  # 1-D convs are im2col + matmul: no native conv
    signal = jnp.zeros((2, 40))
    variables = model.init(jax.random.PRNGKey(0), signal, train=False)
    assert not loop.has_native_convolution(lambda v, x: model.apply(v, x, train=False),
                                           variables, signal)
