"""Devices and hosts: the mesh, where arrays live, and multi-process start-up.

The default data-parallel path is `jax.jit` over a `jax.make_mesh` mesh with
`NamedSharding`: the train state is replicated (or, with `parallel.fsdp > 1`,
its large leaves are split over the `fsdp` axis), each global batch is split
over all devices, and XLA inserts the gradient all-reduce. `parallel.mode =
'pmap'` runs the classic per-device program instead — `jax.shard_map` inside
`jax.jit`, which is what `jax.pmap` itself is in jax 0.10 — with the loss
averaged over devices (its gradient w.r.t. replicated params is then already
the all-reduced mean).

Multi-host: `initialize_distributed` starts JAX's own runtime
(`jax.distributed`); every process holds the whole (small) dataset on the host,
and each device receives only its slice of each global batch, so results do
not depend on the process count.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

__all__ = ["BATCH_AXES", "FSDP_MIN_SIZE", "ENV_COORDINATOR", "ENV_NUM_PROCESSES",
           "ENV_PROCESS_ID", "initialize_distributed", "is_primary", "sync", "any_process",
           "Placement", "make_placement", "place"]

BATCH_AXES = ("data", "fsdp")  # a global batch is split over every device
FSDP_MIN_SIZE = 2 ** 14  # smaller leaves stay replicated: splitting them costs more than it saves

ENV_COORDINATOR = "JAXDL_COORDINATOR"
ENV_NUM_PROCESSES = "JAXDL_NUM_PROCESSES"
ENV_PROCESS_ID = "JAXDL_PROCESS_ID"


def initialize_distributed(coordinator: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None) -> bool:
    """Join a multi-process run when asked to (flags or JAXDL_* env), or on a TPU pod.

    Returns whether `jax.distributed` was initialized. Must run before any JAX
    computation. On CPU the collectives go through gloo.
    """
    coordinator = coordinator or os.environ.get(ENV_COORDINATOR)
    num_processes = num_processes or _int_env(ENV_NUM_PROCESSES)
    process_id = process_id if process_id is not None else _int_env(ENV_PROCESS_ID)
    on_tpu_pod = "," in os.environ.get("TPU_WORKER_HOSTNAMES", "")
    if not (coordinator or on_tpu_pod):
        return False
    if coordinator and (num_processes is None or process_id is None):
        raise ValueError("--coordinator needs --num-processes and --process-id "
                         f"(or {ENV_NUM_PROCESSES} and {ENV_PROCESS_ID})")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if coordinator:
        jax.distributed.initialize(coordinator, num_processes, process_id)
    else:  # TPU pod slice: jax reads the topology from the TPU metadata
        jax.distributed.initialize()
    return True


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def is_primary() -> bool:
    """Process 0 writes logs and results; every process takes part in checkpoints."""
    return jax.process_index() == 0


def sync(name: str) -> None:
    """Every process waits here until all have arrived (a no-op in one process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def any_process(flag: bool) -> bool:
    """Whether `flag` is true in any process: every process gets the same answer, so all
    can act on it at the same step (e.g. a SIGTERM that reached only one host)."""
    if jax.process_count() == 1:
        return flag
    return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a run's arrays live on its mesh."""
    mesh: jax.sharding.Mesh
    mode: str  # 'jit' or 'pmap'

    @property
    def num_devices(self) -> int:
        return self.mesh.devices.size

    def topology(self) -> dict[str, int]:
        """What a run's bits depend on besides its config: how many devices the batch is
        split over (the all-reduce sums in another order), and in how many processes."""
        return {"devices": self.num_devices, "processes": jax.process_count()}

    @property
    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, P())

    @property
    def batch(self) -> NamedSharding:
        """Leading (batch) dimension split over every device."""
        return NamedSharding(self.mesh, P(BATCH_AXES))

    def eval_batches(self) -> NamedSharding:
        """Stacked eval batches (num_batches, batch, ...): each batch split over devices."""
        return NamedSharding(self.mesh, P(None, BATCH_AXES))

    def state(self, abstract_state: Any) -> Any:
        """Sharding of every leaf of the train state: replicated, or split over `fsdp`."""
        fsdp = self.mesh.shape["fsdp"]
        return jax.tree.map(lambda leaf: self._leaf(leaf, fsdp), abstract_state)

    def _leaf(self, leaf: Any, fsdp: int) -> NamedSharding:
        shape = getattr(leaf, "shape", ())
        if fsdp == 1 or int(np.prod(shape)) < FSDP_MIN_SIZE:
            return self.replicated
        dims = [d for d in np.argsort(shape)[::-1] if shape[d] % fsdp == 0]
        if not dims:
            return self.replicated
        spec = [None] * len(shape)
        spec[int(dims[0])] = "fsdp"  # the largest dimension that divides
        return NamedSharding(self.mesh, P(*spec))


def make_placement(parallel: Any, batch_size: int) -> Placement:
    """The mesh that config section `parallel` asks for; checks the batch divides."""
    available = jax.device_count()
    fsdp = parallel.fsdp
    data = parallel.data or available // fsdp
    devices = data * fsdp
    if devices > available or devices == 0:
        raise ValueError(f"config.parallel: data={data} x fsdp={fsdp} devices asked for, "
                         f"{available} available")
    if batch_size % devices:
        raise ValueError(f"config.batch_size: {batch_size} does not divide over {devices} "
                         f"devices (data={data} x fsdp={fsdp})")
    if parallel.mode == "pmap" and fsdp > 1:
        raise ValueError("config.parallel.fsdp: pmap mode replicates params; use mode=jit "
                         "for fsdp > 1")
    # A subset (the first data x fsdp devices) leaves the rest free, e.g. for comparisons.
    mesh = jax.make_mesh((data, fsdp), ("data", "fsdp"), axis_types=(AxisType.Auto,) * 2,
                         devices=jax.devices()[:devices])
    return Placement(mesh=mesh, mode=parallel.mode)


def place(x: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global array from a host array that every process holds in full: each device
    receives only its own slice."""
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])
