"""Named crash points, so tests can kill (or pause) a real posting process at every step boundary.

With PUBLISHER_CHECKPOINT_LOG=FILE every point reached is appended to FILE as ``name#n`` (its n-th visit); with
PUBLISHER_KILL_AT=name#n the process SIGKILLs itself there; with PUBLISHER_PAUSE_AT=name#n it SIGSTOPs itself
there, until a SIGCONT (so a test can act between two steps). None is set in normal use, and then a checkpoint
costs two environment lookups.
"""

from __future__ import annotations

import os
import signal
import threading

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
    # Sent to this thread, not the process: a signal to the process may be taken by another thread, and this
    # one would run on for a moment (into the next step) before it is stopped or killed.
    if target == label:
        signal.pthread_kill(threading.get_ident(), signal.SIGKILL)
    if pause == label:
        signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)
