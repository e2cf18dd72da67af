"""User components: a model class and a data source registered from user code train like
the built-ins, their options are a validated config section, and the runs that used them
record (and re-import) where they came from."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap

import flax.linen as nn
import numpy as np
import pytest

import jaxdl
from jaxdl import config as C
from jaxdl import saved as saved_lib
from jaxdl import data, models
from jaxdl.registry import Registry
from jaxdl.study import sweep
from jaxdl.training import loop

REPO = os.path.dirname(os.path.dirname(os.path.abspath(jaxdl.__file__)))


@models.register("test_resmlp")
class ResMLP(nn.Module):
    """Two dense layers with a skip connection."""
    num_outputs: int
    width: int = 16

    @staticmethod
    def check(options: dict, input_shape: tuple[int, ...] | None = None) -> None:
        if options["width"] < 1:
            raise models.OptionError("width", "must be >= 1", options["width"])

    @nn.compact
    def __call__(self, x, train: bool = False):
        h = nn.relu(nn.Dense(self.width)(x.reshape(x.shape[0], -1)))
        return nn.Dense(self.num_outputs)(h + nn.relu(nn.Dense(self.width)(h)))


@data.register("test_moons")
def load_moons(n: int = 400, noise: float = 0.1, seed: int = 0) -> data.Dataset:
    """Two interleaved half circles, labels 0 and 1; the last quarter is the test set."""
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    y = rng.integers(0, 2, n)
    x = np.stack([np.cos(t) + y, np.sin(t) * (1 - 2 * y) + 0.5 * y], axis=1)
    x = (x + noise * rng.normal(size=x.shape)).astype(np.float32)
    cut = 3 * n // 4
    return data.Dataset(x[:cut], y[:cut].astype(np.int32), x[cut:], y[cut:].astype(np.int32),
                        num_classes=2, name="test_moons")


def small(overrides: list[str] = ()) -> "C.ml_collections.ConfigDict":
    return C.load(None, ["--config.steps=20", "--config.eval_every=10",
                         "--config.checkpoint_every=10", "--config.chunk_size=10", *overrides])


def this_file_digest() -> str:
    with open(__file__, "rb") as f:
        return "sha256:" + hashlib.sha256(f.read()).hexdigest()


# ---------------------------------------------------------------- the registry itself


def test_register_as_decorator_or_call_and_twice_is_an_error_unless_replace():
    reg = Registry("widget", {})
    first = reg.register("a")(lambda: 1)
    assert reg.get("a") is first
    reg.register("a", first)  # the same object again: nothing happens
    with pytest.raises(ValueError, match="widget 'a' is already registered .*replace=True"):
        reg.register("a", lambda: 2)
    second = reg.register("a", lambda: 3, replace=True)
    assert reg.get("a") is second


def test_unknown_name_is_one_line_listing_the_names():
    with pytest.raises(C.ConfigError) as info:
        C.load(None, ["--config.model.name=nope"])
    message = str(info.value)
    assert message.startswith("config.model.name: unknown model 'nope'; choose one of mlp, cnn1d")
    assert "test_resmlp" in message and "\n" not in message
    with pytest.raises(KeyError, match="unknown data source 'nope'; choose one of mnist1d"):
        data.source("nope")


def test_built_ins_are_imported_lazily_and_are_not_recorded():
    code = ("import sys, jaxdl; from jaxdl import models; "
            "assert 'jaxdl.models.vit' not in sys.modules; models.model_class('vit'); "
            "assert 'jaxdl.models.vit' in sys.modules; print(models.REGISTRY.origin('vit'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0 and out.stdout.strip() == "None", out.stderr[-2000:]
    assert "components" not in saved_lib.to_saved(C.default())


# ---------------------------------------------------------------- user components in a run


def test_user_model_trains_and_its_run_records_path_and_digest(tmp_path):
    config = small(["--config.model.name=test_resmlp", "--config.model.width=8"])
    result = jaxdl.train(config, str(tmp_path / "run"), progress=False)
    assert result["step"] == 20 and np.isfinite(result["test"]["loss"])
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model"] == {"name": "test_resmlp", "width": 8}
    assert saved["components"] == {"model": {"name": "test_resmlp",
                                             "path": f"{__name__}:ResMLP",
                                             "digest": this_file_digest()}}


def test_user_model_options_are_checked_by_its_own_check():
    with pytest.raises(C.ConfigError, match=r"^config.model.width: must be >= 1, got 0"):
        C.load(None, ["--config.model.name=test_resmlp", "--config.model.width=0"])


def test_user_data_source_trains_and_its_options_are_the_config_section(tmp_path):
    config = small(["--config.data.name=test_moons", "--config.data.noise=0.2",
                    "--config.model.name=mlp"])
    assert config.data.to_dict() == {"name": "test_moons", "n": 400, "noise": 0.2, "seed": 0,
                                     **jaxdl.data.INPUT_OPTIONS}  # and where the batches come from
    result = jaxdl.train(config, str(tmp_path / "run"), progress=False)
    assert result["step"] == 20 and result["test"]["accuracy"] > 0.5
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["components"] == {"data": {"name": "test_moons",
                                            "path": f"{__name__}:load_moons",
                                            "digest": this_file_digest()}}


def test_user_data_source_options_are_validated():
    with pytest.raises(C.ConfigError, match=r"^config.data.nosie: unknown key; allowed: device_budget_mb, n, name, noise, "):
        C.load(None, ["--config.data.name=test_moons", "--config.data.nosie=0.2"])
    with pytest.raises(C.ConfigError, match=r"^config.data.noise: expected float, got 'x'"):
        C.load(None, ["--config.data.name=test_moons", "--config.data.noise=x"])
    config = small(["--config.data.name=test_moons", "--config.data.noise=-1",
                    "--config.model.name=mlp"])
    with pytest.raises(C.ConfigError, match=r"^config.data.noise: must be >= 0, got -1"):
        loop.build(config)


def test_a_changed_source_is_no_config_change():
    from jaxdl.training import resume
    config = small(["--config.model.name=test_resmlp"])
    old = saved_lib.to_saved(config)
    old["components"]["model"]["digest"] = "sha256:0000"
    assert resume.config_changes(old, saved_lib.to_saved(config)) == {}
    assert saved_lib.source_changes(old, config) == [
        f"config.model.name: 'test_resmlp' ({__name__}:ResMLP) changed since the run was "
        f"made (recorded: {__name__}:ResMLP, sha256:0000); continuing with the current source"]


# ---------------------------------------------------------------- files beside a config file

MODULE = '''
import flax.linen as nn
import jaxdl


@jaxdl.models.register("rescnn")
class ResCNN(nn.Module):
    num_outputs: int
    width: int = 8

    @nn.compact
    def __call__(self, x, train: bool = False):
        h = nn.relu(nn.Dense(self.width)(x.reshape(x.shape[0], -1)))
        return nn.Dense(self.num_outputs)(h + nn.relu(nn.Dense(self.width)(h)))
'''

CONFIG = '''
import {module}  # beside this file: no PYTHONPATH needed
from jaxdl import config as C


def get_config(name=None):
    c = C.default()
    c.model = C.named_section("model", "rescnn")
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = 20, 10, 10, 10
    return c
'''


def jaxdl_cli(cwd, *args: str) -> subprocess.CompletedProcess:
    """`jaxdl ...` in a fresh process, run from `cwd` (this checkout's jaxdl)."""
    return subprocess.run([sys.executable, "-m", "jaxdl.cli", *args, "--no-progress"],
                          capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": REPO})


@pytest.fixture
def user_run(tmp_path):
    """A finished 20-step run of a model registered in a module beside its config file,
    made from another directory; then its step-20 checkpoint and result removed, as a kill
    right after the step-10 checkpoint leaves it."""
    (tmp_path / "mymod.py").write_text(MODULE)
    (tmp_path / "cfg.py").write_text(CONFIG.format(module="mymod"))
    workdir = tmp_path / "run"
    made = jaxdl_cli(REPO, "train", "--config", str(tmp_path / "cfg.py"),
                     "--workdir", str(workdir))
    assert made.returncode == 0, made.stderr[-3000:]
    finished = json.loads((workdir / "result.json").read_text())
    shutil.rmtree(workdir / "checkpoints" / "20")
    os.remove(workdir / "result.json")
    return workdir, finished


def test_a_run_of_a_user_model_resumes_in_a_fresh_process(user_run, tmp_path):
    workdir, finished = user_run
    saved = json.loads((workdir / "config.json").read_text())
    assert saved["components"]["model"]["path"] == "mymod:ResCNN"
    out = jaxdl_cli(tmp_path, "train", "--workdir", str(workdir))  # no --config: the run's own
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"resuming {workdir} from step 10" in out.stderr
    assert "warning" not in out.stderr
    resumed = json.loads((workdir / "result.json").read_text())
    assert resumed["test"] == finished["test"]  # bit for bit as never stopping


def test_a_missing_module_is_one_line_naming_its_path(user_run, tmp_path):
    workdir, _ = user_run
    os.remove(tmp_path / "mymod.py")
    out = jaxdl_cli(tmp_path, "train", "--workdir", str(workdir))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "jaxdl: error: config.model.name: 'rescnn' was registered by mymod:ResCNN, which "
        "cannot be imported (No module named 'mymod'); run from the directory that holds it "
        "or put it on PYTHONPATH"]
    assert not (workdir / "result.json").exists()


def test_a_missing_module_is_not_an_unreadable_checkpoint_in_python(user_run):
    """jaxdl.train with another config on that run builds the saved config to restore
    it: the missing component is named, not reported as a damaged checkpoint."""
    workdir, _ = user_run
    with pytest.raises(C.ConfigError, match="'rescnn' was registered by mymod:ResCNN, which "
                                            "cannot be imported"):
        jaxdl.train(small(), str(workdir), progress=False)


def test_a_changed_source_warns_in_one_line_and_resumes(user_run, tmp_path):
    workdir, finished = user_run
    with open(tmp_path / "mymod.py", "a") as f:
        f.write("# edited after the run was made\n")
    out = jaxdl_cli(tmp_path, "train", "--workdir", str(workdir))
    assert out.returncode == 0, out.stderr[-3000:]
    warnings = [line for line in out.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith(
        "jaxdl: warning: config.model.name: 'rescnn' (mymod:ResCNN) changed since the run "
        "was made (recorded: mymod:ResCNN, sha256:"), warnings
    history = [json.loads(r) for r in (workdir / "history.jsonl").read_text().splitlines()]
    assert [h["event"] for h in history][-3:] == ["source_changed", "resume", "finish"]


def test_a_study_file_imports_a_module_beside_it(tmp_path):
    (tmp_path / "study_helper_mod.py").write_text("WIDTHS = [4, 8]\n")
    (tmp_path / "study.py").write_text("import study_helper_mod\n"
                                       "SWEEP = study_helper_mod.WIDTHS\n")
    module = sweep.load_module(str(tmp_path / "study.py"))
    assert module.SWEEP == [4, 8]


def test_a_config_file_may_define_and_register_its_own_flax_model(tmp_path):
    """A flax module is a dataclass, which looks its module up in sys.modules: a config or
    study file executed outside an import used to fail ('NoneType' has no '__dict__')."""
    (tmp_path / "own.py").write_text(textwrap.dedent("""
        from __future__ import annotations
        import flax.linen as nn
        from jaxdl import config as config_lib, models

        @models.register("test_file_mlp", replace=True)
        class FileMLP(nn.Module):
            num_outputs: int
            width: int = 8

            @nn.compact
            def __call__(self, x, *, train: bool = False):
                h = nn.relu(nn.Dense(self.width)(x.reshape(x.shape[0], -1)))
                return nn.Dense(self.num_outputs)(h)

        def get_config(name=None):
            c = config_lib.default()
            c.model = config_lib.named_section("model", "test_file_mlp")
            c.steps, c.eval_every, c.checkpoint_every = 4, 4, 4
            return c
        """))
    config = C.load(str(tmp_path / "own.py"), ["model.width=6"])
    assert (config.model.name, config.model.width) == ("test_file_mlp", 6)
    result = jaxdl.train(config, str(tmp_path / "run"))
    assert np.isfinite(result["test"]["loss"])


# ---------------------------------------------------------------- the guide


def test_the_guide_runs(tmp_path):
    guide = os.path.join(REPO, "docs", "guide", "own_model_and_data.py")
    out = subprocess.run([sys.executable, guide, "--config.steps=20", "--config.eval_every=10",
                          "--config.checkpoint_every=10", "--config.chunk_size=10"],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": REPO})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "test accuracy" in out.stdout


def test_the_guide_page_shows_the_file_it_runs():
    page = open(os.path.join(REPO, "docs", "guide", "own_model_and_data.md")).read()
    code = open(os.path.join(REPO, "docs", "guide", "own_model_and_data.py")).read()
    assert page.split("```python\n", 1)[1].rsplit("```", 1)[0] == code


def test_opening_a_run_whose_source_changed_warns_in_one_line(user_run, tmp_path):
    """`jaxdl inspect` (jaxdl.load_run) names the component whose source changed since the
    run was made, and opens the run with the current source."""
    workdir, _ = user_run
    with open(tmp_path / "mymod.py", "a") as f:
        f.write("# edited after the run was made\n")
    out = subprocess.run([sys.executable, "-m", "jaxdl.cli", "inspect", str(workdir)],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": REPO})
    assert out.returncode == 0, out.stderr[-3000:]
    warnings = [line for line in out.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "config.model.name: 'rescnn' (mymod:ResCNN) changed since " \
        "the run was made" in warnings[0], warnings


def test_the_console_script_reopens_a_run_from_the_directory_of_its_module(user_run, tmp_path):
    """The `jaxdl` console script's sys.path starts at its bin/ directory, not the current
    one; reopening a run from the directory that holds its module still finds it."""
    workdir, _ = user_run
    script = ("import sys; sys.path = [p for p in sys.path if p not in ('', '.')]; "
              "from jaxdl.cli import main; sys.argv = ['jaxdl', 'inspect', sys.argv[1]]; sys.exit(main())")
    out = subprocess.run([sys.executable, "-c", script, str(workdir)], capture_output=True,
                         text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": REPO})
    assert out.returncode == 0, out.stderr[-3000:]
    elsewhere = subprocess.run([sys.executable, "-c", script, str(workdir)], capture_output=True,
                               text=True, cwd=workdir, env={**os.environ, "PYTHONPATH": REPO})
    assert elsewhere.returncode != 0 and "cannot be imported" in elsewhere.stderr
