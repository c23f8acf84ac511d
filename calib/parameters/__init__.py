"""Parameter specifications of a calibration: bounds, transforms, units, priors, fixed and tied."""

from ._expression import Expression
from ._space import ParameterSpace, as_specs
from ._spec import Parameter, Tied
from ._transforms import TRANSFORMS, Transform

__all__ = ["Expression", "Parameter", "ParameterSpace", "TRANSFORMS", "Tied", "Transform", "as_specs"]
