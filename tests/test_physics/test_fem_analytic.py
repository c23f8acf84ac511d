"""physics.fem against closed-form solutions of elasticity (not against the code's own output).

* Lamé's thick-walled cylinder under internal pressure (plane strain), e.g. Timoshenko & Goodier,
  *Theory of Elasticity*, 3rd ed. (1970), §28; Barber, *Elasticity*, 3rd ed. (2010), §8.3.1.
* Kirsch's plate with a circular hole under remote uniaxial tension (Kirsch 1898; Barber §8.4.1),
  with the plane-strain displacement field, which is first checked here to be the right solution.
* One-dimensional (oedometric) compression, linear and Houlsby–Amorosi–Rojas (2005).
* Patch tests (Irons & Razzaque 1972): a linear displacement field / a constant stress must be
  reproduced exactly on distorted meshes.
* Convergence orders of the L2 displacement error: O(h^2) for linear, O(h^3) for quadratic
  (isoparametric, curved) triangles, and one order less in the energy norm.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse.linalg as spla
from scipy.optimize import brentq

from physics import fem
from physics.fem._elements import ELEMENTS, cell_geometry
from physics.fem._norms import energy_error, l2_error

E, NU = 1000.0, 0.3
LAM, MU = fem.lame_from_young_poisson(E, NU)
M_OED = E * (1 - NU) / ((1 + NU) * (1 - 2 * NU))    # constrained (oedometric) modulus
THETA = {"E": jnp.asarray(E), "nu": jnp.asarray(NU)}


def solve(model, theta=THETA, *, direct=False, stress=True, **options):
    """Nodal displacements and cell-mean stresses of the equilibrium: by ``model.solve`` or, for
    a linear material (quadratic energy), ``direct``ly by one sparse solve with the stiffness
    matrix, which compiles in about a third of the time."""
    loading = model.loading()
    if direct:
        values, grad = jax.jit(lambda u, th, ld: (model.hessian_values(u, th, ld),
                                                  jax.grad(model.energy)(u, th, ld)))(
            model.zeros(), theta, loading)
        matrix = model.hessian.matrix(np.asarray(values)).tocsc()
        x = jnp.asarray(spla.spsolve(matrix, -np.asarray(grad)))
    else:
        solution = model.solve(theta, **options)
        assert int(solution.result) == 0, solution.message()
        x = solution.x
    u = np.asarray(model.displacement(x, loading))
    return u, (np.asarray(jax.jit(model.stress)(x, theta, loading)) if stress else None)


def hooke(eps, dim):
    """(3, 3) plane-strain / 3D stress of an in-plane (dim, dim) strain."""
    e = np.zeros(eps.shape[:-2] + (3, 3))
    e[..., :dim, :dim] = eps
    tr = np.trace(e, axis1=-2, axis2=-1)
    return LAM * tr[..., None, None] * np.eye(3) + 2 * MU * e


def cell_average(mesh, fn, degree=5):
    """Exact cell averages of ``fn(points (n, dim)) -> (n, ...)`` over the isoparametric cells."""
    element = ELEMENTS[mesh.cell_type]
    _, weights, values = cell_geometry(mesh.points, mesh.cells, element,
                                       element.quadrature(degree))
    x = np.einsum("qk,cka->cqa", values, mesh.points[mesh.cells])
    f = np.asarray(fn(x.reshape(-1, mesh.dim)))
    f = f.reshape(x.shape[:2] + f.shape[1:])
    w = weights.reshape(weights.shape + (1,) * (f.ndim - 2))
    return np.sum(w * f, axis=1) / np.sum(weights, axis=1).reshape((-1,) + (1,) * (f.ndim - 2))


def polar(points):
    r = np.linalg.norm(points, axis=1)
    return r, points[:, 0] / r, points[:, 1] / r


# ----------------------------------------------------------------------------------------- Lamé
A_IN, B_OUT, P_IN = 1.0, 2.0, 10.0
C_LAME = (1 + NU) * P_IN * A_IN ** 2 / (E * (B_OUT ** 2 - A_IN ** 2))
S_LAME = P_IN * A_IN ** 2 / (B_OUT ** 2 - A_IN ** 2)


def lame_ur(r):
    return C_LAME * ((1 - 2 * NU) * r + B_OUT ** 2 / r)


def lame_displacement(points):
    r, c, s = polar(points)
    return lame_ur(r)[:, None] * np.stack([c, s], axis=1)


def lame_gradient(points):
    r, c, s = polar(points)
    er, et = np.stack([c, s], 1), np.stack([-s, c], 1)
    dur = C_LAME * ((1 - 2 * NU) - B_OUT ** 2 / r ** 2)
    return (dur[:, None, None] * er[:, :, None] * er[:, None, :]
            + (lame_ur(r) / r)[:, None, None] * et[:, :, None] * et[:, None, :])


def lame_polar_stress(r):
    """σ_rr, σ_θθ, σ_zz (plane strain)."""
    srr = S_LAME * (1 - B_OUT ** 2 / r ** 2)
    stt = S_LAME * (1 + B_OUT ** 2 / r ** 2)
    return srr, stt, NU * (srr + stt)


def lame_stress(points):
    r, c, s = polar(points)
    srr, stt, szz = lame_polar_stress(r)
    er, et = np.stack([c, s], 1), np.stack([-s, c], 1)
    out = np.zeros((len(r), 3, 3))
    out[:, :2, :2] = (srr[:, None, None] * er[:, :, None] * er[:, None, :]
                      + stt[:, None, None] * et[:, :, None] * et[:, None, :])
    out[:, 2, 2] = szz
    return out


def test_lame_closed_form_is_consistent():
    # The formulas used below, checked against each other: Hooke's law of the displacement
    # gradient gives the stresses; σ_rr = -p at r = a and 0 at r = b; equilibrium
    # dσ_rr/dr + (σ_rr - σ_θθ)/r = 0.
    r = np.linspace(A_IN, B_OUT, 7)
    x = np.stack([r * np.cos(0.3), r * np.sin(0.3)], 1)
    np.testing.assert_allclose(hooke(lame_gradient(x), 2), lame_stress(x), atol=1e-12 * P_IN)
    srr, stt, _ = lame_polar_stress(np.array([A_IN, B_OUT]))
    np.testing.assert_allclose(srr, [-P_IN, 0.0], atol=1e-12 * P_IN)
    h = 1e-6
    dsrr = (lame_polar_stress(r + h)[0] - lame_polar_stress(r - h)[0]) / (2 * h)
    srr, stt, _ = lame_polar_stress(r)
    np.testing.assert_allclose(dsrr + (srr - stt) / r, 0.0, atol=1e-7 * P_IN)


@functools.cache
def lame(quadratic: bool, n: int):
    """Quarter annulus with symmetry rollers, ``n`` cells radially and ``2 n`` around."""
    mesh = fem.annulus(A_IN, B_OUT, n, 2 * n, quadratic=quadratic)
    model = fem.Model(mesh, fem.LinearElastic(),
                      supports=[fem.Dirichlet("bottom", "y"), fem.Dirichlet("left", "x")],
                      loads=[fem.Pressure("inner", P_IN)])
    checked = (quadratic, n) in LAME_CHECKED
    return (mesh,) + solve(model, direct=not checked, stress=checked)


LAME_CHECKED = ((False, 16), (True, 8))


@pytest.mark.parametrize("quadratic, n, u_tol, s_tol", [(False, 16, 5e-3, 0.15),
                                                        (True, 8, 3e-4, 1e-2)])
def test_lame_cylinder(quadratic, n, u_tol, s_tol):
    assert (quadratic, n) in LAME_CHECKED
    mesh, u, stress = lame(quadratic, n)
    r, c, s = polar(mesh.points)
    u_r, u_t = u[:, 0] * c + u[:, 1] * s, -u[:, 0] * s + u[:, 1] * c
    scale = lame_ur(A_IN)
    np.testing.assert_allclose(u_r, lame_ur(r), rtol=0, atol=u_tol * scale)
    np.testing.assert_allclose(u_t, 0.0, atol=u_tol * scale)
    # The symmetry rollers: no tangential displacement on the axes, exactly.
    assert np.all(u[mesh.boundary_nodes("bottom"), 1] == 0)
    assert np.all(u[mesh.boundary_nodes("left"), 0] == 0)
    # Radial, hoop and out-of-plane stress at the cell centroids (the cell mean of the FE stress,
    # rotated to polar axes there).
    rc, cc, sc = polar(mesh.cell_centroids())
    er, et = np.stack([cc, sc], 1), np.stack([-sc, cc], 1)
    srr = np.einsum("ci,cij,cj->c", er, stress[:, :2, :2], er)
    stt = np.einsum("ci,cij,cj->c", et, stress[:, :2, :2], et)
    srt = np.einsum("ci,cij,cj->c", er, stress[:, :2, :2], et)
    exact = lame_polar_stress(rc)
    for fe, ex in zip((srr, stt, stress[:, 2, 2], srt), exact + (0.0 * rc,)):
        np.testing.assert_allclose(fe, ex, rtol=0, atol=s_tol * P_IN)
    if quadratic:
        # The FE cell means against the exact cell means: P2 stresses converge as O(h^2).
        np.testing.assert_allclose(stress, cell_average(mesh, lame_stress), rtol=0,
                                   atol=1.5e-3 * P_IN)


# ---------------------------------------------------------------------------------------- Kirsch
S_FAR, A_HOLE = 10.0, 1.0
KAPPA = 3 - 4 * NU


def kirsch_displacement(points):
    """Plane-strain displacement of Kirsch's problem (tension S_FAR along x, hole radius a)."""
    x, y = points[:, 0], points[:, 1]
    r2 = x * x + y * y
    r = np.sqrt(r2)
    c, s = x / r, y / r
    cos2, sin2 = (x * x - y * y) / r2, 2 * x * y / r2
    a2 = A_HOLE ** 2
    k = S_FAR / (4 * MU)
    ur = k * (r * ((KAPPA - 1) / 2 + cos2) + a2 / r * (1 + (1 + KAPPA) * cos2)
              - a2 * a2 / (r2 * r) * cos2)
    ut = k * ((1 - KAPPA) * a2 / r - r - a2 * a2 / (r2 * r)) * sin2
    return np.stack([ur * c - ut * s, ur * s + ut * c], axis=1)


def fd_stress(points, h=1e-5):
    """Stress (3, 3) of the Kirsch displacement by central differences of the displacement."""
    grad = np.zeros((len(points), 2, 2))
    for j in range(2):
        step = np.zeros(2)
        step[j] = h
        grad[:, :, j] = (kirsch_displacement(points + step)
                         - kirsch_displacement(points - step)) / (2 * h)
    return hooke(0.5 * (grad + np.swapaxes(grad, 1, 2)), 2)


def kirsch_polar_stress(r, theta):
    """The textbook stresses (Barber, Elasticity, eq. 8.75)."""
    q = (A_HOLE / r) ** 2
    c2, s2 = np.cos(2 * theta), np.sin(2 * theta)
    srr = S_FAR / 2 * (1 - q) + S_FAR / 2 * (1 - 4 * q + 3 * q * q) * c2
    stt = S_FAR / 2 * (1 + q) - S_FAR / 2 * (1 + 3 * q * q) * c2
    srt = -S_FAR / 2 * (1 + 2 * q - 3 * q * q) * s2
    return srr, stt, srt


def test_kirsch_displacement_is_the_solution():
    rng = np.random.default_rng(0)
    # 1. Its stress is the textbook one everywhere (hence traction free at r = a, 3σ at (0, a)).
    r = A_HOLE * (1 + 4 * rng.random(50))
    t = 0.5 * np.pi * rng.random(50)
    x = np.stack([r * np.cos(t), r * np.sin(t)], 1)
    stress = fd_stress(x)
    er, et = np.stack([np.cos(t), np.sin(t)], 1), np.stack([-np.sin(t), np.cos(t)], 1)
    polar_fd = [np.einsum("ci,cij,cj->c", p, stress[:, :2, :2], q)
                for p, q in ((er, er), (et, et), (er, et))]
    for fd, exact in zip(polar_fd, kirsch_polar_stress(r, t)):
        np.testing.assert_allclose(fd, exact, rtol=0, atol=1e-7 * S_FAR)
    # 2. Traction-free hole, σ_θθ = 3σ at (0, a) and -σ at (a, 0).
    t = np.linspace(0, 0.5 * np.pi, 9)
    x = A_HOLE * np.stack([np.cos(t), np.sin(t)], 1)
    stress = fd_stress(x)[:, :2, :2]
    traction = np.einsum("cij,cj->ci", stress, x / A_HOLE)
    np.testing.assert_allclose(traction, 0.0, atol=1e-7 * S_FAR)
    np.testing.assert_allclose(fd_stress(np.array([[0.0, A_HOLE], [A_HOLE, 0.0]]))[:, 0, 0],
                               [3 * S_FAR, 0.0], atol=1e-7 * S_FAR)
    np.testing.assert_allclose(fd_stress(np.array([[A_HOLE, 0.0]]))[0, 1, 1], -S_FAR,
                               atol=1e-7 * S_FAR)
    # 3. Far field: uniaxial stress σ along x in plane strain (σ_zz = νσ).
    far = 1e4 * A_HOLE * np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    expected = np.zeros((3, 3))
    expected[0, 0], expected[2, 2] = S_FAR, NU * S_FAR
    np.testing.assert_allclose(fd_stress(far, h=1e-2), np.broadcast_to(expected, (3, 3, 3)),
                               rtol=0, atol=1e-6 * S_FAR)
    # 4. Equilibrium, div σ = 0, by differences of the stress.
    x = np.array([[1.3, 0.4], [0.2, 1.7], [2.5, 2.5]])
    div = np.zeros((len(x), 2))
    for j in range(2):
        step = np.zeros(2)
        step[j] = 1e-4
        div += (fd_stress(x + step) - fd_stress(x - step))[:, :2, j] / 2e-4
    np.testing.assert_allclose(div, 0.0, atol=1e-5 * S_FAR / A_HOLE)
    # 5. Symmetry: u_y = 0 on y = 0 and u_x = 0 on x = 0 (the rollers of the quarter model).
    s = np.linspace(A_HOLE, 5 * A_HOLE, 5)
    z = np.zeros_like(s)
    assert np.all(kirsch_displacement(np.stack([s, z], 1))[:, 1] == 0)
    assert np.all(kirsch_displacement(np.stack([z, s], 1))[:, 0] == 0)


def test_kirsch_plate_with_hole():
    mesh = fem.plate_with_hole(A_HOLE, 5 * A_HOLE, 5 * A_HOLE, 16, 8, quadratic=True, grading=1.5)
    exact = kirsch_displacement
    model = fem.Model(mesh, fem.LinearElastic(), supports=[
        fem.Dirichlet("left", "x"), fem.Dirichlet("bottom", "y"),
        fem.Dirichlet("right", "all", value=exact), fem.Dirichlet("top", "all", value=exact)])
    u, stress = solve(model)
    scale = np.abs(exact(mesh.points)).max()
    np.testing.assert_allclose(u, exact(mesh.points), rtol=0, atol=5e-4 * scale)
    error, norm = l2_error(mesh, u, exact)
    assert error < 2.5e-4 * norm
    # The stress concentration at the top of the hole: σ_xx = 3σ. The FE cell means of the cells
    # touching (0, a) against the exact means (tight), and against 3σ (loosely: the stress falls
    # steeply away from the hole).
    top = np.flatnonzero(np.any(np.all(mesh.points[mesh.cells] == [0.0, A_HOLE], axis=2), axis=1))
    assert top.size >= 1
    exact_mean = cell_average(mesh, lambda x: fd_stress(x)[:, 0, 0])[top]
    np.testing.assert_allclose(stress[top, 0, 0], exact_mean, rtol=2e-3)
    np.testing.assert_allclose(stress[top, 0, 0], 3 * S_FAR, rtol=0.15)
    assert abs(stress[top, 0, 0].max() / (3 * S_FAR) - 1) < 0.1


# ------------------------------------------------------------------------------------ oedometer
Q_TOP, HEIGHT = 50.0, 2.0


def oedometer_model(kind, material=fem.LinearElastic(), q=Q_TOP):
    if kind == "tetra":
        mesh = fem.box(1.0, 1.0, HEIGHT, 2, 2, 4)
        supports = [fem.Dirichlet(side, axis) for side, axis in
                    (("xmin", "x"), ("xmax", "x"), ("ymin", "y"), ("ymax", "y"), ("zmin", "z"))]
        return fem.Model(mesh, material, supports=supports, loads=[fem.Pressure("zmax", q)])
    mesh = fem.rectangle(1.0, HEIGHT, 2, 4, quadratic=kind == "triangle6")
    supports = [fem.Dirichlet("left", "x"), fem.Dirichlet("right", "x"),
                fem.Dirichlet("bottom", "y")]
    return fem.Model(mesh, material, supports=supports, loads=[fem.Pressure("top", q)])


@pytest.mark.parametrize("kind", ["triangle", "triangle6", "tetra"])
def test_oedometer_linear(kind):
    model = oedometer_model(kind)
    u, stress = solve(model)
    points, dim = model.mesh.points, model.mesh.dim
    expected = np.zeros_like(u)
    expected[:, -1] = -Q_TOP * points[:, -1] / M_OED          # settlement q H / M at the top
    np.testing.assert_allclose(u, expected, rtol=0, atol=1e-12 * Q_TOP * HEIGHT / M_OED)
    sigma = np.diag([-Q_TOP * NU / (1 - NU)] * 3)
    sigma[dim - 1, dim - 1] = -Q_TOP
    np.testing.assert_allclose(stress, np.broadcast_to(sigma, stress.shape), rtol=0,
                               atol=1e-10 * Q_TOP)


HAR = {"k": 1200.0, "g": 800.0, "n": 0.5, "p_a": 100.0, "p0": 50.0}


def har_oedometric_load(eps_v, k, g, n, p_a, p0):
    """Vertical stress increase for an oedometric volumetric strain ``eps_v`` (compression
    positive), from the closed forms of Houlsby, Amorosi & Rojas (2005): with ε_1 = ε_v,
    ε_2 = ε_3 = 0, ε_s = 2ε_v/3, σ'_1 = p + 2q/3, p = p_a b b̄^m, q = 3 g p_a b̄^m ε_s,
    m = n/(1-n), b = (p0/p_a)^(1-n) + k(1-n)ε_v, b̄² = b² + 3gk(1-n)ε_s²."""
    eps_s = 2 * eps_v / 3
    b = (p0 / p_a) ** (1 - n) + k * (1 - n) * eps_v
    b_bar = np.sqrt(b * b + 3 * g * k * (1 - n) * eps_s ** 2)
    m = n / (1 - n)
    return p_a * b * b_bar ** m + 2 * g * p_a * b_bar ** m * eps_s - p0


def test_oedometer_houlsby_amorosi_rojas():
    q = 4 * HAR["p0"]     # a large load: the tangent stiffness more than doubles
    model = oedometer_model("triangle", fem.HoulsbyAmorosiRojas(), q=q)
    theta = {key: jnp.asarray(v) for key, v in HAR.items()}
    u, stress = solve(model, theta, steps=2)
    eps_v = brentq(lambda e: har_oedometric_load(e, **HAR) - q, 0.0, 0.5, xtol=1e-15, rtol=1e-15)
    points = model.mesh.points
    expected = np.zeros_like(u)
    expected[:, -1] = -eps_v * points[:, -1]
    np.testing.assert_allclose(u, expected, rtol=0, atol=1e-10 * eps_v * HEIGHT)
    # The vertical stress change equals the load in every cell.
    dim = model.mesh.dim
    np.testing.assert_allclose(stress[:, dim - 1, dim - 1], -q, rtol=1e-10)


# ------------------------------------------------------------------------------------- patches
def distorted(kind, seed=0):
    """A mesh of the unit square/cube with randomly moved interior vertices (and, for
    triangle6, midside nodes at the midpoints of the straight edges)."""
    rng = np.random.default_rng(seed)
    mesh = fem.box(1.0, 1.0, 1.0, 3, 3, 3) if kind == "tetra" else fem.rectangle(1.0, 1.0, 4, 4)
    n = 3 if kind == "tetra" else 4
    points = mesh.points.copy()
    interior = np.all((points > 1e-9) & (points < 1 - 1e-9), axis=1)
    points[interior] += rng.uniform(-0.2, 0.2, (interior.sum(), mesh.dim)) / n
    mesh = mesh.replace(points=points)
    return mesh.to_quadratic() if kind == "triangle6" else mesh


def on_boundary(points):
    return np.any(np.isclose(points, 0.0) | np.isclose(points, 1.0), axis=1)


@pytest.mark.parametrize("kind", ["triangle", "triangle6", "tetra"])
def test_patch_test_displacement(kind):
    mesh = distorted(kind)
    assert mesh.cell_type == kind
    dim = mesh.dim
    rng = np.random.default_rng(1)
    a = 1e-2 * rng.standard_normal((dim, dim))
    c = 1e-2 * rng.standard_normal(dim)
    field = lambda x: x @ a.T + c                      # noqa: E731
    model = fem.Model(mesh, fem.LinearElastic(),
                      supports=[fem.Dirichlet(on_boundary, "all", value=field)])
    assert model.n_free > 0
    u, stress = solve(model, direct=True)
    np.testing.assert_allclose(u, field(mesh.points), rtol=0, atol=1e-14)
    expected = hooke(0.5 * (a + a.T), dim)
    np.testing.assert_allclose(stress, np.broadcast_to(expected, stress.shape), rtol=0,
                               atol=1e-11 * np.abs(expected).max())


def traction_patch_model(kind, sigma0):
    mesh = distorted(kind, seed=2)
    dim = mesh.dim
    if dim == 2:
        sides = {"left": (0, -1), "right": (0, 1), "bottom": (1, -1), "top": (1, 1)}
    else:
        sides = {f"{ax}{end}": (d, sign) for d, ax in enumerate("xyz")
                 for end, sign in (("min", -1), ("max", 1))}
    loads = []
    for name, (d, sign) in sides.items():
        normal = np.zeros(dim)
        normal[d] = sign
        loads.append(fem.Traction(name, sigma0 @ normal))
    corner = lambda *x: (lambda p: np.all(np.isclose(p, x), axis=1))     # noqa: E731
    # Minimal supports: they remove the rigid-body motions and nothing else.
    if dim == 2:
        supports = [fem.Dirichlet(corner(0, 0), "all"), fem.Dirichlet(corner(1, 0), "y")]
    else:
        supports = [fem.Dirichlet(corner(0, 0, 0), "all"), fem.Dirichlet(corner(1, 0, 0), "yz"),
                    fem.Dirichlet(corner(0, 1, 0), "z")]
    return fem.Model(mesh, fem.LinearElastic(), supports=supports, loads=loads)


@pytest.mark.parametrize("kind", ["triangle", "triangle6", "tetra"])
def test_patch_test_traction(kind):
    dim = 3 if kind == "tetra" else 2
    rng = np.random.default_rng(3)
    s = rng.standard_normal((dim, dim))
    sigma0 = 10.0 * (s + s.T)
    model = traction_patch_model(kind, sigma0)
    u, stress = solve(model)
    # The strain of σ0 (plane strain in 2D: ε_zz = 0), plus the rotation the supports impose.
    tr_eps = np.trace(sigma0) / (dim * LAM + 2 * MU)
    eps = (sigma0 - LAM * tr_eps * np.eye(dim)) / (2 * MU)
    grad = np.triu(eps) + np.triu(eps, 1)                # ε + ω with the supports' rotation ω
    expected_u = model.mesh.points @ grad.T
    np.testing.assert_allclose(u, expected_u, rtol=0, atol=1e-12 * np.abs(expected_u).max())
    expected = hooke(eps, dim)
    np.testing.assert_allclose(stress, np.broadcast_to(expected, stress.shape), rtol=0,
                               atol=1e-10 * np.abs(sigma0).max())
    if dim == 2:
        np.testing.assert_allclose(expected[:2, :2], sigma0, atol=1e-12 * np.abs(sigma0).max())


# ----------------------------------------------------------------------------------- convergence
def test_error_norms_of_interpolants():
    # Fields in the element space are interpolated exactly (zero error); the norm is the exact
    # integral: ∫∫ (x^4 + y^2) over [0, 2] x [0, 1] = 32/5 + 2/3.
    quadratic = lambda x: np.stack([x[:, 0] ** 2, x[:, 1]], axis=1)         # noqa: E731
    mesh = fem.rectangle(2.0, 1.0, 3, 2, quadratic=True)
    error, norm = l2_error(mesh, quadratic(mesh.points), quadratic)
    assert error < 1e-14 and norm == pytest.approx(np.sqrt(32 / 5 + 2 / 3), rel=1e-14)
    linear = fem.rectangle(2.0, 1.0, 3, 2)
    error, norm = l2_error(linear, quadratic(linear.points), quadratic)
    assert 1e-3 < error / norm < 0.1            # x^2 is not in the linear space
    cube = fem.box(1.0, 2.0, 1.0, 2, 2, 2)
    a = np.arange(9.0).reshape(3, 3) / 10
    field = lambda x: x @ a.T                                                  # noqa: E731
    error, norm = l2_error(cube, field(cube.points), field)
    assert error < 1e-14
    error, norm = energy_error(cube, field(cube.points), lambda x: np.broadcast_to(
        a, (len(x), 3, 3)), lam=LAM, mu=MU)
    eps = 0.5 * (a + a.T)
    assert error < 1e-12 * norm
    assert norm ** 2 == pytest.approx(2.0 * (LAM * np.trace(eps) ** 2 + 2 * MU * np.sum(eps ** 2)))


@pytest.mark.parametrize("quadratic, sizes, l2_order, energy_order",
                         [(False, (4, 8, 16, 32), 1.9, 0.95), (True, (2, 4, 8, 16), 2.8, 1.9)])
def test_convergence_order_lame(quadratic, sizes, l2_order, energy_order):
    h, l2, energy = [], [], []
    for n in sizes:
        mesh, u, _ = lame(quadratic, n)
        error, norm = l2_error(mesh, u, lame_displacement)
        e_error, e_norm = energy_error(mesh, u, lame_gradient, lam=LAM, mu=MU)
        h.append(mesh.h)
        l2.append(error / norm)
        energy.append(e_error / e_norm)
    slope = np.polyfit(np.log(h), np.log(l2), 1)[0]
    e_slope = np.polyfit(np.log(h), np.log(energy), 1)[0]
    name = "triangle6" if quadratic else "triangle"
    print(f"\nLamé {name}: relative L2 errors {np.array(l2)}, fitted order {slope:.3f}; "
          f"energy-norm errors {np.array(energy)}, order {e_slope:.3f}")
    assert slope >= l2_order
    assert e_slope >= energy_order
    assert np.all(np.diff(l2) < 0)
