"""physics.fem.Model as a differentiable equilibrium: parameter gradients (implicit, finite
differences, unrolled Newton, matrix-free CG), soil layers, self-weight, load stepping and failed
solves, the Houlsby–Amorosi–Rojas compression law, error messages, jit/vmap and the AMG solver.

Models are built once per module (``functools.cache``): each model object compiles its own solve.
"""

import functools
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse.linalg as spla

import calib
from physics import fem

A_IN, B_OUT = 1.0, 2.0
CASES = {
    # material, theta, inner pressure, load steps
    "linear": (fem.LinearElastic(), {"E": 100.0, "nu": 0.3}, 1.0, 1),
    # a large pressure: the inner radius grows by about 30 %
    "neo_hookean": (fem.NeoHookean(), {"mu": 40.0, "lam": 60.0}, 15.0, 2),
    # p0 = 100 kPa; the pressure lowers the mean stress near the hole by about 15 %
    "har": (fem.HoulsbyAmorosiRojas(), {"k": 300.0, "g": 200.0, "n": 0.5, "p_a": 100.0,
                                        "p0": 100.0}, 50.0, 1),
}


def as_theta(values):
    return {key: jnp.asarray(value, float) for key, value in values.items()}


@functools.cache
def annulus_model(case):
    material, _, pressure, _ = CASES[case]
    mesh = fem.annulus(A_IN, B_OUT, 3, 6)
    return fem.Model(mesh, material,
                     supports=[fem.Dirichlet("bottom", "y"), fem.Dirichlet("left", "x")],
                     loads=[fem.Pressure("inner", pressure)])


def inner_displacement(case, theta, **options):
    """Mean radial displacement of the inner wall (length units)."""
    model = annulus_model(case)
    solution = model.solve(theta, steps=CASES[case][3], **options)
    u = model.displacement(solution.x, model.loading())
    inner = model.mesh.boundary_nodes("inner")
    x = model.mesh.points[inner]
    return jnp.mean(jnp.sum(u[inner] * x, axis=1) / np.linalg.norm(x, axis=1))


@functools.cache
def implicit_gradient(case):
    """Value and gradient with the default adjoint, and the adjoint-solve records."""
    theta = as_theta(CASES[case][1])
    with calib.record_adjoints() as log:
        value, grad = jax.value_and_grad(lambda t: inner_displacement(case, t))(theta)
    return float(value), {k: float(v) for k, v in grad.items()}, list(log)


def assert_gradients_close(actual, expected, rtol):
    assert actual.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], rtol=rtol, err_msg=key)


@pytest.mark.parametrize("case", [
    "linear", pytest.param("neo_hookean", marks=pytest.mark.benchmark),
    pytest.param("har", marks=pytest.mark.benchmark)])
def test_gradient_matches_finite_differences(case):
    value, grad, log = implicit_gradient(case)
    assert value > 0
    theta = CASES[case][1]
    fd = {}
    for key, v in theta.items():
        h = 1e-5 * v
        plus, minus = as_theta({**theta, key: v + h}), as_theta({**theta, key: v - h})
        fd[key] = float(inner_displacement(case, plus) - inner_displacement(case, minus)) / (2 * h)
    assert_gradients_close(grad, fd, rtol=1e-6)
    # One adjoint solve, preconditioned by the last Newton factorisation: exact for a linear
    # material (one CG iteration), two or three back-substitutions for a nonlinear one.
    assert len(log) == 1 and log[0].exact
    if case == "linear":
        assert int(log[0].iterations) == 1
    else:
        assert 1 <= int(log[0].iterations) <= 3


def test_linear_gradient_closed_form():
    # Linear elasticity: u is proportional to 1/E, so d<u_r>/dE = -<u_r>/E exactly.
    value, grad, _ = implicit_gradient("linear")
    np.testing.assert_allclose(grad["E"], -value / CASES["linear"][1]["E"], rtol=1e-10)


@pytest.mark.parametrize("case", [
    "linear", pytest.param("neo_hookean", marks=pytest.mark.benchmark),
    pytest.param("har", marks=pytest.mark.benchmark)])
def test_gradient_matches_unrolled_newton(case):
    _, grad, _ = implicit_gradient(case)
    unrolled = jax.grad(lambda t: inner_displacement(case, t, adjoint=calib.Unrolled(steps=8)))(
        as_theta(CASES[case][1]))
    assert_gradients_close({k: float(v) for k, v in unrolled.items()}, grad, rtol=1e-8)


@pytest.mark.parametrize("case", [
    pytest.param("linear", marks=pytest.mark.benchmark),
    pytest.param("neo_hookean", marks=pytest.mark.benchmark),
    pytest.param("har", marks=pytest.mark.benchmark)])
def test_gradient_matrix_free_cg(case):
    # Unpreconditioned CG on Hessian-vector products: no sparse matrix in the backward pass.
    _, grad, _ = implicit_gradient(case)
    adjoint = calib.Implicit(linear_solver=calib.CG(), precondition=False)
    with calib.record_adjoints() as log:
        cg = jax.grad(lambda t: inner_displacement(case, t, adjoint=adjoint))(
            as_theta(CASES[case][1]))
    assert_gradients_close({k: float(v) for k, v in cg.items()}, grad, rtol=1e-8)
    assert len(log) == 1 and log[0].exact
    assert int(log[0].iterations) > 3          # what the preconditioner saves


def test_solve_under_jit_and_vmap():
    theta = as_theta(CASES["linear"][1])
    value, grad, _ = implicit_gradient("linear")
    jit_value, jit_grad = jax.jit(jax.value_and_grad(lambda t: inner_displacement("linear", t)))(
        theta)
    np.testing.assert_allclose(float(jit_value), value, rtol=1e-12)
    assert_gradients_close({k: float(v) for k, v in jit_grad.items()}, grad, rtol=1e-10)
    batched = jax.vmap(lambda e: inner_displacement("linear", {"E": e, "nu": theta["nu"]}))(
        jnp.array([100.0, 200.0]))
    np.testing.assert_allclose(np.asarray(batched), [value, value / 2], rtol=1e-12)


@pytest.mark.benchmark  # slow (compilation-bound); run with -m benchmark
def test_amg_matches_superlu():
    model = annulus_model("linear")
    theta = as_theta(CASES["linear"][1])
    direct = model.solve(theta, solver=model.newton(method="superlu"))
    amg = model.solve(theta, solver=model.newton(method="amg"))
    assert int(direct.result) == 0 and int(amg.result) == 0
    np.testing.assert_allclose(np.asarray(amg.x), np.asarray(direct.x), rtol=0,
                               atol=1e-8 * float(jnp.max(jnp.abs(direct.x))))


# ------------------------------------------------------------------- load stepping, failures
@pytest.mark.benchmark  # slow (compilation-bound); run with -m benchmark
def test_neo_hookean_load_stepping_and_failure_report():
    model = annulus_model("neo_hookean")
    theta = as_theta(CASES["neo_hookean"][1])
    loading = model.loading(12.0)          # inner pressure 180 = 4.5 mu
    # The first Newton step of a single load step (the linear-elastic response: the neo-Hookean
    # tangent at u = 0 is Hooke's) inverts elements: the energy there is +inf.
    values, grad = jax.jit(lambda u: (model.hessian_values(u, theta, loading),
                                      jax.grad(model.energy)(u, theta, loading)))(model.zeros())
    first = spla.spsolve(model.hessian.matrix(np.asarray(values)).tocsc(), -np.asarray(grad))
    assert np.isinf(float(jax.jit(model.energy)(jnp.asarray(first), theta, loading)))
    # With a tight Newton budget, one load step fails, and says so.
    solver = model.newton(max_steps=5)
    with pytest.warns(calib.NonConvergenceWarning, match="step limit"):
        failed = model.solve(theta, loading, solver=solver)
    assert int(failed.result) == calib.RESULTS.max_steps_reached
    assert not bool(failed.converged)
    # Load stepping converges with the same budget per step, to the same equilibrium that an
    # unlimited Newton solve (whose line search rejects the inverted states) reaches.
    stepped = model.solve(theta, loading, steps=6, solver=solver)
    assert int(stepped.result) == 0
    # An intermediate load step that fails is named, not hidden behind the last one.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.solve(theta, loading, steps=2, solver=model.newton(max_steps=1))
    messages = [str(w.message) for w in caught if w.category is calib.NonConvergenceWarning]
    assert any("load step 1 of 2 did not converge" in m for m in messages), messages
    reference = model.solve(theta, loading)
    assert int(reference.result) == 0
    np.testing.assert_allclose(np.asarray(stepped.x), np.asarray(reference.x), rtol=0,
                               atol=1e-8 * float(jnp.max(jnp.abs(reference.x))))
    assert np.isfinite(float(stepped.energy))
    u = np.asarray(model.displacement(stepped.x, loading))
    inner = model.mesh.boundary_nodes("inner")
    assert np.all(np.linalg.norm(model.mesh.points[inner] + u[inner], axis=1) > 1.5 * A_IN)


# ------------------------------------------------------------------------- soil columns
def constrained_modulus(E, nu):
    return E * (1 - nu) / ((1 + nu) * (1 - 2 * nu))


def test_layered_column_settlement_and_layer_gradients():
    # Two layers, clay below y = 1 and sand above, under a surface load q, with rollers: the
    # settlement is q H_clay / M_clay + q H_sand / M_sand (exact for linear elements, whose
    # nodes lie on the interface).
    q, h_clay, h_sand = 20.0, 1.0, 1.0
    mesh = fem.assign_layers(fem.rectangle(1.0, h_clay + h_sand, 1, 4), [h_clay], ["clay", "sand"])
    model = fem.Model(mesh, {"clay": fem.LinearElastic(), "sand": fem.LinearElastic()},
                      supports=[fem.Dirichlet("left", "x"), fem.Dirichlet("right", "x"),
                                fem.Dirichlet("bottom", "y")],
                      loads=[fem.Pressure("top", q)])
    top = mesh.boundary_nodes("top")

    def settlement(theta):
        solution = model.solve(theta)
        return -jnp.mean(model.displacement(solution.x, model.loading())[top, 1])

    def exact(theta):
        return (q * h_clay / constrained_modulus(**theta["clay"])
                + q * h_sand / constrained_modulus(**theta["sand"]))

    theta = {"clay": as_theta({"E": 5e3, "nu": 0.35}), "sand": as_theta({"E": 3e4, "nu": 0.25})}
    value, grad = jax.value_and_grad(settlement)(theta)
    np.testing.assert_allclose(float(value), float(exact(theta)), rtol=1e-12)
    expected = jax.grad(exact)(theta)
    for layer in ("clay", "sand"):
        for key in ("E", "nu"):
            np.testing.assert_allclose(float(grad[layer][key]), float(expected[layer][key]),
                                       rtol=1e-10, err_msg=f"{layer}.{key}")
    # The softer clay dominates: its modulus matters more.
    assert abs(grad["clay"]["E"]) > abs(grad["sand"]["E"])


def test_self_weight_column():
    # An elastic column under its own weight, rollers on the sides and the base: u_y(y) =
    # -γ (H y - y²/2) / M, quadratic, so reproduced exactly by quadratic elements; the top moves
    # by -γ H² / (2M).
    gamma, height, width, E, nu = 18.0, 3.0, 1.0, 2e4, 0.3
    mesh = fem.rectangle(width, height, 1, 3, quadratic=True)
    model = fem.Model(mesh, fem.LinearElastic(), supports=[
        fem.Dirichlet("left", "x"), fem.Dirichlet("right", "x"), fem.Dirichlet("bottom", "y")],
        loads=[fem.gravity(gamma)])
    theta = as_theta({"E": E, "nu": nu})
    solution = model.solve(theta)
    assert int(solution.result) == 0
    loading = model.loading()
    u = np.asarray(model.displacement(solution.x, loading))
    m = constrained_modulus(E, nu)
    y = mesh.points[:, 1]
    scale = gamma * height ** 2 / (2 * m)
    np.testing.assert_allclose(u[:, 1], -gamma * (height * y - y * y / 2) / m, rtol=0,
                               atol=1e-12 * scale)
    np.testing.assert_allclose(u[:, 0], 0.0, atol=1e-12 * scale)
    np.testing.assert_allclose(u[mesh.boundary_nodes("top"), 1], -scale, rtol=1e-12)
    # σ_yy = -γ (H - y), linear: its cell mean is its value at the cell centroid; the lateral
    # stresses are K0 σ_yy with K0 = ν / (1 - ν).
    stress = np.asarray(jax.jit(model.stress)(solution.x, theta, loading))
    sigma_v = -gamma * (height - mesh.cell_centroids()[:, 1])
    np.testing.assert_allclose(stress[:, 1, 1], sigma_v, rtol=0, atol=1e-11 * gamma * height)
    for i in (0, 2):
        np.testing.assert_allclose(stress[:, i, i], nu / (1 - nu) * sigma_v, rtol=0,
                                   atol=1e-11 * gamma * height)


# -------------------------------------------------------------------- Houlsby–Amorosi–Rojas
def test_har_isotropic_compression_law():
    # A cube under prescribed all-round compression u = -ε x: homogeneous, ε_v = 3ε, no shear.
    # Houlsby, Amorosi & Rojas (2005): p = p_a [1 + k(1-n) ε̂_v]^(1/(1-n)), with ε̂_v measured from
    # p = p_a; from the reference state p0: p = p_a [(p0/p_a)^(1-n) + k(1-n) ε_v]^(1/(1-n)).
    # model.stress is the change from p0 (tension positive): p = p0 - tr σ / 3.
    har = {"k": 300.0, "g": 200.0, "n": 0.5, "p_a": 100.0, "p0": 50.0}
    eps = 1e-3
    mesh = fem.box(1.0, 1.0, 1.0, 2, 2, 2)
    surface = lambda x: np.any(np.isclose(x, 0.0) | np.isclose(x, 1.0), axis=1)  # noqa: E731
    model = fem.Model(mesh, fem.HoulsbyAmorosiRojas(),
                      supports=[fem.Dirichlet(surface, "all", value=lambda x: -eps * x)])
    assert model.n_free == 3                 # the centre node
    theta = as_theta(har)
    k, n, p_a, p0 = har["k"], har["n"], har["p_a"], har["p0"]
    pressures = []
    for factor in (-1.0, 1.0, 3.0):           # expansion, compression, more compression
        loading = model.loading(factor)
        solution = model.solve(theta, loading)
        assert int(solution.result) == 0
        stress = np.asarray(jax.jit(model.stress)(solution.x, theta, loading))
        eps_v = 3 * eps * factor
        p = p_a * ((p0 / p_a) ** (1 - n) + k * (1 - n) * eps_v) ** (1 / (1 - n))
        mean = p0 - np.trace(stress, axis1=1, axis2=2) / 3
        np.testing.assert_allclose(mean, p, rtol=1e-10)
        deviator = stress - np.trace(stress, axis1=1, axis2=2)[:, None, None] * np.eye(3) / 3
        np.testing.assert_allclose(deviator, 0.0, atol=1e-10 * p)
        pressures.append(p)
    # Stiffening with pressure: the secant bulk modulus grows along the loading path.
    secant = np.diff(pressures) / (3 * eps * np.diff([-1.0, 1.0, 3.0]))
    assert secant[1] > secant[0]


# ------------------------------------------------------------------------------ error messages
def test_error_messages():
    mesh = fem.rectangle(1.0, 2.0, 1, 2)
    layered = fem.assign_layers(mesh, [1.0], ["clay", "sand"])
    material = fem.LinearElastic()
    rollers = [fem.Dirichlet("bottom", "y"), fem.Dirichlet("left", "x")]
    with pytest.raises(ValueError, match="no boundary named 'base'"):
        fem.Model(mesh, material, supports=[fem.Dirichlet("base", "y")])
    with pytest.raises(ValueError, match=re.escape("Pressure on unknown boundary 'roof'")):
        fem.Model(mesh, material, supports=rollers, loads=[fem.Pressure("roof", 1.0)])
    with pytest.raises(ValueError, match=r"cells have no material \(regions \['sand'\]\)"):
        fem.Model(layered, {"clay": material}, supports=rollers)
    with pytest.raises(ValueError, match="the mesh has no region 'silt'"):
        fem.Model(layered, {"clay": material, "silt": material}, supports=rollers)
    with pytest.raises(ValueError, match="different prescribed values"):
        fem.Model(mesh, material, supports=[fem.Dirichlet("bottom", "y", 0.0),
                                            fem.Dirichlet("left", "y", 0.1)])
    model = fem.Model(mesh, material, supports=rollers, loads=[fem.Pressure("top", 1.0)])
    with pytest.raises(KeyError, match="theta is missing 'nu'"):
        model.solve({"E": jnp.asarray(1.0)})
    with pytest.raises(ValueError, match="nu = 0.5 is out of range"):
        model.solve(as_theta({"E": 1.0, "nu": 0.5}))
    two = fem.Model(layered, {"clay": material, "sand": material}, supports=rollers)
    with pytest.raises(ValueError, match="theta has no parameters for region 'sand'"):
        two.solve({"clay": as_theta({"E": 1.0, "nu": 0.3})})


@pytest.mark.parametrize("quadratic", [False, pytest.param(True, marks=pytest.mark.benchmark)])
def test_sparse_tangent_equals_the_dense_hessian_of_the_energy(quadratic):
    # The assembled element tangents (material tangent contracted with shape-function gradients)
    # against jax.hessian of the whole energy, at a deformed state, for a finite-strain material
    # on two regions.
    mesh = fem.assign_layers(fem.rectangle(2.0, 1.0, 3, 2, quadratic=quadratic), [0.5],
                             ["lower", "upper"])
    materials = {"lower": fem.NeoHookean(), "upper": fem.NeoHookean()}
    model = fem.Model(mesh, materials, supports=[fem.Dirichlet("bottom")],
                      loads=[fem.Pressure("top", 1.0)])
    theta = {"lower": {"mu": jnp.array(3.0), "lam": jnp.array(5.0)},
             "upper": {"mu": jnp.array(1.0), "lam": jnp.array(2.0)}}
    loading = model.loading()
    u = 0.05 * jnp.sin(jnp.arange(model.n_free, dtype=float))
    dense = np.asarray(jax.hessian(model.energy)(u, theta, loading))
    np.testing.assert_allclose(model.hessian.dense(u, theta, loading), dense, rtol=1e-12,
                               atol=1e-12 * np.abs(dense).max())
