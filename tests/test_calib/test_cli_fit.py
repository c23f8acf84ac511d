"""``calib fit CONFIG.toml`` and ``calib report``: a configured fit end to end, resuming from its
checkpoint, the documented example, and bad configurations reported with their key and line."""

import contextlib
import io
import pathlib
import tomllib

import numpy as np
import pytest
import xarray as xr

import calib
from calib import cli
from calib.config import ConfigError, MODELS, line_of, read_config

DOCS_DATA = pathlib.Path(__file__).resolve().parents[2] / "docs" / "data"
TRUE = {"A": 2.5, "k": 1.3, "c": 0.5}

BASE = """\
[model]
function = "exponential_decay"

[[data]]
file = "decay.nc"

[parameters.A]
value = 1.0
bounds = [0.0, 10.0]

[parameters.k]
value = 0.5
bounds = [0.0, inf]

[parameters.c]
value = 0.0

[fit]
optimizer = "trf"
"""


def write_decay(folder: pathlib.Path, name: str = "decay.nc") -> pathlib.Path:
    """Twelve noisy points of y = A exp(-k t) + c with sigma = 0.01, as NetCDF."""
    t = np.linspace(0.0, 4.0, 12)
    y = TRUE["A"] * np.exp(-TRUE["k"] * t) + TRUE["c"]
    y = y + 0.01 * np.random.default_rng(0).standard_normal(t.size)
    path = folder / name
    xr.Dataset({"y": ("t", y, {"units": "m", "sigma": 0.01})}, coords={"t": ("t", t, {"units": "s"})},
               attrs={"name": "decay"}).to_netcdf(path, engine="h5netcdf")
    return path


def write_config(folder: pathlib.Path, text: str, name: str = "decay.toml") -> pathlib.Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One configured fit, run once for the tests that read what it wrote."""
    folder = tmp_path_factory.mktemp("fit")
    write_decay(folder)
    config = write_config(folder, BASE)
    stdout = io.StringIO()  # capsys is per test; this fixture is shared by several
    with contextlib.redirect_stdout(stdout):
        code = cli.main(["fit", str(config), "--no-progress"])
    return config, folder / "decay_results", code, stdout.getvalue()


def test_the_fit_runs_and_writes_its_folder(finished):
    config, out, code, stdout = finished
    assert code == 0
    result = calib.FitResult.load(out / "result.nc")
    assert result.parameter_names == ("A", "k", "c")
    assert result.success
    np.testing.assert_allclose(result.values, [TRUE["A"], TRUE["k"], TRUE["c"]], rtol=0.05)
    assert "[[Parameters]]" in stdout and "result written to" in stdout
    assert len(list(out.glob("*.png"))) >= 2
    assert (out / "config.toml").read_text() == config.read_text()
    assert (out / "checkpoint.npz").is_file()
    # The parsed configuration is kept in the result, for provenance.
    assert result.config["user"] == tomllib.loads(BASE)


def test_report_command_prints_the_saved_result(finished, tmp_path, capsys):
    _, out, _, _ = finished
    assert cli.main(["report", str(out / "result.nc"), "--plots", str(tmp_path / "plots")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(calib.FitResult.load(out / "result.nc").report())
    assert list((tmp_path / "plots").glob("*.png"))


def test_resume_continues_from_the_checkpoint(tmp_path, capsys):
    write_decay(tmp_path)
    short = write_config(tmp_path, BASE + "max_iterations = 2\n")
    assert cli.main(["fit", str(short), "--no-progress"]) == 0
    out = tmp_path / "decay_results"
    stopped = calib.FitResult.load(out / "result.nc")
    assert not stopped.success
    write_config(tmp_path, BASE)  # the same fit with the full budget
    assert cli.main(["fit", str(short), "--no-progress", "--resume"]) == 0
    resumed = calib.FitResult.load(out / "result.nc")
    assert cli.main(["fit", str(short), "--no-progress", "--out", str(tmp_path / "fresh")]) == 0
    fresh = calib.FitResult.load(tmp_path / "fresh" / "result.nc")
    assert resumed.success
    np.testing.assert_allclose(resumed.values, fresh.values, rtol=1e-8)
    # The resumed run started where the first stopped: its history continues the first run's.
    done = len(stopped.history["loss"])
    assert len(resumed.history["loss"]) > done
    np.testing.assert_array_equal(resumed.history["loss"][:done], stopped.history["loss"])
    capsys.readouterr()


def test_resume_needs_checkpoints(tmp_path, capsys):
    write_decay(tmp_path)
    config = write_config(tmp_path, BASE + "\n[output]\ncheckpoint = false\n")
    assert cli.main(["fit", str(config), "--resume"]) == 2
    assert "checkpoint = false" in capsys.readouterr().err


def test_the_documented_example_runs(tmp_path, capsys):
    assert cli.main(["fit", str(DOCS_DATA / "example_fit.toml"), "--out", str(tmp_path),
                     "--no-progress"]) == 0
    result = calib.FitResult.load(tmp_path / "result.nc")
    # The example's data were drawn around E = 200 GPa, s = 250 MPa.
    assert abs(result["E"] - 200.0) < 3 * result.standard_errors[0]
    assert abs(result["s"] - 250.0) < 3 * result.standard_errors[1]
    assert result.units[0] == "GPa"
    assert "GPa" in capsys.readouterr().out
    assert not (DOCS_DATA / "example_fit_results").exists()


def test_a_failed_fit_exits_with_1(tmp_path, capsys):
    write_decay(tmp_path)
    (tmp_path / "models.py").write_text(
        "import jax.numpy as jnp\n\n"
        "def broken(theta, conditions):\n"
        "    return {'y': jnp.log(-theta['A']) + 0 * conditions['t'] + theta['k'] + theta['c']}\n")
    config = write_config(tmp_path, BASE.replace('"exponential_decay"', '"models.py:broken"'))
    assert cli.main(["fit", str(config), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("calib fit: the fit failed:") and "Traceback" not in err


def test_help_and_bad_command_lines(capsys):
    assert cli.main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert "fit" in listed and "report" in listed
    assert cli.main(["fit"]) == 2  # no configuration given: argparse's usage message
    assert "CONFIG" in capsys.readouterr().err.upper()


# ---------------------------------------------------------------------------- bad configurations

def edit(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new, 1)


def line(text: str, content: str) -> int:
    """The 1-based line of ``text`` that is exactly ``content``."""
    return text.splitlines().index(content) + 1


MODELS_PY = "def decay(theta, conditions):\n    return {'y': theta['A'] + 0 * conditions['t']}\n"

# (configuration text, key, the line written for it, words the message must hold)
CASES = {
    "unknown table": (BASE + "\n[fitt]\nftol = 1e-8\n", "fitt", "[fitt]", ["unknown key", "'fit'"]),
    "unknown key": (edit("value = 0.5", "valeu = 0.5"), "parameters.k.valeu", "valeu = 0.5",
                    ["unknown key 'valeu'", "'value'"]),
    "bounds of the wrong type": (edit("bounds = [0.0, 10.0]", 'bounds = "1, 10"'),
                                 "parameters.A.bounds", 'bounds = "1, 10"',
                                 ["expected [lower, upper]", "the string '1, 10'", "[1.0, 1000.0]"]),
    "a bound as a string": (edit("bounds = [0.0, inf]", 'bounds = [0.0, "inf"]'),
                            "parameters.k.bounds", 'bounds = [0.0, "inf"]', ["no quotes"]),
    "missing function": (edit('function = "exponential_decay"', 'units = { y = "m" }'),
                         "model.function", "[model]", ["missing", "module:function"]),
    "missing model": (BASE.replace('[model]\nfunction = "exponential_decay"\n', ""), "model",
                      None, ["[model] table is missing"]),
    "unknown built-in": (edit('"exponential_decay"', '"exponential_decai"'), "model.function",
                         'function = "exponential_decai"', ["not a built-in", "'exponential_decay'"]),
    "module not found": (edit('"exponential_decay"', '"no_such_module_abc:model"'), "model.function",
                         'function = "no_such_module_abc:model"', ["'no_such_module_abc' is not found"]),
    "function not in module": (edit('"exponential_decay"', '"models.py:decai"'), "model.function",
                               'function = "models.py:decai"', ["has no function 'decai'", "'decay'"]),
    "model file not found": (edit('"exponential_decay"', '"missing.py:decay"'), "model.function",
                             'function = "missing.py:decay"', ["missing.py", "does not exist"]),
    "data file not found": (edit('file = "decay.nc"', 'file = "nowhere/decay.nc"'), "data[0].file",
                            'file = "nowhere/decay.nc"', ["nowhere", "does not exist"]),
    "second data file": (edit('file = "decay.nc"\n', 'file = "decay.nc"\n\n[[data]]\nname = "b"\n'
                              'file = "other.nc"\n'), "data[1].file", 'file = "other.nc"',
                         ["other.nc", "does not exist"]),
    "unknown optimizer": (edit('optimizer = "trf"', 'optimizer = "lbfgs-b"'), "fit.optimizer",
                          'optimizer = "lbfgs-b"', ["'lbfgs-b' is not known", "'lbfgsb'"]),
    "unknown adjoint": (BASE + 'adjoint = "implict"\n', "fit.adjoint", 'adjoint = "implict"',
                        ["'implict' is not known", "'implicit'"]),
    "unknown adjoint option": (BASE + 'adjoint = "unrolled"\n\n[fit.adjoint_options]\nstesp = 5\n',
                               "fit.adjoint_options.stesp", "stesp = 5", ["'steps'"]),
    "tied with value": (edit("[parameters.c]\nvalue = 0.0", '[parameters.c]\nvalue = 0.0\ntied = "A / 5"'),
                        "parameters.c.value", "value = 0.0", ["together with 'tied'", "remove"]),
    "tied to an unknown name": (edit("[parameters.c]\nvalue = 0.0", '[parameters.c]\ntied = "2 * B"'),
                                "parameters.c.tied", 'tied = "2 * B"', ["'B'", "not a parameter"]),
    "value outside bounds": (edit("value = 1.0", "value = 20.0"), "parameters.A.value",
                             "value = 20.0", ["outside bounds"]),
    "wrong type in fit": (BASE + 'max_iterations = "many"\n', "fit.max_iterations",
                          'max_iterations = "many"', ["expected an integer"]),
    "a profile of a fixed parameter": (BASE.replace("[parameters.c]\nvalue = 0.0",
                                                    "[parameters.c]\nvalue = 0.0\nfixed = true")
                                       + 'profile = ["c"]\n', "fit.profile", 'profile = ["c"]',
                                       ["not a free parameter"]),
    "a variable not in the file": (edit('file = "decay.nc"', 'file = "decay.nc"\nvariables = ["z"]'),
                                   "data[0].variables", 'variables = ["z"]',
                                   ["'z' is not a data variable", "y"]),
    "csv keys for netcdf": (edit('file = "decay.nc"', 'file = "decay.nc"\ncoords = ["t"]'),
                            "data[0].coords", 'coords = ["t"]', ["only read for a .csv"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_configuration_names_the_key_and_the_line(case, tmp_path, capsys):
    text, key, written, words = CASES[case]
    write_decay(tmp_path)
    (tmp_path / "models.py").write_text(MODELS_PY)
    config = write_config(tmp_path, text)
    assert cli.main(["fit", str(config)]) == 2
    err = capsys.readouterr().err
    number = 1 if written is None else line(text, written)
    assert err.startswith(f"calib fit: error: {config}:{number}: key '{key}': "), err
    for word in words:
        assert word in err, (word, err)
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "decay_results").exists()  # nothing was written


def test_syntax_error_keeps_its_line(tmp_path):
    text = edit("value = 0.5", "value = = 0.5")
    with pytest.raises(ConfigError) as caught:
        read_config(write_config(tmp_path, text))
    assert caught.value.line == line(text, "value = = 0.5")
    assert str(caught.value).startswith(f"{tmp_path / 'decay.toml'}:{caught.value.line}: TOML syntax")


def test_config_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_config(tmp_path / "none.toml")
    assert issubclass(ConfigError, calib.CalibValueError)


def test_locator_follows_quoted_nested_and_array_tables():
    text = """\
title = 1
[parameters."clay.E"]
value = 1.0
bounds = [0.0,
          2.0]
[parameters.clay.nu]
value = 0.3
prior = { mean = 0.3, sigma = 0.1 }
[[data]]
file = "a.nc"
[[data]]
file = "b.nc"
[data.extra]
x = 1
[fit]
adjoint_options.steps = 3
"""
    assert line_of(text, ("parameters", "clay.E", "bounds")) == 4
    assert line_of(text, ("parameters", "clay.E", "transform")) == 2  # missing: its table
    assert line_of(text, ("parameters", "clay", "nu", "prior", "sigma")) == 8
    assert line_of(text, ("data", 0, "file")) == 10
    assert line_of(text, ("data", 1, "file")) == 12
    assert line_of(text, ("data", 1, "extra", "x")) == 14
    assert line_of(text, ("fit", "adjoint_options", "steps")) == 16
    assert line_of(text, ("output",)) == 1


def test_a_csv_table_is_read_with_its_units_and_coords(tmp_path):
    (tmp_path / "curve.csv").write_text((DOCS_DATA / "example_stress_strain.csv").read_text())
    text = """\
[model]
function = "straight_line"

[[data]]
file = "curve.csv"
units = { strain = "1", stress = "MPa" }
coords = ["strain"]

[parameters.slope]
value = 1.0

[parameters.intercept]
value = 0.0
"""
    config = read_config(write_config(tmp_path, text))
    dataset = config.data["curve"]
    assert dataset["stress"].attrs["units"] == "MPa" and "strain" in dataset.coords
    missing = text.replace('coords = ["strain"]\n', "")
    with pytest.raises(ConfigError, match="needs 'coords'") as caught:
        read_config(write_config(tmp_path, missing))
    assert caught.value.line == 4 and caught.value.key == "data[0].coords"


def test_nested_tables_quoted_names_tied_and_adjoint_options(tmp_path):
    write_decay(tmp_path)
    text = BASE.replace("[parameters.A]", '[parameters."A"]').replace(
        "[parameters.c]\nvalue = 0.0", '[parameters.c]\ntied = "A / 5"\nunits = "m"') + \
        'adjoint = "implicit"\n\n[fit.adjoint_options]\nlinear_solver = "minres"\n' \
        'linear_solver_options = { tol = 1e-12 }\n'
    config = read_config(write_config(tmp_path, text))
    names = [p.name for p in config.parameters]
    assert names == ["A", "k", "c"] and isinstance(config.parameters[2], calib.Tied)
    assert isinstance(config.options["adjoint"], calib.Implicit)
    assert isinstance(config.options["adjoint"].linear_solver, calib.MINRES)
    nested = BASE.replace("[parameters.A]", "[parameters.amp.A]")
    assert [p.name for p in read_config(write_config(tmp_path, nested)).parameters][0] == "amp.A"
    assert "exponential_decay" in MODELS


def test_the_reference_page_shows_the_example_file():
    page = (DOCS_DATA.parent / "reference" / "config_toml.md").read_text(encoding="utf-8")
    example = page.split("```toml\n", 1)[1].split("```", 1)[0]
    assert example in (DOCS_DATA / "example_fit.toml").read_text(encoding="utf-8")
