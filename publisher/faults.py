"""Named crash points, so tests can kill (or pause) a real posting process at every step boundary.

With PUBLISHER_CHECKPOINT_LOG=FILE every point reached is appended to FILE as ``name#n`` (its n-th visit); with
PUBLISHER_KILL_AT=name#n the process SIGKILLs itself there; with PUBLISHER_PAUSE_AT=name#n it SIGSTOPs itself
there, until a SIGCONT (so a test can act between two steps). None is set in normal use, and then a checkpoint
costs two environment lookups.
"""

from __future__ import annotations

import os
import signal

_visits: dict[str, int] = {}


def checkpoint(name: str) -> None:
    log, target = os.environ.get("PUBLISHER_CHECKPOINT_LOG"), os.environ.get("PUBLISHER_KILL_AT")
    pause = os.environ.get("PUBLISHER_PAUSE_AT")
    if not log and not target and not pause:
        return
    _visits[name] = _visits.get(name, 0) + 1
    label = f"{name}#{_visits[name]}"
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(label + "\n")
    if target == label:
        os.kill(os.getpid(), signal.SIGKILL)
    if pause == label:
        os.kill(os.getpid(), signal.SIGSTOP)
