r"""A lattice-Laplacian preconditioner for relaxations of crystals.

The Hessian of a crystal's energy behaves, at long wavelengths, like an elastic operator
:math:`\sim \mu k^2`: the relaxation field of a defect in a periodic cell of edge :math:`L` has a
condition number :math:`\sim L^2`, so unpreconditioned L-BFGS needs :math:`\sim L \sim N^{1/3}`
more steps as the cell grows. Preconditioning with a discrete Laplacian (Packwood et al., J. Chem.
Phys. 144, 164109, 2016) removes that growth.

Here the Laplacian lives on a regular grid in fractional coordinates on which every atom of the
*reference* structure sits (fcc, bcc, diamond, hcp supercells, with vacancies, slabs, rattles of a
fraction of the grid spacing): with :math:`R` the selection of the atoms' grid points,

.. math:: M = R\,(-\Delta_h + c)^{-1} R^T,

applied to each Cartesian component of the position block by FFT in :math:`O(N\log N)`, and the
identity on cell strains. :math:`M` is symmetric positive definite and fixed during a relaxation;
:math:`c` lifts the zero (translation) mode of the periodic Laplacian. The scale of :math:`M` does
not matter: L-BFGS rescales its initial matrix every step.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from ._structure import Structure


@dataclasses.dataclass(frozen=True)
class LatticePreconditioner:
    """``M v`` for :class:`calib.LBFGS` (``preconditioner=``), see the module docstring.

    Attributes:
        grid: grid points along the three cell vectors (static).
        stabilisation: :math:`c`, relative to the largest Laplacian eigenvalue (12).
        sites_argument: position of the ``(N,)`` flat grid-site indices in the energy's ``args``.
    """

    grid: tuple[int, int, int]
    stabilisation: float = 1e-3
    sites_argument: int = -1

    def __call__(self, params, v):
        _, args = params
        sites = args[self.sites_argument]
        n = sites.shape[0]
        positions = v[: 3 * n].reshape(n, 3)
        size = int(np.prod(self.grid))
        field = jnp.zeros((size, 3), v.dtype).at[sites].set(positions).reshape(*self.grid, 3)
        eigenvalues = sum(
            (2.0 - 2.0 * jnp.cos(2.0 * jnp.pi * jnp.fft.fftfreq(g)))[
                tuple(slice(None) if a == d else None for a in range(3))]
            for d, g in enumerate(self.grid))
        spectrum = jnp.fft.fftn(field, axes=(0, 1, 2)) / (eigenvalues + 12.0 * self.stabilisation)[..., None]
        solved = jnp.real(jnp.fft.ifftn(spectrum, axes=(0, 1, 2))).reshape(size, 3)[sites]
        return jnp.concatenate([solved.reshape(-1), v[3 * n:]])


def lattice_grid(structure: Structure, tolerance: float = 0.25, max_per_axis: int = 4096):
    """The coarsest grid (in fractional coordinates) on which every atom sits within ``tolerance``
    of a grid spacing, with at most one atom per point: ``(grid, flat site indices (N,))``, or
    ``None`` when there is none (an amorphous structure): then relax without a preconditioner."""
    fractional = structure.positions @ np.linalg.inv(structure.cell)
    grid = []
    for axis in range(3):
        for points in range(1, max_per_axis + 1):
            scaled = fractional[:, axis] * points
            if np.max(np.abs(scaled - np.round(scaled)), initial=0.0) <= tolerance:
                grid.append(points)
                break
        else:
            return None
    indices = np.mod(np.round(fractional * np.asarray(grid)).astype(np.int64), grid)
    flat = np.ravel_multi_index(indices.T, grid)
    if len(np.unique(flat)) != len(flat):
        return None
    return tuple(int(g) for g in grid), flat.astype(np.int32)
