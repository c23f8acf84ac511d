"""An unstructured simplex mesh (triangles, quadratic triangles, tetrahedra) held as numpy arrays.

Cells are always stored with a positive Jacobian and named boundary facets always with their
normal pointing out of the domain, whatever orientation the caller gave, so that the assembly
code never has to care about orientation.

Re-orienting a cell is right when only its node *order* is off (a mesh written clockwise, or cells
listed in any order). It is wrong when the cell's *geometry* is inverted, e.g. an interior node
dragged past its neighbours: flipped, such a cell overlaps them and the integrals count that
area twice. The two cases are told apart topologically: in a valid mesh every interior facet is
shared by exactly two positively oriented cells, which run through it in opposite directions (they
lie on opposite sides of it). A tangled mesh fails that test and is refused.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from calib._errors import CalibTypeError, CalibValueError

# Per cell type: space dimension, nodes per cell, vertices per cell, facet type and the local
# facets of a positively oriented cell listed so that each one's normal points out of the cell
# (2D: cell on the left of v0 -> v1; 3D: (x1 - x0) x (x2 - x0) outward).
_CELL_TYPES = {
    "triangle": dict(dim=2, k=3, nv=3, facet="line", kf=2, faces=((0, 1), (1, 2), (2, 0))),
    "triangle6": dict(dim=2, k=6, nv=3, facet="line3", kf=3,
                      faces=((0, 1, 3), (1, 2, 4), (2, 0, 5))),
    "tetra": dict(dim=3, k=4, nv=4, facet="triangle", kf=3,
                  faces=((1, 2, 3), (0, 3, 2), (0, 1, 3), (0, 2, 1))),
}
# Node permutation that mirrors a cell (reverses its orientation) keeping the node convention.
_FLIP = {"triangle": [0, 2, 1], "triangle6": [0, 2, 1, 5, 4, 3], "tetra": [0, 2, 1, 3]}
# A cell whose |Jacobian| is below this fraction of (longest edge)^dim is called degenerate.
_DEGENERATE_RTOL = 1e-12


def _names(d) -> str:
    return ", ".join(repr(k) for k in sorted(d)) or "none"


def _row_ids(*blocks: np.ndarray) -> tuple[list[np.ndarray], int]:
    """Give equal rows of several integer arrays ``(n_i, k)`` equal ids in ``[0, n_unique)``."""
    rows = np.concatenate(blocks)
    # lexsort on the columns is much faster than np.unique(axis=0), which sorts opaque rows
    order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    starts = np.concatenate([[len(rows) > 0], np.any(ordered[1:] != ordered[:-1], axis=1)])
    ids = np.empty(len(rows), np.int64)
    ids[order] = np.cumsum(starts) - 1
    splits = np.cumsum([len(b) for b in blocks])[:-1]
    return np.split(ids, splits), int(np.sum(starts))


def _signed_measures(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Jacobian determinant of each straight simplex, shape ``(n,)``: 2·area or 6·volume."""
    x = points[vertices]
    edges = x[:, 1:] - x[:, :1]                      # (n, dim, dim): rows are x_i - x_0
    if edges.shape[-1] == 2:
        return edges[:, 0, 0] * edges[:, 1, 1] - edges[:, 0, 1] * edges[:, 1, 0]
    return np.einsum("ni,ni->n", np.cross(edges[:, 0], edges[:, 1]), edges[:, 2])


def _facet_normals(points: np.ndarray, facets: np.ndarray) -> np.ndarray:
    """Unnormalised normals of straight facets, ``(n, dim)``: length = facet length (2D) or
    twice the facet area (3D); outward when the facet follows the mesh's orientation rule."""
    x = points[facets]
    if points.shape[1] == 2:
        t = x[:, 1] - x[:, 0]
        return np.stack([t[:, 1], -t[:, 0]], axis=1)
    return np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0])


def _call_predicate(predicate, x: np.ndarray, where: str) -> np.ndarray:
    """Evaluate a user predicate on coordinates ``x`` (n, dim) and check it gave a bool mask."""
    if not callable(predicate):
        raise CalibTypeError(f"{where}: predicate must be a callable taking coordinates of shape "
                             "(n, dim) and returning a boolean mask (n,), got "
                             f"{type(predicate).__name__}")
    mask = np.asarray(predicate(x))
    if mask.shape != (len(x),) or mask.dtype != bool:
        raise CalibValueError(f"{where}: predicate must return a boolean mask of shape ({len(x)},), "
                              f"got dtype {mask.dtype} and shape {mask.shape}; write it with "
                              "comparisons on x[:, 0], x[:, 1], ... (e.g. np.isclose(x[:, 0], 0.0))")
    return mask


def quadratic_connectivity(cells: np.ndarray, n_nodes: int, boundaries: dict | None = None):
    """Topology of the quadratic (6-node) version of a linear triangle mesh.

    One new node per edge, numbered ``n_nodes + edge_index`` in the order of ``edges``.

    Args:
        cells: linear triangles, ``(n_cells, 3)``.
        n_nodes: number of existing nodes (the first new node id).
        boundaries: name -> line facets ``(n_facets, 2)``; each must be an edge of a cell.

    Returns:
        ``(edges, cells6, boundaries3)``: the unique edges ``(n_edges, 2)`` (sorted node ids),
        triangle6 connectivity ``(n_cells, 6)`` and name -> line3 facets ``(n_facets, 3)``.
    """
    cells = np.asarray(cells, np.int64)
    local = cells[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    boundaries = {} if boundaries is None else boundaries
    names = list(boundaries)
    facet_blocks = [np.sort(np.asarray(boundaries[n], np.int64).reshape(-1, 2), axis=1)
                    for n in names]
    (cell_ids, *facet_ids), n_edges = _row_ids(np.sort(local, axis=1), *facet_blocks)
    edges = np.zeros((n_edges, 2), np.int64)
    edges[cell_ids] = np.sort(local, axis=1)
    cells6 = np.concatenate([cells, n_nodes + cell_ids.reshape(-1, 3)], axis=1)
    boundaries3 = {}
    used = np.zeros(n_edges, bool)
    used[cell_ids] = True
    for name, block, ids in zip(names, facet_blocks, facet_ids):
        if not np.all(used[ids]):
            bad = int(np.flatnonzero(~used[ids])[0])
            raise CalibValueError(f"quadratic_connectivity: boundaries[{name!r}] facet {bad} "
                                  f"(nodes {block[bad].tolist()}) is not an edge of any cell")
        facets = np.asarray(boundaries[name], np.int64).reshape(-1, 2)
        boundaries3[name] = np.concatenate([facets, n_nodes + ids[:, None]], axis=1)
    return edges, cells6, boundaries3


@dataclasses.dataclass(frozen=True, eq=False)
class Mesh:
    """A conforming simplex mesh with named regions and named, outward-oriented boundaries.

    Attributes:
        points: node coordinates, ``(n_nodes, dim)`` float64, dim = 2 or 3 (length units of the
            problem, e.g. m). Nodes used by no cell are allowed.
        cells: connectivity, ``(n_cells, k)`` int64, stored with positive Jacobian.
        cell_type: ``"triangle"`` (k=3, 2D), ``"triangle6"`` (k=6, 2D: vertices 0, 1, 2, then
            the midside nodes of edges 0-1, 1-2, 2-0; gmsh/meshio order) or ``"tetra"`` (k=4, 3D).
        cell_tags: region id of each cell, ``(n_cells,)`` int64; default all 0.
        region_names: name -> tag; several names may share a tag. Default ``{"domain": 0}``
            when every tag is 0, else ``{"tag<n>": n}`` for each tag present.
        boundaries: name -> facets ``(n_facets, kf)`` int64: ``"line"`` (kf=2) for triangles,
            ``"line3"`` (v0, v1, midside) for triangle6, ``"triangle"`` (kf=3) for tetra. Stored
            with the normal pointing out of the cell that owns the facet (2D: the domain lies
            on the left of v0 -> v1; 3D: (x1 - x0) x (x2 - x0) points outward). A facet shared
            by two cells (an interface) is oriented out of the lower-numbered cell.
    """

    points: np.ndarray
    cells: np.ndarray
    cell_type: str
    cell_tags: np.ndarray | None = None
    region_names: dict | None = None
    boundaries: dict | None = None

    def __post_init__(self):
        if self.cell_type not in _CELL_TYPES:
            raise CalibValueError(f"Mesh: cell_type must be one of {', '.join(_CELL_TYPES)}, "
                                  f"got {self.cell_type!r}")
        spec = _CELL_TYPES[self.cell_type]
        points = np.ascontiguousarray(self.points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != spec["dim"]:
            raise CalibValueError(f"Mesh: points for {self.cell_type!r} cells must have shape "
                                  f"(n_nodes, {spec['dim']}), got {points.shape}")
        if not np.all(np.isfinite(points)):
            bad = int(np.flatnonzero(~np.all(np.isfinite(points), axis=1))[0])
            raise CalibValueError(f"Mesh: points must be finite; node {bad} is {points[bad].tolist()}")
        cells = self._int_array(self.cells, "cells", spec["k"])
        if len(cells) == 0:
            raise CalibValueError("Mesh: cells is empty; a mesh needs at least one cell")
        self._check_indices(cells, len(points), "cells")
        repeats = np.any(np.diff(np.sort(cells, axis=1), axis=1) == 0, axis=1)
        if np.any(repeats):
            bad = int(np.flatnonzero(repeats)[0])
            raise CalibValueError(f"Mesh: cell {bad} repeats a node: {cells[bad].tolist()}")
        cells, flipped = self._oriented_cells(points, cells)

        tags = (np.zeros(len(cells), np.int64) if self.cell_tags is None
                else np.asarray(self.cell_tags))
        if tags.shape != (len(cells),) or not np.issubdtype(tags.dtype, np.integer):
            raise CalibValueError(f"Mesh: cell_tags must be integers of shape ({len(cells)},) (one "
                                  f"region id per cell), got dtype {tags.dtype} shape {tags.shape}")
        tags = np.ascontiguousarray(tags, np.int64)
        region_names = self._region_names(tags)

        for name, value in (("points", points), ("cells", cells), ("cell_tags", tags),
                            ("region_names", region_names)):
            object.__setattr__(self, name, value)
        self._check_untangled(flipped)
        # The facet lookup below uses the (cached) face table of the oriented cells.
        boundaries = {}
        for name, facets in (self.boundaries or {}).items():
            if not isinstance(name, str):
                raise CalibTypeError(f"Mesh: boundary names must be strings, got {name!r}")
            boundaries[name] = self._oriented_facets(name, facets)
        object.__setattr__(self, "boundaries", boundaries)
        for array in (points, cells, tags, *boundaries.values()):
            array.flags.writeable = False

    # ----------------------------------------------------------------------------- validation
    @staticmethod
    def _int_array(value, what: str, k: int) -> np.ndarray:
        array = np.asarray(value)
        if array.size == 0:
            array = array.reshape(0, k)
        if array.ndim != 2 or array.shape[1] != k:
            raise CalibValueError(f"Mesh: {what} must have shape (n, {k}), got {array.shape}")
        if not np.issubdtype(array.dtype, np.integer):
            raise CalibTypeError(f"Mesh: {what} must hold integer node ids, got dtype {array.dtype}")
        return np.ascontiguousarray(array, np.int64)

    @staticmethod
    def _check_indices(array: np.ndarray, n_nodes: int, what: str):
        bad = (array < 0) | (array >= n_nodes)
        if np.any(bad):
            row = int(np.flatnonzero(np.any(bad, axis=1))[0])
            raise CalibValueError(f"Mesh: {what} row {row} has node ids {array[row].tolist()} out of "
                                  f"range for {n_nodes} nodes (valid ids are 0..{n_nodes - 1})")

    def _oriented_cells(self, points: np.ndarray, cells: np.ndarray):
        """Flip the cells with negative Jacobian; refuse degenerate ones.

        Returns ``(cells, flipped)``: the oriented connectivity and which cells were flipped,
        ``(n_cells,)`` bool.
        """
        nv = _CELL_TYPES[self.cell_type]["nv"]
        det = _signed_measures(points, cells[:, :nv])
        x = points[cells[:, :nv]]
        longest = np.max(np.linalg.norm(x[:, :, None] - x[:, None, :], axis=-1), axis=(1, 2))
        degenerate = np.abs(det) <= _DEGENERATE_RTOL * longest ** points.shape[1]
        if np.any(degenerate):
            bad = np.flatnonzero(degenerate)
            what = "area" if points.shape[1] == 2 else "volume"
            raise CalibValueError(f"Mesh: cell {int(bad[0])} (nodes {cells[bad[0]].tolist()}) has zero "
                                  f"{what} ({len(bad)} degenerate cell(s) in all); remove it or fix "
                                  "its node coordinates")
        flip = det < 0
        if np.any(flip):
            cells = cells.copy()
            cells[flip] = cells[flip][:, _FLIP[self.cell_type]]
        return cells, flip

    def _check_untangled(self, flipped: np.ndarray) -> None:
        """Refuse a mesh whose cells overlap: an interior facet shared by more than two cells, or
        by two cells on the same side of it (after re-orientation).

        With the cells positively oriented, each local facet lists its vertices outward; two
        cells on opposite sides of a shared facet list it in orders of opposite parity (2D: the
        edge as ``(a, b)`` and ``(b, a)``). Equal parity means the cells overlap: one of them is
        inverted. Cost: one pass over the face table (which the boundaries need anyway).
        """
        spec = _CELL_TYPES[self.cell_type]
        faces, keys, ids, counts = self._face_table
        n_local = len(spec["faces"])
        if np.any(counts > 2):
            facet = int(np.flatnonzero(counts > 2)[0])
            rows = np.flatnonzero(ids == facet)
            raise CalibValueError(
                f"Mesh: the facet with nodes {keys[rows[0]].tolist()} is shared by {len(rows)} cells "
                f"({(rows // n_local).tolist()}); in a conforming mesh an interior facet belongs to "
                f"exactly two cells. Remove the duplicated or overlapping cells "
                f"({int(np.sum(counts > 2))} such facet(s) in all)")
        vertices = faces[:, :keys.shape[1]]
        # Parity of each facet's vertex order relative to its sorted key: its number of inversions.
        pairs = [(i, j) for i in range(vertices.shape[1]) for j in range(i + 1, vertices.shape[1])]
        parity = sum((vertices[:, i] > vertices[:, j]).astype(np.int64) for i, j in pairs) % 2
        parity_sum = np.bincount(ids, weights=parity, minlength=len(counts))
        same_side = (counts == 2) & (parity_sum != 1)
        if not np.any(same_side):
            return
        rows = np.flatnonzero(same_side[ids])
        cells = np.unique(rows // n_local)
        # The inverted cells are those whose given orientation is the minority among all cells:
        # the others were merely listed in the mesh's own (possibly clockwise) order.
        minority = not flipped.mean() > 0.5
        inverted = cells[flipped[cells] == minority]
        if inverted.size == 0:
            inverted = cells
        nv = spec["nv"]
        common = functools.reduce(np.intersect1d, [self.cells[c, :nv] for c in inverted])
        measures = np.abs(self.cell_volumes())
        exterior = faces[counts[ids] == 1, :keys.shape[1]]
        centre = self.points.mean(axis=0)
        enclosed = abs(np.sum(np.einsum("ni,ni->n", _facet_normals(self.points, exterior),
                                        self.points[exterior[:, 0]] - centre)))
        enclosed /= 2.0 if self.dim == 2 else 6.0
        what = "areas" if self.dim == 2 else "volumes"
        shown = inverted[:5].tolist()
        more = " ..." if inverted.size > 5 else ""
        suspects = (f"they share node(s) {common.tolist()}, one of which has probably been moved "
                    "past its neighbours" if common.size else
                    "some of their nodes have probably been moved past their neighbours")
        raise CalibValueError(
            f"Mesh: the mesh is tangled: cell(s) {shown}{more} (nodes "
            f"{self.cells[inverted[:5], :nv].tolist()}{more}) are inverted and overlap their "
            f"neighbours across {int(np.sum(same_side))} interior facet(s); {suspects}. "
            f"Re-orienting the cells would count the overlap twice (the cell {what} sum to "
            f"{measures.sum():.6g}, the boundary encloses {enclosed:.6g}). Move the node(s) "
            "back inside the polygon of their neighbours, or regenerate the mesh")

    def _region_names(self, tags: np.ndarray) -> dict:
        present = set(np.unique(tags).tolist())
        if not self.region_names:
            if present == {0}:
                return {"domain": 0}
            return {f"tag{t}": t for t in sorted(present)}
        names = {}
        for name, tag in dict(self.region_names).items():
            if not isinstance(name, str):
                raise CalibTypeError(f"Mesh: region_names keys must be strings, got {name!r}")
            if isinstance(tag, bool) or not isinstance(tag, (int, np.integer)):
                raise CalibTypeError(f"Mesh: region_names[{name!r}] must be an integer tag, got {tag!r}")
            if int(tag) not in present:
                raise CalibValueError(f"Mesh: region_names[{name!r}] = {int(tag)} but no cell has that "
                                      f"tag (cell_tags present: {sorted(present)})")
            names[name] = int(tag)
        return names

    def _oriented_facets(self, name: str, facets) -> np.ndarray:
        spec = _CELL_TYPES[self.cell_type]
        try:
            facets = self._int_array(facets, f"boundaries[{name!r}]", spec["kf"])
        except ValueError as error:
            raise CalibValueError(f"{error} ({spec['facet']!r} facets of {self.cell_type!r} cells)") \
                from None
        self._check_indices(facets, self.n_nodes, f"boundaries[{name!r}]")
        faces, keys, face_ids, _ = self._face_table
        nvf = keys.shape[1]
        (ids, query), n_ids = _row_ids(keys, np.sort(facets[:, :nvf], 1))
        # first (lowest-numbered) local face carrying each key; -1 where no cell has it
        first = np.full(n_ids, -1, np.int64)
        first[ids[::-1]] = np.arange(len(ids))[::-1]
        owner = first[query]
        if np.any(owner < 0):
            bad = int(np.flatnonzero(owner < 0)[0])
            raise CalibValueError(f"Mesh: boundaries[{name!r}] facet {bad} (nodes "
                                  f"{facets[bad].tolist()}) is not a face of any cell")
        if self.cell_type == "triangle6":
            wrong = facets[:, 2] != faces[owner, 2]
            if np.any(wrong):
                bad = int(np.flatnonzero(wrong)[0])
                raise CalibValueError(f"Mesh: boundaries[{name!r}] facet {bad} has midside node "
                                      f"{facets[bad, 2]} but the cell edge's midside node is "
                                      f"{faces[owner[bad], 2]}")
        # Outward means the owner cell's centroid lies behind the facet's normal.
        cell = owner // len(spec["faces"])
        centroid = self.points[self.cells[cell, :spec["nv"]]].mean(axis=1)
        normal = _facet_normals(self.points, facets[:, :nvf])
        inward = np.einsum("ni,ni->n", normal, centroid - self.points[facets[:, 0]]) > 0
        if np.any(inward):
            facets = facets.copy()
            swap = [1, 0, 2] if self.dim == 2 else [0, 2, 1]   # keeps a line3 midside at 2
            facets[inward] = facets[inward][:, swap[:spec["kf"]]]
        return facets

    @functools.cached_property
    def _face_table(self):
        """Every local facet of every cell, oriented outward: ``(faces, keys, ids, counts)``.

        ``faces`` is ``(n_cells * n_local, kf)``, row ``c * n_local + f`` being local facet f
        of cell c; ``keys`` the sorted vertex ids; ``ids`` label equal keys; ``counts[id]`` is
        the number of cells sharing the facet (1 on the exterior, 2 inside).
        """
        spec = _CELL_TYPES[self.cell_type]
        local = np.asarray(spec["faces"])
        faces = self.cells[:, local].reshape(-1, local.shape[1])
        keys = np.sort(faces[:, :2 if self.dim == 2 else 3], axis=1)
        (ids,), n_ids = _row_ids(keys)
        return faces, keys, ids, np.bincount(ids, minlength=n_ids)

    # ------------------------------------------------------------------------------ properties
    @property
    def dim(self) -> int:
        return self.points.shape[1]

    @property
    def n_nodes(self) -> int:
        return len(self.points)

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def vertices_per_cell(self) -> int:
        """3 for triangles (linear or quadratic), 4 for tetrahedra."""
        return _CELL_TYPES[self.cell_type]["nv"]

    @property
    def nodes_per_cell(self) -> int:
        return self.cells.shape[1]

    @property
    def facet_type(self) -> str:
        """meshio name of the boundary facets: "line", "line3" or "triangle"."""
        return _CELL_TYPES[self.cell_type]["facet"]

    @property
    def is_quadratic(self) -> bool:
        return self.cell_type == "triangle6"

    @functools.cached_property
    def h(self) -> float:
        """Longest straight edge of any cell (vertex to vertex), length units."""
        x = self.points[self.cells[:, :self.vertices_per_cell]]
        return float(np.max(np.linalg.norm(x[:, :, None] - x[:, None, :], axis=-1)))

    # ---------------------------------------------------------------------------------- queries
    def boundary_nodes(self, name: str) -> np.ndarray:
        """Sorted unique node ids of a boundary's facets, midside nodes included, ``(n,)``."""
        return np.unique(self._boundary(name, "boundary_nodes"))

    def boundary_normals(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Outward unit normals ``(n_facets, dim)`` and measures ``(n_facets,)`` (length in 2D,
        area in 3D) of a boundary's facets, taken straight between their vertices."""
        facets = self._boundary(name, "boundary_normals")
        normal = _facet_normals(self.points, facets[:, :2 if self.dim == 2 else 3])
        length = np.linalg.norm(normal, axis=1)
        measure = length if self.dim == 2 else 0.5 * length
        return normal / length[:, None], measure

    def region_cells(self, name: str) -> np.ndarray:
        """Indices of the cells of a named region, ``(n,)``."""
        if name not in self.region_names:
            raise CalibValueError(f"Mesh.region_cells: no region named {name!r}; available: "
                                  f"{_names(self.region_names)}")
        return np.flatnonzero(self.cell_tags == self.region_names[name])

    def nodes_where(self, predicate) -> np.ndarray:
        """Ids of the nodes whose coordinates satisfy ``predicate(points (n, dim)) -> (n,) bool``,
        ``(m,)`` sorted."""
        return np.flatnonzero(_call_predicate(predicate, self.points, "Mesh.nodes_where"))

    def exterior_facets(self) -> np.ndarray:
        """Facets that belong to exactly one cell, oriented outward, ``(n, kf)``."""
        faces, _, ids, counts = self._face_table
        return faces[counts[ids] == 1]

    def cell_volumes(self) -> np.ndarray:
        """Area (2D) or volume (3D) of each cell with straight sides between its vertices,
        ``(n_cells,)``, positive. Curved triangle6 cells differ at O(h^3) per cell."""
        det = _signed_measures(self.points, self.cells[:, :self.vertices_per_cell])
        return det / (2.0 if self.dim == 2 else 6.0)

    def cell_centroids(self) -> np.ndarray:
        """Mean of each cell's vertices, ``(n_cells, dim)``."""
        return self.points[self.cells[:, :self.vertices_per_cell]].mean(axis=1)

    def _boundary(self, name: str, where: str) -> np.ndarray:
        if name not in self.boundaries:
            raise CalibValueError(f"Mesh.{where}: no boundary named {name!r}; available: "
                                  f"{_names(self.boundaries)}")
        return self.boundaries[name]

    # --------------------------------------------------------------------------- new meshes
    def replace(self, **changes) -> "Mesh":
        return dataclasses.replace(self, **changes)

    def with_boundary(self, name: str, facets) -> "Mesh":
        """A copy with boundary ``name`` set to ``facets`` (any orientation; fixed on the way)."""
        return self.replace(boundaries={**self.boundaries, name: facets})

    def with_boundaries_where(self, name: str, predicate) -> "Mesh":
        """A copy with boundary ``name`` = every exterior facet whose nodes (midside included)
        all satisfy ``predicate(points (n, dim)) -> (n,) bool``.

        Use a tolerance, e.g. ``lambda x: np.isclose(x[:, 0], 0.0)``. An empty selection is an
        error, since it nearly always means a wrong coordinate or tolerance.
        """
        mask = _call_predicate(predicate, self.points, "Mesh.with_boundaries_where")
        facets = self.exterior_facets()
        facets = facets[np.all(mask[facets], axis=1)]
        if len(facets) == 0:
            raise CalibValueError(f"Mesh.with_boundaries_where: no exterior facet has all its nodes "
                                  f"satisfying the predicate for boundary {name!r}; check the "
                                  "coordinate and the tolerance")
        return self.with_boundary(name, facets)

    def without_unused_nodes(self) -> tuple["Mesh", np.ndarray]:
        """Drop nodes used by no cell. Returns ``(mesh, kept)``, ``kept`` being the old id of
        each new node, ``(n_new,)``, e.g. to carry nodal data over: ``data[kept]``."""
        kept = np.unique(self.cells)
        new_id = np.full(self.n_nodes, -1, np.int64)
        new_id[kept] = np.arange(len(kept))
        boundaries = {n: new_id[f] for n, f in self.boundaries.items()}
        return self.replace(points=self.points[kept], cells=new_id[self.cells],
                            boundaries=boundaries), kept

    def to_quadratic(self, curve=None) -> "Mesh":
        """The triangle6 mesh with one shared midside node per edge of this triangle mesh.

        Args:
            curve: optional ``curve(x0, x1) -> x`` placing the midside nodes; called once with
                the end points of every edge, ``x0`` and ``x1`` of shape ``(n_edges, 2)``, and
                must return ``(n_edges, 2)``. E.g. the midpoint in polar coordinates puts the
                midside nodes of arcs on the circle. Default: the straight midpoint.

        Returns:
            A mesh with ``n_nodes + n_edges`` nodes (new nodes after the old ones) and the same
            cell tags, region names and boundaries (line facets become line3).
        """
        if self.cell_type != "triangle":
            raise CalibValueError(f"Mesh.to_quadratic: needs a 'triangle' mesh, this one is "
                                  f"{self.cell_type!r}" + (" (quadratic tetrahedra are not supported)"
                                                      if self.dim == 3 else ""))
        edges, cells6, boundaries = quadratic_connectivity(self.cells, self.n_nodes,
                                                           self.boundaries)
        x0, x1 = self.points[edges[:, 0]], self.points[edges[:, 1]]
        if curve is None:
            mid = 0.5 * (x0 + x1)
        else:
            if not callable(curve):
                raise CalibTypeError(f"Mesh.to_quadratic: curve must be a callable curve(x0, x1) -> x, "
                                     f"got {type(curve).__name__}")
            mid = np.asarray(curve(x0, x1), dtype=np.float64)
            if mid.shape != x0.shape:
                raise CalibValueError(f"Mesh.to_quadratic: curve(x0, x1) must return the midside "
                                      f"points with shape {x0.shape}, got {mid.shape}")
        return Mesh(np.concatenate([self.points, mid]), cells6, "triangle6", self.cell_tags,
                    self.region_names, boundaries)

    def __repr__(self) -> str:
        return (f"Mesh({self.cell_type}, {self.dim}D, {self.n_nodes} nodes, {self.n_cells} cells, "
                f"h={self.h:.4g}, regions [{_names(self.region_names)}], "
                f"boundaries [{_names(self.boundaries)}])")
