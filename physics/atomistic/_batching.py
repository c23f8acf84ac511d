r"""Many configurations of different sizes, padded into a few size buckets for one compiled function.

Force matching evaluates a potential on thousands of reference configurations of, say, 30–250
atoms. Compiling one function per size would compile hundreds of times; padding everything to the
largest would waste most of the work on padding. The middle way: sort the configurations by atom
count and cut them into at most ``max_buckets`` groups, choosing the cuts (exactly, by dynamic
programming over the distinct sizes) to minimise the total padded atom count

.. math:: \sum_b n_b \, N_b ,

(:math:`n_b` configurations padded to :math:`N_b` atoms in bucket :math:`b`). Every configuration
of a bucket is padded to ``(N_b, K_b)`` (atoms, neighbour slots); padding atoms carry no neighbours
and a zero mask, so they add nothing to energies, forces or stresses. A bucket's configurations are
then one batch axis for ``vmap``, and the number of compiled bucket functions is the number of
buckets.

Neighbour lists are found once per configuration on the host (a k-d tree over the atoms and
their periodic images, as in :func:`physics.atomistic.neighbour_list`), in parallel processes for
large sets (fresh Python processes, so a user's unguarded script is never re-run), and can be
cached on disk: reference configurations never move, so a list is exact
for good, and a second run (or a second process of a distributed fit) reads it back.

Devices: the configuration axis of every bucket is padded to a multiple of the number of devices
and placed with a :class:`jax.sharding.NamedSharding` over a one-axis mesh ``("configuration",)``.
Across hosts (after ``jax.distributed.initialize``) the mesh holds every process's devices and each
process finds the neighbour lists of, and holds, only the rows its own devices own.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import os
import pathlib
import pickle
import subprocess
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._neighbours import _pairs
from ._structure import Structure
from calib._errors import CalibValueError

AXIS = "configuration"
"""Name of the mesh axis the configurations are sharded along."""

_CACHE_VERSION = 1
_PARALLEL_THRESHOLD = 1000  # below this many configurations, starting processes costs more


def size_buckets(n_atoms, max_buckets: int = 4) -> np.ndarray:
    """Bucket upper bounds (atom counts, ascending) minimising the total padded atom count.

    Args:
        n_atoms: atom count of every configuration, ``(C,)``.
        max_buckets: at most this many buckets.

    Returns:
        ``(B,)`` int array; configuration ``c`` goes to the first bucket whose bound is at least
        ``n_atoms[c]``.
    """
    if not (isinstance(max_buckets, (int, np.integer)) and max_buckets >= 1):
        raise CalibValueError(f"size_buckets: max_buckets must be an integer >= 1, got {max_buckets!r}")
    sizes, counts = np.unique(np.asarray(n_atoms, int), return_counts=True)
    u = len(sizes)
    buckets = min(int(max_buckets), u)
    below = np.concatenate([[0], np.cumsum(counts)])          # configurations smaller than size k
    # cost[b, k]: least padded atoms covering sizes[:k + 1] with b + 1 buckets, the last ending at k.
    cost = np.full((buckets, u), np.inf)
    cut = np.zeros((buckets, u), int)
    cost[0] = below[1:] * sizes
    for b in range(1, buckets):
        for k in range(u):
            for j in range(b - 1, k):                            # previous bucket ends at j
                value = cost[b - 1, j] + (below[k + 1] - below[j + 1]) * sizes[k]
                if value < cost[b, k]:
                    cost[b, k], cut[b, k] = value, j
    b = int(np.argmin(cost[:, u - 1]))
    bounds, k = [], u - 1
    while b >= 0:
        bounds.append(int(sizes[k]))
        k, b = cut[b, k], b - 1
    return np.array(bounds[::-1])


# ------------------------------------------------------------------------------- host neighbour lists

def _pairs_of(batch):
    """The pair lists of a batch of (positions, cell, pbc, radius)."""
    return [_pairs(*item) for item in batch]


def _in_subprocess(batch):
    """:func:`_pairs_of` in a fresh Python process (see ``_pair_worker`` for why not
    ``multiprocessing``)."""
    root = str(pathlib.Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "physics.atomistic._pair_worker"],
                          input=pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL),
                          capture_output=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"neighbour_pairs: a worker process failed:\n{done.stderr.decode()[-2000:]}")
    return pickle.loads(done.stdout)


def neighbour_pairs(structures: list[Structure], radius: float, *, workers: int | None = None,
                    cache: str | os.PathLike | None = None) -> tuple[list, dict]:
    """Pair lists ``(i, j, shift, counts)`` of every structure for ``radius`` (Å), all images.

    Args:
        structures: the configurations.
        radius: the list's radius, Å (the potential's cutoff: reference configurations never move).
        workers: host processes (default: the CPU count; 1 for a serial build). Sets smaller than
            1000 configurations are built serially, where starting processes costs more.
        cache: a directory; the lists are stored there under a hash of the configurations and the
            radius, and read back instead of rebuilt.

    Returns:
        ``(pairs, info)`` with ``info = {"seconds", "cached", "workers"}``.
    """
    start = time.perf_counter()
    path = None
    if cache is not None:
        digest = hashlib.sha256(f"v{_CACHE_VERSION} r={radius!r}".encode())
        for s in structures:
            for array in (s.positions, s.cell, np.asarray(s.pbc)):
                digest.update(np.ascontiguousarray(array).tobytes())
        path = pathlib.Path(cache) / f"neighbours-{digest.hexdigest()[:24]}.npz"
        if path.exists():
            with np.load(path) as stored:
                pairs = _unpack(stored)
            if len(pairs) == len(structures):
                return pairs, {"seconds": time.perf_counter() - start, "cached": True, "workers": 0}
    items = [(s.positions, s.cell, s.pbc, float(radius)) for s in structures]
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise CalibValueError(f"neighbour_pairs: workers must be >= 1, got {workers}")
    if workers == 1 or len(items) < _PARALLEL_THRESHOLD:
        pairs, used = _pairs_of(items), 1
    else:
        size = -(-len(items) // workers)
        batches = [items[k:k + size] for k in range(0, len(items), size)]
        with concurrent.futures.ThreadPoolExecutor(len(batches)) as pool:
            pairs = [p for batch in pool.map(_in_subprocess, batches) for p in batch]
        used = len(batches)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp.npz")
        np.savez(temporary, **_pack(pairs))
        os.replace(temporary, path)  # atomic: an interrupted run leaves no half-written cache
    return pairs, {"seconds": time.perf_counter() - start, "cached": False, "workers": used}


def _pack(pairs) -> dict:
    lengths = np.array([len(p[0]) for p in pairs])
    atoms = np.array([len(p[3]) for p in pairs])
    return {"i": np.concatenate([p[0] for p in pairs]).astype(np.int32),
            "j": np.concatenate([p[1] for p in pairs]).astype(np.int32),
            "shift": np.concatenate([p[2] for p in pairs]).astype(np.int8),
            "lengths": lengths, "atoms": atoms}


def _unpack(stored) -> list:
    out = []
    ends = np.cumsum(stored["lengths"])
    i, j, shift = stored["i"], stored["j"], stored["shift"].astype(float)
    for end, length, n in zip(ends, stored["lengths"], stored["atoms"]):
        i_c = i[end - length:end]
        out.append((i_c, j[end - length:end], shift[end - length:end], np.bincount(i_c, minlength=n)))
    return out


# ------------------------------------------------------------------------------------------ buckets

class Bucket(eqx.Module):
    """The padded arrays of one size bucket (a pytree of arrays, sharded along the first axis).

    ``B`` configurations (a multiple of the device count), ``N`` atoms and ``K`` neighbour slots.

    Attributes:
        positions: ``(B, N, 3)``, Å; cell: ``(B, 3, 3)``, Å.
        index: ``(B, N, K)`` int32 neighbour indices; ``N`` marks an empty slot.
        shift: ``(B, N, K, 3)`` int8 image shifts (small integers: 8× less memory than floats).
        species: ``(B, N)`` int32; atom_mask: ``(B, N)`` bool (false for padding atoms).
    """

    positions: jax.Array
    cell: jax.Array
    index: jax.Array
    shift: jax.Array
    species: jax.Array
    atom_mask: jax.Array


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where every configuration, atom and stress sits in the concatenated bucket outputs (host).

    Attributes:
        bounds: atom capacity ``N_b`` of each bucket; rows: configurations ``B_b`` of each bucket
            (with padding rows); capacity: neighbour slots ``K_b``.
        configuration_index: ``(C,)`` position of each configuration in the concatenated
            ``(sum_b B_b,)`` outputs.
        atom_index: ``(A,)`` position of each atom in the concatenated ``(sum_b B_b N_b,)`` outputs.
        real_atoms, padded_atoms: atoms of the data, and the slots the buckets hold for them.
    """

    bounds: tuple[int, ...]
    rows: tuple[int, ...]
    capacity: tuple[int, ...]
    configuration_index: np.ndarray
    atom_index: np.ndarray
    real_atoms: int
    padded_atoms: int

    @property
    def padding_fraction(self) -> float:
        """Share of the atom slots that are padding."""
        return 1.0 - self.real_atoms / self.padded_atoms


def configuration_mesh(devices=None) -> Mesh:
    """A one-axis mesh ``("configuration",)`` over ``devices`` (default every device of every
    process, ``jax.devices()``)."""
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise CalibValueError("configuration_mesh: no devices given")
    return Mesh(np.array(devices), (AXIS,))


def build_buckets(structures: list[Structure], radius: float, *, max_buckets: int = 4,
                  mesh: Mesh | None = None, workers: int | None = None, cache=None,
                  dtype=None) -> tuple[list[Bucket], Layout, dict]:
    """Pad ``structures`` into size buckets placed on ``mesh`` (see the module docstring).

    Each process finds the neighbour lists only of the configurations whose rows its devices own.

    Returns:
        ``(buckets, layout, info)``; ``info`` holds the host set-up time (``"neighbour_seconds"``,
        ``"packing_seconds"``), whether the lists came from the cache, and the worker count.
    """
    mesh = configuration_mesh() if mesh is None else mesh
    start = time.perf_counter()
    n_atoms = np.array([s.n_atoms for s in structures])
    bounds = size_buckets(n_atoms, max_buckets)
    which = np.searchsorted(bounds, n_atoms)
    devices = mesh.devices.size
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    dtype = jnp.result_type(float) if dtype is None else dtype
    members, owned = [], []
    for b in range(len(bounds)):
        member = np.flatnonzero(which == b)
        rows = -(-len(member) // devices) * devices
        member = np.concatenate([member, np.full(rows - len(member), -1)])  # -1: a padding row
        members.append(member)
        local = sharding.addressable_devices_indices_map((rows,))
        owned.append({device: np.arange(rows)[index] for device, index in local.items()})
    local_rows = sorted({int(c) for b in range(len(bounds)) for rows in owned[b].values()
                         for c in members[b][rows] if c >= 0})
    pairs, info = neighbour_pairs([structures[c] for c in local_rows], radius, workers=workers,
                                  cache=cache)
    pairs = dict(zip(local_rows, pairs))
    info = {"neighbour_seconds": info.pop("seconds"), **info}
    packing = time.perf_counter()
    capacity = _agreed_capacity([max([int(pairs[c][3].max(initial=0)) for c in members[b]
                                      if c in pairs], default=0) for b in range(len(bounds))])
    buckets = []
    for b, bound in enumerate(bounds):
        shape = (len(members[b]),)
        arrays = []
        for device, rows in owned[b].items():
            arrays.append(_pack_rows([structures[c] if c >= 0 else None for c in members[b][rows]],
                                     [pairs.get(int(c)) for c in members[b][rows]], int(bound),
                                     capacity[b], dtype))
        fields = {}
        for name in Bucket.__dataclass_fields__:
            pieces = [jax.device_put(a[name], d) for a, d in zip(arrays, owned[b])]
            global_shape = shape + pieces[0].shape[1:]
            fields[name] = jax.make_array_from_single_device_arrays(global_shape, sharding, pieces)
        buckets.append(Bucket(**fields))
    layout = _layout(n_atoms, bounds, members, capacity)
    info["packing_seconds"] = time.perf_counter() - packing
    info["setup_seconds"] = time.perf_counter() - start
    return buckets, layout, info


def _agreed_capacity(local: list[int]) -> list[int]:
    """Neighbour slots per bucket, the same on every process (the largest any process needs)."""
    local = np.maximum(np.asarray(local, np.int64), 1)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils
        local = np.max(np.asarray(multihost_utils.process_allgather(local)), axis=0)
    return [int(k) for k in local]


def _pack_rows(structures, pairs, n: int, k: int, dtype) -> dict:
    rows = len(structures)
    out = {"positions": np.zeros((rows, n, 3)), "cell": np.tile(np.eye(3), (rows, 1, 1)),
           "index": np.full((rows, n, k), n, np.int32), "shift": np.zeros((rows, n, k, 3), np.int8),
           "species": np.zeros((rows, n), np.int32), "atom_mask": np.zeros((rows, n), bool)}
    for row, (structure, pair) in enumerate(zip(structures, pairs)):
        if structure is None:
            continue                            # a padding row: no atoms, unit cell
        m = structure.n_atoms
        i, j, shift, counts = pair
        column = np.arange(len(i)) - np.repeat(np.cumsum(counts) - counts, counts)
        out["positions"][row, :m] = structure.positions
        out["cell"][row] = structure.cell
        out["index"][row, i, column] = j
        out["shift"][row, i, column] = shift
        out["species"][row, :m] = structure.species
        out["atom_mask"][row, :m] = True
    for name in ("positions", "cell"):
        out[name] = out[name].astype(dtype)
    return out


def _layout(n_atoms, bounds, members, capacity) -> Layout:
    configuration_index = np.zeros(len(n_atoms), np.int64)
    first = np.concatenate([[0], np.cumsum(n_atoms)[:-1]])
    atom_index = np.zeros(int(n_atoms.sum()), np.int64)
    row_offset = slot_offset = 0
    for bound, member in zip(bounds, members):
        for row, c in enumerate(member):
            if c < 0:
                continue
            configuration_index[c] = row_offset + row
            start = slot_offset + row * bound
            atom_index[first[c]:first[c] + n_atoms[c]] = start + np.arange(n_atoms[c])
        row_offset += len(member)
        slot_offset += len(member) * int(bound)
    return Layout(tuple(int(b) for b in bounds), tuple(len(m) for m in members), tuple(capacity),
                  configuration_index, atom_index, int(n_atoms.sum()), int(slot_offset))
