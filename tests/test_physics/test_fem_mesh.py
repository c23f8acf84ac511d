"""physics.fem mesh layer: Mesh validation and orientation, structured generators, meshio I/O."""

import math
import re

import numpy as np
import pytest

from physics.fem._generators import (annulus, assign_layers, assign_regions, box,
                                     plate_with_hole, rectangle)
from physics.fem._mesh import Mesh
from physics.fem._meshio import from_meshio, read_mesh, to_meshio, write_mesh

meshio = pytest.importorskip("meshio")


# ------------------------------------------------------------------------------------ helpers
def signed_measures(mesh):
    """2·area or 6·volume of each straight cell, signed (independent of Mesh's own code)."""
    x = mesh.points[mesh.cells[:, :mesh.vertices_per_cell]]
    e = x[:, 1:] - x[:, :1]
    return np.linalg.det(e)


def facet_normal_measure(mesh, facets):
    """Outward normal times measure of straight facets, (n, dim), by the documented rule."""
    x = mesh.points[facets]
    if mesh.dim == 2:
        t = x[:, 1] - x[:, 0]
        return np.stack([t[:, 1], -t[:, 0]], axis=1)
    return 0.5 * np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0])


def check_divergence(mesh, facets, measure):
    """∮ n ds = 0 and ∮ x·n ds = dim · |Ω| over the closed boundary ``facets``."""
    nds = facet_normal_measure(mesh, facets)
    centre = mesh.points[facets[:, :mesh.dim]].mean(axis=1)   # x·n is linear: midpoint rule exact
    np.testing.assert_allclose(nds.sum(axis=0), 0.0, atol=1e-12 * measure)
    np.testing.assert_allclose(np.einsum("ni,ni->", centre, nds), mesh.dim * measure, rtol=1e-12)


def all_boundary_facets(mesh):
    return np.concatenate(list(mesh.boundaries.values()))


def facet_keys(facets, nv):
    return {tuple(sorted(f[:nv])) for f in facets.tolist()}


def p2_area(mesh):
    """Area of a triangle6 mesh with its curved (isoparametric) cells: det J is quadratic, so the
    3-point rule is exact."""
    total = 0.0
    x = mesh.points[mesh.cells]
    for xi, eta in [(1 / 6, 1 / 6), (2 / 3, 1 / 6), (1 / 6, 2 / 3)]:
        l1 = 1 - xi - eta
        dxi = np.array([1 - 4 * l1, 4 * xi - 1, 0, 4 * (l1 - xi), 4 * eta, -4 * eta])
        deta = np.array([1 - 4 * l1, 0, 4 * eta - 1, -4 * xi, 4 * xi, 4 * (l1 - eta)])
        jac = np.stack([np.einsum("a,nad->nd", dxi, x), np.einsum("a,nad->nd", deta, x)], axis=2)
        det = np.linalg.det(jac)
        assert np.all(det > 0)
        total += det.sum() / 6
    return total


def rates(errors):
    errors = np.abs(np.asarray(errors))
    return np.log2(errors[:-1] / errors[1:])


# ---------------------------------------------------------------------------------- rectangle
@pytest.mark.parametrize("diagonal", ["alternate", "right", "left", "crossed"])
@pytest.mark.parametrize("quadratic", [False, True])
def test_rectangle_area_orientation_and_boundaries(diagonal, quadratic):
    nx, ny, w, h = 4, 3, 2.0, 1.5
    mesh = rectangle(w, h, nx, ny, origin=(1.0, -2.0), quadratic=quadratic, diagonal=diagonal)
    assert mesh.cell_type == ("triangle6" if quadratic else "triangle")
    assert mesh.n_cells == (4 if diagonal == "crossed" else 2) * nx * ny
    assert np.all(signed_measures(mesh) > 0)
    np.testing.assert_allclose(mesh.cell_volumes().sum(), w * h, rtol=1e-14)
    assert mesh.region_names == {"domain": 0}
    assert sorted(mesh.boundaries) == ["bottom", "left", "right", "top"]
    check_divergence(mesh, all_boundary_facets(mesh), w * h)
    # the named boundaries are exactly the exterior
    assert facet_keys(all_boundary_facets(mesh), 2) == facet_keys(mesh.exterior_facets(), 2)
    per_node = 2 if quadratic else 1
    for name, axis, value, n in [("left", 0, 1.0, ny), ("right", 0, 3.0, ny),
                                 ("bottom", 1, -2.0, nx), ("top", 1, -0.5, nx)]:
        nodes = mesh.boundary_nodes(name)
        assert len(nodes) == per_node * n + 1
        assert np.all(mesh.points[nodes, axis] == value)
        assert np.all(np.diff(nodes) > 0)


def test_rectangle_quadratic_midside_nodes_are_edge_midpoints():
    mesh = rectangle(1.0, 1.0, 3, 2, quadratic=True)
    x = mesh.points[mesh.cells]
    for edge, (a, b) in zip((3, 4, 5), [(0, 1), (1, 2), (2, 0)]):
        np.testing.assert_allclose(x[:, edge], 0.5 * (x[:, a] + x[:, b]), atol=1e-15)
    line3 = mesh.boundaries["bottom"]
    np.testing.assert_allclose(mesh.points[line3[:, 2]],
                               mesh.points[line3[:, :2]].mean(axis=1), atol=1e-15)


# ------------------------------------------------------------------------------------ annulus
def test_annulus_area_converges_at_second_order():
    a, b = 1.0, 2.0
    exact = math.pi * (b ** 2 - a ** 2) / 4
    errors = []
    for n in (4, 8, 16):
        mesh = annulus(a, b, n, 2 * n)
        assert np.all(signed_measures(mesh) > 0)
        errors.append(mesh.cell_volumes().sum() - exact)
        check_divergence(mesh, all_boundary_facets(mesh), mesh.cell_volumes().sum())
    assert np.all(np.asarray(errors) < 0)                 # inscribed polygons
    np.testing.assert_allclose(rates(errors), 2.0, atol=0.05)


def test_quadratic_annulus_is_isoparametric():
    a, b = 1.0, 2.5
    exact = math.pi * (b ** 2 - a ** 2) / 4
    errors = []
    for n in (2, 4, 8):
        mesh = annulus(a, b, n, 2 * n, quadratic=True, grading=1.2)
        errors.append(p2_area(mesh) - exact)
    # exact arcs to O(h^3) make the area error O(h^4)
    assert np.all(rates(errors) > 3.8)
    # every midside node is the image of the (r, θ) midpoint of its edge
    x = mesh.points[mesh.cells]
    r, t = np.linalg.norm(x, axis=-1), np.arctan2(x[..., 1], x[..., 0])
    for edge, (p, q) in zip((3, 4, 5), [(0, 1), (1, 2), (2, 0)]):
        rm, tm = 0.5 * (r[:, p] + r[:, q]), 0.5 * (t[:, p] + t[:, q])
        np.testing.assert_allclose(x[:, edge], np.stack([rm * np.cos(tm), rm * np.sin(tm)], 1),
                                   atol=1e-14)
    for name, radius in (("inner", a), ("outer", b)):
        mid = mesh.points[mesh.boundaries[name][:, 2]]
        np.testing.assert_allclose(np.linalg.norm(mid, axis=1), radius, rtol=0, atol=1e-12)
    # the straight sides stay on the axes exactly
    assert np.all(mesh.points[mesh.boundary_nodes("bottom"), 1] == 0.0)
    assert np.all(mesh.points[mesh.boundary_nodes("left"), 0] == 0.0)


@pytest.mark.parametrize("quadratic", [False, True])
def test_whole_annulus_has_no_duplicate_nodes(quadratic):
    n_r, n_t = 3, 12
    mesh = annulus(1.0, 2.0, n_r, n_t, angle=2 * math.pi, quadratic=quadratic)
    assert sorted(mesh.boundaries) == ["inner", "outer"]
    vertices = (n_r + 1) * n_t
    edges = n_r * n_t + (n_r + 1) * n_t + n_r * n_t      # radial, circumferential, diagonal
    assert mesh.n_nodes == vertices + (edges if quadratic else 0)
    assert len(np.unique(np.round(mesh.points, 12), axis=0)) == mesh.n_nodes
    assert np.all(signed_measures(mesh) > 0)
    assert len(np.unique(mesh.cells)) == mesh.n_nodes     # every node used
    facets = all_boundary_facets(mesh)
    assert facet_keys(facets, 2) == facet_keys(mesh.exterior_facets(), 2)
    check_divergence(mesh, facets, mesh.cell_volumes().sum())
    np.testing.assert_allclose(mesh.cell_volumes().sum(), 3 * math.pi, rtol=0.05)


def test_annulus_grading_refines_near_the_hole():
    mesh = annulus(1.0, 3.0, 6, 4, grading=1.5)
    r = np.unique(np.round(np.linalg.norm(mesh.points, axis=1), 12))
    dr = np.diff(r)
    assert len(r) == 7 and r[0] == 1.0 and r[-1] == 3.0
    np.testing.assert_allclose(dr[1:] / dr[:-1], 1.5, rtol=1e-10)


# ----------------------------------------------------------------------------- plate with hole
@pytest.mark.parametrize("quadratic", [False, True])
def test_plate_with_hole(quadratic):
    a, w, h = 1.0, 3.0, 2.0
    exact = w * h - math.pi * a ** 2 / 4
    errors = []
    for n in (2, 4, 8):
        mesh = plate_with_hole(a, w, h, 2 * n, n, quadratic=quadratic)
        assert np.all(signed_measures(mesh) > 0)
        errors.append((p2_area(mesh) if quadratic else mesh.cell_volumes().sum()) - exact)
    assert np.all(rates(errors) > (3.8 if quadratic else 1.9))
    assert sorted(mesh.boundaries) == ["bottom", "hole", "left", "right", "top"]
    facets = all_boundary_facets(mesh)
    assert facet_keys(facets, 2) == facet_keys(mesh.exterior_facets(), 2)
    check_divergence(mesh, facets, mesh.cell_volumes().sum())
    x = mesh.points
    assert np.all(x[mesh.boundary_nodes("left"), 0] == 0.0)
    assert np.all(x[mesh.boundary_nodes("bottom"), 1] == 0.0)
    assert np.all(x[mesh.boundary_nodes("right"), 0] == w)
    assert np.all(x[mesh.boundary_nodes("top"), 1] == h)
    np.testing.assert_allclose(np.linalg.norm(x[mesh.boundary_nodes("hole")], axis=1), a,
                               atol=1e-14)


# ----------------------------------------------------------------------------------------- box
def test_box_volume_count_conformity_and_boundaries():
    nx, ny, nz, lx, ly, lz = 3, 2, 4, 1.0, 2.0, 0.5
    mesh = box(lx, ly, lz, nx, ny, nz, origin=(-1.0, 0.0, 2.0))
    volume = lx * ly * lz
    assert mesh.n_cells == 6 * nx * ny * nz
    assert mesh.n_nodes == (nx + 1) * (ny + 1) * (nz + 1)
    assert np.all(signed_measures(mesh) > 0)
    np.testing.assert_allclose(mesh.cell_volumes().sum(), volume, rtol=1e-13)
    np.testing.assert_allclose(mesh.cell_volumes(), volume / mesh.n_cells, rtol=1e-12)
    # conformity: every face shared by at most 2 tets, 2 triangles per exterior hex face
    faces = np.sort(mesh.cells[:, [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]], axis=2)
    _, counts = np.unique(faces.reshape(-1, 3), axis=0, return_counts=True)
    assert set(counts.tolist()) == {1, 2}
    n_exterior = 2 * 2 * (nx * ny + ny * nz + nx * nz)
    assert np.sum(counts == 1) == n_exterior
    facets = all_boundary_facets(mesh)
    assert len(facets) == n_exterior
    assert facet_keys(facets, 3) == facet_keys(mesh.exterior_facets(), 3)
    check_divergence(mesh, facets, volume)
    for name, axis, value in [("xmin", 0, -1.0), ("xmax", 0, 0.0), ("ymin", 1, 0.0),
                              ("ymax", 1, 2.0), ("zmin", 2, 2.0), ("zmax", 2, 2.5)]:
        nodes = mesh.boundary_nodes(name)
        assert np.all(mesh.points[nodes, axis] == value)
        assert len(nodes) == np.sum(mesh.points[:, axis] == value)
        normals, areas = mesh.boundary_normals(name)
        expected = np.zeros(3)
        expected[axis] = 1.0 if name.endswith("max") else -1.0
        np.testing.assert_allclose(normals, np.broadcast_to(expected, normals.shape), atol=1e-14)


# ------------------------------------------------------------------------------ orientation
def test_clockwise_cells_and_inward_facets_are_fixed():
    points = [[0, 0], [1, 0], [1, 1], [0, 1]]
    cells = [[0, 2, 1], [0, 3, 2]]                          # both clockwise
    mesh = Mesh(points, cells, "triangle",
                boundaries={"bottom": [[1, 0]], "right": [[1, 2]], "all": [[1, 0], [2, 1],
                                                                          [3, 2], [0, 3]]})
    assert np.all(signed_measures(mesh) > 0)
    assert sorted(map(sorted, mesh.cells.tolist())) == [[0, 1, 2], [0, 2, 3]]
    np.testing.assert_array_equal(mesh.boundaries["bottom"], [[0, 1]])
    np.testing.assert_array_equal(mesh.boundaries["right"], [[1, 2]])
    check_divergence(mesh, mesh.boundaries["all"], 1.0)
    normals, lengths = mesh.boundary_normals("bottom")
    np.testing.assert_allclose(normals, [[0.0, -1.0]])
    np.testing.assert_allclose(lengths, [1.0])


def test_quadratic_and_tetra_orientation_fixes():
    points = [[0, 0], [1, 0], [0, 1], [0.5, 0], [0.5, 0.5], [0, 0.5]]
    flipped = [[0, 2, 1, 5, 4, 3]]                         # clockwise triangle6
    mesh = Mesh(points, flipped, "triangle6", boundaries={"b": [[1, 0, 3]], "h": [[1, 2, 4]]})
    np.testing.assert_array_equal(mesh.cells, [[0, 1, 2, 3, 4, 5]])
    np.testing.assert_array_equal(mesh.boundaries["b"], [[0, 1, 3]])   # midside stays last
    np.testing.assert_array_equal(mesh.boundaries["h"], [[1, 2, 4]])   # already outward
    tet = Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 2, 1, 3]], "tetra",
               boundaries={"base": [[0, 2, 1]], "slant": [[1, 3, 2]]})
    assert signed_measures(tet)[0] > 0
    np.testing.assert_allclose(tet.boundary_normals("base")[0], [[0, 0, -1]])
    np.testing.assert_allclose(tet.boundary_normals("slant")[0], [np.ones(3) / math.sqrt(3)])
    check_divergence(tet, tet.exterior_facets(), 1 / 6)


def dragged(mesh, node_at, to):
    """The points of ``mesh`` with the node at ``node_at`` moved to ``to``, and that node's id."""
    points = mesh.points.copy()
    node = int(np.flatnonzero(np.all(np.isclose(points, node_at), axis=1))[0])
    points[node] = to
    return points, node


def test_tangled_mesh_is_refused_naming_cells_and_nodes():
    # The centre node of a 4 x 4 unit square dragged past its right-hand neighbour (0.75, 0.5):
    # two cells invert. Re-oriented, they overlap their neighbours: the areas summed to 1.075 and
    # an oedometer settlement came out 3.8 % off. The message names the cells and the nodes.
    mesh = rectangle(1.0, 1.0, 4, 4)
    points, node = dragged(mesh, [0.5, 0.5], [0.9, 0.5])
    inverted = np.flatnonzero(np.linalg.det(points[mesh.cells[:, 1:]] - points[mesh.cells[:, :1]])
                              < 0)
    assert inverted.size == 2
    cells = re.escape(f"cell(s) {inverted.tolist()} (nodes ")
    message = (rf"the mesh is tangled: {cells}.* are inverted and overlap their neighbours.*"
               + re.escape(f"share node(s) [{node}, ") + r"\d+\], .*"
               + re.escape("areas sum to 1.075, the boundary encloses 1). Move the node(s) back"))
    with pytest.raises(ValueError, match=message):
        Mesh(points, mesh.cells, "triangle", boundaries=mesh.boundaries)
    # Written clockwise (every cell's order reversed), the same tangle is found: the inverted cells
    # are those whose orientation is the minority.
    with pytest.raises(ValueError, match=f"the mesh is tangled: {cells}"):
        Mesh(points, mesh.cells[:, ::-1], "triangle")
    # A quadratic mesh and a tetrahedral one: the same test on the vertices.
    quadratic = mesh.to_quadratic()
    with pytest.raises(ValueError, match="the mesh is tangled"):
        Mesh(np.concatenate([points, quadratic.points[mesh.n_nodes:]]), quadratic.cells,
             "triangle6")
    cube = box(1.0, 1.0, 1.0, 3, 3, 3)
    points, node = dragged(cube, [1 / 3] * 3, [1 / 3 + 0.45, 1 / 3, 1 / 3])
    with pytest.raises(ValueError, match=rf"tangled.*share node\(s\) \[{node}, .*volumes sum"):
        Mesh(points, cube.cells, "tetra")


def test_cells_in_any_order_are_not_a_tangle():
    # Re-orientation is right when only the node order is off: every cell clockwise, or a random
    # half of them, gives the same mesh.
    mesh = rectangle(1.0, 1.0, 4, 4)
    flip = np.random.default_rng(0).random(mesh.n_cells) < 0.5
    cells = np.where(flip[:, None], mesh.cells[:, ::-1], mesh.cells)
    for given in (mesh.cells[:, ::-1], cells):
        fixed = Mesh(mesh.points, given, "triangle", boundaries=mesh.boundaries)
        assert np.all(signed_measures(fixed) > 0)
        np.testing.assert_allclose(fixed.cell_volumes().sum(), 1.0, rtol=1e-14)


def test_facet_shared_by_three_cells_is_refused():
    mesh = rectangle(1.0, 1.0, 2, 1)
    with pytest.raises(ValueError, match=r"shared by 3 cells.*Remove the duplicated"):
        Mesh(mesh.points, np.concatenate([mesh.cells, mesh.cells[:1]]), "triangle")


# ---------------------------------------------------------------------------- to_quadratic
def test_to_quadratic_node_count_and_curve():
    linear = rectangle(2.0, 1.0, 3, 4, diagonal="right")
    edges = {tuple(sorted(e)) for c in linear.cells.tolist() for e in [c[:2], c[1:], [c[2], c[0]]]}
    quad = linear.to_quadratic()
    assert quad.n_nodes == linear.n_nodes + len(edges)
    np.testing.assert_array_equal(quad.cells[:, :3], linear.cells)
    np.testing.assert_array_equal(quad.points[:linear.n_nodes], linear.points)
    assert quad.boundaries.keys() == linear.boundaries.keys()
    for name in linear.boundaries:
        np.testing.assert_array_equal(quad.boundaries[name][:, :2], linear.boundaries[name])
    shifted = linear.to_quadratic(lambda x0, x1: 0.5 * (x0 + x1) + [0.0, 0.01])
    np.testing.assert_allclose(shifted.points[linear.n_nodes:],
                               quad.points[linear.n_nodes:] + [0.0, 0.01])
    with pytest.raises(ValueError, match="curve"):
        linear.to_quadratic(lambda x0, x1: x0[:, :1])
    with pytest.raises(ValueError, match="'triangle' mesh"):
        quad.to_quadratic()
    with pytest.raises(ValueError, match="tetra"):
        box(1, 1, 1, 1, 1, 1).to_quadratic()


# ------------------------------------------------------------------------ queries and regions
def test_queries_and_new_boundaries():
    mesh = rectangle(2.0, 1.0, 4, 2)
    nodes = mesh.nodes_where(lambda x: np.isclose(x[:, 0], 1.0))
    assert len(nodes) == 3 and np.all(mesh.points[nodes, 0] == 1.0)
    tagged = mesh.with_boundaries_where("corner", lambda x: (x[:, 0] > 1.4) & (x[:, 1] < 0.1))
    np.testing.assert_array_equal(tagged.boundary_nodes("corner"), [3, 4])
    np.testing.assert_array_equal(tagged.boundary_normals("corner")[0], [[0.0, -1.0]])
    again = mesh.with_boundary("left2", mesh.boundaries["left"][:, ::-1])
    np.testing.assert_array_equal(again.boundaries["left2"], mesh.boundaries["left"])
    assert mesh.boundaries.keys() == {"left", "right", "bottom", "top"}   # original unchanged
    np.testing.assert_array_equal(mesh.region_cells("domain"), np.arange(mesh.n_cells))
    with pytest.raises(ValueError, match="no exterior facet"):
        mesh.with_boundaries_where("none", lambda x: x[:, 0] > 5)
    with pytest.raises(ValueError, match="boolean mask"):
        mesh.nodes_where(lambda x: x[:, 0])
    assert not mesh.points.flags.writeable and not mesh.cells.flags.writeable
    assert hash(mesh) != hash(rectangle(2.0, 1.0, 4, 2))                  # identity hashing
    assert "2D" in repr(mesh) and "'left'" in repr(mesh)
    assert mesh.h == pytest.approx(math.hypot(0.5, 0.5))


def test_unused_nodes_are_allowed_and_can_be_dropped():
    mesh = Mesh([[0, 0], [9, 9], [1, 0], [0, 1]], [[0, 2, 3]], "triangle",
                boundaries={"b": [[0, 2]]})
    compact, kept = mesh.without_unused_nodes()
    np.testing.assert_array_equal(kept, [0, 2, 3])
    np.testing.assert_array_equal(compact.cells, [[0, 1, 2]])
    np.testing.assert_array_equal(compact.boundaries["b"], [[0, 1]])


def test_assign_regions_and_layers():
    mesh = rectangle(4.0, 10.0, 2, 10, origin=(0.0, -10.0))
    layered = assign_layers(mesh, [-7.0, -2.0], ["rock", "clay", "sand"])
    assert set(layered.region_names) == {"rock", "clay", "sand"}
    counts = {n: len(layered.region_cells(n)) for n in layered.region_names}
    assert counts == {"rock": 2 * 2 * 3, "clay": 2 * 2 * 5, "sand": 2 * 2 * 2}
    y = layered.cell_centroids()[layered.region_cells("clay"), 1]
    assert np.all((y > -7.0) & (y < -2.0))
    # unmatched cells keep their tag and name; first matching predicate wins
    part = assign_regions(mesh, {"top": lambda c: c[:, 1] > -1.0, "upper": lambda c: c[:, 1] > -3})
    assert part.region_names == {"domain": 0, "top": 1, "upper": 2}
    assert len(part.region_cells("top")) == 4 and len(part.region_cells("upper")) == 8
    assert len(part.region_cells("domain")) == mesh.n_cells - 12
    assert part.boundaries.keys() == mesh.boundaries.keys()
    with pytest.raises(ValueError, match="'deep' matches no cell"):
        assign_regions(mesh, {"deep": lambda c: c[:, 1] < -20.0})
    with pytest.raises(ValueError, match="names must have"):
        assign_layers(mesh, [-5.0], ["a"])


# ----------------------------------------------------------------------------------- errors
def test_mesh_errors_name_the_problem():
    points = [[0, 0], [1, 0], [0, 1], [1, 1]]
    with pytest.raises(ValueError, match=r"node ids \[0, 1, 7\] out of range"):
        Mesh(points, [[0, 1, 7]], "triangle")
    with pytest.raises(ValueError, match="cell 1 .*zero area"):
        Mesh([[0, 0], [1, 0], [0, 1], [2, 0]], [[0, 1, 2], [0, 1, 3]], "triangle")
    with pytest.raises(ValueError, match="zero volume"):
        Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], [[0, 1, 2, 3]], "tetra")
    with pytest.raises(ValueError, match=r"cell_type must be one of .*'quad'"):
        Mesh(points, [[0, 1, 3, 2]], "quad")
    with pytest.raises(ValueError, match=r"shape \(n_nodes, 3\)"):
        Mesh(points, [[0, 1, 2, 3]], "tetra")
    with pytest.raises(ValueError, match=r"cells must have shape \(n, 6\)"):
        Mesh(points, [[0, 1, 2]], "triangle6")
    with pytest.raises(ValueError, match="finite"):
        Mesh([[0, 0], [1, np.nan], [0, 1]], [[0, 1, 2]], "triangle")
    with pytest.raises(ValueError, match="repeats a node"):
        Mesh(points, [[0, 1, 1]], "triangle")
    with pytest.raises(TypeError, match="integer node ids"):
        Mesh(points, [[0.0, 1.0, 2.0]], "triangle")
    with pytest.raises(ValueError, match="cell_tags"):
        Mesh(points, [[0, 1, 2]], "triangle", cell_tags=[0, 1])
    with pytest.raises(ValueError, match=r"region_names\['clay'\] = 3 but no cell"):
        Mesh(points, [[0, 1, 2]], "triangle", region_names={"clay": 3})
    with pytest.raises(ValueError, match=r"boundaries\['top'\] facet 1 .* not a face"):
        Mesh(points, [[0, 1, 2], [1, 3, 2]], "triangle", boundaries={"top": [[0, 1], [0, 3]]})
    with pytest.raises(ValueError, match=r"boundaries\['top'\] must have shape \(n, 2\)"):
        Mesh(points, [[0, 1, 2]], "triangle", boundaries={"top": [[0, 1, 2]]})
    mesh = rectangle(1.0, 1.0, 2, 2)
    with pytest.raises(ValueError, match="no boundary named 'lft'; available: 'bottom', 'left'"):
        mesh.boundary_nodes("lft")
    with pytest.raises(ValueError, match="no region named 'soil'; available: 'domain'"):
        mesh.region_cells("soil")


@pytest.mark.parametrize("call, message", [
    (lambda: rectangle(1.0, 1.0, 0, 2), "rectangle: nx must be a positive integer, got 0"),
    (lambda: rectangle(1.0, 1.0, 2.5, 2), "rectangle: nx must be a positive integer"),
    (lambda: rectangle(1.0, -1.0, 2, 2), "rectangle: height must be a positive"),
    (lambda: rectangle(1.0, 1.0, 2, 2, diagonal="up"), "rectangle: diagonal must be one of"),
    (lambda: annulus(2.0, 1.0, 2, 2), "outer_radius .* larger than inner_radius"),
    (lambda: annulus(1.0, 2.0, 2, 2, angle=2 * math.pi), "n_angular must be an integer >= 3"),
    (lambda: annulus(1.0, 2.0, 2, 2, grading=0.0), "annulus: grading must be a positive"),
    (lambda: plate_with_hole(2.0, 3.0, 1.5, 4, 2), "hole_radius .* smaller than"),
    (lambda: box(1, 1, 1, 1, True, 1), "box: ny must be a positive integer, got True"),
    (lambda: box(1, 1, 1, 1, 1, 1, origin=(0, 0)), "box: origin must be 3 finite"),
])
def test_generator_argument_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------------------------------- meshio
def _gmsh_square(tmp_path, name="square.msh"):
    """A unit square (two triangles in two blocks) with tagged domain and sides, written as a
    gmsh file by meshio; points in 3D with z = 0, facets given inward (clockwise)."""
    points = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0.0]])
    cells = [("triangle", np.array([[0, 1, 2]])), ("triangle", np.array([[0, 2, 3]])),
             ("line", np.array([[1, 0]])), ("line", np.array([[3, 2], [0, 3]])),
             ("vertex", np.array([[0]]))]
    physical = [np.array([5]), np.array([6]), np.array([1]), np.array([2, 7]), np.array([9])]
    m = meshio.Mesh(points, cells,
                    cell_data={"gmsh:physical": physical, "gmsh:geometrical": physical},
                    field_data={"lower": np.array([5, 2]), "upper": np.array([6, 2]),
                                "bottom": np.array([1, 1]), "top": np.array([2, 1]),
                                "origin": np.array([9, 0])})
    path = tmp_path / name
    meshio.write(path, m, file_format="gmsh22")
    return path


def test_read_gmsh_file(tmp_path):
    mesh = read_mesh(_gmsh_square(tmp_path))
    assert mesh.dim == 2 and mesh.cell_type == "triangle" and mesh.n_cells == 2
    assert mesh.region_names == {"lower": 5, "upper": 6}
    np.testing.assert_array_equal(mesh.cell_tags, [5, 6])
    assert sorted(mesh.boundaries) == ["bottom", "tag7", "top"]
    np.testing.assert_array_equal(mesh.boundaries["bottom"], [[0, 1]])   # now outward
    np.testing.assert_array_equal(mesh.boundaries["top"], [[2, 3]])
    np.testing.assert_array_equal(mesh.boundaries["tag7"], [[3, 0]])


def test_meshio_errors(tmp_path):
    points = np.array([[0, 0], [1, 0], [1, 1], [0, 1.0]])
    quads = meshio.Mesh(points, [("quad", np.array([[0, 1, 2, 3]]))])
    with pytest.raises(ValueError, match=r"unsupported cell types \['quad'\]; supported: "
                                         "triangle, triangle6, tetra"):
        from_meshio(quads)
    bare = meshio.Mesh(points, [("triangle", np.array([[0, 1, 2], [0, 2, 3]]))])
    with pytest.raises(ValueError, match="mesh has no physical groups"):
        from_meshio(bare)
    mesh = from_meshio(bare, require_tags=False)
    assert mesh.region_names == {"domain": 0} and mesh.boundaries == {}
    lifted = meshio.Mesh(np.c_[points, [0, 0, 0, 1.0]], bare.cells)
    with pytest.raises(ValueError, match="non-zero z"):
        from_meshio(lifted, require_tags=False)
    with pytest.raises(FileNotFoundError, match="nothere.msh"):
        read_mesh(tmp_path / "nothere.msh")


@pytest.mark.parametrize("make", [lambda: annulus(1.0, 2.0, 2, 4, quadratic=True),
                                  lambda: box(1.0, 1.0, 2.0, 1, 2, 2)])
def test_gmsh_round_trip(tmp_path, make):
    mesh = make()
    if mesh.dim == 2:
        mesh = assign_layers(mesh, [1.0], ["low", "high"])
    path = tmp_path / "mesh.msh"
    write_mesh(path, mesh)
    back = read_mesh(path)
    assert back.cell_type == mesh.cell_type
    np.testing.assert_allclose(back.points, mesh.points, rtol=1e-15)
    np.testing.assert_array_equal(back.cells, mesh.cells)
    np.testing.assert_array_equal(back.cell_tags, mesh.cell_tags)
    assert back.region_names == mesh.region_names
    assert back.boundaries.keys() == mesh.boundaries.keys()
    for name, facets in mesh.boundaries.items():
        np.testing.assert_array_equal(back.boundaries[name], facets)


def test_write_vtu_pads_2d_points_and_vectors(tmp_path):
    mesh = rectangle(1.0, 1.0, 2, 2)
    path = tmp_path / "field.vtu"
    write_mesh(path, mesh, point_data={"u": mesh.points * 0.1},
               cell_data={"stress": np.ones((mesh.n_cells, 3))})
    back = meshio.read(path)
    assert back.points.shape == (mesh.n_nodes, 3) and np.all(back.points[:, 2] == 0)
    np.testing.assert_allclose(back.point_data["u"][:, :2], mesh.points * 0.1)
    assert np.all(back.point_data["u"][:, 2] == 0)
    np.testing.assert_array_equal(back.cell_data["region"][0], mesh.cell_tags)
    again = from_meshio(back, require_tags=False)
    np.testing.assert_array_equal(again.cells, mesh.cells)
    with pytest.raises(ValueError, match="leading length"):
        to_meshio(mesh, point_data={"u": np.zeros(3)})
    with pytest.raises(ValueError, match="cell_data cannot be combined"):
        to_meshio(mesh, cell_data={"s": np.ones(mesh.n_cells)}, boundaries=True)
