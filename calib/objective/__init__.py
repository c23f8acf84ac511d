"""The outer objective: a model's predictions against observed data, weighted by the uncertainties."""

from ._losses import LOSSES
from ._model import Conditions, Model
from ._objective import Objective

__all__ = ["Conditions", "LOSSES", "Model", "Objective"]
