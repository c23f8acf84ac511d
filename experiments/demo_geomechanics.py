r"""Geomechanics calibration demos: HAR element tests, a borehole (thick cylinder), a strip footing.

Three kinds of measurement, each fitted with ``calib.fit`` against synthetic data that do **not**
come from the code that is fitted:

* **Element tests** on the Houlsby–Amorosi–Rojas (HAR) soil, homogeneous states: isotropic
  compression (mean effective pressure :math:`p` against volumetric strain :math:`\varepsilon_v`)
  and an oedometer (axial and lateral stresses :math:`\sigma_v, \sigma_h` against axial strain
  :math:`\varepsilon_a`, no lateral strain). The data come from the closed-form laws below, written
  from the paper's free energy in its own variables (:math:`a`, :math:`\bar a`, :math:`C`); the
  fitted model evaluates the package's material (``physics.fem.HoulsbyAmorosiRojas.stress``, the
  derivative of its FE energy density) on the homogeneous strain. Each test is fitted alone and
  both together, to show which parameters each one determines.
* **Borehole** (plane strain thick cylinder under internal pressure): radial displacements at the
  wall and in the ground at several pressures, from Lamé's closed form with noise; the model is
  the finite-element solve (``physics.fem.Model`` on an ``annulus`` mesh, ``calib.SparseNewton``)
  inside the fit; :math:`E` and :math:`\nu` are fitted.
* **Strip footing** on two HAR layers (``--footing``): settlement against load at surface sensors,
  the data computed on a mesh twice as fine as the fitted one (no "inverse crime"); the stiffness
  factors of both layers are fitted.

Closed forms (compression positive, strains from the isotropic reference state at :math:`p_0`).
With :math:`a = \hat\varepsilon_v + 1/(k(1-n))`, :math:`\bar a^2 = a^2 + 3g\varepsilon_s^2/(k(1-n))`
and :math:`C = p_a\frac{1-n}{2-n}[k(1-n)]^{1/(1-n)}`, the free energy :math:`f = C\bar a^{(2-n)/(1-n)}`
(Houlsby, Amorosi & Rojas 2005, eq. 40) gives

.. math::

    p = \frac{\partial f}{\partial\varepsilon_v} = p_a [k(1-n)]^{1/(1-n)}\, a\, \bar a^{n/(1-n)},
    \qquad
    q = \frac{\partial f}{\partial\varepsilon_s} = 3 g\, p_a [k(1-n)]^{n/(1-n)}\, \varepsilon_s\, \bar a^{n/(1-n)} .

The reference state :math:`p = p_0`, :math:`\varepsilon_s = 0` sits at
:math:`a_0 = (p_0/p_a)^{1-n}/(k(1-n))`, and a strain :math:`\varepsilon_v` from it gives
:math:`a = a_0 + \varepsilon_v`. Isotropic compression: :math:`\varepsilon_s = 0`, so
:math:`p = p_a[k(1-n)a]^{1/(1-n)}`. Oedometer (axial strain :math:`\varepsilon_a`, no lateral
strain): :math:`\varepsilon_v = \varepsilon_a`, :math:`\varepsilon_s = \tfrac23\varepsilon_a`,
:math:`\sigma_v = p + \tfrac23 q`, :math:`\sigma_h = p - \tfrac13 q`.

Run as ``python experiments/demo_geomechanics.py [--tests element borehole footing] [--out DIR]
[--quick]``; :func:`run` is the entry point of ``calib demo``.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
import time

import numpy as np

TESTS = ("element", "borehole", "footing")
DEFAULT_TESTS = ("element", "borehole")
K_SIGMA = 3.0          # "recovered" means |fitted - true| <= K_SIGMA standard errors

# ---- element tests -------------------------------------------------------------------------------

P_A = 100.0            # kPa, reference pressure (fixed: it only sets the scale of k and g)
P0 = 50.0              # kPa, the isotropic consolidation pressure at which strains are zeroed
ELEMENT_TRUTH = {"k": 1200.0, "g": 800.0, "n": 0.5}
ELEMENT_START = {"k": 600.0, "g": 400.0, "n": 0.3}
ISOTROPIC_STRAIN = (0.0, 0.003)      # range of volumetric strain, 13 points
OEDOMETER_STRAIN = (0.0, 0.002)      # range of axial strain, 11 points
STRESS_SIGMA = (1.0, 0.01)           # σ = 1 kPa + 1 % of the stress
SEEDS = {"isotropic": 1, "oedometer": 2, "borehole": 3, "footing": 4}


def _a0(k, n, p_a, p0):
    """:math:`a` at the reference state (:math:`p = p_0`, no shear)."""
    return (p0 / p_a) ** (1.0 - n) / (k * (1.0 - n))


def har_p_q(eps_v, eps_s, k, g, n, p_a=P_A, p0=P0):
    r"""Closed-form :math:`(p, q)` of the HAR energy in the paper's variables (numpy, kPa).

    ``eps_v`` (compression positive) and ``eps_s`` (:math:`\sqrt{2/3\,e:e}`) are measured from the
    isotropic reference state at :math:`p_0`.
    """
    eps_v, eps_s = np.asarray(eps_v, float), np.asarray(eps_s, float)
    kn = k * (1.0 - n)
    a = _a0(k, n, p_a, p0) + eps_v
    a_bar = np.sqrt(a * a + 3.0 * g * eps_s ** 2 / kn)
    m = n / (1.0 - n)
    p = p_a * kn ** (1.0 / (1.0 - n)) * a * a_bar ** m
    q = 3.0 * g * p_a * kn ** m * eps_s * a_bar ** m
    return p, q


def isotropic_pressure(eps_v, k, g, n, p_a=P_A, p0=P0):
    """Isotropic compression: mean effective pressure (kPa) at volumetric strain ``eps_v``."""
    p, _ = har_p_q(eps_v, np.zeros_like(np.asarray(eps_v, float)), k, g, n, p_a, p0)
    return p


def oedometer_stresses(eps_a, k, g, n, p_a=P_A, p0=P0):
    """Oedometer: axial and lateral effective stresses (kPa) at axial strain ``eps_a``."""
    eps_a = np.asarray(eps_a, float)
    p, q = har_p_q(eps_a, 2.0 * eps_a / 3.0, k, g, n, p_a, p0)
    return p + 2.0 * q / 3.0, p - q / 3.0


def _noisy(values, seed):
    sigma = STRESS_SIGMA[0] + STRESS_SIGMA[1] * np.abs(values)
    return values + sigma * np.random.default_rng(seed).standard_normal(values.shape), sigma


def element_data(truth=ELEMENT_TRUTH):
    """The two synthetic element-test datasets (kPa), from the closed forms, fixed seeds."""
    import xarray as xr

    eps_v = np.linspace(*ISOTROPIC_STRAIN, 13)
    p, p_sigma = _noisy(isotropic_pressure(eps_v, **truth), SEEDS["isotropic"])
    isotropic = xr.Dataset(
        {"p": ("volumetric_strain", p, {"units": "kPa", "long_name": "mean effective pressure"}),
         "p_sigma": ("volumetric_strain", p_sigma, {"units": "kPa"})},
        coords={"volumetric_strain": ("volumetric_strain", eps_v, {"units": "1"})},
        attrs={"name": "isotropic", "title": "isotropic compression (synthetic, HAR closed form)"})
    eps_a = np.linspace(*OEDOMETER_STRAIN, 11)
    sigma_v, sigma_h = oedometer_stresses(eps_a, **truth)
    rng = np.random.default_rng(SEEDS["oedometer"])
    data = {}
    for name, values, long_name in (("sigma_v", sigma_v, "axial effective stress"),
                                    ("sigma_h", sigma_h, "lateral effective stress")):
        sigma = STRESS_SIGMA[0] + STRESS_SIGMA[1] * np.abs(values)
        data[name] = ("axial_strain", values + sigma * rng.standard_normal(values.shape),
                      {"units": "kPa", "long_name": long_name})
        data[f"{name}_sigma"] = ("axial_strain", sigma, {"units": "kPa"})
    oedometer = xr.Dataset(data, coords={"axial_strain": ("axial_strain", eps_a, {"units": "1"})},
                           attrs={"name": "oedometer",
                                  "title": "oedometer (synthetic, HAR closed form)"})
    return isotropic, oedometer


def _material():
    from physics import fem

    return fem.HoulsbyAmorosiRojas()


def isotropic_model(theta, conditions):
    """``p`` (kPa) from the package's HAR stress at ``grad_u = -(eps_v/3) I``."""
    import jax
    import jax.numpy as jnp

    material = _material()

    def one(eps_v):
        sigma = material.stress(-(eps_v / 3.0) * jnp.eye(3), theta)   # change, tension positive
        return theta["p0"] - jnp.trace(sigma) / 3.0

    return {"p": jax.vmap(one)(conditions["volumetric_strain"])}


def oedometer_model(theta, conditions):
    """``sigma_v``, ``sigma_h`` (kPa) from the package's HAR stress at ``grad_u = diag(-eps_a, 0, 0)``."""
    import jax
    import jax.numpy as jnp

    material = _material()

    def one(eps_a):
        sigma = material.stress(jnp.diag(jnp.array([-1.0, 0.0, 0.0]) * eps_a), theta)
        return theta["p0"] - sigma[0, 0], theta["p0"] - sigma[1, 1]

    sigma_v, sigma_h = jax.vmap(one)(conditions["axial_strain"])
    return {"sigma_v": sigma_v, "sigma_h": sigma_h}


def element_parameters(start=ELEMENT_START, free=("k", "g", "n")):
    import calib

    bounds = {"k": (1.0, 1e5), "g": (1.0, 1e5), "n": (0.0, 0.95)}
    out = [calib.Parameter(name, start[name], bounds=bounds[name], units="1", fixed=name not in free,
                           description=description)
           for name, description in (("k", "bulk stiffness factor, K = k p_a at p = p_a"),
                                     ("g", "shear stiffness factor, G = g p_a at p = p_a"),
                                     ("n", "pressure exponent of the stiffness"))]
    return out + [calib.Parameter("p_a", P_A, units="kPa", fixed=True),
                  calib.Parameter("p0", P0, units="kPa", fixed=True)]


# ---- borehole ------------------------------------------------------------------------------------

BOREHOLE = {"a": 0.1, "b": 1.0}                         # m: hole radius, outer radius of the model
BOREHOLE_TRUTH = {"E": 5.0e4, "nu": 0.3}                # kPa, 1
BOREHOLE_START = {"E": 2.0e4, "nu": 0.15}
BOREHOLE_PRESSURES = (50.0, 100.0, 200.0)               # kPa, pressure increments on the wall
BOREHOLE_RADII = (0.1, 0.15, 0.25, 0.4, 0.6, 1.0)      # m: the wall and five field sensors
BOREHOLE_SIGMA = 5e-4                                   # mm (0.5 µm)
BOREHOLE_MESH = {False: (16, 8), True: (12, 6)}          # (n_radial, n_angular) by quick
BOREHOLE_GRADING = 1.2


def lame_radial_displacement(r, pressure, E, nu, a=BOREHOLE["a"], b=BOREHOLE["b"]):
    r"""Lamé: radial displacement (units of ``a``) of a plane-strain thick cylinder
    :math:`a \le r \le b` with internal pressure ``pressure`` and a free outer surface,
    :math:`u_r = \frac{(1+\nu) p a^2}{E (b^2 - a^2)}[(1-2\nu) r + b^2/r]`."""
    r, pressure = np.asarray(r, float), np.asarray(pressure, float)
    return (1 + nu) * pressure * a ** 2 * ((1 - 2 * nu) * r + b ** 2 / r) / (E * (b * b - a * a))


def borehole_data(truth=BOREHOLE_TRUTH, noise=True):
    """Radial displacements (mm) at ``BOREHOLE_RADII`` and ``BOREHOLE_PRESSURES`` from Lamé."""
    import xarray as xr

    radii, pressures = np.asarray(BOREHOLE_RADII), np.asarray(BOREHOLE_PRESSURES)
    u = 1e3 * lame_radial_displacement(radii[None, :], pressures[:, None], **truth)
    if noise:
        u = u + BOREHOLE_SIGMA * np.random.default_rng(SEEDS["borehole"]).standard_normal(u.shape)
    return xr.Dataset(
        {"u_r": (("pressure", "radius"), u, {"units": "mm", "sigma": BOREHOLE_SIGMA,
                                              "long_name": "radial displacement"})},
        coords={"pressure": ("pressure", pressures, {"units": "kPa"}),
                "radius": ("radius", radii, {"units": "m"})},
        attrs={"name": "borehole" if noise else "borehole_exact",
               "title": "thick cylinder, wall and field radial displacements (synthetic, Lamé)"})


def _edge_interpolation(mesh, radii):
    """A matrix W (len(radii), n_nodes_on_axis) and the node ids, so that ``W @ u_x[nodes]`` is the
    P2 field at ``radii`` along the x axis (θ = 0): on that boundary each edge is straight with its
    midside node at the midpoint, so the field is the quadratic through its three nodes."""
    nodes = mesh.boundary_nodes("bottom")
    nodes = nodes[np.argsort(mesh.points[nodes, 0])]
    r = mesh.points[nodes, 0]
    W = np.zeros((len(radii), len(nodes)))
    for i, x in enumerate(radii):
        e = min(int(np.searchsorted(r[::2], x, side="right")) - 1, (len(r) - 1) // 2 - 1)
        e = max(e, 0)
        j = np.arange(2 * e, 2 * e + 3)
        for m in range(3):
            others = [j[o] for o in range(3) if o != m]
            W[i, j[m]] = np.prod([(x - r[o]) / (r[j[m]] - r[o]) for o in others])
    return W, nodes


class Borehole:
    """The FE model of the thick cylinder: quarter annulus, P2 triangles, rollers on the axes, a
    unit pressure on the wall (scaled per condition), linear elastic."""

    def __init__(self, n_radial, n_angular, grading=BOREHOLE_GRADING):
        from physics import fem

        a, b = BOREHOLE["a"], BOREHOLE["b"]
        self.mesh = fem.annulus(a, b, n_radial, n_angular, quadratic=True, grading=grading)
        self.model = fem.Model(self.mesh, fem.LinearElastic(),
                               supports=[fem.Dirichlet("bottom", "y"), fem.Dirichlet("left", "x")],
                               loads=[fem.Pressure("inner", 1.0)])
        self.loading = self.model.loading()
        W, self.nodes = _edge_interpolation(self.mesh, BOREHOLE_RADII)
        self.W = W
        self.grid = f"{n_radial}x{n_angular} P2"

    def __call__(self, theta, conditions):
        import jax.numpy as jnp

        # The material is linear, so one solve at unit wall pressure gives every pressure by
        # scaling (exactly, not approximately): one equilibrium and one tangent solve per
        # parameter per evaluation, however many pressures were measured.
        U = self.model.displacement(self.model.solve(theta, self.loading).x, self.loading)
        unit = jnp.asarray(self.W) @ U[self.nodes, 0]                 # m per kPa, (sensors,)
        return {"u_r": conditions["pressure"][:, None] * unit[None, :]}


def borehole_parameters(start=BOREHOLE_START):
    import calib

    return [calib.Parameter("E", start["E"], bounds=(1e3, 1e6), units="kPa",
                            description="Young's modulus"),
            calib.Parameter("nu", start["nu"], bounds=(0.0, 0.49), units="1",
                            description="Poisson's ratio")]


# ---- strip footing -------------------------------------------------------------------------------

FOOTING = {"width": 6.0, "depth": 6.0, "footing": 1.0, "sand": 2.0}    # m (half-section)
FOOTING_TRUTH = {"sand": {"k": 150.0, "g": 100.0, "n": 0.5, "p_a": 100.0, "p0": 50.0},
                 "clay": {"k": 80.0, "g": 40.0, "n": 0.6, "p_a": 100.0, "p0": 120.0}}
FOOTING_FREE = ("sand.k", "sand.g", "clay.k", "clay.g")
FOOTING_START = {"sand.k": 100.0, "sand.g": 60.0, "clay.k": 120.0, "clay.g": 60.0}
FOOTING_LOADS = (25.0, 50.0, 75.0, 100.0)                 # kPa on the footing
# Settlement sensors (x, y) in m: four on the surface, two under the centre (2 m: the top of the
# clay; 4 m), as a settlement plate and a magnetic extensometer would give.
FOOTING_SENSORS = ((0.0, 6.0), (1.0, 6.0), (2.0, 6.0), (3.0, 6.0), (0.0, 4.0), (0.0, 2.0))
FOOTING_SIGMA = 0.05                                       # mm
FOOTING_MESH = {"data": 24, "fit": 12}                    # cells per side (P2), per mesh
FOOTING_LOAD_STEPS = 1


def _flat(theta):
    return {f"{layer}.{k}": v for layer, values in theta.items() for k, v in values.items()}


class Footing:
    """Plane-strain strip footing (half section, symmetry at x = 0) on sand over clay, both HAR:
    P2 triangles, rollers on the sides, the bottom fixed, a pressure on 0 <= x <= 1 m of the top."""

    def __init__(self, cells):
        from physics import fem

        W, D = FOOTING["width"], FOOTING["depth"]
        mesh = fem.rectangle(W, D, cells, cells, quadratic=True)
        mesh = fem.assign_layers(mesh, [D - FOOTING["sand"]], ["clay", "sand"])
        mesh = mesh.with_boundaries_where(
            "footing", lambda x: np.isclose(x[:, 1], D) & (x[:, 0] <= FOOTING["footing"] + 1e-9))
        material = fem.HoulsbyAmorosiRojas()
        self.mesh = mesh
        self.model = fem.Model(mesh, {"sand": material, "clay": material},
                               supports=[fem.Dirichlet("bottom", "all"), fem.Dirichlet("left", "x"),
                                         fem.Dirichlet("right", "x")],
                               loads=[fem.Pressure("footing", 1.0)])
        self.loading = self.model.loading()
        sensors = np.asarray(FOOTING_SENSORS)
        distance = np.linalg.norm(mesh.points[None, :, :] - sensors[:, None, :], axis=2)
        self.nodes = np.argmin(distance, axis=1)
        if not np.allclose(mesh.points[self.nodes], sensors):
            raise ValueError(f"Footing: the sensors {FOOTING_SENSORS} must be nodes of the mesh")
        self.grid = f"{cells}x{cells} P2"

    def settlements(self, theta, loads):
        """Settlements (m, downwards positive) at the sensors, ``(len(loads), n_sensors)``."""
        import jax

        def one(load):
            loading = self.loading.scaled(load)
            solution = self.model.solve(theta, loading, steps=FOOTING_LOAD_STEPS)
            return -self.model.displacement(solution.x, loading)[self.nodes, 1]

        return jax.vmap(one)(loads)

    def __call__(self, theta, conditions):
        return {"settlement": self.settlements(theta, conditions["load"])}


def footing_data(quick=False):
    """Settlements (mm) at the sensors for ``FOOTING_LOADS``, computed on the fine mesh (twice as
    many cells per side as the fitted one), with noise."""
    import jax
    import jax.numpy as jnp
    import xarray as xr

    fine = Footing(FOOTING_MESH["data"] // (2 if quick else 1))
    theta = jax.tree_util.tree_map(jnp.asarray, FOOTING_TRUTH)
    loads = np.asarray(FOOTING_LOADS)
    s = 1e3 * np.asarray(jax.jit(fine.settlements)(theta, jnp.asarray(loads)))
    s = s + FOOTING_SIGMA * np.random.default_rng(SEEDS["footing"]).standard_normal(s.shape)
    sensors = [f"x={x:g} m, depth {FOOTING['depth'] - y:g} m" for x, y in FOOTING_SENSORS]
    return xr.Dataset(
        {"settlement": (("load", "sensor"), s, {"units": "mm", "sigma": FOOTING_SIGMA})},
        coords={"load": ("load", loads, {"units": "kPa"}), "sensor": ("sensor", sensors)},
        attrs={"name": "footing", "data_mesh": fine.grid,
               "title": "strip footing on sand over clay (synthetic, finer mesh)"})


def footing_parameters():
    import calib

    out = []
    for name, value in _flat(FOOTING_TRUTH).items():
        layer, key = name.split(".")
        units = "kPa" if key in ("p_a", "p0") else "1"
        if name in FOOTING_FREE:
            out.append(calib.Parameter(name, FOOTING_START[name], bounds=(1.0, 1e4), units=units))
        else:
            out.append(calib.Parameter(name, value, units=units, fixed=True))
    return out


def fit_footing(out=None, quick=False):
    """The footing fit: the four stiffness factors of the two layers, n and p0 held fixed."""
    import calib

    started = time.perf_counter()
    data = footing_data(quick)
    data_seconds = time.perf_counter() - started
    fe = Footing(FOOTING_MESH["fit"] // (2 if quick else 1))
    model = calib.Model(fe, units={"settlement": "m"}, conditions={"load": "kPa"},
                        name="footing_fe")
    result = _fit(model, data, footing_parameters())
    summary = summarise_fit("footing", result, _flat(FOOTING_TRUTH))
    summary.update(mesh=fe.grid, data_mesh=data.attrs["data_mesh"], dofs=int(fe.model.n_free),
                   data_seconds=data_seconds)
    if out is not None:
        summary["files"] = save_fit(out, "footing", result, summary)
    return {"footing": summary}


# ---- fitting and reporting -----------------------------------------------------------------------


def identified(result, name, rtol=0.1):
    """A parameter counts as identified when its standard error is finite, below ``rtol`` of its
    value, and no identifiability warning of the fit names it."""
    se = result.standard_error(name)
    if not np.isfinite(se) or se > rtol * abs(result[name]):
        return False
    return not any(name in w and ("unidentifiable" in w or "not identifiable" in w)
                   for w in result.warnings)


def summarise_fit(name, result, truth):
    """One row per free parameter: true value, fit, σ, |Δ|/σ, recovered, identified; and timings."""
    rows = []
    for p in result.free_names:
        value, se = result[p], result.standard_error(p)
        true = truth.get(p, math.nan)
        z = abs(value - true) / se if np.isfinite(se) and se > 0 else math.nan
        rows.append({"parameter": p, "true": true, "value": value, "sigma": se, "z": z,
                     "recovered": bool(np.isfinite(z) and z <= K_SIGMA),
                     "identified": identified(result, p)})
    correlations = {}
    free = result.free_names
    for i in range(len(free)):
        for j in range(i + 1, len(free)):
            correlations[f"{free[i]}-{free[j]}"] = float(result.correlation[i, j])
    return {"name": name, "rows": rows, "chi2": result.chi2, "dof": result.dof,
            "reduced_chi2": result.reduced_chi2, "success": result.success,
            "compile_seconds": result.compile_seconds, "run_seconds": result.run_seconds,
            "evaluations": result.n_evaluations, "warnings": list(result.warnings),
            "correlations": correlations, "result": result}


def save_fit(out, name, result, summary):
    """``<out>/<name>.nc``, ``<out>/<name>.txt`` (the report and the summary) and the plots in
    ``<out>/<name>_plots/``."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result.save(out / f"{name}.nc")
    text = result.report() + "\n\n" + format_summary([summary]) + "\n"
    (out / f"{name}.txt").write_text(text, encoding="utf-8")
    plots = result.plot(out / f"{name}_plots")
    return {"nc": str(out / f"{name}.nc"), "report": str(out / f"{name}.txt"),
            "plots": [str(p) for p in plots]}


def _yes(flag, sigma=1.0) -> str:
    return "-" if not np.isfinite(sigma) else ("yes" if flag else "no")


def format_summary(summaries) -> str:
    lines = [f"{'fit':24s} {'parameter':10s} {'true':>11s} {'fitted':>11s} {'± σ':>10s} "
             f"{'|Δ|/σ':>6s} {'≤3σ':>4s} {'ident.':>6s} {'χ²/dof':>7s} {'compile s':>9s} "
             f"{'run s':>6s}"]
    for s in summaries:
        for i, r in enumerate(s["rows"]):
            tail = (f" {s['reduced_chi2']:7.2f} {s['compile_seconds']:9.1f} {s['run_seconds']:6.1f}"
                    if i == 0 else "")
            lines.append(f"{s['name'] if i == 0 else '':24s} {r['parameter']:10s} "
                         f"{r['true']:11.5g} {r['value']:11.5g} {r['sigma']:10.3g} "
                         f"{r['z']:6.2f} {_yes(r['recovered'], r['sigma']):>4s} "
                         f"{'yes' if r['identified'] else 'no':>6s}{tail}")
    return "\n".join(lines)


def _fit(model, data, parameters, **options):
    import calib

    return calib.fit(model, data, parameters, progress=False, **options)


def fit_elements(out=None):
    """The element-test fits: isotropic alone, oedometer alone, oedometer with σ_v only, both."""
    import calib

    isotropic, oedometer = element_data()
    axial_only = oedometer.drop_vars(["sigma_h", "sigma_h_sigma"]).assign_attrs(name="oedometer_axial")
    cases = {
        "element_isotropic": ({"isotropic": isotropic_model}, [isotropic]),
        "element_oedometer": ({"oedometer": oedometer_model}, [oedometer]),
        "element_oedometer_axial": ({"oedometer_axial": oedometer_model}, [axial_only]),
        "element_joint": ({"isotropic": isotropic_model, "oedometer": oedometer_model},
                          [isotropic, oedometer]),
    }
    summaries = {}
    for name, (models, data) in cases.items():
        models = {k: calib.Model(v, name=v.__name__) for k, v in models.items()}
        result = _fit(models, data, element_parameters())
        summary = summarise_fit(name, result, ELEMENT_TRUTH)
        if out is not None:
            summary["files"] = save_fit(out, name, result, summary)
        summaries[name] = summary
    return summaries


def fit_borehole(out=None, quick=False):
    """The borehole fit of E and ν with the FE model; with ``quick=False`` also the fit of the
    noise-free data, whose offset from the truth is the discretisation bias of the mesh."""
    import calib

    fe = Borehole(*BOREHOLE_MESH[quick])
    model = calib.Model(fe, units={"u_r": "m"}, conditions={"pressure": "kPa"}, name="borehole_fe")
    summaries = {}
    cases = [("borehole", borehole_data())]
    if not quick:
        cases.append(("borehole_exact", borehole_data(noise=False)))
    for name, data in cases:
        result = _fit(model, data, borehole_parameters())
        summary = summarise_fit(name, result, BOREHOLE_TRUTH)
        summary["mesh"] = fe.grid
        summary["dofs"] = int(fe.model.n_free)
        if out is not None:
            summary["files"] = save_fit(out, name, result, summary)
        summaries[name] = summary
    if "borehole_exact" in summaries:
        noisy, exact = summaries["borehole"], summaries["borehole_exact"]
        for r, e in zip(noisy["rows"], exact["rows"]):
            r["bias"] = e["value"] - e["true"]
            r["bias_over_sigma"] = r["bias"] / r["sigma"]
    return summaries


def run(out="results/geomechanics", which=DEFAULT_TESTS, quick=False, verbose=True) -> dict:
    """Run the chosen demos, write their results under ``out`` and return the summaries
    (``{fit name: summary}``, each with ``rows`` per parameter, χ², timings and file paths)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    unknown = sorted(set(which) - set(TESTS))
    if unknown:
        raise ValueError(f"demo_geomechanics: unknown tests {unknown}; choose from {TESTS}")
    out = pathlib.Path(out)
    summaries = {}
    for test in TESTS:
        if test not in which:
            continue
        started = time.perf_counter()
        if test == "element":
            summaries.update(fit_elements(out))
        elif test == "borehole":
            summaries.update(fit_borehole(out, quick=quick))
        else:
            summaries.update(fit_footing(out, quick=quick))
        if verbose:
            print(f"  {test}: {time.perf_counter() - started:.1f} s", flush=True)
    if verbose:
        print(format_summary(list(summaries.values())))
    return summaries


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="demo_geomechanics", description=__doc__.split("\n")[0])
    parser.add_argument("--tests", nargs="+", choices=TESTS, default=list(DEFAULT_TESTS),
                        help="which demos to run (default: element borehole)")
    parser.add_argument("--footing", action="store_true", help="also run the strip footing")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("results/geomechanics"),
                        help="output folder (default results/geomechanics)")
    parser.add_argument("--quick", action="store_true", help="small meshes, fewer fits")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    which = list(args.tests) + (["footing"] if args.footing and "footing" not in args.tests else [])
    summaries = run(args.out, which, quick=args.quick)
    print(f"\n  results written to {args.out}")
    bad = [s["name"] for s in summaries.values() if not s["success"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    sys.exit(main())
