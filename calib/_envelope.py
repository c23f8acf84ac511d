r"""The energy at an equilibrium, differentiated by the envelope theorem.

At a minimum :math:`\nabla_x E(x^*, \theta) = 0`, so the total derivative of the minimum value

.. math:: \frac{d}{d\theta} E(x^*(\theta), \theta) = \partial_\theta E + \nabla_x E \cdot
          \frac{dx^*}{d\theta} = \partial_\theta E(x^*, \theta)

needs no adjoint solve (the Hellmann–Feynman force, the stress as :math:`\partial E/\partial
\varepsilon`). The tangent rule below keeps :math:`x^*` as a (differentiable) input, so second
derivatives are still right: differentiating :math:`\partial_\theta E(x^*(\theta), \theta)` once more
brings in :math:`dx^*/d\theta` through the implicit solve, which is what makes the Hessian of a
relaxed energy the *relaxed* (e.g. relaxed-ion) second derivative.
"""

from __future__ import annotations

import functools

import jax


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def envelope_energy(energy, x, params):
    """``energy(x, params)``; ``x`` must be a minimum."""
    return energy(x, params)


@envelope_energy.defjvp
def _envelope_energy_jvp(energy, primals, tangents):
    x, params = primals
    _, params_dot = tangents
    # The x tangent is dropped: it multiplies the gradient in x, which is zero at a minimum.
    return jax.jvp(lambda p: energy(x, p), (params,), (params_dot,))
