"""Image packs made from the dashboard: one at a time, in a thread of their own, into this process's work folder,
their render workers started by a method safe in a threaded server."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

from publisher.dashboard.board import WORKER_START_METHOD, Dashboard, PackJob
from publisher.errors import Interrupted, PublisherError

PACK_LOCK = threading.Lock()  # one pack at a time: two would share the cores and both be slow


def start_pack(board: Dashboard, form: dict[str, str]) -> PackJob:
    """Start making a pack of the form's collection and formats; the job to follow it by."""
    from publisher.render import FORMAT_NAMES

    collection = board.current().files.collection(form.get("collection") or None)
    formats = [f for f in FORMAT_NAMES if form.get(f"format_{f}")] or list(FORMAT_NAMES)
    job = PackJob(secrets.token_hex(8), collection.collection.name, len(collection.quotes) * len(formats),
                  WORKER_START_METHOD)
    board.work.clear_old_packs()
    out = board.work.folder("packs", job.id) / f"{collection.collection.name}-pack.zip"
    board.jobs[job.id] = job
    threading.Thread(target=_make, args=(board, job, formats, out), name=f"pack-{job.id}", daemon=True).start()
    return job


def _make(board: Dashboard, job: PackJob, formats: list[str], out: Path) -> None:
    from publisher.render.batch import workers_started_by

    def step(count: int) -> None:
        if board.stopping.is_set():  # the server is stopping: unwind, so the workers and the .tmp go
            raise Interrupted("the dashboard stopped while the pack was being made")
        job.done += count

    try:
        with PACK_LOCK, workers_started_by(job.start_method):
            board.current().pack(out, job.name, formats=formats, progress=step)
        job.file, job.state = out, "done"
    except PublisherError as exc:
        job.state, job.error = "failed", "; ".join(exc.lines())
    except Exception as exc:  # a bug: said on the page, and the server goes on
        job.state, job.error = "failed", f"unexpected {type(exc).__name__}: {exc}"
