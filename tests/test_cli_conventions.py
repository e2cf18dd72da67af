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
