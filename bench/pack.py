"""`publisher pack`: wall time and the peak memory of the whole process tree (parent and render workers), for the
Casey Review collection in all four formats (80 cards) and for a collection of 600 quotes (2,400 cards); and the
speed-up of two workers over one on the 80 cards.

Targets on a 2-core machine (issue 25): 80 cards <= 1.5 s; tree <= 400 MB at 2,400 cards; two workers >= 1.8x
one.

    .venv/bin/python bench/pack.py [--skip-large]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import as_installed, row, run_watched

REPO = Path(__file__).resolve().parent.parent
RUNS = 3
PUBLISHER = [sys.executable, "-m", "publisher"]


def project(folder: Path, quotes: int | None) -> Path:
    """A project folder with the bundled collection, or one of ``quotes`` made-up quotes."""
    (folder / "quotes").mkdir(parents=True)
    (folder / "schedule.toml").write_text('[accounts.local]\nplatform = "outbox"\n', encoding="utf-8")
    if quotes is None:
        (folder / "quotes" / "caseyreview.toml").write_bytes((REPO / "quotes" / "caseyreview.toml").read_bytes())
        return folder
    words = (REPO / "tests" / "data" / "caseyreview-quotes.txt").read_text("utf-8").replace('"', "").split()
    lines = ['[collection]\nname = "large"\ntitle = "A large collection"\nattribution = "Somebody, somewhere (2026)"'
             '\nhashtags = ["accountability"]\n']
    for number in range(quotes):
        text = " ".join(words[(number * 7 + i * 13) % len(words)].strip("#") for i in range(18 + number % 20))
        lines.append(f'[[quotes]]\nid = "q{number}"\ntext = "{text} ({number})"\n')
    (folder / "quotes" / "large.toml").write_text("\n".join(lines), encoding="utf-8")
    return folder


def pack(folder: Path, out: str, workers: int | None = None) -> float:
    """Wall time of one pack, unwatched (reading the workers' memory maps would slow them)."""
    env = {**os.environ, **({"PUBLISHER_WORKERS": str(workers)} if workers else {})}
    start = time.perf_counter()
    subprocess.run([*PUBLISHER, "pack", "-o", out, "--force"], cwd=folder, env=env, capture_output=True, check=True)
    return time.perf_counter() - start


def peak_memory(folder: Path, out: str) -> float:
    """The process tree's peak memory (PSS, MB) during one pack, in a run of its own."""
    _, peak, done = run_watched([*PUBLISHER, "pack", "-o", out, "--force"], cwd=folder)
    assert done.returncode == 0, done.stderr
    return peak


def main() -> None:
    as_installed()
    with tempfile.TemporaryDirectory() as temp:
        casey = project(Path(temp) / "casey", None)
        walls = [pack(casey, f"casey{run}.zip") for run in range(RUNS)]
        tree = peak_memory(casey, "watched.zip")
        print(f"pack of 80 cards: median {statistics.median(walls):.2f} s wall, the CLI from start to end "
              f"(min {min(walls):.2f}, max {max(walls):.2f}; target <= 1.5 s); process tree peak (PSS) "
              f"{tree:.0f} MB")
        row("pack of 80 cards (20 quotes × 4 formats), the CLI start to end",
            f"{statistics.median(walls):.2f} s; process tree {tree:.0f} MB (PSS)", "≤ 1.5 s")
        one = statistics.median(pack(casey, f"one{run}.zip", workers=1) for run in range(RUNS))
        two = statistics.median(pack(casey, f"two{run}.zip", workers=2) for run in range(RUNS))
        print(f"two workers against one, 80 cards: {one:.2f} s on 1, {two:.2f} s on 2: {one / two:.2f}x "
              "(target >= 1.8x)")
        row("pack of 80 cards: two worker processes against one", f"{one:.2f} s on 1, {two:.2f} s on 2: "
            f"{one / two:.2f}×", "≥ 1.8×")
        if "--skip-large" not in sys.argv:
            large = project(Path(temp) / "large", 600)
            wall = pack(large, "large.zip")
            tree = peak_memory(large, "large-watched.zip")
            print(f"pack of 2,400 cards: {wall:.1f} s wall; process tree peak (PSS) {tree:.0f} MB (target <= 400 MB)")
            row("pack of 2,400 cards (600 quotes × 4 formats)", f"{wall:.0f} s; process tree {tree:.0f} MB (PSS)",
                "≤ 400 MB")


if __name__ == "__main__":
    main()
