"""The scan that ends every test session (tests/conftest.py, ``no_secret_in_any_file_written``): no password or
API secret handed to publisher appears in any file the session wrote. Here: the scan itself can fail."""

from __future__ import annotations

import tempfile
from pathlib import Path

from conftest import files_containing


def test_the_scan_finds_a_planted_secret() -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "a.db").write_bytes(b"\x00\x01pw-planted-secret\x02")
        (Path(folder) / "b.txt").write_text("nothing here")
        assert files_containing(Path(folder), ["pw-planted-secret"]) == (2, [str(Path(folder) / "a.db")])
