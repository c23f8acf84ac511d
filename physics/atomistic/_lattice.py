"""Crystal builders and the defects and deformations applied to them."""

from __future__ import annotations

import numpy as np

from ._structure import Structure
from calib._errors import CalibIndexError, CalibValueError

# Atoms of the conventional cubic cells, in fractions of the cell edge.
_FCC = np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])
_BCC = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
_DIAMOND = np.concatenate([_FCC, _FCC + 0.25])


def _repetitions(name, cells):
    reps = (cells,) * 3 if np.isscalar(cells) else tuple(cells)
    if len(reps) != 3 or any(int(r) != r or r < 1 for r in reps):
        raise CalibValueError(f"{name}: cells must be a positive int or three positive ints, got {cells!r}")
    return tuple(int(r) for r in reps)


def _positive(name, what, value):
    if not (np.isscalar(value) and value > 0):
        raise CalibValueError(f"{name}: {what} must be a positive number (Å), got {value!r}")


def _cubic(name, basis, a, cells, symbol):
    _positive(name, "lattice_constant", a)
    reps = _repetitions(name, cells)
    grid = np.stack(np.meshgrid(*[np.arange(r) for r in reps], indexing="ij"), -1).reshape(-1, 1, 3)
    positions = (grid + basis[None]).reshape(-1, 3) * a
    return Structure(positions, np.diag(np.asarray(reps, float) * a), symbols=(symbol,))


def fcc(lattice_constant: float, cells: int | tuple[int, int, int] = 1, symbol: str = "X") -> Structure:
    """Face-centred cubic supercell of ``cells`` conventional cubic cells (4 atoms each).

    Args:
        lattice_constant: cubic lattice constant :math:`a`, Å.
        cells: repetitions along x, y, z (an int for a cube).
        symbol: chemical symbol of the atoms.
    """
    return _cubic("fcc", _FCC, lattice_constant, cells, symbol)


def bcc(lattice_constant: float, cells: int | tuple[int, int, int] = 1, symbol: str = "X") -> Structure:
    """Body-centred cubic supercell of ``cells`` conventional cubic cells (2 atoms each)."""
    return _cubic("bcc", _BCC, lattice_constant, cells, symbol)


def diamond(lattice_constant: float, cells: int | tuple[int, int, int] = 1,
            symbol: str = "X") -> Structure:
    """Diamond-cubic supercell (Si, Ge, C) of ``cells`` conventional cells (8 atoms each): two fcc
    lattices offset by a quarter of the body diagonal. Not a Bravais lattice: under shear the two
    sublattices move relative to each other (internal relaxation)."""
    return _cubic("diamond", _DIAMOND, lattice_constant, cells, symbol)


def hcp(a: float, c: float | None = None, cells: int | tuple[int, int, int] = 1,
        symbol: str = "X") -> Structure:
    """Hexagonal close-packed supercell of ``cells`` primitive hexagonal cells (2 atoms each).

    Args:
        a: in-plane lattice constant, Å.
        c: lattice constant along the hexagonal axis, Å; ``None`` takes the ideal
            :math:`c = \\sqrt{8/3}\\,a`.
    """
    _positive("hcp", "a", a)
    c = np.sqrt(8.0 / 3.0) * a if c is None else c
    _positive("hcp", "c", c)
    reps = _repetitions("hcp", cells)
    unit = np.array([[a, 0.0, 0.0], [-0.5 * a, 0.5 * np.sqrt(3.0) * a, 0.0], [0.0, 0.0, c]])
    basis = np.array([[0.0, 0.0, 0.0], [1.0 / 3.0, 2.0 / 3.0, 0.5]])
    grid = np.stack(np.meshgrid(*[np.arange(r) for r in reps], indexing="ij"), -1).reshape(-1, 1, 3)
    fractional = (grid + basis[None]).reshape(-1, 3)
    return Structure(fractional @ unit, np.asarray(reps, float)[:, None] * unit, symbols=(symbol,))


def remove_atom(structure: Structure, index: int = 0) -> Structure:
    """The structure with atom ``index`` removed: a vacancy."""
    n = structure.n_atoms
    if not (isinstance(index, (int, np.integer)) and -n <= index < n):
        raise CalibIndexError(f"remove_atom: index {index!r} out of range for {n} atoms")
    return structure.replace(positions=np.delete(structure.positions, index, axis=0),
                             species=np.delete(structure.species, index))


def surface_slab(structure: Structure, axis: int = 2, vacuum: float = 10.0) -> Structure:
    """Open the crystal along cell vector ``axis``: a slab with two free surfaces.

    The cell vector ``axis`` is lengthened by ``vacuum`` (Å) along its own direction and the
    structure stays periodic (the vacuum must exceed the potential's cutoff so the two surfaces do
    not see each other). For an fcc ``(100)`` surface, use :func:`fcc` and ``axis=2``; for
    ``(111)``, build the cell with a 111 axis (e.g. via ASE) and pass it in.
    """
    if axis not in (0, 1, 2):
        raise CalibValueError(f"surface_slab: axis must be 0, 1 or 2, got {axis!r}")
    _positive("surface_slab", "vacuum", vacuum)
    cell = structure.cell.copy()
    length = np.linalg.norm(cell[axis])
    cell[axis] *= (length + vacuum) / length
    # Centre the slab in the enlarged cell so both surfaces face vacuum.
    positions = structure.positions + 0.5 * vacuum * structure.cell[axis] / length
    return structure.replace(positions=positions, cell=cell)


def strained(structure: Structure, strain) -> Structure:
    r"""Homogeneously deform cell and positions: :math:`r \mapsto (I + \varepsilon) r`.

    Args:
        strain: the small-strain tensor :math:`\varepsilon`, shape ``(3, 3)`` (symmetric for a pure
            deformation), or a scalar for a hydrostatic strain :math:`\varepsilon I`.
    """
    eps = np.asarray(strain, float)
    eps = eps * np.eye(3) if eps.ndim == 0 else eps
    if eps.shape != (3, 3):
        raise CalibValueError(f"strained: strain must be a scalar or a (3, 3) tensor, got shape {eps.shape}")
    deformation = np.eye(3) + eps
    return structure.replace(positions=structure.positions @ deformation.T,
                             cell=structure.cell @ deformation.T)
