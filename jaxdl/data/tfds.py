"""Real image-classification datasets (mnist, fashion_mnist, cifar10, ...) via tensorflow-datasets.

Reads a dataset already prepared in `data_dir` through tfds' random-access
data source (``DatasetBuilder.as_data_source``, ArrayRecord files), which
needs neither tensorflow nor the network. Nothing is ever downloaded:
`download_and_prepare` is never called. Prepare a dataset once on a machine
with network, where tensorflow is installed (tfds encodes the images with it):

    pip install tensorflow
    tfds build mnist --data_dir=~/tensorflow_datasets --file_format=array_record

or ``tfds.builder("mnist", data_dir=...).download_and_prepare(file_format="array_record")``,
then copy the folder. The default file format, tfrecord, can only be read
with tensorflow, so this module refuses it with a message saying so.
"""
from __future__ import annotations

import collections
import os
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core import file_adapters

from jaxdl.data import Dataset
from jaxdl.data import _util

__all__ = ["load", "clear_cache"]

# Decoded (uint8 images, int32 labels) per (variant dir, split, limit), kept
# across calls because decoding a split takes seconds (PIL, ~0.2 ms/image).
_CACHE: collections.OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = collections.OrderedDict()
_CACHE_SIZE = 4
_CHUNK = 1024  # records decoded per `__getitems__` call


def load(
        dataset: str = "mnist",
        data_dir: str = "",
        train_split: str = "train",
        test_split: str = "test",
        max_train: int = 0,
        max_test: int = 0,
) -> Dataset:
    """The tfds image dataset `dataset` as x float32 (n, H, W, C) in [0, 1] and y int32.

    dataset: a registered tfds name, optionally with config/version
    ("cifar10", "mnist:3.0.1"); it must have an Image feature of fixed shape
    and a ClassLabel feature (its supervised keys). data_dir: the folder the
    dataset was prepared in ("" = tfds' default: $TFDS_DATA_DIR or
    ~/tensorflow_datasets). train_split / test_split: tfds split strings,
    slices allowed ("train[:90%]", "train[90%:]"). max_train / max_test: keep
    only the first that many examples of the split, in the prepared files'
    fixed order (0 = all). num_classes comes from the ClassLabel feature.
    Raises FileNotFoundError (one line) when the dataset is not prepared in
    data_dir in a format readable without tensorflow.
    """
    dataset = _util.text("dataset", dataset)
    data_dir = _util.text("data_dir", data_dir, allow_empty=True)
    train_split = _util.text("train_split", train_split)
    test_split = _util.text("test_split", test_split)
    max_train = _util.nonnegative_int("max_train", max_train)
    max_test = _util.nonnegative_int("max_test", max_test)

    builder = _builder(dataset, data_dir)
    image_key, label_key = _supervised_keys(builder, dataset)
    x_train, y_train = _split(builder, train_split, max_train, (image_key, label_key), "train_split")
    x_test, y_test = _split(builder, test_split, max_test, (image_key, label_key), "test_split")
    return Dataset(x_train=_to_unit_float(x_train), y_train=y_train.copy(),
                   x_test=_to_unit_float(x_test), y_test=y_test.copy(),
                   num_classes=int(builder.info.features[label_key].num_classes), name=dataset)


def clear_cache() -> None:
    """Forget the decoded splits kept in memory (tests swap mocked data in and out)."""
    _CACHE.clear()


def _builder(dataset: str, data_dir: str) -> Any:
    """tfds' builder for `dataset`; reads only local metadata (tfds keeps GCS disabled)."""
    try:
        return tfds.builder(dataset, data_dir=os.path.expanduser(data_dir) if data_dir else None)
    except ValueError as err:  # incl. DatasetNotFoundError, whose message lists every dataset
        raise ValueError(f"dataset {dataset!r}: {_first_line(err)}") from None


def _supervised_keys(builder: Any, dataset: str) -> tuple[str, str]:
    """The (image, label) feature names, checked to be a fixed-shape Image and a ClassLabel."""
    features = builder.info.features
    keys = builder.info.supervised_keys or ("image", "label")
    if not (isinstance(keys, tuple) and len(keys) == 2 and all(isinstance(k, str) and k in features for k in keys)):
        raise ValueError(f"dataset {dataset!r} is not an image classification dataset (supervised keys {keys!r})")
    image, label = features[keys[0]], features[keys[1]]
    if not (isinstance(image, tfds.features.Image) and isinstance(label, tfds.features.ClassLabel)):
        raise ValueError(f"dataset {dataset!r} is not an image classification dataset "
                         f"({keys[0]}: {type(image).__name__}, {keys[1]}: {type(label).__name__})")
    if None in image.shape or not np.issubdtype(image.np_dtype, np.integer):
        raise ValueError(f"dataset {dataset!r}: images of shape {image.shape} and dtype {np.dtype(image.np_dtype)} "
                         "are not supported (need a fixed shape and integer pixels)")
    return keys


def _split(builder: Any, split: str, limit: int, keys: tuple[str, str], option: str
           ) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of `split`, decoded once per process and shared read-only."""
    cache_key = (os.fspath(builder.data_dir), split, limit)
    if cache_key not in _CACHE:
        _CACHE[cache_key] = _decode(_open(builder, split, option), limit, keys, builder.info.features)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(cache_key)
    return _CACHE[cache_key]


def _open(builder: Any, split: str, option: str) -> Any:
    """The random-access data source of `split`, or one clear line saying why there is none."""
    try:
        return builder.as_data_source(split=split)
    except (NotImplementedError, KeyError, ValueError) as err:  # what tfds raises for the cases below
        raise _explain(builder, split, option, err) from err


def _explain(builder: Any, split: str, option: str, err: Exception) -> Exception:
    name = builder.name
    root = os.fspath(getattr(builder, "_data_dir_root", builder.data_dir))
    if not builder.is_prepared():
        return FileNotFoundError(
                f"tfds dataset {name!r} is not prepared in data_dir {root!r} (no {os.fspath(builder.data_dir)}); "
                f"on a machine with network and tensorflow run: tfds build {name} --data_dir={root} "
                f"--file_format=array_record (or tfds.builder({name!r}, data_dir=...)"
                f".download_and_prepare(file_format='array_record')), then copy the folder here")
    if not builder.info.available_file_formats() & file_adapters.FileFormat.with_random_access():
        return FileNotFoundError(
                f"tfds dataset {name!r} in data_dir {root!r} is prepared as {builder.info.file_format.value}, "
                f"which needs tensorflow to read; prepare it again with --file_format=array_record")
    if isinstance(err, (KeyError, ValueError)):  # an unknown or malformed split
        return ValueError(f"{option} {split!r} of {builder.info.full_name}: {_first_line(err)}")
    return err


def _decode(source: Any, limit: int, keys: tuple[str, str], features: Any) -> tuple[np.ndarray, np.ndarray]:
    """The first `limit` (0 = all) examples of `source` as stacked, read-only arrays."""
    image_key, label_key = keys
    n = min(limit, len(source)) if limit else len(source)
    images = np.empty((n, *features[image_key].shape), dtype=features[image_key].np_dtype)
    labels = np.empty((n,), dtype=np.int32)
    for start in range(0, n, _CHUNK):
        # __getitems__ reads a chunk at once: ~3x faster than one record at a time.
        for i, example in enumerate(source.__getitems__(list(range(start, min(start + _CHUNK, n)))), start):
            images[i], labels[i] = example[image_key], example[label_key]
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def _to_unit_float(images: np.ndarray) -> np.ndarray:
    """Integer pixels as float32 in [0, 1] (a new array: callers may modify it)."""
    return images.astype(np.float32) / np.float32(np.iinfo(images.dtype).max)


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
