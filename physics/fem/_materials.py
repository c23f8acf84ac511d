r"""Strain-energy densities (materials) for the finite-element package.

A material is a frozen dataclass that holds *static* choices only (a parametrisation, a user
function); its parameters :math:`\theta` are passed in explicitly as a mapping from names to
scalars, so that they can be traced and differentiated like any other input. Every material maps a
displacement gradient to an energy per unit **reference** volume,

.. math::

    W(\nabla u;\ \theta), \qquad (\nabla u)_{ij} = \partial u_i / \partial X_j,

and its stress is the derivative :math:`\partial W / \partial (\nabla u)`: the Cauchy stress
:math:`\sigma` of a small-strain material (symmetric, since :math:`W` reads only
:math:`\varepsilon = \operatorname{sym} \nabla u`), the first Piola–Kirchhoff stress :math:`P` of a
finite-strain one. The FE code always passes a ``(3, 3)`` gradient; in plane strain it pads the
2-D gradient with zeros (:math:`\varepsilon_{zz} = 0`, :math:`F_{33} = 1`).

Every density is written so that it is ``jit``/``vmap``/``grad``/``hessian``-able in both the
gradient and :math:`\theta`, with a finite Hessian at the reference state :math:`\nabla u = 0`.
States outside a model's domain (:math:`\det F \le 0`, tension beyond the pressure-dependent
model's range) have energy :math:`+\infty`, so that a line search rejects them; their gradients are
kept finite (zero) with the "double where" idiom: the inadmissible branch is evaluated at a safe
dummy point, so no ``nan`` can leak into a gradient through the branch that is not selected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from calib._errors import CalibTypeError, CalibValueError

__all__ = [
    "Material",
    "LinearElastic",
    "NeoHookean",
    "HoulsbyAmorosiRojas",
    "SmallStrain",
    "FiniteStrain",
    "lame_from_young_poisson",
    "lame_from_bulk_shear",
]


# --------------------------------------------------------------------------------------------------
# Kinematics
# --------------------------------------------------------------------------------------------------


def _sym(a):
    """Symmetric part of a (3, 3) matrix: the small-strain tensor of a displacement gradient."""
    return 0.5 * (a + a.T)


def _det3(f):
    """Determinant of a (3, 3) matrix by cofactors.

    A polynomial in the entries, so every derivative exists everywhere, including at singular
    matrices (``jnp.linalg.det`` goes through an LU factorisation whose derivatives are not
    defined there).
    """
    return (f[0, 0] * (f[1, 1] * f[2, 2] - f[1, 2] * f[2, 1])
            - f[0, 1] * (f[1, 0] * f[2, 2] - f[1, 2] * f[2, 0])
            + f[0, 2] * (f[1, 0] * f[2, 1] - f[1, 1] * f[2, 0]))


# --------------------------------------------------------------------------------------------------
# Parameter checking (host side)
# --------------------------------------------------------------------------------------------------


class _ParameterKeyError(KeyError):
    """A ``KeyError`` whose message prints as written (``KeyError`` would print its repr)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _concrete(value):
    """``value`` as a float NumPy array, or ``None`` when it is a tracer (inside jit or grad),
    whose value cannot be checked."""
    if isinstance(value, jax.core.Tracer):
        return None
    return np.asarray(value, dtype=float)


def _show(value: np.ndarray, bad: np.ndarray) -> str:
    """The offending value(s) of a parameter, for an error message."""
    if value.ndim == 0:
        return f"{float(value):g}"
    return f"{float(value[bad].flat[0]):g} (at {int(bad.sum())} of {value.size} entries)"


@dataclasses.dataclass(frozen=True)
class Material:
    r"""Base class of the strain-energy densities.

    Subclasses set the class attributes and implement :meth:`density`; the FE assembly relies on
    exactly this interface.

    Attributes:
        parameters: names of the :math:`\theta` entries the material reads, e.g. ``("E", "nu")``.
        finite_strain: ``False`` for a small-strain material (:math:`W` depends on
            :math:`\varepsilon = \operatorname{sym}\nabla u` and :meth:`stress` is the Cauchy
            stress), ``True`` for a large-deformation one (:math:`W` depends on
            :math:`F = I + \nabla u` and :meth:`stress` is the first Piola–Kirchhoff stress).
    """

    parameters: ClassVar[tuple[str, ...]] = ()
    finite_strain: ClassVar[bool] = False

    # What the parameters are, in words, with their units; quoted by the error messages.
    _parameter_help: ClassVar[str] = ""

    # ---- the interface ---------------------------------------------------------------------------

    def density(self, grad_u, theta) -> jax.Array:
        """Strain energy per unit reference volume (stress × strain units, e.g. kPa = kJ/m³).

        Args:
            grad_u: ``(3, 3)`` displacement gradient :math:`\\partial u_i / \\partial X_j`.
            theta: mapping from the names in :attr:`parameters` to scalars.
        """
        raise NotImplementedError

    def stress(self, grad_u, theta) -> jax.Array:
        """``(3, 3)`` stress :math:`\\partial W / \\partial (\\nabla u)`: Cauchy
        :math:`\\sigma` for a small-strain material, first Piola–Kirchhoff :math:`P` for a
        finite-strain one."""
        return jax.grad(self.density)(jnp.asarray(grad_u), theta)

    def check_parameters(self, theta) -> None:
        """Raise a clear error when ``theta`` does not fit this material.

        Host-side check, to be called once before a solve (not inside ``jit``): every name in
        :attr:`parameters` must be present, no other name may be, and values that are concrete
        (not jax tracers) must be finite and physically admissible.

        Raises:
            TypeError: ``theta`` is not a mapping, or a value is not a number.
            KeyError: a parameter is missing, or an unknown one is present.
            ValueError: a concrete value is not finite or out of its admissible range.
        """
        name = self._name()
        if not isinstance(theta, Mapping):
            raise CalibTypeError(f"{name}: theta must be a mapping from parameter names to scalars "
                                 f"({self._needs()}), got {type(theta).__name__}")
        missing = [p for p in self.parameters if p not in theta]
        unknown = [p for p in theta if p not in self.parameters]
        if missing:
            raise _ParameterKeyError(
                f"{name}: theta is missing {', '.join(repr(p) for p in missing)}; it needs "
                f"{self._needs()}{self._unknown_hint(unknown)}")
        if unknown:
            raise _ParameterKeyError(
                f"{name}: theta has unknown parameter(s) {', '.join(repr(p) for p in unknown)}; "
                f"it takes only {self._needs()}{self._unknown_hint(unknown)}")
        values = {}
        for p in self.parameters:
            try:
                value = _concrete(theta[p])
            except (TypeError, ValueError) as error:
                raise CalibTypeError(f"{name}: theta[{p!r}] must be a number or a jax array, got "
                                     f"{theta[p]!r}") from error
            if value is None:
                continue
            bad = ~np.isfinite(value)
            if bad.any():
                raise CalibValueError(f"{name}: {p} = {_show(value, bad)} is not finite; give a finite "
                                      f"value")
            values[p] = value
        self._check_values(values)

    # ---- hooks for subclasses --------------------------------------------------------------------

    def _check_values(self, values: dict[str, np.ndarray]) -> None:
        """Check the admissible ranges of the concrete values (a subset of the parameters)."""

    def _unknown_hint(self, unknown: list[str]) -> str:
        """Extra advice appended to the unknown-parameter error."""
        return ""

    # ---- helpers ---------------------------------------------------------------------------------

    def _name(self) -> str:
        return type(self).__name__

    def _needs(self) -> str:
        names = ", ".join(self.parameters) if self.parameters else "no parameters"
        return f"{names} ({self._parameter_help})" if self._parameter_help else names

    def _require(self, values, p: str, ok, requirement: str) -> None:
        """Raise ``ValueError`` naming ``p`` and its offending value where ``ok`` is false."""
        ok = np.broadcast_to(np.asarray(ok, dtype=bool), np.shape(values[p]))
        if not ok.all():
            raise CalibValueError(f"{self._name()}: {p} = {_show(values[p], ~ok)} is out of range; it "
                                  f"needs {requirement}")


def _check_lame(material: Material, values, lam: str, mu: str) -> None:
    """Admissible Lamé parameters: a positive definite elasticity tensor, i.e. :math:`\\mu > 0` and
    a positive bulk modulus :math:`K = \\lambda + 2\\mu/3`."""
    if mu in values:
        material._require(values, mu, values[mu] > 0, f"{mu} > 0 (a positive shear modulus)")
    if lam in values and mu in values:
        material._require(values, lam, 3 * values[lam] + 2 * values[mu] > 0,
                          f"{lam} > -2 {mu}/3 (a positive bulk modulus K = {lam} + 2 {mu}/3)")


# --------------------------------------------------------------------------------------------------
# Linear elasticity
# --------------------------------------------------------------------------------------------------


def lame_from_young_poisson(E, nu):
    r"""Lamé parameters :math:`(\lambda, \mu)` from Young's modulus and Poisson's ratio:

    .. math::

        \lambda = \frac{E\nu}{(1 + \nu)(1 - 2\nu)}, \qquad \mu = \frac{E}{2(1 + \nu)}.

    Same units as ``E``; ``nu`` is dimensionless, :math:`-1 < \nu < 1/2`.
    """
    return E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu)), E / (2.0 * (1.0 + nu))


def lame_from_bulk_shear(K, G):
    r"""Lamé parameters :math:`(\lambda, \mu)` from the bulk and shear moduli:
    :math:`\lambda = K - 2G/3`, :math:`\mu = G`. Same units as ``K`` and ``G``."""
    return K - 2.0 * G / 3.0, G


_LINEAR_PARAMETRISATIONS = {
    "E_nu": (("E", "nu"),
             "Young's modulus in units of stress, and Poisson's ratio, dimensionless"),
    "K_G": (("K", "G"), "bulk and shear moduli, in units of stress"),
    "lame": (("lam", "mu"), "Lamé's first parameter and the shear modulus, in units of stress"),
}


@dataclasses.dataclass(frozen=True)
class LinearElastic(Material):
    r"""Isotropic linear elasticity (small strain).

    .. math::

        W = \frac{\lambda}{2} (\operatorname{tr}\varepsilon)^2 + \mu\, \varepsilon : \varepsilon,
        \qquad \varepsilon = \operatorname{sym} \nabla u,
        \qquad \sigma = \lambda \operatorname{tr}\varepsilon\, I + 2\mu\varepsilon.

    Attributes:
        parametrisation: which pair of constants :math:`\theta` holds:

            - ``"E_nu"`` (default): ``E`` (Young's modulus, stress units, > 0) and ``nu``
              (Poisson's ratio, :math:`-1 < \nu < 1/2`);
            - ``"K_G"``: ``K`` and ``G`` (bulk and shear moduli, stress units, > 0);
            - ``"lame"``: ``lam`` and ``mu`` (Lamé's first parameter and the shear modulus,
              :math:`\mu > 0`, :math:`\lambda > -2\mu/3`).

    The energy is the same whichever is chosen; only the coordinates in which :math:`\theta` is
    calibrated (and hence the conditioning of a fit) differ.
    """

    parametrisation: str = "E_nu"
    finite_strain: ClassVar[bool] = False

    def __post_init__(self):
        if self.parametrisation not in _LINEAR_PARAMETRISATIONS:
            raise CalibValueError(f"LinearElastic: parametrisation must be one of "
                                  f"{', '.join(map(repr, _LINEAR_PARAMETRISATIONS))}, got "
                                  f"{self.parametrisation!r}")

    # ``parameters`` depends on the parametrisation, so it is a property rather than a ClassVar;
    # instances read the same as those of the other materials.
    @property
    def parameters(self) -> tuple[str, ...]:
        return _LINEAR_PARAMETRISATIONS[self.parametrisation][0]

    @property
    def _parameter_help(self) -> str:
        return _LINEAR_PARAMETRISATIONS[self.parametrisation][1]

    def _name(self) -> str:
        return f"LinearElastic({self.parametrisation!r})"

    def lame_parameters(self, theta):
        r"""Lamé parameters :math:`(\lambda, \mu)` of ``theta``, in its units of stress."""
        if self.parametrisation == "E_nu":
            return lame_from_young_poisson(theta["E"], theta["nu"])
        if self.parametrisation == "K_G":
            return lame_from_bulk_shear(theta["K"], theta["G"])
        return theta["lam"], theta["mu"]

    def density(self, grad_u, theta):
        lam, mu = self.lame_parameters(theta)
        eps = _sym(jnp.asarray(grad_u))
        tr = jnp.trace(eps)
        return 0.5 * lam * tr * tr + mu * jnp.sum(eps * eps)

    def _check_values(self, values):
        if self.parametrisation == "E_nu":
            if "E" in values:
                self._require(values, "E", values["E"] > 0, "E > 0")
            if "nu" in values:
                nu = values["nu"]
                self._require(values, "nu", (nu > -1) & (nu < 0.5),
                              "-1 < nu < 0.5 (nu = 0.5 is incompressible, which a displacement "
                              "formulation cannot represent)")
        elif self.parametrisation == "K_G":
            for p in ("K", "G"):
                if p in values:
                    self._require(values, p, values[p] > 0, f"{p} > 0")
        else:
            _check_lame(self, values, "lam", "mu")

    def _unknown_hint(self, unknown):
        # Parameters of another parametrisation are the likely mistake: name the right one.
        for key, (names, _) in _LINEAR_PARAMETRISATIONS.items():
            if key != self.parametrisation and set(unknown) & set(names):
                return f"; for {', '.join(names)} use LinearElastic(parametrisation={key!r})"
        return ""


# --------------------------------------------------------------------------------------------------
# Compressible neo-Hookean
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NeoHookean(Material):
    r"""Compressible neo-Hookean solid (large deformation).

    .. math::

        W = \frac{\mu}{2}(I_1 - 3) - \mu \ln J + \frac{\lambda}{2} (\ln J)^2,
        \qquad F = I + \nabla u,\quad I_1 = \operatorname{tr}(F^\mathsf{T} F),\quad J = \det F,

    .. math::

        P = \frac{\partial W}{\partial F}
          = \mu (F - F^{-\mathsf{T}}) + \lambda \ln J\, F^{-\mathsf{T}}.

    Parameters :math:`\theta`: ``mu`` (shear modulus, > 0) and ``lam`` (Lamé's first parameter,
    :math:`\lambda > -2\mu/3`), both in units of stress. For small strains it reduces to
    :class:`LinearElastic` with the same :math:`\lambda, \mu` (its Hessian at :math:`F = I` is the
    linear elasticity tensor). :math:`W = +\infty` for :math:`J \le 0` (an inverted element), with
    zero gradient there, so that a line search rejects such a step.

    Reference: the form of J. Bonet & R. D. Wood, *Nonlinear Continuum Mechanics for Finite Element
    Analysis*, 2nd ed., Cambridge University Press (2008), §6.4.3.
    """

    parameters: ClassVar[tuple[str, ...]] = ("mu", "lam")
    finite_strain: ClassVar[bool] = True
    _parameter_help: ClassVar[str] = "shear modulus and Lamé's first parameter, in units of stress"

    def density(self, grad_u, theta):
        f = jnp.eye(3) + jnp.asarray(grad_u)
        j = _det3(f)
        admissible = j > 0
        # Double where: evaluate the log at J = 1 off the admissible branch, so that its derivative
        # (1/J) stays finite there and the zero cotangent of the unselected branch gives zero.
        log_j = jnp.log(jnp.where(admissible, j, 1.0))
        mu, lam = theta["mu"], theta["lam"]
        w = 0.5 * mu * (jnp.sum(f * f) - 3.0) - mu * log_j + 0.5 * lam * log_j * log_j
        return jnp.where(admissible, w, jnp.inf)

    def _check_values(self, values):
        _check_lame(self, values, "lam", "mu")


# --------------------------------------------------------------------------------------------------
# Houlsby, Amorosi & Rojas (2005): pressure-dependent hyperelasticity for soils
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HoulsbyAmorosiRojas(Material):
    r"""Pressure-dependent hyperelastic soil (small strain), Houlsby, Amorosi & Rojas (2005).

    Conventions inside the model are those of soil mechanics, compression positive:
    :math:`\varepsilon_v = -\operatorname{tr}\varepsilon`,
    :math:`e = \operatorname{dev}\varepsilon`, :math:`\varepsilon_s^2 = \tfrac23\, e:e`,
    :math:`p` the mean effective pressure. The Helmholtz free energy (their eq. 40, strains
    measured from the isotropic state at :math:`p = p_a`) is

    .. math::

        f(\hat\varepsilon_v, \varepsilon_s) = \frac{p_a}{k(2-n)}\, \bar b^{\,(2-n)/(1-n)},
        \qquad \bar b^2 = b^2 + 3 g k (1-n)\, \varepsilon_s^2,
        \qquad b = 1 + k(1-n)\, \hat\varepsilon_v,

    (equivalently :math:`f = C \bar a^{(2-n)/(1-n)}` with
    :math:`a = \hat\varepsilon_v + 1/(k(1-n))`,
    :math:`\bar a = \bar b / (k(1-n))`, :math:`C = p_a \frac{1-n}{2-n} [k(1-n)]^{1/(1-n)}`). Its
    stresses are :math:`p = \partial f/\partial \varepsilon_v = p_a\, b\, \bar b^{\,n/(1-n)}` and
    :math:`q = \partial f / \partial \varepsilon_s = 3 g p_a\, \bar b^{\,n/(1-n)} \varepsilon_s`,
    so that on the isotropic axis (:math:`\varepsilon_s = 0`)

    .. math::

        p = p_a [1 + k(1-n)\hat\varepsilon_v]^{1/(1-n)}, \qquad
        K = \frac{dp}{d\varepsilon_v} = k p_a (p/p_a)^n, \qquad G = g p_a (p/p_a)^n.

    Off the axis the moduli also depend on :math:`q` (stress-induced anisotropy) but the Hessian
    stays positive definite wherever :math:`p > 0`. For :math:`n = 0` the model is linear elasticity
    with :math:`K = k p_a`, :math:`G = g p_a`; the Poisson ratio on the axis is
    :math:`\nu = (3k - 2g)/(6k + 2g)` for every :math:`n`.

    **Reference state and the FE density.** ``grad_u = 0`` is the isotropic state at the mean
    effective pressure :math:`p_0` (parameter ``p0``), i.e.
    :math:`\hat\varepsilon_v = \varepsilon_v + \varepsilon_{v0}` with
    :math:`\varepsilon_{v0} = [(p_0/p_a)^{1-n} - 1]/(k(1-n))`. So that a mesh in its reference
    state is in equilibrium without body forces, the density is the free energy *relative to* that
    prestressed state,

    .. math::

        W(\nabla u) = f(\varepsilon_{v0} + \varepsilon_v, \varepsilon_s) - f(\varepsilon_{v0}, 0)
                      - p_0 \varepsilon_v,

    whose stress (tension positive, like every material here) is the stress *change* from the
    initial state, :math:`\sigma_{FE} = \sigma_{HAR} + p_0 I`, zero at ``grad_u = 0``. The absolute
    mean effective pressure is :math:`p = p_0 - \operatorname{tr}\sigma_{FE}/3`
    (:meth:`mean_pressure`).

    **Domain.** The model needs :math:`b > 0` (equivalently :math:`p > 0`): from the reference
    state, a volumetric expansion :math:`\operatorname{tr}\varepsilon <
    (p_0/p_a)^{1-n}/(k(1-n))`. Beyond it :math:`W = +\infty` with zero gradient, so that a line
    search rejects the step. :math:`\varepsilon_s^2` enters through :math:`e:e`, which is smooth,
    so no square root is taken at zero shear and the Hessian is finite at ``grad_u = 0``.

    Parameters :math:`\theta`:

    - ``k`` (> 0), ``g`` (> 0): dimensionless bulk and shear stiffness factors;
    - ``n`` (:math:`0 \le n < 1`): pressure exponent of the stiffness (≈ 0.5 for sands);
    - ``p_a`` (> 0): reference pressure, units of stress (e.g. 100 kPa);
    - ``p0`` (> 0): mean effective pressure of the reference state, same units as ``p_a``.

    Reference: G. T. Houlsby, A. Amorosi & E. Rojas, "Elastic moduli of soils dependent on
    pressure: a hyperelastic formulation", *Géotechnique* 55(5):383–392 (2005).
    """

    parameters: ClassVar[tuple[str, ...]] = ("k", "g", "n", "p_a", "p0")
    finite_strain: ClassVar[bool] = False
    _parameter_help: ClassVar[str] = (
        "dimensionless bulk and shear stiffness factors, the pressure exponent 0 <= n < 1, the "
        "reference pressure and the initial mean effective pressure, both in units of stress")

    # ---- the free energy of the paper ------------------------------------------------------------

    @staticmethod
    def _energy_of_b(b, eps_s2, theta):
        """:math:`f` as a function of :math:`b = 1 + k(1-n)\\hat\\varepsilon_v` and
        :math:`\\varepsilon_s^2`; ``+inf`` where :math:`b \\le 0`.

        Written with the dimensionless :math:`b` (of order 1) rather than :math:`a` and :math:`C`,
        whose factors :math:`[k(1-n)]^{1/(1-n)}` and :math:`a^{(2-n)/(1-n)}` are astronomically
        large and small for :math:`n` near 1 and would overflow in single precision.
        """
        k, g, n, p_a = theta["k"], theta["g"], theta["n"], theta["p_a"]
        b_bar2 = b * b + 3.0 * g * k * (1.0 - n) * eps_s2
        admissible = b > 0
        # Double where: b̄² ≥ b² > 0 on the admissible branch; elsewhere raise 1 to the power, so
        # that neither the value nor its derivatives (which involve b̄^(m-2), log b̄ for ∂/∂n)
        # are singular on the branch that is thrown away.
        b_bar2 = jnp.where(admissible, b_bar2, 1.0)
        exponent = 0.5 * (2.0 - n) / (1.0 - n)
        f = p_a / (k * (2.0 - n)) * b_bar2 ** exponent
        return jnp.where(admissible, f, jnp.inf)

    def free_energy(self, eps_v_hat, eps_s, theta):
        r"""The paper's Helmholtz free energy :math:`f(\hat\varepsilon_v, \varepsilon_s)` per unit
        volume (stress units).

        Args:
            eps_v_hat: volumetric strain, compression positive, measured from the isotropic state at
                :math:`p = p_a`.
            eps_s: shear strain invariant :math:`\sqrt{\tfrac23 e:e}` (only its square enters).
            theta: the parameters (``p0`` is not read).

        Returns :math:`+\infty` where :math:`a = \hat\varepsilon_v + 1/(k(1-n)) \le 0` (tension
        beyond :math:`p = 0`).
        """
        k, n = theta["k"], theta["n"]
        b = 1.0 + k * (1.0 - n) * eps_v_hat
        return self._energy_of_b(b, eps_s * eps_s, theta)

    def initial_volumetric_strain(self, theta):
        r""":math:`\varepsilon_{v0} = [(p_0/p_a)^{1-n} - 1]/(k(1-n))`, the volumetric strain
        (compression positive) of the reference state measured from the state at :math:`p = p_a`."""
        k, n = theta["k"], theta["n"]
        return ((theta["p0"] / theta["p_a"]) ** (1.0 - n) - 1.0) / (k * (1.0 - n))

    # ---- the FE density --------------------------------------------------------------------------

    @staticmethod
    def _strains(grad_u):
        """(ε_v, ε_s²), compression positive; ε_s² = (2/3) e:e is a polynomial: smooth at e = 0."""
        eps = _sym(jnp.asarray(grad_u))
        tr = jnp.trace(eps)
        e = eps - (tr / 3.0) * jnp.eye(3)
        return -tr, (2.0 / 3.0) * jnp.sum(e * e)

    def _b(self, eps_v, theta):
        # b = 1 + k(1-n)(ε_v0 + ε_v) = (p0/p_a)^(1-n) + k(1-n) ε_v, without forming ε_v0 (which
        # would cancel against the 1 and lose digits when p0 is close to p_a).
        k, n = theta["k"], theta["n"]
        return (theta["p0"] / theta["p_a"]) ** (1.0 - n) + k * (1.0 - n) * eps_v

    def density(self, grad_u, theta):
        eps_v, eps_s2 = self._strains(grad_u)
        k, n, p_a, p0 = theta["k"], theta["n"], theta["p_a"], theta["p0"]
        f = self._energy_of_b(self._b(eps_v, theta), eps_s2, theta)
        # f at the reference state in closed form: b0^((2-n)/(1-n)) = (p0/p_a)^(2-n).
        f0 = p_a / (k * (2.0 - n)) * (p0 / p_a) ** (2.0 - n)
        return f - f0 - p0 * eps_v

    def mean_pressure(self, grad_u, theta):
        r"""Absolute mean effective pressure :math:`p = p_a\, b\, \bar b^{\,n/(1-n)}` (compression
        positive, stress units); equal to :math:`p_0 - \operatorname{tr}\sigma_{FE}/3`. Negative
        beyond the tension limit, where the model does not apply."""
        eps_v, eps_s2 = self._strains(grad_u)
        k, g, n, p_a = theta["k"], theta["g"], theta["n"], theta["p_a"]
        b = self._b(eps_v, theta)
        b_bar2 = b * b + 3.0 * g * k * (1.0 - n) * eps_s2
        # b̄ = 0 only where b = 0, where p = 0 whatever the power: keep the power's base positive.
        safe = jnp.where(b_bar2 > 0, b_bar2, 1.0)
        return p_a * b * safe ** (0.5 * n / (1.0 - n))

    def bulk_modulus(self, p, theta):
        r"""Tangent bulk modulus on the isotropic axis, :math:`K = k p_a (p/p_a)^n` (stress units),
        at mean effective pressure ``p`` (clipped at 0, where the model ends)."""
        return theta["k"] * theta["p_a"] * (jnp.maximum(p, 0.0) / theta["p_a"]) ** theta["n"]

    def shear_modulus(self, p, theta):
        r"""Tangent shear modulus on the isotropic axis, :math:`G = g p_a (p/p_a)^n` (stress units),
        at mean effective pressure ``p`` (clipped at 0, where the model ends)."""
        return theta["g"] * theta["p_a"] * (jnp.maximum(p, 0.0) / theta["p_a"]) ** theta["n"]

    def _check_values(self, values):
        for p in ("k", "g"):
            if p in values:
                self._require(values, p, values[p] > 0, f"{p} > 0 (a dimensionless stiffness)")
        if "n" in values:
            n = values["n"]
            self._require(values, "n", (n >= 0) & (n < 1),
                          "0 <= n < 1 (n = 0 is linear elasticity; n = 1, K proportional to p, is "
                          "a different closed form)")
        for p in ("p_a", "p0"):
            if p in values:
                self._require(values, p, values[p] > 0,
                              f"{p} > 0 (a pressure, compression positive, in units of stress)")


# --------------------------------------------------------------------------------------------------
# User-defined densities
# --------------------------------------------------------------------------------------------------


# ``init=False`` and a hand-written ``__init__``: the dataclass machinery keeps the base class's
# ``parameters`` (a ClassVar there) in its first position, which would make the signature
# ``(parameters, fn)``; the user-facing order is ``(fn, parameters)``.
@dataclasses.dataclass(frozen=True, init=False)
class _UserDefined(Material):
    """Shared code of :class:`SmallStrain` and :class:`FiniteStrain`."""

    fn: Callable
    parameters: tuple[str, ...]

    def __init__(self, fn: Callable, parameters: tuple[str, ...] = ()):
        kind = type(self).__name__
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "parameters", parameters)
        if not callable(self.fn):
            raise CalibTypeError(f"{kind}: fn must be a function of (tensor, theta) returning the "
                                 f"energy density, got {self.fn!r}")
        names = (self.parameters,) if isinstance(self.parameters, str) else self.parameters
        try:
            names = tuple(names)
        except TypeError:
            names = None
        if names is None or not all(isinstance(p, str) for p in names):
            raise CalibTypeError(f"{kind}: parameters must be a tuple of the names fn reads from theta, "
                                 f"e.g. ('E', 'nu'), got {self.parameters!r}")
        # A tuple, so that the material stays hashable (a static argument of jit).
        object.__setattr__(self, "parameters", names)

    def _name(self) -> str:
        return f"{type(self).__name__}({getattr(self.fn, '__name__', repr(self.fn))})"


@dataclasses.dataclass(frozen=True, init=False)
class SmallStrain(_UserDefined):
    r"""A user-defined small-strain density :math:`W = \mathrm{fn}(\varepsilon, \theta)`.

    Attributes:
        fn: ``fn(eps, theta) -> scalar``, with ``eps`` the ``(3, 3)`` symmetric strain
            :math:`\operatorname{sym}\nabla u`; energy per unit volume. It must be written in
            ``jax.numpy``; :meth:`stress` is its derivative (the Cauchy stress).
        parameters: the names ``fn`` reads from ``theta`` (checked by :meth:`check_parameters`,
            which checks presence and finiteness only: ranges are the user's business).
    """

    finite_strain: ClassVar[bool] = False

    def density(self, grad_u, theta):
        return self.fn(_sym(jnp.asarray(grad_u)), theta)


@dataclasses.dataclass(frozen=True, init=False)
class FiniteStrain(_UserDefined):
    r"""A user-defined finite-strain density :math:`W = \mathrm{fn}(F, \theta)`.

    Attributes:
        fn: ``fn(F, theta) -> scalar``, with ``F = I + grad_u`` the ``(3, 3)`` deformation
            gradient; energy per unit reference volume. It should be objective (depend on
            :math:`F` through :math:`F^\mathsf{T}F`) and return ``+inf`` where it is not defined
            (e.g. :math:`\det F \le 0`) using safe branches; :meth:`stress` is its derivative (the
            first Piola–Kirchhoff stress).
        parameters: the names ``fn`` reads from ``theta``.
    """

    finite_strain: ClassVar[bool] = True

    def density(self, grad_u, theta):
        return self.fn(jnp.eye(3) + jnp.asarray(grad_u), theta)
