"""Interoperability with ASE (the Atomic Simulation Environment): conversion and file input/output.

ASE is an optional dependency: it is imported only inside these functions, and a missing ASE raises
an :class:`ImportError` saying how to install it (``pip install 'calib[ase]'``).

Conventions on both sides are the same: Cartesian positions and lattice vectors (rows) in Å.

Species codes travel with the atoms: :func:`to_ase` stores :attr:`Structure.species` as the per-atom
integer array ``"species_code"``, which extended XYZ writes as a column, so a round trip through
:func:`to_ase`/:func:`from_ase` or :func:`write_structure`/:func:`read_structure` gives back the same
codes and ``symbols``. Atoms without that array (any file ASE reads) get codes in order of first
appearance of their chemical symbols. A symbol that no atom uses is not carried.

A :class:`Structure` always has a cell of non-zero volume (it defines the periodic images and the
volume behind stresses and moduli). ASE also allows atoms with no cell, or a cell that is zero along
some axis; :func:`from_ase` refuses those rather than invent a box, and its error names the fix:
``atoms.center(vacuum=...)`` for an open direction, ``atoms.set_cell(...)`` for a periodic one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ._structure import Structure
from calib._errors import CalibTypeError, CalibValueError

SPECIES_ARRAY = "species_code"
"""Name of the per-atom ASE array that carries :attr:`Structure.species` codes."""

_INSTALL_HINT = "pip install 'calib[ase]'"


def _ase():
    """Import ASE lazily, with an install hint when it is missing."""
    try:
        import ase
        import ase.io  # noqa: F401  (registers the io submodule on the package)
    except ImportError as err:
        raise ImportError("ASE interoperability needs the optional dependency ASE (>= 3.23); "
                          f"install it with: {_INSTALL_HINT}") from err
    return ase


def _species_from_codes(symbols_per_atom, codes) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """The (species, symbols) given by stored codes, or None if the codes do not fit the symbols."""
    codes = np.asarray(codes)
    if codes.shape != (len(symbols_per_atom),) or not np.issubdtype(codes.dtype, np.integer):
        return None
    mapping: dict[int, str] = {}
    for code, symbol in zip(codes.tolist(), symbols_per_atom):
        if mapping.setdefault(code, symbol) != symbol:
            return None            # one code, two chemical symbols: not ours
    if sorted(mapping) != list(range(len(mapping))):
        return None                # codes must be 0..k-1 to index a symbols tuple
    return codes.astype(int), tuple(mapping[k] for k in range(len(mapping)))


def _species_by_first_appearance(symbols_per_atom) -> tuple[np.ndarray, tuple[str, ...]]:
    order = list(dict.fromkeys(symbols_per_atom))
    index = {symbol: k for k, symbol in enumerate(order)}
    return np.array([index[s] for s in symbols_per_atom], dtype=int), tuple(order)


def _check_cell(cell: np.ndarray, pbc) -> None:
    """Refuse cells a Structure cannot hold, naming the ASE call that fixes them."""
    lengths = np.linalg.norm(cell, axis=1)
    for axis in range(3):
        if lengths[axis] > 1e-12:
            continue
        if pbc[axis]:
            raise CalibValueError(
                f"from_ase: the atoms are periodic along cell vector {axis} but that vector is zero, so "
                "the periodic images are undefined; set a cell, e.g. atoms.set_cell(...), or switch "
                "periodicity off along that axis and give it vacuum")
        raise CalibValueError(
            f"from_ase: cell vector {axis} is zero (the atoms have no cell along this open direction); "
            "a Structure needs a cell of non-zero volume. Give the atoms a box with vacuum, e.g. "
            "atoms.center(vacuum=10.0) (more vacuum than the potential's cutoff)")
    if abs(np.linalg.det(cell)) < 1e-12:
        raise CalibValueError(f"from_ase: the cell vectors are linearly dependent (volume "
                              f"{np.linalg.det(cell):.3g} Å³); give three independent lattice vectors")


def from_ase(atoms) -> Structure:
    """The :class:`Structure` of an ``ase.Atoms``.

    Positions and cell are taken in Å, ``pbc`` as is. Species codes come from the ``"species_code"``
    array when :func:`to_ase` wrote one (and it matches the chemical symbols), otherwise from the
    chemical symbols in order of first appearance.

    Raises:
        TypeError: ``atoms`` is not an ``ase.Atoms``.
        ValueError: the cell is zero along some axis or singular (see the module docstring for the
            fix the message names).
    """
    ase = _ase()
    if not isinstance(atoms, ase.Atoms):
        raise CalibTypeError(f"from_ase: expected an ase.Atoms, got {type(atoms).__name__}")
    cell = np.array(atoms.cell.array, dtype=float)
    pbc = tuple(bool(p) for p in atoms.pbc)
    _check_cell(cell, pbc)
    chemical = atoms.get_chemical_symbols()
    coded = (_species_from_codes(chemical, atoms.arrays[SPECIES_ARRAY])
             if SPECIES_ARRAY in atoms.arrays else None)
    species, symbols = coded if coded is not None else _species_by_first_appearance(chemical)
    return Structure(np.array(atoms.positions, dtype=float), cell, species=species,
                     symbols=symbols or ("X",), pbc=pbc)


def to_ase(structure: Structure):
    """The ``ase.Atoms`` of a :class:`Structure` (positions and cell in Å, same ``pbc``).

    The species codes are kept in the per-atom array ``"species_code"``.

    Raises:
        TypeError: ``structure`` is not a :class:`Structure`.
        ValueError: a symbol of ``structure.symbols`` is not a chemical symbol ASE knows (``"X"``,
            ASE's dummy atom, is allowed).
    """
    ase = _ase()
    if not isinstance(structure, Structure):
        raise CalibTypeError(f"to_ase: expected a Structure, got {type(structure).__name__}")
    per_atom = [structure.symbols[k] for k in structure.species]
    try:
        atoms = ase.Atoms(symbols=per_atom, positions=np.array(structure.positions),
                          cell=np.array(structure.cell), pbc=structure.pbc)
    except (KeyError, ValueError) as err:
        raise CalibValueError(f"to_ase: symbols {structure.symbols} must be chemical symbols (or 'X') for "
                              f"ASE: {err}") from err
    atoms.new_array(SPECIES_ARRAY, np.array(structure.species, dtype=int))
    return atoms


def read_structure(path: str | os.PathLike, index: int | str | slice = -1,
                   format: str | None = None) -> Structure | list[Structure]:
    """Read a structure from a file through ``ase.io.read``.

    Args:
        path: the file. Extended XYZ (``.extxyz``, ``.xyz``) is the main format; anything ASE reads
            works (``format`` names it when the extension does not).
        index: which frame of a multi-frame file; the default is the last. A slice or a string such
            as ``":"`` selects several frames and returns a list.
        format: ASE format name, e.g. ``"extxyz"``, ``"vasp"``, ``"lammps-data"``; ``None`` guesses
            from the name and contents.

    Returns:
        A :class:`Structure`, or a list of them when ``index`` selects several frames.
    """
    ase = _ase()
    images = ase.io.read(path, index=index, format=format)
    if isinstance(images, list):
        return [from_ase(atoms) for atoms in images]
    return from_ase(images)


def write_structure(path: str | os.PathLike, structure: Structure | Sequence[Structure],
                    format: str | None = None) -> None:
    """Write one structure, or a sequence of them as frames, through ``ase.io.write``.

    Extended XYZ (``.extxyz`` or ``.xyz``) keeps the cell (full precision), ``pbc``, the species
    codes, and positions to 1e-8 Å.

    Args:
        path: the file to write (overwritten).
        structure: a :class:`Structure` or a sequence of them.
        format: ASE format name; ``None`` guesses from the extension.
    """
    ase = _ase()
    frames = [structure] if isinstance(structure, Structure) else list(structure)
    images = [to_ase(s) for s in frames]
    ase.io.write(path, images[0] if isinstance(structure, Structure) else images, format=format)
