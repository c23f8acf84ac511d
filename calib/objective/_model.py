r"""The model contract: ``model(theta, conditions) -> {variable: prediction}``.

A model is plain JAX code. It may call :func:`calib.equilibrium`, the ``physics`` property functions
or anything else; it receives θ nested by the parameter paths (``theta["clay"]["E"]``) in each
parameter's units, and the dataset's experimental conditions (its coordinates), and returns a
prediction for each observed variable, of the variable's shape.

Units: a plain function must return predictions in the data's units and reads the coordinates in
the data's units. Wrap it in :class:`Model` to declare the units it works in instead: predictions
are then converted to the data's units and coordinates to the declared ones (with pint), so data in
GPa fit a model in eV/Å³ and kPa data a model in MPa.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import CalibKeyError, CalibTypeError


@jax.tree_util.register_pytree_node_class
class Conditions(Mapping):
    """A dataset's coordinates as the model sees them: ``conditions["strain"]`` is a JAX array
    (numeric coordinates) or a numpy array of strings (labels, static).

    Attributes:
        dataset: the dataset's name.
        units: units of each coordinate as passed to the model (``None`` when it has none).
    """

    def __init__(self, numeric: dict, labels: dict, dataset: str, units: dict):
        self._numeric = dict(numeric)
        self._labels = dict(labels)
        self.dataset = dataset
        self.units = dict(units)

    def __getitem__(self, name):
        if name in self._numeric:
            return self._numeric[name]
        if name in self._labels:
            return np.asarray(self._labels[name])
        raise CalibKeyError(
            f"dataset {self.dataset!r}: the model asked for the condition {name!r}, which the dataset "
            f"does not have (its coordinates: {', '.join(self) or 'none'}); add it as a coordinate "
            "of the dataset, or change the model")

    def __iter__(self):
        return iter([*self._numeric, *self._labels])

    def __len__(self):
        return len(self._numeric) + len(self._labels)

    def tree_flatten(self):
        names = tuple(self._numeric)
        labels = tuple((k, tuple(np.ravel(v).tolist()), np.shape(v)) for k, v in self._labels.items())
        return tuple(self._numeric[n] for n in names), (names, labels, self.dataset,
                                                        tuple(self.units.items()))

    @classmethod
    def tree_unflatten(cls, aux, children):
        names, labels, dataset, units = aux
        return cls(dict(zip(names, children)),
                   {k: np.reshape(np.asarray(v, dtype=object), shape) for k, v, shape in labels},
                   dataset, dict(units))

    def __repr__(self):
        return f"Conditions({self.dataset!r}: {', '.join(self)})"


class Model:
    """A model with declared units (optional) and an optional warm-start state.

    Args:
        fn: ``fn(theta, conditions) -> {variable: prediction}``; with ``warm_start=True``,
            ``fn(theta, conditions, state) -> ({variable: prediction}, new_state)``, where ``state``
            is ``None`` at the first evaluation and afterwards the ``new_state`` of the last
            *accepted* outer iterate (e.g. the equilibrium positions, to start the next relaxation
            from). ``state`` is a pytree of arrays; it is not differentiated.
        units: units of the predictions, per variable (``{"B": "eV/angstrom**3"}``); variables
            not listed are in the data's units.
        conditions: units in which the model wants each coordinate (``{"pressure": "MPa"}``);
            coordinates not listed arrive in the data's units. A condition listed here that a
            dataset lacks is an error before the fit starts.
        name: for messages and the result (default: the function's name).
    """

    def __init__(self, fn: Callable, *, units: Mapping[str, str] | None = None,
                 conditions: Mapping[str, str | None] | None = None, warm_start: bool = False,
                 name: str | None = None):
        if isinstance(fn, Model):
            raise CalibTypeError("Model(fn): fn is already a calib.Model")
        if not callable(fn):
            raise CalibTypeError(f"Model: fn must be a callable model(theta, conditions), got "
                                 f"{type(fn).__name__}")
        self.fn = fn
        self.units = dict(units or {})
        self.conditions = dict(conditions or {})
        self.warm_start = bool(warm_start)
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        for where, mapping in (("units", self.units), ("conditions", self.conditions)):
            for key, value in mapping.items():
                if value is not None and not isinstance(value, str):
                    raise CalibTypeError(f"Model {self.name!r}: {where}[{key!r}] must be a units "
                                         f"string such as 'MPa', got {value!r}")
        _check_signature(fn, 3 if self.warm_start else 2, self.name)

    def __call__(self, theta, conditions, state=None, *, fn=None):
        """Predict; ``fn`` replaces :attr:`fn` (the objective passes an equinox-Module model
        rebuilt from its arrays, which travel as arguments of the compiled programs)."""
        fn = self.fn if fn is None else fn
        if self.warm_start:
            out = fn(theta, conditions, state)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise CalibTypeError(f"model {self.name!r} has warm_start=True and must return "
                                     "(predictions, new_state)")
            return out
        return fn(theta, conditions), None

    def __repr__(self):
        return f"Model({self.name})"


def as_model(model: Any) -> Model:
    if isinstance(model, Model):
        return model
    if callable(model):
        # A callable may declare its units itself (e.g. physics.atomistic.ForceMatching), so that
        # it need not be wrapped: attributes ``units`` (and optionally ``conditions``) as in Model.
        units = getattr(model, "units", None)
        conditions = getattr(model, "conditions", None)
        return Model(model, units=units if isinstance(units, Mapping) else None,
                     conditions=conditions if isinstance(conditions, Mapping) else None,
                     name=type(model).__name__ if isinstance(units, Mapping) else None)
    raise CalibTypeError(f"model must be a callable model(theta, conditions) -> {{variable: "
                         f"prediction}} or a calib.Model, got {type(model).__name__}")


def _check_signature(fn, count: int, name: str) -> None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins, some callables: checked when called
        return
    try:
        signature.bind(*range(count))
    except TypeError:
        expected = "(theta, conditions, state)" if count == 3 else "(theta, conditions)"
        raise CalibTypeError(f"model {name!r} must accept {expected}; its signature is "
                             f"{signature}") from None


def as_float(value, *, what: str):
    """A prediction as a floating JAX array (an error names ``what`` otherwise)."""
    try:
        array = jnp.asarray(value)
    except TypeError:
        raise CalibTypeError(f"{what}: the model returned {type(value).__name__}, not an array") from None
    if not jnp.issubdtype(array.dtype, jnp.floating):
        array = array.astype(float)
    return array
