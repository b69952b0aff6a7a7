"""Results: the daemon's readings at results_at, ``publisher results`` (text, --json, --csv, --by, --refresh), X's
reads within the budget, and a kill during a refresh. Against the Mastodon fake (a second account favourites and
boosts chosen parts) and the X fake, through publisher's real readers; the store is a real SQLite file."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mastodon import Mastodon

from fakes.mastodon_api import FakeMastodonAPI, MastodonFault
from posting_project import environment, make_project
from publisher.app import Project
from publisher.cli import cli
from publisher.results import due_readings, read_due
from publisher.store import Store

pytestmark = pytest.mark.heavy


class Clock:
    def __init__(self) -> None:
        self.moment = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


@pytest.fixture
def fake() -> Iterator[FakeMastodonAPI]:
    api = FakeMastodonAPI()
    api.start()
    yield api
    api.stop()


def posted_thread(tmp_path: Path, fake: FakeMastodonAPI, monkeypatch: pytest.MonkeyPatch,
                  clock: Clock) -> tuple[Path, Any, Project]:
    user = fake.add_user("campaign")
    root = make_project(tmp_path / "p", mastodon=fake.url)
    for key, value in environment(mastodon_token=user.token).items():
        monkeypatch.setenv(key, value)
    project = Project(root / "schedule.toml", now=clock)
    project.queue_add("thread", now=True)
    assert [o.state for o in project.post_due().outcomes] == ["posted"]
    return root, user, project


def fan_of(fake: FakeMastodonAPI) -> Mastodon:
    fan = fake.add_user("fan")
    return Mastodon(access_token=fan.token, api_base_url=fake.url, version_check_mode="none")


def readings(root: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(root / "state" / "publisher.db") as db:
        return db.execute("SELECT parts.position, readings.due, readings.likes, readings.reposts, readings.error "
                          "FROM readings JOIN parts ON parts.id = readings.part_id ORDER BY readings.id").fetchall()


def test_readings_are_made_at_results_at_and_a_failed_one_waits_for_the_next(
        tmp_path: Path, fake: FakeMastodonAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    root, user, project = posted_thread(tmp_path, fake, monkeypatch, clock)
    schedule = project.files.schedule()
    store_path = root / "state" / "publisher.db"
    fans = fan_of(fake)
    first, second = user.statuses[0].id, user.statuses[1].id
    fans.status_favourite(second), fans.status_reblog(second), fans.status_favourite(first)

    assert read_due(store_path, schedule, dict(os.environ), clock) is None  # nothing is an hour old yet
    clock.advance(hours=1, minutes=1)
    report = read_due(store_path, schedule, dict(os.environ), clock)
    assert report is not None and (report.read, report.calls) == (5, 1)
    assert readings(root) == [(1, "1h", 1, 0, None), (2, "1h", 1, 1, None), (3, "1h", 0, 0, None),
                              (4, "1h", 0, 0, None), (5, "1h", 0, 0, None)]
    assert read_due(store_path, schedule, dict(os.environ), clock) is None  # each reading once

    fans.status_favourite(user.statuses[2].id)
    clock.advance(hours=23)
    fake.faults.append(MastodonFault("/api/v1/statuses", 1, "500"))
    report = read_due(store_path, schedule, dict(os.environ), clock)
    assert report is not None and (report.read, report.failed) == (0, 5)
    failed = readings(root)[5:]
    assert len(failed) == 5 and all(r[1:4] == ("24h", None, None) and "500" in r[4] for r in failed), failed
    clock.advance(hours=1)
    assert read_due(store_path, schedule, dict(os.environ), clock) is None  # not again: at the next reading
    clock.advance(days=6)
    report = read_due(store_path, schedule, dict(os.environ), clock)
    assert report is not None and report.read == 5
    assert readings(root)[-3] == (3, "7d", 1, 0, None)

    clock.advance(days=40)  # the daemon was down past 30 d: only the latest reading due is made
    with Store.open(store_path, clock) as store:
        assert {label for _, label in due_readings(store, schedule, clock())} == {"30d"}


def test_results_shows_the_latest_figures_best_first(tmp_path: Path, fake: FakeMastodonAPI,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    root, user, _ = posted_thread(tmp_path, fake, monkeypatch, clock)
    fans = fan_of(fake)
    quote_part = user.statuses[2]  # the second quote's card
    fans.status_favourite(quote_part.id), fans.status_reblog(quote_part.id)
    runner = CliRunner()
    config = ["--config", str(root / "schedule.toml")]

    before = runner.invoke(cli, [*config, "results"])
    assert before.exit_code == 0 and "none read yet" in before.output
    done = runner.invoke(cli, [*config, "results", "--refresh", "--json", "--csv", str(tmp_path / "r.csv")])
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)
    assert [list(r)[:11] for r in rows[:1]] == [["thread_id", "part", "account", "platform", "url", "quote_ids",
                                                 "likes", "reposts", "replies", "quotes", "fetched_at"]]
    best = rows[0]
    with Store.open(root / "state" / "publisher.db") as store:
        thread = store.thread(1)
        assert thread is not None
    assert (best["part"], best["likes"], best["reposts"], best["platform"]) == (3, 1, 1, "mastodon")
    assert best["quote_ids"] == [thread.quote_ids[1]] and best["url"].endswith(quote_part.id)
    assert [r["quote_ids"] for r in sorted(rows, key=lambda r: r["part"])] == [
        [], [thread.quote_ids[0]], [thread.quote_ids[1]], [thread.quote_ids[2]], []]
    with open(tmp_path / "r.csv", encoding="utf-8-sig", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["likes"] for row in table] == [str(r["likes"]) for r in rows]

    by_quote = json.loads(runner.invoke(cli, [*config, "results", "--by", "quote", "--json"]).stdout)
    assert by_quote[0]["quote_id"] == thread.quote_ids[1]
    assert {k: by_quote[0][k] for k in ("posts", "likes", "reposts", "replies")} == {
        "posts": 1, "likes": 1, "reposts": 1, "replies": 0}
    text = runner.invoke(cli, [*config, "results", "--by", "quote"]).output
    assert "best first; the latest read" in text and thread.quote_ids[1] in text.splitlines()[2]


def test_an_outbox_has_no_figures_and_the_command_says_so(project: Path, run_cli: Any) -> None:
    assert run_cli("queue", "add", "--now").exit_code == 0 and run_cli("post").exit_code == 0
    shown = run_cli("results", "--refresh", "--json")
    assert shown.exit_code == 0
    rows = json.loads(shown.stdout)
    assert rows and all(r["likes"] is None and r["quotes"] is None for r in rows)  # null, never 0
    assert "local is a local outbox: its posts have no audience" in shown.stderr


def test_a_kill_during_a_refresh_loses_no_batch_already_stored(tmp_path: Path, fake: FakeMastodonAPI,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Two accounts, so two batches: killed after reading the second, the first is kept; run again, all."""
    clock = Clock()
    one, two = fake.add_user("one"), fake.add_user("two")
    root = make_project(tmp_path / "p", mastodon=fake.url)
    schedule = root / "schedule.toml"
    text = schedule.read_text("utf-8").replace('accounts = ["masto"]', 'accounts = ["masto", "masto2"]')
    schedule.write_text(text.replace("[[campaigns]]", f'[accounts.masto2]\nplatform = "mastodon"\ninstance = '
                                     f'"{fake.url}"\ntoken_env = "PUBLISHER_MASTODON_TOKEN_2"\n\n[[campaigns]]'),
                        encoding="utf-8")
    env = {**environment(mastodon_token=one.token), "PUBLISHER_MASTODON_TOKEN_2": two.token}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    project = Project(schedule, now=clock)
    project.queue_add("thread", now=True)
    assert [o.state for o in project.post_due().outcomes] == ["posted"]
    fan_of(fake).status_favourite(one.statuses[0].id)

    def refresh(kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = {"PUBLISHER_KILL_AT": kill_at} if kill_at else {}
        return subprocess.run([sys.executable, "-m", "publisher", "--config", str(schedule), "results", "--refresh",
                               "--json"], env={**os.environ, **extra}, capture_output=True, text=True, timeout=120,
                              check=False)

    killed = refresh("results:read:after#2")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    kept = readings(root)
    assert len(kept) == 5 and all(r[1] == "refresh" and r[4] is None for r in kept)  # the first batch, all of it
    assert sorted(r[2] for r in kept) == [0, 0, 0, 0, 1]
    done = refresh()
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 10 and len(readings(root)) == 15
    assert "read 10 posts in 2 calls" in done.stderr


def test_x_reads_are_priced_and_skipped_rather_than_go_over_the_budget(tmp_path: Path, fake_x: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    user = fake_x.add_user("publisher_test")
    root = make_project(tmp_path / "p", x=True)
    schedule = root / "schedule.toml"
    text = schedule.read_text("utf-8").replace('handle = "@publisher_test"\n',
                                               'handle = "@publisher_test"\nx_results = true\n')
    schedule.write_text(text + "x_monthly_budget = 100.0\n", encoding="utf-8")
    for key, value in environment(fake_x=fake_x, x_user=user).items():
        monkeypatch.setenv(key, value)
    project = Project(schedule, now=clock)
    project.queue_add("thread", now=True)
    assert [o.state for o in project.post_due().outcomes] == ["posted"]
    with Store.open(root / "state" / "publisher.db") as store:
        posts_cost = sum(p.cost or 0 for p in store.parts(1))
    fake_x.set_metrics(user.tweets[1]["id"], likes=7, reposts=2, quotes=1)
    # room for three reads at $0.001 each after what the thread cost
    schedule.write_text(text + f"x_monthly_budget = {posts_cost + 0.0035:.4f}\n", encoding="utf-8")
    project = Project(schedule, now=clock)
    report = project.results(refresh=True)
    assert report.read is not None and (report.read.read, report.read.skipped) == (3, 2)
    assert "over campaign thread's x_monthly_budget" in report.read.notes[0]
    rows = {r["part"]: r for r in report.rows}
    assert (rows[2]["likes"], rows[2]["reposts"], rows[2]["quotes"]) == (7, 2, 1)
    with Store.open(root / "state" / "publisher.db") as store:
        assert store.reading_spend("x", clock() - timedelta(days=1)) == pytest.approx(0.003)
    assert fake_x.counts.get("/2/tweets", 0) >= 1
    status = project.status()
    assert status["readings_skipped"] == {"x": 2}
    # the same day, a post already read costs nothing to read again: those three are read, the other two not
    again = project.results(refresh=True)
    assert again.read is not None and (again.read.read, again.read.skipped) == (3, 2)
