r"""A solid-mechanics finite-element model: the total potential energy of a displacement field.

.. math::

    \Pi(u; \theta) = \sum_{\text{cells}} \sum_q w_q \det J_q \; W\big(\nabla u(X_q); \theta_{r}\big)
                     \;-\; f \cdot u,

with :math:`W` the strain-energy density of the cell's region :math:`r`, :math:`\nabla u` the
displacement gradient at quadrature point :math:`X_q` (plane strain in 2D: padded to 3×3 with zeros)
and :math:`f` the consistent nodal forces of the dead loads. The state is the vector of *free*
displacement DOFs; prescribed ones come from :class:`Loading` (so load stepping and imposed motions
are data, not recompilation). In 2D every quantity is per unit thickness.

``Model.energy(u, theta, loading)`` has the signature of :func:`calib.equilibrium`, and
``Model.hessian`` is its :class:`calib.SparseHessian` (element Hessians by ``vmap(jax.hessian)``,
scattered into a precomputed CSR pattern), which :class:`calib.SparseNewton` factorises.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import calib

from ._assembly import element_dofs, sparsity_pattern
from ._boundary import BodyForce, Dirichlet, Pressure, Traction
from ._elements import ELEMENTS, FACET_OF, cell_geometry, facet_geometry
from ._material import Material
from ._rigid_modes import check_supports_hold_rigid_motions, rigid_body_modes
from calib._errors import CalibTypeError, CalibValueError


class RegionArrays(NamedTuple):
    """Per-region cell data: ``dofs`` ``(c, k dim)`` global DOFs, ``grads`` ``(c, q, k, dim)`` shape
    function gradients, ``weights`` ``(c, q)`` quadrature weights times Jacobians."""

    dofs: jax.Array
    grads: jax.Array
    weights: jax.Array


class Discretisation(NamedTuple):
    """The model's mesh arrays, passed to the energy as data.

    Arrays closed over by a compiled function become constants of the program, which XLA folds at
    compile time: minutes for a 10⁶-DOF mesh. Passed as arguments they cost nothing to compile.
    """

    regions: tuple
    free_dofs: jax.Array  # (n_free,) global DOFs of the state vector
    fixed_dofs: jax.Array  # (n_fixed,)
    entries: jax.Array  # (m,) element-matrix entries that land in the free-DOF tangent
    targets: jax.Array  # (m,) their positions in the CSR values (sorted)


class Loading(NamedTuple):
    """A load case: the data argument of :meth:`Model.energy` (floating arrays are differentiable).

    Attributes:
        forces: ``(n_free,)`` consistent nodal forces on the free DOFs (force units; per unit
            thickness in 2D).
        prescribed: ``(n_fixed,)`` prescribed displacements of the fixed DOFs (length units), in
            the order of :attr:`Model.fixed_dofs`.
        arrays: the model's :class:`Discretisation` (from :meth:`Model.loading`).
    """

    forces: jax.Array
    prescribed: jax.Array
    arrays: Discretisation

    def scaled(self, factor) -> "Loading":
        """Every load and prescribed displacement times ``factor`` (load stepping)."""
        return self._replace(forces=self.forces * factor, prescribed=self.prescribed * factor)


class _Region(NamedTuple):
    name: str
    material: Material
    cells: np.ndarray  # indices into mesh.cells
    dofs: np.ndarray  # (c, k * dim) global DOFs
    grads: np.ndarray  # (c, q, k, dim)
    weights: np.ndarray  # (c, q)


def _pad(grad, dim):
    """A (dim, dim) displacement gradient as the (3, 3) one of plane strain (zero out-of-plane)."""
    if dim == 3:
        return grad
    return jnp.zeros(grad.shape[:-2] + (3, 3), grad.dtype).at[..., :dim, :dim].set(grad)


def _warn_load_steps(steps: int, results) -> None:
    """Host side: name the first intermediate load step that did not converge."""
    failed = np.flatnonzero(np.asarray(results) != calib.RESULTS.successful)
    if failed.size and not calib.reporting_quietly():  # a running fit reports it itself
        step = int(failed[0])
        warnings.warn(f"Model.solve: load step {step + 1} of {steps} did not converge "
                      f"({calib.RESULTS.message(int(np.asarray(results)[step]))}); the next step "
                      "started from its state. Use more load steps or a larger max_steps.",
                      calib.NonConvergenceWarning, stacklevel=2)


class Model:
    """A finite-element model of a solid: mesh, materials per region, supports and loads.

    Args:
        mesh: a :class:`physics.fem.Mesh` (``triangle``, ``triangle6`` or ``tetra`` cells).
        material: one :class:`physics.fem.Material` for every cell (then ``theta`` is a flat dict of
            its parameters), or ``{region_name: material}`` covering every region of the mesh (then
            ``theta`` is ``{region_name: {parameter: value}}``: soil layers).
        supports: :class:`Dirichlet` conditions. A DOF named twice must get the same value.
            Together they must hold every rigid-body motion (2 translations and 1 rotation in
            2D, 3 and 3 in 3D) of every connected part of the mesh, or the stiffness would be
            singular; a ``ValueError`` names the motions left free.
        loads: :class:`Pressure`, :class:`Traction` and :class:`BodyForce` (e.g. :func:`gravity`).
        quadrature_degree: degree of the cell rule; default: exact for the stiffness of straight
            cells (1 for linear, 2 for quadratic elements).

    Instances hash by identity; build one per problem and reuse it (its energy is a static argument
    of the compiled solve).
    """

    def __init__(self, mesh, material, *, supports: Sequence[Dirichlet] = (),
                 loads: Sequence[Pressure | Traction | BodyForce] = (),
                 quadrature_degree: int | None = None):
        if mesh.cell_type not in FACET_OF:
            raise CalibValueError(f"Model: unsupported cell type {mesh.cell_type!r}; use triangle, "
                                  "triangle6 or tetra")
        self.mesh = mesh
        self.dim = mesh.dim
        self.element = ELEMENTS[mesh.cell_type]
        self.quadrature = self.element.quadrature(quadrature_degree)
        self.single_material = isinstance(material, Material)
        self.regions = self._regions(material)
        self._fixed, self._prescribed = self._supports(supports)
        n_dof = mesh.n_nodes * self.dim
        self.n_dof = n_dof
        is_free = np.ones(n_dof, dtype=bool)
        is_free[self._fixed] = False
        self.free_dofs = np.flatnonzero(is_free)
        self.dof_to_free = np.full(n_dof, -1, dtype=np.int64)
        self.dof_to_free[self.free_dofs] = np.arange(self.free_dofs.size)
        if self.free_dofs.size == 0:
            raise CalibValueError("Model: every DOF is prescribed; nothing to solve for")
        # A rigid motion left free makes the stiffness singular: the solve would wander off to
        # |u| ~ 1e13 and report only that it ran out of steps.
        check_supports_hold_rigid_motions(mesh, self._fixed)
        self._forces = self._assemble_loads(loads)

    # Construction ------------------------------------------------------------------------------
    def _regions(self, material) -> list[_Region]:
        mesh = self.mesh
        if isinstance(material, Material):
            assignment = {"all": (material, np.arange(mesh.n_cells))}
        elif isinstance(material, Mapping):
            assignment = {}
            covered = np.zeros(mesh.n_cells, dtype=bool)
            for name, mat in material.items():
                if not isinstance(mat, Material):
                    raise CalibTypeError(f"Model: material for region {name!r} must be a Material, got "
                                         f"{type(mat).__name__}")
                if name not in mesh.region_names:
                    raise CalibValueError(f"Model: the mesh has no region {name!r}; its regions are "
                                          f"{sorted(mesh.region_names)}")
                cells = np.asarray(mesh.region_cells(name))
                if covered[cells].any():
                    raise CalibValueError(f"Model: region {name!r} overlaps another region's cells")
                covered[cells] = True
                assignment[name] = (mat, cells)
            if not covered.all():
                missing = sorted({name for name, tag in mesh.region_names.items()
                                  if np.any(~covered[mesh.cell_tags == tag])})
                raise CalibValueError(f"Model: {int((~covered).sum())} cells have no material (regions "
                                      f"{missing or 'untagged'}); give a material for every region")
        else:
            raise CalibTypeError(f"Model: material must be a Material or a dict region -> Material, got "
                                 f"{type(material).__name__}")
        grads, weights, _ = cell_geometry(mesh.points, mesh.cells, self.element, self.quadrature)
        dofs = element_dofs(mesh.cells, self.dim)
        return [_Region(name, mat, cells, dofs[cells], grads[cells], weights[cells])
                for name, (mat, cells) in assignment.items()]

    def _supports(self, supports):
        mesh = self.mesh
        dofs, values, owners = [], [], []
        for support in supports:
            if not isinstance(support, Dirichlet):
                raise CalibTypeError(f"Model: supports must be Dirichlet conditions, got {support!r}")
            d, v = support.resolve(mesh)
            dofs.append(d)
            values.append(v)
            owners.append(np.full(d.size, len(owners)))
        # Nodes that belong to no cell carry no stiffness: hold them at zero.
        used = np.zeros(mesh.n_nodes, dtype=bool)
        used[np.unique(mesh.cells)] = True
        unused = element_dofs(np.flatnonzero(~used)[:, None], self.dim).ravel()
        dofs.append(unused)
        values.append(np.zeros(unused.size))
        owners.append(np.full(unused.size, -1))
        dofs, values, owners = (np.concatenate(a) for a in (dofs, values, owners))
        order = np.argsort(dofs, kind="stable")
        dofs, values, owners = dofs[order], values[order], owners[order]
        first = np.ones(dofs.size, dtype=bool)
        first[1:] = dofs[1:] != dofs[:-1]
        starts = np.flatnonzero(first)
        group_max = np.maximum.reduceat(values, starts) if dofs.size else values
        group_min = np.minimum.reduceat(values, starts) if dofs.size else values
        clash = np.flatnonzero(~np.isclose(group_max, group_min, rtol=1e-12, atol=1e-14))
        if clash.size:
            dof = int(dofs[starts[clash[0]]])
            names = sorted({repr(supports[o].boundary) for o in owners[dofs == dof] if o >= 0})
            raise CalibValueError(f"Model: DOF {dof} (node {dof // self.dim}, component {dof % self.dim}) "
                                  f"gets different prescribed values from the supports on {names}")
        return dofs[starts], values[starts]

    def _assemble_loads(self, loads) -> np.ndarray:
        mesh, dim = self.mesh, self.dim
        forces = np.zeros(self.n_dof)
        facet_element = ELEMENTS[FACET_OF[mesh.cell_type]]
        facet_rule = facet_element.quadrature(2 * facet_element.order + 1)
        for load in loads:
            if isinstance(load, (Pressure, Traction)):
                facets = mesh.boundaries.get(load.boundary) if isinstance(load.boundary, str) else None
                if facets is None:
                    raise CalibValueError(f"Model: {type(load).__name__} on unknown boundary "
                                          f"{load.boundary!r}; the mesh has {sorted(mesh.boundaries)}")
                n, w, normals, positions = facet_geometry(mesh.points, facets, facet_element,
                                                          facet_rule)
                traction = load.traction(positions, normals, dim)  # (f, q, dim)
                nodal = np.einsum("qk,fq,fqi->fki", n, w, traction)
                np.add.at(forces, element_dofs(facets, dim).ravel(), nodal.ravel())
            elif isinstance(load, BodyForce):
                names = [r.name for r in self.regions] if load.regions is None else list(load.regions)
                rule = self.element.quadrature(2 * self.element.order)
                for name in names:
                    cells = (np.arange(mesh.n_cells) if name == "all" else
                             np.asarray(mesh.region_cells(name)))
                    _, w, n = cell_geometry(mesh.points, mesh.cells[cells], self.element, rule)
                    positions = np.einsum("qk,cka->cqa", n, mesh.points[mesh.cells[cells]])
                    if callable(load.value):
                        b = np.asarray(load.value(positions.reshape(-1, dim)), float)
                        b = b.reshape(len(cells), -1, dim)
                    else:
                        b = np.broadcast_to(np.asarray(load.value, float), (dim,))[None, None, :]
                    nodal = np.einsum("qk,cq,cqi->cki", n, w, np.broadcast_to(b, positions.shape))
                    np.add.at(forces, element_dofs(mesh.cells[cells], dim).ravel(), nodal.ravel())
            else:
                raise CalibTypeError(f"Model: loads must be Pressure, Traction or BodyForce, got {load!r}")
        return forces

    # Sizes and load cases -----------------------------------------------------------------------
    @property
    def n_free(self) -> int:
        return int(self.free_dofs.size)

    @property
    def fixed_dofs(self) -> np.ndarray:
        return self._fixed

    @functools.cached_property
    def arrays(self) -> Discretisation:
        """The mesh arrays as JAX arrays (built once, concrete even when first asked for inside
        ``jit``). Inside a compiled function, pass a :class:`Loading` made outside it as an
        argument: arrays captured by the trace become constants that XLA folds slowly."""
        pattern = self.pattern
        with jax.ensure_compile_time_eval():
            regions = tuple(RegionArrays(jnp.asarray(r.dofs), jnp.asarray(r.grads),
                                         jnp.asarray(r.weights)) for r in self.regions)
            return Discretisation(regions, jnp.asarray(self.free_dofs), jnp.asarray(self._fixed),
                                  jnp.asarray(pattern.entries), jnp.asarray(pattern.targets))

    def loading(self, factor: float = 1.0) -> Loading:
        """The load case of ``supports`` and ``loads``, times ``factor``."""
        return Loading(jnp.asarray(self._forces[self.free_dofs] * factor),
                       jnp.asarray(self._prescribed * factor), self.arrays)

    def zeros(self) -> jax.Array:
        """The reference state (no displacement): a start for :func:`calib.equilibrium`."""
        return jnp.zeros(self.n_free)

    def _parameters_by_region(self, theta: Any):
        """``(region, its theta, its name for messages)`` for each region, after checking that a
        multi-region ``theta`` is a mapping with an entry per region."""
        if self.single_material:
            region = self.regions[0]
            return [(region, theta, f"Model region {region.name!r}")]
        if not isinstance(theta, Mapping):
            raise CalibTypeError(f"Model: theta must be a dict region -> parameters, got "
                                 f"{type(theta).__name__}")
        for region in self.regions:
            if region.name not in theta:
                raise CalibValueError(f"Model: theta has no parameters for region {region.name!r}; "
                                      f"give {{{region.name!r}: {{...}}}}")
        return [(region, theta[region.name], f"Model region {region.name!r}")
                for region in self.regions]

    def check_parameters(self, theta: Any) -> None:
        """Raise a clear error when ``theta`` lacks a parameter or has an inadmissible value.

        Host side: names, structure and the values that are concrete; traced values (inside
        ``jit``/``grad``) are checked at run time by :meth:`checked`, which :meth:`solve` calls.
        """
        for region, theta_r, where in self._parameters_by_region(theta):
            region.material.check_parameters(theta_r, where=where)

    def checked(self, theta: Any) -> Any:
        """``theta`` unchanged, after :meth:`check_parameters`, with a run-time check of the values
        that are traced.

        Inside ``jit``/``grad``/``vmap`` (where an optimiser calls :meth:`solve`) the values cannot
        be read on the host; one :func:`equinox.branched_error_if` per region then raises, if the
        compiled computation runs on a value outside its material's range (e.g. ``nu = 0.5``,
        ``E < 0``, a ``nan``), a runtime error naming the region, the material, the parameter, the
        range and the fix, instead of a solver that quietly returns nonsense. Pass the returned
        ``theta`` on (e.g. to :func:`calib.equilibrium` with :meth:`energy`) so that the check is
        part of the computation; derivatives flow through it unchanged.
        """
        by_region = self._parameters_by_region(theta)
        if self.single_material:
            region, theta_r, where = by_region[0]
            return region.material.checked(theta_r, where=where)
        checked = dict(theta)
        for region, theta_r, where in by_region:
            checked[region.name] = region.material.checked(theta_r, where=where)
        return checked

    # The energy -------------------------------------------------------------------------------
    def _theta(self, theta, region: _Region):
        return theta if self.single_material else theta[region.name]

    def full_displacement(self, u: jax.Array, loading: Loading) -> jax.Array:
        """``(n_dof,)`` all DOFs: the free ones from ``u``, the fixed ones from ``loading``."""
        arrays = loading.arrays
        full = jnp.zeros(self.n_dof, u.dtype)
        full = full.at[arrays.free_dofs].set(u, unique_indices=True)
        return full.at[arrays.fixed_dofs].set(jnp.asarray(loading.prescribed, u.dtype),
                                              unique_indices=True)

    def displacement(self, u: jax.Array, loading: Loading) -> jax.Array:
        """Nodal displacements ``(n_nodes, dim)``."""
        return self.full_displacement(u, loading).reshape(-1, self.dim)

    def _gradients(self, arrays: RegionArrays, full: jax.Array) -> jax.Array:
        k = self.element.n_nodes
        ue = full[arrays.dofs].reshape(-1, k, self.dim)
        return jnp.einsum("cqka,cki->cqia", arrays.grads, ue)

    def strain_energy(self, u: jax.Array, theta: Any, loading: Loading) -> jax.Array:
        """Stored energy :math:`\\int W\\,dV` (energy units; per unit thickness in 2D)."""
        full = self.full_displacement(u, loading)
        total = 0.0
        for region, arrays in zip(self.regions, loading.arrays.regions):
            grad = _pad(self._gradients(arrays, full), self.dim)
            density = jax.vmap(jax.vmap(region.material.density, (0, None)), (0, None))
            total = total + jnp.sum(density(grad, self._theta(theta, region)) * arrays.weights)
        return total

    def energy(self, u: jax.Array, theta: Any, loading: Loading) -> jax.Array:
        r"""Total potential energy :math:`\Pi(u;\theta)` of the free DOFs ``u`` ``(n_free,)``."""
        return self.strain_energy(u, theta, loading) - jnp.vdot(loading.forces, u)

    # The sparse tangent -------------------------------------------------------------------------
    @functools.cached_property
    def pattern(self):
        free_of_cells = np.concatenate([self.dof_to_free[r.dofs] for r in self.regions])
        return sparsity_pattern(free_of_cells, self.n_free)

    def _element_hessians(self, region: _Region, arrays: RegionArrays, full: jax.Array,
                          theta_r) -> jax.Array:
        r"""Element stiffness matrices ``(c, k dim, k dim)``, node-major:
        :math:`K_{(a i)(b j)} = \sum_q w_q\, \partial_\alpha N_a\, C_{i\alpha j\beta}\, \partial_\beta N_b`
        with the material tangent :math:`C = \partial^2 W / \partial(\nabla u)^2` at each point
        (2–3 times faster than differentiating the whole element energy twice)."""
        k, dim = self.element.n_nodes, self.dim
        material = region.material

        def point_energy(grad):
            return material.density(_pad(grad, dim), theta_r)

        grad = self._gradients(arrays, full)
        tangent = jax.vmap(jax.vmap(jax.hessian(point_energy)))(grad)  # (c, q, dim, dim, dim, dim)
        stiffness = jnp.einsum("cq,cqka,cqiajb,cqlb->ckilj", arrays.weights, arrays.grads, tangent,
                               arrays.grads)
        return stiffness.reshape(-1, k * dim, k * dim)

    def hessian_values(self, u: jax.Array, theta: Any, loading: Loading) -> jax.Array:
        """The ``(nnz,)`` values of the free-DOF tangent stiffness in :attr:`pattern`'s order."""
        full = self.full_displacement(u, loading)
        arrays = loading.arrays
        blocks = [self._element_hessians(r, a, full, self._theta(theta, r)).reshape(-1)
                  for r, a in zip(self.regions, arrays.regions)]
        flat = jnp.concatenate(blocks) if len(blocks) > 1 else blocks[0]
        return jax.ops.segment_sum(flat[arrays.entries], arrays.targets, self.pattern.nnz,
                                   indices_are_sorted=True)

    @functools.cached_property
    def hessian(self) -> calib.SparseHessian:
        """The :class:`calib.SparseHessian` of :meth:`energy` (rigid-body modes as near-null space)."""
        modes = rigid_body_modes(self.mesh.points)[self.free_dofs]
        return calib.SparseHessian(self.pattern.indptr, self.pattern.indices, self.hessian_values,
                                   near_nullspace=modes)

    def stiffness_matrix(self, u, theta, loading):
        """The scipy CSR tangent stiffness of the free DOFs at ``u``."""
        return self.hessian.matrix(np.asarray(self.hessian_values(u, theta, loading)))

    # Solving ----------------------------------------------------------------------------------
    def newton(self, **options) -> calib.SparseNewton:
        """A :class:`calib.SparseNewton` on this model's tangent; ``options`` as in that class."""
        return calib.SparseNewton(hessian=self.hessian, **options)

    def solve(self, theta: Any, loading: Loading | None = None, *, u0=None, steps: int = 1,
              solver: calib.AbstractSolver | None = None, adjoint=None, throw: bool = False,
              warn: bool = True) -> calib.Solution:
        """Equilibrium displacement for ``theta``, by :func:`calib.equilibrium`.

        Args:
            theta: material parameters (see the class docstring).
            loading: the load case (default: :meth:`loading` at factor 1).
            u0: start (default: zero displacement).
            steps: load steps: the loads are applied in ``steps`` equal increments, each solve
                starting from the previous solution (for large, nonlinear loads).
            solver: default :meth:`newton` with its defaults.
            adjoint, throw, warn: as in :func:`calib.equilibrium`.

        Returns the :class:`calib.Solution` of the last step; ``Solution.x`` is the free-DOF vector
        (:meth:`displacement` gives the nodal field). Differentiable in ``theta`` and ``loading``.

        Raises:
            KeyError, ValueError: ``theta`` misses a parameter or has a concrete value out of range
                (:meth:`check_parameters`).
            RuntimeError: under ``jit``/``grad``, when a traced parameter is out of range or not
                finite (:meth:`checked`; ``jax.errors.JaxRuntimeError`` under ``jax.jit``); the
                message names the region, the material, the parameter and its range.
        """
        if not (isinstance(steps, int) and steps >= 1):
            raise CalibValueError(f"Model.solve: steps must be a positive integer, got {steps!r}")
        # Names and concrete values on the host; traced values (an optimiser's) at run time.
        theta = self.checked(theta)
        loading = self.loading() if loading is None else loading
        solver = self.newton() if solver is None else solver
        u = self.zeros() if u0 is None else jnp.asarray(u0)
        if steps > 1:
            # Intermediate load steps only provide a start: no derivative flows through them, and
            # one compiled copy serves them all.
            fixed_theta, fixed_loading = jax.lax.stop_gradient((theta, loading))

            def intermediate(u, factor):
                solution = calib.equilibrium(self.energy, u, fixed_theta,
                                             fixed_loading.scaled(factor), solver=solver,
                                             adjoint=adjoint, throw=throw, warn=False)
                return jax.lax.stop_gradient(solution.x), solution.result

            factors = jnp.arange(1, steps, dtype=u.dtype) / steps
            u, results = jax.lax.scan(intermediate, u, factors)
            if warn and not throw:
                jax.debug.callback(functools.partial(_warn_load_steps, steps), results)
        return calib.equilibrium(self.energy, u, theta, loading, solver=solver, adjoint=adjoint,
                                 throw=throw, warn=warn)

    # Post-processing --------------------------------------------------------------------------
    def stress(self, u: jax.Array, theta: Any, loading: Loading) -> jax.Array:
        """Stress (``density``'s derivative: Cauchy in small strain, first Piola–Kirchhoff in finite
        strain) averaged over each cell's quadrature points, ``(n_cells, 3, 3)`` in mesh order."""
        return self._stress(u, theta, loading)

    @functools.partial(jax.jit, static_argnums=0)
    def _stress(self, u, theta, loading):
        full = self.full_displacement(u, loading)
        out = jnp.zeros((self.mesh.n_cells, 3, 3), full.dtype)
        for region, arrays in zip(self.regions, loading.arrays.regions):
            grad = _pad(self._gradients(arrays, full), self.dim)
            stress = jax.vmap(jax.vmap(region.material.stress, (0, None)), (0, None))(
                grad, self._theta(theta, region))
            mean = jnp.sum(stress * arrays.weights[..., None, None], axis=1) / jnp.sum(
                arrays.weights, axis=1)[:, None, None]
            out = out.at[region.cells].set(mean)
        return out

    def reactions(self, u: jax.Array, theta: Any, loading: Loading) -> jax.Array:
        """Internal forces at the fixed DOFs, ``(n_fixed,)`` in the order of :attr:`fixed_dofs`:
        :math:`\\partial W_{int} / \\partial u_{fixed}`, the support reactions (force units). A load
        applied on a supported DOF goes straight into the support and is not included."""
        def stored(prescribed):
            return self.strain_energy(u, theta, loading._replace(prescribed=prescribed))

        return jax.grad(stored)(jnp.asarray(loading.prescribed, u.dtype))

    def __repr__(self):
        regions = ", ".join(f"{r.name}: {type(r.material).__name__}" for r in self.regions)
        return (f"Model({self.mesh.cell_type}, {self.mesh.n_nodes} nodes, {self.n_free} free DOFs, "
                f"{regions})")
