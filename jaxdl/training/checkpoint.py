"""Orbax checkpoints of the whole TrainState plus the config that made it.

    checkpoints = Checkpoints(f"{workdir}/checkpoints", keep=3)
    checkpoints.save(state, config)                 # async: returns once arrays are on the host
    state, config, step = checkpoints.restore_latest(abstract_state)

`orbax.checkpoint.CheckpointManager` (not the experimental v1 Checkpointer):
stable API, async saves, keep-N, and atomic finalisation — a step directory
is written under a temporary name and renamed only when complete, so a save
killed at any moment is never listed, and never loaded. The state is stored as
arrays (tensorstore) and the config as JSON: reading a workdir never unpickles
or executes anything.

Checksums. Each checkpoint also holds `digest` (JSON, in the same orbax Composite as
`state` and `config`, so it is finalised atomically with them): for every array of the
state, by its path, two uint32 words computed on device when the state is saved —

    words    the array's bits as uint32 (float32/int32 bitcast; 16- and 8-bit types
             bitcast to their unsigned type and widened; bool as 0/1; PRNG key arrays
             as their key data; 64-bit types as two words each; complex as re, im)
    weighted sum((2*i + 1) * words[i]) mod 2**32, i the row-major flat index
    plain    sum(words[i]) mod 2**32

Restoring recomputes the digest of what was read and compares: a checkpoint whose
arrays changed since they were saved (a flipped bit on disk or in transit) is treated
like an unreadable one — `restore_latest` warns, naming its step and directory, and
falls back to the previous checkpoint. A checkpoint saved before digests existed has
no `digest` item and restores unverified.

Why not sha256 of the bytes: the state may be sharded over devices and, in a
multi-process run, over processes — no host holds every byte, and gathering them would
cost a copy of the state per save. Wraparound uint32 addition is associative and
commutative, so the sums are reductions that XLA computes over any sharding, giving
every process the same few scalars from one small jitted call. Any single flipped bit
changes the weighted sum: flipping bit k of word i changes it by (2i+1) * 2**k, and an
odd number times 2**k (k < 32) is not 0 mod 2**32. (It is a checksum against damage,
not a cryptographic hash against tampering.)
"""
from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import sys
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from jaxdl import saved as saved_lib
from jaxdl.training import parallel

__all__ = ["disk_full", "NoUsableCheckpoint", "ChecksumMismatch", "DIGEST_FORMAT",
           "state_digest", "Checkpoints", "read_latest", "NoCheckpointAt", "read"]

# orbax logs every save at INFO through absl; keep the run's output readable.
logging.getLogger("absl").setLevel(logging.WARNING)


def disk_full(error: BaseException | str) -> bool:
    """Whether `error` (or its text) is a full disk, as Python (ENOSPC) or tensorstore
    (RESOURCE_EXHAUSTED) reports it."""
    text = str(error)
    return (getattr(error, "errno", None) == errno.ENOSPC
            or "RESOURCE_EXHAUSTED" in text or "No space left on device" in text)


def _not_disk_full(record: logging.LogRecord) -> bool:
    """Drop orbax's background-thread reports of a full disk (a traceback from every
    writer thread, hundreds of lines): the same error reaches the main thread, whose one
    line says what to do (cli.main)."""
    return not disk_full(record.getMessage() + (str(record.exc_info[1]) if record.exc_info else ""))


logging.getLogger("absl").addFilter(_not_disk_full)


class NoUsableCheckpoint(RuntimeError):
    """Checkpoints exist but none of them can be restored."""


class ChecksumMismatch(ValueError):
    """A checkpoint's arrays differ from the digest saved with them."""


DIGEST_FORMAT = "jaxdl-weighted-uint32-sum-v1"


def _path_name(path: tuple) -> str:
    """'params/Conv_0/kernel': the same for a TrainState (attributes, namedtuple fields,
    tuple indices) and for the nested dicts and lists orbax restores it as without one."""
    def name(entry):
        for attr in ("key", "name", "idx"):  # DictKey, GetAttrKey, SequenceKey/FlattenedIndexKey
            if hasattr(entry, attr):
                return str(getattr(entry, attr))
        return str(entry)
    return "/".join(name(entry) for entry in path)


def _words(x: jax.Array) -> jax.Array:
    """The bits of `x` as uint32 words (an array of x's shape, maybe with one more axis)."""
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        x = jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)
    if x.dtype == jnp.bool_:
        return x.astype(jnp.uint32)
    size = x.dtype.itemsize
    if size == 4:
        return jax.lax.bitcast_convert_type(x, jnp.uint32)
    if size in (1, 2):
        unsigned = jnp.uint8 if size == 1 else jnp.uint16
        return jax.lax.bitcast_convert_type(x, unsigned).astype(jnp.uint32)
    if size == 8:  # only with jax_enable_x64: two words, a trailing axis of 2
        return jax.lax.bitcast_convert_type(x, jnp.uint32)
    raise TypeError(f"no checksum for arrays of dtype {x.dtype}")


def _leaf_digest(x: jax.Array) -> jax.Array:
    """uint32[2]: (weighted, plain) sums of x's words mod 2**32; see the module docstring.
    Flat indices come from iotas of x's own shape (no reshape), so a sharded x stays as
    it is and the sums are XLA reductions over its shards."""
    words = _words(jnp.asarray(x))
    index = jnp.zeros(words.shape, jnp.uint32)
    for axis, n in enumerate(words.shape):
        index = index * jnp.uint32(n) + jax.lax.broadcasted_iota(jnp.uint32, words.shape, axis)
    weighted = jnp.sum(words * (index * jnp.uint32(2) + jnp.uint32(1)), dtype=jnp.uint32)
    return jnp.stack([weighted, jnp.sum(words, dtype=jnp.uint32)])


@functools.lru_cache(maxsize=None)
def _digest_fn(out_shardings: jax.sharding.Sharding | None) -> Callable:
    """The jitted digest of a dict of arrays (one per output placement: saves reuse it)."""
    def digest(leaves):
        return {k: _leaf_digest(v) for k, v in leaves.items()}
    return jax.jit(digest) if out_shardings is None else jax.jit(digest, out_shardings=out_shardings)


def state_digest(state: Any) -> dict[str, list[int]]:
    """{path: [weighted, plain]} of every array in `state` (a TrainState or the nested
    dicts it restores as without one: both give the same digest). One jitted call; every
    process of a multi-process run gets the same values."""
    leaves = {_path_name(path): leaf
              for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]}
    if not leaves:
        return {}
    out_shardings = None  # results replicated on the state's own mesh: every process reads them
    for leaf in leaves.values():
        sharding = getattr(leaf, "sharding", None)
        if isinstance(sharding, jax.sharding.NamedSharding):
            out_shardings = jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec())
            break
    sums = _digest_fn(out_shardings)(leaves)
    return {k: [int(w) for w in np.asarray(v.addressable_data(0) if isinstance(v, jax.Array)
                                           else v)]
            for k, v in sorted(sums.items())}


def _digest_problem(stored: dict, state: Any) -> str | None:
    """None if `state` matches the digest `stored` with it, else what differs."""
    if stored.get("format") != DIGEST_FORMAT:
        return f"unknown digest format {stored.get('format')!r}"
    expected, actual = stored["arrays"], state_digest(state)
    differ = sorted(k for k in actual if expected.get(k) != actual[k])
    if not differ:
        return None
    missing = [k for k in differ if k not in expected]
    what = "not in its digest" if len(missing) == len(differ) else "differ from its digest"
    return f"{len(differ)} of {len(actual)} arrays {what}, e.g. {differ[0]}"


def _args_save(state: Any, config: ml_collections.ConfigDict) -> ocp.args.Composite:
    digest = {"format": DIGEST_FORMAT, "arrays": state_digest(state)}
    return ocp.args.Composite(state=ocp.args.StandardSave(state),
                              config=ocp.args.JsonSave(saved_lib.to_saved(config)),
                              digest=ocp.args.JsonSave(digest))


@contextlib.contextmanager
def _quiet_absl():
    """orbax warns on every read-only manager that its directory is read-only: we asked."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class Checkpoints:
    """The checkpoints of one run directory."""

    def __init__(self, directory: str, keep: int = 3, *, read_only: bool = False):
        self.directory = os.path.abspath(directory)
        self._rejected: set[int] = set()  # steps restore_latest found damaged
        options = ocp.CheckpointManagerOptions(
            # read-only: the values orbax would force (and warn about) given up front
            max_to_keep=None if read_only else keep, create=not read_only,
            read_only=read_only, save_interval_steps=0 if read_only else 1,
            cleanup_tmp_directories=not read_only,  # partial saves of a killed run
            enable_async_checkpointing=True)
        with _quiet_absl() if read_only else contextlib.nullcontext():
            self._manager = ocp.CheckpointManager(self.directory, options=options)

    def steps(self) -> list[int]:
        """Steps of the complete checkpoints, oldest first."""
        return sorted(self._manager.all_steps())

    def save(self, state: Any, config: ml_collections.ConfigDict) -> None:
        """Start saving `state` at its step; training continues while files are written."""
        step = int(jax.device_get(state.step))
        if step in self._rejected:  # a damaged checkpoint of this step: never left as final
            self._set_aside(step)
        if step in self._manager.all_steps():  # e.g. a final save right after a periodic one
            return
        self._manager.save(step, args=_args_save(state, config), force=True)

    def _set_aside(self, step: int) -> None:
        """Move the damaged checkpoint at `step` to `<workdir>/checkpoints.damaged/` (kept,
        not deleted), so that the step is saved anew: a run that fell back past it and
        trained through it again must not end with it as its newest checkpoint."""
        self._rejected.discard(step)
        if not os.path.isdir(os.path.join(self.directory, str(step))):
            return  # gone already: e.g. --restart moved every checkpoint aside
        if jax.process_index() == 0:
            aside = os.path.join(os.path.dirname(self.directory), "checkpoints.damaged",
                                 f"{step}-{time.strftime('%Y%m%d-%H%M%S')}")
            os.makedirs(os.path.dirname(aside), exist_ok=True)
            os.replace(os.path.join(self.directory, str(step)), aside)
            print(f"jaxdl: warning: the damaged checkpoint at step {step} is moved to {aside}; "
                  f"saving step {step} anew", file=sys.stderr)
        parallel.sync("jaxdl: a damaged checkpoint is set aside")
        self._manager.reload()

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()

    def _unreadable(self, step: int, e: Exception) -> None:
        self._rejected.add(step)
        print(f"jaxdl: warning: checkpoint at step {step} in {self.directory} is "
              f"unreadable ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
              f"falling back to the previous one", file=sys.stderr)

    def saved_config(self, step: int) -> dict:
        """The config stored with the checkpoint at `step` (JSON only: no arrays read)."""
        return self._manager.restore(
            step, args=ocp.args.Composite(config=ocp.args.JsonRestore())).config

    def has_digest(self, step: int) -> bool:
        """Whether the checkpoint at `step` holds a digest (those saved before
        checksums existed do not)."""
        return os.path.isdir(os.path.join(self.directory, str(step), "digest"))

    def _check_files(self, step: int) -> None:
        """Refuse a step whose state lacks a file that every complete save writes (its
        metadata, the OCDBT manifests), before orbax reads it: with a manifest missing,
        tensorstore's failing reads print 'Event loop is closed' tracebacks although
        the error itself is caught."""
        state = os.path.join(self.directory, str(step), "state")
        if not os.path.isdir(state):
            return  # orbax names what is missing
        needed = ["_METADATA"]
        if os.path.exists(os.path.join(state, "manifest.ocdbt")) or any(
                n.startswith("ocdbt.process_") for n in os.listdir(state)):
            needed.append("manifest.ocdbt")
            needed += [os.path.join(n, "manifest.ocdbt") for n in os.listdir(state)
                       if n.startswith("ocdbt.process_")]
        missing = [n for n in needed if not os.path.isfile(os.path.join(state, n))]
        if missing:
            raise FileNotFoundError(f"{os.path.join(state, missing[0])} is missing")

    def restore(self, step: int, abstract_state: Any | None = None) -> tuple[Any, dict]:
        """(state, config dict) at `step`; without `abstract_state`, plain nested dicts.
        Raises ChecksumMismatch when the arrays read differ from the digest saved with them."""
        restore = (ocp.args.StandardRestore(abstract_state) if abstract_state is not None
                   else ocp.args.StandardRestore())
        self._check_files(step)
        items = dict(state=restore, config=ocp.args.JsonRestore())
        if self.has_digest(step):
            items["digest"] = ocp.args.JsonRestore()
        restored = self._manager.restore(step, args=ocp.args.Composite(**items))
        if "digest" in items:
            problem = _digest_problem(restored.digest, restored.state)
            if problem:
                raise ChecksumMismatch(problem)
        return restored.state, restored.config

    def restore_latest(self, abstract_for: Callable[[dict], Any] | None = None
                       ) -> tuple[Any, dict, int] | None:
        """(state, config, step) of the newest checkpoint that restores; warns about
        each newer one that does not. `abstract_for(config)` gives the state's shapes
        for the config saved with a checkpoint (None: restore plain nested dicts).

        Returns None when there are no checkpoints; raises NoUsableCheckpoint when
        there are some but none restores.
        """
        steps = self.steps()
        for step in reversed(steps):
            try:
                saved = self.saved_config(step) if abstract_for else None
            except Exception as e:  # noqa: BLE001 - orbax raises many types for damaged files
                self._unreadable(step, e)
                continue
            # Outside the try: a saved config that cannot be built (a component that cannot
            # be imported) is the config's error, reported as such, not a damaged checkpoint.
            abstract = abstract_for(saved) if abstract_for else None
            try:
                state, config = self.restore(step, abstract)
            except ChecksumMismatch as e:
                self._rejected.add(step)
                print(f"jaxdl: warning: checkpoint at step {step} in {self.directory} fails "
                      f"its checksum ({e}); falling back to the previous one", file=sys.stderr)
                continue
            except Exception as e:  # noqa: BLE001 - orbax/tensorstore: many types
                self._unreadable(step, e)
                continue
            return state, config, step
        if steps:
            raise NoUsableCheckpoint(
                f"none of the checkpoints in {self.directory} (steps {steps}) can be restored")
        return None


def read_latest(run_dir: str) -> tuple[Any, dict, int] | None:
    """(state as plain nested dicts, config, step) of the newest checkpoint that restores
    in the run directory `run_dir` (None: none saved), read-only and closed again: how
    another run's weights are read (warm starts, distillation teachers, pruning rounds)."""
    return read(os.path.join(run_dir, "checkpoints"), None)


class NoCheckpointAt(LookupError):
    """No checkpoint of the step asked for; the message lists the saved steps."""


def read(directory: str, abstract_for: Callable[[dict], Any] | None,
         step: int | None = None) -> tuple[Any, dict, int] | None:
    """(state, config, step) of the checkpoint at `step`, or (None) of the newest one that
    restores (None: none saved), read-only and closed again: nothing in `directory` is
    written. `abstract_for` as for `Checkpoints.restore_latest`."""
    checkpoints = Checkpoints(directory, read_only=True)
    try:
        if step is None:
            return checkpoints.restore_latest(abstract_for)
        if step not in checkpoints.steps():
            raise NoCheckpointAt(f"no checkpoint of step {step} in {directory} "
                                 f"(saved: {checkpoints.steps()})")
        abstract = abstract_for(checkpoints.saved_config(step)) if abstract_for else None
        return (*checkpoints.restore(step, abstract), step)
    finally:
        checkpoints.close()
