"""Fit configurations: a TOML file that says what to fit to what, run by ``calib fit CONFIG.toml``.

:func:`read_config` checks a file and builds the arguments of :func:`calib.fit`; any mistake is a
:class:`ConfigError` naming the file, the line and the key. Built-in models a file may name are in
:data:`MODELS`. The format: ``docs/reference/config_toml.md``.
"""

from ._error import ConfigError
from ._locate import line_of
from ._models import MODELS, register_model
from ._toml import FitConfig, Output, read_config

__all__ = ["ConfigError", "FitConfig", "MODELS", "Output", "line_of", "read_config", "register_model"]
