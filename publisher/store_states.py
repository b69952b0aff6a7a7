"""The states of threads and parts, and the writes that change them. A part's state is written before the
network call it describes and its result right after, so after a crash at any instant the record says what might
have happened:

    thread  awaiting_approval -> (approved) queued | skipped;  queued | posting -> awaiting_approval (sent back)
            queued -> posting -> posted | needs_attention -> (retried) queued | posting
            queued | posting | needs_attention -> held -> (released) queued | posting | awaiting_approval
            queued -> over_budget -> (released) queued;  queued -> skipped (its slot was missed)
            any but posted and skipped -> cancelled
    part    pending -> in_flight -> posted | unknown | failed

A state change is one conditional write (``transition``): it happens only from the states allowed, so a cancel
and the poster's own bookkeeping can never overwrite each other.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from publisher.faults import checkpoint
from publisher.redact import redact
from publisher.store_base import StoreConnection, iso

THREAD_STATES = ("awaiting_approval", "queued", "posting", "posted", "needs_attention", "cancelled", "held",
                 "over_budget", "skipped")
POSTABLE = ("queued", "posting")  # the states in which the poster may send a thread's parts
SENT = ("posted", "in_flight", "unknown")  # a part in one of these is live, or may be: never recomposed or refunded
# Not finished: shown in the queue.
ACTIVE = ("awaiting_approval", "queued", "posting", "needs_attention", "held", "over_budget")
# A thread that uses its quotes: everything but a skipped one (a cancelled thread's quotes stay used, so a
# cancelled quote is never queued again behind the user's back).
USES_QUOTES = ("awaiting_approval", "queued", "posting", "posted", "needs_attention", "cancelled", "held",
               "over_budget")


class ThreadStates(StoreConnection):
    """The state changes of threads and parts (``Store`` is one)."""

    def thread_state(self, thread_id: int) -> str | None:
        row = self.db.execute("SELECT state FROM threads WHERE id = ?", (thread_id,)).fetchone()
        return str(row["state"]) if row else None

    def transition(self, thread_id: int, state: str, allowed_from: tuple[str, ...],
                   reason: str | None = None) -> bool:
        """Move a thread to ``state`` if it is in one of ``allowed_from``; False (and nothing written) if not."""
        marks = ",".join("?" for _ in allowed_from)
        checkpoint("store:thread:before")
        with self.transaction():
            changed = self.db.execute(
                f"UPDATE threads SET state = ?, reason = ?, changed_at = ? WHERE id = ? AND state IN ({marks})",
                (state, reason, iso(self.now()), thread_id, *allowed_from)).rowcount
        checkpoint("store:thread:after")
        return bool(changed)

    def begin_attempt(self, part_id: int, prepared: dict[str, Any]) -> bool:
        """The part is about to be sent, exactly as ``prepared`` (stored with the mark): from now until its result
        is written, its outcome is unknown. Preparing (uploads) is safe to repeat and needs no mark of its own.

        Only while its thread is being posted: False (nothing written) if it was cancelled, held or recomposed
        meanwhile, so a part is never sent after its thread was stopped."""
        checkpoint("store:begin:before")
        with self.transaction():
            begun = self.db.execute(
                "UPDATE parts SET state = 'in_flight', attempts = attempts + 1, prepared = ? WHERE id = ? "
                "AND state != 'posted' AND (SELECT state FROM threads WHERE id = parts.thread_id) = 'posting'",
                (json.dumps(prepared), part_id)).rowcount
            if begun:
                self.db.execute("INSERT INTO attempts (part_id, started_at) VALUES (?, ?)",
                                (part_id, iso(self.now())))
        checkpoint("store:begin:after")
        return bool(begun)

    def _finish_attempt(self, part_id: int, outcome: str, error: str | None, retry_at: datetime | None) -> None:
        """Close the open attempt, or record one that ended before anything was sent (e.g. a failed upload)."""
        values = (iso(self.now()), outcome, error, iso(retry_at) if retry_at else None)
        updated = self.db.execute("UPDATE attempts SET finished_at = ?, outcome = ?, error = ?, retry_at = ? "
                                  "WHERE part_id = ? AND finished_at IS NULL", (*values, part_id)).rowcount
        if not updated:
            self.db.execute("INSERT INTO attempts (part_id, started_at, finished_at, outcome, error, retry_at) "
                            "VALUES (?, ?, ?, ?, ?, ?)", (part_id, values[0], *values))

    def mark_posted(self, part_id: int, post_id: str, cid: str | None, url: str | None) -> None:
        checkpoint("store:posted:before")
        with self.transaction():
            self.db.execute("UPDATE parts SET state = 'posted', post_id = ?, cid = ?, url = ?, last_error = NULL, "
                            "fix = NULL, not_before = NULL, posted_at = ? WHERE id = ?",
                            (post_id, cid, url, iso(self.now()), part_id))
            self._finish_attempt(part_id, "posted", None, None)
        checkpoint("store:posted:after")

    def mark_part(self, part_id: int, state: str, error: str, fix: str | None = None,
                  not_before: datetime | None = None, outcome: str | None = None, count: bool = False) -> None:
        """Record a part that did not post: back to pending until ``not_before``, or unknown, or failed.
        ``count``: a failure before anything was sent (an upload, a login) counts as an attempt too."""
        error, fix = redact(error), redact(fix) if fix else fix
        checkpoint("store:outcome:before")
        with self.transaction():
            self.db.execute("UPDATE parts SET state = ?, last_error = ?, fix = ?, not_before = ?, "
                            "attempts = attempts + ? WHERE id = ?",
                            (state, error, fix, iso(not_before) if not_before else None, int(count), part_id))
            self._finish_attempt(part_id, outcome or state, error, not_before)
        checkpoint("store:outcome:after")

    def reset_parts(self, thread_id: int, thread_from: tuple[str, ...]) -> int | None:
        """Put the parts known not to be posted that failed or wait for a retry back to pending, now (clearing
        what an earlier attempt prepared), and the thread back to posting; None if the thread is not in one of
        ``thread_from``. Parts never tried are left as they are."""
        from_marks = ",".join("?" for _ in thread_from)
        with self.transaction():
            state = self.thread_state(thread_id)
            if state not in thread_from:
                return None
            changed = self.db.execute(
                "UPDATE parts SET state = 'pending', not_before = NULL, prepared = NULL, last_error = NULL, "
                "fix = NULL, attempts = 0 WHERE thread_id = ? AND (state = 'failed' OR (state = 'pending' AND "
                "(attempts > 0 OR not_before IS NOT NULL OR last_error IS NOT NULL)))", (thread_id,)).rowcount
            if changed:
                started = self.db.execute("SELECT 1 FROM parts WHERE thread_id = ? AND state != 'pending'",
                                          (thread_id,)).fetchone()
                self.db.execute(f"UPDATE threads SET state = ?, reason = NULL, changed_at = ? WHERE id = ? "
                                f"AND state IN ({from_marks})",
                                ("posting" if started else "queued", iso(self.now()), thread_id, *thread_from))
        return int(changed)
