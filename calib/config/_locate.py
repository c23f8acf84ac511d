"""Where a key of a TOML file is written: the line of a key path, for error messages.

:mod:`tomllib` returns plain dicts without positions, so a message about ``parameters.E.bounds``
could not otherwise say where to look. :func:`line_of` scans the text for table headers
(``[parameters.E]``, ``[[data]]``) and ``key = ...`` lines, works out the full key path each one
writes, and returns the line of the deepest one that is a prefix of the path asked for: the key
itself when it is written, else the table it belongs in (the place to add a missing key).

A key path is a tuple of table keys and array indices: ``("parameters", "E", "bounds")``,
``("data", 1, "file")`` for the ``file`` of the second ``[[data]]`` table.
"""

from __future__ import annotations

import re

# One key: bare (A-Za-z0-9_-), "basic" or 'literal'; keys are joined by dots, spaces allowed.
_KEY = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]\]?")
_ASSIGNMENT = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART = re.compile(_KEY)


def split_key(dotted: str) -> tuple[str, ...]:
    """``'parameters."clay.E"'`` -> ``("parameters", "clay.E")`` (quotes removed)."""
    parts = []
    for part in _PART.findall(dotted):
        if part[0] == '"':
            part = part[1:-1].encode("utf-8").decode("unicode_escape")
        elif part[0] == "'":
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


def format_path(path: tuple) -> str:
    """``("data", 1, "file")`` -> ``data[1].file``; keys that hold a dot are quoted."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'
            text += f".{key}" if text else key
    return text


def key_lines(text: str) -> list[tuple[int, tuple]]:
    """Every ``(line number, key path)`` the text writes: headers and assignments, in order."""
    found = []
    table: tuple = ()
    arrays: dict[tuple, int] = {}  # header path of an array of tables -> index of its last table
    in_string = None  # the delimiter of a multi-line string being skipped
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string is not None:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        header = _HEADER.match(line)
        if header is not None:
            keys = split_key(header.group(2))
            path: tuple = ()
            for i, key in enumerate(keys):
                path += (key,)
                # [a.b] after [[a]] is a sub-table of a's last element: its index is part of the path.
                if path in arrays and not (header.group(1) == "[[" and i == len(keys) - 1):
                    path += (arrays[path],)
            if header.group(1) == "[[":
                arrays[path] = arrays.get(path, -1) + 1
                path += (arrays[path],)
            table = path
            found.append((number, table))
            continue
        assignment = _ASSIGNMENT.match(line)
        if assignment is not None:
            found.append((number, table + split_key(assignment.group(1))))
            rest = line[assignment.end():]
            for delimiter in ('"""', "'''"):
                if rest.count(delimiter) % 2 == 1:
                    in_string = delimiter
    return found


def line_of(text: str, path: tuple) -> int:
    """The line that writes ``path``, or its nearest written ancestor; 1 when none is written."""
    best_line, best_depth = 1, 0
    for number, written in key_lines(text):
        depth = len(written)
        if depth > best_depth and tuple(path[:depth]) == written:
            best_line, best_depth = number, depth
            if depth == len(path):
                break  # the key itself: its first writing is the one to show
    return best_line
