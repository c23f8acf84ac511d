r"""Relaxed crystal properties, each a differentiable function of the potential's parameters θ.

Every property starts from the zero-pressure lattice constant :math:`a_0(\theta)` (a hydrostatic
cell relaxation of the conventional cell, positions relaxed too) and relaxes whatever else it needs;
all relaxations go through :func:`calib.equilibrium`, so ``jax.grad`` and ``jax.jacfwd`` of a
property differentiate the nested equilibria by the implicit function theorem (no finite
differences, no backpropagation through solver iterations).

Units at the interface: lengths in Å, energies in eV, moduli in GPa, surface energies in J/m².
Crystals are named by ``lattice`` (``"fcc"``, ``"bcc"``, ``"diamond"``) and a starting guess of the
cubic lattice constant ``guess`` (Å), which also fixes where neighbour lists are built: keep it
within a few per cent of the answer (under ``jit``/``grad`` a list that goes stale cannot be
rebuilt, and the property comes out NaN with a solver warning). Crystals are of one element,
species code 0: for a multi-element tabulated EAM, the properties are those of its first element.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import calib
from calib._errors import CalibValueError

from ._lattice import bcc, diamond, fcc, remove_atom, surface_slab
from ._neighbours import displacements, neighbour_list
from ._potential import Potential, potential_energy
from ._relax import Relaxed, _is_concrete, relax, voigt_to_tensor
from ._structure import Structure
from ._units import EV_PER_A2_IN_J_PER_M2, EV_PER_A3_IN_GPA

LATTICES: dict[str, Callable[..., Structure]] = {"fcc": fcc, "bcc": bcc, "diamond": diamond}
VACANCY_CONDITIONS = ("constant_volume", "zero_pressure", "unrelaxed")


def _crystal(lattice: str, guess: float, cells=1) -> Structure:
    if lattice not in LATTICES:
        raise CalibValueError(f"lattice must be one of {sorted(LATTICES)}, got {lattice!r}; for other "
                              "structures use physics.atomistic.relax directly")
    return LATTICES[lattice](guess, cells)


def _dispatch(core, theta, *static):
    """``core(theta, *static)``: directly when θ is concrete (the relaxations can then rebuild
    their neighbour lists between solves), else through one ``jax.jit`` of ``core`` per static
    configuration, shared by every call. Under an eager ``jax.grad``/``jacfwd``/``vmap`` this
    compiles the whole property as one program (forward and backward) instead of each solve, its
    derivative rules and every operation between them separately; inside a user's ``jit`` it is
    inlined."""
    if _is_concrete(theta):
        return core(theta, *static)
    # A fit's adjoint= option is read when a solve is traced, so each choice gets its own compiled
    # property (one shared jit would keep the adjoint of its first trace).
    return _compiled(core, repr(calib.active_adjoint_override()))(theta, *static)


@functools.cache
def _compiled(core, adjoint_override: str):
    arguments = len(inspect.signature(core).parameters)
    return jax.jit(core, static_argnums=tuple(range(1, arguments)))


def _static_cells(cells):
    return tuple(int(c) for c in cells) if isinstance(cells, (list, tuple)) else int(cells)


def isolated_atom_energy(potential: Potential, theta, species: int = 0) -> jax.Array:
    """Energy of one atom with no neighbours, eV (0 for pair potentials; :math:`F(0)` for EAM)."""
    r = jnp.ones((1, 1))
    d = jnp.zeros((1, 1, 3))
    codes = jnp.full((1,), species, jnp.int32)
    return potential.site_energies(theta, r, d, jnp.zeros((1, 1), bool), codes, codes[:, None])[0]


def _poison(value, ok):
    """``value`` where ``ok``, else NaN, and NaN in every derivative too (``jnp.where`` alone would
    give a failed property a zero gradient, which an optimiser would take at face value)."""
    return value * jnp.where(ok, 1.0, jnp.nan)


class _Bulk(NamedTuple):
    """The zero-pressure conventional cell every property starts from.

    ``scale`` and ``relaxed`` are the relaxation's own (finite) numbers even when it was refused, so
    the relaxations that build on them do not fail a second time with warnings of their own; each
    property passes its result through :meth:`poison` instead.
    """

    scale: jax.Array
    """a0 / guess."""
    relaxed: Relaxed
    """The relaxation."""
    unit: Structure
    """The conventional cell at the guess."""
    ok: jax.Array
    """Whether the cell was accepted (bool)."""
    context: dict
    """Static words for warnings: the caller, lattice, guess, potential and skin."""

    def poison(self, value):
        return _poison(value, self.ok)


# Why a zero-pressure cell is refused (0: it is fine).
_RELAXATION_FAILED, _UNBOUND, _NOT_A_MINIMUM = 1, 2, 3


def _relaxed_bulk(potential, theta, lattice, guess, skin, solver, caller) -> _Bulk:
    """Relax the conventional cell at zero pressure (computed once by :func:`crystal_properties`).

    Refused, with NaN and a warning from ``caller``, when the relaxation failed or stopped where no
    two atoms interact (the truncated energy is flat there: a stationary point, but not a0).
    """
    unit = _crystal(lattice, guess)
    relaxed = relax(potential, theta, unit, positions=True, cell="hydrostatic", skin=skin,
                    solver=solver, warn=False)
    # An eager relaxation that had to rebuild its neighbour list returns a strain relative to the
    # cell of the last rebuild, not to the guess: read the lattice constant off the cell.
    scale = relaxed.cell[0, 0] / unit.cell[0, 0]
    code = _refusal(potential.cutoff, relaxed.solution.result, relaxed.neighbours,
                    relaxed.positions, relaxed.cell)
    context = dict(caller=caller, lattice=lattice, guess=guess, potential=potential, skin=skin)
    _report(code, relaxed.solution.result, **context)
    return _Bulk(scale, relaxed, unit, code == 0, context)


def _require_stable(bulk: _Bulk, modulus):
    """``modulus`` (GPa), or NaN with a warning when it is not positive: a hydrostatic relaxation
    that ends at a non-positive bulk modulus stopped at a maximum or inflection of E(V), not at
    a0 (a cell already refused is not reported twice)."""
    stable = modulus > 0
    code = jnp.where(stable | jnp.isnan(modulus) | ~bulk.ok, 0, _NOT_A_MINIMUM)
    _report(code, calib.RESULTS.successful, **bulk.context)
    return _poison(modulus, stable)


@functools.partial(jax.jit, static_argnums=0)  # one small program, not a dozen eager operations
def _refusal(cutoff, result, neighbours, positions, cell):
    """The refusal code of a relaxed zero-pressure cell (see :func:`_relaxed_bulk`)."""
    d = displacements(neighbours, positions, cell)
    interacting = jnp.any(neighbours.mask & (jnp.sum(d * d, axis=-1) < cutoff ** 2))
    return jnp.where(result != calib.RESULTS.successful, _RELAXATION_FAILED,
                     jnp.where(interacting, 0, _UNBOUND))


def _refused(caller, lattice, guess, potential, skin, code, result) -> str:
    """Words for a refused zero-pressure cell (``code`` as in :func:`_relaxed_bulk`)."""
    start = f"{caller}: the zero-pressure {lattice} cell relaxed from guess={guess} Å"
    if code == _RELAXATION_FAILED:
        # A hydrostatic compression by s keeps the list exact while s (cutoff + skin) >= cutoff.
        lowest = guess * potential.cutoff / (potential.cutoff + skin)
        return (f"{start} is unusable: its relaxation {calib.RESULTS.message(result)}. The result "
                f"is NaN. Most often the guess is too far above a0: the neighbour list built at the "
                f"guess stays exact down to a = {lowest:.4g} Å only (guess * cutoff / (cutoff + "
                f"skin)), and under jit/grad/vmap it cannot be rebuilt. Pass a guess within a few "
                f"per cent of a0 (or below it: expansion never invalidates the list), or a larger "
                f"skin (now {skin} Å); called outside jit/grad, the list is rebuilt as the cell "
                f"shrinks")
    if code == _UNBOUND:
        return (f"{start} has no two atoms within the cutoff ({potential.cutoff} Å): the "
                f"relaxation stopped where the truncated energy is flat (zero energy and force), "
                f"not at a0. The result is NaN; pass a guess near a0")
    return (f"{start} has a bulk modulus <= 0: it is a stationary point of the energy but not a "
            f"minimum (a0 is not there). The result is NaN; pass a guess near a0")


def _report(code, result, **context):
    """Warn (:class:`calib.NonConvergenceWarning`) when ``code`` is not 0: at once when eager,
    from the host when traced (``jax.debug.callback``, which also sees each member of a vmap)."""
    if isinstance(code, jax.core.Tracer) or isinstance(result, jax.core.Tracer):
        jax.debug.callback(functools.partial(_warn_refused, **context), code, result)
    else:
        _warn_refused(code, result, **context)


def _warn_refused(code, result, **context):
    if calib.reporting_quietly():  # a running fit rejects the NaN property and reports it itself
        return
    code, result = np.ravel(np.asarray(code)), np.ravel(np.broadcast_to(result, np.shape(code)))
    failed = np.nonzero(code)[0]
    if failed.size:
        first = failed[0]
        batch = f" ({failed.size} of {code.size} batch members)" if code.size > 1 else ""
        warnings.warn(_refused(code=int(code[first]), result=int(result[first]), **context) + batch,
                      calib.NonConvergenceWarning, stacklevel=4)


def lattice_constant(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6, *,
                     skin: float = 1.0, solver=None) -> jax.Array:
    """Zero-pressure cubic lattice constant :math:`a_0(\\theta)`, Å (static, 0 K); NaN, with a
    :class:`calib.NonConvergenceWarning`, when the relaxation from ``guess`` fails."""
    return _dispatch(_lattice_constant, theta, potential, lattice, float(guess), skin, solver)


def _lattice_constant(theta, potential, lattice, guess, skin, solver):
    bulk = _relaxed_bulk(potential, theta, lattice, guess, skin, solver, "lattice_constant")
    return bulk.poison(guess * bulk.scale)


def cohesive_energy(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6, *,
                    skin: float = 1.0, solver=None) -> jax.Array:
    """Cohesive energy per atom at :math:`a_0`, eV, positive for a bound crystal:
    :math:`E_c = E_{atom} - E_{crystal}/N`."""
    return _dispatch(_cohesive_energy_of, theta, potential, lattice, float(guess), skin, solver)


def _cohesive_energy_of(theta, potential, lattice, guess, skin, solver):
    return _cohesive_energy(potential, theta, _relaxed_bulk(potential, theta, lattice, guess, skin,
                                                            solver, "cohesive_energy"))


def _cohesive_energy(potential, theta, bulk):
    return bulk.poison(isolated_atom_energy(potential, theta)
                       - bulk.relaxed.energy / bulk.unit.n_atoms)


def _succeeded(relaxed: Relaxed) -> jax.Array:
    """The relaxed energy, or NaN when the relaxation failed (its own warning says why)."""
    return _poison(relaxed.energy, relaxed.solution.result == calib.RESULTS.successful)


def _strain_hessian(potential, theta, bulk: _Bulk, strain, n, relaxed_ions):
    r""":math:`\partial^2 W/\partial v^2` at :math:`v = 0`, ``(n, n)`` eV, for the cell at
    :math:`a_0` deformed by ``strain(v)`` (``(n,)`` → ``(3, 3)``).

    :math:`W(v) = \min_u E\big(u (I + \varepsilon(v))^T,\ C (I + \varepsilon(v))^T\big)`, with
    :math:`u` the positions in the frame of the unstrained cell. From the Hessian :math:`H` of
    :math:`E` in :math:`(u, v)` at the relaxed positions, where the forces vanish,

    .. math:: W'' = H_{vv} - H_{vu} H_{uu}^{+} H_{uv}

    (the internal relaxation to first order, :math:`du^*/dv = -H_{uu}^{+} H_{uv}`: the relaxed-ion
    constants of Born & Huang, *Dynamical Theory of Crystal Lattices*, 1954, §11), or :math:`H_{vv}`
    alone with ``relaxed_ions=False``. This is the implicit-function-theorem curvature of the
    relaxed energy, computed from one dense Hessian of a conventional cell (3N + n unknowns)
    instead of by differentiating a relaxation twice. :math:`H_{uu}` is singular along the rigid
    translations :math:`T`, which :math:`H_{uv}` does not excite, so :math:`H_{uu} + sTT^T` is
    solved instead (same solution, nonsingular).
    """
    relaxed = bulk.relaxed
    return _strain_hessian_at(potential, strain, n, relaxed_ions, theta, relaxed.positions,
                              relaxed.cell, relaxed.neighbours)


# Compiled once per potential, strain map and cell shape, and shared by every call (eager calls
# would otherwise run the Hessian's forward-over-reverse passes operation by operation).
@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _strain_hessian_at(potential, strain, n, relaxed_ions, theta, positions, cell, neighbours):
    m = positions.size

    def energy(z):
        u, v = z[:m].reshape(positions.shape), z[m:]
        deformation = jnp.eye(3) + strain(v)
        return potential_energy(potential, u @ deformation.T, cell @ deformation.T, theta,
                                neighbours)

    h = jax.hessian(energy)(jnp.concatenate([positions.ravel(), jnp.zeros(n, positions.dtype)]))
    h_vv = h[m:, m:]
    if not relaxed_ions:
        return h_vv
    h_uu, h_uv = h[:m, :m], h[:m, m:]
    # (3N, 3), orthonormal columns: a unit shift of every atom along x, y, z, over sqrt(N).
    translations = calib.translation_modes(positions).T / jnp.sqrt(positions.shape[0])
    shift = jnp.trace(h_uu) / m  # a stiffness of the crystal's own scale
    response = jnp.linalg.solve(h_uu + shift * translations @ translations.T, h_uv)
    return h_vv - h_uv.T @ response


def elastic_tensor(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6, *,
                   relaxed_ions: bool = True, skin: float = 1.0, solver=None) -> jax.Array:
    r"""The ``(6, 6)`` elastic stiffness in Voigt notation at :math:`a_0`, GPa.

    :math:`C_{IJ} = V^{-1}\,\partial^2 W/\partial\varepsilon_I\partial\varepsilon_J` at zero strain,
    with :math:`W(\varepsilon)` the energy of the strained cell with the atoms relaxed
    (``relaxed_ions=True``: the internal relaxation enters through :math:`dx^*/d\varepsilon`, the
    implicit function theorem) or carried affinely (``False``, the clamped-ion constants). At zero
    pressure these are the elastic constants of the stress–strain relation.
    """
    return _dispatch(_elastic_tensor_of, theta, potential, lattice, float(guess), bool(relaxed_ions),
                     skin, solver)


def _elastic_tensor_of(theta, potential, lattice, guess, relaxed_ions, skin, solver):
    bulk = _relaxed_bulk(potential, theta, lattice, guess, skin, solver, "elastic_tensor")
    return _elastic_tensor(potential, theta, bulk, relaxed_ions)


def _elastic_tensor(potential, theta, bulk, relaxed_ions):
    volume = bulk.unit.volume * bulk.scale ** 3
    c = _strain_hessian(potential, theta, bulk, voigt_to_tensor, 6, relaxed_ions) / volume
    c = c * EV_PER_A3_IN_GPA
    # The Voigt bulk modulus, sum(C[:3, :3]) / 9, must be positive at a zero-pressure minimum.
    stable = _require_stable(bulk, jnp.sum(c[:3, :3]) / 9.0)
    return bulk.poison(_poison(c, ~jnp.isnan(stable)))


def elastic_constants(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6, *,
                      relaxed_ions: bool = True, skin: float = 1.0, solver=None) -> dict:
    """Cubic elastic constants ``{"C11", "C12", "C44"}``, GPa (averaged over the equivalent
    entries of :func:`elastic_tensor`)."""
    return _cubic(elastic_tensor(potential, theta, lattice, guess, relaxed_ions=relaxed_ions,
                                 skin=skin, solver=solver))


def _cubic(c) -> dict:
    return {"C11": (c[0, 0] + c[1, 1] + c[2, 2]) / 3,
            "C12": (c[0, 1] + c[0, 2] + c[1, 2]) / 3,
            "C44": (c[3, 3] + c[4, 4] + c[5, 5]) / 3}


def bulk_modulus(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6, *,
                 skin: float = 1.0, solver=None) -> jax.Array:
    r"""Bulk modulus at :math:`a_0`, GPa: :math:`B = V\,d^2E/dV^2 = (9V)^{-1} d^2W/de^2` for a
    hydrostatic strain :math:`e`, with internal positions relaxed. NaN, with a
    :class:`calib.NonConvergenceWarning`, when the zero-pressure relaxation fails or ends where
    :math:`B \le 0` (a stationary point of :math:`E(V)` that is not a minimum)."""
    return _dispatch(_bulk_modulus_of, theta, potential, lattice, float(guess), skin, solver)


def _bulk_modulus_of(theta, potential, lattice, guess, skin, solver):
    bulk = _relaxed_bulk(potential, theta, lattice, guess, skin, solver, "bulk_modulus")
    return _bulk_modulus(potential, theta, bulk)


def _hydrostatic(v):
    return v[0] * jnp.eye(3)


def _bulk_modulus(potential, theta, bulk):
    volume = bulk.unit.volume * bulk.scale ** 3
    curvature = _strain_hessian(potential, theta, bulk, _hydrostatic, 1, True)
    modulus = curvature[0, 0] / (9.0 * volume) * EV_PER_A3_IN_GPA
    return bulk.poison(_require_stable(bulk, modulus))


def vacancy_formation_energy(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6,
                             cells: int | tuple[int, int, int] = 3, *,
                             condition: str = "constant_volume", index: int = 0, skin: float = 1.0,
                             solver=None, adjoint=None) -> jax.Array:
    r"""Vacancy formation energy, eV:

    .. math:: E_v^f = E(N-1\ \text{atoms, one site empty}) - (N - 1)\,\varepsilon_{bulk}

    in a ``cells`` supercell of the crystal at :math:`a_0`, with :math:`\varepsilon_{bulk}` the
    energy per atom of the perfect crystal at :math:`a_0`. ``condition``:

    - ``"constant_volume"``: positions relaxed, cell fixed at :math:`a_0`;
    - ``"zero_pressure"``: positions and (hydrostatic) cell relaxed;
    - ``"unrelaxed"``: atoms left on their sites (for a pair potential this equals the cohesive
      energy exactly).

    Converges with supercell size as the elastic interaction between periodic images decays.
    ``adjoint`` chooses how the vacancy relaxation is differentiated (default implicit).
    """
    if condition not in VACANCY_CONDITIONS:
        raise CalibValueError(f"vacancy_formation_energy: condition must be one of {VACANCY_CONDITIONS}, "
                              f"got {condition!r}")
    return _dispatch(_vacancy_formation_energy_of, theta, potential, lattice, float(guess),
                     _static_cells(cells), condition, int(index), skin, solver, adjoint)


def _vacancy_formation_energy_of(theta, potential, lattice, guess, cells, condition, index, skin,
                                 solver, adjoint):
    bulk = _relaxed_bulk(potential, theta, lattice, guess, skin, solver, "vacancy_formation_energy")
    return _vacancy_formation_energy(potential, theta, bulk, lattice, guess, cells, condition, index,
                                     skin, solver, adjoint)


def _at_scale(structure: Structure, scale):
    """``structure`` scaled to a0: ``(positions, cell, structure for the neighbour list)``.

    The list is built at a0 itself when ``scale`` is concrete (eager calls), so it is exact from
    the first step whatever the guess; when traced, it is built at the guess (a static geometry).
    """
    positions, cell = structure.positions * scale, structure.cell * scale
    if isinstance(scale, jax.core.Tracer) or not np.isfinite(float(scale)):
        return positions, cell, structure
    return positions, cell, structure.replace(positions=np.asarray(positions),
                                              cell=np.asarray(cell))


def _vacancy_formation_energy(potential, theta, bulk, lattice, guess, cells, condition, index, skin,
                              solver, adjoint):
    bulk_per_atom = bulk.relaxed.energy / bulk.unit.n_atoms
    defect = remove_atom(_crystal(lattice, guess, cells), index)
    positions, cell, listed = _at_scale(defect, bulk.scale)
    if condition == "unrelaxed":
        energy = potential_energy(potential, positions, cell, theta,
                                  neighbour_list(listed, potential.cutoff, skin))
    else:
        energy = _succeeded(relax(potential, theta, listed, positions=True,
                                  cell="hydrostatic" if condition == "zero_pressure" else None,
                                  reference_positions=positions, reference_cell=cell, skin=skin,
                                  solver=solver, adjoint=adjoint))
    return bulk.poison(energy - defect.n_atoms * bulk_per_atom)


def surface_energy(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6,
                   layers: int = 6, *, vacuum: float | None = None, relaxed: bool = True,
                   skin: float = 1.0, solver=None) -> jax.Array:
    r"""Energy of the (001) surface, J/m²: :math:`\gamma = (E_{slab} - N\varepsilon_{bulk})/(2A)`.

    The slab is ``layers`` conventional cells thick (``2 * layers`` atomic planes for fcc/bcc,
    ``4 * layers`` for diamond, whose (001) surface is left unreconstructed), one cell wide in-plane
    (periodic), at :math:`a_0`, with ``vacuum`` (Å; default ``cutoff + skin + 1``) between periodic
    copies, and positions relaxed unless ``relaxed=False``.
    """
    return _dispatch(_surface_energy, theta, potential, lattice, float(guess), int(layers), vacuum,
                     bool(relaxed), skin, solver)


def _surface_energy(theta, potential, lattice, guess, layers, vacuum, relaxed, skin, solver):
    bulk = _relaxed_bulk(potential, theta, lattice, guess, skin, solver, "surface_energy")
    bulk_per_atom = bulk.relaxed.energy / bulk.unit.n_atoms
    vacuum = potential.cutoff + skin + 1.0 if vacuum is None else vacuum
    slab = surface_slab(_crystal(lattice, guess, (1, 1, layers)), axis=2, vacuum=vacuum)
    positions, cell, listed = _at_scale(slab, bulk.scale)
    if relaxed:
        energy = _succeeded(relax(potential, theta, listed, positions=True,
                                  reference_positions=positions, reference_cell=cell, skin=skin,
                                  solver=solver))
    else:
        energy = potential_energy(potential, positions, cell, theta,
                                  neighbour_list(listed, potential.cutoff, skin))
    area = jnp.linalg.norm(jnp.cross(cell[0], cell[1]))
    return bulk.poison((energy - slab.n_atoms * bulk_per_atom) / (2.0 * area)
                       * EV_PER_A2_IN_J_PER_M2)


def crystal_properties(potential: Potential, theta, lattice: str = "fcc", guess: float = 3.6, *,
                       vacancy_cells: int = 3, skin: float = 1.0, solver=None) -> dict:
    """All bulk properties at once, as a dict of scalars (units as in the single functions):
    ``lattice_constant``, ``cohesive_energy``, ``bulk_modulus``, ``C11``, ``C12``, ``C44``,
    ``vacancy_formation_energy`` (constant volume, relaxed). The zero-pressure cell that all of
    them start from is relaxed once."""
    return _dispatch(_crystal_properties, theta, potential, lattice, float(guess),
                     _static_cells(vacancy_cells), skin, solver)


def _crystal_properties(theta, potential, lattice, guess, vacancy_cells, skin, solver):
    bulk = _relaxed_bulk(potential, theta, lattice, guess, skin, solver, "crystal_properties")
    return {
        "lattice_constant": bulk.poison(guess * bulk.scale),
        "cohesive_energy": _cohesive_energy(potential, theta, bulk),
        "bulk_modulus": _bulk_modulus(potential, theta, bulk),
        **_cubic(_elastic_tensor(potential, theta, bulk, True)),
        "vacancy_formation_energy": _vacancy_formation_energy(
            potential, theta, bulk, lattice, guess, vacancy_cells, "constant_volume", 0, skin,
            solver, None),
    }


__all__ = ["LATTICES", "bulk_modulus", "cohesive_energy", "crystal_properties", "elastic_constants",
           "elastic_tensor", "isolated_atom_energy", "lattice_constant", "surface_energy",
           "vacancy_formation_energy"]
