r"""Supports (Dirichlet conditions) and loads (pressures, tractions, body forces).

Loads are *dead*: they act on the reference configuration (normals and areas of the undeformed
mesh), so the external work is linear in the displacement, :math:`W_{ext} = f \cdot u` with a
nodal force vector :math:`f` assembled once. That is exact for small-strain analyses and the usual
assumption for soil under self-weight and footing loads.

Where a boundary is named, it is a facet group of the mesh (``mesh.boundaries``); a Dirichlet
condition may instead select nodes by a predicate ``where(points) -> bool mask``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence, Union

import numpy as np
from calib._errors import CalibValueError

Value = Union[float, Sequence[float], np.ndarray, Callable]

_AXES = {"x": 0, "y": 1, "z": 2}


def _components(components, dim: int, owner: str) -> tuple[int, ...]:
    if components in (None, "all"):
        return tuple(range(dim))
    if isinstance(components, str):
        components = [components] if len(components) == 1 else list(components)
    if isinstance(components, int):
        components = [components]
    out = []
    for c in components:
        c = _AXES.get(c, c) if isinstance(c, str) else c
        if not isinstance(c, (int, np.integer)) or not 0 <= c < dim:
            raise CalibValueError(f"{owner}: components must be 'all', axis names 'x', 'y'{', z' if dim == 3 else ''} "
                                  f"or indices below {dim}, got {components!r}")
        out.append(int(c))
    return tuple(sorted(set(out)))


@dataclasses.dataclass(frozen=True, eq=False)
class Dirichlet:
    """Prescribed displacement components on a boundary: supports, rollers, imposed motion.

    Attributes:
        boundary: a facet-group name of the mesh, or ``where(points (n, dim)) -> bool mask (n,)``.
        components: which displacement components are prescribed: ``"all"`` (fixed / clamped),
            ``"x"`` (a roller that slides along y), ``"y"``, ``("x", "z")``, or indices.
        value: the prescribed displacement (length units): a number (every chosen component), a
            sequence with one number per chosen component, or ``value(points (n, dim)) -> (n, k)``
            for the ``k`` chosen components (e.g. an exact solution on an outer boundary).
    """

    boundary: str | Callable
    components: str | int | Sequence = "all"
    value: Value = 0.0

    def resolve(self, mesh) -> tuple[np.ndarray, np.ndarray]:
        """The prescribed global DOFs (``node * dim + component``) and their values."""
        owner = f"Dirichlet({self.boundary!r})"
        comps = _components(self.components, mesh.dim, owner)
        if callable(self.boundary):
            mask = np.asarray(self.boundary(mesh.points), dtype=bool)
            if mask.shape != (mesh.n_nodes,):
                raise CalibValueError(f"{owner}: the node predicate must return a boolean mask of shape "
                                      f"({mesh.n_nodes},), got {mask.shape}")
            nodes = np.flatnonzero(mask)
        else:
            nodes = mesh.boundary_nodes(self.boundary)
        if nodes.size == 0:
            raise CalibValueError(f"{owner}: selects no nodes; check the boundary name or predicate")
        points = mesh.points[nodes]
        if callable(self.value):
            values = np.asarray(self.value(points), dtype=float)
            values = values.reshape(len(nodes), -1) if values.ndim <= 1 else values
        else:
            values = np.broadcast_to(np.asarray(self.value, dtype=float), (len(nodes), len(comps)))
        if values.shape != (len(nodes), len(comps)):
            raise CalibValueError(f"{owner}: value must give {len(comps)} component(s) per node, i.e. "
                                  f"shape ({len(nodes)}, {len(comps)}), got {values.shape}")
        if not np.all(np.isfinite(values)):
            raise CalibValueError(f"{owner}: prescribed values must be finite")
        dofs = (nodes[:, None] * mesh.dim + np.asarray(comps)[None, :]).ravel()
        return dofs, values.ravel()


def _facet_values(value, positions, normals, dim, owner, vector: bool):
    """Evaluate a constant or callable load at the quadrature points ``positions (f, q, dim)``."""
    f, q, _ = positions.shape
    if callable(value):
        out = np.asarray(value(positions.reshape(-1, dim)), dtype=float)
        out = out.reshape(f, q, dim) if vector else out.reshape(f, q)
    else:
        shape = (f, q, dim) if vector else (f, q)
        try:
            out = np.broadcast_to(np.asarray(value, dtype=float), shape)
        except ValueError:
            kind = f"{dim} components" if vector else "a scalar"
            raise CalibValueError(f"{owner}: value must be {kind} or a function of position, got "
                                  f"{value!r}") from None
    if not np.all(np.isfinite(out)):
        raise CalibValueError(f"{owner}: load values must be finite")
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class Pressure:
    """A normal pressure on a boundary (stress units; positive pushes *into* the body).

    ``value`` is a number or ``value(points (n, dim)) -> (n,)`` (e.g. a hydrostatic profile).
    """

    boundary: str
    value: Value

    def traction(self, positions, normals, dim):
        return -_facet_values(self.value, positions, normals, dim, f"Pressure({self.boundary!r})",
                              vector=False)[..., None] * normals


@dataclasses.dataclass(frozen=True, eq=False)
class Traction:
    """A traction vector (force per unit reference area) on a boundary.

    ``value`` is a ``dim``-vector or ``value(points (n, dim)) -> (n, dim)``.
    """

    boundary: str
    value: Value

    def traction(self, positions, normals, dim):
        return _facet_values(self.value, positions, normals, dim, f"Traction({self.boundary!r})",
                             vector=True)


@dataclasses.dataclass(frozen=True, eq=False)
class BodyForce:
    """A body force per unit reference volume (e.g. gravity: ``(0, -γ)`` with γ the unit weight in
    kN/m³ for kPa and m), on every cell or on the cells of named regions.

    ``value`` is a ``dim``-vector or ``value(points (n, dim)) -> (n, dim)``.
    """

    value: Value
    regions: Sequence[str] | None = None


def gravity(unit_weight: float, dim: int = 2, regions: Sequence[str] | None = None) -> BodyForce:
    """Self-weight acting along ``-y`` (2D) or ``-z`` (3D): unit weight γ = ρ g (force per volume)."""
    vector = np.zeros(dim)
    vector[-1] = -float(unit_weight)
    return BodyForce(vector, regions)
