"""Structured mesh generators: rectangle, annulus, plate with a hole, box; region assignment.

The 2D generators build a structured grid of triangles in a parameter square, make it quadratic
there if asked (midside node = parameter midpoint of its edge) and only then map every node to
physical space. Curved edges therefore get their midside node on the exact curve, and the
isoparametric P2 map is smooth inside each cell, which is what the O(h^3) convergence of
quadratic elements needs.
"""

from __future__ import annotations

import itertools
import math
import numbers

import numpy as np

from ._mesh import Mesh, _call_predicate, quadratic_connectivity
from calib._errors import CalibTypeError, CalibValueError

_DIAGONALS = ("alternate", "right", "left", "crossed")


# ---------------------------------------------------------------------------- argument checks
def _positive_int(where: str, name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise CalibValueError(f"{where}: {name} must be {what}, got {value!r}")
    return int(value)


def _positive_float(where: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value <= 0:
        raise CalibValueError(f"{where}: {name} must be a positive finite number, got {value!r}")
    return float(value)


def _point(where: str, name: str, value, dim: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (dim,) or not np.all(np.isfinite(array)):
        raise CalibValueError(f"{where}: {name} must be {dim} finite coordinates, got {value!r}")
    return array


def _graded(where: str, n: int, grading) -> np.ndarray:
    """``n + 1`` points on [0, 1] whose interval lengths grow by the factor ``grading``."""
    grading = _positive_float(where, "grading", grading)
    if math.isclose(grading, 1.0):
        return np.linspace(0.0, 1.0, n + 1)
    s = (grading ** np.arange(n + 1) - 1.0) / (grading ** n - 1.0)
    s[-1] = 1.0                                     # exact end, so outer boundaries stay exact
    return s


# ------------------------------------------------------------------------- structured triangles
def _grid_triangles(ni: int, nj: int, diagonal: str, where: str):
    """Triangles on the ``(ni + 1) x (nj + 1)`` grid of nodes ``i + (ni + 1) j``.

    Returns ``(cells (n, 3), centres (m, 2))``: ``centres`` are the (i, j) index coordinates of
    extra nodes (numbered after the grid nodes) that the "crossed" pattern adds, else empty.
    """
    if diagonal not in _DIAGONALS:
        raise CalibValueError(f"{where}: diagonal must be one of {', '.join(map(repr, _DIAGONALS))}, "
                              f"got {diagonal!r}")
    i, j = (g.ravel() for g in np.meshgrid(np.arange(ni), np.arange(nj), indexing="ij"))
    a = i + (ni + 1) * j                            # corners (i, j), (i+1, j), (i+1, j+1), (i, j+1)
    b, c, d = a + 1, a + ni + 2, a + ni + 1
    if diagonal == "crossed":
        m = (ni + 1) * (nj + 1) + np.arange(len(a))
        cells = np.stack([np.stack(t, 1) for t in ((a, b, m), (b, c, m), (c, d, m), (d, a, m))], 1)
        return cells.reshape(-1, 3), np.stack([i + 0.5, j + 0.5], axis=1)
    right = np.stack([np.stack([a, b, c], 1), np.stack([a, c, d], 1)], 1)
    left = np.stack([np.stack([a, b, d], 1), np.stack([b, c, d], 1)], 1)
    # "alternate" flips the diagonal like a chequerboard, so the mesh has no preferred direction
    use_right = {"right": np.ones_like(a, bool), "left": np.zeros_like(a, bool),
                 "alternate": (i + j) % 2 == 0}[diagonal]
    return np.where(use_right[:, None, None], right, left).reshape(-1, 3), np.zeros((0, 2))


def _grid_edges(ni: int, nj: int) -> dict:
    """Line facets along the four sides of the node grid, keyed "i0", "i1", "j0", "j1"."""
    node = lambda i, j: np.asarray(i) + (ni + 1) * np.asarray(j)   # noqa: E731
    ks, ls = np.arange(nj), np.arange(ni)
    return {"i0": np.stack([node(0, ks), node(0, ks + 1)], 1),
            "i1": np.stack([node(ni, ks), node(ni, ks + 1)], 1),
            "j0": np.stack([node(ls, 0), node(ls + 1, 0)], 1),
            "j1": np.stack([node(ls, nj), node(ls + 1, nj)], 1)}


def _mapped_mesh(u: np.ndarray, v: np.ndarray, mapping, *, diagonal: str, quadratic: bool,
                 sides: dict, where: str, periodic: bool = False) -> Mesh:
    """Mesh of the grid ``u (ni+1) x v (nj+1)`` of parameter values, mapped by ``mapping``.

    Args:
        u, v: increasing parameter values along the two grid directions.
        mapping: ``mapping(p (n, 2)) -> x (n, 2)``, parameter to physical coordinates.
        sides: boundary name -> grid side key ("i0", "i1", "j0", "j1").
        periodic: the last v column is the first one again (whole annulus); its nodes,
            midside ones included, are merged into the first column's.
    """
    ni, nj = len(u) - 1, len(v) - 1
    cells, centres = _grid_triangles(ni, nj, diagonal, where)
    iu, jv = np.meshgrid(np.arange(ni + 1), np.arange(nj + 1), indexing="ij")
    index = np.concatenate([np.stack([iu.T.ravel(), jv.T.ravel()], 1).astype(float), centres])
    # parameter coordinates of each node, by interpolation in grid index space
    params = np.stack([np.interp(index[:, 0], np.arange(ni + 1), u),
                       np.interp(index[:, 1], np.arange(nj + 1), v)], axis=1)
    edges = _grid_edges(ni, nj)
    boundaries = {name: edges[side] for name, side in sides.items()}
    if quadratic:
        pairs, cells, boundaries = quadratic_connectivity(cells, len(params), boundaries)
        index = np.concatenate([index, index[pairs].mean(axis=1)])
        params = np.concatenate([params, params[pairs].mean(axis=1)])
    if periodic:
        # node at (i, nj) -> node at (i, 0), for vertex and midside nodes alike (matched on the
        # exact grid index, which is a multiple of 1/2)
        first = np.flatnonzero(index[:, 1] == 0)
        lookup = dict(zip(index[first, 0].tolist(), first.tolist()))
        target = np.arange(len(index))
        seam = np.flatnonzero(index[:, 1] == nj)
        target[seam] = [lookup[s] for s in index[seam, 0].tolist()]
        cells = target[cells]
        boundaries = {name: target[f] for name, f in boundaries.items()}
    mesh = Mesh(mapping(params), cells, "triangle6" if quadratic else "triangle",
                boundaries=boundaries)
    return mesh.without_unused_nodes()[0] if periodic else mesh


def _polar(center=(0.0, 0.0)):
    """(r, θ) -> (x, y); cos and sin rounded to exact 0 at multiples of π/2, so that nodes on the
    axes have an exactly zero coordinate there."""
    def mapping(p):
        c, s = np.cos(p[:, 1]), np.sin(p[:, 1])
        c[np.abs(c) < 1e-15] = 0.0
        s[np.abs(s) < 1e-15] = 0.0
        return np.stack([center[0] + p[:, 0] * c, center[1] + p[:, 0] * s], axis=1)
    return mapping


# ------------------------------------------------------------------------------- generators
def rectangle(width, height, nx, ny, *, origin=(0.0, 0.0), quadratic=False,
              diagonal="alternate") -> Mesh:
    """Structured triangle mesh of ``[x0, x0 + width] x [y0, y0 + height]``.

    Args:
        width, height: side lengths (length units).
        nx, ny: number of cell columns / rows; ``2 nx ny`` triangles (``4 nx ny`` if crossed).
        origin: lower-left corner ``(x0, y0)``.
        quadratic: triangle6 cells (straight midside nodes) instead of triangles.
        diagonal: how each grid square is cut: "right" (lower-left to upper-right), "left",
            "alternate" (chequerboard of both) or "crossed" (both, with a centre node).

    Returns:
        A mesh with region "domain" and boundaries "left", "right", "bottom", "top".
    """
    where = "rectangle"
    width, height = _positive_float(where, "width", width), _positive_float(where, "height", height)
    nx, ny = _positive_int(where, "nx", nx), _positive_int(where, "ny", ny)
    x0 = _point(where, "origin", origin, 2)
    u = x0[0] + width * np.linspace(0.0, 1.0, nx + 1)
    v = x0[1] + height * np.linspace(0.0, 1.0, ny + 1)
    return _mapped_mesh(u, v, lambda p: p, diagonal=diagonal, quadratic=quadratic, where=where,
                        sides={"left": "i0", "right": "i1", "bottom": "j0", "top": "j1"})


def annulus(inner_radius, outer_radius, n_radial, n_angular, *, angle=math.pi / 2,
            quadratic=False, grading=1.0, diagonal="alternate") -> Mesh:
    """Triangle mesh of the annular sector ``a <= r <= b, 0 <= θ <= angle`` centred at the origin.

    Structured in (r, θ). With ``quadratic=True`` every midside node is the image of the (r, θ)
    midpoint of its edge: exactly on the circle for arcs, and smooth elsewhere, so isoparametric
    P2 elements keep their O(h^3) convergence.

    Args:
        inner_radius, outer_radius: radii ``a < b`` (length units).
        n_radial, n_angular: cells along r and along θ.
        angle: opening angle in radians, ``0 < angle <= 2π``; 2π gives the whole annulus, whose
            nodes at θ = 0 and θ = 2π are the same nodes.
        quadratic: triangle6 cells.
        grading: ratio of successive radial cell sizes, outward; > 1 refines near the hole.
        diagonal: grid cut, as in :func:`rectangle`.

    Returns:
        A mesh with region "domain", boundaries "inner" and "outer", and for a sector also
        "bottom" (θ = 0, on the positive x axis) and "left" (θ = angle; the y axis for π/2).
    """
    where = "annulus"
    a = _positive_float(where, "inner_radius", inner_radius)
    b = _positive_float(where, "outer_radius", outer_radius)
    if b <= a:
        raise CalibValueError(f"annulus: outer_radius ({b}) must be larger than inner_radius ({a})")
    n_r = _positive_int(where, "n_radial", n_radial)
    angle = _positive_float(where, "angle", angle)
    whole = math.isclose(angle, 2 * math.pi)
    if angle > 2 * math.pi and not whole:
        raise CalibValueError(f"annulus: angle must be in (0, 2π] radians, got {angle}")
    n_t = _positive_int(where, "n_angular", n_angular, minimum=3 if whole else 1)
    if angle / n_t >= math.pi:
        raise CalibValueError(f"annulus: each cell spans angle / n_angular = {angle / n_t:.4g} rad; "
                              "it must be below π, increase n_angular")
    r = a + (b - a) * _graded(where, n_r, grading)
    theta = (2 * math.pi if whole else angle) * np.linspace(0.0, 1.0, n_t + 1)
    sides = {"inner": "i0", "outer": "i1"}
    if not whole:
        sides.update(bottom="j0", left="j1")
    return _mapped_mesh(r, theta, _polar(), diagonal=diagonal, quadratic=quadratic,
                        sides=sides, where=where, periodic=whole)


def plate_with_hole(hole_radius, width, height, n_hole, n_radial, *, quadratic=False,
                    grading=1.0) -> Mesh:
    """Quarter of a plate with a circular hole: ``[0, width] x [0, height]`` minus ``r < a``.

    Built as one structured grid: ``n_hole`` cells around the quarter hole (uniform in angle)
    joined by straight lines to ``n_hole`` points that run up the right side and then left
    along the top side, with the corner ``(width, height)`` a node. Quadratic midside nodes are
    images of parameter midpoints, so they lie exactly on the hole and the straight sides.

    Args:
        hole_radius: ``a``, with ``a < width`` and ``a < height`` (length units).
        width, height: plate quarter sizes.
        n_hole: cells along the hole (>= 2: the right and top sides get at least one each).
        n_radial: cells from the hole to the outer sides.
        quadratic: triangle6 cells.
        grading: ratio of successive radial cell sizes; > 1 refines near the hole.

    Returns:
        A mesh with region "domain" and boundaries "hole", "left" (x = 0), "bottom" (y = 0),
        "right" (x = width) and "top" (y = height).
    """
    where = "plate_with_hole"
    a = _positive_float(where, "hole_radius", hole_radius)
    w, h = _positive_float(where, "width", width), _positive_float(where, "height", height)
    if a >= min(w, h):
        raise CalibValueError(f"plate_with_hole: hole_radius ({a}) must be smaller than width ({w}) "
                              f"and height ({h})")
    n_t = _positive_int(where, "n_hole", n_hole, minimum=2)
    n_r = _positive_int(where, "n_radial", n_radial)
    # outer sides share the n_t cells in proportion to their lengths, at least one each
    n_right = min(max(round(n_t * h / (w + h)), 1), n_t - 1)
    n_top = n_t - n_right
    outer = np.concatenate([
        np.stack([np.full(n_right + 1, w), h * np.linspace(0.0, 1.0, n_right + 1)], 1),
        np.stack([w * np.linspace(1.0, 0.0, n_top + 1)[1:], np.full(n_top, h)], 1)])
    knots = np.arange(n_t + 1, dtype=float)
    hole = _polar()

    def mapping(p):
        # p = (s, t): s in [0, 1] from hole to outer sides, t in [0, n_t] grid index around
        s, t = p[:, :1], p[:, 1]
        inner = hole(np.stack([np.full_like(t, a), 0.5 * math.pi * t / n_t], axis=1))
        far = np.stack([np.interp(t, knots, outer[:, 0]), np.interp(t, knots, outer[:, 1])], 1)
        return (1.0 - s) * inner + s * far

    mesh = _mapped_mesh(_graded(where, n_r, grading), knots, mapping, diagonal="alternate",
                        quadratic=quadratic, where=where,
                        sides={"hole": "i0", "bottom": "j0", "left": "j1", "outer": "i1"})
    # split the outer side at the corner node
    outer_facets = mesh.boundaries["outer"]
    x = mesh.points[outer_facets[:, :2]]
    on_right = np.all(x[:, :, 0] == w, axis=1)
    boundaries = {k: f for k, f in mesh.boundaries.items() if k != "outer"}
    boundaries.update(right=outer_facets[on_right], top=outer_facets[~on_right])
    return mesh.replace(boundaries=boundaries)


def box(lx, ly, lz, nx, ny, nz, *, origin=(0.0, 0.0, 0.0)) -> Mesh:
    """Tetrahedral mesh of ``[x0, x0 + lx] x [y0, y0 + ly] x [z0, z0 + lz]``.

    Each of the ``nx ny nz`` hexahedra is cut into 6 tetrahedra around its main diagonal
    (Kuhn/Freudenthal split); every hexahedron is cut the same way, so the diagonals of shared
    faces match and the mesh is conforming.

    Returns:
        A mesh of ``6 nx ny nz`` tetrahedra with region "domain" and boundaries "xmin", "xmax",
        "ymin", "ymax", "zmin", "zmax".
    """
    where = "box"
    lengths = [_positive_float(where, n, v) for n, v in (("lx", lx), ("ly", ly), ("lz", lz))]
    counts = [_positive_int(where, n, v) for n, v in (("nx", nx), ("ny", ny), ("nz", nz))]
    x0 = _point(where, "origin", origin, 3)
    axes = [x0[d] + lengths[d] * np.linspace(0.0, 1.0, counts[d] + 1) for d in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)       # (nx+1, ny+1, nz+1, 3)
    n1 = [c + 1 for c in counts]
    points = grid.transpose(2, 1, 0, 3).reshape(-1, 3)                # node i + nx1 (j + ny1 k)
    stride = np.array([1, n1[0], n1[0] * n1[1]])
    corner = np.stack(np.meshgrid(*(np.arange(c) for c in counts), indexing="ij"),
                      -1).reshape(-1, 3) @ stride
    # Kuhn split: one tetrahedron per order of stepping along the axes from (0,0,0) to (1,1,1)
    tets = []
    for order in itertools.permutations(range(3)):
        steps = np.cumsum([0] + [stride[d] for d in order])
        tets.append(corner[:, None] + steps[None, :])
    cells = np.stack(tets, axis=1).reshape(-1, 4)
    mesh = Mesh(points, cells, "tetra")
    index = np.stack(np.meshgrid(*(np.arange(n) for n in n1), indexing="ij"),
                     -1).transpose(2, 1, 0, 3).reshape(-1, 3)
    facets = mesh.exterior_facets()
    boundaries = {}
    for d, axis in enumerate("xyz"):
        for side, value in (("min", 0), ("max", counts[d])):
            on_side = np.all(index[facets, d] == value, axis=1)
            boundaries[f"{axis}{side}"] = facets[on_side]
    return mesh.replace(boundaries=boundaries)


# ---------------------------------------------------------------------------------- regions
def assign_regions(mesh: Mesh, predicates: dict) -> Mesh:
    """Tag cells by where their centroid lies.

    Args:
        mesh: any mesh.
        predicates: region name -> ``predicate(centroids (n_cells, dim)) -> (n_cells,) bool``.
            Evaluated in order; a cell goes to the first region whose predicate it satisfies.
            A name that already exists keeps its tag; new names get new tags.

    Returns:
        A copy with the new cell tags and region names. Cells matched by no predicate keep
        their tag; names whose tag no longer has cells are dropped.
    """
    if not isinstance(predicates, dict) or not predicates:
        raise CalibValueError("assign_regions: predicates must be a non-empty dict name -> "
                              f"predicate(centroids) -> bool mask, got {predicates!r}")
    centroids = mesh.cell_centroids()
    tags = mesh.cell_tags.copy()
    names = dict(mesh.region_names)
    taken = np.zeros(mesh.n_cells, bool)
    next_tag = int(max(tags.max(), max(names.values(), default=0))) + 1
    for name, predicate in predicates.items():
        if not isinstance(name, str):
            raise CalibTypeError(f"assign_regions: region names must be strings, got {name!r}")
        mask = _call_predicate(predicate, centroids, f"assign_regions[{name!r}]") & ~taken
        if not np.any(mask):
            raise CalibValueError(f"assign_regions: the predicate for region {name!r} matches no cell "
                             "(not already taken by an earlier region); check its coordinates")
        if name not in names:
            names[name], next_tag = next_tag, next_tag + 1
        tags[mask] = names[name]
        taken |= mask
    present = set(np.unique(tags).tolist())
    names = {n: t for n, t in names.items() if t in present}
    return mesh.replace(cell_tags=tags, region_names=names)


def assign_layers(mesh: Mesh, interfaces, names, *, axis: int | None = None) -> Mesh:
    """Tag horizontal layers (e.g. soil strata) by the vertical coordinate of cell centroids.

    Args:
        interfaces: increasing levels ``z_1 < ... < z_m`` between layers (length units).
        names: ``m + 1`` layer names, from the bottom up: layer k holds the cells whose
            centroid has ``z_k <= coordinate < z_{k+1}``.
        axis: vertical coordinate; default the last one (y in 2D, z in 3D).

    Returns:
        A copy with one region per layer (see :func:`assign_regions`).
    """
    levels = np.asarray(interfaces, dtype=np.float64).reshape(-1)
    names = list(names)
    if not np.all(np.isfinite(levels)) or np.any(np.diff(levels) <= 0):
        raise CalibValueError(f"assign_layers: interfaces must be finite and increasing, got "
                              f"{levels.tolist()}")
    if len(names) != len(levels) + 1:
        raise CalibValueError(f"assign_layers: names must have len(interfaces) + 1 = {len(levels) + 1}"
                              f" entries (bottom to top), got {len(names)}")
    axis = mesh.dim - 1 if axis is None else axis
    if axis not in range(mesh.dim):
        raise CalibValueError(f"assign_layers: axis must be in 0..{mesh.dim - 1}, got {axis}")
    bounds = np.concatenate([[-np.inf], levels, [np.inf]])
    predicates = {n: (lambda c, lo=lo, hi=hi: (c[:, axis] >= lo) & (c[:, axis] < hi))
                  for n, lo, hi in zip(names, bounds[:-1], bounds[1:])}
    return assign_regions(mesh, predicates)
