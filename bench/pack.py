"""`publisher pack` for the Casey Review collection, all four formats (80 cards): wall time and peak memory
(the main process and the largest rendering worker). Target on a 2-core machine: <= 3 s and <= 300 MB."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS = 3
SCRIPT = f"""
import resource, sys, time
from pathlib import Path
start = time.perf_counter()
from publisher.app import Project
project = Project(Path({str(REPO / "schedule.toml")!r}))
report = project.pack(Path(sys.argv[1]), "caseyreview")
wall = time.perf_counter() - start
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(wall, own, children, report.cards)
"""


def main() -> None:
    walls, outside, own, children = [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(RUNS):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", SCRIPT, str(Path(folder) / f"pack{run}.zip")],
                                  capture_output=True, text=True, check=True, cwd=REPO)
            outside.append(time.perf_counter() - started)
            wall, mine, theirs, cards = done.stdout.split()
            walls.append(float(wall))
            own.append(float(mine))
            children.append(float(theirs))
    print(f"pack of {cards} cards: median {statistics.median(walls):.2f} s from the first import "
          f"({statistics.median(outside):.2f} s including interpreter start; target <= 3 s); peak RSS "
          f"{max(own):.0f} MB main process, {max(children):.0f} MB largest worker (target <= 300 MB)")



if __name__ == "__main__":
    main()
