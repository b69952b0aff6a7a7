"""Results at scale: ``publisher results --by quote`` over a store of 10,000 posted parts with 40,000 readings
(issue 23: under 1 s), in-process and as a whole command.

The store is a real one, made by publisher (Store.open) and filled with SQL: 2,000 threads of 5 parts (intro,
3 quote cards, outro) on two accounts, posted over a year, each part read 4 times (1 h, 24 h, 7 d, 30 d).

    .venv/bin/python bench/results.py
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from publisher.results import figures_by  # noqa: E402
from publisher.store import Store, iso  # noqa: E402

THREADS, PARTS_PER_THREAD, READINGS_PER_PART = 2000, 5, 4
OFFSETS = [("1h", timedelta(hours=1)), ("24h", timedelta(days=1)), ("7d", timedelta(days=7)),
           ("30d", timedelta(days=30))]
TARGET_SECONDS = 1.0


def fill(root: Path) -> Path:
    """A project whose store holds THREADS posted threads and their readings."""
    (root / "quotes").mkdir(parents=True)
    (root / "quotes" / "caseyreview.toml").write_text((REPO / "quotes" / "caseyreview.toml").read_text("utf-8"),
                                                      encoding="utf-8")
    (root / "schedule.toml").write_text(
        '[accounts.bsky]\nplatform = "bluesky"\nhandle = "campaign.example.org"\n\n'
        '[accounts.masto]\nplatform = "mastodon"\ninstance = "https://social.example"\n\n'
        '[[campaigns]]\nname = "daily"\ncollection = "caseyreview"\naccounts = ["bsky", "masto"]\n',
        encoding="utf-8")
    import tomllib

    quote_ids = [q["id"] for q in tomllib.loads((root / "quotes" / "caseyreview.toml").read_text("utf-8"))["quotes"]]
    (root / "state").mkdir()
    rng = random.Random(23)
    start = datetime(2025, 12, 1, 8, 30, tzinfo=UTC)
    with Store.open(root / "state" / "publisher.db") as store, store.transaction():
        db = store.db
        for number in range(1, THREADS + 1):
            due = start + timedelta(hours=4 * number)
            quotes = rng.sample(quote_ids, 3)
            db.execute("INSERT INTO threads (id, campaign, number, due_at, state, quote_ids, quote_digests, slot, "
                       "created_at) VALUES (?, 'daily', ?, ?, 'posted', ?, '{}', NULL, ?)",
                       (number, number, iso(due), json.dumps(quotes), iso(due)))
            account = "bsky" if number % 2 else "masto"
            for position in range(1, PARTS_PER_THREAD + 1):
                images = "[]" if position in (1, PARTS_PER_THREAD) else json.dumps(
                    [{"sha256": "0" * 64, "alt": "a card", "width": 1080, "height": 1080}])
                posted = due + timedelta(seconds=position)
                cursor = db.execute(
                    "INSERT INTO parts (thread_id, account, position, text, images, state, post_id, url, posted_at) "
                    "VALUES (?, ?, ?, ?, ?, 'posted', ?, ?, ?)",
                    (number, account, position, f"part {position} of thread {number}", images,
                     f"post-{number}-{position}", f"https://example.org/{number}/{position}", iso(posted)))
                part_id = cursor.lastrowid
                likes = rng.randrange(0, 200)
                for label, offset in OFFSETS[:READINGS_PER_PART]:
                    grown = int(likes * offset / OFFSETS[-1][1]) + 1
                    db.execute("INSERT INTO readings (part_id, due, fetched_at, likes, reposts, replies, quotes) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?)",
                               (part_id, label, iso(posted + offset), grown, grown // 4, grown // 10,
                                None if account == "masto" else grown // 20))
    return root


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = fill(Path(folder) / "project")
        with Store.open(root / "state" / "publisher.db") as store:
            parts = store.db.execute("SELECT COUNT(*) FROM parts").fetchone()[0]
            readings = store.db.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
            times = []
            for _ in range(5):
                began = time.perf_counter()
                rows = figures_by(store, "quote")
                times.append(time.perf_counter() - began)
        print(f"store: {parts} posted parts, {readings} readings; --by quote gives {len(rows)} quotes")
        print(f"  figures_by(quote), in-process: median {statistics.median(times) * 1000:.0f} ms "
              f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, n=5)")
        command = [str(Path(sys.executable).parent / "publisher"), "--config", str(root / "schedule.toml"),
                   "results", "--by", "quote", "--json"]
        wall = []
        for _ in range(5):
            began = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env={**os.environ}, check=True)
            wall.append(time.perf_counter() - began)
        assert len(json.loads(done.stdout)) == len(rows)
        median = statistics.median(wall)
        print(f"  publisher results --by quote --json, whole process: median {median:.2f} s "
              f"(min {min(wall):.2f}, max {max(wall):.2f}, n=5); target < {TARGET_SECONDS:.0f} s: "
              + ("met" if median < TARGET_SECONDS else "MISSED"))


if __name__ == "__main__":
    main()
