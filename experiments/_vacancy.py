"""The test problem shared by the gradient experiment and the benchmarks.

A periodic fcc copper crystal (Morse potential of Girifalco & Weizer) of ``cells``³ conventional
cells with one vacancy; the atoms start from the lattice sites with a small seeded random
displacement (``rattle``, Å) and relax around the vacancy. Parameters θ = {D (eV), alpha (1/Å)};
r0 is held fixed. The outer loss is

    L(θ) = E(x*(θ), θ) + ½ ‖x*(θ) − x_ref‖²,

with x_ref the relaxed positions shifted by a second seeded displacement (stand-in "measured"
positions), so both terms of L depend on θ through the equilibrium.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

import calib
from physics.atomistic import MORSE_CU, Morse, fcc, neighbour_list, potential_energy, remove_atom

LATTICE_CONSTANT_CU = 3.615  # Å, room temperature


@dataclasses.dataclass(frozen=True)
class VacancyProblem:
    energy: Callable  # energy(x, theta) -> eV
    x0: jax.Array  # (N, 3) Å
    x_ref: jax.Array  # (N, 3) Å
    theta: dict  # {"D": eV, "alpha": 1/Å}
    cells: int

    @property
    def n_atoms(self) -> int:
        return int(self.x0.shape[0])

    def loss(self, theta, solver=None, adjoint=None):
        """L(θ) = E(x*, θ) + ½‖x* − x_ref‖² and the solution (for diagnostics)."""
        sol = calib.equilibrium(self.energy, self.x0, theta, solver=solver, adjoint=adjoint)
        return sol.energy + 0.5 * jnp.sum((sol.x - self.x_ref) ** 2), sol


def vacancy_problem(cells: int = 4, rattle: float = 0.05, seed: int = 0, r_cutoff: float = 6.5,
                    r_onset: float = 5.5) -> VacancyProblem:
    """Build the problem (any ``cells``: periodic images are all counted)."""
    crystal = remove_atom(fcc(LATTICE_CONSTANT_CU, cells), 0)
    rng = np.random.default_rng(seed)
    x0 = crystal.positions + rattle * rng.standard_normal(crystal.positions.shape)
    potential = Morse(cutoff=r_cutoff, onset=r_onset)
    neighbours = neighbour_list(crystal, r_cutoff, skin=1.0)
    cell = jnp.asarray(crystal.cell)
    r0 = MORSE_CU["r0"]

    def energy(x, theta):
        return potential_energy(potential, x, cell, {"D": theta["D"], "alpha": theta["alpha"],
                                                     "r0": r0}, neighbours)

    theta = {k: jnp.asarray(MORSE_CU[k]) for k in ("D", "alpha")}
    relaxed = calib.equilibrium(energy, jnp.asarray(x0), theta, solver=calib.LBFGS(tol=1e-10),
                                throw=True).x
    x_ref = relaxed + 0.02 * rng.standard_normal(x0.shape)
    return VacancyProblem(energy, jnp.asarray(x0), jnp.asarray(x_ref), theta, cells)
