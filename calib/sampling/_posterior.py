r"""The log posterior density of a calibration, in the unconstrained coordinates ``z``.

With the weighted residuals :math:`r(\theta)` of :class:`calib.objective.Objective` (data
:math:`y_i`, uncertainties :math:`\sigma_i`, weights :math:`w_d`) and the Gaussian priors
:math:`(\mu_j, s_j)` of the parameter specs, the posterior of the physical parameters is

.. math:: p(\theta \mid y) \propto \exp\!\Big(-\tfrac12 \sum_i r_i(\theta)^2
          - \tfrac12 \sum_j \big(\tfrac{\theta_j - \mu_j}{s_j}\big)^2\Big)
          \quad (\theta \text{ inside its bounds}),

a parameter without a prior having a flat prior in its physical units. The samplers move the
unconstrained :math:`z` of :class:`calib.parameters.ParameterSpace` (every bound is a transform, so
no proposal leaves the physical range), whose density carries the Jacobian of
:math:`\theta = T(z)`, diagonal because every transform is elementwise:

.. math:: \log p(z \mid y) = -\tfrac12\big(\textstyle\sum_i r_i^2 + \sum_j \text{prior}_j^2\big)
          + \sum_k \log\lvert d\theta_k/dz_k\rvert + \text{const}.

The density is pure JAX (jit-able, differentiable by the inner equilibria's adjoints) and is
:math:`-\infty` wherever the residuals, the Jacobian term or the density itself are not finite: a
physics property whose relaxation failed is NaN (see ``physics.atomistic``), so such a point is
rejected by every sampler. A user model that calls :func:`calib.equilibrium` directly returns the
last state of a failed solve, which may be finite: the samplers therefore also watch the solve
reports (:mod:`calib._monitor`) and flag every draw whose solves failed.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import CalibValueError
from ..data import prepare_all
from ..objective import Objective
from ..parameters import ParameterSpace


class LogPosterior:
    """The log posterior density of ``model`` given ``data`` over the free ``parameters``.

    Build it with :func:`log_posterior`.

    Attributes:
        space: the :class:`ParameterSpace` (every bound a transform: ``bounds_native=False``).
        objective: the :class:`Objective` (linear loss: a Gaussian likelihood).
        datasets: the validated datasets.
        names: the free element names, the order of ``z``.
        z0: the unconstrained start (the specs' values), numpy ``(p,)``.
    """

    def __init__(self, objective: Objective, datasets: list):
        self.objective = objective
        self.space: ParameterSpace = objective.space
        self.datasets = datasets
        self.names: tuple[str, ...] = tuple(self.space.free_names)
        self.z0 = np.asarray(self.space.z0(), dtype=float)
        self.size = self.space.size
        if objective.warm_start:
            raise CalibValueError("log_posterior: a warm-start model (calib.Model(..., "
                                  "warm_start=True)) keeps a state between evaluations, which a "
                                  "sampler's log density cannot; use the plain model function")

    # ------------------------------------------------------------------ the density
    def parts(self, z, data=None):
        """``(log_likelihood, log_prior, log_jacobian)`` at ``z`` (pure JAX, scalars)."""
        data = self.objective.data if data is None else data
        r, prior, _, _ = self.objective.residuals(z, data, None)
        derivative = self.space.derivative(z)
        return (-0.5 * jnp.sum(r ** 2), -0.5 * jnp.sum(prior ** 2),
                jnp.sum(jnp.log(jnp.abs(derivative))))

    def logdensity(self, z, data=None):
        r"""The log density of ``z`` (shape ``(p,)``), up to a constant; :math:`-\infty` where
        anything is not finite. Pure JAX: jit, grad and vmap it."""
        z = jnp.asarray(z)
        likelihood, prior, jacobian = self.parts(z, data)
        value = likelihood + prior + jacobian
        return jnp.where(jnp.isfinite(value), value, -jnp.inf)

    __call__ = logdensity

    # ------------------------------------------------------------------ conversions
    def to_physical(self, z) -> dict[str, Any]:
        """Every parameter's physical value at ``z`` (free, fixed and tied), numpy. ``z`` may carry
        leading batch axes: ``(..., p)``."""
        z = np.asarray(z, dtype=float)
        flat = z.reshape(-1, self.size)
        values = jax.vmap(self.space.values)(jnp.asarray(flat))
        return {name: np.asarray(v).reshape(z.shape[:-1] + np.shape(v)[1:])
                for name, v in values.items()}

    def free_values(self, z) -> np.ndarray:
        """The free elements' physical values, shape ``z.shape``."""
        z = np.asarray(z, dtype=float)
        flat = z.reshape(-1, self.size)
        out = jax.vmap(lambda zz: jnp.concatenate(
            [jnp.ravel(self.space.transforms[s.name].to_physical(zz[self.space.element_slice(s.name)]))
             for s in self.space.free]))(jnp.asarray(flat))
        return np.asarray(out).reshape(z.shape)

    def to_unconstrained(self, values) -> np.ndarray:
        """``z`` of a dict ``name -> physical value`` of the free parameters."""
        return np.asarray(self.space.to_unconstrained(values), dtype=float)

    def units(self) -> dict[str, str | None]:
        """Units of each free element (by element name)."""
        out = {}
        for s in self.space.free:
            sl = self.space.element_slice(s.name)
            for name in self.names[sl]:
                out[name] = s.units
        return out

    def __repr__(self) -> str:
        return (f"LogPosterior({', '.join(self.names)}; {self.objective.n_data} data, "
                f"{self.objective.n_prior} prior terms)")


def log_posterior(model: Callable | Any, data: Any, parameters: Any, *, weights=None,
                  relative_weights: bool = False) -> LogPosterior:
    """The log posterior density of a calibration problem, for the samplers of ``calib.sampling``.

    Args:
        model, data, parameters, weights, relative_weights: as for :func:`calib.fit.fit`
            (``relative_weights=True`` takes every σ as 1: the posterior's width is then not
            meaningful unless the data really have unit uncertainty).

    Returns:
        A :class:`LogPosterior`: ``logdensity(z)``, ``z0``, ``to_physical(z)``, ``names``,
        ``space``, ``objective``.
    """
    datasets = prepare_all(data, weights=weights, relative_weights=relative_weights)
    space = ParameterSpace(parameters, bounds_native=False)
    objective = Objective(model, datasets, space, loss="linear")
    return LogPosterior(objective, datasets)
