"""Crystal structures as position arrays in an orthogonal periodic box."""

from __future__ import annotations

import numpy as np

_FCC_BASIS = np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])


def fcc(lattice_constant: float, cells: int | tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A face-centred cubic supercell of ``cells`` conventional cubic cells.

    Args:
        lattice_constant: cubic lattice constant :math:`a` in Å.
        cells: repetitions along x, y, z (an int for a cube).

    Returns:
        ``(positions, box)``: positions of shape ``(4 * nx * ny * nz, 3)`` in Å, and the box edge
        lengths, shape ``(3,)``, in Å.
    """
    reps = (cells,) * 3 if np.isscalar(cells) else tuple(cells)
    if len(reps) != 3 or any(int(r) != r or r < 1 for r in reps):
        raise ValueError(f"fcc: cells must be a positive int or three positive ints, got {cells!r}")
    if not lattice_constant > 0:
        raise ValueError(f"fcc: lattice_constant must be positive (Å), got {lattice_constant!r}")
    grid = np.stack(np.meshgrid(*[np.arange(r) for r in reps], indexing="ij"), -1).reshape(-1, 1, 3)
    positions = (grid + _FCC_BASIS[None]).reshape(-1, 3) * lattice_constant
    return positions, np.asarray(reps, float) * lattice_constant


def remove_atom(positions: np.ndarray, index: int = 0) -> np.ndarray:
    """Positions with atom ``index`` removed: a vacancy. Shape ``(N - 1, 3)``."""
    positions = np.asarray(positions)
    if not -len(positions) <= index < len(positions):
        raise IndexError(f"remove_atom: index {index} out of range for {len(positions)} atoms")
    return np.delete(positions, index, axis=0)
