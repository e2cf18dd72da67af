"""Command-line conventions of `jaxdl` (issue 18, item 6): one flag style (kebab-case; the
old snake_case spellings still parse), `--config.KEY VALUE` as well as `--config.KEY=VALUE`."""
import argparse
import re

import pytest

from jaxdl import cli

KEBAB = re.compile(r"--[a-z0-9]+(-[a-z0-9]+)*")
# The spellings of before the rename: still accepted, never shown.
OLD_SPELLINGS = {"--init_from": ("--init-from", "runs/a"), "--num_processes": ("--num-processes", "2"),
                 "--process_id": ("--process-id", "1")}


def subparsers(parser, path=("jaxdl",)):
    """(command path, parser) for `parser` and every subparser below it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from subparsers(sub, (*path, name))


def shown_long_options(parser):
    return [s for a in parser._actions if a.help is not argparse.SUPPRESS
            for s in a.option_strings if s.startswith("--")]


def test_every_shown_long_option_is_kebab_case():
    commands = dict(subparsers(cli.parser()))
    assert {("jaxdl", c) for c in ("train", "sweep", "report", "overfit", "inspect", "bench")} \
        <= set(commands)  # the walk reaches every command
    for path, parser in commands.items():
        for option in shown_long_options(parser):
            assert KEBAB.fullmatch(option), f"{' '.join(path)}: {option} is not kebab-case"
        text = parser.format_help()
        for old in OLD_SPELLINGS:
            assert old not in text, f"{' '.join(path)} --help shows {old}"
    train = commands[("jaxdl", "train")].format_help()
    assert "--init-from RUN_DIR" in train and "--num-processes N" in train


@pytest.mark.parametrize("old", sorted(OLD_SPELLINGS))
def test_old_spellings_parse_to_the_same_value(old):
    new, value = OLD_SPELLINGS[old]
    dest = new[2:].replace("-", "_")
    parsed_old = cli.parser().parse_args(["train", old, value])
    parsed_new = cli.parser().parse_args(["train", new, value])
    assert vars(parsed_old) == vars(parsed_new)
    assert getattr(parsed_new, dest) == (int(value) if value.isdigit() else value)
    assert getattr(cli.parser().parse_args(["train", f"{old}={value}"]), dest) == \
        getattr(parsed_new, dest)
    assert getattr(cli.parser().parse_args(["train"]), dest) is None  # the default, once


# ---------------------------------------------------------------- --config.KEY VALUE

SPACED = ["--config.steps", "5", "--config.model.name", "mlp", "--config.optimizer.lr", "3e-3",
          "--config.model.width", "64"]
JOINED = ["--config.steps=5", "--config.model.name=mlp", "--config.optimizer.lr=3e-3",
          "--config.model.width=64"]


def test_a_space_and_an_equals_sign_give_the_same_config():
    rest, overrides = cli.split_overrides(["train", *SPACED, "--workdir", "w"])
    assert rest == ["train", "--workdir", "w"] and overrides == JOINED
    mixed = ["train", *SPACED[:4], "--no-progress", *JOINED[2:]]
    assert cli.split_overrides(mixed) == (["train", "--no-progress"], JOINED)
    spaced = cli.run_config(None, None, cli.split_overrides(SPACED)[1])
    assert spaced.to_dict() == cli.run_config(None, None, JOINED).to_dict()
    assert (spaced.steps, spaced.model.name, spaced.optimizer.lr) == (5, "mlp", 3e-3)


@pytest.mark.parametrize("key, value, message", [
    ("optimizer.lr", "-0.1", "config.optimizer.lr: must be a finite number > 0, got -0.1"),
    ("steps", "-5", "config.steps: must be in [1, 2147483647], got -5")])
def test_a_negative_number_is_a_value_that_validation_judges(tmp_path, capsys, key, value,
                                                             message):
    """`-0.1` does not start with `--`: it is the value, refused (or taken) as with `=`."""
    assert cli.split_overrides([f"--config.{key}", value]) == ([], [f"--config.{key}={value}"])
    errors = []
    for form in ([f"--config.{key}", value], [f"--config.{key}={value}"]):
        assert cli.main(["train", *form, "--workdir", str(tmp_path / "w")]) == 2
        errors.append(capsys.readouterr().err.strip().splitlines())
    assert errors[0] == errors[1] == [f"jaxdl: error: {message}"]
    assert not (tmp_path / "w").exists()  # refused before anything was written


@pytest.mark.parametrize("argv", [["--config.steps"], ["--config.steps", "--workdir", "W"],
                                  ["--config.steps", "--config.seed=1"]])
def test_an_override_without_a_value_is_one_line_naming_the_key(tmp_path, capsys, argv):
    argv = [a.replace("W", str(tmp_path / "w")) for a in argv]
    assert cli.main(["train", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["jaxdl: error: config.steps: no value; give --config.steps=VALUE or "
                   "--config.steps VALUE"]
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("command", [["inspect", "D"], ["report", "D"]])
def test_commands_that_read_files_refuse_an_override(tmp_path, capsys, command):
    directory = str(tmp_path / "d")
    assert cli.main([*(directory if a == "D" else a for a in command), "--config.steps", "5"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"jaxdl: error: --config.steps=5: `jaxdl {command[0]}` takes no config overrides "
        f"(only train, overfit, sweep do)"]
    assert list(tmp_path.iterdir()) == []
