"""Bookkeeping shared by the outer optimisers: history, checkpoints, progress bar and the user's
callback, all updated once per outer iteration."""

from __future__ import annotations

import dataclasses
import math
import pathlib
import sys
from typing import Callable

import numpy as np

from .._errors import CalibError
from . import _checkpoint


class FitError(CalibError, RuntimeError):
    """The fit cannot go on: an inner solve keeps failing, or the start is not evaluable."""


class StopFit(Exception):
    """Raised inside an optimiser's loop to end it (the callback asked, or the budget ran out)."""


@dataclasses.dataclass(frozen=True)
class IterationInfo:
    """What the callback receives after each accepted outer iteration.

    Attributes:
        iteration: accepted iterations so far.
        loss: objective at the new iterate.
        step_norm: ``||dz||`` of the step that led here (0 at the start).
        values: every parameter's physical value (numpy), by path.
        z: the optimiser's unconstrained vector.
        inner_steps: inner solver steps spent in this iteration's evaluations.
    """

    iteration: int
    loss: float
    step_norm: float
    values: dict
    z: np.ndarray
    inner_steps: int


class Tracker:
    """History, checkpoint, progress and callback of one optimiser run."""

    def __init__(self, *, space, optimizer: str, fingerprint: str, checkpoint: pathlib.Path | None,
                 progress: bool | None, callback: Callable | None, start_iteration: int = 0,
                 history: dict | None = None, max_iterations: int):
        self.space = space
        self.optimizer = optimizer
        self.fingerprint = fingerprint
        self.checkpoint = checkpoint
        self.callback = callback
        self.iteration = start_iteration
        self.max_iterations = max_iterations
        self.history = {k: list(np.asarray(v).tolist()) for k, v in (history or {}).items()}
        for key in ("loss", "step_norm", "inner_steps", "accepted", "trust_radius"):
            self.history.setdefault(key, [])
        self.stopped_by_callback = False
        self._pending_steps = 0
        self._bar = None
        # tqdm's disable=None turns the bar off when stderr is not a terminal (CI, logs, pipes).
        if progress is not False:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=max_iterations, initial=start_iteration, desc=f"fit ({optimizer})",
                             unit="it", disable=None if progress is None else False, file=sys.stderr,
                             leave=False)

    def spent(self, inner_steps: int) -> None:
        """Inner steps of an evaluation (accepted or not) in the current iteration."""
        self._pending_steps += int(inner_steps)

    def rejected(self, loss: float, step_norm: float, radius: float) -> None:
        self._append(loss, step_norm, False, radius)

    def _append(self, loss, step_norm, accepted, radius):
        h = self.history
        h["loss"].append(float(loss) if math.isfinite(loss) else float("nan"))
        h["step_norm"].append(float(step_norm))
        h["inner_steps"].append(self._pending_steps)
        h["accepted"].append(bool(accepted))
        h["trust_radius"].append(float(radius))
        self._pending_steps = 0

    def accepted(self, z, loss: float, step_norm: float, radius: float, state: dict,
                 *, initial: bool = False) -> None:
        """Record an accepted iterate; write the checkpoint; call the callback (may raise StopFit)."""
        inner = self._pending_steps
        self._append(loss, step_norm, True, radius)
        if not initial:
            self.iteration += 1
        if self.checkpoint is not None:
            _checkpoint.write(self.checkpoint, z=z, iteration=self.iteration,
                              fingerprint=self.fingerprint, optimizer=self.optimizer,
                              history=self.history_arrays(), state=state)
        if self._bar is not None:
            if not initial:
                self._bar.update(1)
            self._bar.set_postfix(loss=f"{loss:.4g}", step=f"{step_norm:.2g}", inner=inner)
        if self.callback is not None and not initial:
            import jax.numpy as jnp
            values = {k: np.asarray(v) for k, v in self.space.values(jnp.asarray(z)).items()}
            if self.callback(IterationInfo(self.iteration, float(loss), float(step_norm), values,
                                           np.asarray(z), inner)):
                self.stopped_by_callback = True
                raise StopFit("stopped by the callback")
        if self.iteration >= self.max_iterations:
            raise StopFit(f"reached max_iterations={self.max_iterations}")

    def history_arrays(self) -> dict[str, np.ndarray]:
        return {"loss": np.asarray(self.history["loss"], dtype=float),
                "step_norm": np.asarray(self.history["step_norm"], dtype=float),
                "inner_steps": np.asarray(self.history["inner_steps"], dtype=np.int64),
                "accepted": np.asarray(self.history["accepted"], dtype=bool),
                "trust_radius": np.asarray(self.history["trust_radius"], dtype=float)}

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
