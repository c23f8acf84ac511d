r"""Kinematics shared by the strain-energy densities: small strain and a smooth determinant.

Every function takes the ``(3, 3)`` displacement gradient :math:`(\nabla u)_{ij} = \partial u_i /
\partial X_j` (or the deformation gradient :math:`F = I + \nabla u`) of one point and is written in
``jax.numpy``, so that the densities built on it can be differentiated twice everywhere.
"""

from __future__ import annotations

import jax.numpy as jnp


def sym(a):
    r"""Symmetric part :math:`\tfrac12 (a + a^\mathsf{T})` of a ``(3, 3)`` matrix: the small-strain
    tensor :math:`\varepsilon` of a displacement gradient."""
    return 0.5 * (a + a.T)


def det3(f):
    """Determinant of a ``(3, 3)`` matrix by cofactors.

    A polynomial in the entries, so every derivative exists everywhere, including at singular
    matrices (``jnp.linalg.det`` goes through an LU factorisation whose derivatives are not
    defined there).
    """
    return (f[0, 0] * (f[1, 1] * f[2, 2] - f[1, 2] * f[2, 1])
            - f[0, 1] * (f[1, 0] * f[2, 2] - f[1, 2] * f[2, 0])
            + f[0, 2] * (f[1, 0] * f[2, 1] - f[1, 1] * f[2, 0]))


def small_strain(grad_u):
    r""":math:`\varepsilon = \operatorname{sym}\nabla u`, ``(3, 3)``, of a displacement gradient."""
    return sym(jnp.asarray(grad_u))


def deformation_gradient(grad_u):
    r""":math:`F = I + \nabla u`, ``(3, 3)``, of a displacement gradient."""
    return jnp.eye(3) + jnp.asarray(grad_u)
