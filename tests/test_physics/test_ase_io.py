"""ASE interop: Structure <-> ase.Atoms and extended-XYZ files keep positions, cell, pbc and species."""

import numpy as np
import pytest

from physics.atomistic import Structure, fcc, hcp
from physics.atomistic import from_ase, read_structure, to_ase, write_structure

ase = pytest.importorskip("ase")
import ase.build  # noqa: E402


def _two_species():
    """B2 (CsCl-type) CuZn, 2x1x1, with the codes in the opposite order to first appearance."""
    base = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
    frac = np.concatenate([base, base + [1.0, 0.0, 0.0]])
    a = 2.95
    return Structure(frac * a, np.diag([2 * a, a, a]), species=[1, 0, 1, 0], symbols=("Zn", "Cu"),
                     pbc=(True, True, False))


STRUCTURES = {
    "fcc": lambda: fcc(3.615, cells=2, symbol="Cu"),
    "hcp": lambda: hcp(2.95, 4.68, cells=(2, 2, 1), symbol="Ti"),    # non-orthogonal cell
    "two_species": _two_species,
}


def _assert_same(a: Structure, b: Structure, atol=0.0):
    np.testing.assert_allclose(b.positions, a.positions, rtol=0, atol=atol)
    np.testing.assert_allclose(b.cell, a.cell, rtol=0, atol=atol)
    assert b.pbc == a.pbc
    np.testing.assert_array_equal(b.species, a.species)
    assert b.symbols == a.symbols


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_round_trip_through_atoms_is_exact(name):
    s = STRUCTURES[name]()
    atoms = to_ase(s)
    assert isinstance(atoms, ase.Atoms)
    assert atoms.get_chemical_symbols() == [s.symbols[k] for k in s.species]
    _assert_same(s, from_ase(atoms))


@pytest.mark.parametrize("suffix", [".extxyz", ".xyz"])
@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_round_trip_through_extxyz_file(tmp_path, name, suffix):
    s = STRUCTURES[name]()
    path = tmp_path / f"{name}{suffix}"
    write_structure(path, s)
    back = read_structure(path)
    # extxyz writes positions with 8 decimals and the cell at full precision.
    _assert_same(s, back, atol=1e-8)
    np.testing.assert_array_equal(back.cell, s.cell)


def test_several_frames_read_back_as_a_list(tmp_path):
    frames = [fcc(a, symbol="Cu") for a in (3.6, 3.615, 3.63)]
    path = tmp_path / "traj.extxyz"
    write_structure(path, frames)
    back = read_structure(path, index=":")
    assert isinstance(back, list) and len(back) == 3
    for a, b in zip(frames, back):
        _assert_same(a, b, atol=1e-8)
    _assert_same(frames[-1], read_structure(path), atol=1e-8)     # default: the last frame


def test_ase_bulk_copper_is_our_fcc():
    ours = fcc(3.615, symbol="Cu")
    theirs = from_ase(ase.build.bulk("Cu", "fcc", a=3.615, cubic=True))
    np.testing.assert_allclose(theirs.cell, ours.cell, atol=1e-12)
    assert theirs.symbols == ("Cu",) and theirs.pbc == (True, True, True)
    key = lambda p: np.lexsort(np.round(p, 9).T)                                   # noqa: E731
    np.testing.assert_allclose(theirs.positions[key(theirs.positions)],
                               ours.positions[key(ours.positions)], atol=1e-12)


def test_foreign_atoms_get_codes_by_first_appearance():
    atoms = ase.Atoms("NiAl3", positions=np.arange(12.0).reshape(4, 3), cell=4 * np.eye(3), pbc=True)
    s = from_ase(atoms)
    assert s.symbols == ("Ni", "Al")
    np.testing.assert_array_equal(s.species, [0, 1, 1, 1])


def test_inconsistent_species_codes_are_ignored():
    atoms = to_ase(_two_species())
    atoms.arrays["species_code"][:] = 0            # one code for two elements: not usable
    s = from_ase(atoms)
    assert s.symbols == ("Cu", "Zn")
    np.testing.assert_array_equal(s.species, [0, 1, 0, 1])


def test_atoms_without_a_cell_name_the_vacuum_fix():
    atoms = ase.Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])
    with pytest.raises(ValueError, match=r"atoms\.center\(vacuum="):
        from_ase(atoms)
    atoms.center(vacuum=6.0)
    s = from_ase(atoms)
    assert s.pbc == (False, False, False) and s.volume > 0


def test_periodic_axis_with_zero_cell_vector_names_set_cell():
    atoms = ase.Atoms("Cu", positions=[[0, 0, 0]], cell=[[3.0, 0, 0], [0, 3.0, 0], [0, 0, 0]],
                      pbc=True)
    with pytest.raises(ValueError, match=r"periodic along cell vector 2.*set_cell"):
        from_ase(atoms)


def test_linearly_dependent_cell_is_refused():
    atoms = ase.Atoms("Cu", positions=[[0, 0, 0]], cell=[[3.0, 0, 0], [0, 3.0, 0], [3.0, 3.0, 0]],
                      pbc=True)
    with pytest.raises(ValueError, match="linearly dependent"):
        from_ase(atoms)


def test_wrong_types_and_non_chemical_symbols():
    with pytest.raises(TypeError, match="ase.Atoms"):
        from_ase(fcc(3.615))
    with pytest.raises(TypeError, match="Structure"):
        to_ase(ase.Atoms("Cu"))
    with pytest.raises(ValueError, match="chemical symbols"):
        to_ase(fcc(3.615, symbol="Qq"))


def test_missing_ase_raises_install_hint(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ase(name, *args, **kwargs):
        if name == "ase" or name.startswith("ase."):
            raise ImportError("No module named 'ase'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ase)
    with pytest.raises(ImportError, match=r"pip install 'calib\[ase\]'"):
        to_ase(fcc(3.615, symbol="Cu"))
