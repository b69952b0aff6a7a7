"""Verifying quotes against a 400-page report (issue 24: the first run under 15 s, a second under 1 s).

A project whose collection takes 20 quotes from a 400-page two-column PDF (made with reportlab, as the tests make
theirs: tests/test_sources.py), then ``publisher verify`` as a whole command: the first run reads the PDF; the
second finds every result kept in the store (by quote text and the PDF's hash) and reads no document.

    .venv/bin/python bench/verify.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from test_sources import FOREWORD, PAGES, write_pdf  # noqa: E402

FIRST_TARGET, SECOND_TARGET = 15.0, 1.0


def project(root: Path) -> Path:
    (root / "sources").mkdir(parents=True)
    (root / "quotes").mkdir()
    filler = [f"Paragraph {n} of the page says that the force must change its culture." for n in range(25)]
    write_pdf(root / "sources" / "report.pdf", [(filler + PAGES[0][0], filler + PAGES[0][1]) for _ in range(398)],
              FOREWORD)
    quotes = [f'[[quotes]]\nid = "q{n}"\ntext = "Paragraph {n} of the page says that the force must change its '
              f'culture."\n' for n in range(19)]
    quotes.append('[[quotes]]\nid = "missing"\ntext = "Londoners deserve a police service that protects everyone."\n')
    (root / "quotes" / "report.toml").write_text(
        '[collection]\nname = "report"\ntitle = "Report"\nattribution = "The review"\nsource = "report"\n\n'
        '[[sources]]\nid = "report"\nfile = "report.pdf"\n\n' + "\n".join(quotes), encoding="utf-8")
    (root / "schedule.toml").write_text('[accounts.local]\nplatform = "outbox"\n\n[[campaigns]]\nname = "r"\n'
                                        'collection = "report"\naccounts = ["local"]\n', encoding="utf-8")
    return root / "schedule.toml"


def run(schedule: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "publisher"), "--config", str(schedule), "verify"],
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    assert done.returncode == 18 and "19 verified, 1 not_found" in done.stdout, done.stdout + done.stderr
    return elapsed


def main() -> None:
    firsts, seconds = [], []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as folder:
            schedule = project(Path(folder) / "p")
            firsts.append(run(schedule))
            seconds += [run(schedule) for _ in range(3)]
    first, second = statistics.median(firsts), statistics.median(seconds)
    print("publisher verify, 20 quotes against a 400-page two-column PDF (whole command):")
    print(f"  first run (reads the PDF):    median {first:.2f} s (min {min(firsts):.2f}, max {max(firsts):.2f}, n=3); "
          f"target < {FIRST_TARGET:.0f} s: " + ("met" if first < FIRST_TARGET else "MISSED"))
    print(f"  again (results kept in the store): median {second:.2f} s (min {min(seconds):.2f}, max "
          f"{max(seconds):.2f}, n={len(seconds)}); target < {SECOND_TARGET:.0f} s: "
          + ("met" if second < SECOND_TARGET else "MISSED"))


if __name__ == "__main__":
    main()
