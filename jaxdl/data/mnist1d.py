"""MNIST-1D (Greydanus & Steinbach), made on the machine by the `mnist1d` generator.

The defaults are the package's own (`mnist1d.data.get_dataset_args()`), so
``load()`` returns the published dataset: 4000 train / 1000 test sequences of
40 floats, 10 classes, equal (after the cast to float32) to
``make_dataset(get_dataset_args())``. Change the generator's options to make
shifted test sets (``shear_scale``, ``iid_noise_scale``, ``scale_coeff``,
``max_translation``, ...) or fresh samples (another ``seed``, a larger
``num_samples``). The package's downloader (`get_dataset`) is never used.

Note for shift studies: the generator standardises each dataset it makes by
that dataset's own mean and std (over both splits), so e.g. more noise also
rescales the signal. That is the package's behaviour, kept on purpose.

Label noise (for double descent and memorisation studies) is ours, not the
generator's: ``label_noise`` is the probability that a *training* label is
redrawn uniformly from the 10 classes (as in the MNIST-1D repository's deep
double descent notebook, where 15% are redrawn, so about 13.5% change), from a
numpy Generator of its own ``label_noise_seed``; the inputs and the test labels
never change, and levels are nested (``_util.resample_labels``). With the
default 0.0 no draw is made and the published arrays come back unchanged.

A *mixture* training set (for "does shifted-source data help?" studies) appends
``mix_samples`` training signals made by the generator under other options,
``mix_shift`` (e.g. ``"shear_scale=1.5"``; several: ``"shear_scale=1.5,scale_coeff=1.0"``;
empty: the same distribution), with its own ``mix_seed``: the appended part is
exactly ``load(num_samples=mix_samples, train_split=1.0, seed=mix_seed, <shift>,
<the other options>).x_train`` — standardised by its own statistics, as the
generator makes every shifted set. The test set stays the unmixed one; label
noise, if any, is drawn over the whole mixed training set. With the default
``mix_samples=0`` nothing is generated or appended.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import os
import random
import tempfile
import threading
from typing import Any, Iterator

import numpy as np

from jaxdl.data import Dataset
from jaxdl.data import _util

__all__ = ["NUM_CLASSES", "load", "MIX_SHIFT_OPTIONS", "parse_shift", "cache_path"]

NUM_CLASSES = 10

# make_dataset seeds and draws from the *global* numpy/python RNGs, so two
# threads generating at once would interleave their draws.
_GENERATOR_LOCK = threading.Lock()


def load(
        num_samples: int = 5000,
        train_split: float = 0.8,
        template_len: int = 12,
        padding: tuple[int, int] = (36, 60),
        scale_coeff: float = 0.4,
        max_translation: int = 48,
        corr_noise_scale: float = 0.25,
        iid_noise_scale: float = 0.02,
        shear_scale: float = 0.75,
        shuffle_seq: bool = False,
        final_seq_length: int = 40,
        seed: int = 42,
        label_noise: float = 0.0,
        label_noise_seed: int = 0,
        mix_samples: int = 0,
        mix_shift: str = "",
        mix_seed: int = 1,
) -> Dataset:
    """MNIST-1D made by `mnist1d.data.make_dataset` with these generator options,
    then `label_noise` applied to the training labels.

    The options are the generator's (see `mnist1d.transform.transform`):
        num_samples       total examples, a multiple of 10 (equal counts per class)
        train_split       fraction in [0, 1] that goes to the training set (the
                          first examples after the generator's shuffle)
        padding           (low, high): zeros appended to the 12-point template
        template_len      the padded signal is resampled to template_len + high points
        scale_coeff       amplitude times 1 + scale_coeff * U(-0.5, 0.5), in [0, 2)
        max_translation   circular shift drawn from [0, max_translation)
        corr_noise_scale  std of the smoothed noise that fills the background
        iid_noise_scale   std of the white noise added everywhere
        shear_scale       linear trend of slope shear_scale * U(-0.5, 0.5)
        shuffle_seq       permute the positions (one permutation for all examples)
        final_seq_length  points per sequence
        seed              the generator's seed
        label_noise       probability in [0, 1] that a training label is redrawn
                          uniformly from the 10 classes (module doc); 0: none
        label_noise_seed  seed of the label-noise draws (independent of `seed`)
        mix_samples       training signals appended from the shifted generator (a
                          multiple of 10; module doc); 0: no mixture
        mix_shift         the shifted generator's options, "key=value[,key=value]" over
                          MIX_SHIFT_OPTIONS; the rest are this call's options
        mix_seed          the shifted generator's seed (not `seed`: the same seed would
                          redraw the same templates and noise)

    Returns x float32 (n, final_seq_length) and y int32 in [0, 10). Generated
    arrays are cached in-process; all arrays are read-only (shared by callers).
    """
    options = locals()
    noise = _util.number("label_noise", options.pop("label_noise"), 0.0, 1.0)
    noise_seed = _util.seed("label_noise_seed", options.pop("label_noise_seed"))
    mix = _mixture_options(options.pop("mix_samples"), options.pop("mix_shift"),
                           options.pop("mix_seed"), options)  # validated before generating
    arrays = _generate(tuple(_checked(options).items()))
    x_train, y_train = arrays["x"], arrays["y"]
    if mix is not None:
        shifted = _generate(mix)
        x_train = _util.frozen(np.concatenate([x_train, shifted["x"]]))
        y_train = _util.frozen(np.concatenate([y_train, shifted["y"]]))
    if noise > 0:
        y_train = _noisy_labels(y_train, noise, noise_seed)
    return Dataset(x_train=x_train, y_train=y_train, x_test=arrays["x_test"],
                   y_test=arrays["y_test"], num_classes=NUM_CLASSES, name="mnist1d")


# Generator options a mixture's shifted part may change (the shifts of
# experiments/accuracy_on_the_line.py); the others must match for the signals to stack.
MIX_SHIFT_OPTIONS = {"scale_coeff": float, "max_translation": int, "corr_noise_scale": float,
                     "iid_noise_scale": float, "shear_scale": float}


def _mixture_options(samples: Any, shift: Any, seed: Any, options: dict[str, Any]
                     ) -> tuple[tuple[str, Any], ...] | None:
    """The checked generator options of a mixture's shifted part (None: no mixture); a
    bad value raises ValueError naming its mix_* option."""
    samples = _util.nonnegative_int("mix_samples", samples)
    if samples % NUM_CLASSES:
        raise ValueError(f"mix_samples must be a multiple of {NUM_CLASSES}, got {samples}")
    changes = parse_shift(shift)
    seed = _util.seed("mix_seed", seed)
    if samples == 0:
        return None
    try:
        checked = _checked({**options, **changes})
    except ValueError as e:
        raise ValueError(f"mix_shift must be valid generator options: {e}") from None
    return tuple({**checked, "num_samples": samples, "train_split": 1.0, "seed": seed}.items())


def parse_shift(shift: Any) -> dict[str, Any]:
    """"shear_scale=1.5,scale_coeff=1.0" -> {"shear_scale": 1.5, "scale_coeff": 1.0};
    "" -> {}. Values are checked later, with the generator's own options."""
    _util.text("mix_shift", shift, allow_empty=True)
    changes: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in shift.split(","))):
        key, sep, raw = (part.strip() for part in item.partition("="))
        if not sep or key not in MIX_SHIFT_OPTIONS or key in changes:
            raise ValueError(f"mix_shift must be key=value pairs, each key once, over "
                             f"{', '.join(MIX_SHIFT_OPTIONS)}; got {shift!r}")
        try:
            changes[key] = MIX_SHIFT_OPTIONS[key](raw)
        except ValueError:
            what = "an integer" if MIX_SHIFT_OPTIONS[key] is int else "a number"
            raise ValueError(f"mix_shift must be key=value pairs: {key} needs {what}, got {raw!r}") from None
    return changes


def _noisy_labels(y: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """`y` with a fraction `noise` redrawn by `np.random.default_rng(seed)`, frozen like
    the cached arrays (not cached itself: two draws per label take microseconds)."""
    rng = np.random.default_rng(seed)
    return _util.frozen(_util.resample_labels(y, noise, NUM_CLASSES, rng))


def _checked(options: dict[str, Any]) -> dict[str, Any]:
    """The options, validated and normalised to the types make_dataset expects."""
    num_samples = _util.positive_int("num_samples", options["num_samples"])
    if num_samples % NUM_CLASSES:
        # The generator silently drops the remainder; ask for what you get.
        raise ValueError(f"num_samples must be a positive multiple of {NUM_CLASSES}, got {num_samples}")
    return {
            "num_samples": num_samples,
            "train_split": _util.number("train_split", options["train_split"], 0.0, 1.0),
            "template_len": _util.positive_int("template_len", options["template_len"]),
            "padding": _util.pair("padding", options["padding"]),
            # Scale factor 1 + s * U(-0.5, 0.5) stays positive only for s < 2.
            "scale_coeff": _util.number("scale_coeff", options["scale_coeff"], 0.0, 2.0, high_open=True),
            "max_translation": _util.positive_int("max_translation", options["max_translation"]),
            "corr_noise_scale": _util.number("corr_noise_scale", options["corr_noise_scale"], 0.0),
            "iid_noise_scale": _util.number("iid_noise_scale", options["iid_noise_scale"], 0.0),
            "shear_scale": _util.number("shear_scale", options["shear_scale"], 0.0),
            "shuffle_seq": _util.boolean("shuffle_seq", options["shuffle_seq"]),
            "final_seq_length": _util.positive_int("final_seq_length", options["final_seq_length"]),
            "seed": _util.seed("seed", options["seed"]),
    }


@functools.lru_cache(maxsize=8)
def _generate(options: tuple[tuple[str, Any], ...]) -> dict[str, np.ndarray]:
    """Run the generator once per distinct options; arrays frozen (shared by callers).

    Generated arrays are also kept on disk (`cache_path`): the generator is seeded, so
    the file holds exactly what it would make, and a later process skips importing
    mnist1d (matplotlib, ~2 s) and generating (~1 s per 5000 examples)."""
    path = cache_path(options)
    arrays = _read_cache(path) if path else None
    if arrays is None:
        arrays = _run_generator(options)
        if path:
            _write_cache(path, arrays)
    return {name: _util.frozen(array) for name, array in arrays.items()}


def _run_generator(options: tuple[tuple[str, Any], ...]) -> dict[str, np.ndarray]:
    from mnist1d import data as mnist1d_data  # late: mnist1d imports matplotlib (~2 s)
    from mnist1d.utils import ObjectView
    # padding travels as a tuple (hashable cache key); the package's default is a list.
    args = {key: (list(value) if isinstance(value, tuple) else value) for key, value in options}
    with _GENERATOR_LOCK, _global_rng_preserved():
        made = mnist1d_data.make_dataset(ObjectView(args))
    return {"x": made["x"].astype(np.float32), "y": made["y"].astype(np.int32),
            "x_test": made["x_test"].astype(np.float32), "y_test": made["y_test"].astype(np.int32)}


def cache_path(options: tuple[tuple[str, Any], ...]) -> str | None:
    """$JAXDL_DATA_CACHE (default ~/.cache/jaxdl/data; empty: no disk cache) /
    mnist1d-<hash of the generator options and the mnist1d version>.npz."""
    directory = os.environ.get("JAXDL_DATA_CACHE",
                               os.path.join(os.path.expanduser("~"), ".cache", "jaxdl", "data"))
    if not directory:
        return None
    try:
        version = importlib.metadata.version("mnist1d")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    key = json.dumps([version, [[k, list(v) if isinstance(v, tuple) else v] for k, v in options]])
    return os.path.join(directory, f"mnist1d-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz")


def _read_cache(path: str) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when absent or unreadable (then they are regenerated)."""
    try:
        with np.load(path) as saved:
            return {name: saved[name] for name in ("x", "y", "x_test", "y_test")}
    except (OSError, KeyError, ValueError):
        return None


def _write_cache(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Atomically (write, then rename): a reader never sees half a file. A cache that
    cannot be written (read-only home, full disk) is skipped, never an error."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp.npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass


@contextlib.contextmanager
def _global_rng_preserved() -> Iterator[None]:
    """Restore numpy's and python's global RNG states, which make_dataset reseeds.

    Without this, loading MNIST-1D would silently reset every other user of the
    global RNGs to the generator's seed.
    """
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
