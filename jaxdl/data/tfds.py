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
import PIL.Image
import tensorflow_datasets as tfds
from tensorflow_datasets.core import file_adapters

from jaxdl.data import Dataset
from jaxdl.data import _util

__all__ = ["load", "Records", "clear_cache"]

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
        image_size: int = 0,
        max_in_memory_mb: int = 4096,
        mean: tuple[float, ...] = (0.0,),
        std: tuple[float, ...] = (1.0,),
) -> Dataset:
    """The tfds image dataset `dataset` as x float32 (n, H, W, C) in [0, 1] and y int32.

    dataset: a registered tfds name, optionally with config/version
    ("cifar10", "mnist:3.0.1"); it must have an Image feature of fixed shape
    and a ClassLabel feature (its supervised keys). data_dir: the folder the
    dataset was prepared in ("" = tfds' default: $TFDS_DATA_DIR or
    ~/tensorflow_datasets). train_split / test_split: tfds split strings,
    slices allowed ("train[:90%]", "train[90%:]"). max_train / max_test: keep
    only the first that many examples of the split, in the prepared files'
    fixed order (0 = all). image_size: > 0 resizes every image so that its
    shorter side is image_size, then crops its centre to image_size x image_size
    (needed for images that vary in size, the ImageNet shape; 0 = keep the
    fixed shape). max_in_memory_mb: a split that would take more than this
    decoded (float32) is not decoded up front but read from its files on
    demand (`Records`: what config.data.placement=stream reads batch by batch;
    0 = always). mean, std: per-channel normalisation of the [0, 1] pixels,
    x = (x - mean) / std, for training and test images alike (one value for every
    channel, or one per channel; e.g. CIFAR-10's (0.4914, 0.4822, 0.4465) and
    (0.2470, 0.2435, 0.2616); the defaults change nothing). num_classes comes from
    the ClassLabel feature.
    Raises FileNotFoundError (one line) when the dataset is not prepared in
    data_dir in a format readable without tensorflow.
    """
    dataset = _util.text("dataset", dataset)
    data_dir = _util.text("data_dir", data_dir, allow_empty=True)
    train_split = _util.text("train_split", train_split)
    test_split = _util.text("test_split", test_split)
    max_train = _util.nonnegative_int("max_train", max_train)
    max_test = _util.nonnegative_int("max_test", max_test)
    image_size = _util.nonnegative_int("image_size", image_size)
    max_in_memory_mb = _util.nonnegative_int("max_in_memory_mb", max_in_memory_mb)
    mean, std = _channels("mean", mean), _channels("std", std, positive=True)

    builder = _builder(dataset, data_dir)
    image_key, label_key = _supervised_keys(builder, dataset, image_size)
    channels = builder.info.features[image_key].shape[-1]
    for name, values in (("mean", mean), ("std", std)):
        if len(values) not in (1, channels):
            raise ValueError(f"{name} {values!r}: one value, or one per channel of the "
                             f"{channels}-channel images of {dataset!r}")
    normalize = None if mean == (0.0,) and std == (1.0,) else (mean, std)
    splits = []
    for split, limit, option in ((train_split, max_train, "train_split"),
                                 (test_split, max_test, "test_split")):
        reader = _Reader(_open(builder, split, option), image_key, label_key,
                         builder.info.features[image_key], image_size, limit, normalize)
        if nbytes(reader.shape, np.float32) > max_in_memory_mb * 2 ** 20:
            splits.append((Records(reader, "image"), Records(reader, "label")))
        else:  # decoded once per process; the caller gets its own float copy
            images, labels = _split(builder, split, limit, reader)
            splits.append((_to_input(images, normalize), labels.copy()))
    (x_train, y_train), (x_test, y_test) = splits
    return Dataset(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                   num_classes=int(builder.info.features[label_key].num_classes), name=dataset)


def nbytes(shape: tuple[int, ...], dtype: Any) -> int:
    return int(np.prod(shape)) * np.dtype(dtype).itemsize


class _Reader:
    """Examples of one split read from its files when asked for (and resized).
    Pickled to grain's workers with its source (which reopens its files there)."""

    def __init__(self, source: Any, image_key: str, label_key: str, feature: Any,
                 image_size: int, limit: int, normalize: tuple | None = None):
        self.source, self.keys, self.feature = source, (image_key, label_key), feature
        self.image_size, self.normalize = image_size, normalize
        n = min(limit, len(source)) if limit else len(source)
        side = (image_size, image_size) if image_size else feature.shape[:2]
        self.shape = (n, *side, feature.shape[-1])
        self.pixel_dtype = np.dtype(feature.np_dtype)
        self._last: tuple[bytes, np.ndarray, np.ndarray] | None = None

    def read(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(integer images, int32 labels) of the examples at `index`. The last read is kept:
        a batch's labels, asked for after its images, are not read again."""
        index = np.asarray(index, dtype=np.int64)
        if self._last is None or self._last[0] != index.tobytes():
            if index.size and (index.min() < 0 or index.max() >= self.shape[0]):
                raise IndexError(f"index out of range for {self.shape[0]} examples")
            images = np.empty((len(index), *self.shape[1:]), self.pixel_dtype)
            labels = np.empty(len(index), np.int32)
            for start in range(0, len(index), _CHUNK):
                part = [int(i) for i in index[start:start + _CHUNK]]
                for i, example in enumerate(self.source.__getitems__(part), start):
                    images[i] = self._image(example[self.keys[0]])
                    labels[i] = example[self.keys[1]]
            self._last = (index.tobytes(), images, labels)
        return self._last[1], self._last[2]

    def _image(self, image: np.ndarray) -> np.ndarray:
        """A decoded image (tfds decodes a record whole: with PIL, or OpenCV if present)."""
        return _resize_and_crop(image, self.image_size) if self.image_size else image

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_last": None}


class Records:
    """The images or labels of a split as an array-like read from its files on demand:
    `len`, `shape`, `dtype` and `x[index]` (rows decoded then; images as float32 in
    [0, 1], like a decoded split's), and `np.asarray(x)` decodes every row. What a
    streamed run reads batch by batch (`jaxdl.data.stream`)."""

    def __init__(self, reader: _Reader, field: str):
        self.reader, self.field = reader, field
        self.shape = reader.shape if field == "image" else reader.shape[:1]
        self.dtype = np.dtype(np.float32 if field == "image" else np.int32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        index = np.arange(len(self))[rows]  # any numpy row index: int, slice, array (n-d)
        images, labels = self.reader.read(np.ravel(index))
        values = _to_input(images, self.reader.normalize) if self.field == "image" else labels
        values = values.reshape(*np.shape(index), *values.shape[1:])
        return values[(slice(None),) * np.ndim(index) + tuple(rest)]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self[:]
        return values if dtype is None else values.astype(dtype)


def _resize_and_crop(image: np.ndarray, size: int) -> np.ndarray:
    """`image` (H, W, C) with its shorter side resized to `size` (bilinear), then its
    centre `size` x `size`: the usual evaluation view of an ImageNet-shaped image."""
    h, w = image.shape[:2]
    scale = size / min(h, w)
    new = (max(size, round(w * scale)), max(size, round(h * scale)))  # PIL: (width, height)
    channels = image.shape[-1]
    pil = PIL.Image.fromarray(image[..., 0] if channels == 1 else image)
    resized = np.asarray(pil.resize(new, PIL.Image.BILINEAR)).reshape(new[1], new[0], channels)
    top, left = (new[1] - size) // 2, (new[0] - size) // 2
    return resized[top:top + size, left:left + size]


def clear_cache() -> None:
    """Forget the decoded splits kept in memory (tests swap mocked data in and out)."""
    _CACHE.clear()


def _builder(dataset: str, data_dir: str) -> Any:
    """tfds' builder for `dataset`; reads only local metadata (tfds keeps GCS disabled)."""
    try:
        return tfds.builder(dataset, data_dir=os.path.expanduser(data_dir) if data_dir else None)
    except ValueError as err:  # incl. DatasetNotFoundError, whose message lists every dataset
        raise ValueError(f"dataset {dataset!r}: {_first_line(err)}") from None


def _supervised_keys(builder: Any, dataset: str, image_size: int = 0) -> tuple[str, str]:
    """The (image, label) feature names, checked to be a fixed-shape Image and a ClassLabel."""
    features = builder.info.features
    keys = builder.info.supervised_keys or ("image", "label")
    if not (isinstance(keys, tuple) and len(keys) == 2 and all(isinstance(k, str) and k in features for k in keys)):
        raise ValueError(f"dataset {dataset!r} is not an image classification dataset (supervised keys {keys!r})")
    image, label = features[keys[0]], features[keys[1]]
    if not (isinstance(image, tfds.features.Image) and isinstance(label, tfds.features.ClassLabel)):
        raise ValueError(f"dataset {dataset!r} is not an image classification dataset "
                         f"({keys[0]}: {type(image).__name__}, {keys[1]}: {type(label).__name__})")
    if not np.issubdtype(image.np_dtype, np.integer) or image.shape[-1] is None:
        raise ValueError(f"dataset {dataset!r}: images of shape {image.shape} and dtype {np.dtype(image.np_dtype)} "
                         "are not supported (need integer pixels and a known number of channels)")
    if None in image.shape and not image_size:
        raise ValueError(f"image_size 0: the images of {dataset!r} vary in size ({image.shape}); "
                         "set image_size (e.g. 224) to resize them")
    return keys


def _split(builder: Any, split: str, limit: int, reader: _Reader) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of `split`, decoded once per process and shared read-only."""
    cache_key = (os.fspath(builder.data_dir), split, limit, reader.image_size)
    if cache_key not in _CACHE:
        images, labels = reader.read(np.arange(reader.shape[0]))
        images.flags.writeable = labels.flags.writeable = False
        _CACHE[cache_key] = images, labels
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


def _to_input(images: np.ndarray, normalize: tuple | None) -> np.ndarray:
    """Integer pixels as float32 in [0, 1], then (x - mean) / std per channel if asked (a
    new array: callers may modify it)."""
    x = images.astype(np.float32) / np.float32(np.iinfo(images.dtype).max)
    if normalize is not None:
        mean, std = (np.asarray(v, np.float32) for v in normalize)
        x = (x - mean) / std
    return x


def _channels(name: str, values: Any, positive: bool = False) -> tuple[float, ...]:
    """A per-channel value: a non-empty sequence of finite numbers (> 0 if `positive`)."""
    if not isinstance(values, (tuple, list)) or not values:
        raise ValueError(f"{name} must be a non-empty tuple of numbers, one per channel, "
                         f"got {values!r}")
    low = 0.0 if positive else -np.inf
    return tuple(_util.number(name, v, low, low_open=positive) for v in values)


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
