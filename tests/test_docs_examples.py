"""Every shell example in README.md and docs/*.md runs, as a user would type it, in a fresh project.

An example is a fenced block (sh, bash, console, shell, text, cron) with a line that runs `publisher`. Each
document's examples run in order in one project made by `publisher init`, through bash, with the installed
`publisher` on the PATH (and at .venv/bin/publisher, as the README's checkout has it). A `console` block shows
what the commands print: `$ COMMAND` lines, each followed by its output, compared allowing for times, dates
and paths; a line of the doc ending in `...` matches any line that starts the same.

Two comments in a doc steer this, on the line before a block:
- `<!-- not run: REASON -->`: the example needs what a test does not have (a real account, systemd, a server
  left running); the reason says what. Every example is either run here or marked so.
- `<!-- file: NAME -->`: the block is a file a later example reads (the user brings it); it is written first.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_BLOCKS = {"sh", "bash", "console", "shell", "text", "cron"}
RUNS_PUBLISHER = re.compile(r"(^|[\s/&|;(])publisher(\s|$)", re.M)
INSTALLS = re.compile(r"^\s*pipx? install\b.*$", re.M)  # the test runs in the environment already installed
PUBLISHER = Path(sys.executable).parent / "publisher"


@dataclass
class Block:
    doc: Path
    line: int
    lang: str
    body: str
    not_run: str | None = None  # why, when marked
    file: str | None = None  # the file it is, when marked

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"

    @property
    def is_example(self) -> bool:
        if self.file or self.lang not in SHELL_BLOCKS:
            return False
        if self.lang == "text":  # prose blocks (a tweet-style quote file, a table) name publisher in passing
            return any(re.match(r"\s*(\$ )?publisher\s", line) for line in self.body.splitlines())
        return bool(RUNS_PUBLISHER.search(self.body))


def blocks(doc: Path) -> list[Block]:
    text = doc.read_text("utf-8")
    found = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```\s*$", text, re.M | re.S):
        before = text[:match.start()].rstrip("\n").rpartition("\n")[2].strip()
        marker = re.fullmatch(r"<!--\s*(not run|file):\s*(.+?)\s*-->", before)
        block = Block(doc, text[:match.start()].count("\n") + 1, match.group(1), match.group(2))
        if marker and marker.group(1) == "not run":
            block.not_run = marker.group(2)
        elif marker:
            block.file = marker.group(2)
        found.append(block)
    return found


EXAMPLES = [b for doc in DOCS for b in blocks(doc) if b.is_example]
RUN = sorted({b.doc for b in EXAMPLES if b.not_run is None})


def test_every_example_is_run_or_says_why_not() -> None:
    assert len(EXAMPLES) >= 10  # the parser still finds the docs' examples
    unexplained = [b.where for b in EXAMPLES if b.not_run is not None and len(b.not_run.split()) < 3]
    assert unexplained == [], "a <!-- not run: ... --> must say what the example needs that a test lacks"
    marked_but_not_examples = [b.where for doc in DOCS for b in blocks(doc) if b.not_run and not b.is_example]
    assert marked_but_not_examples == []


def _loose(line: str) -> str:
    """A line of output with what changes from run to run (times, dates, temporary paths) made alike."""
    line = re.sub(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2}( \d{4})? \d{2}:\d{2}\b", "<when>", line)
    line = re.sub(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?([+-]\d{2}:\d{2}|Z| UTC)?", "<time>", line)
    return re.sub(r"/tmp/\S+", "<path>", line).rstrip()


def _matches(expected: list[str], actual: list[str]) -> bool:
    if len(expected) != len(actual):
        return False
    for want, got in zip(expected, actual, strict=True):
        want, got = _loose(want), _loose(got)
        if not (want == got or (want.endswith("...") and got.startswith(want[:-3]))):
            return False
    return True


def _console(body: str) -> list[tuple[str, list[str]]]:
    """A console block's commands, each with the output the doc shows for it."""
    steps: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
    return steps


# The README's examples take a doctor, a preview and a post (about 11 s): the whole suite runs them
@pytest.mark.parametrize("doc", [pytest.param(d, marks=[pytest.mark.heavy] if d.name == "README.md" else [])
                                 for d in RUN], ids=[str(d.relative_to(REPO)) for d in RUN])
def test_the_examples_of_a_doc_run_in_a_fresh_project(doc: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config" / "fish" / "completions").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update(HOME=str(home), BROWSER="true", PATH=f"{PUBLISHER.parent}{os.pathsep}{env.get('PATH', '')}",
               COLUMNS="120")
    subprocess.run([str(PUBLISHER), "init", "project"], cwd=tmp_path, env=env, check=True, capture_output=True)
    project = tmp_path / "project"
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "publisher").symlink_to(PUBLISHER)  # as in the README's checkout
    for block in blocks(doc):
        if block.file:
            (project / block.file).write_text(block.body, encoding="utf-8")
        if not block.is_example or block.not_run is not None:
            continue
        steps = _console(block.body) if block.lang == "console" else [(INSTALLS.sub("", block.body), [])]
        for command, expected in steps:
            done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command], cwd=project, env=env,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"{block.where}: {command!r} exited {done.returncode}: {done.stderr}"
            if expected:
                assert _matches(expected, done.stdout.splitlines()), (
                    f"{block.where}: {command!r} printed\n{done.stdout}\nwhere the doc shows\n" + "\n".join(expected))
