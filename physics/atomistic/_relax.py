r"""Relaxation of atomic positions and of the cell, as differentiable equilibria.

The state of a relaxation is a dict with optional entries

- ``"positions"``: atom positions :math:`u` in the frame of the *reference* cell, ``(N, 3)``, Å;
- ``"strain"``: a homogeneous strain of the cell, either a scalar :math:`e` (hydrostatic,
  :math:`\varepsilon = e I`, keeps cubic symmetry) or six Voigt components
  :math:`(\varepsilon_{xx}, \varepsilon_{yy}, \varepsilon_{zz}, \gamma_{yz}, \gamma_{xz}, \gamma_{xy})`
  with engineering shears :math:`\gamma = 2\varepsilon`.

Atoms sit at :math:`r = u (I + \varepsilon)^T` in the cell :math:`C = C_{ref}(I + \varepsilon)^T`
(lattice vectors as rows), and the minimised enthalpy is :math:`E(r, C) + P\,\det C`. An extra
applied strain can be passed as an argument, which is how elastic constants are obtained: the
relaxed energy :math:`W(\varepsilon) = \min_u E` is differentiated twice in :math:`\varepsilon`,
its curvature including the internal relaxation by the implicit function theorem.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import calib

from ._cell3 import det3
from ._neighbours import Neighbours, neighbour_list, update_neighbours
from ._potential import Potential, potential_energy
from ._precondition import LatticePreconditioner, lattice_grid
from ._structure import Structure
from calib._errors import CalibValueError

CELL_MODES = (None, "hydrostatic", "full")


def voigt_to_tensor(strain) -> jax.Array:
    """Six Voigt components (engineering shears) to the symmetric ``(3, 3)`` strain tensor."""
    strain = jnp.asarray(strain)
    xx, yy, zz, yz, xz, xy = (strain[k] for k in range(6))
    return jnp.array([[xx, xy / 2, xz / 2], [xy / 2, yy, yz / 2], [xz / 2, yz / 2, zz]])


def _strain_tensor(strain) -> jax.Array:
    strain = jnp.asarray(strain)
    return strain * jnp.eye(3) if strain.ndim == 0 else voigt_to_tensor(strain)


@dataclasses.dataclass(frozen=True)
class RelaxationEnergy:
    """``energy(state, theta, reference_positions, reference_cell, neighbours, strain, pressure)``,
    in eV, for :func:`calib.equilibrium`: the enthalpy of the structure deformed by the state's
    strain plus the applied ``strain`` (a ``(3, 3)`` tensor) at ``pressure`` (eV/Å³)."""

    potential: Potential

    def __call__(self, state, theta, reference_positions, reference_cell, neighbours, strain,
                 pressure, *solver_data):
        # ``solver_data``: arrays only the solver reads (the preconditioner's grid sites).
        u = state.get("positions", reference_positions)
        total = strain + (_strain_tensor(state["strain"]) if "strain" in state else 0.0)
        deformation = jnp.eye(3) + total
        cell = reference_cell @ deformation.T
        energy = potential_energy(self.potential, u @ deformation.T, cell, theta, neighbours)
        return energy + pressure * jnp.abs(det3(cell))


def positions_nullspace(state) -> jax.Array:
    """Rigid translations of the ``"positions"`` entry, as ``(3, n)`` modes in the flattened order
    of ``state`` (other entries zero): the zero modes of a periodic crystal's Hessian."""
    modes = calib.translation_modes(state["positions"])
    others = jax.flatten_util.ravel_pytree({k: v for k, v in state.items() if k != "positions"})[0]
    # ravel_pytree orders dict keys: "positions" comes before "strain", so its modes come first.
    return jnp.concatenate([modes, jnp.zeros((3, others.size), modes.dtype)], axis=1)


def default_adjoint(relax_positions: bool, periodic: bool) -> calib.AbstractAdjoint:
    """Implicit differentiation with the rigid translations projected out when positions of a
    periodic structure relax (they leave the energy unchanged, so the Hessian is singular)."""
    if relax_positions and periodic:
        return calib.Implicit(nullspace=positions_nullspace)
    return calib.Implicit()


class Relaxed(NamedTuple):
    """A relaxed structure (JAX arrays, differentiable in θ).

    Attributes:
        positions: ``(N, 3)`` Å.  cell: ``(3, 3)`` Å.  energy: eV (enthalpy when pressure ≠ 0).
        solution: the :class:`calib.Solution` of the last solve (diagnostics). After an eager
            relaxation rebuilt its neighbour list, its state is relative to the geometry of that
            rebuild, not to the starting structure: read the geometry from ``positions`` and
            ``cell``.
        neighbours: the list used (the last one built).
    """

    positions: jax.Array
    cell: jax.Array
    energy: jax.Array
    solution: calib.Solution
    neighbours: Neighbours


def _is_concrete(*trees) -> bool:
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(trees))


def relax(potential: Potential, theta, structure: Structure, *, positions: bool = True,
          cell: str | None = None, pressure: float = 0.0, strain=None,
          reference_positions=None, reference_cell=None, neighbours: Neighbours | None = None,
          skin: float = 1.0, solver: calib.AbstractSolver | None = None,
          adjoint: calib.AbstractAdjoint | None = None, throw: bool = False, warn: bool = True,
          rebuilds: int = 10, precondition: bool = True) -> Relaxed:
    """Relax ``structure`` under ``potential`` with parameters ``theta``.

    Args:
        potential, theta: the energy model and its parameter dict.
        structure: starting atoms and cell (also fixes species and periodicity).
        positions: relax atom positions (otherwise they follow the cell affinely).
        cell: ``None`` (fixed cell), ``"hydrostatic"`` (one scalar strain) or ``"full"`` (six strain
            components) cell relaxation at ``pressure`` (eV/Å³).
        strain: an applied ``(3, 3)`` strain tensor (differentiable), default zero.
        reference_positions, reference_cell: traced replacements for ``structure``'s positions and
            cell (e.g. scaled to a relaxed lattice constant that depends on θ); the neighbour list
            is built from ``structure`` and checked against them.
        neighbours: a list to reuse; built from ``structure`` with ``skin`` (Å) if ``None``.
        solver: default ``calib.LBFGS(tol=1e-9)`` (eV/Å on positions, eV on strains).
        adjoint: default implicit differentiation with rigid translations projected out.
        throw: raise when the relaxation fails instead of warning (see :func:`calib.equilibrium`).
        warn: with ``throw=False``, warn (:class:`calib.NonConvergenceWarning`) when it fails;
            ``False`` leaves the failure in ``Relaxed.solution.result`` for the caller to report.
        rebuilds: when not traced, how many times to rebuild a neighbour list that went stale
            during the relaxation and continue.
        precondition: give an L-BFGS solver without a preconditioner the
            :class:`LatticePreconditioner` of ``structure`` when its atoms sit on a regular grid
            (crystals with defects), so the number of steps does not grow with the cell size.

    Returns:
        :class:`Relaxed`.
    """
    if cell not in CELL_MODES:
        raise CalibValueError(f"relax: cell must be one of {CELL_MODES}, got {cell!r}")
    if not positions and cell is None:
        raise CalibValueError("relax: nothing to relax (positions=False and cell=None)")
    potential.check_theta(theta)  # bad parameters are named here, before any solve
    if neighbours is None:
        neighbours = neighbour_list(structure, potential.cutoff, skin)
    ref_positions = jnp.asarray(structure.positions if reference_positions is None
                                else reference_positions)
    ref_cell = jnp.asarray(structure.cell if reference_cell is None else reference_cell)
    strain = jnp.zeros((3, 3), ref_cell.dtype) if strain is None else jnp.asarray(strain)
    state = {}
    if positions:
        state["positions"] = ref_positions
    if cell is not None:
        state["strain"] = jnp.zeros(() if cell == "hydrostatic" else (6,), ref_cell.dtype)
    solver = calib.LBFGS(tol=1e-9) if solver is None else solver
    solver_data = ()
    if (precondition and positions and isinstance(solver, calib.LBFGS)
            and solver.preconditioner is None):
        found = lattice_grid(structure)
        if found is not None:
            grid, sites = found
            solver = dataclasses.replace(solver, preconditioner=LatticePreconditioner(grid))
            solver_data = (jnp.asarray(sites),)
    adjoint = default_adjoint(positions, any(structure.pbc)) if adjoint is None else adjoint
    energy = RelaxationEnergy(potential)
    pressure = jnp.asarray(pressure, ref_cell.dtype)

    # Eager calls can check the list after each solve and retry; traced ones get a single solve,
    # whose failure (NaN energies beyond a stale list) calib reports.
    eager = _is_concrete(theta, ref_positions, ref_cell, strain, pressure)
    attempts = rebuilds + 1 if eager else 1
    for attempt in range(attempts):
        final = attempt == attempts - 1
        sol = calib.equilibrium(energy, state, theta, ref_positions, ref_cell, neighbours, strain,
                                pressure, *solver_data, solver=solver, adjoint=adjoint,
                                throw=throw and final, warn=warn and not eager)
        deformation = jnp.eye(3) + strain + (_strain_tensor(sol.x["strain"]) if cell else 0.0)
        u = sol.x.get("positions", ref_positions)
        relaxed_positions, relaxed_cell = u @ deformation.T, ref_cell @ deformation.T
        if final or int(sol.result) == calib.RESULTS.successful:
            break
        # Steps beyond a stale list see NaN energies, which stalls the solver: rebuild the list
        # around the last state it returned and continue from there (any other failure simply
        # recurs and is reported after the last attempt).
        current = structure.replace(positions=np.asarray(relaxed_positions),
                                    cell=np.asarray(relaxed_cell))
        neighbours, _ = update_neighbours(neighbours, current)
        ref_positions, ref_cell = jnp.asarray(current.positions), jnp.asarray(current.cell)
        strain = jnp.zeros_like(strain)
        state = jax.tree.map(jnp.zeros_like, sol.x)
        if positions:
            state["positions"] = ref_positions
    if eager and warn and not throw and int(sol.result) != calib.RESULTS.successful:
        warnings.warn(f"relax: {calib.RESULTS.message(int(sol.result))}", calib.NonConvergenceWarning,
                      stacklevel=2)
    return Relaxed(relaxed_positions, relaxed_cell, sol.energy, sol, neighbours)
