"""Strain-energy densities of physics.fem: closed forms, limits, derivatives, parameter checks."""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physics.fem import (FiniteStrain, HoulsbyAmorosiRojas, LinearElastic, NeoHookean,
                         SmallStrain, lame_from_bulk_shear, lame_from_young_poisson)

E, NU = 200.0, 0.3                       # any consistent stress unit
LAM, MU = lame_from_young_poisson(E, NU)
K_BULK, G_SHEAR = E / (3 * (1 - 2 * NU)), E / (2 * (1 + NU))

THETA = {
    "E_nu": {"E": E, "nu": NU},
    "K_G": {"K": K_BULK, "G": G_SHEAR},
    "lame": {"lam": LAM, "mu": MU},
}
# A sand-like HAR set: p_a and p0 in kPa.
HAR = {"k": 1200.0, "g": 800.0, "n": 0.5, "p_a": 100.0, "p0": 50.0}


def as_theta(values):
    return {key: jnp.asarray(value, float) for key, value in values.items()}


def random_grad_u(seed, scale=1e-2):
    return scale * jnp.asarray(np.random.default_rng(seed).standard_normal((3, 3)))


def rotation(seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return jnp.asarray(q if np.linalg.det(q) > 0 else -q)


def sym(a):
    return 0.5 * (a + a.T)


# Jitted once per material (materials are hashable, hence static): much faster than running the
# second derivatives op by op.
@functools.partial(jax.jit, static_argnums=0)
def jit_tangent(material, grad_u, theta):
    return jax.hessian(material.density)(grad_u, theta)


@functools.partial(jax.jit, static_argnums=0)
def jit_stress(material, grad_u, theta):
    return material.stress(grad_u, theta)


# --------------------------------------------------------------------------------------------------
# Linear elasticity
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("parametrisation", ["E_nu", "K_G", "lame"])
def test_linear_elastic_hookes_law(parametrisation):
    material = LinearElastic(parametrisation)
    theta = as_theta(THETA[parametrisation])
    grad_u = random_grad_u(0)            # not symmetric: the rotation part carries no stress
    eps = sym(grad_u)
    expected = LAM * jnp.trace(eps) * jnp.eye(3) + 2 * MU * eps
    np.testing.assert_allclose(jit_stress(material, grad_u, theta), expected, rtol=1e-12)
    lam, mu = material.lame_parameters(theta)
    np.testing.assert_allclose([lam, mu], [LAM, MU], rtol=1e-12)


def test_linear_elastic_parametrisations_agree():
    grad_u = random_grad_u(1)
    densities = [LinearElastic(p).density(grad_u, as_theta(THETA[p])) for p in THETA]
    np.testing.assert_allclose(densities, densities[0], rtol=1e-12)
    np.testing.assert_allclose(lame_from_bulk_shear(K_BULK, G_SHEAR), (LAM, MU), rtol=1e-12)


def test_linear_elastic_uniaxial_stress_gives_young_and_poisson():
    material, theta = LinearElastic(), as_theta(THETA["E_nu"])
    eps_xx = 1e-3

    def lateral_stress(lateral):
        return jit_stress(material, jnp.diag(jnp.array([eps_xx, lateral[0], lateral[1]])), theta)

    # Stress is linear in strain: one Newton step from zero solves σ_yy = σ_zz = 0 exactly.
    residual = lambda lateral: jnp.diag(lateral_stress(lateral))[1:]
    lateral = -jnp.linalg.solve(jax.jacfwd(residual)(jnp.zeros(2)), residual(jnp.zeros(2)))
    sigma = lateral_stress(lateral)
    np.testing.assert_allclose(sigma[0, 0] / eps_xx, E, rtol=1e-12)
    np.testing.assert_allclose(-lateral / eps_xx, [NU, NU], rtol=1e-12)
    np.testing.assert_allclose(sigma[1:, 1:], 0.0, atol=1e-12)


def test_linear_elastic_oedometric_modulus():
    material, theta = LinearElastic(), as_theta(THETA["E_nu"])
    sigma_xx = lambda e: jit_stress(material, jnp.diag(jnp.array([e, 0.0, 0.0])), theta)[0, 0]
    oedometric = E * (1 - NU) / ((1 + NU) * (1 - 2 * NU))
    np.testing.assert_allclose(jax.grad(sigma_xx)(0.0), oedometric, rtol=1e-12)


def test_linear_elastic_rejects_unknown_parametrisation():
    with pytest.raises(ValueError, match="parametrisation must be one of 'E_nu', 'K_G', 'lame'"):
        LinearElastic("young")


# --------------------------------------------------------------------------------------------------
# Neo-Hookean
# --------------------------------------------------------------------------------------------------

NH = {"mu": MU, "lam": LAM}


def test_neo_hookean_stress_free_reference_and_small_strain_limit():
    theta = as_theta(NH)
    zero = jnp.zeros((3, 3))
    assert NeoHookean.finite_strain and not LinearElastic.finite_strain
    np.testing.assert_allclose(NeoHookean().stress(zero, theta), 0.0, atol=1e-12)
    tangent = jit_tangent(NeoHookean(), zero, theta)
    linear = jit_tangent(LinearElastic("lame"), zero, as_theta(THETA["lame"]))
    np.testing.assert_allclose(tangent, linear, rtol=1e-12, atol=1e-10)


def test_neo_hookean_pure_dilatation_and_uniaxial_stretch():
    material, theta = NeoHookean(), as_theta(NH)
    for s in (0.7, 1.0, 1.3):
        # P = μ(F − F⁻ᵀ) + λ ln J F⁻ᵀ with F = s I, J = s³.
        expected = (MU * (s - 1 / s) + LAM * np.log(s**3) / s) * np.eye(3)
        np.testing.assert_allclose(jit_stress(material, (s - 1) * jnp.eye(3), theta), expected,
                                   rtol=1e-12, atol=1e-12)
        # F = diag(s, 1, 1): P_xx = μ(s − 1/s) + λ ln s / s, P_yy = P_zz = λ ln s.
        piola = jit_stress(material, jnp.diag(jnp.array([s - 1, 0.0, 0.0])), theta)
        expected = np.diag([MU * (s - 1 / s) + LAM * np.log(s) / s, LAM * np.log(s),
                            LAM * np.log(s)])
        np.testing.assert_allclose(piola, expected, rtol=1e-12, atol=1e-12)


def test_neo_hookean_objective():
    material, theta = NeoHookean(), as_theta(NH)
    grad_u = random_grad_u(2, scale=0.3)
    f = jnp.eye(3) + grad_u
    for seed in range(3):
        rotated = rotation(seed) @ f - jnp.eye(3)
        np.testing.assert_allclose(material.density(rotated, theta),
                                   material.density(grad_u, theta), rtol=1e-12)


@pytest.mark.parametrize("grad_u", [-2 * np.eye(3), np.diag([-1.0, 0.0, 0.0]),
                                    np.diag([-1.5, 0.0, 0.0])], ids=["F=-I", "J=0", "J<0"])
def test_neo_hookean_infinite_when_inverted(grad_u):
    material, theta = NeoHookean(), as_theta(NH)
    grad_u = jnp.asarray(grad_u)
    assert material.density(grad_u, theta) == jnp.inf
    # The line search sees +inf, and no nan leaks out of the rejected branch.
    assert np.all(np.isfinite(jit_stress(material, grad_u, theta)))
    assert all(np.isfinite(v) for v in jax.grad(material.density, 1)(grad_u, theta).values())


def test_neo_hookean_large_deformation_tangent_finite_and_symmetric():
    material, theta = NeoHookean(), as_theta(NH)
    grad_u = random_grad_u(3, scale=0.4)
    tangent = jit_tangent(material, grad_u, theta).reshape(9, 9)
    assert np.all(np.isfinite(tangent))
    np.testing.assert_allclose(tangent, tangent.T, rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------------------------------
# Houlsby, Amorosi & Rojas
# --------------------------------------------------------------------------------------------------


def har_axis_strain(p, theta):
    """ε_v (compression positive, from the reference state at p0) of the isotropic state at p."""
    k, n, p_a, p0 = (theta[key] for key in ("k", "n", "p_a", "p0"))
    return ((p / p_a) ** (1 - n) - (p0 / p_a) ** (1 - n)) / (k * (1 - n))


def isotropic(eps_v):
    """Displacement gradient of an isotropic compression ε_v (compression positive)."""
    return -(eps_v / 3.0) * jnp.eye(3)


def q_invariant(sigma):
    dev = sigma - jnp.trace(sigma) / 3 * jnp.eye(3)
    return jnp.sqrt(1.5 * jnp.sum(dev * dev))


def test_har_isotropic_compression_curve():
    material, theta = HoulsbyAmorosiRojas(), as_theta(HAR)
    k, n, p_a, p0 = (HAR[key] for key in ("k", "n", "p_a", "p0"))
    eps_v0 = material.initial_volumetric_strain(theta)
    np.testing.assert_allclose(p_a * (1 + k * (1 - n) * eps_v0) ** (1 / (1 - n)), p0, rtol=1e-12)
    for eps_v in (-2e-4, 0.0, 1e-3, 5e-3, 2e-2):
        grad_u = isotropic(eps_v)
        expected = p_a * (1 + k * (1 - n) * (eps_v + eps_v0)) ** (1 / (1 - n))
        sigma = jit_stress(material, grad_u, theta)
        np.testing.assert_allclose(material.mean_pressure(grad_u, theta), expected, rtol=1e-12)
        np.testing.assert_allclose(p0 - jnp.trace(sigma) / 3, expected, rtol=1e-10)
        np.testing.assert_allclose(sigma - jnp.trace(sigma) / 3 * jnp.eye(3), 0.0, atol=1e-9)


@pytest.mark.parametrize("p", [5.0, 50.0, 100.0, 400.0, 2000.0])
def test_har_moduli_on_the_isotropic_axis(p):
    material, theta = HoulsbyAmorosiRojas(), as_theta(HAR)
    eps_v = har_axis_strain(p, HAR)
    np.testing.assert_allclose(material.mean_pressure(isotropic(eps_v), theta), p, rtol=1e-12)
    bulk = jax.jit(jax.grad(jax.grad(lambda e: material.density(isotropic(e), theta))))(eps_v)
    expected_bulk = HAR["k"] * HAR["p_a"] * (p / HAR["p_a"]) ** HAR["n"]
    np.testing.assert_allclose(bulk, expected_bulk, rtol=1e-10)
    np.testing.assert_allclose(material.bulk_modulus(p, theta), expected_bulk, rtol=1e-12)
    # Shear modulus: ∂σ_xy/∂(∂u_x/∂y) of the tangent, and the secant of a small simple shear.
    tangent = jit_tangent(material, isotropic(eps_v), theta)
    expected_shear = HAR["g"] * HAR["p_a"] * (p / HAR["p_a"]) ** HAR["n"]
    np.testing.assert_allclose(tangent[0, 1, 0, 1], expected_shear, rtol=1e-10)
    np.testing.assert_allclose(material.shear_modulus(p, theta), expected_shear, rtol=1e-12)
    gamma = 1e-7
    shear = isotropic(eps_v).at[0, 1].set(gamma)
    np.testing.assert_allclose(jit_stress(material, shear, theta)[0, 1] / gamma, expected_shear,
                               rtol=1e-6)


def test_har_stress_free_reference_with_tangent_of_p0():
    material, theta = HoulsbyAmorosiRojas(), as_theta(HAR)
    zero = jnp.zeros((3, 3))
    assert material.density(zero, theta) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(jit_stress(material, zero, theta), 0.0, atol=1e-10)
    tangent = jit_tangent(material, zero, theta)
    assert np.all(np.isfinite(tangent))
    bulk, shear = material.bulk_modulus(HAR["p0"], theta), material.shear_modulus(HAR["p0"], theta)
    linear = jit_tangent(LinearElastic("K_G"), zero, {"K": bulk, "G": shear})
    np.testing.assert_allclose(tangent, linear, rtol=1e-10, atol=1e-8)
    # Second derivatives with respect to θ are finite at the reference state as well.
    mixed = jax.jit(jax.hessian(material.density, argnums=1))(random_grad_u(4, 1e-4), theta)
    assert all(np.isfinite(v) for row in mixed.values() for v in row.values())


@pytest.mark.parametrize("p0", [20.0, 300.0])
def test_har_n_zero_is_linear(p0):
    theta = as_theta({**HAR, "n": 0.0, "p0": p0})
    linear_theta = as_theta({"K": HAR["k"] * HAR["p_a"], "G": HAR["g"] * HAR["p_a"]})
    for seed in range(3):
        # Linear inside the model's domain, which still ends where p reaches 0: compress first.
        grad_u = isotropic(5e-3) + random_grad_u(seed, scale=1e-3)
        np.testing.assert_allclose(HoulsbyAmorosiRojas().density(grad_u, theta),
                                   LinearElastic("K_G").density(grad_u, linear_theta), rtol=1e-9)
        np.testing.assert_allclose(jit_stress(HoulsbyAmorosiRojas(), grad_u, theta),
                                   jit_stress(LinearElastic("K_G"), grad_u, linear_theta), rtol=1e-9,
                                   atol=1e-9)


def test_har_coupling_matches_the_paper_stress_form():
    # Off the axis, q / ε_s = 3 g p_a (ϖ/p_a)^n with ϖ² = p² + k(1−n) q²/(3g) (HAR 2005, eq. 41):
    # an independent check of the coupled energy, in stress variables only.
    material, theta = HoulsbyAmorosiRojas(), as_theta(HAR)
    k, g, n, p_a, p0 = (HAR[key] for key in ("k", "g", "n", "p_a", "p0"))
    shear = jnp.asarray([[1e-3, 4e-4, 0.0], [0.0, -6e-4, 0.0], [0.0, 3e-4, -4e-4]])
    grad_u = isotropic(2e-3) + shear
    sigma = jit_stress(material, grad_u, theta)
    p, q = p0 - jnp.trace(sigma) / 3, q_invariant(sigma)
    eps = sym(grad_u)
    dev = eps - jnp.trace(eps) / 3 * jnp.eye(3)
    eps_s = jnp.sqrt(2 / 3 * jnp.sum(dev * dev))
    varpi = jnp.sqrt(p**2 + k * (1 - n) * q**2 / (3 * g))
    np.testing.assert_allclose(q / eps_s, 3 * g * p_a * (varpi / p_a) ** n, rtol=1e-10)
    np.testing.assert_allclose(material.mean_pressure(grad_u, theta), p, rtol=1e-10)
    # The FE density is the paper's free energy less its value and slope at the reference state.
    eps_v, eps_v0 = -jnp.trace(eps), material.initial_volumetric_strain(theta)
    expected = (material.free_energy(eps_v0 + eps_v, eps_s, theta)
                - material.free_energy(eps_v0, 0.0, theta) - p0 * eps_v)
    np.testing.assert_allclose(material.density(grad_u, theta), expected, rtol=1e-9)
    # Convex at a strongly sheared state: six positive eigenvalues, three zero (rotations).
    eigenvalues = np.linalg.eigvalsh(np.asarray(jit_tangent(material, 
        isotropic(1e-3).at[0, 1].set(2e-3), theta).reshape(9, 9)))
    assert np.all(eigenvalues[3:] > 0) and np.all(np.abs(eigenvalues[:3]) < 1e-6 * eigenvalues[-1])


def test_har_infinite_beyond_the_tension_limit():
    material, theta = HoulsbyAmorosiRojas(), as_theta(HAR)
    k, n, p_a, p0 = (HAR[key] for key in ("k", "n", "p_a", "p0"))
    limit = (p0 / p_a) ** (1 - n) / (k * (1 - n))          # tr ε at which p reaches 0
    inside, outside = 0.99 * limit * jnp.eye(3) / 3, 1.01 * limit * jnp.eye(3) / 3
    assert np.isfinite(material.density(inside, theta))
    assert material.mean_pressure(inside, theta) > 0
    for grad_u in (outside, outside.at[0, 1].set(1e-3), limit * jnp.eye(3) / 3):
        assert material.density(grad_u, theta) == jnp.inf
        assert np.all(np.isfinite(jit_stress(material, grad_u, theta)))
        assert all(np.isfinite(v) for v in jax.grad(material.density, 1)(grad_u, theta).values())
    assert material.free_energy(-1.0 / (k * (1 - n)), 0.0, theta) == jnp.inf


def test_har_theta_gradients_match_central_differences():
    material, theta = HoulsbyAmorosiRojas(), as_theta(HAR)
    grad_u = isotropic(1e-3) + random_grad_u(5, scale=5e-4)
    weights = jnp.asarray(np.random.default_rng(6).standard_normal((3, 3)))

    @jax.jit
    def objective(t):       # touches both the energy and the stress, as a calibration would
        return material.density(grad_u, t) + jnp.sum(weights * jit_stress(material, grad_u, t))

    gradient = jax.grad(objective)(theta)
    for key, value in HAR.items():
        h = 1e-5 * value
        plus, minus = dict(theta), dict(theta)
        plus[key], minus[key] = theta[key] + h, theta[key] - h
        difference = (objective(plus) - objective(minus)) / (2 * h)
        np.testing.assert_allclose(gradient[key], difference, rtol=1e-6, err_msg=key)


def test_har_vmap_and_jit():
    material, theta = HoulsbyAmorosiRojas(), as_theta(HAR)
    batch = jnp.stack([random_grad_u(seed, 1e-3) for seed in range(4)])
    stresses = jax.jit(jax.vmap(material.stress, in_axes=(0, None)))(batch, theta)
    np.testing.assert_allclose(stresses[2], jit_stress(material, batch[2], theta), rtol=1e-12)


# --------------------------------------------------------------------------------------------------
# User-defined densities
# --------------------------------------------------------------------------------------------------


def hand_written_linear(eps, theta):
    return 0.5 * theta["lam"] * jnp.trace(eps) ** 2 + theta["mu"] * jnp.sum(eps * eps)


def hand_written_neo_hookean(f, theta):
    log_j = jnp.log(jnp.linalg.det(f))
    return (0.5 * theta["mu"] * (jnp.sum(f * f) - 3) - theta["mu"] * log_j
            + 0.5 * theta["lam"] * log_j**2)


def test_small_strain_wrapper_matches_linear_elastic():
    material = SmallStrain(hand_written_linear, ("lam", "mu"))
    theta = as_theta(THETA["lame"])
    assert not material.finite_strain and material.parameters == ("lam", "mu")
    grad_u = random_grad_u(7)
    reference = LinearElastic("lame")
    np.testing.assert_allclose(material.density(grad_u, theta), reference.density(grad_u, theta),
                               rtol=1e-12)
    np.testing.assert_allclose(jit_stress(material, grad_u, theta), reference.stress(grad_u, theta),
                               rtol=1e-12)
    material.check_parameters(theta)
    # Hashable, so it can be a static argument of jit.
    energy = jax.jit(lambda m, g, t: m.density(g, t), static_argnums=0)
    np.testing.assert_allclose(energy(material, grad_u, theta), reference.density(grad_u, theta),
                               rtol=1e-12)
    assert hash(material) == hash(SmallStrain(hand_written_linear, ["lam", "mu"]))


def test_finite_strain_wrapper_matches_neo_hookean():
    material = FiniteStrain(hand_written_neo_hookean, ("mu", "lam"))
    theta = as_theta(NH)
    assert material.finite_strain
    grad_u = random_grad_u(8, scale=0.2)
    np.testing.assert_allclose(jit_stress(material, grad_u, theta), NeoHookean().stress(grad_u, theta),
                               rtol=1e-10)


def test_user_defined_errors():
    with pytest.raises(TypeError, match="SmallStrain: fn must be a function"):
        SmallStrain(3.0, ("a",))
    with pytest.raises(TypeError, match="FiniteStrain: parameters must be a tuple of the names"):
        FiniteStrain(hand_written_neo_hookean, (1, 2))
    with pytest.raises(KeyError, match=re.escape(
            "SmallStrain(hand_written_linear): theta is missing 'mu'; it needs lam, mu")):
        SmallStrain(hand_written_linear, ("lam", "mu")).check_parameters({"lam": 1.0})


# --------------------------------------------------------------------------------------------------
# check_parameters
# --------------------------------------------------------------------------------------------------


def test_check_parameters_missing():
    message = ("NeoHookean: theta is missing 'mu'; it needs mu, lam (shear modulus and Lamé's "
               "first parameter, in units of stress)")
    with pytest.raises(KeyError, match=re.escape(message)):
        NeoHookean().check_parameters({"lam": 1.0})
    with pytest.raises(KeyError, match="theta is missing 'p_a', 'p0'"):
        HoulsbyAmorosiRojas().check_parameters({"k": 1.0, "g": 1.0, "n": 0.5})
    # The likely mistake, constants of another parametrisation, is named with its fix.
    with pytest.raises(KeyError, match=re.escape("use LinearElastic(parametrisation='K_G')")):
        LinearElastic().check_parameters(THETA["K_G"])


def test_check_parameters_unknown():
    with pytest.raises(KeyError, match="NeoHookean: theta has unknown parameter\\(s\\) 'E', 'nu'"):
        NeoHookean().check_parameters({**NH, "E": 1.0, "nu": 0.3})
    with pytest.raises(KeyError, match="unknown parameter\\(s\\) 'G'"):
        LinearElastic().check_parameters({**THETA["E_nu"], "G": 1.0})


@pytest.mark.parametrize("material, theta, message", [
    (LinearElastic(), {"E": -1.0, "nu": 0.3}, "E = -1 is out of range; it needs E > 0"),
    (LinearElastic(), {"E": 1.0, "nu": 0.5}, "nu = 0.5 is out of range; it needs -1 < nu < 0.5"),
    (LinearElastic("K_G"), {"K": 1.0, "G": 0.0}, "G = 0 is out of range; it needs G > 0"),
    (LinearElastic("lame"), {"lam": -1.0, "mu": 1.0},
     "lam = -1 is out of range; it needs lam > -2 mu/3"),
    (NeoHookean(), {"mu": -2.0, "lam": 1.0}, "mu = -2 is out of range; it needs mu > 0"),
    (HoulsbyAmorosiRojas(), {**HAR, "k": 0.0}, "k = 0 is out of range; it needs k > 0"),
    (HoulsbyAmorosiRojas(), {**HAR, "g": -5.0}, "g = -5 is out of range; it needs g > 0"),
    (HoulsbyAmorosiRojas(), {**HAR, "n": 1.0}, "n = 1 is out of range; it needs 0 <= n < 1"),
    (HoulsbyAmorosiRojas(), {**HAR, "n": -0.1}, "n = -0.1 is out of range; it needs 0 <= n < 1"),
    (HoulsbyAmorosiRojas(), {**HAR, "p_a": -100.0}, "p_a = -100 is out of range; it needs p_a > 0"),
    (HoulsbyAmorosiRojas(), {**HAR, "p0": 0.0}, "p0 = 0 is out of range; it needs p0 > 0"),
    (HoulsbyAmorosiRojas(), {**HAR, "p0": np.array([10.0, -3.0, 5.0])},
     "p0 = -3 \\(at 1 of 3 entries\\) is out of range"),
    (NeoHookean(), {"mu": np.nan, "lam": 1.0}, "mu = nan is not finite"),
])
def test_check_parameters_out_of_range(material, theta, message):
    with pytest.raises(ValueError, match=message):
        material.check_parameters(theta)


def test_check_parameters_accepts_valid_and_skips_tracers():
    for parametrisation, values in THETA.items():
        LinearElastic(parametrisation).check_parameters(as_theta(values))
    NeoHookean().check_parameters(NH)
    HoulsbyAmorosiRojas().check_parameters(as_theta(HAR))

    @jax.jit
    def checked_density(theta):          # values are tracers here: only names can be checked
        HoulsbyAmorosiRojas().check_parameters(theta)
        return HoulsbyAmorosiRojas().density(random_grad_u(9, 1e-3), theta)

    assert np.isfinite(checked_density(as_theta({**HAR, "k": -1.0})))
    with pytest.raises(TypeError, match="theta must be a mapping"):
        NeoHookean().check_parameters([MU, LAM])
    with pytest.raises(TypeError, match="theta\\['mu'\\] must be a number"):
        NeoHookean().check_parameters({"mu": "soft", "lam": 1.0})


# --------------------------------------------------------------------------------------------------
# checked: the same ranges on traced values (under jit, grad, vmap), where an optimiser calls them
# --------------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=0)
def jit_checked_density(material, theta):
    return material.density(random_grad_u(10), material.checked(theta, where="region 'clay'"))


@pytest.mark.parametrize("material, theta, message", [
    (LinearElastic(), {"E": 1.0, "nu": 0.5},
     r"region 'clay', LinearElastic\('E_nu'\): nu is out of range .* it needs -1 < nu < 0.5"),
    (LinearElastic(), {"E": -1.0, "nu": 0.3}, r"LinearElastic\('E_nu'\): E is out of range"),
    (LinearElastic("K_G"), {"K": 1.0, "G": 0.0}, r"G is out of range .* it needs G > 0"),
    (LinearElastic("lame"), {"lam": -1.0, "mu": 1.0}, r"lam is out of range .* lam > -2 mu/3"),
    (NeoHookean(), {"mu": -2.0, "lam": 1.0}, r"NeoHookean: mu is out of range .* mu > 0"),
    (NeoHookean(), {"mu": np.nan, "lam": 1.0}, r"NeoHookean: mu is not finite"),
    (HoulsbyAmorosiRojas(), {**HAR, "n": 1.0}, r"HoulsbyAmorosiRojas: n is out of range .* 0 <= n < 1"),
    (HoulsbyAmorosiRojas(), {**HAR, "p0": np.array([10.0, -3.0])}, r"p0 is out of range .* p0 > 0"),
])
def test_checked_names_the_parameter_under_jit(material, theta, message):
    with pytest.raises(RuntimeError, match=message) as error:
        jit_checked_density(material, as_theta(theta))
    # The fix is part of the message.
    assert "give" in str(error.value) and "transform" in str(error.value)


def test_checked_under_grad_and_vmap_and_valid_values_unaffected():
    material, grad_u = HoulsbyAmorosiRojas(), random_grad_u(11, 1e-3)

    def density(theta):
        return material.density(grad_u, material.checked(theta))

    theta = as_theta(HAR)
    np.testing.assert_allclose(jax.grad(density)(theta)["k"],
                               jax.grad(lambda t: material.density(grad_u, t))(theta)["k"],
                               rtol=1e-15)
    with pytest.raises(RuntimeError, match="HoulsbyAmorosiRojas: g is out of range"):
        jax.grad(density)(as_theta({**HAR, "g": -1.0}))
    batch = {**theta, "p_a": jnp.asarray([100.0, -100.0])}
    with pytest.raises(RuntimeError, match="p_a is out of range"):
        jax.vmap(density, in_axes=({**{p: None for p in HAR}, "p_a": 0},))(batch)
    # Concrete values are checked on the host, with the value in the message.
    with pytest.raises(ValueError, match="g = -1 is out of range"):
        material.checked({**HAR, "g": -1.0})
