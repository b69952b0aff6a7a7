"""Named crash points, so tests can kill a real posting process at every step boundary and restart it.

With PUBLISHER_CHECKPOINT_LOG=FILE every point reached is appended to FILE as ``name#n`` (its n-th visit); with
PUBLISHER_KILL_AT=name#n the process SIGKILLs itself there. Neither is set in normal use, and then a checkpoint
costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

_visits: dict[str, int] = {}


def checkpoint(name: str) -> None:
    log, target = os.environ.get("PUBLISHER_CHECKPOINT_LOG"), os.environ.get("PUBLISHER_KILL_AT")
    if not log and not target:
        return
    _visits[name] = _visits.get(name, 0) + 1
    label = f"{name}#{_visits[name]}"
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(label + "\n")
    if target == label:
        os.kill(os.getpid(), signal.SIGKILL)
