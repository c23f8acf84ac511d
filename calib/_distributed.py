"""Start JAX's distributed runtime for a fit that spans several processes or hosts.

A distributed fit is the same script run once per process ("multi-controller"): every process
runs the same outer iterations on the same replicated values, while the expensive part of the
model (e.g. the configurations of a force-matching training set) is sharded over the devices of
all processes. :func:`initialize_distributed` connects the processes; it must run before anything
touches a JAX device.

Where the settings come from, first found wins:

1. the arguments;
2. ``CALIB_COORDINATOR`` (``host:port`` of process 0), ``CALIB_NUM_PROCESSES``,
   ``CALIB_PROCESS_ID``;
3. a cluster JAX detects itself (SLURM's ``srun``, Open MPI's ``mpirun``, Cloud TPU), when
   ``CALIB_NUM_PROCESSES`` is unset and the arguments are ``None``.

On CPUs the processes exchange data through gloo (TCP), which JAX ships with.
"""

from __future__ import annotations

import os

import jax

from ._errors import CalibValueError


def force_cpu_devices(count: int) -> None:
    """Split this process's CPU into ``count`` devices (for testing sharding on one machine).

    Must run before the first computation: the CPU backend reads it when it starts."""
    if not (isinstance(count, int) and count >= 1):
        raise CalibValueError(f"force_cpu_devices: count must be an integer >= 1, got {count!r}")
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError as err:
        raise CalibValueError(
            f"force_cpu_devices({count}): JAX has already started in this process, with "
            f"{jax.device_count()} device(s); call it first thing in the script (or set "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={count} before Python starts)") from err


def initialize_distributed(coordinator: str | None = None, processes: int | None = None,
                           process_id: int | None = None, *, local_devices: int | None = None) -> bool:
    """Join the distributed runtime; returns whether more than one process takes part.

    Args:
        coordinator: ``host:port`` where process 0 listens (every process gives the same).
        processes: the number of processes.
        process_id: this process's rank, ``0 … processes - 1``.
        local_devices: CPU devices to split this process into (:func:`force_cpu_devices`).

    With no arguments and no ``CALIB_*`` variables, a cluster launch that JAX detects is used;
    outside one, this is a single-process run and nothing is started.
    """
    if local_devices is not None:
        force_cpu_devices(int(local_devices))
    coordinator = coordinator or os.environ.get("CALIB_COORDINATOR")
    processes = processes if processes is not None else _integer("CALIB_NUM_PROCESSES")
    process_id = process_id if process_id is not None else _integer("CALIB_PROCESS_ID")
    if processes is None and coordinator is None:
        if not _cluster_launch():
            return False
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize()
        return jax.process_count() > 1
    if coordinator is None or processes is None or process_id is None:
        raise CalibValueError(
            "initialize_distributed: give all of coordinator ('host:port'), processes and process_id "
            "(or CALIB_COORDINATOR, CALIB_NUM_PROCESSES, CALIB_PROCESS_ID); got "
            f"coordinator={coordinator!r}, processes={processes!r}, process_id={process_id!r}")
    if not 0 <= process_id < processes:
        raise CalibValueError(f"initialize_distributed: process_id must be in 0 … {processes - 1}, "
                              f"got {process_id}")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=processes,
                               process_id=process_id)
    return processes > 1


def _integer(name: str) -> int | None:
    value = os.environ.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise CalibValueError(f"environment variable {name} must be an integer, got {value!r}") from None


def _cluster_launch() -> bool:
    """Whether this process was started by a launcher JAX can read (SLURM, Open MPI)."""
    slurm = int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_PROCID" in os.environ
    mpi = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1") or 1) > 1
    return slurm or mpi
