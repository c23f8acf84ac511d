r"""The interface of a strain-energy density (a material) and its parameter checks.

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

The laws themselves live in one module each (:mod:`._linear_elastic`, :mod:`._neo_hookean`,
:mod:`._houlsby_amorosi_rojas`, :mod:`._user_materials`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from calib._errors import CalibKeyError, CalibTypeError, CalibValueError

from ._parameters import Range, check_concrete, check_traced, concrete, is_traced, show


@dataclasses.dataclass(frozen=True)
class Material:
    r"""Base class of the strain-energy densities.

    Subclasses set the class attributes, implement :meth:`density` and list their admissible
    parameter ranges in :meth:`_ranges`; the FE assembly relies on exactly this interface.

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

    def check_parameters(self, theta, *, where: str | None = None) -> None:
        """Raise a clear error when ``theta`` does not fit this material.

        Host-side check, to be called once before a solve: every name in :attr:`parameters` must
        be present, no other name may be, and values that are concrete (not jax tracers) must be
        finite and physically admissible. Traced values are checked at run time by
        :meth:`checked`.

        Args:
            theta: mapping from parameter names to numbers or arrays.
            where: optional context that prefixes the messages, e.g. ``"Model region 'clay'"``.

        Raises:
            TypeError: ``theta`` is not a mapping, or a value is not a number.
            KeyError: a parameter is missing, or an unknown one is present.
            ValueError: a concrete value is not finite or out of its admissible range.
        """
        name = self._owner(where)
        self._check_names(theta, name)
        values = {}
        for p in self.parameters:
            try:
                value = concrete(theta[p])
            except (TypeError, ValueError) as error:
                raise CalibTypeError(f"{name}: theta[{p!r}] must be a number or a jax array, got "
                                     f"{theta[p]!r}") from error
            if value is None:
                continue
            bad = ~np.isfinite(value)
            if bad.any():
                raise CalibValueError(f"{name}: {p} = {show(value, bad)} is not finite; give a "
                                      "finite value")
            values[p] = value
        check_concrete(name, self._ranges(), values)

    def checked(self, theta, *, where: str | None = None):
        """``theta`` unchanged, with its ranges checked at run time where its values are traced.

        Inside ``jit``/``grad``/``vmap`` :meth:`check_parameters` cannot read the values; this
        inserts one run-time check (:func:`equinox.branched_error_if`) that raises, when the
        compiled computation runs on an inadmissible value, an error naming the material, the
        parameter, its admissible range and the fix. Use the returned ``theta`` downstream so that
        the check is part of the computation. With concrete values it is :meth:`check_parameters`.
        """
        self.check_parameters(theta, where=where)
        if not any(is_traced(leaf) for leaf in jax.tree.leaves(theta)):
            return theta
        return check_traced(self._owner(where), self.parameters, self._ranges(), theta)

    # ---- hooks for subclasses --------------------------------------------------------------------

    def _ranges(self) -> tuple[Range, ...]:
        """The admissibility conditions of the parameters (finiteness is always checked)."""
        return ()

    def _unknown_hint(self, unknown: list[str]) -> str:
        """Extra advice appended to the unknown-parameter error."""
        return ""

    # ---- helpers ---------------------------------------------------------------------------------

    def _check_names(self, theta, name: str) -> None:
        if not isinstance(theta, Mapping):
            raise CalibTypeError(f"{name}: theta must be a mapping from parameter names to scalars "
                                 f"({self._needs()}), got {type(theta).__name__}")
        missing = [p for p in self.parameters if p not in theta]
        unknown = [p for p in theta if p not in self.parameters]
        if missing:
            raise CalibKeyError(
                f"{name}: theta is missing {', '.join(repr(p) for p in missing)}; it needs "
                f"{self._needs()}{self._unknown_hint(unknown)}")
        if unknown:
            raise CalibKeyError(
                f"{name}: theta has unknown parameter(s) {', '.join(repr(p) for p in unknown)}; "
                f"it takes only {self._needs()}{self._unknown_hint(unknown)}")

    def _name(self) -> str:
        return type(self).__name__

    def _owner(self, where: str | None) -> str:
        return f"{where}, {self._name()}" if where else self._name()

    def _needs(self) -> str:
        names = ", ".join(self.parameters) if self.parameters else "no parameters"
        return f"{names} ({self._parameter_help})" if self._parameter_help else names
