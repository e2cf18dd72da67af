"""Devices and hosts: the mesh, where arrays live, and multi-process start-up.

The default data-parallel path is `jax.jit` over a `jax.make_mesh` mesh with
`NamedSharding`: the train state is replicated (or, with `parallel.fsdp > 1`,
its large leaves are split over the `fsdp` axis), each global batch is split
over all devices, and XLA inserts the gradient all-reduce. `parallel.mode =
'pmap'` runs the classic per-device program instead — `jax.shard_map` inside
`jax.jit`, which is what `jax.pmap` itself is in jax 0.10 — with the loss
averaged over devices (its gradient w.r.t. replicated params is then already
the all-reduced mean).

Multi-host: `initialize_distributed` starts JAX's own runtime (`jax.distributed`)
from an explicit coordinator, or with no arguments where the cluster describes the job
(a multi-task SLURM step, an OpenMPI `mpirun`, a TPU pod slice). Every process runs
every jitted computation on global arrays, in the same order (a program that one
process runs alone waits for, or mismatches, the others' collectives); only process 0
writes logs. Each device receives only its slice of each global batch, so results do
not depend on the process count. The training set is still held whole by every process
(`Run.device_data` replicates it); evaluation batches are not: each process builds only
the part its own devices hold (`process_block`, `place_local`).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Iterable, Mapping

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

__all__ = ["BATCH_AXES", "FSDP_MIN_SIZE", "ENV_COORDINATOR", "ENV_NUM_PROCESSES",
           "ENV_PROCESS_ID", "initialize_distributed", "is_primary", "sync", "any_process",
           "Placement", "make_placement", "place", "place_local", "process_block",
           "cluster_environment", "SLURM_VARIABLES", "OMPI_VARIABLES"]

BATCH_AXES = ("data", "fsdp")  # a global batch is split over every device
FSDP_MIN_SIZE = 2 ** 14  # smaller leaves stay replicated: splitting them costs more than it saves

ENV_COORDINATOR = "JAXDL_COORDINATOR"
ENV_NUM_PROCESSES = "JAXDL_NUM_PROCESSES"
ENV_PROCESS_ID = "JAXDL_PROCESS_ID"


def initialize_distributed(coordinator: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None) -> bool:
    """Join a multi-process run when asked to (flags or JAXDL_* env), or when the cluster
    describes one (`cluster_environment`: SLURM, OpenMPI, a TPU pod slice).

    Returns whether `jax.distributed` was initialized. Must run before any JAX
    computation. On CPU the collectives go through gloo.
    """
    coordinator = coordinator or os.environ.get(ENV_COORDINATOR)
    num_processes = num_processes or _int_env(ENV_NUM_PROCESSES)
    process_id = process_id if process_id is not None else _int_env(ENV_PROCESS_ID)
    if coordinator and (num_processes is None or process_id is None):
        raise ValueError("--coordinator needs --num-processes and --process-id "
                         f"(or {ENV_NUM_PROCESSES} and {ENV_PROCESS_ID})")
    cluster = None if coordinator else cluster_environment()
    if not (coordinator or cluster):
        return False
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if coordinator:  # explicit flags win over whatever the cluster says
        jax.distributed.initialize(coordinator, num_processes, process_id)
    else:  # jax's own detection fills in the coordinator, the count and this process's id;
        # named, so that it reads the cluster found here (an `mpirun` in a one-task `srun`
        # step looks like both); on TPU, jax chooses among its TPU environments
        jax.distributed.initialize(cluster_detection_method=JAX_CLUSTERS.get(cluster))
    return True


# What jax's cluster detection (jax/_src/clusters) reads. The job must also count more
# than one task: a job of one task stays out of jax.distributed (which would start a
# coordinator service on a port derived from the job id for nothing).
SLURM_VARIABLES = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
                   "SLURM_LOCALID")
OMPI_VARIABLES = ("OMPI_MCA_orte_hnp_uri", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK",
                  "OMPI_COMM_WORLD_LOCAL_RANK")
JAX_CLUSTERS = {"slurm": "slurm", "openmpi": "ompi"}  # cluster_environment -> jax's name


def cluster_environment(env: Mapping[str, str] | None = None) -> str | None:
    """'slurm', 'openmpi' or 'tpu' when the environment describes a job of several
    processes that `jax.distributed.initialize` can join with no coordinator, count or
    id given, else None.

    SLURM: an `srun` step of SLURM_NTASKS > 1 tasks (a batch script outside `srun` has
    no SLURM_STEP_NODELIST, so jax would not detect it: it stays one process). OpenMPI:
    `mpirun`/`mpiexec` of OMPI_COMM_WORLD_SIZE > 1 (jax reads the launcher's address from
    OMPI_MCA_orte_hnp_uri, which those launchers set). TPU: a pod slice of several workers.
    """
    env = os.environ if env is None else env
    if all(v in env for v in SLURM_VARIABLES) and _count(env["SLURM_NTASKS"]) > 1:
        return "slurm"
    if all(v in env for v in OMPI_VARIABLES) and _count(env["OMPI_COMM_WORLD_SIZE"]) > 1:
        return "openmpi"
    if "," in env.get("TPU_WORKER_HOSTNAMES", ""):  # jax reads the TPU metadata
        return "tpu"
    return None


def _count(value: str) -> int:
    """A task count from the environment; 1 (no multi-process start) if unreadable."""
    try:
        return int(value)
    except ValueError:
        return 1


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


def process_block(indices: Iterable[tuple[slice, ...]], shape: tuple[int, ...],
                  axis: int) -> slice:
    """The contiguous block along `axis` that a process's devices hold, given their
    `indices` into a global array of `shape` (`sharding.addressable_devices_indices_map`'s
    values): what that process must supply to `place_local`."""
    spans = {index[axis].indices(shape[axis])[:2] for index in indices}
    if not spans:  # none of this process's devices is in the mesh
        return slice(0, 0)
    start, stop = min(a for a, _ in spans), max(b for _, b in spans)
    if sum(b - a for a, b in spans) != stop - start:
        raise ValueError(f"this process's devices hold no contiguous block of axis {axis}: "
                         f"{sorted(spans)}")
    return slice(start, stop)


def place_local(local: np.ndarray, sharding: NamedSharding,
                global_shape: tuple[int, ...]) -> jax.Array:
    """A global array of `global_shape` from this process's part of it only (its
    `process_block`): no host holds the whole array."""
    return jax.make_array_from_process_local_data(sharding, np.asarray(local), global_shape)
