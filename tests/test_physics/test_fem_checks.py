"""physics.fem.Model's checks of its inputs: material parameters under jit and grad (where an
optimiser calls the solve), and supports that leave rigid-body motions free.

Models are small (compilation dominates) and built once per module.
"""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physics import fem

Q = 10.0                                         # surface pressure, kPa


def as_theta(values):
    return {key: jnp.asarray(value, float) for key, value in values.items()}


def oedometer_supports():
    return [fem.Dirichlet("left", "x"), fem.Dirichlet("right", "x"), fem.Dirichlet("bottom", "y")]


@functools.cache
def oedometer(layered: bool = False):
    mesh = fem.rectangle(1.0, 1.0, 1, 2)
    material = fem.LinearElastic()
    if layered:
        mesh = fem.assign_layers(mesh, [0.5], ["clay", "sand"])
        material = {"clay": material, "sand": material}
    return fem.Model(mesh, material, supports=oedometer_supports(), loads=[fem.Pressure("top", Q)])


def settlement(theta, layered=False):
    """Mean downward displacement of the top (m)."""
    model = oedometer(layered)
    solution = model.solve(theta)
    top = model.mesh.boundary_nodes("top")
    return -jnp.mean(model.displacement(solution.x, model.loading())[top, 1])


def constrained_modulus(E, nu):
    return E * (1 - nu) / ((1 + nu) * (1 - 2 * nu))


# ------------------------------------------------------------------ parameters under jit and grad
jit_settlement = jax.jit(settlement, static_argnums=1)


@pytest.mark.parametrize("theta, message", [
    # ν = 1/2 used to give a settlement of 0 and E < 0 one of 1e99, with a generic solver warning.
    ({"E": 100.0, "nu": 0.5}, r"Model region 'all', LinearElastic\('E_nu'\): nu is out of range "
                              r".* it needs -1 < nu < 0.5"),
    ({"E": -100.0, "nu": 0.3}, r"Model region 'all', LinearElastic\('E_nu'\): E is out of range "
                               r".* it needs E > 0"),
    ({"E": np.inf, "nu": 0.3}, r"E is not finite"),
])
def test_bad_parameters_are_named_under_jit(theta, message):
    with pytest.raises(RuntimeError, match=message):
        jit_settlement(as_theta(theta), False)


def test_bad_parameters_are_named_under_grad_and_per_region():
    with pytest.raises(RuntimeError, match="nu is out of range"):
        jax.grad(settlement)(as_theta({"E": 100.0, "nu": 0.5}))
    theta = {"clay": as_theta({"E": 100.0, "nu": 0.3}), "sand": as_theta({"E": 100.0, "nu": -1.5})}
    with pytest.raises(RuntimeError, match=r"Model region 'sand', LinearElastic\('E_nu'\): nu is "
                                           r"out of range"):
        jit_settlement(theta, True)


def test_valid_parameters_are_unaffected_under_jit_and_grad():
    theta = as_theta({"E": 100.0, "nu": 0.3})
    exact = lambda t: Q / constrained_modulus(t["E"], t["nu"])   # noqa: E731  (H = 1)
    np.testing.assert_allclose(float(jit_settlement(theta, False)), float(exact(theta)),
                               rtol=1e-12)
    grad, expected = jax.jit(jax.grad(settlement))(theta), jax.grad(exact)(theta)
    for key in theta:
        np.testing.assert_allclose(float(grad[key]), float(expected[key]), rtol=1e-10, err_msg=key)


# ------------------------------------------------------------------- supports and rigid motions
def pin(*at):
    """A node predicate: the node at ``at``."""
    return lambda x: np.all(np.isclose(x, at), axis=1)


@pytest.mark.parametrize("supports, free", [
    # No supports at all: the solve used to run off to |u| ~ 3e13 and ask for more steps.
    ([], r"free: every translation \(x, y\), rotation in the x-y plane \(0 of its 18 DOFs"),
    ([fem.Dirichlet("bottom", "y")], r"free: translation along x \("),
    ([fem.Dirichlet("left", "x"), fem.Dirichlet("right", "x")], r"free: translation along y \("),
    ([fem.Dirichlet(pin(0.0, 0.0), "all")], r"free: rotation about the point \(0, 0\) \("),
    ([fem.Dirichlet(pin(0.0, 0.0), "all"), fem.Dirichlet(pin(0.0, 1.0), "y")],
     r"free: rotation about the point \(0, 0\)"),
])
def test_supports_that_leave_a_rigid_motion_free_are_refused(supports, free):
    mesh = fem.rectangle(2.0, 1.0, 2, 2)
    fix = re.escape("Add supports that hold them, e.g. supports=[fem.Dirichlet('left', 'x'), "
                    "fem.Dirichlet('bottom', 'y')]")
    with pytest.raises(ValueError, match=rf"Model: the supports leave rigid-body motion\(s\) "
                                         rf"{free}.*singular.*{fix}"):
        fem.Model(mesh, fem.LinearElastic(), supports=supports)


def test_minimal_supports_and_prescribed_displacements_are_accepted():
    mesh = fem.rectangle(2.0, 1.0, 2, 2)
    for supports in ([fem.Dirichlet(pin(0.0, 0.0), "all"), fem.Dirichlet(pin(2.0, 0.0), "y")],
                     [fem.Dirichlet("left", "all", value=0.01)],       # an imposed motion
                     oedometer_supports()):
        fem.Model(mesh, fem.LinearElastic(), supports=supports)
    cube = fem.box(1.0, 1.0, 1.0, 1, 1, 1)
    fem.Model(cube, fem.LinearElastic(), supports=[fem.Dirichlet(pin(0, 0, 0), "all"),
                                                   fem.Dirichlet(pin(1, 0, 0), "yz"),
                                                   fem.Dirichlet(pin(0, 1, 0), "z")])


def test_free_rigid_motions_in_3d_and_of_a_separate_part():
    cube = fem.box(1.0, 1.0, 1.0, 1, 1, 1)
    edge = lambda x: np.isclose(x[:, 0], 0) & np.isclose(x[:, 1], 0)   # noqa: E731  (the z axis)
    with pytest.raises(ValueError, match=r"free: rotation about an axis along z \(6 of its 24 DOFs"
                                         r".*fem.Dirichlet\('xmin', 'x'\), fem.Dirichlet\('ymin', "
                                         r"'y'\), fem.Dirichlet\('zmin', 'z'\)"):
        fem.Model(cube, fem.LinearElastic(), supports=[fem.Dirichlet(edge, "all")])
    with pytest.raises(ValueError, match=r"free: translation along x, translation along y, "
                                         r"rotation about an axis along z \("):
        fem.Model(cube, fem.LinearElastic(), supports=[fem.Dirichlet("zmin", "z")])
    # Two squares that share no node, only the first one supported.
    square = fem.rectangle(1.0, 1.0, 1, 1)
    two = fem.Mesh(np.concatenate([square.points, square.points + [2.0, 0.0]]),
                   np.concatenate([square.cells, square.cells + square.n_nodes]), "triangle")
    with pytest.raises(ValueError, match=r"rigid-body motion\(s\) of part 2 of 2 of the mesh "
                                         r"\(4 nodes, e.g. node 4 at \[2.0, 0.0\]"):
        fem.Model(two, fem.LinearElastic(), supports=[fem.Dirichlet(lambda x: x[:, 0] < 1.5)])
