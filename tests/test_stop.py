"""Stopping `render` and `pack` with real signals mid-batch: the workers end with the command, and no temporary
or half-written file is left (a pack is all or nothing; rendered cards are each whole)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from conftest import wait_for
from publisher.errors import ExitStatus

# heavy but for one test the quick suite keeps: HEAVY_BUT_A_TASTE in conftest.py


def children_of(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start(project: Path, *args: str, pause_at: str) -> subprocess.Popen[str]:
    """The command, which stops itself (SIGSTOP) at the checkpoint ``pause_at``: ``stop_when`` signals it there."""
    env = {**os.environ, "PUBLISHER_WORKERS": "2", "TMPDIR": str(project / "tmp"), "PUBLISHER_PAUSE_AT": pause_at}
    (project / "tmp").mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "publisher", *args], cwd=project, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def stopped(pid: int) -> bool:
    """Whether the process is stopped (SIGSTOP): its state in /proc is T."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
    except (OSError, IndexError):
        return False


def stop_when(process: subprocess.Popen[str], ready: Callable[[], bool],
              sig: signal.Signals, group: bool = False) -> tuple[int, str, set[int]]:
    """Once the command has stopped itself at its checkpoint (with ``ready`` true), send ``sig`` and let it go on:
    the signal is taken where it paused, never after the command has finished."""
    assert wait_for(lambda: stopped(process.pid) or process.poll() is not None, 60)
    assert process.poll() is None, process.communicate()
    assert ready()
    workers = children_of(process.pid)
    assert len(workers) >= 2, workers  # the pool was running
    if group:  # as a service manager or a terminal does: the command and its workers at once
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
    process.send_signal(signal.SIGCONT)
    _, stderr = process.communicate(timeout=30)
    return process.returncode, stderr, workers


STOPS = [(signal.SIGTERM, ExitStatus.TERMINATED), (signal.SIGINT, ExitStatus.INTERRUPTED)]


@pytest.mark.parametrize("group", [False, True], ids=["to-the-command", "to-its-process-group"])
@pytest.mark.parametrize(("sig", "status"), STOPS, ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_pack_leaves_no_pack_no_temporary_file_and_no_worker(project: Path, sig: signal.Signals,
                                                                          status: ExitStatus, group: bool) -> None:
    temps = lambda: [p for p in project.iterdir() if p.name.endswith(".tmp")]  # noqa: E731
    process = start(project, "pack", "--formats", "all", "-o", "pack.zip", pause_at="pack:written#6")
    code, stderr, workers = stop_when(process, lambda: any(p.stat().st_size > 200_000 for p in temps()), sig,
                                      group)
    assert code == status, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert wait_for(lambda: not any(alive(pid) for pid in workers), 10), "a worker outlived the command"
    assert sorted(p.name for p in project.iterdir()) == ["assets", "quotes", "schedule.toml", "tmp"]
    assert list((project / "tmp").iterdir()) == []


@pytest.mark.parametrize(("sig", "status"), STOPS, ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_render_leaves_only_whole_cards_and_no_worker(project: Path, sig: signal.Signals,
                                                                   status: ExitStatus) -> None:
    out = project / "cards"
    process = start(project, "render", "--format", "all", "-o", "cards", pause_at="render:written#6")
    code, stderr, workers = stop_when(process, lambda: out.is_dir() and len(list(out.glob("*.png"))) >= 6, sig)
    assert code == status, stderr
    assert "Traceback" not in stderr
    assert wait_for(lambda: not any(alive(pid) for pid in workers), 10), "a worker outlived the command"
    time.sleep(0.5)  # nothing goes on writing after the exit
    cards = sorted(out.glob("*.png"))
    assert 6 <= len(cards) < 80
    assert sorted(p.name for p in out.iterdir()) == sorted([c.name for c in cards] +
                                                           [c.with_suffix(".txt").name for c in cards])
    for card in cards:
        with Image.open(card) as image:
            image.load()  # whole: a truncated PNG raises here
        assert card.with_suffix(".txt").read_text("utf-8").strip()
    assert list((project / "tmp").iterdir()) == []
