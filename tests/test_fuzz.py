"""Fuzzing what users write: arbitrary bytes and mutated valid files as schedules, collections and themes always
end in OK or a clear one-line error (never "unexpected", a traceback or a hang), and every key of every valid
file is given a line number for error messages."""

from __future__ import annotations

import shutil
import signal
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BUNDLED, MINIMAL_SCHEDULE, REPO
from publisher.cli import cli
from publisher.tomlsource import locate_keys

FILES = {
    "schedule": ("schedule.toml", (REPO / "schedule.toml").read_text("utf-8")),
    "collection": ("quotes/caseyreview.toml", (REPO / "quotes" / "caseyreview.toml").read_text("utf-8")),
    "theme": ("assets/themes/campaign.toml", (BUNDLED / "themes" / "campaign.toml").read_text("utf-8")),
}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def fresh_project() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="publisher-fuzz-") as folder:
        root = Path(folder)
        (root / "quotes").mkdir()
        (root / "quotes" / "caseyreview.toml").write_text(FILES["collection"][1], encoding="utf-8")
        (root / "schedule.toml").write_text(MINIMAL_SCHEDULE, encoding="utf-8")
        (root / "assets").mkdir()
        shutil.copytree(BUNDLED / "themes", root / "assets" / "themes")
        yield root


class Hung(Exception):
    pass


def validate(root: Path) -> tuple[int, str]:
    """``publisher validate`` in ``root``, in this process, stopped after 20 s."""
    def alarm(*_: Any) -> None:
        raise Hung("publisher validate did not finish in 20 s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(20)
    try:
        result = CliRunner().invoke(cli, ["--config", str(root / "schedule.toml"), "validate"],
                                    catch_exceptions=False)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return result.exit_code, result.stderr


def assert_clear(code: int, stderr: str) -> None:
    assert code in (0, 3), (code, stderr)
    assert "unexpected" not in stderr and "Traceback" not in stderr, stderr
    for line in stderr.splitlines():
        assert line.startswith(("schedule.toml", "quotes/", "assets/", "warning:")) or ": " in line, line


def mutated(text: str, data: st.DataObject) -> str:
    """A valid file with a few random edits: characters cut, inserted or changed, lines repeated or moved."""
    lines = text.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["cut", "insert", "repeat", "move"]))
        joined = "".join(lines)
        at = data.draw(st.integers(0, max(len(joined) - 1, 0)))
        if kind == "cut":
            joined = joined[:at] + joined[at + data.draw(st.integers(1, 12)):]
        elif kind == "insert":
            joined = joined[:at] + data.draw(st.text(alphabet='"\'\\[]{}=#.,\n \t\u202e\x00ab1é', max_size=6)) + \
                joined[at:]
        lines = joined.splitlines(keepends=True) or [""]
        if kind in ("repeat", "move") and len(lines) > 1:
            index = data.draw(st.integers(0, len(lines) - 1))
            line = lines[index] if kind == "repeat" else lines.pop(index)
            lines.insert(data.draw(st.integers(0, len(lines))), line)
    return "".join(lines)


@pytest.mark.parametrize("kind", list(FILES))
@SETTINGS
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes(kind: str, data: bytes) -> None:
    with fresh_project() as root:
        (root / FILES[kind][0]).write_bytes(data)
        assert_clear(*validate(root))


@pytest.mark.heavy
@pytest.mark.parametrize("kind", list(FILES))
@SETTINGS
@given(data=st.data())
def test_mutated_valid_files(kind: str, data: st.DataObject) -> None:
    with fresh_project() as root:
        path, text = FILES[kind]
        (root / path).write_text(mutated(text, data), encoding="utf-8")
        assert_clear(*validate(root))


def key_paths(value: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every key path in parsed TOML, array entries by index, as ``locate_keys`` names them."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from key_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield from key_paths(item, (*prefix, index))


keys = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x7f"), min_size=1, max_size=8)
scalars = st.one_of(st.integers(-10**6, 10**6), st.booleans(), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(st.characters(blacklist_categories=["Cs"]), max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(keys, inner, max_size=3)), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(document=st.dictionaries(keys, values, min_size=1, max_size=5))
def test_every_key_of_a_valid_file_has_a_line(document: dict[str, Any]) -> None:
    text = tomlkit.dumps(document)
    parsed = tomllib.loads(text)
    lines = locate_keys(text)
    missing = [path for path in key_paths(parsed) if path not in lines]
    assert missing == [], text


@pytest.mark.parametrize("text", [
    'title = """The \\""" Casey"""\nname = 1\n',
    "a = '''it's ''' \nb = 2\n",
    'c = """ends with quotes"""""\nd = 3\n',
    '"quoted.key" = 1\n"with \\" quote" = 2\n[t]\n"x y".z = 3\n',
    "[[list]]\nk = 1\n[[list]]\nk = { inner = [1, { deep = 2 }] }\n",
    'multi = [\n  "a", # comment\n  { b = 1 },\n]\nafter = 1979-05-27 07:32:00Z\nlast = 1\n',
], ids=["escaped-quote", "literal-quote", "closing-quotes", "quoted-keys", "array-of-tables", "mixed"])
def test_tricky_valid_files(text: str) -> None:
    parsed = tomllib.loads(text)
    lines = locate_keys(text)
    assert [path for path in key_paths(parsed) if path not in lines] == []
