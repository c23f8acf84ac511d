r"""User-defined strain-energy densities: a function of the small strain or of the deformation
gradient, with the names of the parameters it reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar

from calib._errors import CalibTypeError

from ._kinematics import deformation_gradient, small_strain
from ._material import Material


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
        return self.fn(small_strain(grad_u), theta)


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
        return self.fn(deformation_gradient(grad_u), theta)
