r"""Energies and explicit forces of pair and embedded-atom potentials, in cache-sized blocks.

Potentials whose energy depends on distances only through pair and density terms,

.. math:: E = \sum_i F_{s_i}(\rho_i) + \tfrac12 \sum_i \sum_{j \ne i} \phi_{s_i s_j}(r_{ij}),
          \qquad \rho_i = \sum_{j \ne i} f_{s_j}(r_{ij})

(pair potentials: :math:`F = 0`; embedded-atom potentials), describe themselves by
:class:`RadialTerms` (:meth:`Potential.radial_terms`), and :func:`radial_energy` evaluates them.

**Why not plain reverse-mode autodiff.** The reverse pass of a gather ``x[index]`` is a
scatter-add, and XLA materialises every per-pair intermediate of the energy (distances, exponentials,
cotangents) as a separate ``(N, capacity)`` array: on a CPU an energy-and-force evaluation cost
about ten times the energy alone. Here the forces are written out. On the *full* neighbour list
(:class:`~._neighbours.Neighbours`: every pair that can interact is listed as :math:`(i, j, n)`
and as :math:`(j, i, -n)`), the force on atom :math:`i` is a sum over its own row,

.. math:: F_i = \sum_{j} w_{ij}\, d_{ij}, \qquad
          w_{ij} = \frac{1}{r_{ij}}\Big[\phi'_{s_i s_j}(r_{ij}) + F'_{s_i}(\rho_i) f'_{s_j}(r_{ij})
          + F'_{s_j}(\rho_j) f'_{s_i}(r_{ij})\Big],

with :math:`d_{ij} = r_j - r_i + n\,C`: no scatter, only a gather of :math:`F'(\rho_j)` for the
embedded-atom term (a second pass over the list, as LAMMPS does with full lists). The derivatives
:math:`\phi'`, :math:`f'`, :math:`F'` are forward-mode derivatives of the element-wise functions.

**Blocks.** The rows are processed in blocks of about :data:`SLOTS_PER_BLOCK` list entries
(``lax.map``), so that a block's intermediates stay in cache; this alone made the CPU evaluation
several times faster than one pass over whole ``(N, capacity)`` arrays. On a GPU the whole list is
one block.

**Derivatives.** :func:`radial_energy` is a ``jax.custom_jvp`` function: its tangent is
:math:`-F\cdot\dot r + \partial_C E : \dot C + \partial_\theta E\cdot\dot\theta`, each part computed
only when its tangent is not a symbolic zero (a relaxation asks for positions only). The force and
virial code is plain JAX, so second derivatives (Hessian-vector products, the mixed
:math:`\partial^2 E/\partial r\,\partial\theta` of the implicit adjoint) differentiate it in turn,
and every order agrees with autodiff of :func:`~._potential.site_energies` (tested).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from ._neighbours import Neighbours, neighbours_valid

SLOTS_PER_BLOCK = 65536
"""List entries per block on a CPU (rows × capacity): intermediates of about 0.5 MB each."""


class RadialTerms(NamedTuple):
    r"""A potential of the embedded-atom form, as element-wise functions (θ already bound).

    Attributes:
        pair: ``pair(r, s_i, s_j)``: :math:`\phi_{s_i s_j}(r)`, eV, the whole pair energy (each
            pair is listed twice and counted with weight ½), symmetric in the species, truncated
            as the potential is. Arrays of one shape; ``r`` is 1 where no pair is.
        density: ``density(r, s_j)``: :math:`f_{s_j}(r)`, the density an atom of species ``s_j``
            contributes at distance ``r``; ``None`` for a pair potential.
        embedding: ``embedding(rho, s_i)``: :math:`F_{s_i}(\rho)`, eV; ``None`` for a pair
            potential.
        species_dependent_density: whether ``density`` depends on ``s_j`` (then the force needs
            it for both orientations of a pair).
    """

    pair: Callable
    density: Callable | None = None
    embedding: Callable | None = None
    species_dependent_density: bool = False


class _Evaluation(NamedTuple):
    energy: jax.Array
    forces: jax.Array | None  # (N, 3), eV/Å
    cell_gradient: jax.Array | None  # (3, 3), eV/Å: dE/dC at fixed Cartesian positions


def _derivative(fn, r, *args):
    """Value and element-wise derivative of an element-wise function of ``r``."""
    return jax.jvp(lambda x: fn(x, *args), (r,), (jnp.ones_like(r),))


def _rows_per_block(n_atoms: int, capacity: int) -> int:
    if jax.default_backend() != "cpu":
        return n_atoms
    return max(1, min(n_atoms, SLOTS_PER_BLOCK // max(capacity, 1)))


def _map_rows(body, n_atoms: int, capacity: int):
    """``body(start, size)`` on consecutive row blocks; its ``(size, ...)`` outputs joined to
    ``(N, ...)``. The last block starts at ``N - size`` (overlapping the one before), so every
    block has the same shape without padding the list."""
    size = _rows_per_block(n_atoms, capacity)
    count = -(-n_atoms // size)
    if count == 1:
        return body(jnp.asarray(0), size)
    starts = jnp.minimum(jnp.arange(count) * size, n_atoms - size)
    blocks = lax.map(lambda start: body(start, size), starts)
    overlap = count * size - n_atoms

    def join(b):
        return jnp.concatenate([b[:-1].reshape((-1,) + b.shape[2:]), b[-1, overlap:]])

    return jax.tree.map(join, blocks)


def _block_geometry(positions_t, image_vectors, neighbours, start, size, cutoff):
    """Separation components, distances and the interacting mask of rows ``start:start+size``."""
    n = positions_t.shape[1]
    index = lax.dynamic_slice_in_dim(neighbours.index, start, size)
    image = lax.dynamic_slice_in_dim(neighbours.image, start, size)
    own = lax.dynamic_slice_in_dim(positions_t, start, size, axis=1)
    d = [jnp.take(positions_t[a], index, mode="clip") - own[a][:, None]
         + jnp.take(image_vectors[:, a], image, mode="clip") for a in range(3)]
    r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    inside = (index < n) & (r2 < cutoff * cutoff)
    # 1 (not 0) outside, so no sqrt(0) and no division by 0 in any derivative.
    r = jnp.sqrt(jnp.where(inside, r2, 1.0))
    return index, image, d, r, inside


def evaluate(potential, positions, cell, theta, neighbours: Neighbours, *, forces: bool,
             cell_gradient: bool) -> _Evaluation:
    """Energy and, on request, forces ``(N, 3)`` and :math:`\\partial E/\\partial C` ``(3, 3)``
    of a potential with :class:`RadialTerms` (NaN when the list is stale)."""
    terms = potential.radial_terms(theta)
    n, capacity = neighbours.index.shape
    species = neighbours.species
    x = positions.T  # (3, N): one contiguous array per component
    image_vectors = neighbours.images @ cell  # (K, 3)
    cutoff = potential.cutoff
    eam = terms.embedding is not None

    valid = neighbours_valid(neighbours, positions, cell)
    want_derivatives = forces or cell_gradient

    def rows(start, size):
        index, image, d, r, inside = _block_geometry(x, image_vectors, neighbours, start, size,
                                                     cutoff)
        s_i = lax.dynamic_slice_in_dim(species, start, size)[:, None]
        s_j = jnp.take(species, index, mode="clip")
        return index, image, d, r, inside, s_i, s_j

    # Pass 1: pair energy per atom, and the density (embedded-atom form). A pair potential's
    # forces need nothing more, so they come from this pass too.
    def first(start, size):
        index, image, d, r, inside, s_i, s_j = rows(start, size)
        if eam or not want_derivatives:
            pair = jnp.sum(jnp.where(inside, terms.pair(r, s_i, s_j), 0.0), axis=1)
            rho = (jnp.sum(jnp.where(inside, terms.density(r, s_j), 0.0), axis=1) if eam
                   else jnp.zeros_like(pair))
            return 0.5 * pair, rho, None, None
        pair, slope = _derivative(terms.pair, r, s_i, s_j)
        pair = jnp.sum(jnp.where(inside, pair, 0.0), axis=1)
        return (0.5 * pair, jnp.zeros_like(pair)) + _force_sums(slope, d, r, inside, image)

    def _force_sums(slope, d, r, inside, image):
        w = jnp.where(inside, slope / r, 0.0)
        wd = [w * d[a] for a in range(3)]
        out_forces = jnp.stack([jnp.sum(c, axis=1) for c in wd], axis=-1) if forces else None
        virial = None
        if cell_gradient:
            # d = ... + n C, so dE/dC_ba = 1/2 sum over entries of n_b w d_a (both orientations).
            shift = [jnp.take(neighbours.images[:, b], image, mode="clip") for b in range(3)]
            virial = 0.5 * jnp.stack([jnp.stack([jnp.sum(shift[b] * wd[a], axis=1)
                                                 for a in range(3)], -1) for b in range(3)], -2)
        return out_forces, virial

    pair_energy, rho, out_forces, virial = _map_rows(first, n, capacity)
    site = pair_energy
    embedding_slope = None
    if eam:
        embedding, embedding_slope = _derivative(terms.embedding, rho, species)
        site = site + embedding
    energy = jnp.where(valid, jnp.sum(site), jnp.nan)
    if not want_derivatives:
        return _Evaluation(energy, None, None)

    if eam:
        # Pass 2: w_ij (the module docstring), with F'(rho) of both atoms of each pair.
        def second(start, size):
            index, image, d, r, inside, s_i, s_j = rows(start, size)
            _, slope = _derivative(terms.pair, r, s_i, s_j)
            _, density_slope = _derivative(terms.density, r, s_j)
            own_slope = lax.dynamic_slice_in_dim(embedding_slope, start, size)[:, None]
            their_slope = jnp.take(embedding_slope, index, mode="clip")
            if terms.species_dependent_density:
                _, reverse_slope = _derivative(terms.density, r, jnp.broadcast_to(s_i, r.shape))
            else:
                reverse_slope = density_slope
            slope = slope + own_slope * density_slope + their_slope * reverse_slope
            return _force_sums(slope, d, r, inside, image)

        out_forces, virial = _map_rows(second, n, capacity)

    def nan_unless_valid(a):
        return jnp.where(valid, a, jnp.nan)

    if forces:
        out_forces = nan_unless_valid(out_forces)
    if cell_gradient:
        virial = nan_unless_valid(jnp.sum(virial, axis=0))
    return _Evaluation(energy, out_forces, virial)


def _is_zero(tangent) -> bool:
    return all(type(t) is SymbolicZero for t in jax.tree.leaves(
        tangent, is_leaf=lambda t: type(t) is SymbolicZero))


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def radial_energy(potential, positions, cell, theta, neighbours: Neighbours) -> jax.Array:
    """Total energy, eV, of a potential with :class:`RadialTerms`; differentiable to any order in
    ``positions``, ``cell`` and ``theta`` (the module docstring)."""
    return evaluate(potential, positions, cell, theta, neighbours, forces=False,
                    cell_gradient=False).energy


def _radial_energy_jvp(potential, primals, tangents):
    positions, cell, theta, neighbours = primals
    d_positions, d_cell, d_theta, _ = tangents  # the list's arrays are constants of the energy
    moves, deforms = not _is_zero(d_positions), not _is_zero(d_cell)
    out = evaluate(potential, positions, cell, theta, neighbours, forces=moves,
                   cell_gradient=deforms)
    tangent = jnp.zeros_like(out.energy)
    if moves:
        tangent = tangent - jnp.vdot(out.forces, d_positions)
    if deforms:
        tangent = tangent + jnp.vdot(out.cell_gradient, d_cell)
    if not _is_zero(d_theta):
        # Forward mode through the energy alone: parameters are few, and no gather is transposed.
        d_theta = jax.tree.map(
            lambda t, p: jnp.zeros_like(p) if type(t) is SymbolicZero else t, d_theta, theta,
            is_leaf=lambda t: type(t) is SymbolicZero)
        tangent = tangent + jax.jvp(
            lambda th: evaluate(potential, positions, cell, th, neighbours, forces=False,
                                cell_gradient=False).energy, (theta,), (d_theta,))[1]
    return out.energy, tangent


radial_energy.defjvp(_radial_energy_jvp, symbolic_zeros=True)
