"""An atomic structure: positions, a cell and species, held as host (numpy) arrays."""

from __future__ import annotations

import dataclasses

import numpy as np
from calib._errors import CalibValueError


@dataclasses.dataclass(frozen=True, eq=False)
class Structure:
    """Atoms in a (possibly periodic) cell.

    Attributes:
        positions: Cartesian positions, shape ``(N, 3)``, Å.
        cell: lattice vectors as rows, shape ``(3, 3)``, Å (any shape of cell, not only orthogonal).
        species: integer species codes, shape ``(N,)``, indices into ``symbols``.
        symbols: chemical symbol of each species code, e.g. ``("Cu",)``.
        pbc: periodicity along each cell vector. Non-periodic directions see no images.
    """

    positions: np.ndarray
    cell: np.ndarray
    species: np.ndarray | None = None
    symbols: tuple[str, ...] = ("X",)
    pbc: tuple[bool, bool, bool] = (True, True, True)

    def __post_init__(self):
        positions = np.asarray(self.positions, dtype=float)
        cell = np.asarray(self.cell, dtype=float)
        if positions.ndim != 2 or positions.shape[1] != 3:
            raise CalibValueError(f"Structure: positions must have shape (N, 3) in Å, got {positions.shape}")
        if cell.shape == (3,):
            cell = np.diag(cell)
        if cell.shape != (3, 3):
            raise CalibValueError(f"Structure: cell must be three lattice vectors, shape (3, 3) in Å (or "
                                  f"three edge lengths of an orthogonal box), got shape {cell.shape}")
        if not np.all(np.isfinite(positions)) or not np.all(np.isfinite(cell)):
            raise CalibValueError("Structure: positions and cell must be finite")
        if abs(np.linalg.det(cell)) < 1e-12:
            raise CalibValueError(f"Structure: the cell is singular (volume {np.linalg.det(cell):.3g} Å³); "
                                  "give three independent lattice vectors, with vacuum along open directions")
        species = (np.zeros(len(positions), int) if self.species is None
                   else np.asarray(self.species).astype(int))
        if species.shape != (len(positions),):
            raise CalibValueError(f"Structure: species must have shape ({len(positions)},), got {species.shape}")
        symbols = tuple(self.symbols)
        if len(species) and not 0 <= species.min() <= species.max() < len(symbols):
            raise CalibValueError(f"Structure: species codes must index symbols={symbols}, got codes "
                                  f"{sorted(set(species.tolist()))}")
        pbc = tuple(bool(p) for p in np.broadcast_to(self.pbc, (3,)))
        for name, value in (("positions", positions), ("cell", cell), ("species", species),
                            ("symbols", symbols), ("pbc", pbc)):
            object.__setattr__(self, name, value)
        positions.flags.writeable = cell.flags.writeable = species.flags.writeable = False

    @property
    def n_atoms(self) -> int:
        return len(self.positions)

    @property
    def volume(self) -> float:
        """Cell volume, Å³."""
        return float(abs(np.linalg.det(self.cell)))

    def replace(self, **changes) -> "Structure":
        return dataclasses.replace(self, **changes)

    def __len__(self) -> int:
        return self.n_atoms

    def __repr__(self) -> str:
        lengths = np.linalg.norm(self.cell, axis=1)
        formula = "".join(f"{s}{int(np.sum(self.species == k))}" for k, s in enumerate(self.symbols))
        return (f"Structure({formula}, cell lengths {np.round(lengths, 4).tolist()} Å, "
                f"pbc={self.pbc})")
