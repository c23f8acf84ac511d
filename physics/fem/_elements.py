r"""Reference elements (Lagrange shape functions) and quadrature rules.

Elements are isoparametric: the geometry is interpolated with the same shape functions as the
displacement, so a quadratic triangle whose midside nodes lie on a circle has exactly curved (to
:math:`O(h^3)`) edges. Node orders follow gmsh/meshio:

* ``triangle``: vertices :math:`(0,0), (1,0), (0,1)`.
* ``triangle6``: those vertices, then the midside nodes of edges 0–1, 1–2, 2–0.
* ``tetra``: vertices :math:`(0,0,0), (1,0,0), (0,1,0), (0,0,1)`.
* facets ``line`` (:math:`s \in [-1, 1]`, nodes at :math:`s=-1, 1`), ``line3`` (nodes at
  :math:`s = -1, 1, 0`) and ``triangle`` (a face of a tetrahedron).

Quadrature rules on the reference triangle (area 1/2) and tetrahedron (volume 1/6) integrate
polynomials of the stated degree exactly: the centroid rule (degree 1), Strang–Fix's 3-point rule
(degree 2), Radon's 7-point rule (degree 5); for tetrahedra the centroid and the 4-point degree-2
rule (Keast 1986); Gauss–Legendre on lines.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from calib._errors import CalibValueError


@dataclasses.dataclass(frozen=True, eq=False)
class Quadrature:
    """Points ``(q, d)`` in reference coordinates and weights ``(q,)``; exact to ``degree``."""

    points: np.ndarray
    weights: np.ndarray
    degree: int


def _triangle_rule(degree: int) -> Quadrature:
    if degree <= 1:
        return Quadrature(np.array([[1 / 3, 1 / 3]]), np.array([0.5]), 1)
    if degree == 2:
        a, b = 1 / 6, 2 / 3
        return Quadrature(np.array([[a, a], [b, a], [a, b]]), np.full(3, 1 / 6), 2)
    if degree <= 5:
        r15 = np.sqrt(15.0)
        a1, b1 = (6 - r15) / 21, (9 + 2 * r15) / 21
        a2, b2 = (6 + r15) / 21, (9 - 2 * r15) / 21
        w1, w2 = (155 - r15) / 2400, (155 + r15) / 2400
        points = [[1 / 3, 1 / 3], [a1, a1], [b1, a1], [a1, b1], [a2, a2], [b2, a2], [a2, b2]]
        return Quadrature(np.array(points), np.array([9 / 80] + [w1] * 3 + [w2] * 3), 5)
    raise CalibValueError(f"triangle quadrature: degree must be at most 5, got {degree}")


def _tetra_rule(degree: int) -> Quadrature:
    if degree <= 1:
        return Quadrature(np.array([[0.25, 0.25, 0.25]]), np.array([1 / 6]), 1)
    if degree == 2:
        a, b = (5 - np.sqrt(5.0)) / 20, (5 + 3 * np.sqrt(5.0)) / 20
        points = [[a, a, a], [b, a, a], [a, b, a], [a, a, b]]
        return Quadrature(np.array(points), np.full(4, 1 / 24), 2)
    raise CalibValueError(f"tetrahedron quadrature: degree must be at most 2, got {degree}")


def _line_rule(degree: int) -> Quadrature:
    n = max(1, (degree + 2) // 2)  # n Gauss points are exact to degree 2n - 1
    points, weights = np.polynomial.legendre.leggauss(n)
    return Quadrature(points[:, None], weights, 2 * n - 1)


def _tri3(p):
    x, y = p[:, 0], p[:, 1]
    n = np.stack([1 - x - y, x, y], axis=1)
    dn = np.broadcast_to(np.array([[-1.0, -1.0], [1.0, 0.0], [0.0, 1.0]]), (len(p), 3, 2))
    return n, dn.copy()


def _tri6(p):
    x, y = p[:, 0], p[:, 1]
    l1, l2, l3 = 1 - x - y, x, y
    n = np.stack([l1 * (2 * l1 - 1), l2 * (2 * l2 - 1), l3 * (2 * l3 - 1),
                  4 * l1 * l2, 4 * l2 * l3, 4 * l3 * l1], axis=1)
    # d/dx and d/dy of each (dl1 = (-1, -1), dl2 = (1, 0), dl3 = (0, 1)).
    dx = np.stack([-(4 * l1 - 1), 4 * l2 - 1, 0 * x, 4 * (l1 - l2), 4 * l3, -4 * l3], axis=1)
    dy = np.stack([-(4 * l1 - 1), 0 * x, 4 * l3 - 1, -4 * l2, 4 * l2, 4 * (l1 - l3)], axis=1)
    return n, np.stack([dx, dy], axis=2)


def _tet4(p):
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    n = np.stack([1 - x - y - z, x, y, z], axis=1)
    grads = np.array([[-1.0, -1.0, -1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return n, np.broadcast_to(grads, (len(p), 4, 3)).copy()


def _line2(p):
    s = p[:, 0]
    return np.stack([(1 - s) / 2, (1 + s) / 2], axis=1), np.broadcast_to(
        np.array([[-0.5], [0.5]]), (len(p), 2, 1)).copy()


def _line3(p):
    s = p[:, 0]
    n = np.stack([s * (s - 1) / 2, s * (s + 1) / 2, 1 - s * s], axis=1)
    dn = np.stack([s - 0.5, s + 0.5, -2 * s], axis=1)[:, :, None]
    return n, dn


@dataclasses.dataclass(frozen=True, eq=False)
class ReferenceElement:
    """A Lagrange element on its reference cell.

    Attributes:
        name: meshio cell type.
        dim: reference dimension.
        n_nodes: nodes per cell.
        shape: ``shape(points (q, dim)) -> (N (q, n_nodes), dN/dxi (q, n_nodes, dim))``.
        order: polynomial order (1 or 2).
        rule: ``rule(degree) -> Quadrature``.
    """

    name: str
    dim: int
    n_nodes: int
    shape: Callable
    order: int
    rule: Callable

    def quadrature(self, degree: int | None = None) -> Quadrature:
        """Default degree ``2 * (order - 1)`` (exact for the stiffness of an affine element), at least 1."""
        return self.rule(max(1, 2 * (self.order - 1)) if degree is None else degree)


ELEMENTS = {
    "triangle": ReferenceElement("triangle", 2, 3, _tri3, 1, _triangle_rule),
    "triangle6": ReferenceElement("triangle6", 2, 6, _tri6, 2, _triangle_rule),
    "tetra": ReferenceElement("tetra", 3, 4, _tet4, 1, _tetra_rule),
    "line": ReferenceElement("line", 1, 2, _line2, 1, _line_rule),
    "line3": ReferenceElement("line3", 1, 3, _line3, 2, _line_rule),
}

FACET_OF = {"triangle": "line", "triangle6": "line3", "tetra": "triangle"}


def cell_geometry(points: np.ndarray, cells: np.ndarray, element: ReferenceElement,
                  quadrature: Quadrature):
    r"""Shape-function gradients and integration weights at the quadrature points of every cell.

    For cell nodes :math:`X_a` the Jacobian is :math:`J = \sum_a X_a \otimes \nabla_\xi N_a`, and
    :math:`\nabla_X N_a = J^{-T} \nabla_\xi N_a`.

    Returns:
        ``grads`` ``(n_cells, q, n_nodes, dim)``: :math:`\partial N_a / \partial X_j`;
        ``weights`` ``(n_cells, q)``: :math:`w_q \det J` (area or volume per point);
        ``values`` ``(q, n_nodes)``: :math:`N_a` at the points.
    Raises ValueError naming the first cell with a non-positive Jacobian at a quadrature point.
    """
    n, dn = element.shape(quadrature.points)
    x = points[cells]  # (c, k, d)
    jac = np.einsum("cka,qkb->cqab", x, dn)  # dX_a / dxi_b
    det = np.linalg.det(jac)
    bad = np.argwhere(det <= 0)
    if bad.size:
        c = int(bad[0, 0])
        raise CalibValueError(f"cell {c} ({element.name}, nodes {cells[c].tolist()}) has a non-positive "
                              f"Jacobian {det[tuple(bad[0])]:.3g} at a quadrature point: it is inverted or "
                              "its midside nodes are badly placed; fix the mesh")
    inv = np.linalg.inv(jac)  # dxi_b / dX_a
    grads = np.einsum("qkb,cqba->cqka", dn, inv)
    return grads, det * quadrature.weights[None, :], n


def facet_geometry(points: np.ndarray, facets: np.ndarray, element: ReferenceElement,
                   quadrature: Quadrature):
    r"""Outward normals and surface weights at the quadrature points of boundary facets.

    For a 2D edge with tangent :math:`t = \partial X/\partial s` the outward normal (domain on the
    left of the edge direction) is :math:`(t_y, -t_x)/|t|`; for a triangle face it is
    :math:`(\partial_1 X \times \partial_2 X)/|\cdot|`.

    Returns ``values`` ``(q, n_nodes)``, ``weights`` ``(f, q)`` (length/area per point),
    ``normals`` ``(f, q, dim)`` and ``positions`` ``(f, q, dim)``.
    """
    n, dn = element.shape(quadrature.points)
    x = points[facets]
    tangents = np.einsum("fka,qkb->fqab", x, dn)  # (f, q, dim, facet_dim)
    if tangents.shape[-1] == 1:
        t = tangents[..., 0]
        if t.shape[-1] != 2:
            raise CalibValueError("line facets belong to 2D meshes")
        normal = np.stack([t[..., 1], -t[..., 0]], axis=-1)
    else:
        normal = np.cross(tangents[..., 0], tangents[..., 1])
    length = np.linalg.norm(normal, axis=-1)
    positions = np.einsum("qk,fka->fqa", n, x)
    return n, length * quadrature.weights[None, :], normal / length[..., None], positions
