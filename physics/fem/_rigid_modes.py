r"""Rigid-body modes of a mesh, and the check that the supports hold every one of them.

Without supports the stiffness of an elastic body is singular: its null space is spanned by the
rigid motions, two translations and one rotation in plane strain, three and three in 3D,

.. math::

    u(X) = t + \omega \times (X - c).

A set of Dirichlet DOFs removes them exactly when no rigid motion vanishes on all of them, i.e.
when the rigid modes restricted to the constrained DOFs, :math:`R_c` ``(n_fixed, 3 or 6)``, have
full column rank. That costs one ``(6, 6)`` eigenproblem of :math:`R_c^\mathsf{T} R_c` per
connected part of the mesh: negligible beside the assembly.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from calib._errors import CalibValueError

_AXES = "xyz"
# A rigid mode counts as free when it moves the constrained DOFs by less than this fraction of the
# largest such motion (in squared norm); numerical noise is ~1e-16, a real constraint is >~ (h/L)².
_RANK_RTOL = 1e-12


def rigid_body_modes(points: np.ndarray) -> np.ndarray:
    """``(n_nodes * dim, 3 or 6)`` translations and infinitesimal rotations, node-major.

    Columns: the translations along x, y (, z), then the rotations about z (2D) or about z, x, y
    (3D), about the centroid of ``points``, with unit angle (so of the size of the mesh).
    """
    n, dim = points.shape
    centred = points - points.mean(axis=0)
    modes = []
    for axis in range(dim):
        mode = np.zeros((n, dim))
        mode[:, axis] = 1.0
        modes.append(mode)
    pairs = [(0, 1)] if dim == 2 else [(0, 1), (1, 2), (2, 0)]
    for a, b in pairs:
        mode = np.zeros((n, dim))
        mode[:, a], mode[:, b] = -centred[:, b], centred[:, a]
        modes.append(mode)
    return np.stack([m.ravel() for m in modes], axis=1)


def _parts(cells: np.ndarray, n_nodes: int) -> list[np.ndarray]:
    """Node ids of each connected part of the mesh (nodes joined by a cell), largest first."""
    used = np.unique(cells)
    rows = np.repeat(cells[:, :1], cells.shape[1] - 1, axis=1).ravel()
    graph = sp.coo_matrix((np.ones(rows.size), (rows, cells[:, 1:].ravel())),
                          shape=(n_nodes, n_nodes))
    _, labels = connected_components(graph, directed=False)
    parts = [used[labels[used] == label] for label in np.unique(labels[used])]
    return sorted(parts, key=len, reverse=True)


def _direction(v: np.ndarray) -> str:
    """A unit vector in words: an axis name when it is one, else its components."""
    v = v / np.linalg.norm(v)
    axis = int(np.argmax(np.abs(v)))
    if abs(abs(v[axis]) - 1.0) < 1e-8:
        return _AXES[axis]
    return "(" + ", ".join(f"{c:.3g}" for c in v) + ")"


def _span(vectors: np.ndarray) -> np.ndarray:
    """An orthonormal basis ``(dim, r)`` of the columns of ``vectors``."""
    if vectors.size == 0:
        return vectors
    u, s, _ = np.linalg.svd(vectors, full_matrices=False)
    return u[:, s > 1e-8 * max(s.max(), 1e-300)]


def _free_motions(points: np.ndarray, constrained: np.ndarray) -> list[str]:
    """The rigid motions of one part that move none of its constrained DOFs, in words.

    Args:
        points: ``(n, dim)`` node coordinates of the part.
        constrained: ``(n * dim,)`` bool, node-major: which of its DOFs are prescribed.
    """
    dim = points.shape[1]
    centre = points.mean(axis=0)
    size = max(float(np.max(np.ptp(points, axis=0))), 1e-300)
    modes = rigid_body_modes(points)
    modes[:, dim:] /= size            # rotations of unit size, comparable with the translations
    held = modes[constrained]
    gram = held.T @ held
    values, vectors = np.linalg.eigh(gram)
    free = vectors[:, values <= _RANK_RTOL * max(values.max(), 0.0)]
    if free.shape[1] == 0:
        return []
    # Translations first: those that move no constrained DOF.
    t_values, t_vectors = np.linalg.eigh(gram[:dim, :dim])
    translations = t_vectors[:, t_values <= _RANK_RTOL * max(values.max(), 0.0)]
    words = []
    if translations.shape[1] == dim:
        words.append("every translation (" + ", ".join(_AXES[:dim]) + ")")
    else:
        words += [f"translation along {_direction(t)}" for t in translations.T]
    n_rotations = free.shape[1] - translations.shape[1]
    if n_rotations == 0:
        return words
    omega = free[dim:] / size                       # rotation parts, radians per unit angle
    if dim == 2:
        if translations.shape[1] == 0:
            # The one free motion is a rotation about the point it leaves at rest:
            # t + ω (-(y - c_y), x - c_x) = 0.
            t, w = free[:dim, 0], omega[0, 0]
            pivot = centre + np.array([-t[1], t[0]]) / w
            pivot[np.abs(pivot) < 1e-9 * size] = 0.0         # no -6.7e-16 in the message
            words.append("rotation about the point (" + ", ".join(f"{c:.4g}" for c in pivot) + ")")
        else:
            words.append("rotation in the x-y plane")
        return words
    # The rotation columns are about z, x, y: reorder their coefficients into an axis (x, y, z).
    axes = _span(omega[[1, 2, 0]])[:, :n_rotations]
    words += [f"rotation about an axis along {_direction(a)}" for a in axes.T]
    return words


def _suggestion(mesh) -> str:
    """Example supports that hold every rigid motion of a box-like mesh: a roller on the boundary
    facing each axis' negative direction (bottom, left, ...)."""
    dim = mesh.dim
    picks = []
    for axis in range(dim):
        best, best_score = None, 0.5
        for name in sorted(mesh.boundaries):
            normals, measures = mesh.boundary_normals(name)
            score = -np.sum(normals[:, axis] * measures) / np.sum(measures)
            if score > best_score:
                best, best_score = name, score
        if best is None:
            value = float(mesh.points[:, axis].min())
            picks.append(f"fem.Dirichlet(lambda x: np.isclose(x[:, {axis}], {value:.6g}), "
                         f"{_AXES[axis]!r})")
        else:
            picks.append(f"fem.Dirichlet({best!r}, {_AXES[axis]!r})")
    return "supports=[" + ", ".join(picks) + "]"


def check_supports_hold_rigid_motions(mesh, fixed_dofs: np.ndarray) -> None:
    """Raise when the prescribed DOFs leave a rigid motion of some part of the mesh free.

    Args:
        mesh: the :class:`~physics.fem.Mesh`.
        fixed_dofs: ``(n_fixed,)`` prescribed global DOFs (``node * dim + component``), supports
            and prescribed displacements alike.

    Raises:
        CalibValueError: naming the free motions (and the part of the mesh, when it has several)
            and example supports that hold them.
    """
    dim = mesh.dim
    fixed = np.zeros(mesh.n_nodes * dim, dtype=bool)
    fixed[fixed_dofs] = True
    parts = _parts(mesh.cells, mesh.n_nodes)
    for index, nodes in enumerate(parts):
        dofs = (nodes[:, None] * dim + np.arange(dim)).ravel()
        free = _free_motions(mesh.points[nodes], fixed[dofs])
        if not free:
            continue
        where = "" if len(parts) == 1 else (
            f" of part {index + 1} of {len(parts)} of the mesh ({nodes.size} nodes, e.g. node "
            f"{int(nodes[0])} at {mesh.points[nodes[0]].tolist()}; parts that share no node "
            "need supports of their own)")
        held = int(fixed[dofs].sum())
        raise CalibValueError(
            f"Model: the supports leave rigid-body motion(s){where} free: {', '.join(free)} "
            f"({held} of its {dofs.size} DOFs are prescribed). The stiffness is singular and no "
            f"solve can converge. Add supports that hold them, e.g. {_suggestion(mesh)} (rollers; "
            f"the mesh's boundaries: {', '.join(map(repr, sorted(mesh.boundaries))) or 'none'}), "
            "or prescribe displacements on enough nodes (fem.Dirichlet(where, components, value))")
