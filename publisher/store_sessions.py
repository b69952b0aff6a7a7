"""What the platforms remember, in the store: what was learnt of a server (a Mastodon instance's limits), and
Bluesky's saved sessions (so a restart reuses one rather than log in again: Bluesky limits
password logins), the password logins of the last day, and handles resolved to DIDs. The session tokens are kept;
never a password.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from publisher.store_base import StoreConnection, iso, parse_time


class BlueskySessions(StoreConnection):
    """Sessions, logins, handles and what was learnt of servers (``Store`` is one; it is a ``LimitsCache``)."""

    def cached(self, key: str, max_age: timedelta) -> dict[str, Any] | None:
        """What was learnt under ``key`` within ``max_age``, or None."""
        row = self.db.execute("SELECT value, learnt_at FROM learnt WHERE key = ?", (key,)).fetchone()
        learnt_at = parse_time(row["learnt_at"]) if row else None
        if row is None or learnt_at is None or self.now() - learnt_at > max_age:
            return None
        value = json.loads(row["value"])
        return value if isinstance(value, dict) else None

    def cache(self, key: str, value: dict[str, Any]) -> None:
        with self.transaction():
            self.db.execute("INSERT INTO learnt (key, value, learnt_at) VALUES (?, ?, ?) ON CONFLICT (key) DO "
                            "UPDATE SET value = excluded.value, learnt_at = excluded.learnt_at",
                            (key, json.dumps(value, sort_keys=True), iso(self.now())))

    def session(self, account: str) -> str | None:
        row = self.db.execute("SELECT session FROM sessions WHERE account = ?", (account,)).fetchone()
        return str(row["session"]) if row else None

    def save_session(self, account: str, session: str) -> None:
        with self.transaction():
            self.db.execute("INSERT INTO sessions (account, session, saved_at) VALUES (?, ?, ?) "
                            "ON CONFLICT (account) DO UPDATE SET session = excluded.session, "
                            "saved_at = excluded.saved_at",
                            (account, session, iso(self.now())))

    def record_login(self, account: str) -> int:
        """Count a password login; returns how many this account made in the last 24 hours."""
        now = self.now()
        with self.transaction():
            self.db.execute("INSERT INTO logins (account, at) VALUES (?, ?)", (account, iso(now)))
        return self.logins_last_day(account)

    def first_login_last_day(self, account: str) -> datetime | None:
        """The oldest login of the last 24 hours: when it leaves the window, another login is allowed."""
        since = iso(self.now() - timedelta(days=1))
        row = self.db.execute("SELECT MIN(at) FROM logins WHERE account = ? AND at > ?", (account, since)).fetchone()
        return parse_time(row[0])

    def logins_last_day(self, account: str) -> int:
        since = iso(self.now() - timedelta(days=1))
        row = self.db.execute("SELECT COUNT(*) FROM logins WHERE account = ? AND at > ?", (account, since)).fetchone()
        return int(row[0])

    def cached_did(self, handle: str) -> str | None:
        row = self.db.execute("SELECT did FROM handles WHERE handle = ?", (handle.lower(),)).fetchone()
        return str(row["did"]) if row else None

    def cache_did(self, handle: str, did: str) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO handles (handle, did, resolved_at) VALUES (?, ?, ?)",
                            (handle.lower(), did, iso(self.now())))
