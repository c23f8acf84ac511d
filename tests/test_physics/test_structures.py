"""Crystal builders, defects, deformations and the Structure container."""

import numpy as np
import pytest

from physics.atomistic import Structure, bcc, diamond, fcc, hcp, remove_atom, strained, surface_slab


def _nearest(structure):
    d = structure.positions[1:] - structure.positions[0]
    return np.min(np.linalg.norm(d, axis=1))


@pytest.mark.parametrize("builder, per_cell, nearest", [
    (fcc, 4, 1 / np.sqrt(2)), (bcc, 2, np.sqrt(3) / 2), (diamond, 8, np.sqrt(3) / 4)])
def test_cubic_builders(builder, per_cell, nearest):
    s = builder(2.0, (2, 3, 4), symbol="Cu")
    assert s.n_atoms == per_cell * 24
    np.testing.assert_allclose(s.cell, np.diag([4.0, 6.0, 8.0]))
    assert _nearest(s) == pytest.approx(2.0 * nearest)
    assert s.symbols == ("Cu",) and s.volume == pytest.approx(192.0)


def test_hcp_ideal_ratio_and_neighbours():
    s = hcp(2.5, cells=(3, 3, 2))
    assert s.n_atoms == 36
    lengths = np.linalg.norm(s.cell, axis=1)
    np.testing.assert_allclose(lengths, [7.5, 7.5, 2 * np.sqrt(8 / 3) * 2.5])
    # Ideal hcp: 12 nearest neighbours at distance a (counted with images in test_neighbours).
    assert _nearest(s) == pytest.approx(2.5)


def test_vacancy_slab_and_strain():
    s = fcc(3.6, 2)
    v = remove_atom(s, 5)
    assert v.n_atoms == 31 and not np.any(np.all(v.positions == s.positions[5], axis=1))
    slab = surface_slab(s, axis=2, vacuum=8.0)
    assert slab.cell[2, 2] == pytest.approx(15.2)
    assert slab.positions[:, 2].min() == pytest.approx(4.0)
    eps = np.array([[0.01, 0.002, 0], [0.002, -0.005, 0], [0, 0, 0.0]])
    t = strained(s, eps)
    np.testing.assert_allclose(t.cell, s.cell @ (np.eye(3) + eps).T)
    np.testing.assert_allclose(t.positions, s.positions @ (np.eye(3) + eps).T)
    assert strained(s, 0.01).volume == pytest.approx(s.volume * 1.01 ** 3)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="lattice_constant"):
        fcc(-1.0, 2)
    with pytest.raises(ValueError, match="cells"):
        bcc(3.0, 0)
    with pytest.raises(ValueError, match="positions must have shape"):
        Structure(np.zeros((3, 2)), np.eye(3))
    with pytest.raises(ValueError, match="singular"):
        Structure(np.zeros((1, 3)), np.diag([1.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="species codes"):
        Structure(np.zeros((2, 3)), np.eye(3), species=[0, 1], symbols=("Cu",))
    with pytest.raises(IndexError, match="out of range"):
        remove_atom(fcc(3.6, 1), 4)
    with pytest.raises(ValueError, match="axis"):
        surface_slab(fcc(3.6, 1), axis=3)
