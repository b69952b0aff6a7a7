"""Read a TOML file the user wrote, and say on which line each key sits.

``tomllib`` parses but forgets positions; error messages must name the line, so ``locate_keys`` walks the
source once and maps every key path (``("campaigns", 0, "slots", "times")``) to the line where it is written.
"""

from __future__ import annotations

import bisect
import functools
import re
import stat
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from publisher.errors import ConfigError, Problem

KeyPath = tuple[str | int, ...]

_TOML_HINTS = {
    "Cannot overwrite a value": "each key may appear only once per table: remove or rename the duplicate",
    "Cannot declare": "this table is already defined: merge the two tables",
    "Invalid value": "values need quotes for text, [ ] for lists, or true/false/numbers",
    "Expected '=' after a key": "write key = value; text values need double quotes",
    "Invalid statement": "write key = value or a [table] header",
    "Unterminated string": "close the string with the same quote it opens with",
    "Illegal character": "escape it, or use a multi-line string",
    "Unclosed array": "close the list with ]",
    "Expected ']'": "close the [table] header with ]",
}


@dataclass
class TomlSource:
    """A parsed TOML file, and the line of every key in it: found from ``text`` only when a problem needs a line
    (a valid 20 MB collection is never scanned)."""

    path: Path
    data: dict[str, Any]
    text: str = ""

    @functools.cached_property
    def lines(self) -> dict[KeyPath, int]:
        return locate_keys(self.text)

    def line_of(self, key_path: Sequence[str | int]) -> int | None:
        """The line of the key, or of its nearest written parent (a missing key points at its table)."""
        parts = tuple(key_path)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return None

    def problem(self, key_path: Sequence[str | int], message: str, fix: str | None = None) -> Problem:
        return Problem(self.path, message, line=self.line_of(key_path), key=format_key(key_path), fix=fix)


def in_file_order(problems: Iterable[Problem], files: Sequence[Path] = ()) -> list[Problem]:
    """Each problem once, by file (``files`` in their order, then the others as they first come) and by line within
    one: what a reader fixes from the top down. A problem with no line (a table missing from the file, the file's
    name) comes last in its file."""
    unique = list(dict.fromkeys(problems))
    rank = {path: order for order, path in enumerate(dict.fromkeys([*files, *(problem.path for problem in unique)]))}
    return sorted(unique, key=lambda problem: (rank[problem.path], problem.line is None, problem.line or 0))


def format_key(key_path: Sequence[str | int]) -> str:
    """``("campaigns", 0, "slots")`` -> ``campaigns[0].slots``."""
    out = ""
    for part in key_path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            bare = re.fullmatch(r"[A-Za-z0-9_-]+", part)
            text = part if bare else '"' + part.replace('"', '\\"') + '"'
            out += ("." if out else "") + text
    return out


def toml_files(folder: Path) -> list[Path]:
    """The TOML files of a folder, without the hidden ones editors leave beside a file they have open
    (``.#name.toml`` locks, ``.name.toml.swp``)."""
    return sorted(p for p in folder.glob("*.toml") if not p.name.startswith("."))


def read_toml(path: Path) -> TomlSource:
    """Read and parse ``path``; any problem becomes a one-line ConfigError naming the line."""
    try:
        if not stat.S_ISREG(path.stat().st_mode) and not path.is_dir():  # a pipe or device would never end
            raise ConfigError([Problem(path, "is not a regular file (a named pipe or a device)",
                                       fix="give the path of a TOML file")])
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([Problem(path, "file not found", fix="check the name and the folder")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(path, "is a directory, not a TOML file", fix="give the path of a TOML file")]) \
            from None
    except OSError as exc:
        raise ConfigError([Problem(path, f"cannot read: {exc.strerror or exc}",
                                   fix="check the file, its permissions and any symlink on the way")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [Problem(path, f"invalid UTF-8 (byte 0x{raw[exc.start]:02x})", line=line,
                     fix="save the file as UTF-8")]
        ) from None
    text = text.removeprefix("\ufeff")
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        topic = {"quotes": "collections", "themes": "themes"}.get(path.parent.name, "schedule")
        raise ConfigError([Problem(path, "the file is empty", fix=f"publisher help {topic} says what it holds")])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(path, text, str(exc))]) from None
    return TomlSource(path, data, text)


def _syntax_problem(path: Path, text: str, message: str) -> Problem:
    match = re.match(r"(.*) \(at line (\d+), column (\d+)\)$", message)
    if not match:
        match = re.match(r"(.*) \(at end of document\)$", message)
        what = match.group(1) if match else message
        return Problem(path, f"invalid TOML: {what} at the end of the file",
                       line=len(text.splitlines()) or None,
                       fix="the file ends in the middle of something: close the last string, list or table")
    what, line, column = match.group(1), int(match.group(2)), int(match.group(3))
    fix = next((hint for prefix, hint in _TOML_HINTS.items() if what.startswith(prefix)),
               "check the TOML syntax there: key = value, text in double quotes, lists in [ ]")
    if what.startswith("Illegal character") and "'\\n'" not in what:  # not a line break: a control character
        fix = "delete it: control characters have no place in the file; text copied from a PDF can carry them"
    return Problem(path, f"invalid TOML: {what[:1].lower()}{what[1:]} (column {column})", line=line, fix=fix)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_BASIC_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_LITERAL_STRING = re.compile(r"'([^'\n]*)'")
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))", re.DOTALL)
_SIMPLE_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def _unescape(raw: str) -> str:
    """A basic string's text as tomllib reads it (keys are matched by it)."""
    def one(match: re.Match[str]) -> str:
        code = match.group(1) or match.group(2)
        return chr(int(code, 16)) if code else _SIMPLE_ESCAPES.get(match.group(3), match.group(0))

    return _ESCAPE.sub(one, raw)


class _Scanner:
    """Just enough of a TOML reader to know where keys are; tomllib has already checked the syntax."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.lines: dict[KeyPath, int] = {}
        self._line_starts = [match.end() for match in re.finditer("\n", text)]

    @property
    def line(self) -> int:
        """The line of the current position (counted only when a key's line is recorded)."""
        return bisect.bisect_right(self._line_starts, self.pos) + 1

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def advance(self, n: int = 1) -> None:
        self.pos += n

    def skip_space(self, newlines: bool = False) -> None:
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in " \t\r" or (newlines and ch == "\n"):
                self.advance()
            elif ch == "#":
                end = self.text.find("\n", self.pos)
                self.advance((end if end >= 0 else len(self.text)) - self.pos)
            else:
                return

    def read_key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self.skip_space()
            ch = self.peek()
            if ch in "\"'":
                parts.append(self.read_string())
            else:
                match = _BARE_KEY.match(self.text, self.pos)
                if not match:
                    return parts
                parts.append(match.group())
                self.advance(len(match.group()))
            self.skip_space()
            if self.peek() != ".":
                return parts
            self.advance()

    def read_string(self) -> str:
        quote = self.peek()
        escapes = quote == '"'  # basic strings have backslash escapes; literal ('...') ones do not
        if self.peek(3) == quote * 3:
            self.advance(3)
            start = end = self.pos
            while end < len(self.text):
                if escapes and self.text[end] == "\\":
                    end += 2  # an escaped character, perhaps a quote, never closes the string
                elif self.text.startswith(quote * 3, end):
                    while self.text[end + 3 : end + 4] == quote:  # up to two quotes may end the content
                        end += 1
                    break
                else:
                    end += 1
            end = min(end, len(self.text))
            value = self.text[start:end]
            self.advance(min(end + 3, len(self.text)) - self.pos)
            return value
        match = (_BASIC_STRING if escapes else _LITERAL_STRING).match(self.text, self.pos)
        if match is None:  # not closed on its line: tomllib would have refused it; take the rest of the line
            end = self.text.find("\n", self.pos)
            end = len(self.text) if end < 0 else end
            value, self.pos = self.text[self.pos + 1 : end], end
            return value
        self.pos = match.end()
        return _unescape(match.group(1)) if escapes else match.group(1)

    def skip_value(self, path: KeyPath) -> None:
        """Skip one value, recording the line of each item of a list and each key of an inline table."""
        self.skip_space()
        ch = self.peek()
        if ch in "\"'":
            self.read_string()
        elif ch == "[":
            self.advance()
            index = 0
            while True:
                self.skip_space(newlines=True)
                if self.peek() in ("]", ""):
                    self.advance()
                    return
                if self.peek() == ",":
                    self.advance()
                    continue
                self.lines[(*path, index)] = self.line
                before = self.pos
                self.skip_value((*path, index))
                if self.pos == before:
                    self.advance()  # something this reader does not know: step over it rather than loop
                index += 1
        elif ch == "{":
            self.advance()
            while True:
                self.skip_space()
                if self.peek() in ("}", ""):
                    self.advance()
                    return
                if self.peek() == ",":
                    self.advance()
                    continue
                before = self.pos
                self.key_value(path)
                if self.pos == before:
                    self.advance()
        else:
            match = re.compile(r"[^,\]}\s#]+").match(self.text, self.pos)
            # Datetimes may hold one space ("1979-05-27 07:32:00"); keep it with the value.
            if match:
                self.advance(len(match.group()))
                if re.match(r" \d\d:", self.text[self.pos : self.pos + 4]):
                    self.skip_value(path)

    def key_value(self, table: KeyPath) -> None:
        line = self.line
        key = self.read_key()
        path = (*table, *key)
        for depth in range(len(table) + 1, len(path) + 1):
            self.lines.setdefault(path[:depth], line)
        self.skip_space()
        if self.peek() == "=":
            self.advance()
        self.skip_value(path)


def locate_keys(text: str) -> dict[KeyPath, int]:
    """Map every key path in the document (array-of-table entries by index) to its line number."""
    scanner = _Scanner(text)
    table: KeyPath = ()
    array_counts: dict[KeyPath, int] = {}
    last = -1
    while True:
        scanner.skip_space(newlines=True)
        if scanner.pos >= len(text) or scanner.pos <= last:  # the end, or no progress: never loop for ever
            return scanner.lines
        last = scanner.pos
        line = scanner.line
        if scanner.peek() == "[":
            is_array = scanner.peek(2) == "[["
            scanner.advance(2 if is_array else 1)
            key = scanner.read_key()
            scanner.advance(2 if is_array else 1)
            resolved: list[str | int] = []
            for i, part in enumerate(key):
                resolved.append(part)
                prefix = tuple(resolved)
                last = i == len(key) - 1
                if last and is_array:
                    array_counts[prefix] = array_counts.get(prefix, -1) + 1
                    scanner.lines.setdefault(prefix, line)
                    resolved.append(array_counts[prefix])
                elif prefix in array_counts:
                    resolved.append(array_counts[prefix])
                else:
                    scanner.lines.setdefault(prefix, line)  # a table named only as part of this header
            table = tuple(resolved)
            scanner.lines[table] = line
        else:
            scanner.key_value(table)
