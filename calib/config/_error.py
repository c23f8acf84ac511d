"""The error of a bad configuration file, and the source it points into."""

from __future__ import annotations

import dataclasses
import pathlib

from .._errors import CalibValueError
from ._locate import format_path, line_of


class ConfigError(CalibValueError):
    """A configuration file cannot be used; the message is
    ``FILE:LINE: key 'a.b': <what is wrong>; <the fix>``.

    Attributes:
        file: the file as it was named (for the message).
        line: 1-based line of the key (or of the table it belongs in).
        key: the key path as text (``parameters.E.bounds``, ``data[1].file``), or ``None``.
        problem, fix: the two halves of the explanation.
    """

    def __init__(self, file: str, line: int, key: str | None, problem: str, fix: str):
        self.file, self.line, self.key, self.problem, self.fix = file, line, key, problem, fix
        where = f"{file}:{line}: " + (f"key {key!r}: " if key else "")
        super().__init__(f"{where}{problem}; {fix}")


@dataclasses.dataclass(frozen=True)
class Source:
    """A configuration file's name, folder and text: what an error needs to point at a line."""

    name: str
    folder: pathlib.Path
    text: str

    def error(self, path: tuple, problem: str, fix: str) -> ConfigError:
        return ConfigError(self.name, line_of(self.text, path), format_path(path) or None, problem, fix)
