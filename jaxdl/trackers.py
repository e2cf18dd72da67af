"""Experiment trackers besides metrics.jsonl and TensorBoard: the section `config.trackers`.

    jaxdl train --config.trackers.use=wandb --config.trackers.wandb.project=mnist1d
    jaxdl train --config.trackers.use=mlflow,wandb   # both; "" (the default): neither

Each tracker is an optional extra (`pip install -e '.[wandb]'`, `'.[mlflow]'` in a jaxdl
checkout). `defaults()` is the section and `check(section)` its rules (an `OptionError`
naming the key, which config reports as `config.trackers.KEY: ...`); `check_installed`
(called by `loop.build`, before any compute) refuses a chosen tracker whose package is
missing in one line naming the extra. The writers themselves are in
jaxdl/training/writers.py. Every key here is free on resume (`resume.FREE_KEYS`): a run
may continue with other trackers, or none.
"""
from __future__ import annotations

import importlib.util

import ml_collections

from jaxdl.registry import require
from jaxdl.schema import ConfigError

__all__ = ["NAMES", "PACKAGES", "REQUIREMENTS", "WANDB_MODES", "defaults", "keys", "chosen",
           "check", "check_installed"]

NAMES = ("wandb", "mlflow")  # also the names of their extras in pyproject.toml
PACKAGES = {"wandb": "wandb", "mlflow": "mlflow"}  # the module each tracker imports
# pyproject.toml's extras, for the error line. MLflow's default store (sqlite:///mlflow.db)
# needs SQLAlchemy and alembic, which mlflow-skinny leaves out.
REQUIREMENTS = {"wandb": ("wandb>=0.31,<1",),
                "mlflow": ("mlflow-skinny>=3.18,<4", "sqlalchemy>=2,<3", "alembic>=1.13,<2")}
WANDB_MODES = ("", "online", "offline", "disabled")  # "": W&B's own (WANDB_MODE, or online)


def defaults() -> ml_collections.ConfigDict:
    """The section `config.trackers` of the default run: no tracker."""
    return ml_collections.ConfigDict(dict(
        use="",  # comma list of trackers: wandb, mlflow ("": none)
        wandb=ml_collections.ConfigDict(dict(
            project="",  # "": $WANDB_PROJECT, else "jaxdl"
            entity="",  # "": W&B's default entity (your user, or $WANDB_ENTITY)
            mode="",  # online | offline | disabled; "": $WANDB_MODE, else online
        )),
        mlflow=ml_collections.ConfigDict(dict(
            tracking_uri="",  # "": $MLFLOW_TRACKING_URI, else MLflow's (sqlite:///mlflow.db)
            experiment="",  # "": $MLFLOW_EXPERIMENT_NAME, else "jaxdl"
        )),
    ))


def keys() -> frozenset[str]:
    """Every key of the section, dotted from the config's root (`trackers.wandb.mode`)."""
    def walk(node: ml_collections.ConfigDict, prefix: str) -> list[str]:
        return [k for key, value in node.items() for k in (
            walk(value, f"{prefix}{key}.") if isinstance(value, ml_collections.ConfigDict)
            else [f"{prefix}{key}"])]
    return frozenset(walk(defaults(), "trackers."))


def chosen(section: ml_collections.ConfigDict) -> list[str]:
    """The trackers `section.use` names, in its order ("wandb, mlflow" -> both)."""
    return [name.strip() for name in section.use.split(",") if name.strip()]


def check(section: ml_collections.ConfigDict) -> None:
    """The rules of `section` (config.trackers): OptionError naming the key. Its structure
    and types are config's to check, before."""
    names = chosen(section)
    for name in names:
        require(name in NAMES, "use", f"unknown tracker {name!r}; known: {', '.join(NAMES)} "
                f"(metrics.jsonl and TensorBoard are always written)", section.use)
    require(len(set(names)) == len(names), "use", "names a tracker twice", section.use)
    require(section.wandb.mode in WANDB_MODES, "wandb.mode",
            f"must be one of {', '.join(map(repr, WANDB_MODES))}", section.wandb.mode)


def check_installed(section: ml_collections.ConfigDict) -> None:
    """ConfigError, one line naming the extra to install, if a chosen tracker's package
    is missing (looked up, not imported: importing mlflow takes seconds)."""
    for name in chosen(section):
        if importlib.util.find_spec(PACKAGES[name]) is None:
            raise ConfigError(
                f"config.trackers.use: {name!r} needs the {PACKAGES[name]} package, which is "
                f"not installed: pip install {' '.join(repr(r) for r in REQUIREMENTS[name])} "
                f"(in a checkout: pip install -e '.[{name}]')")
