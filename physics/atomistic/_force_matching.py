r"""Force matching: a potential's energies, forces and stresses on a whole training set, batched.

:class:`ForceMatching` is a model in the calibration layer's sense, ``model(theta, conditions) ->
{variable: prediction}``, for a training set built by :func:`physics.atomistic.training_set` or
:func:`physics.atomistic.read_training_set`. It predicts, in the data's units,

.. math:: \frac{E_c(\theta)}{N_c} + e_0, \qquad F_{ia} = -\frac{\partial E_c}{\partial r_{ia}}, \qquad
          \sigma_c = \frac{1}{V_c}\,\frac{\partial E_c}{\partial\varepsilon}\Big|_{\varepsilon=0},

with :math:`e_0` an optional per-atom reference energy (``theta[reference_energy]``, a scalar or one
value per species): a potential's zero of energy (separated atoms) is rarely the reference
method's. Forces and stress come from one reverse pass through the energy, with respect to the
positions and a homogeneous strain together.

Every size bucket (:mod:`physics.atomistic._batching`) is one ``vmap``-ed function, run in chunks
of ``chunk`` configurations (``lax.map``, each chunk recomputed rather than stored in a reverse
pass, so memory stays bounded by a chunk whatever the set's size), inside a ``shard_map`` over the
mesh's ``configuration`` axis: each device evaluates its own configurations, and only the
predictions are gathered (replicated) for the residuals, so the objective and its gradient are
the same on every device and every process. The potential's θ is the same on every device; its
gradient is the sum over devices, which the partitioner inserts.

Because the model is an ``equinox.Module``, the fit passes its arrays to the compiled programs as
arguments (nothing is baked in as a constant), so one :class:`ForceMatching` can be evaluated, fit
and re-fit without recompiling.
"""

from __future__ import annotations

import functools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from ._batching import AXIS, Bucket, Layout, build_buckets, configuration_mesh
from ._potential import Potential
from ._training_set import UNITS, training_structures
from calib._errors import CalibKeyError, CalibTypeError, CalibValueError

_VOIGT_INDEX = (np.array([0, 1, 2, 1, 0, 0]), np.array([0, 1, 2, 2, 2, 1]))


def configuration_properties(potential: Potential, theta, positions, cell, index, shift, species,
                             atom_mask):
    r"""Energy (eV), forces ``(N, 3)`` (eV/Å) and Voigt stress ``(6,)`` (eV/Å³) of one padded
    configuration (the arrays of one row of a :class:`Bucket`).

    The energy is differentiated once, with respect to the positions and a strain
    :math:`\varepsilon` applied to positions and cell (:math:`r \mapsto (I + \varepsilon) r`), which
    gives the forces and the virial together.
    """
    n = positions.shape[0]
    neighbour_species = jnp.take(species, index, mode="clip")
    real = index < n
    shift = shift.astype(positions.dtype)

    def energy(positions, strain):
        deformation = jnp.eye(3, dtype=positions.dtype) + strain
        x = positions @ deformation.T
        d = jnp.take(x, index, axis=0, mode="clip") - x[:, None, :] + shift @ (cell @ deformation.T)
        r2 = jnp.sum(d * d, axis=-1)
        inside = real & (r2 < potential.cutoff ** 2)
        # 1.0 outside: no sqrt(0) anywhere, so no NaN in derivatives of masked entries.
        r = jnp.sqrt(jnp.where(inside, r2, 1.0))
        sites = potential.site_energies(theta, r, d, inside, species, neighbour_species)
        return jnp.sum(jnp.where(atom_mask, sites, 0.0))

    strain = jnp.zeros((3, 3), positions.dtype)
    e, (de_dx, de_dstrain) = jax.value_and_grad(energy, argnums=(0, 1))(positions, strain)
    volume = jnp.abs(jnp.linalg.det(cell))
    virial = 0.5 * (de_dstrain + de_dstrain.T) / volume
    return e, -de_dx, virial[_VOIGT_INDEX]


class ForceMatching(eqx.Module):
    """Energies per atom, forces and stresses of a training set for a potential (a model).

    Args:
        potential: any :class:`Potential` (pair, EAM, tabulated EAM, Stillinger–Weber, your own).
        training: the training set (``xarray.Dataset``; see :mod:`physics.atomistic._training_set`).
        reference_energy: name of the θ entry holding the per-atom reference energy :math:`e_0`
            (eV; a scalar, or one value per species of ``training.attrs["symbols"]``). When θ has
            no such entry, :math:`e_0 = 0`.
        max_buckets: at most this many size buckets (compiled bucket functions).
        chunk: configurations evaluated together by one ``vmap`` step; bounds the memory.
        mesh: the device mesh (default all devices, :func:`configuration_mesh`).
        workers: host processes for the neighbour lists (default the CPU count).
        cache: a directory for the neighbour lists (see :func:`neighbour_pairs`).

    Attributes:
        buckets: the padded configuration arrays, one :class:`Bucket` per size bucket.
        layout: where each configuration and atom sits in the bucket outputs (host).
        setup: host set-up times and the neighbour-cache outcome.
        units: units of the predictions (the calibration layer converts them to the data's).
    """

    buckets: tuple
    configuration_index: jax.Array
    atom_index: jax.Array
    stress_index: jax.Array
    species_counts: jax.Array
    n_atoms: jax.Array
    potential: Potential = eqx.field(static=True)
    reference_energy: str | None = eqx.field(static=True)
    chunk: int = eqx.field(static=True)
    mesh: Any = eqx.field(static=True)
    host: "_Host" = eqx.field(static=True)
    variables: tuple = eqx.field(static=True)
    n_configurations: int = eqx.field(static=True)

    def __init__(self, potential: Potential, training, *, reference_energy: str | None = "e0",
                 max_buckets: int = 4, chunk: int = 4, mesh=None, workers: int | None = None,
                 cache=None):
        if not isinstance(potential, Potential):
            raise CalibTypeError(f"ForceMatching: potential must be a physics.atomistic Potential, got "
                                 f"{type(potential).__name__}")
        if not (isinstance(chunk, (int, np.integer)) and chunk >= 1):
            raise CalibValueError(f"ForceMatching: chunk must be an integer >= 1, got {chunk!r}")
        structures = training_structures(training)
        self.mesh = configuration_mesh() if mesh is None else mesh
        buckets, layout, setup = build_buckets(
            structures, potential.cutoff, max_buckets=max_buckets, mesh=self.mesh, workers=workers,
            cache=cache)
        self.buckets = tuple(buckets)
        self.host = _Host(layout, setup)
        self.potential = potential
        self.reference_energy = reference_energy
        self.chunk = int(chunk)
        self.variables = tuple(v for v in UNITS if v in training)
        self.n_configurations = len(structures)
        replicated = NamedSharding(self.mesh, PartitionSpec())
        put = functools.partial(jax.device_put, device=replicated)
        self.configuration_index = put(layout.configuration_index)
        self.atom_index = put(layout.atom_index)
        stressed = (np.asarray(training["stress_configuration"], int) if "stress" in training
                    else np.zeros(0, int))
        self.stress_index = put(layout.configuration_index[stressed])
        n_species = len(training.attrs.get("symbols", "X").split())
        counts = np.zeros((len(structures), n_species))
        for c, s in enumerate(structures):
            counts[c] = np.bincount(s.species, minlength=n_species)
        self.species_counts = put(counts)
        self.n_atoms = put(np.asarray(training["n_atoms"], float))

    @property
    def layout(self) -> Layout:
        return self.host.layout

    @property
    def setup(self) -> dict:
        return self.host.setup

    @property
    def units(self) -> dict[str, str]:
        return {v: UNITS[v] for v in self.variables}

    @property
    def traces(self) -> int:
        """How many bucket functions have been traced (compiled) so far: the number of buckets
        per compiled program (value, Jacobian, gradient)."""
        return self.host.traces

    def __call__(self, theta, conditions=None) -> dict[str, jax.Array]:
        if conditions is not None:
            self._check_conditions(conditions)
        return self.predict(theta)

    def predict(self, theta) -> dict[str, jax.Array]:
        """``{"energy_per_atom": (C,), "forces": (A, 3), "stress": (S, 6)}`` in eV, eV/Å, eV/Å³.

        Compiled (once per θ structure); inside a traced function it is traced inline."""
        return _predict(self, theta)

    def _predict(self, theta) -> dict[str, jax.Array]:
        if not isinstance(theta, dict):
            raise CalibTypeError(f"ForceMatching: theta must be a dict of the potential's parameters, "
                                 f"got {type(theta).__name__}")
        potential_theta = {k: v for k, v in theta.items() if k != self.reference_energy}
        energies, forces, stresses = [], [], []
        for bucket in self.buckets:
            e, f, s = self._bucket(potential_theta, bucket)
            energies.append(e)
            forces.append(f.reshape(-1, 3))
            stresses.append(s)
        energy = jnp.concatenate(energies)[self.configuration_index]
        per_atom = energy / self.n_atoms + self._offset(theta)
        out = {"energy_per_atom": per_atom,
               "forces": jnp.concatenate(forces)[self.atom_index],
               "stress": jnp.concatenate(stresses)[self.stress_index]}
        return {v: out[v] for v in self.variables}

    def _offset(self, theta):
        if self.reference_energy is None or self.reference_energy not in theta:
            return 0.0
        e0 = jnp.asarray(theta[self.reference_energy])
        if e0.ndim == 0:
            return e0
        if e0.shape != (self.species_counts.shape[1],):
            raise CalibValueError(f"ForceMatching: theta[{self.reference_energy!r}] has shape "
                                  f"{e0.shape}; give a scalar or one value per species "
                                  f"({self.species_counts.shape[1]})")
        return self.species_counts @ e0 / self.n_atoms

    def _bucket(self, theta, bucket: Bucket):
        self.host.traces += 1               # runs once per trace, not per evaluation
        potential, chunk = self.potential, self.chunk

        def local(theta_local, *arrays):
            def one(row):
                return configuration_properties(potential, theta_local, *row)

            # Recomputed in a reverse pass instead of stored: memory bounded by one chunk.
            @jax.checkpoint
            def batch(rows):
                return jax.vmap(one)(rows)

            rows = arrays[0].shape[0]
            size = min(chunk, rows)
            # lax.map needs equal chunks: pad with empty configurations (no atoms, unit cell).
            arrays = _pad_rows(arrays, -rows % size)
            total = arrays[0].shape[0]
            stacked = tuple(a.reshape((total // size, size) + a.shape[1:]) for a in arrays)
            e, f, s = jax.lax.map(batch, stacked)
            return (e.reshape(total)[:rows], f.reshape((total,) + f.shape[2:])[:rows],
                    s.reshape(total, 6)[:rows])

        fields = tuple(getattr(bucket, name) for name in Bucket.__dataclass_fields__)
        sharded = PartitionSpec(AXIS)
        mapped = jax.shard_map(local, mesh=self.mesh, in_specs=(PartitionSpec(),) + (sharded,) * 6,
                               out_specs=(sharded,) * 3, check_vma=False)
        e, f, s = mapped(theta, *fields)
        replicated = NamedSharding(self.mesh, PartitionSpec())
        return tuple(jax.lax.with_sharding_constraint(x, replicated) for x in (e, f, s))

    def _check_conditions(self, conditions) -> None:
        try:
            positions = conditions["positions"]
        except (KeyError, CalibKeyError):
            raise CalibKeyError("ForceMatching: the dataset has no 'positions' coordinate; fit the "
                                "training set this model was built from") from None
        if tuple(np.shape(positions)) != (self.layout.real_atoms, 3) or (
                np.shape(conditions["n_atoms"])[0] != self.n_configurations):
            raise CalibValueError(
                f"ForceMatching: the dataset has {np.shape(conditions['n_atoms'])[0]} configurations "
                f"and {np.shape(positions)[0]} atoms, but the model was built for "
                f"{self.n_configurations} and {self.layout.real_atoms}; build the model from the "
                "dataset you fit")

    def report(self) -> dict:
        """Buckets, padding and host set-up, for a log or a benchmark table."""
        return {"buckets": len(self.buckets), "traces": self.traces, "bounds": self.layout.bounds,
                "rows": self.layout.rows, "capacity": self.layout.capacity,
                "padding_fraction": self.layout.padding_fraction,
                "devices": int(self.mesh.devices.size), "processes": jax.process_count(),
                **self.setup}


def _pad_rows(arrays, pad: int):
    """Append ``pad`` empty configurations to the arrays of a bucket (positions, cell, index,
    shift, species, atom_mask): no atoms, no neighbours, a unit cell."""
    if pad == 0:
        return arrays
    positions, cell, index, shift, species, atom_mask = arrays
    n = positions.shape[1]

    def extend(a, fill):
        return jnp.concatenate([a, jnp.full((pad,) + a.shape[1:], fill, a.dtype)])

    cell = jnp.concatenate([cell, jnp.broadcast_to(jnp.eye(3, dtype=cell.dtype), (pad, 3, 3))])
    return (extend(positions, 0), cell, extend(index, n), extend(shift, 0), extend(species, 0),
            extend(atom_mask, False))


@eqx.filter_jit
def _predict(model: ForceMatching, theta):
    return model._predict(theta)


class _Host:
    """Host-side facts of a :class:`ForceMatching` (compared by identity, so a static field)."""

    def __init__(self, layout: Layout, setup: dict):
        self.layout = layout
        self.setup = setup
        self.traces = 0
