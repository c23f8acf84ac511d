"""Reading and writing tabulated EAM potentials in the LAMMPS/DYNAMO file formats.

:func:`read_eam_setfl` reads the multi-element *setfl* format (``.eam.alloy``),
:func:`read_eam_funcfl` the single-element *funcfl* format (``.eam``; Foiles, Baskes & Daw, Phys.
Rev. B 33, 7983, 1986), :func:`write_eam_setfl` writes setfl (LAMMPS ``pair_style eam``
documentation, https://docs.lammps.org/pair_eam.html). The potential they return is a
:class:`~._eam_tabulated.TabulatedEAM` whose tables are the parameters θ.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ._eam_tabulated import LAMMPS_HARTREE_BOHR, MIN_POINTS, SYMBOLS, TabulatedEAM
from calib._errors import CalibTypeError, CalibValueError


class EAMFileError(CalibValueError):
    """A malformed or truncated EAM potential file; the message names the file, line and what was
    expected."""


def _to_float(token):
    try:
        return float(token)
    except ValueError:
        # Fortran writes exponents as D (1.0D+00); LAMMPS refuses them, we accept them.
        return float(token.replace("D", "E").replace("d", "e"))


class _Tokens:
    """The whitespace-separated tokens of a file from line ``first`` (0-based) on, each with its
    line number, read in order: values may wrap across lines in any way."""

    def __init__(self, path, lines, first):
        self.path = os.fspath(path)
        self.tokens, self.line_of = [], []
        for number in range(first, len(lines)):
            parts = lines[number].split()
            self.tokens.extend(parts)
            self.line_of.extend([number + 1] * len(parts))
        self.position = 0
        self.n_lines = len(lines)

    def _error(self, index, message):
        return EAMFileError(f"{self.path}, line {self.line_of[index]}: {message}")

    def _take(self, count, what):
        end = self.position + count
        if end > len(self.tokens):
            found = len(self.tokens) - self.position
            raise EAMFileError(f"{self.path}: the file ends (line {self.n_lines}) while reading "
                               f"{what}: expected {count} value(s), found {found}. The file is "
                               "truncated, or a size in its header is wrong")
        start, self.position = self.position, end
        return start

    def number(self, what):
        index = self._take(1, what)
        try:
            return _to_float(self.tokens[index])
        except ValueError:
            message = f"expected {what} (a number), got {self.tokens[index]!r}"
            raise self._error(index, message) from None

    def integer(self, what):
        index = self._take(1, what)
        try:
            value = _to_float(self.tokens[index])
        except ValueError:
            value = None
        if value is None or not value.is_integer():
            raise self._error(index, f"expected {what} (an integer), got {self.tokens[index]!r}")
        return int(value)

    def word(self, what):
        index = self._take(1, what)
        try:
            _to_float(self.tokens[index])
        except ValueError:
            return self.tokens[index]
        raise self._error(index, f"expected {what} (a name such as FCC), got the number "
                                 f"{self.tokens[index]!r}; an element line must read "
                                 "'atomic-number mass lattice-constant lattice-type'")

    def array(self, count, what):
        start = self._take(count, what)
        chunk = self.tokens[start:start + count]
        try:
            values = np.array(chunk, dtype=np.float64)
        except ValueError:
            values = np.empty(count)
            for offset, token in enumerate(chunk):
                try:
                    values[offset] = _to_float(token)
                except ValueError:
                    raise self._error(start + offset, f"expected value {offset + 1} of {count} of "
                                                      f"{what}, got {token!r}") from None
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise self._error(start + bad[0], f"value {bad[0] + 1} of {what} is "
                                              f"{chunk[bad[0]]!r}; tables must be finite")
        return values

    def grid(self):
        """``Nrho drho Nr dr cutoff``, checked."""
        what = "the grid line 'Nrho drho Nr dr cutoff'"
        first = self.position
        n_rho = self.integer(f"Nrho in {what}")
        d_rho = self.number(f"drho in {what}")
        n_r = self.integer(f"Nr in {what}")
        d_r = self.number(f"dr in {what}")
        cutoff = self.number(f"the cutoff in {what}")
        if min(n_rho, n_r) < MIN_POINTS or min(d_rho, d_r, cutoff) <= 0:
            raise self._error(first, f"{what} has Nrho={n_rho}, drho={d_rho}, Nr={n_r}, dr={d_r}, "
                                     f"cutoff={cutoff}; need Nrho, Nr >= {MIN_POINTS} and positive "
                                     "spacings and cutoff")
        return n_rho, d_rho, n_r, d_r, cutoff

    def element(self):
        """``atomic-number mass lattice-constant lattice-type``."""
        return (self.integer("the atomic number of an element line"),
                self.number("the mass of an element line"),
                self.number("the lattice constant of an element line"),
                self.word("the lattice type of an element line"))

    def finish(self, expected):
        if self.position < len(self.tokens):
            extra = len(self.tokens) - self.position
            raise self._error(self.position, f"{extra} value(s) left over after {expected}; the "
                                             "sizes in the header do not match the tables, or this "
                                             "is another format (eam/fs, eam/cd)")


def _read_lines(path, minimum, layout):
    with open(path) as handle:
        lines = handle.read().splitlines()
    if len(lines) < minimum:
        raise EAMFileError(f"{os.fspath(path)}: only {len(lines)} line(s); a {layout}")
    return lines


def read_eam_setfl(path, interpolation: str = "lammps"):
    """Read a LAMMPS/DYNAMO *setfl* file (``pair_style eam/alloy``, ``.eam.alloy``).

    Layout: three comment lines; line 4 ``Nelements Element1 ... ElementN``; then
    ``Nrho drho Nr dr cutoff``; for each element ``atomic-number mass lattice-constant
    lattice-type``, its embedding function ``F`` (Nrho values) and density ``f`` (Nr values); then
    :math:`r\\phi` (Nr values, eV·Å) for the pairs ``i >= j`` in the order (1,1), (2,1), (2,2),
    (3,1), ... Values may wrap across lines arbitrarily; Fortran ``D`` exponents are accepted.

    Returns:
        ``(TabulatedEAM, theta)``, θ as numpy float64 arrays exactly as in the file.

    Raises:
        EAMFileError: naming the file and line, when the file is truncated or malformed.
    """
    lines = _read_lines(path, 5, "setfl file needs 3 comment lines, 'Nelements Element1 ...' and "
                                 "'Nrho drho Nr dr cutoff'")
    header = lines[3].split()
    try:
        n_elements = int(header[0]) if header else 0
    except ValueError:
        n_elements = 0
    if n_elements < 1 or len(header) != n_elements + 1:
        raise EAMFileError(f"{os.fspath(path)}, line 4: expected the number of elements followed "
                           f"by that many element names, 'Nelements Element1 ... ElementN', got "
                           f"{lines[3]!r}")
    tokens = _Tokens(path, lines, 4)
    n_rho, d_rho, n_r, d_r, cutoff = tokens.grid()
    F, f, metadata = [], [], []
    for symbol in header[1:]:
        metadata.append(tokens.element())
        F.append(tokens.array(n_rho, f"F(rho) of {symbol}"))
        f.append(tokens.array(n_r, f"the density f(r) of {symbol}"))
    rphi = [tokens.array(n_r, f"r*phi(r) of {header[1 + i]}-{header[1 + j]}")
            for i in range(n_elements) for j in range(i + 1)]
    tokens.finish(f"the {n_elements * (n_elements + 1) // 2} pair table(s)")
    numbers, masses, constants, types = zip(*metadata)
    potential = TabulatedEAM(cutoff=cutoff, symbols=tuple(header[1:]), n_rho=n_rho, d_rho=d_rho,
                             n_r=n_r, d_r=d_r, interpolation=interpolation, atomic_numbers=numbers,
                             masses=masses, lattice_constants=constants, lattice_types=types)
    return potential, {"F": np.stack(F), "f": np.stack(f), "rphi": np.stack(rphi)}


def read_eam_funcfl(path, symbol: str | None = None, interpolation: str = "lammps"):
    r"""Read a single-element DYNAMO *funcfl* file (LAMMPS ``pair_style eam``, ``.eam``).

    Layout: one comment line; ``atomic-number mass lattice-constant lattice-type``;
    ``Nrho drho Nr dr cutoff``; then :math:`F(\rho)` (Nrho values, eV), the effective charge
    :math:`Z(r)` (Nr values, :math:`\sqrt{\text{Hartree}\cdot\text{Bohr}}`) and the density
    :math:`f(r)` (Nr values), all on grids starting at 0. The pair term is stored as
    :math:`r\phi = 27.2 \cdot 0.529\, Z^2` eV·Å (:data:`LAMMPS_HARTREE_BOHR`), as LAMMPS converts
    it.

    LAMMPS re-grids funcfl tables (so that several files can be mixed) onto one point fewer,
    dropping the last node of each table; this reader keeps every node, which differs only when a
    table does not end at 0.

    Args:
        symbol: element name; ``None`` takes it from the atomic number.

    Returns:
        ``(TabulatedEAM, theta)``, θ as numpy float64 arrays.
    """
    lines = _read_lines(path, 3, "funcfl file needs a comment line, 'atomic-number mass "
                                 "lattice-constant lattice-type' and 'Nrho drho Nr dr cutoff'")
    tokens = _Tokens(path, lines, 1)
    number, mass, constant, lattice = tokens.element()
    n_rho, d_rho, n_r, d_r, cutoff = tokens.grid()
    F = tokens.array(n_rho, "F(rho)")
    charge = tokens.array(n_r, "the effective charge Z(r)")
    f = tokens.array(n_r, "the density f(r)")
    tokens.finish("F(rho), Z(r) and f(r)")
    if symbol is None:
        symbol = SYMBOLS[number - 1] if 1 <= number <= len(SYMBOLS) else "X"
    potential = TabulatedEAM(cutoff=cutoff, symbols=(symbol,), n_rho=n_rho, d_rho=d_rho, n_r=n_r,
                             d_r=d_r, interpolation=interpolation, atomic_numbers=(number,),
                             masses=(mass,), lattice_constants=(constant,),
                             lattice_types=(lattice,))
    return potential, {"F": F[None, :], "f": f[None, :],
                       "rphi": (LAMMPS_HARTREE_BOHR * charge * charge)[None, :]}


def _format_table(values, per_line=5):
    # 17 significant digits: every float64 reads back exactly.
    text = [f"{v:.16e}" for v in np.asarray(values, np.float64).tolist()]
    return "".join(" ".join(text[k:k + per_line]) + "\n" for k in range(0, len(text), per_line))


def write_eam_setfl(path, potential: TabulatedEAM, theta, comments: str | Sequence[str] = ()):
    """Write ``potential`` with tables ``theta`` as a LAMMPS *setfl* file (``.eam.alloy``), readable
    by LAMMPS ``pair_style eam/alloy``, ASE and :func:`read_eam_setfl` (which reads it back
    exactly).

    Args:
        comments: up to three comment lines (a string is one line).

    Metadata the potential lacks is written as placeholders: the atomic number from the symbol (0
    if unknown), mass 0, lattice constant 0, lattice type ``unknown``. LAMMPS takes the atom masses
    from the file, so set ``masses`` for files meant for LAMMPS.
    """
    if not isinstance(potential, TabulatedEAM):
        raise CalibTypeError(f"write_eam_setfl: potential must be a TabulatedEAM, got "
                             f"{type(potential).__name__}")
    potential.check_theta(theta)
    comments = [comments] if isinstance(comments, str) else list(comments)
    if len(comments) > 3 or any("\n" in c or "\r" in c for c in comments):
        raise CalibValueError(f"write_eam_setfl: comments must be at most three single lines, got "
                              f"{comments!r}")
    comments += [""] * (3 - len(comments))
    tables = {key: np.asarray(theta[key], np.float64) for key in potential.parameters}
    for key, table in tables.items():
        if not np.all(np.isfinite(table)):
            raise CalibValueError(f"write_eam_setfl: theta[{key!r}] has non-finite values")
    n = potential.n_elements
    numbers = potential.atomic_numbers or tuple(
        SYMBOLS.index(s) + 1 if s in SYMBOLS else 0 for s in potential.symbols)
    masses = potential.masses or (0.0,) * n
    constants = potential.lattice_constants or (0.0,) * n
    types = potential.lattice_types or ("unknown",) * n
    parts = [c + "\n" for c in comments]
    parts.append(f"{n} {' '.join(potential.symbols)}\n")
    parts.append(f"{potential.n_rho} {potential.d_rho!r} {potential.n_r} {potential.d_r!r} "
                 f"{float(potential.cutoff)!r}\n")
    for e in range(n):
        parts.append(f"{numbers[e]} {masses[e]!r} {constants[e]!r} {types[e]}\n")
        parts.append(_format_table(tables["F"][e]))
        parts.append(_format_table(tables["f"][e]))
    parts.extend(_format_table(row) for row in tables["rphi"])
    with open(path, "w") as handle:
        handle.write("".join(parts))
