"""User hooks (`jaxdl.train(config, workdir, hooks=[Hook(fn, every=N)])`): their scalars
reach metrics.jsonl and TensorBoard at their steps, a resumed run logs the same rows, a
failing hook is one line naming it, and hooks never change the trained bits."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest

import jaxdl
from jaxdl import config as config_lib
from jaxdl.training import checkpoint, driver, hooks
from jaxdl.training.hooks import Hook
from test_histograms import read_events  # tests/test_histograms.py
from test_resume import Crash, crash_after  # tests/test_resume.py


def small():
    """The MLP, 40 steps in chunks of 15: most hook points fall inside a chunk."""
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size, c.log_every = 40, 20, 20, 15, 10
    return c


def weight_norm(state, run):
    return {"norm": optax.tree.norm(state.params), "at": state.step}


def rows(path, split=None):
    lines = (path / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if split is None or r["split"] == split]


def final_params(path):
    ckpt = checkpoint.Checkpoints(f"{path}/checkpoints", read_only=True)
    state, _, _ = ckpt.restore_latest(None)
    ckpt.close()
    return jax.device_get(state["params"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same config trained without hooks and with two (every 7 steps, and at the end)."""
    root = tmp_path_factory.mktemp("hooks")
    jaxdl.train(small(), str(root / "plain"), progress=False)
    at_end = Hook(lambda state, run: {"steps": run.config.steps}, every=0, name="data")
    jaxdl.train(small(), str(root / "hooked"), progress=False,
                hooks=[Hook(weight_norm, every=7), at_end])
    return root


def test_hook_scalars_reach_metrics_jsonl_at_its_steps(runs):
    logged = rows(runs / "hooked", "weight_norm")
    assert [r["step"] for r in logged] == [7, 14, 21, 28, 35, 40]  # every 7, and the last
    assert all(set(r) == {"step", "split", "norm", "at"} for r in logged)
    assert all(r["at"] == r["step"] for r in logged)  # the state after that step
    norm = float(optax.tree.norm(final_params(runs / "hooked")))
    assert logged[-1]["norm"] == pytest.approx(norm, rel=1e-6)  # the state after step 40
    assert [(r["step"], r["steps"]) for r in rows(runs / "hooked", "data")] == [(40, 40)]


def test_hook_scalars_reach_tensorboard(runs):
    scalars = {(e.step, v.tag): v.simple_value for e in read_events(runs / "hooked")
               for v in e.summary.value if v.tag.startswith("weight_norm/")}
    for r in rows(runs / "hooked", "weight_norm"):
        assert scalars[(r["step"], "weight_norm/norm")] == np.float32(r["norm"])


def test_hooks_change_no_bit_of_training(runs):
    jax.tree.map(np.testing.assert_array_equal, final_params(runs / "plain"),
                 final_params(runs / "hooked"))
    core = lambda path: [r for r in rows(path) if r["split"] not in ("weight_norm", "data")]
    assert core(runs / "plain") == core(runs / "hooked")  # eval and step rows, bit for bit
    plain = json.loads((runs / "plain" / "result.json").read_text())
    hooked = json.loads((runs / "hooked" / "result.json").read_text())
    assert plain["test"] == hooked["test"] and plain["train"] == hooked["train"]


def test_resumed_run_logs_the_same_hook_rows(runs, tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        crash_after(m, 25)  # dies in the chunk ending at step 30: checkpoint at 20
        with pytest.raises(Crash):
            jaxdl.train(small(), str(tmp_path / "b"), progress=False,
                        hooks=[Hook(weight_norm, every=7)])
    assert [r["step"] for r in rows(tmp_path / "b", "weight_norm")] == [7, 14, 21]
    jaxdl.train(small(), str(tmp_path / "b"), progress=False,
                hooks=[Hook(weight_norm, every=7)])
    expected = [r for r in rows(runs / "hooked") if r["split"] != "data"]
    assert rows(tmp_path / "b") == expected  # row 21 of the crashed attempt: dropped, redone


def test_a_failing_hook_is_one_line_naming_it(tmp_path):
    def broken(state, run):
        return {"x": 1 / 0}

    with pytest.raises(hooks.HookError) as info:
        jaxdl.train(small(), str(tmp_path / "a"), progress=False, hooks=[Hook(broken, every=10)])
    message = str(info.value)
    assert "\n" not in message and "'broken'" in message and "step 10" in message
    assert "ZeroDivisionError" in message

    with pytest.raises(hooks.HookError, match="'row'.*'step'"):  # would hide the row's step
        jaxdl.train(small(), str(tmp_path / "c"), progress=False,
                    hooks=[Hook(lambda s, r: {"step": 1.0}, every=10, name="row")])
    with pytest.raises(hooks.HookError, match="'vector'.*not a scalar"):
        jaxdl.train(small(), str(tmp_path / "b"), progress=False,
                    hooks=[Hook(lambda s, r: {"w": s.params["Dense_0"]["kernel"]}, every=10,
                                name="vector")])


def test_hook_names_are_checked_before_training(tmp_path):
    with pytest.raises(ValueError, match="'test'"):
        Hook(weight_norm, every=10, name="test")
    with pytest.raises(ValueError, match="every"):
        Hook(weight_norm, every=-1)
    with pytest.raises(ValueError, match="two hooks"):
        jaxdl.train(small(), str(tmp_path / "a"), progress=False,
                    hooks=[Hook(weight_norm, every=10), Hook(weight_norm, every=5)])
    assert not (tmp_path / "a").exists()


def test_driver_ends_a_chunk_at_every_stop_and_runs_hooks_in_order():
    """driver.run on a counter: chunk lengths respect chunk_size and every hook's stops."""
    class Counter:
        def __init__(self, step):
            self.step = step

    calls = []
    advance = lambda state, n: (Counter(state.step + n), {"loss": np.zeros(n)})
    at = driver.OnChunk(lambda c: calls.append(("at", c.step)), points={7, 12})
    each = driver.OnChunk(lambda c: calls.append(("each", c.start, c.length)))
    end = driver.run(Counter(0), advance, [each, at], end=20, chunk_size=5)
    assert end.step == 20
    assert [c[1:] for c in calls if c[0] == "each"] == [
        (0, 5), (5, 2), (7, 5), (12, 5), (17, 3)]
    assert [c[1] for c in calls if c[0] == "at"] == [7, 12]


# ---------------------------------------------------------------- the guide

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_guide_runs(tmp_path):
    guide = os.path.join(REPO, "docs", "guide", "own_hook.py")
    out = subprocess.run([sys.executable, guide, str(tmp_path / "run")], capture_output=True,
                         text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": REPO})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "power iteration" in out.stdout  # its own check against the exact Hessian passed
    steps = [r["step"] for r in rows(tmp_path / "run", "sharpness")]
    assert steps == [100, 200, 300]


def test_the_guide_page_shows_the_file_it_runs():
    page = open(os.path.join(REPO, "docs", "guide", "own_hook.md")).read()
    code = open(os.path.join(REPO, "docs", "guide", "own_hook.py")).read()
    assert page.split("```python\n", 1)[1].rsplit("```", 1)[0] == code
