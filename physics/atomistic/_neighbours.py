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

    The list is *full*: a pair :math:`(i, j, n)` is listed in row :math:`i` and its reverse
    :math:`(j, i, -n)` in row :math:`j` (both found by one query, so up to round-off at the radius
    itself, where no pair can interact while the list is valid), so the force on an atom can be
    summed over its own row (see :mod:`._radial`).

    Attributes:
        index: neighbour atom indices, shape ``(N, capacity)``, int32; padding entries hold ``N``.
        image: which image shift each entry has, a row of ``images``, shape ``(N, capacity)``,
            int32 (0 on padding). Four bytes per entry instead of three floats: the list is read in
            full at every energy evaluation, so its size is memory traffic.
        images: the distinct image shifts :math:`n` (integers stored as floats), ``(K, 3)``.
        species: species code of every atom, shape ``(N,)``, int32.
        reference_positions: positions the list was built at, ``(N, 3)``, Å.
        reference_cell: cell the list was built at, ``(3, 3)``, Å.
        cutoff: the interaction cutoff, Å (static).
        skin: extra radius listed beyond the cutoff, Å (static).
    """

    index: jax.Array
    image: jax.Array
    images: jax.Array
    species: jax.Array
    reference_positions: jax.Array
    reference_cell: jax.Array
    cutoff: float = eqx.field(static=True)
    skin: float = eqx.field(static=True)

    @property
    def capacity(self) -> int:
        return int(self.index.shape[1])

    @property
    def shift(self) -> jax.Array:
        """Image shift :math:`n` of every entry, ``(N, capacity, 3)`` (integers stored as floats)."""
        return jnp.take(self.images, self.image, axis=0)

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


def _images(positions, cell, pbc, radius):
    """The atoms wrapped into the cell, and every periodic image that can lie within ``radius``
    of a point of the cell: ``(wrapped (N, 3), offset (N, 3), points (P, 3), owners (P,),
    shifts (P, 3))``, with ``offset`` the lattice translation that wrapped each atom."""
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
    return (wrapped, offset, np.concatenate(points), np.concatenate(owners),
            np.concatenate(shifts))


def _pairs(positions, cell, pbc, radius):
    """All (i, j, shift) with 0 < |r_j - r_i + shift C| < radius, over every image."""
    n = len(positions)
    wrapped, offset, points, owners, shifts = _images(positions, cell, pbc, radius)
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
    rows = _neighbour_rows(structure, cutoff + skin)
    most = int(rows[3].max(initial=0))
    if capacity is None:
        capacity = max(1, int(np.ceil(most * capacity_multiplier)))
    elif most > capacity:
        raise CalibValueError(f"neighbour_list: an atom has {most} neighbours within {cutoff + skin} Å but "
                              f"capacity={capacity}; pass capacity=None to size the list automatically")
    return _pack(structure, cutoff, skin, rows, capacity)


_KEY_BASE = 1 << 12  # image shifts up to ±2048 cells along each axis fit the integer keys


def _key(shift):
    """Integer shift vectors ``(..., 3)`` as one int64 each, linear in the shift (so keys of sums
    are sums of keys): a positional code in base ``2 * _KEY_BASE``."""
    s = np.rint(shift).astype(np.int64)
    width = 2 * _KEY_BASE
    return (s[..., 0] * width + s[..., 1]) * width + s[..., 2]


def _unkey(key):
    """Inverse of :func:`_key`, as floats ``(..., 3)``."""
    width = 2 * _KEY_BASE
    shifted = key + (_KEY_BASE * width + _KEY_BASE) * width + _KEY_BASE
    c = shifted % width - _KEY_BASE
    b = (shifted // width) % width - _KEY_BASE
    a = shifted // (width * width) - _KEY_BASE
    return np.stack([a, b, c], axis=-1).astype(float)


def _neighbour_rows(structure: Structure, radius: float):
    """Each atom's neighbours within ``radius``, as rows of a k-nearest-neighbour query of the
    k-d tree (C code, parallel over atoms): ``(index (N, k), shift keys (N, k), count (N,))``
    (keys: :func:`_key`), each row's neighbours sorted by index, then padding (index ``N``).
    ``k`` starts from the density and grows until every row has room to spare."""
    n = structure.n_atoms
    wrapped, offset, points, owners, shifts = _images(structure.positions, structure.cell,
                                                      structure.pbc, radius)
    if np.any(np.abs(offset) >= _KEY_BASE // 2):
        raise CalibValueError(f"neighbour_list: atoms lie {_KEY_BASE // 2} or more cells outside the "
                              "cell; wrap the positions into the cell first")
    tree = cKDTree(points)
    volume = abs(np.linalg.det(structure.cell))
    k = min(len(points), int(1.25 * n / volume * 4.0 / 3.0 * np.pi * radius ** 3) + 16)
    while True:
        distance, found = tree.query(wrapped, k=k, distance_upper_bound=radius, workers=-1)
        distance, found = distance.reshape(n, -1), found.reshape(n, -1)
        if k >= len(points) or np.all(np.isinf(distance[:, -1])):
            break
        k = min(len(points), 2 * k)
    # The query's rows come sorted by distance: column 0 is the atom itself, and a second zero
    # distance is an atom on top of another.
    touching = distance[:, 1] < 1e-8 if distance.shape[1] > 1 else np.zeros(n, bool)
    if np.any(touching) or not np.all(owners[found[:, 0]] == np.arange(n)):
        a = int(np.argmax(touching | (owners[found[:, 0]] != np.arange(n))))
        partners = [int(owners[q]) for q in tree.query_ball_point(wrapped[a], 1e-8)]
        b = next((o for o in partners if o != a), a)
        raise CalibValueError(f"neighbour_list: atoms {a} and {b} sit on top of each other (or on a "
                              "periodic image of each other); remove the duplicate")
    # Rows sorted by point: the points are grouped by image, each group in atom order, so a row's
    # gathers read memory in order.
    found = np.sort(np.where(np.isfinite(distance[:, 1:]), found[:, 1:], len(points)), axis=1)
    j = np.append(owners, n)[found]
    # The shift for the positions as given (unwrapped): d = r_j - r_i + shift C. Codes index
    # the distinct shifts; for atoms inside the cell they are those of the images (few).
    distinct, point_code = np.unique(_key(shifts), return_inverse=True)
    code = np.append(point_code.reshape(-1), 0)[found]
    if np.any(offset != 0):
        # Atoms outside the cell: shift = image - offset_j + offset_i. Both offsets take few
        # values: number every (image, offset_j, offset_i) combination and map the combinations
        # to their distinct shifts through a small table, instead of sorting the pairs' shifts.
        offsets, offset_code = np.unique(offset, axis=0, return_inverse=True)
        offset_code = offset_code.reshape(-1)
        m = len(offsets)
        combination = (code * m + np.append(offset_code, 0)[j]) * m + offset_code[:, None]
        shifts = (_unkey(distinct)[:, None, None, :] - offsets[None, :, None, :]
                  + offsets[None, None, :, :])
        distinct, table = np.unique(_key(shifts).reshape(-1), return_inverse=True)
        code = table.reshape(-1)[combination]
        # Keep the shifts that occur (a histogram, not a sort).
        present = np.bincount(code[j < n], minlength=len(distinct)) > 0
        code, distinct = (np.cumsum(present) - 1)[code], distinct[present]
    return j, code.astype(np.int32), distinct, np.sum(j < n, axis=1)


def _pack(structure, cutoff, skin, rows, capacity, images=None) -> Neighbours:
    """Rows of :func:`_neighbour_rows` cut or padded to ``capacity`` columns. ``images``: a table
    of shifts to keep when it holds every shift (same shapes, so jitted energies are reused after
    a rebuild)."""
    j, code, distinct, _ = rows
    n = structure.n_atoms
    width = j.shape[1]
    if width < capacity:
        j = np.concatenate([j, np.full((n, capacity - width), n, j.dtype)], axis=1)
        code = np.concatenate([code, np.zeros((n, capacity - width), code.dtype)], axis=1)
    index, code = j[:, :capacity], code[:, :capacity]
    table = _unkey(distinct)
    if images is not None:
        known = _key(np.asarray(images))
        where = {int(k): row for row, k in enumerate(known)}
        if all(int(k) in where for k in distinct):
            code = np.array([where[int(k)] for k in distinct], np.int32)[code]
            table = np.asarray(images)
    image = np.where(index < n, code, 0).astype(np.int32)
    return Neighbours(jnp.asarray(index, jnp.int32), jnp.asarray(image), jnp.asarray(table, float),
                      jnp.asarray(structure.species, jnp.int32), jnp.asarray(structure.positions),
                      jnp.asarray(structure.cell), float(cutoff), float(skin))


def update_neighbours(neighbours: Neighbours, structure: Structure,
                      capacity_multiplier: float = 1.2) -> tuple[Neighbours, bool]:
    """Rebuild the list at the positions and cell of ``structure`` (host).

    Keeps the capacity (and the table of image shifts, when it holds every new shift) when the new
    neighbour counts fit, so jitted energies are reused without recompiling; otherwise reallocates
    a list ``capacity_multiplier`` times the largest count.

    Returns:
        ``(neighbours, reallocated)``.
    """
    rows = _neighbour_rows(structure, neighbours.cutoff + neighbours.skin)
    most = int(rows[3].max(initial=0))
    fits = most <= neighbours.capacity
    capacity = neighbours.capacity if fits else max(1, int(np.ceil(most * capacity_multiplier)))
    return (_pack(structure, neighbours.cutoff, neighbours.skin, rows, capacity,
                  neighbours.images if fits else None), not fits)


def displacements(neighbours: Neighbours, positions: jax.Array, cell: jax.Array) -> jax.Array:
    """Separation vectors :math:`d_{ijn} = r_j - r_i + n\\,C`, shape ``(N, capacity, 3)``, Å.

    Padding entries hold arbitrary finite vectors; mask them with ``neighbours.mask``.
    """
    others = jnp.take(positions, neighbours.index, axis=0, mode="clip")
    return others - positions[:, None, :] + jnp.take(neighbours.images @ cell, neighbours.image, axis=0)


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
