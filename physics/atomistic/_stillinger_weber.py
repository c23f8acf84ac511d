r"""The Stillinger–Weber three-body potential for diamond-structure silicon.

.. math::

    E = \sum_{i<j} \phi_2(r_{ij}) + \sum_i \sum_{j<k;\ j,k \ne i} \phi_3(r_{ij}, r_{ik}, \theta_{jik}),

.. math::

    \phi_2(r) = A\varepsilon\left[B\left(\frac{\sigma}{r}\right)^p - \left(\frac{\sigma}{r}\right)^q\right]
                \exp\!\left(\frac{\sigma}{r - a\sigma}\right), \qquad
    \phi_3 = \lambda\varepsilon\,(\cos\theta_{jik} - \cos\theta_0)^2
             \exp\!\left(\frac{\gamma\sigma}{r_{ij} - a\sigma}\right)
             \exp\!\left(\frac{\gamma\sigma}{r_{ik} - a\sigma}\right),

both zero for :math:`r \ge a\sigma` (F. H. Stillinger and T. A. Weber, Phys. Rev. B 31, 5262,
1985). :math:`\theta_{jik}` is the angle at atom :math:`i` between its bonds to :math:`j` and
:math:`k`; with :math:`\cos\theta_0 = -1/3` the three-body term vanishes at the tetrahedral angle
and penalises every other one, which is what stabilises the open diamond lattice.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ._potential import Constraint, Potential, positive, value_of

# exp(scale / x) for x -> 0- is flat to all orders; below this exponent it is replaced by exactly 0
# (e^-500 ~ 1e-217, far below any energy resolution). Stopping short of x = 0 keeps every derivative
# of the factor (powers of scale / x^2 times e^{scale/x}) finite instead of inf * 0 = NaN.
_DECAY_EXPONENT_LIMIT = 500.0

# Tetrahedral angle: the default cos(theta_0) when theta does not give one.
_COS_TETRAHEDRAL = -1.0 / 3.0

# Relative slack on a*sigma <= cutoff: within it exp(sigma / (r - a sigma)) < exp(-1e9 / a) = 0, so
# a cutoff equal to a*sigma up to rounding (the default, 1.80 * 2.0951) truncates nothing.
_CUTOFF_SLACK = 1e-9


def _cutoff_decay(x, scale, valid):
    r""":math:`\exp(\text{scale}/x)` for :math:`x < 0` (``x = r - a\sigma``), 0 otherwise, with finite
    derivatives of every order in ``x`` and ``scale``.

    The double ``where``: entries that are masked (``valid`` false, beyond the range, or so close
    to it that the factor underflows) get a harmless stand-in ``x = -1`` *before* the division, so
    neither the value nor the derivatives of the discarded branch are inf or NaN (a ``where`` on
    the result alone still differentiates the discarded branch, and 0 * inf = NaN).
    """
    live = valid & (x < 0) & (x * _DECAY_EXPONENT_LIMIT < -scale)
    safe_x = jnp.where(live, x, -1.0)
    return jnp.where(live, jnp.exp(scale / safe_x), 0.0)


def _power(base, exponent):
    # s^q written as exp(q log s), so that q = 0 (silicon) is an ordinary point of a smooth function
    # of q with derivative log(s) s^q. The base s = sigma / r is positive everywhere, masked entries
    # included (r = 1 there), so the logarithm is finite.
    return jnp.exp(exponent * jnp.log(base))


@dataclasses.dataclass(frozen=True)
class StillingerWeber(Potential):
    r"""Stillinger & Weber (Phys. Rev. B 31, 5262, 1985), a single-species three-body potential.

    .. math::

        E_i = \tfrac12 \sum_{j \ne i} \phi_2(r_{ij})
              + \sum_{j<k;\ j,k \ne i} \phi_3(r_{ij}, r_{ik}, \theta_{jik})

    per atom (half of each pair term, and every angle centred on :math:`i`); see the module
    docstring for :math:`\phi_2` and :math:`\phi_3`. Neighbours are entries of the dense list, so a
    periodic image of an atom (or of :math:`i` itself, in a small cell) is a neighbour in its own
    right, and a triplet may hold two images of the same atom. Species are ignored.

    Parameters θ (all differentiable):

    - ``epsilon``: energy scale :math:`\varepsilon`, eV;
    - ``sigma``: length scale :math:`\sigma`, Å;
    - ``a``: range in units of σ (both terms vanish, with all derivatives, at :math:`r = a\sigma`);
    - ``lambda_``: three-body strength :math:`\lambda` (``lambda`` is a Python keyword);
    - ``gamma``: three-body decay length :math:`\gamma`, in σ;
    - ``A``, ``B``: pair prefactors; ``p``, ``q``: pair exponents (dimensionless, ``q = 0`` is fine);
    - ``cos_theta0``: the preferred :math:`\cos\theta_0`; optional, −1/3 (tetrahedral) if absent.

    :data:`STILLINGER_WEBER_SI` holds the original silicon set: diamond Si with
    :math:`a_0 = 4\cdot 2^{1/6}\sigma/\sqrt3 = 5.431` Å and cohesive energy :math:`2\varepsilon =
    4.3366` eV per atom.

    Attributes:
        cutoff: Å, static; must be at least :math:`a\sigma` of θ (the default is
            :math:`a\sigma` of :data:`STILLINGER_WEBER_SI`, 3.77118 Å). This, and the positivity of
            ``epsilon``, ``sigma``, ``a``, ``gamma`` (``lambda_ >= 0``), is checked at once when θ
            holds concrete numbers and at run time under ``jit``/``grad``/``vmap``; when fitting σ
            or :math:`a`, give a cutoff with room to spare (beyond :math:`a\sigma` the terms are 0).
    """

    parameters = ("epsilon", "sigma", "a", "lambda_", "gamma", "A", "B", "p", "q", "cos_theta0")
    cutoff: float = 1.80 * 2.0951

    def constraints(self, theta):
        a, sigma = value_of(theta["a"]), value_of(theta["sigma"])
        reach = a * sigma
        reach_text = (f"{float(np.max(reach)):.6g}" if not isinstance(reach, jax.core.Tracer)
                      else "a * sigma")
        return (positive(theta, "epsilon", "the energy scale, eV"),
                positive(theta, "sigma", "the length scale, Å"),
                positive(theta, "a", "the range in units of sigma"),
                positive(theta, "gamma", "the three-body decay length in units of sigma"),
                Constraint(("lambda_",), value_of(theta["lambda_"]) >= 0,
                           "lambda_ >= 0 (the three-body strength; negative favours collapse)"),
                Constraint(("a", "sigma"), reach <= self.cutoff * (1.0 + _CUTOFF_SLACK),
                           f"a * sigma <= cutoff = {self.cutoff:.6g} Å (the potential's reach, "
                           "which the cutoff would truncate)",
                           f"use StillingerWeber(cutoff={reach_text}) or larger (beyond a * sigma "
                           "the terms are 0, so a larger cutoff costs only time)"))

    def site_energies(self, theta, r, d, inside, species, neighbour_species):
        if isinstance(theta, dict):
            theta = {"cos_theta0": _COS_TETRAHEDRAL, **theta}
        theta = self.check_theta(theta)
        eps, sigma, a = theta["epsilon"], theta["sigma"], theta["a"]
        x = r - a * sigma  # < 0 within range

        # Pair term; r is 1.0 on masked entries, so log(sigma / r) is finite everywhere.
        s = sigma / r
        radial = theta["B"] * _power(s, theta["p"]) - _power(s, theta["q"])
        pair = theta["A"] * eps * radial * _cutoff_decay(x, sigma, inside)
        pair_energy = 0.5 * jnp.sum(jnp.where(inside, pair, 0.0), axis=1)

        # Three-body term over all pairs (m, n), m != n, of entries of i's list: (N, M, M).
        g = _cutoff_decay(x, theta["gamma"] * sigma, inside)  # (N, M), 0 where masked
        unit = d / r[..., None]  # finite on masked entries too (r = 1 there)
        cosine = jnp.einsum("nmk,nlk->nml", unit, unit)
        capacity = r.shape[1]
        pairs = (inside[:, :, None] & inside[:, None, :]
                 & ~jnp.eye(capacity, dtype=bool)[None])
        angular = (cosine - theta["cos_theta0"]) ** 2 * g[:, :, None] * g[:, None, :]
        # Each unordered pair {j, k} appears twice, as (m, n) and (n, m).
        three_body = 0.5 * theta["lambda_"] * eps * jnp.sum(jnp.where(pairs, angular, 0.0),
                                                            axis=(1, 2))
        return pair_energy + three_body


STILLINGER_WEBER_SI = {"epsilon": 2.1683, "sigma": 2.0951, "a": 1.80, "lambda_": 21.0,
                       "gamma": 1.20, "A": 7.049556277, "B": 0.6022245584, "p": 4.0, "q": 0.0,
                       "cos_theta0": -1.0 / 3.0}
"""Silicon, Stillinger & Weber (1985): epsilon = 50 kcal/mol in eV, sigma in Å, the rest
dimensionless (the same numbers as LAMMPS's ``Si.sw``). A and B put the minimum of
:math:`\\phi_2` at :math:`2^{1/6}\\sigma` with depth :math:`-\\varepsilon`."""
