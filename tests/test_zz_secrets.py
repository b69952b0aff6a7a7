"""Runs last (file order): no password or API secret handed to publisher in this test session appears in any
file the session wrote: databases, outboxes, previews, logs of the subprocess runs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from posting_project import USED_SECRETS


def files_containing(base: Path, secrets: list[str]) -> tuple[int, list[str]]:
    scanned, hits = 0, []
    wanted = [s.encode() for s in secrets]
    for path in base.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        scanned += 1
        hits += [str(path) for secret in wanted if secret in data]
    return scanned, hits


def test_no_secret_in_any_file_written(tmp_path_factory: pytest.TempPathFactory) -> None:
    if not USED_SECRETS:
        pytest.skip("no test in this session used a secret")
    scanned, hits = files_containing(tmp_path_factory.getbasetemp(), USED_SECRETS)
    assert scanned > 100
    assert hits == []


def test_the_scan_finds_a_planted_secret() -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "a.db").write_bytes(b"\x00\x01pw-planted-secret\x02")
        (Path(folder) / "b.txt").write_text("nothing here")
        assert files_containing(Path(folder), ["pw-planted-secret"]) == (2, [str(Path(folder) / "a.db")])
