"""The fit's state on disk, written atomically after every accepted outer iteration.

The file (NumPy ``.npz``) holds the last accepted ``z``, the optimiser's own state (the
Levenberg–Marquardt damping, the trust radius, the optax state's leaves), the history so far and a
fingerprint of the problem (parameter names, data, optimiser), so that ``resume=True`` refuses to
continue a different fit. It is written to a temporary file in the same folder, flushed to disk and
renamed over the old one: a run killed at any moment (even by SIGKILL) leaves either the previous or
the new checkpoint, never a torn file, and loses at most the iteration in flight.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile

import jax
import numpy as np

from .._errors import CalibValueError

VERSION = 1


def fingerprint(space, datasets, optimizer: str, loss: str = "linear", loss_scale: float = 1.0) -> str:
    """A hash of what must not change between a checkpoint and its resumption: the optimiser and
    loss, every parameter spec and the map from ``z`` to it (transform kind, bounds, scale), fixed
    values, tied expressions, priors, and every dataset's weight, values, uncertainties and
    coordinates."""
    digest = hashlib.sha256()
    described = {"optimizer": optimizer, "loss": loss, "loss_scale": float(loss_scale),
                 "free": space.free_names, "specs": []}
    for spec in space.specs:
        entry = {"name": spec.name, "type": type(spec).__name__}
        if hasattr(spec, "fixed"):
            entry.update(value=np.ravel(spec.value).tolist() if spec.fixed else None,
                         fixed=spec.fixed, prior=spec.prior, lower=spec.lower, upper=spec.upper)
        else:
            expression = spec.expression
            entry["expression"] = getattr(expression, "text", None) or getattr(
                expression, "__qualname__", repr(expression))
        transform = space.transforms.get(spec.name)
        if transform is not None:
            entry["transform"] = [transform.kind, transform.lower, transform.upper, transform.scale]
        described["specs"].append(entry)
    digest.update(json.dumps(described, default=str, sort_keys=True).encode())
    for dataset in datasets:
        digest.update(f"{dataset.name}:{float(dataset.weight)!r}".encode())
        for name, observation in dataset.observations.items():
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(observation.values).tobytes())
            digest.update(np.ascontiguousarray(observation.sigma).tobytes())
        for name, values in dataset.conditions.items():
            digest.update(name.encode())
            digest.update(np.asarray(values).astype(str).tobytes() if np.asarray(values).dtype.kind
                          not in "biuf" else np.ascontiguousarray(values, dtype=float).tobytes())
    return digest.hexdigest()[:16]


def write(path: pathlib.Path, *, z, iteration: int, fingerprint: str, optimizer: str,
          history: dict, state: dict) -> None:
    # In a distributed fit every process runs the same iterations on the same (replicated)
    # values; one writer is enough, and several would race on the same file.
    if jax.process_index() != 0:
        return
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"z": np.asarray(z, dtype=float), "iteration": np.asarray(iteration),
              "version": np.asarray(VERSION), "fingerprint": np.asarray(fingerprint),
              "optimizer": np.asarray(optimizer)}
    arrays.update({f"history.{k}": np.asarray(v) for k, v in history.items()})
    arrays.update({f"state.{k}": np.asarray(v) for k, v in state.items()})
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def read(path: pathlib.Path, *, fingerprint: str, optimizer: str) -> dict | None:
    """The checkpoint at ``path`` (None if there is none); an error if it belongs to another fit."""
    path = pathlib.Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as file:
            data = {key: file[key] for key in file.files}
    except Exception as error:  # a file that is not ours
        raise CalibValueError(f"checkpoint {str(path)!r} cannot be read ({error}); delete it or "
                              "choose another checkpoint path") from None
    if int(data.get("version", -1)) != VERSION:
        raise CalibValueError(f"checkpoint {str(path)!r} was written by another version; delete it")
    if str(data["optimizer"]) != optimizer or str(data["fingerprint"]) != fingerprint:
        raise CalibValueError(
            f"checkpoint {str(path)!r} belongs to a different fit (optimizer "
            f"{str(data['optimizer'])!r}, other parameters or data); delete it, pass resume=False "
            "to start afresh, or choose another checkpoint path")
    return {
        "z": data["z"], "iteration": int(data["iteration"]),
        "history": {k[len("history."):]: v for k, v in data.items() if k.startswith("history.")},
        "state": {k[len("state."):]: v for k, v in data.items() if k.startswith("state.")},
    }
