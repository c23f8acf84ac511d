"""Finite elements for solid and soil mechanics: meshes, materials, supports, loads and the energy.

A :class:`Model` turns a mesh, strain-energy densities per region, supports and loads into the total
potential energy ``Model.energy(u, theta, loading)`` of the free displacement DOFs, with its sparse
tangent ``Model.hessian`` for :class:`calib.SparseNewton`. Consistent units throughout (e.g. kPa,
m, kN/m³); in 2D (plane strain) energies and forces are per unit thickness.
"""

from ._boundary import BodyForce, Dirichlet, Pressure, Traction, gravity
from ._elements import ELEMENTS, Quadrature, ReferenceElement
from ._generators import annulus, assign_layers, assign_regions, box, plate_with_hole, rectangle
from ._houlsby_amorosi_rojas import HoulsbyAmorosiRojas
from ._lame import lame_from_bulk_shear, lame_from_young_poisson
from ._linear_elastic import LinearElastic
from ._material import Material
from ._neo_hookean import NeoHookean
from ._user_materials import FiniteStrain, SmallStrain
from ._mesh import Mesh
from ._meshio import from_meshio, read_mesh, to_meshio, write_mesh
from ._norms import energy_error, l2_error
from ._model import Discretisation, Loading, Model
from ._rigid_modes import rigid_body_modes

__all__ = [
    "BodyForce", "Dirichlet", "Discretisation", "ELEMENTS", "energy_error", "l2_error", "FiniteStrain", "HoulsbyAmorosiRojas", "LinearElastic",
    "Loading", "Material", "Mesh", "Model", "NeoHookean", "Pressure", "Quadrature",
    "ReferenceElement", "SmallStrain", "Traction", "annulus", "assign_layers", "assign_regions", "box",
    "from_meshio", "gravity", "lame_from_bulk_shear", "lame_from_young_poisson", "plate_with_hole",
    "read_mesh", "rectangle", "rigid_body_modes", "to_meshio", "write_mesh",
]
