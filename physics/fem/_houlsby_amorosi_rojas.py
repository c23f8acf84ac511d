r"""The pressure-dependent hyperelastic soil of Houlsby, Amorosi & Rojas (2005)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp

from ._kinematics import small_strain
from ._material import Material
from ._parameters import Range, positive


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
        eps = small_strain(grad_u)
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

    def _ranges(self):
        return (positive("k", "a dimensionless stiffness"), positive("g", "a dimensionless stiffness"),
                Range("n", lambda v: (v["n"] >= 0) & (v["n"] < 1),
                      "0 <= n < 1 (n = 0 is linear elasticity; n = 1, K proportional to p, is a "
                      "different closed form)"),
                positive("p_a", "a pressure, compression positive, in units of stress"),
                positive("p0", "a pressure, compression positive, in units of stress"))
