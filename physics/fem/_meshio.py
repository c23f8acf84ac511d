"""Mesh import and export through meshio (gmsh .msh in, VTU/XDMF/.msh out for ParaView).

Regions and boundaries come from gmsh physical groups: the ``gmsh:physical`` cell data of the
volume cells and of the facet cells one dimension lower, named by ``field_data``
(name -> [tag, dimension]).
"""

from __future__ import annotations

import os

import numpy as np

from ._mesh import _CELL_TYPES, Mesh
from calib._errors import CalibValueError

# Topological dimension of the meshio cell types we may meet, to find the "volume" cells.
_TOPOLOGICAL_DIM = {
    "vertex": 0, "line": 1, "line3": 1,
    "triangle": 2, "triangle6": 2, "triangle7": 2, "quad": 2, "quad8": 2, "quad9": 2,
    "polygon": 2,
    "tetra": 3, "tetra10": 3, "hexahedron": 3, "hexahedron20": 3, "hexahedron27": 3,
    "wedge": 3, "wedge15": 3, "pyramid": 3, "pyramid13": 3,
}
_SUPPORTED = ", ".join(_CELL_TYPES)


def _meshio():
    try:
        import meshio
    except ImportError as error:   # optional dependency: only mesh file I/O needs it
        raise ImportError("physics.fem mesh file I/O needs meshio: pip install meshio") from error
    return meshio


def _topological_dim(cell_type: str) -> int:
    if cell_type in _TOPOLOGICAL_DIM:
        return _TOPOLOGICAL_DIM[cell_type]
    raise CalibValueError(f"from_meshio: unsupported cell type {cell_type!r}; supported: {_SUPPORTED}")


def from_meshio(m, *, dim: int | None = None, require_tags: bool = True,
                tag_key: str = "gmsh:physical") -> Mesh:
    """Convert a ``meshio.Mesh`` (e.g. read from a gmsh file) into a :class:`Mesh`.

    The cells of highest topological dimension become the mesh cells (blocks of the same type
    are concatenated); they must be triangle, triangle6 or tetra. Facet blocks one dimension
    lower (line, line3 or triangle) carrying a physical tag become boundaries.

    Args:
        m: the meshio mesh.
        dim: space dimension of the result, 2 or 3; default the cells' dimension. A 2D mesh
            given with three coordinates must have all z = 0 (the column is dropped).
        require_tags: refuse a mesh with no physical tags at all (the usual cause is a gmsh
            model without Physical groups). With False such a mesh gets region "domain" and no
            boundaries.
        tag_key: cell-data key holding the region / boundary tags.

    Returns:
        The mesh, with regions and boundaries named from ``m.field_data`` (name -> [tag, dim]);
        a tag with no name is called ``f"tag{n}"``. All nodes of ``m`` are kept, in order, so
        point data of the file still lines up (unused nodes are allowed).
    """
    types = [block.type for block in m.cells]
    if not types:
        raise CalibValueError("from_meshio: the mesh has no cells")
    top = max(_topological_dim(t) for t in types)
    volume_types = sorted({t for t in types if _topological_dim(t) == top})
    unsupported = [t for t in volume_types if t not in _CELL_TYPES]
    if unsupported:
        raise CalibValueError(f"from_meshio: unsupported cell types {unsupported}; supported: "
                              f"{_SUPPORTED}")
    if len(volume_types) > 1:
        raise CalibValueError(f"from_meshio: the mesh mixes cell types {volume_types}; one of "
                              f"{_SUPPORTED} is needed (e.g. make it all second order in gmsh)")
    cell_type = volume_types[0]
    spec = _CELL_TYPES[cell_type]
    facet_type = spec["facet"]

    points = np.asarray(m.points, dtype=np.float64)
    if dim is None:
        dim = spec["dim"]
    if dim != spec["dim"]:
        raise CalibValueError(f"from_meshio: dim={dim} does not fit {cell_type!r} cells, which need "
                              f"dim={spec['dim']}")
    if points.shape[1] < dim:
        raise CalibValueError(f"from_meshio: {cell_type!r} cells need {dim} coordinates, the points "
                              f"have {points.shape[1]}")
    if points.shape[1] > dim:
        extra = points[:, dim:]
        if np.any(extra != 0):
            raise CalibValueError(f"from_meshio: {cell_type!r} cells lie in the plane but the points "
                                  f"have non-zero z (max |z| = {np.abs(extra).max():.3g}); a surface in "
                                  "3D is not supported, mesh the 2D domain in the z = 0 plane")
        points = points[:, :dim]

    tags_by_block = m.cell_data.get(tag_key)
    cells, cell_tags, facets, facet_tags = [], [], [], []
    for k, block in enumerate(m.cells):
        tags = None if tags_by_block is None else np.asarray(tags_by_block[k]).reshape(-1)
        data = np.asarray(block.data)
        if block.type == cell_type:
            cells.append(data)
            cell_tags.append(tags)
        elif block.type == facet_type and tags is not None:
            facets.append(data)
            facet_tags.append(tags)
    tagged_cells = any(t is not None for t in cell_tags)
    if not tagged_cells and not facets:
        if require_tags:
            raise CalibValueError(f"from_meshio: mesh has no physical groups ({tag_key} cell data); "
                                  "tag the domain and the boundaries in gmsh with Physical Surface / "
                                  "Physical Curve (Physical Volume / Physical Surface in 3D), or pass "
                                  "require_tags=False and add boundaries with Mesh.with_boundary or "
                                  "Mesh.with_boundaries_where")

    names = {}   # (tag, topological dim) -> [names]
    for name, value in (m.field_data or {}).items():
        value = np.asarray(value).reshape(-1)
        if len(value) >= 2:
            names.setdefault((int(value[0]), int(value[1])), []).append(name)

    def named(tags, tdim):
        out = {}
        for tag in np.unique(tags).tolist():
            for name in names.get((tag, tdim), [f"tag{tag}"]):
                out[name] = tag
        return out

    cell_array = np.concatenate(cells)
    if tagged_cells:
        tag_array = np.concatenate([np.zeros(len(c), np.int64) if t is None else t
                                    for c, t in zip(cells, cell_tags)]).astype(np.int64)
        region_names = named(tag_array, spec["dim"])
    else:
        tag_array, region_names = None, None
    boundaries = {}
    if facets:
        facet_array = np.concatenate(facets)
        facet_tag_array = np.concatenate(facet_tags).astype(np.int64)
        for name, tag in named(facet_tag_array, spec["dim"] - 1).items():
            boundaries[name] = facet_array[facet_tag_array == tag]
    return Mesh(points, cell_array, cell_type, tag_array, region_names, boundaries)


def read_mesh(path, *, file_format: str | None = None, **kwargs) -> Mesh:
    """Read a mesh file (gmsh .msh, ...) with meshio; other keywords go to :func:`from_meshio`.

    ``file_format`` is meshio's name of the format; default from the extension, with ``.msh``
    read as gmsh (any version).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"read_mesh: no such file {os.fspath(path)!r}")
    if file_format is None and os.fspath(path).endswith(".msh"):
        file_format = "gmsh"   # else meshio first tries the ANSYS reader, which prints a failure
    return from_meshio(_meshio().read(path, file_format=file_format), **kwargs)


def _padded(values: np.ndarray, n: int, dim: int, where: str) -> np.ndarray:
    """Check leading length ``n``; pad 2-component vectors of a 2D mesh with a zero z, which
    ParaView needs to show them as vectors (e.g. Warp By Vector on a displacement)."""
    values = np.asarray(values)
    if values.ndim == 0 or values.shape[0] != n:
        raise CalibValueError(f"to_meshio: {where} must have leading length {n}, got shape "
                              f"{values.shape}")
    if dim == 2 and values.ndim == 2 and values.shape[1] == 2:
        values = np.concatenate([values, np.zeros((n, 1), values.dtype)], axis=1)
    return values


def to_meshio(mesh: Mesh, point_data: dict | None = None, cell_data: dict | None = None, *,
              boundaries: bool = False):
    """Convert a :class:`Mesh` into a ``meshio.Mesh`` for writing.

    Points are padded to three coordinates (z = 0 in 2D), as VTU expects.

    Args:
        point_data: name -> nodal values ``(n_nodes, ...)``; ``(n_nodes, 2)`` vectors of a 2D
            mesh are padded with z = 0.
        cell_data: name -> per-cell values ``(n_cells, ...)``. Without ``boundaries`` the cell
            tags are added as "region".
        boundaries: also write every boundary as a facet block, with ``gmsh:physical`` /
            ``gmsh:geometrical`` tags (the cells' are their region tags) and ``field_data``
            names: what :func:`from_meshio` reads back, for .msh output. Cannot be combined
            with ``cell_data``, which meshio's gmsh reader cannot read back over several cell
            blocks; write fields to .vtu instead.
    """
    meshio = _meshio()
    n, dim = mesh.n_nodes, mesh.dim
    points = np.concatenate([mesh.points, np.zeros((n, 3 - dim))], axis=1)
    point_data = {k: _padded(v, n, dim, f"point_data[{k!r}]")
                  for k, v in (point_data or {}).items()}
    blocks = [(mesh.cell_type, mesh.cells)]
    field_data = {}
    if not boundaries:
        cell_data_out = {"region": [mesh.cell_tags]}
        cell_data_out.update({k: [_padded(v, mesh.n_cells, dim, f"cell_data[{k!r}]")]
                              for k, v in (cell_data or {}).items()})
    else:
        if cell_data:
            raise CalibValueError("to_meshio: cell_data cannot be combined with boundaries=True "
                                  "(meshio's gmsh reader cannot read cell data of several cell blocks "
                                  "back); write cell fields to a .vtu file instead")
        names = sorted(mesh.boundaries)
        facet_tags = [np.full(len(mesh.boundaries[b]), i + 1, np.int64)
                      for i, b in enumerate(names)]
        blocks += [(mesh.facet_type, mesh.boundaries[b]) for b in names]
        cell_data_out = {"gmsh:physical": [mesh.cell_tags, *facet_tags],
                         "gmsh:geometrical": [mesh.cell_tags, *facet_tags]}
        field_data = {name: np.array([tag, dim]) for name, tag in mesh.region_names.items()}
        field_data.update({b: np.array([i + 1, dim - 1]) for i, b in enumerate(names)})
    return meshio.Mesh(points, blocks, point_data=point_data, cell_data=cell_data_out,
                       field_data=field_data)


def write_mesh(path, mesh: Mesh, point_data: dict | None = None, cell_data: dict | None = None,
               *, boundaries: bool | None = None, file_format: str | None = None):
    """Write a mesh and optional nodal / cell fields, e.g. ``"mesh.vtu"`` for ParaView.

    ``boundaries`` (see :func:`to_meshio`) defaults to True for gmsh ``.msh`` files, which are
    then written in the gmsh 2.2 format (meshio's gmsh 4.1 writer cannot write several cell
    types without entity information); cell fields then go to a .vtu file instead.
    """
    is_msh = os.fspath(path).endswith(".msh") or (file_format or "").startswith("gmsh")
    if boundaries is None:
        boundaries = is_msh
    if is_msh and file_format is None:
        file_format = "gmsh22"
    _meshio().write(path, to_meshio(mesh, point_data, cell_data, boundaries=boundaries),
                    file_format=file_format)
