"""A 20 MB collection: how long validating it takes against `tomllib` alone parsing the same file.

Prints the median of three runs each of: `tomllib.loads`, `load_collection` (read, parse, check every quote; key
positions are found only when there is a problem to report) and `publisher validate` as a user runs it, in a
fresh process, on a project whose schedule has no campaign (so it checks the collection, not card layouts), plus
the same for a collection with one mistake near its end (where the key positions are needed). Target: <= 3x
tomllib.

    .venv/bin/python bench/validate.py
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from measure import row

SIZE = 20_000_000
RUNS = 3
WORDS = ("the met police review found culture of denial officers londoners trust women children racism misogyny "
         "homophobia leadership reform standards accountability vetting misconduct process failed public").split()


def collection_text(size: int, mistake: bool = False) -> str:
    rng = random.Random(20)
    parts = ['[collection]\nname = "big"\ntitle = "A big collection"\n'
             'attribution = "Baroness Louise Casey, Review of the Metropolitan Police (March 2023)"\n'
             'hashtags = ["CaseyReview"]\n']
    total, number = len(parts[0]), 0
    while total < size:
        number += 1
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(12, 40))).capitalize() + "."
        entry = f'\n[[quotes]]\nid = "quote-{number}"\ntext = "{text}"\nhashtags = []\n'
        parts.append(entry)
        total += len(entry)
    if mistake:
        parts[-2] = parts[-2].replace("hashtags = []", "hashtags = [1]")
    return "".join(parts)


def median_seconds(action: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_validate(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "publisher", "validate"], cwd=project, capture_output=True,
                          text=True, check=False)


def main() -> None:
    from publisher.errors import ConfigError
    from publisher.quotes import load_collection

    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "quotes").mkdir()
        (project / "schedule.toml").write_text('[defaults]\ntimezone = "Europe/London"\n\n[accounts.local]\n'
                                               'platform = "outbox"\n', encoding="utf-8")
        path = project / "quotes" / "big.toml"
        for mistake in (False, True):
            text = collection_text(SIZE, mistake)
            path.write_text(text, encoding="utf-8")
            parse = median_seconds(lambda: tomllib.loads(path.read_text("utf-8")))

            def load(expect_error: bool = mistake) -> None:
                try:
                    load_collection(path)
                except ConfigError:
                    if not expect_error:
                        raise

            ours = median_seconds(load)
            cli = median_seconds(lambda: run_validate(project))
            done = run_validate(project)
            assert (done.returncode != 0) == mistake, done.stderr[-500:]
            label = "with one mistake near the end" if mistake else "valid"
            print(f"{len(text) / 1e6:.1f} MB collection ({text.count('[[quotes]]'):,} quotes), {label}: "
                  f"tomllib {parse:.2f} s; load_collection {ours:.2f} s ({ours / parse:.2f}x); "
                  f"`publisher validate` {cli:.2f} s ({cli / parse:.2f}x; target <= 3x)")
            if mistake:
                print(f"  it says: {done.stderr.strip().splitlines()[0][:150]}")
            row(f"`validate` of a {len(text) / 1e6:.0f} MB collection ({text.count('[[quotes]]'):,} quotes) "
                f"{label}, against `tomllib` parsing it", f"{cli / parse:.2f}×", "≤ 3×")


if __name__ == "__main__":
    main()
