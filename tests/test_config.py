"""Bad config keys and values fail before any compute with one line naming the key."""
import subprocess
import sys

import ml_collections
import pytest

from jaxdl import cli
from jaxdl import config as config_lib


def error_of(overrides, spec=None) -> str:
    with pytest.raises(config_lib.ConfigError) as info:
        config_lib.load(spec, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_default_is_the_published_cnn_recipe():
    c = config_lib.default()
    assert (c.model.name, c.model.channels, c.model.kernel_sizes) == ("cnn1d", (25, 25, 25), (5, 3, 3))
    assert (c.optimizer.name, c.optimizer.lr, c.batch_size, c.steps) == ("adam", 0.01, 100, 6000)
    assert c.data.name == "mnist1d"


def test_overrides_are_parsed_to_the_type_of_the_default():
    c = config_lib.load(None, ["--config.optimizer.lr=0.1", "--config.steps=7",
                               "config.model.batch_norm=true", "--config.model.channels=(8,16)"])
    assert c.optimizer.lr == 0.1 and isinstance(c.optimizer.lr, float)
    assert c.steps == 7 and isinstance(c.steps, int)
    assert c.model.batch_norm is True
    assert tuple(c.model.channels) == (8, 16)


def test_switching_a_named_section_resets_it_to_the_new_defaults():
    c = config_lib.load(None, ["--config.model.width=256", "--config.model.name=mlp"])
    assert c.model.name == "mlp" and c.model.width == 256
    assert "channels" not in c.model


def test_naming_the_entry_a_section_already_has_keeps_its_options():
    # a sweep point `model.name=mlp` over an mlp base must not reset the base's width
    base = config_lib.load(None, ["--config.model.name=mlp", "--config.model.width=256"])
    c = config_lib.apply_overrides(base, ["model.name=mlp", "model.depth=3"])
    assert c.model.width == 256 and c.model.depth == 3
    switched = config_lib.apply_overrides(base, ["model.name=cnn1d"])
    assert "width" not in switched.model and "channels" in switched.model


@pytest.mark.parametrize("overrides,names", [
    (["--config.optimiser.lr=0.1"], ["config.optimiser", "allowed"]),
    (["--config.optimizer.learning_rate=0.1"], ["config.optimizer.learning_rate", "unknown key"]),
    (["--config.optimizer.lr=-0.1"], ["config.optimizer.lr", "> 0"]),
    (["--config.optimizer.lr=fast"], ["config.optimizer.lr", "expected float"]),
    (["--config.steps=1.5"], ["config.steps", "expected int"]),
    (["--config.model.name=transformer"], ["config.model.name", "mlp"]),
    (["--config.data.name=imagenet"], ["config.data.name", "mnist1d"]),
    (["--config.optimizer.name=rmsprop"], ["config.optimizer.name", "adamw"]),
    (["--config.objective.label_smoothing=1.0"], ["config.objective.label_smoothing", "[0, 1)"]),
    (["--config.optimizer.schedule.boundaries=(0.8,0.2)"], ["config.optimizer.schedule.boundaries"]),
    (["--config.steps"], ["--config.steps=VALUE"]),
])
def test_bad_key_or_value_names_the_key(overrides, names):
    message = error_of(overrides)
    for name in names:
        assert name in message, message


def test_wrong_type_in_a_config_file_section_is_caught():
    # ConfigDict refuses a wrong type on assignment, but a config file may build a section anew
    c = config_lib.default()
    c.data = ml_collections.ConfigDict({**c.data.to_dict(), "num_samples": "many"})
    with pytest.raises(config_lib.ConfigError, match="config.data.num_samples: expected int"):
        config_lib.validate(c)


def test_missing_config_file_is_named(tmp_path):
    assert "nope.py" in error_of([], spec=str(tmp_path / "nope.py"))


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "jaxdl.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_cli_error_is_one_line_without_traceback_and_nonzero(tmp_path):
    out = run_cli("train", "--config.optimizer.lr=-1", "--workdir", str(tmp_path / "w"))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "jaxdl: error: config.optimizer.lr: must be a finite number > 0, got -1.0"]
    assert not (tmp_path / "w").exists()  # failed before anything was written


def test_batch_larger_than_dataset_is_refused_before_compute(tmp_path, capsys):
    code = cli.main(["train", "--config.batch_size=5000", "--workdir", str(tmp_path / "w")])
    assert code == 2
    err = capsys.readouterr().err
    assert "config.batch_size" in err and "4000" in err
    assert not (tmp_path / "w").exists()


def test_help_explains_every_config_key(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = capsys.readouterr().out
    for key in ("--config.optimizer.lr=0.01", "--config.model.channels", "--config.data.seed",
                "--workdir", "FILE[:NAME]"):
        assert key in text
