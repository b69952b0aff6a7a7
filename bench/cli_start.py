"""Print the median wall time of `publisher --help` over 10 runs (target: <= 150 ms on a 2-core machine)."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 10


def publisher_command() -> list[str]:
    beside_python = Path(sys.executable).parent / "publisher"
    found = str(beside_python) if beside_python.exists() else shutil.which("publisher")
    return [found] if found else [sys.executable, "-m", "publisher"]


def main() -> None:
    command = [*publisher_command(), "--help"]
    subprocess.run(command, capture_output=True, check=True)  # warm the file cache once
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append((time.perf_counter() - start) * 1000)
    print(f"publisher --help: median {statistics.median(times):.0f} ms over {RUNS} runs "
          f"(min {min(times):.0f} ms, max {max(times):.0f} ms; target <= 150 ms)")


if __name__ == "__main__":
    main()
