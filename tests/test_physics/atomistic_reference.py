"""Direct (slow, obvious) numpy references for the atomistic tests."""

import itertools

import numpy as np


def direct_pair_energy(positions, cell, pair, cutoff, reach=6):
    """½ Σ_i Σ_(j, n) φ(|r_j − r_i + n C|) over every image shift with |n_k| <= reach."""
    total = 0.0
    for shift in itertools.product(range(-reach, reach + 1), repeat=3):
        offset = np.asarray(shift, float) @ cell
        d = positions[None, :, :] + offset - positions[:, None, :]
        r = np.linalg.norm(d, axis=-1)
        keep = (r > 1e-9) & (r < cutoff)
        total += 0.5 * float(np.sum(pair(r[keep])))
    return total


def central_difference(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)
