r"""Models for the example configuration ``example_fit.toml`` (run with ``calib fit``).

A configuration names a model as ``"file.py:function"`` (relative to the configuration file) or
``"module:function"``; the function is plain JAX code, ``model(theta, conditions) -> {variable:
prediction}``.
"""

import jax.numpy as jnp


def stress_strain(theta, conditions):
    r"""Uniaxial stress of a saturating elastic-plastic curve,

    .. math:: \sigma = s \tanh(E \varepsilon / s),

    linear with slope :math:`E` at small strain, tending to the saturation stress :math:`s`.

    Args:
        theta: ``E`` (Young's modulus, GPa) and ``s`` (saturation stress, MPa), in the units the
            configuration gives them.
        conditions: ``strain`` (pure number), one value per measurement, shape ``(n,)``.

    Returns:
        ``{"stress": ...}`` in GPa, shape ``(n,)``; the configuration declares
        ``units = { stress = "GPa" }``, so the fit converts it to the data's MPa.
    """
    E = theta["E"]
    s = theta["s"] * 1e-3  # MPa -> GPa: the formula needs E and s in one unit
    return {"stress": s * jnp.tanh(E * conditions["strain"] / s)}
