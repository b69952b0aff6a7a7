"""What the scheduler remembers, in the store, across passes and restarts: when it first watched each
campaign (and since when one was disabled), which slot instants it handled, so that a slot never posts twice, and
the events (warnings and errors) that ``publisher status`` and the dashboard show.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from publisher.faults import checkpoint
from publisher.redact import redact
from publisher.store_base import StoreConnection, iso


class SchedulerMemory(StoreConnection):
    """The scheduler's memory (``Store`` is one)."""

    def watched_since(self, campaign: str, now: datetime) -> datetime:
        """When the scheduler first saw this campaign (slots before that are never caught up)."""
        with self.transaction():
            self.db.execute("INSERT OR IGNORE INTO watched (campaign, since) VALUES (?, ?)", (campaign, iso(now)))
            row = self.db.execute("SELECT since FROM watched WHERE campaign = ?", (campaign,)).fetchone()
        return datetime.fromisoformat(row["since"])

    def seen_disabled(self, campaign: str, now: datetime) -> None:
        """The campaign is disabled (enabled = false) now: remember since when, once."""
        with self.transaction():
            self.db.execute("INSERT OR IGNORE INTO watched (campaign, since) VALUES (?, ?)", (campaign, iso(now)))
            self.db.execute("UPDATE watched SET disabled_since = ? WHERE campaign = ? AND disabled_since IS NULL",
                            (iso(now), campaign))

    def seen_enabled(self, campaign: str, now: datetime) -> datetime | None:
        """The campaign is enabled now: if it was seen disabled, it is watched afresh from now (its slots that
        fell meanwhile are never caught up); returns since when it was disabled, or None."""
        with self.transaction():
            row = self.db.execute("SELECT disabled_since FROM watched WHERE campaign = ?", (campaign,)).fetchone()
            if row is None or row["disabled_since"] is None:
                return None
            self.db.execute("UPDATE watched SET since = ?, disabled_since = NULL WHERE campaign = ?",
                            (iso(now), campaign))
        return datetime.fromisoformat(row["disabled_since"])

    def last_slot(self, campaign: str) -> datetime | None:
        row = self.db.execute("SELECT MAX(slot_at) AS last FROM slot_firings WHERE campaign = ?",
                              (campaign,)).fetchone()
        return datetime.fromisoformat(row["last"]) if row["last"] else None

    def record_slot(self, campaign: str, slot_at: datetime, outcome: str, thread_ids: list[int]) -> bool:
        """Remember a slot instant as handled; False if it already was (a slot never posts twice)."""
        checkpoint("store:slot:before")
        with self.transaction():
            done = self.db.execute("INSERT OR IGNORE INTO slot_firings (campaign, slot_at, outcome, thread_ids, "
                                   "recorded_at) VALUES (?, ?, ?, ?, ?)",
                                   (campaign, iso(slot_at), outcome, json.dumps(thread_ids), iso(self.now())))
        checkpoint("store:slot:after")
        return bool(done.rowcount)

    def add_event(self, level: str, message: str) -> None:
        with self.transaction():
            self.db.execute("INSERT INTO events (at, level, message) VALUES (?, ?, ?)",
                            (iso(self.now()), level, redact(message)))

    def events(self, levels: tuple[str, ...] = ("error", "warning"), limit: int = 10) -> list[dict[str, Any]]:
        marks = ",".join("?" for _ in levels)
        return [dict(r) for r in self.db.execute(
            f"SELECT * FROM events WHERE level IN ({marks}) ORDER BY id DESC LIMIT ?", (*levels, limit))]
