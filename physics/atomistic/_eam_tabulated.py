r"""Tabulated embedded-atom potentials, read from and written to LAMMPS/DYNAMO files.

The energy of atom :math:`i` of element :math:`s_i` (Daw & Baskes, Phys. Rev. B 29, 6443, 1984;
the multi-element form of LAMMPS ``pair_style eam/alloy``) is

.. math:: E_i = F_{s_i}(\rho_i) + \tfrac12 \sum_{j \ne i} \phi_{s_i s_j}(r_{ij}), \qquad
          \rho_i = \sum_{j \ne i} f_{s_j}(r_{ij}),

with every function given by its values on a uniform grid. The *table values are the parameters*
θ, so energies, forces and stresses are differentiable in every tabulated number:

- ``theta["F"]``, shape ``(n_elements, n_rho)``, eV: embedding energy :math:`F_s(k\,\Delta\rho)`,
  :math:`k = 0 \ldots n_\rho - 1`;
- ``theta["f"]``, shape ``(n_elements, n_r)``: electron density :math:`f_s(k\,\Delta r)` an atom of
  element :math:`s` contributes (the units of :math:`\Delta\rho`), :math:`k = 0 \ldots n_r - 1`;
- ``theta["rphi"]``, shape ``(n_pairs, n_r)``, eV·Å: :math:`r\,\phi_{ab}(r)` at
  :math:`r = k\,\Delta r` (setfl files store :math:`r\phi`, not :math:`\phi`), one row per unordered
  pair in setfl order
  :math:`(0,0), (1,0), (1,1), (2,0), \ldots`: the pair :math:`a \ge b` is row :math:`a(a+1)/2 + b`
  (:meth:`TabulatedEAM.pair_row`), so each pair function is one parameter vector.

Both grids start at 0 (:math:`r_k = k\,\Delta r`, :math:`\rho_k = k\,\Delta\rho`), as in LAMMPS.

**Interpolation.** Each table is a piecewise cubic Hermite polynomial through its values, with node
slopes that are a fixed linear map of the values, so every interpolated function is *linear in the
table values* and derivatives with respect to θ are exact. Two slope rules (``interpolation``):

- ``"lammps"`` (default): fourth-order central differences :math:`(y_{k-2} - y_{k+2} +
  8(y_{k+1} - y_{k-1}))/12` inside, second-order next to the ends, one-sided at the ends: the scheme
  of LAMMPS ``pair_style eam`` (``PairEAM::interpolate``), so a setfl file should give LAMMPS's
  energies up to round-off (checked against LAMMPS itself when it is installed). Continuous
  first derivatives (C¹): forces are continuous, force constants jump at the grid nodes.
- ``"spline"``: the not-a-knot cubic spline (C²), slopes from a tridiagonal solve. It is the
  interpolant of FITPACK/scipy that ASE's EAM calculator uses, but ASE splines
  :math:`\phi = r\phi/r` where LAMMPS and this module spline :math:`r\phi` and divide by :math:`r`,
  so pair energies still differ from ASE's by the interpolation error.

**Outside the tables.** Pairs at or beyond ``cutoff`` do not interact (the :class:`Potential`
contract). Beyond the last r node, :math:`(n_r - 1)\Delta r`, :math:`f` and :math:`\phi` are 0
(LAMMPS holds the last tabulated value up to the cutoff instead; the two agree for tables that end
at 0, as well-formed files do). Densities beyond :math:`(n_\rho - 1)\Delta\rho` extrapolate
:math:`F` linearly with its end slope, as LAMMPS does ("to conserve energy"); a negative density
(possible only with negative :math:`f`) continues the first cubic piece, also as in LAMMPS.

**Files** (LAMMPS ``pair_style eam`` documentation, https://docs.lammps.org/pair_eam.html):
:func:`read_eam_setfl` reads the multi-element DYNAMO *setfl* format (``.eam.alloy``),
:func:`read_eam_funcfl` the single-element *funcfl* format (``.eam``; Foiles, Baskes & Daw, Phys.
Rev. B 33, 7983, 1986), :func:`write_eam_setfl` writes setfl. :func:`tabulate_eam` samples an
analytic potential of :mod:`._eam` into tables. Energies in eV, lengths in Å (LAMMPS ``metal``
units).

Species codes index ``TabulatedEAM.symbols``: build structures with the same element order as the
file (atoms whose code is not an element of the potential get NaN energies).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._eam import EAM
from ._potential import Constraint, Potential
from ._radial import RadialTerms
from calib._errors import CalibTypeError, CalibValueError

LAMMPS_HARTREE_BOHR = 27.2 * 0.529
"""Hartree × Bohr radius in eV·Å *as LAMMPS rounds it* (``27.2*0.529`` in ``pair_eam.cpp``), used
to turn the effective charges :math:`Z(r)` of funcfl files into
:math:`r\\phi = 27.2 \\cdot 0.529\\, Z_i Z_j`. CODATA gives 14.39964 eV·Å; ASE's EAM calculator uses
that, so its funcfl pair energies are 0.075% larger than LAMMPS's (and than ours)."""

INTERPOLATIONS = ("lammps", "spline")

MIN_POINTS = 5
"""Fewest nodes per table: the LAMMPS slope stencil spans five."""

SYMBOLS = (
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se "
    "Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy "
    "Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf "
    "Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og").split()
"""Element symbols by atomic number (index + 1), to name funcfl elements and number setfl ones."""


# --------------------------------------------------------------------------------------------------
# Interpolation: node slopes (a linear map of the values) and Hermite evaluation.


def _lammps_slopes(y):
    """Node slopes per grid step, ``(..., n)``, by the finite differences of LAMMPS ``pair_eam``."""
    interior = (y[..., :-4] - y[..., 4:] + 8.0 * (y[..., 3:-1] - y[..., 1:-3])) / 12.0
    return jnp.concatenate([
        y[..., 1:2] - y[..., 0:1],
        0.5 * (y[..., 2:3] - y[..., 0:1]),
        interior,
        0.5 * (y[..., -1:] - y[..., -3:-2]),
        y[..., -1:] - y[..., -2:-1],
    ], axis=-1)


def _spline_slopes(y):
    r"""Node slopes per grid step of the not-a-knot cubic spline through each row of ``y``
    ``(rows, n)``.

    Continuity of the second derivative at the interior nodes gives
    :math:`s_{k-1} + 4 s_k + s_{k+1} = 3(y_{k+1} - y_{k-1})`; not-a-knot (a continuous third
    derivative at the second and the second-to-last nodes) closes the system with
    :math:`s_0 + 2 s_1 = (5 m_0 + m_1)/2` and its mirror image, :math:`m_k = y_{k+1} - y_k`. The
    matrix is fixed, so the slopes are linear in ``y`` (and the solve is differentiable).
    """
    n = y.shape[-1]
    m = jnp.diff(y, axis=-1)
    rhs = jnp.concatenate([
        0.5 * (5.0 * m[:, :1] + m[:, 1:2]),
        3.0 * (m[:, :-1] + m[:, 1:]),
        0.5 * (5.0 * m[:, -1:] + m[:, -2:-1]),
    ], axis=-1)
    ones = np.ones(n - 2)
    lower = jnp.asarray(np.concatenate([[0.0], ones, [2.0]]), y.dtype)
    diagonal = jnp.asarray(np.concatenate([[1.0], 4.0 * ones, [1.0]]), y.dtype)
    upper = jnp.asarray(np.concatenate([[2.0], ones, [0.0]]), y.dtype)
    # One matrix, every table a right-hand side column.
    return jax.lax.linalg.tridiagonal_solve(lower, diagonal, upper, rhs.T).T


def _hermite(values, slopes, row, x, spacing, extrapolate):
    """Evaluate tables ``values`` ``(rows, n)`` (node slopes ``slopes``, per grid step) on the grid
    ``k * spacing`` at ``x``, choosing the table per point by ``row`` (int, shape of ``x``).

    Beyond the last node: the linear continuation if ``extrapolate``, else 0.
    """
    n = values.shape[-1]
    t = x / spacing
    k = jnp.clip(jnp.floor(t), 0, n - 2).astype(jnp.int32)
    beyond = t > n - 1
    # Hold p at 1 beyond the table: that branch is discarded, and this keeps it (and its
    # derivative) small and finite however far out x is.
    p = jnp.where(beyond, 1.0, t - k)
    p2 = p * p
    p3 = p2 * p
    cubic = ((2.0 * p3 - 3.0 * p2 + 1.0) * values[row, k] + (p3 - 2.0 * p2 + p) * slopes[row, k]
             + (3.0 * p2 - 2.0 * p3) * values[row, k + 1] + (p3 - p2) * slopes[row, k + 1])
    if extrapolate:
        outside = values[row, n - 1] + slopes[row, n - 1] * (t - (n - 1))
    else:
        outside = 0.0
    return jnp.where(beyond, outside, cubic)


class _Cubics(NamedTuple):
    """The pieces of :func:`_hermite`'s interpolant as power-basis coefficients, for evaluation
    at many points: ``coefficients[a]`` ``(rows * (n - 1),)`` multiplies :math:`p^a` on each
    interval (rows flattened, so a lookup is one 1-D gather per coefficient), and the last node's
    value and slope serve the linear continuation."""

    coefficients: tuple
    last_value: jax.Array  # (rows,)
    last_slope: jax.Array  # (rows,)
    nodes: int


def _cubics(values, slopes) -> _Cubics:
    y0, y1, m0, m1 = values[:, :-1], values[:, 1:], slopes[:, :-1], slopes[:, 1:]
    # The Hermite basis of _hermite, expanded in powers of p.
    coefficients = (y0, m0, 3.0 * (y1 - y0) - 2.0 * m0 - m1, 2.0 * (y0 - y1) + m0 + m1)
    return _Cubics(tuple(c.reshape(-1) for c in coefficients), values[:, -1], slopes[:, -1],
                   values.shape[-1])


def _evaluate_cubics(cubics: _Cubics, row, x, spacing, extrapolate):
    """:func:`_hermite` from :func:`_cubics` (the same function up to round-off)."""
    n = cubics.nodes
    t = x / spacing
    k = jnp.clip(jnp.floor(t), 0, n - 2).astype(jnp.int32)
    beyond = t > n - 1
    p = jnp.where(beyond, 1.0, t - k)
    flat = row * (n - 1) + k
    a0, a1, a2, a3 = (jnp.take(c, flat, mode="clip") for c in cubics.coefficients)
    cubic = ((a3 * p + a2) * p + a1) * p + a0
    if extrapolate:
        outside = (jnp.take(cubics.last_value, row, mode="clip")
                   + jnp.take(cubics.last_slope, row, mode="clip") * (t - (n - 1)))
    else:
        outside = 0.0
    return jnp.where(beyond, outside, cubic)


# --------------------------------------------------------------------------------------------------
# The potential.


def _all_finite(table):
    if isinstance(table, jax.core.Tracer):
        return jnp.all(jnp.isfinite(table))
    return bool(np.all(np.isfinite(np.asarray(table))))


def _positive(value):
    numeric = isinstance(value, (int, float, np.integer, np.floating))
    return numeric and bool(np.isfinite(value)) and value > 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class TabulatedEAM(Potential):
    r"""A multi-element EAM potential given by tables (LAMMPS ``eam/alloy`` semantics; see the
    module docstring for the maths, the θ layout and the behaviour outside the tables).

    Parameters θ: ``"F"`` ``(n_elements, n_rho)`` eV, ``"f"`` ``(n_elements, n_r)`` density units,
    ``"rphi"`` ``(n_pairs, n_r)`` eV·Å with ``n_pairs = n_elements (n_elements + 1) / 2``.

    Attributes (all keyword-only, all static):
        cutoff: interaction cutoff, Å.
        symbols: element of each species code, e.g. ``("Cu", "Ni")``.
        n_rho, d_rho: number of density nodes (≥ 5) and their spacing (density units).
        n_r, d_r: number of distance nodes (≥ 5) and their spacing, Å.
        interpolation: ``"lammps"`` (C¹ Hermite, LAMMPS's slopes) or ``"spline"`` (C² not-a-knot).
        atomic_numbers, masses, lattice_constants, lattice_types: per-element file metadata (amu,
            Å); not used by the energy, written back by :func:`write_eam_setfl`. ``None``: unknown.
    """

    parameters: ClassVar[tuple[str, ...]] = ("F", "f", "rphi")
    symbols: tuple[str, ...]
    n_rho: int
    d_rho: float
    n_r: int
    d_r: float
    interpolation: str = "lammps"
    atomic_numbers: tuple[int, ...] | None = None
    masses: tuple[float, ...] | None = None
    lattice_constants: tuple[float, ...] | None = None
    lattice_types: tuple[str, ...] | None = None

    def __post_init__(self):
        super().__post_init__()
        name = type(self).__name__
        symbols = (self.symbols,) if isinstance(self.symbols, str) else tuple(self.symbols)
        if not symbols or not all(isinstance(s, str) and s and not any(c.isspace() for c in s)
                                  for s in symbols):
            raise CalibValueError(f"{name}: symbols must be one or more element names without spaces, "
                                  f"got {self.symbols!r}")
        object.__setattr__(self, "symbols", symbols)
        for count, spacing in (("n_rho", "d_rho"), ("n_r", "d_r")):
            n = getattr(self, count)
            if not (isinstance(n, (int, np.integer)) and n >= MIN_POINTS):
                raise CalibValueError(f"{name}: {count} must be an int >= {MIN_POINTS} (nodes of a "
                                      f"cubic table), got {n!r}")
            if not _positive(getattr(self, spacing)):
                raise CalibValueError(f"{name}: {spacing} must be a positive grid spacing, got "
                                      f"{getattr(self, spacing)!r}")
            object.__setattr__(self, count, int(n))
            object.__setattr__(self, spacing, float(getattr(self, spacing)))
        if self.interpolation not in INTERPOLATIONS:
            raise CalibValueError(f"{name}: interpolation must be one of {INTERPOLATIONS}, got "
                                  f"{self.interpolation!r}")
        for field, kind in (("atomic_numbers", int), ("masses", float),
                            ("lattice_constants", float), ("lattice_types", str)):
            value = getattr(self, field)
            if value is None:
                continue
            value = tuple(kind(v) for v in ((value,) if isinstance(value, str) else value))
            if len(value) != len(symbols):
                raise CalibValueError(f"{name}: {field} needs one entry per element {symbols}, got "
                                      f"{getattr(self, field)!r}")
            object.__setattr__(self, field, value)

    # -- layout ------------------------------------------------------------------------------------

    @property
    def n_elements(self) -> int:
        return len(self.symbols)

    @property
    def n_pairs(self) -> int:
        return self.n_elements * (self.n_elements + 1) // 2

    @property
    def r_max(self) -> float:
        """Last distance node, Å; beyond it :math:`f = \\phi = 0`."""
        return (self.n_r - 1) * self.d_r

    @property
    def rho_max(self) -> float:
        """Last density node; beyond it :math:`F` is extrapolated linearly."""
        return (self.n_rho - 1) * self.d_rho

    @property
    def shapes(self) -> dict[str, tuple[int, int]]:
        """The shape of each θ table."""
        return {"F": (self.n_elements, self.n_rho), "f": (self.n_elements, self.n_r),
                "rphi": (self.n_pairs, self.n_r)}

    @staticmethod
    def pair_row(a, b):
        """Row of ``theta["rphi"]`` holding the pair of species ``a`` and ``b`` (either order; works
        on integer arrays too)."""
        if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
            high, low = max(a, b), min(a, b)
        else:
            high, low = jnp.maximum(a, b), jnp.minimum(a, b)
        return high * (high + 1) // 2 + low

    def check_theta(self, theta):
        checked = super().check_theta(theta)
        for key, shape in self.shapes.items():
            got = tuple(np.shape(theta[key]))
            if got != shape:
                raise CalibValueError(f"{type(self).__name__}: theta[{key!r}] must have shape {shape} "
                                      f"for elements {self.symbols}, n_rho={self.n_rho}, "
                                      f"n_r={self.n_r}; got {got}")
        return checked

    def constraints(self, theta):
        # Tables have no sign constraints (F, f and r*phi change sign freely); what can be wrong
        # is a NaN or inf node, e.g. from an optimiser step, which would spread to every energy.
        return tuple(Constraint((key,), _all_finite(theta[key]), f"every node of {key} finite",
                                f"replace the NaN/inf nodes of theta[{key!r}]; if an optimiser "
                                "produced them, lower its step size")
                     for key in self.parameters)

    # -- evaluation --------------------------------------------------------------------------------
    # The work is done by jitted module functions with the (hashable) potential static: one compiled
    # kernel per call site, also when called eagerly; inside an outer jit they are inlined.

    def embedding(self, theta, rho, species=0):
        """Interpolated :math:`F_s(\\rho)`, eV, at densities ``rho`` (any shape)."""
        theta = self.check_theta(theta)
        rho = jnp.asarray(rho, jnp.result_type(float))
        return _function(self, "F", jnp.asarray(theta["F"]), jnp.broadcast_to(species, rho.shape),
                         rho)

    def density(self, theta, r, species=0):
        """Interpolated :math:`f_s(r)` at distances ``r`` (Å, any shape; no cutoff applied)."""
        theta = self.check_theta(theta)
        r = jnp.asarray(r, jnp.result_type(float))
        return _function(self, "f", jnp.asarray(theta["f"]), jnp.broadcast_to(species, r.shape), r)

    def pair(self, theta, r, species_a=0, species_b=0):
        """Interpolated pair energy :math:`\\phi_{ab}(r) = (r\\phi)(r)/r`, eV, at ``r`` > 0 (Å; no
        cutoff applied)."""
        theta = self.check_theta(theta)
        r = jnp.asarray(r, jnp.result_type(float))
        row = jnp.broadcast_to(self.pair_row(species_a, species_b), r.shape)
        return _function(self, "rphi", jnp.asarray(theta["rphi"]), row, r) / r

    def site_energies(self, theta, r, d, inside, species, neighbour_species):
        theta = self.check_theta(theta)
        tables = {key: jnp.asarray(theta[key]) for key in self.parameters}
        return _site_energies(self, tables, r, inside, species, neighbour_species)

    def radial_terms(self, theta):
        theta = self.check_theta(theta)
        n = self.n_elements
        F = jnp.asarray(theta["F"])
        # f and rphi share the r grid: one slope computation (one solve for splines) for both.
        radial = jnp.concatenate([jnp.asarray(theta["f"]), jnp.asarray(theta["rphi"])])
        radial_slopes = _slopes(self, radial)
        # Power-basis pieces, once per evaluation: each lookup is then four 1-D gathers.
        embedding_cubics = _cubics(F, _slopes(self, F))
        density_cubics = _cubics(radial[:n], radial_slopes[:n])
        pair_cubics = _cubics(radial[n:], radial_slopes[n:])

        def known(s):
            return (s >= 0) & (s < n)

        def pair(r, s_i, s_j):
            # Unknown species codes are clipped for the table lookup, then give NaN energies.
            rows = self.pair_row(jnp.clip(s_i, 0, n - 1), jnp.clip(s_j, 0, n - 1))
            phi = _evaluate_cubics(pair_cubics, jnp.broadcast_to(rows, r.shape), r, self.d_r,
                                   False) / r
            return jnp.where(known(s_i) & known(s_j), phi, jnp.nan)

        def density(r, s_j):
            s_j = jnp.broadcast_to(s_j, r.shape)
            value = _evaluate_cubics(density_cubics, jnp.clip(s_j, 0, n - 1), r, self.d_r, False)
            return jnp.where(known(s_j), value, jnp.nan)

        def embedding(rho, s):
            value = _evaluate_cubics(embedding_cubics, jnp.clip(s, 0, n - 1), rho, self.d_rho, True)
            return jnp.where(known(s), value, jnp.nan)

        return RadialTerms(pair, density, embedding, species_dependent_density=n > 1)


def _slopes(potential, table):
    return (_lammps_slopes(table) if potential.interpolation == "lammps"
            else _spline_slopes(table))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _function(potential, key, table, row, x):
    spacing = potential.d_rho if key == "F" else potential.d_r
    return _hermite(table, _slopes(potential, table), row, x, spacing, key == "F")


@functools.partial(jax.jit, static_argnums=0)
def _site_energies(potential, tables, r, inside, species, neighbour_species):
    n = potential.n_elements
    F, F_slopes = tables["F"], _slopes(potential, tables["F"])
    # f and rphi share the r grid: one slope computation (one solve for splines) for both.
    radial = jnp.concatenate([tables["f"], tables["rphi"]])
    radial_slopes = _slopes(potential, radial)
    f, f_slopes, rphi, rphi_slopes = radial[:n], radial_slopes[:n], radial[n:], radial_slopes[n:]
    known = (species >= 0) & (species < n)
    known_neighbours = (neighbour_species >= 0) & (neighbour_species < n)
    # Clip so the gathers stay in range; atoms with an unknown code are set to NaN below.
    s_i = jnp.clip(species, 0, n - 1)
    s_j = jnp.clip(neighbour_species, 0, n - 1)
    density = _hermite(f, f_slopes, s_j, r, potential.d_r, False)
    rho = jnp.sum(jnp.where(inside, density, 0.0), axis=1)
    rows = potential.pair_row(s_i[:, None], s_j)
    # r is 1 (not 0) where `inside` is false, so the division is safe in every derivative.
    phi = _hermite(rphi, rphi_slopes, rows, r, potential.d_r, False) / r
    energies = (_hermite(F, F_slopes, s_i, rho, potential.d_rho, True)
                + 0.5 * jnp.sum(jnp.where(inside, phi, 0.0), axis=1))
    valid = known & jnp.all(known_neighbours | ~inside, axis=1)
    return jnp.where(valid, energies, jnp.nan)


# --------------------------------------------------------------------------------------------------
# Sampling an analytic potential.


def tabulate_eam(analytic: EAM, theta, n_rho: int, d_rho: float, n_r: int, d_r: float,
                 symbol: str = "X", *, r_min: float = 1.0, interpolation: str = "lammps",
                 atomic_number: int | None = None, mass: float | None = None,
                 lattice_constant: float | None = None, lattice_type: str | None = None):
    r"""Sample a single-element analytic EAM (:class:`~._eam.EAM`, e.g. ``SuttonChen``) into tables.

    The density and pair functions are sampled with the analytic potential's smooth switch applied
    and set to 0 at and beyond its cutoff, so the table represents the same (truncated) potential;
    the cutoff is carried over. Below ``r_min`` (Å) the functions are sampled at ``r_min``
    (:math:`f` and :math:`\phi` held constant, :math:`r\phi` linear): many analytic forms diverge as
    :math:`r \to 0` and a table must hold finite numbers. Choose ``r_min`` well below the closest
    approach of any two atoms. Sample with float64 enabled (``jax_enable_x64``), or the tables are
    only float32-accurate.

    Args:
        analytic: the analytic potential; theta: its parameters.
        n_rho, d_rho: density nodes ``k * d_rho``, ``k < n_rho``; cover the densities that occur
            (beyond, :math:`F` is extrapolated linearly).
        n_r, d_r: distance nodes ``k * d_r`` (Å); the last, ``(n_r - 1) * d_r``, must reach the
            cutoff.
        symbol: element name written to files.
        r_min, interpolation: see above and :class:`TabulatedEAM`.
        atomic_number, mass, lattice_constant, lattice_type: file metadata (amu, Å); optional (the
            atomic number defaults to that of ``symbol`` when it names an element).

    Returns:
        ``(TabulatedEAM, theta)`` with θ numpy float64 arrays (see the module docstring).
    """
    if not isinstance(analytic, EAM):
        raise CalibTypeError(f"tabulate_eam: analytic must be an EAM potential (SuttonChen, "
                             f"FinnisSinclair, ...), got {type(analytic).__name__}")
    analytic.check_theta(theta)
    if not (_positive(d_r) and isinstance(n_r, (int, np.integer))
            and (n_r - 1) * d_r >= analytic.cutoff * (1.0 - 1e-12)):
        raise CalibValueError(f"tabulate_eam: the r grid must reach the cutoff {analytic.cutoff} Å, but "
                              f"(n_r - 1) * d_r = ({n_r!r} - 1) * {d_r!r}; increase n_r or d_r")
    if not (isinstance(r_min, (int, float)) and 0 <= r_min < analytic.cutoff):
        raise CalibValueError(f"tabulate_eam: need 0 <= r_min < cutoff = {analytic.cutoff} Å, got "
                              f"{r_min!r}")
    if atomic_number is None and symbol in SYMBOLS:
        atomic_number = SYMBOLS.index(symbol) + 1
    potential = TabulatedEAM(
        cutoff=analytic.cutoff, symbols=(symbol,), n_rho=n_rho, d_rho=d_rho, n_r=n_r, d_r=d_r,
        interpolation=interpolation,
        atomic_numbers=None if atomic_number is None else (atomic_number,),
        masses=None if mass is None else (mass,),
        lattice_constants=None if lattice_constant is None else (lattice_constant,),
        lattice_types=None if lattice_type is None else (lattice_type,))
    r = np.arange(n_r) * float(d_r)
    sampled_at = np.maximum(r, r_min)
    inside = r < analytic.cutoff
    switch = np.asarray(analytic._switch(sampled_at), np.float64)
    density = np.asarray(analytic.density(sampled_at, theta), np.float64)
    pair = np.asarray(analytic.pair(sampled_at, theta), np.float64)
    f = np.where(inside, switch * density, 0.0)
    rphi = np.where(inside, r * switch * pair, 0.0)
    F = np.asarray(analytic.embedding(np.arange(n_rho) * float(d_rho), theta), np.float64)
    tables = {"F": F[None, :], "f": f[None, :], "rphi": rphi[None, :]}
    for key, table in tables.items():
        if not np.all(np.isfinite(table)):
            raise CalibValueError(f"tabulate_eam: non-finite samples in {key!r} (a function diverges on "
                                  f"the grid); raise r_min (now {r_min} Å) or start the rho grid higher")
    return potential, tables
