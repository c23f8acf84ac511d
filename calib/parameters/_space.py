r"""The set of a fit's parameters, and the map from the optimiser's vector ``z`` to the model's θ.

The free parameters (not ``fixed``, not tied) are flattened, in declaration order, into one vector;
each element moves in its unconstrained coordinate :math:`z_i` (see ``_transforms``). From ``z``,
:meth:`ParameterSpace.values` builds every parameter's physical value (fixed ones as constants, tied
ones from their expressions) and :meth:`ParameterSpace.theta` nests them by path for the model:
``{"clay.E": 10, "clay.nu": 0.3} -> {"clay": {"E": 10, "nu": 0.3}}``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import CalibKeyError, CalibTypeError, CalibValueError
from ._spec import Parameter, Tied
from ._transforms import Transform, choose


def as_specs(parameters: Any) -> list[Parameter | Tied]:
    """Accept a list of specs, or a mapping ``name -> value | spec | dict of Parameter fields``."""
    if isinstance(parameters, ParameterSpace):
        return list(parameters.specs)
    if isinstance(parameters, Mapping):
        specs = []
        for name, entry in parameters.items():
            if isinstance(entry, (Parameter, Tied)):
                if entry.name != name:
                    raise CalibValueError(f"parameters: key {name!r} holds a spec named {entry.name!r}")
                specs.append(entry)
            elif isinstance(entry, Mapping):
                entry = dict(entry)
                specs.append(Tied(name, **entry) if "expression" in entry else Parameter(name, **entry))
            else:
                specs.append(Parameter(name, entry))
        return specs
    if isinstance(parameters, (Parameter, Tied)):
        return [parameters]
    if isinstance(parameters, Iterable) and not isinstance(parameters, (str, bytes)):
        specs = list(parameters)
        for spec in specs:
            if not isinstance(spec, (Parameter, Tied)):
                raise CalibTypeError(f"parameters: expected calib.Parameter or calib.Tied entries, "
                                     f"got {spec!r}")
        return specs
    raise CalibTypeError(f"parameters must be a list of calib.Parameter/calib.Tied or a dict "
                         f"name -> initial value, got {type(parameters).__name__}")


class ParameterSpace:
    """Free, fixed and tied parameters and their transforms.

    Args:
        parameters: see :func:`as_specs`.
        bounds_native: the optimiser enforces bounds itself, so parameters without an explicit
            transform keep the identity (with a scale) and their bounds go to the optimiser.
    """

    def __init__(self, parameters: Any, *, bounds_native: bool):
        self.specs = tuple(as_specs(parameters))
        if not self.specs:
            raise CalibValueError("parameters: none given; pass e.g. [calib.Parameter('E', 10.0)]")
        names = [spec.name for spec in self.specs]
        seen = set()
        for name in names:
            if name in seen:
                raise CalibValueError(f"parameters: {name!r} is given twice")
            seen.add(name)
        for name in names:  # 'clay' and 'clay.E' cannot both be leaves of one nested theta
            for other in names:
                if other.startswith(name + "."):
                    raise CalibValueError(f"parameters: {name!r} is both a parameter and the group "
                                          f"of {other!r}; rename one")
        self.free = tuple(s for s in self.specs if isinstance(s, Parameter) and not s.fixed)
        self.fixed = tuple(s for s in self.specs if isinstance(s, Parameter) and s.fixed)
        self.tied = tuple(s for s in self.specs if isinstance(s, Tied))
        self._order_tied()
        self.transforms: dict[str, Transform] = {
            s.name: choose(s.transform, s.lower, s.upper, s.value, name=s.name,
                           bounds_native=bounds_native) for s in self.free}
        # Element names of the free vector: scalars keep their name, vector entries get an index.
        self.free_names: tuple[str, ...] = tuple(
            name for s in self.free for name in _element_names(s))
        self.size = len(self.free_names)
        self._slices = {}
        start = 0
        for s in self.free:
            n = int(np.prod(s.shape, dtype=int))
            self._slices[s.name] = slice(start, start + n)
            start += n

    def _order_tied(self):
        """Tied expressions in an order where each reads only what is already known."""
        known = {s.name for s in self.specs if isinstance(s, Parameter)}
        pending, ordered = list(self.tied), []
        while pending:
            progress = False
            for tied in list(pending):
                needs = tied.depends_on
                if needs is None or set(needs) <= known:
                    unknown = [] if needs is None else [n for n in needs if n not in
                                                        {s.name for s in self.specs}]
                    if unknown:
                        raise CalibKeyError(f"tied parameter {tied.name!r} uses {unknown[0]!r}, which "
                                            "is not a parameter")
                    ordered.append(tied)
                    known.add(tied.name)
                    pending.remove(tied)
                    progress = True
            if not progress:
                names = ", ".join(t.name for t in pending)
                missing = sorted({n for t in pending for n in t.depends_on} - known)
                raise CalibValueError(f"tied parameters {names} depend on each other in a cycle or "
                                      f"on unknown names ({', '.join(missing)}); tie each to free or "
                                      "fixed parameters")
        self.tied = tuple(ordered)

    # ------------------------------------------------------------------ vectors
    def z0(self) -> np.ndarray:
        """Unconstrained start ``z`` (numpy, shape ``(size,)``)."""
        return self.to_unconstrained({s.name: s.value for s in self.free})

    def to_unconstrained(self, values: Mapping[str, Any]) -> np.ndarray:
        parts = [np.ravel(self.transforms[s.name].to_unconstrained(values[s.name], name=s.name))
                 for s in self.free]
        return np.concatenate(parts) if parts else np.zeros(0)

    def free_vector(self, values: Mapping[str, Any]) -> np.ndarray:
        """Physical values of the free elements, flattened (numpy)."""
        parts = [np.ravel(np.asarray(values[s.name], dtype=float)) for s in self.free]
        return np.concatenate(parts) if parts else np.zeros(0)

    def values(self, z, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every parameter's physical value from ``z`` (JAX-traceable), tied ones included."""
        values: dict[str, Any] = {}
        for s in self.free:
            part = z[self._slices[s.name]]
            value = self.transforms[s.name].to_physical(part)
            values[s.name] = jnp.reshape(value, s.shape)
        for s in self.fixed:
            values[s.name] = jnp.asarray(s.value)
        if overrides:
            values.update({name: jnp.asarray(v) for name, v in overrides.items()})
        for tied in self.tied:
            try:
                values[tied.name] = jnp.asarray(tied.expression(dict(values)))
            except KeyError as error:
                raise CalibKeyError(f"tied parameter {tied.name!r}: its expression reads {error}, "
                                    "which is not a (free, fixed or earlier tied) parameter") from None
        return values

    def derivative(self, z):
        r""":math:`d\theta_i/dz_i` for each free element (the transform is elementwise)."""
        parts = [jnp.ravel(self.transforms[s.name].derivative(z[self._slices[s.name]]))
                 for s in self.free]
        return jnp.concatenate(parts) if parts else jnp.zeros(0)

    def native_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds on ``z`` for an optimiser that enforces them (±inf where a transform does)."""
        lower, upper = np.full(self.size, -np.inf), np.full(self.size, np.inf)
        for s in self.free:
            t = self.transforms[s.name]
            if t.kind == "identity":
                lower[self._slices[s.name]] = s.lower / t.scale
                upper[self._slices[s.name]] = s.upper / t.scale
        return lower, upper

    @property
    def has_native_bounds(self) -> bool:
        lower, upper = self.native_bounds()
        return bool(np.any(np.isfinite(lower)) or np.any(np.isfinite(upper)))

    def element_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Physical bounds of each free element."""
        sizes = [int(np.size(s.value)) for s in self.free]
        lower = np.repeat([s.lower for s in self.free], sizes).astype(float)
        upper = np.repeat([s.upper for s in self.free], sizes).astype(float)
        return lower, upper

    # ------------------------------------------------------------------ priors
    def prior_residuals(self, values: Mapping[str, Any]):
        r"""``(theta - mu) / sigma`` for each free element with a prior (shape ``(k,)``)."""
        parts = [jnp.ravel((values[s.name] - s.prior[0]) / s.prior[1]) for s in self.free
                 if s.prior is not None]
        return jnp.concatenate(parts) if parts else jnp.zeros(0)

    def prior_precision(self) -> np.ndarray | None:
        """Diagonal precision :math:`1/\\sigma^2` of the priors on the free elements, or None."""
        if not any(s.prior is not None for s in self.free):
            return None
        diagonal = np.zeros(self.size)
        for s in self.free:
            if s.prior is not None:
                diagonal[self._slices[s.name]] = 1.0 / s.prior[1] ** 2
        return np.diag(diagonal)

    # ------------------------------------------------------------------ nesting
    @staticmethod
    def theta(values: Mapping[str, Any]) -> dict:
        """Nest ``{"clay.E": v}`` into ``{"clay": {"E": v}}``."""
        nested: dict = {}
        for path, value in values.items():
            node = nested
            *groups, leaf = path.split(".")
            for group in groups:
                node = node.setdefault(group, {})
            node[leaf] = value
        return nested

    def spec(self, name: str):
        for s in self.specs:
            if s.name == name:
                return s
        raise CalibKeyError(f"no parameter named {name!r}; parameters: "
                            f"{', '.join(s.name for s in self.specs)}")

    def element_slice(self, name: str) -> slice:
        if name not in self._slices:
            raise CalibKeyError(f"{name!r} is not a free parameter; free: "
                                f"{', '.join(self._slices) or 'none'}")
        return self._slices[name]


def _element_names(spec: Parameter) -> list[str]:
    if not spec.shape:
        return [spec.name]
    return [f"{spec.name}[{','.join(map(str, index))}]" for index in np.ndindex(*spec.shape)]


jax.tree_util.register_static(ParameterSpace)
