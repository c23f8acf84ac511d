r"""The misfit between a model and observed datasets, as a function of the optimiser's vector ``z``.

For dataset :math:`d` with weight :math:`w_d`, observed variable values :math:`y_i`, uncertainties
:math:`\sigma_i` and predictions :math:`f_i(\theta)`, the weighted residuals are

.. math:: r_i = \sqrt{w_d}\,\frac{f_i(\theta) - y_i}{\sigma_i},

the objective is :math:`\sum_i C^2\rho(r_i^2/C^2) + \sum_j ((\theta_j - \mu_j)/s_j)^2` (robust loss
:math:`\rho`, see ``_losses``; the second sum is the Gaussian prior, making the optimum a MAP
estimate), and χ² is :math:`\sum_i r_i^2`. Residuals are ordered dataset by dataset, variable by
variable, each variable flattened in C order.

Everything here is pure JAX: :meth:`Objective.residuals` is traced once per fit and compiled, with
the data (conditions, observations, σ) passed as arrays rather than baked in as constants.
"""

from __future__ import annotations

from typing import Any, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import CalibKeyError, CalibTypeError, CalibValueError
from ..data import ObservedDataset, conversion
from ..parameters import ParameterSpace
from ._losses import check_loss, robust_sum
from ._model import Conditions, Model, as_float, as_model


class Objective:
    """Weighted residuals of ``model`` against ``datasets`` for the parameters of ``space``.

    Args:
        model: a callable/:class:`Model` for every dataset, or a mapping ``dataset name -> model``.
        datasets: validated datasets (``calib.data.prepare_all``).
        space: the parameters.
        loss, loss_scale: robust loss and its scale :math:`C` (in units of σ).
    """

    def __init__(self, model: Any, datasets: list[ObservedDataset], space: ParameterSpace, *,
                 loss: str = "linear", loss_scale: float = 1.0):
        self.datasets = list(datasets)
        self.space = space
        self.loss, self.loss_scale = check_loss(loss, loss_scale)
        names = [d.name for d in self.datasets]
        if isinstance(model, Mapping):
            unknown = [k for k in model if k not in names]
            missing = [n for n in names if n not in model]
            if unknown or missing:
                raise CalibKeyError(
                    f"model mapping: {'no dataset named ' + repr(unknown[0]) if unknown else ''}"
                    f"{'; ' if unknown and missing else ''}"
                    f"{'no model for dataset ' + repr(missing[0]) if missing else ''}; "
                    f"datasets: {', '.join(names)}")
            self.models = [as_model(model[n]) for n in names]
        else:
            self.models = [as_model(model)] * len(self.datasets)
        self._scales = []  # per dataset: {variable: (scale, offset)} model units -> data units
        conditions = []
        for dataset, m in zip(self.datasets, self.models):
            conditions.append(self._conditions(dataset, m))
            scales = {}
            for name, observation in dataset.observations.items():
                declared = m.units.get(name)
                scales[name] = ((1.0, 0.0) if declared is None else conversion(
                    declared, observation.units,
                    what=f"dataset {dataset.name!r}, variable {name!r} (model {m.name!r} declares "
                         f"units {declared!r})"))
            for name in m.units:
                if not any(name in d.observations for d in self.datasets):
                    raise CalibKeyError(f"model {m.name!r} declares units for {name!r}, which no "
                                        f"dataset observes; observed: "
                                        f"{', '.join(o for d in self.datasets for o in d.observations)}")
            self._scales.append(scales)
        # A model that is an equinox Module (a pytree holding arrays, e.g. a force-matching model
        # with thousands of padded configurations, possibly sharded over devices) passes its
        # arrays to the compiled programs as arguments, like the data: baked in as constants they
        # would be copied into every program and slow its compilation.
        self._model_static, self._model_slot, model_arrays, seen = [], {}, [], {}
        for m in self.models:
            if isinstance(m.fn, eqx.Module):
                key = id(m.fn)
                if key not in seen:
                    arrays, static = eqx.partition(m.fn, eqx.is_array)
                    seen[key] = len(model_arrays)
                    model_arrays.append(arrays)
                    self._model_static.append(static)
                self._model_slot[key] = seen[key]
        self.data = {
            "models": model_arrays,
            "conditions": conditions,
            "observed": [[jnp.asarray(o.values) for o in d.observations.values()] for d in self.datasets],
            "sigma": [[jnp.asarray(o.sigma) for o in d.observations.values()] for d in self.datasets],
        }
        self.n_data = sum(d.size for d in self.datasets)
        self.n_prior = int(sum(np.size(s.value) for s in space.free if s.prior is not None))
        if self.n_data == 0:
            raise CalibValueError("the datasets hold no observed values")
        self.warm_start = any(m.warm_start for m in self.models)

    @staticmethod
    def _conditions(dataset: ObservedDataset, model: Model) -> Conditions:
        for name in model.conditions:
            if name not in dataset.conditions:
                raise CalibKeyError(
                    f"dataset {dataset.name!r}: model {model.name!r} needs the condition {name!r}, "
                    f"which the dataset does not have (its coordinates: "
                    f"{', '.join(dataset.conditions) or 'none'}); add it as a coordinate")
        numeric, labels, units = {}, {}, {}
        for name, values in dataset.conditions.items():
            values = np.asarray(values)
            have = dataset.condition_units.get(name)
            want = model.conditions.get(name, have)
            if values.dtype.kind in "biuf":
                values = values.astype(float)
                if want != have:
                    if have is None:
                        raise CalibValueError(
                            f"dataset {dataset.name!r}: coordinate {name!r} has no units, but model "
                            f"{model.name!r} wants it in {want!r}; add a units attribute to it")
                    scale, offset = conversion(have, want, what=f"dataset {dataset.name!r}, "
                                               f"coordinate {name!r}")
                    values = scale * values + offset
                numeric[name] = jnp.asarray(values)
            else:
                labels[name] = values
            units[name] = want
        return Conditions(numeric, labels, dataset.name, units)

    # ------------------------------------------------------------------ evaluation
    def predictions(self, z, data, states):
        """Predictions in the data's units, per dataset a dict, and the models' new states."""
        values = self.space.values(z)
        theta = self.space.theta(values)
        out, new_states = [], []
        for i, (dataset, m) in enumerate(zip(self.datasets, self.models)):
            fn = None
            if isinstance(m.fn, eqx.Module):
                slot = self._model_slot[id(m.fn)]
                fn = eqx.combine(data["models"][slot], self._model_static[slot])
            raw, new_state = m(theta, data["conditions"][i], None if states is None else states[i],
                               fn=fn)
            if not isinstance(raw, Mapping):
                raise CalibTypeError(f"model {m.name!r} on dataset {dataset.name!r} returned "
                                     f"{type(raw).__name__}; it must return a dict "
                                     "{variable: prediction}")
            predicted = {}
            for name, observation in dataset.observations.items():
                if name not in raw:
                    raise CalibKeyError(
                        f"model {m.name!r} on dataset {dataset.name!r} returned no prediction for "
                        f"the observed variable {name!r} (it returned: {', '.join(map(str, raw)) or 'nothing'})")
                value = as_float(raw[name], what=f"dataset {dataset.name!r}, variable {name!r}")
                if value.shape != observation.values.shape:
                    raise CalibValueError(
                        f"model {m.name!r} on dataset {dataset.name!r}: the prediction of {name!r} has "
                        f"shape {value.shape}, but the data has shape {observation.values.shape} "
                        f"(dims {observation.dims}); return one value per observed point")
                scale, offset = self._scales[i][name]
                predicted[name] = value * scale + offset if (scale, offset) != (1.0, 0.0) else value
            out.append(predicted)
            new_states.append(jax.lax.stop_gradient(new_state))
        return out, new_states, values

    def residuals(self, z, data, states=None):
        """``(r, prior, predictions, new_states)``: weighted residuals ``(n_data,)``, prior
        residuals ``(n_prior,)``."""
        predicted, new_states, values = self.predictions(z, data, states)
        parts = []
        for i, dataset in enumerate(self.datasets):
            root_weight = float(np.sqrt(dataset.weight))
            for j, name in enumerate(dataset.observations):
                r = (predicted[i][name] - data["observed"][i][j]) / data["sigma"][i][j]
                parts.append(jnp.ravel(root_weight * r))
        prior = self.space.prior_residuals(values)
        return jnp.concatenate(parts), prior, predicted, new_states

    def value(self, r, prior):
        """The objective from the residuals: robust data term plus prior."""
        return robust_sum(self.loss, self.loss_scale, r) + jnp.sum(prior ** 2)

    def locate(self, index: int) -> str:
        """Which dataset, variable and coordinates the flat residual ``index`` belongs to."""
        start = 0
        for dataset in self.datasets:
            for name, observation in dataset.observations.items():
                size = observation.values.size
                if index < start + size:
                    where = np.unravel_index(index - start, observation.values.shape) if size > 1 else ()
                    coords = []
                    for dim, k in zip(observation.dims, where):
                        if dim in dataset.conditions and np.ndim(dataset.conditions[dim]) == 1:
                            coords.append(f"{dim}={dataset.conditions[dim][k]}")
                        else:
                            coords.append(f"{dim}[{k}]")
                    at = f" at {', '.join(coords)}" if coords else ""
                    return f"dataset {dataset.name!r}, variable {name!r}{at}"
                start += size
        return f"prior term {index - start}"
