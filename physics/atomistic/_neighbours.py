r"""Neighbour lists that count every periodic image.

A neighbour of atom :math:`i` is a pair :math:`(j, n)` of an atom and an integer image shift
:math:`n \in \mathbb{Z}^3`, with separation vector

.. math:: d_{ijn} = r_j - r_i + n\,\mathsf{C}

(:math:`\mathsf{C}` the cell, lattice vectors as rows). Listing the shift explicitly, instead of
taking the minimum image, is what makes small and primitive cells right when the cutoff exceeds
half the cell: atom :math:`j` may appear several times, once per image within range, and atom
:math:`i` may be its own neighbour through a lattice translation.

The list is built on the host (a k-d tree over the atoms and the images near the cell, so
:math:`O(N \log N)`) for the radius ``cutoff + skin`` and stored densely, ``(N, capacity)``, padded
with the index ``N``. It stays exact while no pair can have crossed into the cutoff from outside the
list: :func:`neighbours_valid` checks this under ``jit`` (atoms displaced by less than about half the
skin, cell strain bounded), and the energies return NaN when it fails, so a stale list is reported
by the solver (``RESULTS.nonfinite``) and never silently used. :func:`update_neighbours` rebuilds the
list at new positions, keeping its capacity (no recompilation) unless it overflows, in which case the
list is reallocated larger.
"""

from __future__ import annotations

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import cKDTree

from ._cell3 import inv3, smallest_singular_value3
from ._structure import Structure
from calib._errors import CalibValueError


class Neighbours(eqx.Module):
    """A dense neighbour list (a pytree; pass it to energies as an argument).

    Attributes:
        index: neighbour atom indices, shape ``(N, capacity)``, int32; padding entries hold ``N``.
        shift: image shifts :math:`n` (integers stored as floats), shape ``(N, capacity, 3)``.
        species: species code of every atom, shape ``(N,)``, int32.
        reference_positions: positions the list was built at, ``(N, 3)``, Å.
        reference_cell: cell the list was built at, ``(3, 3)``, Å.
        cutoff: the interaction cutoff, Å (static).
        skin: extra radius listed beyond the cutoff, Å (static).
    """

    index: jax.Array
    shift: jax.Array
    species: jax.Array
    reference_positions: jax.Array
    reference_cell: jax.Array
    cutoff: float = eqx.field(static=True)
    skin: float = eqx.field(static=True)

    @property
    def capacity(self) -> int:
        return int(self.index.shape[1])

    @property
    def mask(self) -> jax.Array:
        """``(N, capacity)`` bool: which entries are real neighbours (not padding)."""
        return self.index < self.index.shape[0]

    def count(self) -> np.ndarray:
        """Number of listed neighbours of each atom, ``(N,)`` (host)."""
        return np.sum(np.asarray(self.mask), axis=1)


def _perpendicular_widths(cell: np.ndarray) -> np.ndarray:
    volume = abs(np.linalg.det(cell))
    return np.array([volume / np.linalg.norm(np.cross(cell[(a + 1) % 3], cell[(a + 2) % 3]))
                     for a in range(3)])


def _pairs(positions, cell, pbc, radius):
    """All (i, j, shift) with 0 < |r_j - r_i + shift C| < radius, over every image."""
    n = len(positions)
    periodic = np.asarray(pbc, bool)
    fractional = positions @ np.linalg.inv(cell)
    offset = np.where(periodic, np.floor(fractional), 0.0)
    fractional = fractional - offset
    wrapped = fractional @ cell
    reach = np.where(periodic, np.ceil(radius / _perpendicular_widths(cell)), 0).astype(int)
    margin = radius / _perpendicular_widths(cell)
    points, owners, shifts = [], [], []
    for shift in itertools.product(*[range(-k, k + 1) for k in reach]):
        shift = np.asarray(shift, float)
        f = fractional + shift
        # Keep only the images that can be within `radius` of a point of the cell.
        near = np.all(~periodic | ((f >= -margin) & (f <= 1.0 + margin)), axis=1)
        points.append(wrapped[near] + shift @ cell)
        owners.append(np.nonzero(near)[0])
        shifts.append(np.broadcast_to(shift, (int(near.sum()), 3)))
    points, owners, shifts = np.concatenate(points), np.concatenate(owners), np.concatenate(shifts)
    found = cKDTree(wrapped).sparse_distance_matrix(cKDTree(points), radius, output_type="ndarray")
    i, k, distance = found["i"], found["j"], found["v"]
    j, shift = owners[k], shifts[k]
    self_pair = (i == j) & np.all(shift == 0, axis=1)
    overlap = (distance < 1e-8) & ~self_pair
    if np.any(overlap):
        a, b = int(i[overlap][0]), int(j[overlap][0])
        raise CalibValueError(f"neighbour_list: atoms {a} and {b} sit on top of each other (or on a "
                              "periodic image of each other); remove the duplicate")
    keep = ~self_pair
    i, j, shift = i[keep], j[keep], shift[keep]
    # Express the shift for the positions as given (unwrapped): d = r_j - r_i + shift C.
    shift = shift - offset[j] + offset[i]
    order = np.lexsort((j, i))
    return i[order], j[order], shift[order], np.bincount(i, minlength=n)


def neighbour_list(structure: Structure, cutoff: float, skin: float = 1.0,
                   capacity: int | None = None, capacity_multiplier: float = 1.2) -> Neighbours:
    """Build the neighbour list of ``structure`` for radius ``cutoff + skin`` (Å), all images.

    Args:
        structure: the atoms, cell and periodicity.
        cutoff: the potential's cutoff, Å.
        skin: how far (Å) beyond the cutoff to list, so the list survives displacements of up to
            about ``skin / 2`` without a rebuild.
        capacity: columns of the dense list; ``None`` takes the largest neighbour count times
            ``capacity_multiplier`` (room for density changes, so rebuilds rarely reallocate).
            A given capacity that is too small raises an error.
    """
    if not (np.isscalar(cutoff) and cutoff > 0):
        raise CalibValueError(f"neighbour_list: cutoff must be a positive length in Å, got {cutoff!r}")
    if not (np.isscalar(skin) and skin >= 0):
        raise CalibValueError(f"neighbour_list: skin must be a non-negative length in Å, got {skin!r}")
    if capacity_multiplier < 1:
        raise CalibValueError(f"neighbour_list: capacity_multiplier must be >= 1, got {capacity_multiplier}")
    pairs = _pairs(structure.positions, structure.cell, structure.pbc, cutoff + skin)
    most = int(pairs[3].max(initial=0))
    if capacity is None:
        capacity = max(1, int(np.ceil(most * capacity_multiplier)))
    elif most > capacity:
        raise CalibValueError(f"neighbour_list: an atom has {most} neighbours within {cutoff + skin} Å but "
                              f"capacity={capacity}; pass capacity=None to size the list automatically")
    return _dense(structure, cutoff, skin, pairs, capacity)


def _dense(structure, cutoff, skin, pairs, capacity) -> Neighbours:
    """Pack the sorted pairs of :func:`_pairs` into ``(N, capacity)`` padded arrays."""
    i, j, shift, counts = pairs
    n = structure.n_atoms
    column = np.arange(len(i)) - np.repeat(np.cumsum(counts) - counts, counts)
    index = np.full((n, capacity), n, np.int32)
    shifts = np.zeros((n, capacity, 3))
    index[i, column] = j
    shifts[i, column] = shift
    return Neighbours(jnp.asarray(index), jnp.asarray(shifts), jnp.asarray(structure.species, jnp.int32),
                      jnp.asarray(structure.positions), jnp.asarray(structure.cell), float(cutoff),
                      float(skin))


def update_neighbours(neighbours: Neighbours, structure: Structure,
                      capacity_multiplier: float = 1.2) -> tuple[Neighbours, bool]:
    """Rebuild the list at the positions and cell of ``structure`` (host).

    Keeps the capacity when the new neighbour counts fit, so jitted energies are reused without
    recompiling; otherwise reallocates a list ``capacity_multiplier`` times the largest count.

    Returns:
        ``(neighbours, reallocated)``.
    """
    pairs = _pairs(structure.positions, structure.cell, structure.pbc,
                   neighbours.cutoff + neighbours.skin)
    most = int(pairs[3].max(initial=0))
    fits = most <= neighbours.capacity
    capacity = neighbours.capacity if fits else max(1, int(np.ceil(most * capacity_multiplier)))
    return _dense(structure, neighbours.cutoff, neighbours.skin, pairs, capacity), not fits


def displacements(neighbours: Neighbours, positions: jax.Array, cell: jax.Array) -> jax.Array:
    """Separation vectors :math:`d_{ijn} = r_j - r_i + n\\,C`, shape ``(N, capacity, 3)``, Å.

    Padding entries hold arbitrary finite vectors; mask them with ``neighbours.mask``.
    """
    others = jnp.take(positions, neighbours.index, axis=0, mode="clip")
    return others - positions[:, None, :] + neighbours.shift @ cell


def neighbours_valid(neighbours: Neighbours, positions: jax.Array, cell: jax.Array) -> jax.Array:
    r"""Whether the list still contains every pair closer than the cutoff (a jit-able bool).

    A pair missing from the list was at least :math:`R = r_c + \text{skin}` apart at the reference.
    With positions pulled back to the reference cell, displaced by at most :math:`\delta` relative to
    their mean displacement, and the
    cell deformed by :math:`F` (:math:`C = C_{ref} F^T`), such a pair is now at least
    :math:`\sigma_{min}(F)\,(R - 2\delta)` apart, which must not fall below :math:`r_c`.
    """
    positions = jax.lax.stop_gradient(positions)
    cell = jax.lax.stop_gradient(cell)
    reference_cell = neighbours.reference_cell
    # Closed-form 3x3 algebra (see _cell3): this runs in every energy evaluation.
    f_transpose = inv3(reference_cell) @ cell
    pulled_back = positions @ (inv3(cell) @ reference_cell)
    moved = pulled_back - neighbours.reference_positions
    # Only relative motion matters (|u_j - u_i| <= 2 max_k |u_k - c| for any c): discount the
    # mean displacement, so a rigid drift of the whole crystal never invalidates the list.
    moved = moved - jnp.mean(moved, axis=0)
    delta = jnp.max(jnp.linalg.norm(moved, axis=-1), initial=0.0)
    stretch = smallest_singular_value3(f_transpose)
    reach = neighbours.cutoff + neighbours.skin
    return stretch * (reach - 2.0 * delta) >= neighbours.cutoff
