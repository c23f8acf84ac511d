r"""Error norms of a finite-element displacement against a known (closed-form) solution.

For nodal displacements :math:`U_a` the finite-element field is the isoparametric interpolant

.. math::

    u_h(X(\xi)) = \sum_a N_a(\xi)\, U_a, \qquad X(\xi) = \sum_a N_a(\xi)\, X_a,

on every cell (the same shape functions map the reference cell and interpolate the displacement,
so a quadratic cell with curved edges is integrated over its curved image). The norms are
evaluated cell by cell with a quadrature rule of high degree,

.. math::

    \|u_h - u\|_{L^2}^2 = \int_{\Omega_h} |u_h - u|^2 \, dV
        \approx \sum_{c} \sum_q w_q \det J_{cq}\, |u_h(X_{cq}) - u(X_{cq})|^2,

with :math:`\Omega_h` the meshed domain. The rule must be more accurate than the error it
measures: with ``degree = 5`` (triangles) its error is :math:`O(h^6)` per unit area for a smooth
:math:`u`, well below the :math:`O(h^2)` (linear) and :math:`O(h^3)` (quadratic) discretisation
errors. NumPy only; nothing here is traced or differentiated.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._elements import ELEMENTS, cell_geometry
from calib._errors import CalibValueError

__all__ = ["l2_error", "energy_error"]


def _rule(element, degree):
    """The element's rule of ``degree``, or of the highest degree it has (2 for tetrahedra)."""
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 1:
        raise CalibValueError(f"degree must be a positive integer, got {degree!r}")
    for d in range(int(degree), 0, -1):
        try:
            return element.quadrature(d)
        except ValueError:
            continue
    raise CalibValueError(f"no quadrature rule for {element.name!r} cells")  # pragma: no cover


def _evaluate(mesh, displacement, degree):
    """Quadrature points ``(c, q, dim)``, weights ``(c, q)``, ``u_h`` ``(c, q, dim)`` and the
    gradient of ``u_h`` ``(c, q, dim, dim)`` (``[..., i, j] = d u_i / d X_j``)."""
    if mesh.cell_type not in ELEMENTS:
        raise CalibValueError(f"unsupported cell type {mesh.cell_type!r}")
    element = ELEMENTS[mesh.cell_type]
    u = np.asarray(displacement, dtype=np.float64)
    if u.shape != (mesh.n_nodes, mesh.dim):
        raise CalibValueError(f"displacement must have shape (n_nodes, dim) = ({mesh.n_nodes}, "
                              f"{mesh.dim}), got {u.shape}")
    rule = _rule(element, degree)
    grads, weights, values = cell_geometry(mesh.points, mesh.cells, element, rule)
    positions = np.einsum("qk,cka->cqa", values, mesh.points[mesh.cells])
    u_cells = u[mesh.cells]                                   # (c, k, dim)
    u_h = np.einsum("qk,cki->cqi", values, u_cells)
    grad_h = np.einsum("cqka,cki->cqia", grads, u_cells)
    return positions, weights, u_h, grad_h


def _call(fn, positions, shape, what):
    c, q, dim = positions.shape
    out = np.asarray(fn(positions.reshape(-1, dim)), dtype=np.float64)
    if out.shape != (c * q,) + shape:
        raise CalibValueError(f"{what} must return shape (n,) + {shape} for n points, got {out.shape} "
                              f"for n = {c * q}")
    return out.reshape((c, q) + shape)


def l2_error(mesh, displacement, exact: Callable, *, degree: int = 5) -> tuple[float, float]:
    r"""The :math:`L^2` norm of the error of a finite-element displacement, and of the exact one.

    .. math::

        \text{error} = \Big(\int_{\Omega_h} |u_h - u|^2\,dV\Big)^{1/2}, \qquad
        \text{norm} = \Big(\int_{\Omega_h} |u|^2\,dV\Big)^{1/2},

    so ``error / norm`` is the relative error. :math:`u_h` is the isoparametric interpolant of
    the nodal values (see the module docstring).

    Args:
        mesh: a :class:`physics.fem.Mesh` (``triangle``, ``triangle6`` or ``tetra``).
        displacement: nodal displacements ``(n_nodes, dim)`` (e.g. ``Model.displacement``).
        exact: ``exact(points (n, dim)) -> (n, dim)``, the exact displacement (NumPy).
        degree: degree of the cell quadrature rule; capped at the highest rule of the element
            (5 for triangles, 2 for tetrahedra).

    Returns:
        ``(error, norm)``, in length units times :math:`\sqrt{\text{area}}` (2D, per unit
        thickness) or :math:`\sqrt{\text{volume}}` (3D).
    """
    positions, weights, u_h, _ = _evaluate(mesh, displacement, degree)
    u = _call(exact, positions, (mesh.dim,), "exact(points)")
    error = np.sum(weights * np.sum((u_h - u) ** 2, axis=-1))
    norm = np.sum(weights * np.sum(u ** 2, axis=-1))
    return float(np.sqrt(error)), float(np.sqrt(norm))


def energy_error(mesh, displacement, exact_gradient: Callable, *, lam: float, mu: float,
                 degree: int = 5) -> tuple[float, float]:
    r"""The energy norm of the error for isotropic linear elasticity, and of the exact solution.

    .. math::

        \|e\|_E^2 = \int_{\Omega_h} \lambda (\operatorname{tr}\varepsilon(e))^2
                    + 2\mu\, \varepsilon(e):\varepsilon(e)\; dV,
        \qquad e = u_h - u,\quad \varepsilon(e) = \operatorname{sym}\nabla e,

    twice the strain energy of the error (in plane strain both fields have
    :math:`\varepsilon_{zz} = 0`). It converges as :math:`O(h^p)` for elements of order
    :math:`p`, one order below the :math:`L^2` error of the displacement.

    Args:
        mesh, displacement: as in :func:`l2_error`.
        exact_gradient: ``exact_gradient(points (n, dim)) -> (n, dim, dim)``, the exact
            displacement gradient :math:`\partial u_i/\partial X_j`.
        lam, mu: Lamé parameters (stress units).
        degree: as in :func:`l2_error`.

    Returns:
        ``(error, norm)``, both :math:`\sqrt{\text{energy}}` (per unit thickness in 2D).
    """
    positions, weights, _, grad_h = _evaluate(mesh, displacement, degree)
    grad = _call(exact_gradient, positions, (mesh.dim, mesh.dim), "exact_gradient(points)")

    def energy(g):
        eps = 0.5 * (g + np.swapaxes(g, -1, -2))
        tr = np.trace(eps, axis1=-2, axis2=-1)
        return np.sum(weights * (lam * tr ** 2 + 2.0 * mu * np.sum(eps * eps, axis=(-2, -1))))

    return float(np.sqrt(energy(grad_h - grad))), float(np.sqrt(energy(grad)))
