r"""The interface of interatomic potentials, and the total energy of a structure.

A potential is a frozen dataclass holding *static* choices (cutoff radius, truncation); its
*parameters* :math:`\theta` are always passed in explicitly, as a dict of named scalars, so that
they can be traced and differentiated. A potential maps the neighbour geometry of every atom to
per-atom energies (eV); :func:`potential_energy` sums them for a structure.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._neighbours import Neighbours, displacements, neighbours_valid
from ._radial import RadialTerms, radial_energy
from calib._errors import CalibKeyError, CalibTypeError, CalibValueError

TRUNCATIONS = ("plain", "shifted", "smooth")


def smooth_step(r, onset, cutoff):
    r"""The quintic switch :math:`S(r)`: 1 below ``onset``, 0 beyond ``cutoff``, and
    :math:`S = 10 s^3 - 15 s^4 + 6 s^5` with :math:`s = (r_c - r)/(r_c - r_{on})` between them.
    :math:`S` is twice continuously differentiable, so energies, forces and force constants stay
    continuous (the same switch as ASE's Morse calculator)."""
    s = jnp.clip((cutoff - r) / (cutoff - onset), 0.0, 1.0)
    return s * s * s * (10.0 + s * (-15.0 + 6.0 * s))


class Constraint(NamedTuple):
    """One condition on the parameters θ of a potential.

    Attributes:
        names: the θ entries the condition involves, e.g. ``("sigma",)`` or ``("a", "sigma")``.
        ok: a bool (or a bool array, or a traced bool) that is true inside the physical range.
        requirement: the range in words, e.g. ``"sigma > 0 (the length scale, Å)"``.
        fix: what to do instead; ``None`` gives the generic advice of :func:`enforce`.
    """

    names: tuple[str, ...]
    ok: Any
    requirement: str
    fix: str | None = None


def _advice(constraint: Constraint) -> str:
    if constraint.fix is not None:
        return constraint.fix
    name = constraint.names[0]
    return (f"pass a value in that range; when fitting, keep {name} inside it with a transform "
            f"(e.g. fit log({name}) for a positive parameter) or bounds")


def enforce(potential_name: str, theta: dict, constraints) -> dict:
    """Check ``constraints`` on ``theta`` (see :meth:`Potential.check_theta`) and return ``theta``.

    Concrete conditions raise here. Traced ones are folded into one predicate and one message
    index for ``equinox.branched_error_if``, so the first energy (or derivative) evaluated from the
    returned θ raises (``jax.errors.JaxRuntimeError``) with the message of the first condition that
    fails; where errors cannot be raised (``EQX_ON_ERROR=nan``), the energy is NaN instead.
    """
    traced = []
    for constraint in constraints:
        if isinstance(constraint.ok, jax.core.Tracer):
            traced.append(constraint)
            continue
        if not bool(np.all(np.asarray(constraint.ok))):
            values = ", ".join(f"{n}={_show(theta[n])}" for n in constraint.names)
            raise CalibValueError(f"{potential_name}: theta has {values}, outside the physical range "
                                  f"{constraint.requirement}; {_advice(constraint)}")
    if not traced:
        return theta
    failed = jnp.stack([~jnp.all(c.ok) for c in traced])
    messages = [f"{potential_name}: {', '.join(f'theta[{n!r}]' for n in c.names)} (traced, so "
                f"checked at run time) outside the physical range {c.requirement}; {_advice(c)}"
                for c in traced]
    # The check rides on a factor, 1 (or NaN when a condition fails), that multiplies every
    # parameter it names: the factor then enters the energy *and* every derivative with respect to
    # those parameters, so no transformation can drop the check as dead code (an energy linear in
    # a parameter has a gradient that does not use that parameter's value).
    bad = jnp.any(failed)
    factor = eqx.branched_error_if(jnp.where(bad, jnp.nan, 1.0), bad, jnp.argmax(failed), messages)
    names = sorted({n for c in traced for n in c.names})
    return {**theta, **{n: theta[n] * factor for n in names}}


def _show(value) -> str:
    try:
        # Under an eager jax.grad the value is a tracer whose primal is concrete.
        value = np.asarray(jax.lax.stop_gradient(value), float)
    except jax.errors.ConcretizationTypeError:
        return "(a traced value)"
    if value.size == 1:
        return f"{value.item():g}"
    if value.size <= 8:
        return np.array2string(value, precision=6)
    bad = int(np.sum(~np.isfinite(value)))
    return f"<array of shape {value.shape}, {bad} of its entries NaN/inf>"


def value_of(x):
    """``x`` as a NumPy array when it is concrete (so conditions on it are decided now, also inside
    a ``jit`` trace where θ is a closed-over constant), else the tracer itself."""
    return x if isinstance(x, jax.core.Tracer) else np.asarray(x)


def positive(theta, name: str, meaning: str) -> Constraint:
    """``theta[name] > 0``, with ``meaning`` (what the parameter is, its unit) in the message."""
    return Constraint((name,), value_of(theta[name]) > 0, f"{name} > 0 ({meaning})")


@dataclasses.dataclass(frozen=True)
class Potential:
    """Base class. Subclasses set ``parameters`` (names of the θ entries) and implement
    :meth:`site_energies`.

    Attributes:
        cutoff: interaction cutoff, Å; pairs at or beyond it do not interact.
    """

    parameters: ClassVar[tuple[str, ...]] = ()
    cutoff: float = 5.0

    def __post_init__(self):
        if not (isinstance(self.cutoff, (int, float)) and self.cutoff > 0):
            raise CalibValueError(f"{type(self).__name__}: cutoff must be a positive length in Å, got "
                                  f"{self.cutoff!r}")

    def check_theta(self, theta):
        """Check ``theta`` and return it, ready to evaluate the energy with.

        Its structure (a dict holding every name in ``parameters``) is checked in Python. Its
        values are checked against :meth:`constraints`: at once when they are concrete (a
        :class:`~calib._errors.CalibValueError` naming the parameter, its value, the allowed range
        and the fix), and at run time when they are traced (``jit``, ``grad``, ``vmap``: an
        optimiser's calls), by ``equinox.branched_error_if`` on the returned θ, so that an energy
        computed from it raises an error with the same words. Every condition goes into a single
        check, so the cost is one scalar branch per energy evaluation.

        Callers must evaluate the energy with the *returned* θ (the run-time check travels with it).
        """
        if not isinstance(theta, dict):
            raise CalibTypeError(f"{type(self).__name__}: theta must be a dict of parameters "
                                 f"{list(self.parameters)}, got {type(theta).__name__}")
        missing = [p for p in self.parameters if p not in theta]
        if missing:
            raise CalibKeyError(f"{type(self).__name__}: theta is missing {missing}; it needs "
                                f"{list(self.parameters)} (see the class docstring for units)")
        return enforce(type(self).__name__, theta, self.constraints(theta))

    def constraints(self, theta) -> tuple["Constraint", ...]:
        """The physical range of the parameters, as :class:`Constraint` s (none by default)."""
        return ()

    def radial_terms(self, theta) -> RadialTerms | None:
        """The potential as pair, density and embedding functions of distances
        (:class:`~._radial.RadialTerms`, θ checked and bound), for potentials of that form; then
        :func:`potential_energy` and its derivatives use the explicit forces of :mod:`._radial`
        instead of autodiff of :meth:`site_energies`. ``None`` (the default) for other forms."""
        return None

    def site_energies(self, theta, r, d, inside, species, neighbour_species) -> jax.Array:
        """Energy of each atom, ``(N,)``, eV.

        Args:
            theta: the parameters.
            r: neighbour distances ``(N, M)``, Å (1.0 where ``inside`` is false).
            d: separation vectors ``(N, M, 3)``, Å.
            inside: ``(N, M)`` bool, real neighbours closer than ``cutoff``.
            species, neighbour_species: species codes ``(N,)`` and ``(N, M)``.
        """
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class PairPotential(Potential):
    r"""A pair potential :math:`E = \tfrac12 \sum_i \sum_{j \ne i} \phi(r_{ij})`, truncated at
    ``cutoff`` in one of three ways (``truncation``):

    - ``"plain"``: :math:`\phi(r)` for :math:`r < r_c`, else 0 (energy jumps at :math:`r_c`);
    - ``"shifted"``: :math:`\phi(r) - \phi(r_c)` (continuous energy, forces jump);
    - ``"smooth"``: :math:`S(r)\,\phi(r)` with the :func:`smooth_step` switch from ``onset`` to
      ``cutoff`` (continuous to second derivatives: the default, and the one to use with relaxations
      and elastic constants).

    Attributes:
        onset: start of the smooth switch, Å (``None``: ``0.9 * cutoff``).
    """

    truncation: str = "smooth"
    onset: float | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.truncation not in TRUNCATIONS:
            raise CalibValueError(f"{type(self).__name__}: truncation must be one of {TRUNCATIONS}, got "
                                  f"{self.truncation!r}")
        if self.onset is not None and not 0 < self.onset < self.cutoff:
            raise CalibValueError(f"{type(self).__name__}: need 0 < onset < cutoff, got onset={self.onset}"
                                  f", cutoff={self.cutoff}")

    @property
    def switch_onset(self) -> float:
        return 0.9 * self.cutoff if self.onset is None else self.onset

    def pair(self, r, theta):
        """The untruncated pair energy :math:`\\phi(r)`, eV."""
        raise NotImplementedError

    def truncated_pair(self, r, theta):
        phi = self.pair(r, theta)
        if self.truncation == "shifted":
            phi = phi - self.pair(jnp.asarray(self.cutoff, r.dtype), theta)
        elif self.truncation == "smooth":
            phi = phi * smooth_step(r, self.switch_onset, self.cutoff)
        return phi

    def site_energies(self, theta, r, d, inside, species, neighbour_species):
        theta = self.check_theta(theta)
        return 0.5 * jnp.sum(jnp.where(inside, self.truncated_pair(r, theta), 0.0), axis=1)

    def radial_terms(self, theta):
        theta = self.check_theta(theta)
        return RadialTerms(pair=lambda r, s_i, s_j: self.truncated_pair(r, theta))


def _check_list(potential: Potential, positions, neighbours: Neighbours):
    if neighbours.cutoff < potential.cutoff:
        raise CalibValueError(f"potential_energy: the neighbour list was built for cutoff "
                              f"{neighbours.cutoff} Å but {type(potential).__name__} needs "
                              f"{potential.cutoff} Å; rebuild it with neighbour_list(structure, "
                              f"cutoff={potential.cutoff})")
    if positions.shape != neighbours.reference_positions.shape:
        raise CalibValueError(f"potential_energy: positions have shape {positions.shape} but the "
                              f"neighbour list was built for {neighbours.reference_positions.shape}")


def site_energies(potential: Potential, positions, cell, theta, neighbours: Neighbours) -> jax.Array:
    """Per-atom energies ``(N,)`` (eV) of atoms at ``positions`` ``(N, 3)`` in ``cell`` ``(3, 3)``.

    NaN if the neighbour list no longer covers the cutoff (rebuild it: see
    :func:`update_neighbours`). Differentiable by autodiff of :meth:`Potential.site_energies`.
    """
    _check_list(potential, positions, neighbours)
    d = displacements(neighbours, positions, cell)
    r2 = jnp.sum(d * d, axis=-1)
    inside = neighbours.mask & (r2 < potential.cutoff ** 2)
    # Distances outside the cutoff (and padding) are replaced by 1 before the square root: no
    # sqrt(0), so no NaN in any derivative from entries that are masked out anyway.
    r = jnp.sqrt(jnp.where(inside, r2, 1.0))
    neighbour_species = jnp.take(neighbours.species, neighbours.index, mode="clip")
    energies = potential.site_energies(theta, r, d, inside, neighbours.species, neighbour_species)
    valid = neighbours_valid(neighbours, positions, cell)
    return jnp.where(valid, energies, jnp.nan)


def has_radial_terms(potential: Potential) -> bool:
    """Whether ``potential`` describes itself by :meth:`Potential.radial_terms`."""
    return type(potential).radial_terms is not Potential.radial_terms


def potential_energy(potential: Potential, positions, cell, theta, neighbours: Neighbours) -> jax.Array:
    r"""Total energy, eV, of atoms at ``positions`` ``(N, 3)`` (Å) in ``cell`` ``(3, 3)`` (Å).

    Differentiable in positions (forces :math:`-\partial E/\partial r`), in the cell (stress), and in
    every entry of ``theta``. NaN when ``neighbours`` is stale, so a solver reports it. Pair and
    embedded-atom potentials (:meth:`Potential.radial_terms`) are evaluated by :mod:`._radial`,
    with explicit forces; others by autodiff of their site energies.
    """
    if has_radial_terms(potential):
        _check_list(potential, positions, neighbours)
        return radial_energy(potential, positions, cell, theta, neighbours)
    return jnp.sum(site_energies(potential, positions, cell, theta, neighbours))


def stress(potential: Potential, positions, cell, theta, neighbours: Neighbours) -> jax.Array:
    r"""Virial stress, ``(3, 3)`` eV/Å³ (multiply by :data:`EV_PER_A3_IN_GPA` for GPa):

    .. math:: \sigma = \frac{1}{V}\,\frac{\partial E}{\partial \varepsilon}\Big|_{\varepsilon=0},

    the derivative of the energy under the homogeneous deformation :math:`r \mapsto (I+\varepsilon)r`
    of positions and cell. Tensile stress is positive; the pressure is :math:`-\operatorname{tr}\sigma/3`.
    """
    def strained(eps):
        deformation = jnp.eye(3) + eps
        return potential_energy(potential, positions @ deformation.T, cell @ deformation.T, theta,
                                neighbours)

    gradient = jax.grad(strained)(jnp.zeros((3, 3), jnp.result_type(positions)))
    return 0.5 * (gradient + gradient.T) / jnp.abs(jnp.linalg.det(cell))
