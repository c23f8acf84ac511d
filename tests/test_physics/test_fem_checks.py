"""physics.fem.Model's checks of its inputs: material parameters under jit and grad (where an
optimiser calls the solve).

Models are small (compilation dominates) and built once per module.
"""

import functools

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

