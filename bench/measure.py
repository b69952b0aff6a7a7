"""What the benchmarks share: running a command while watching the memory of its whole process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path


def tree_rss_mb(pid: int) -> float:
    """The memory of a process and all its descendants, in MB (Linux /proc): the sum of their proportional set
    sizes (PSS), so pages that forked workers share with their parent count once, as they take memory once (the
    sum of RSS would count them in every process). VmRSS where smaps_rollup cannot be read."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            total += _kilobytes(current)
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, ValueError):
            continue
        pending += [int(child) for child in children]
    return total / 1024


def _kilobytes(pid: int) -> int:
    for source, field in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            with open(source, encoding="ascii") as lines:
                for line in lines:
                    if line.startswith(field):
                        return int(line.split()[1])
        except OSError:
            continue
    return 0


def run_watched(command: list[str], cwd: Path | None = None,
                env: dict[str, str] | None = None) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Run ``command``; return its wall time (s), the peak memory of its process tree (MB, sampled every 20 ms)
    and the finished process."""
    peak = 0.0
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env or dict(os.environ), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)

    def watch() -> None:
        nonlocal peak
        while process.poll() is None:
            peak = max(peak, tree_rss_mb(process.pid))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = process.communicate()
    wall = time.perf_counter() - started
    watcher.join()
    done = subprocess.CompletedProcess(command, process.returncode, out, err)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {err[-2000:]}")
    return wall, peak, done


def row(what: str, figure: str, target: str) -> None:
    """One line of the README's Performance table, as bench/table.py collects it: ``| what | figure | target |``."""
    print(f"ROW | {what} | {figure} | {target} |", flush=True)


def as_installed() -> None:
    """Time commands as an installed copy runs: with its modules' bytecode cached (pip compiles it at install).
    An environment that forbids writing bytecode (PYTHONDONTWRITEBYTECODE) would make every start-up compile each
    changed module again, about 70 ms of a command here; the first run of each command then writes it."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False
