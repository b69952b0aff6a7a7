"""Posting for real: a 5-part image thread to the reference Bluesky PDS and to a fake X that enforces X's rules,
and the faults that must neither lose nor duplicate a post."""

from __future__ import annotations

import itertools
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fakes.fault_proxy import Fault, FaultProxy
from fakes.x_api import REPLY_REFUSED, XFault
from posting_project import environment, make_project
from publisher.app import Project
from publisher.cli import cli
from publisher.errors import MissingCredentials
from publisher.store import Store


class Clock:
    def __init__(self) -> None:
        self.moment = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def post_until_done(project: Project, clock: Clock, rounds: int = 8, step: float = 3600) -> list[Any]:
    outcomes: list[Any] = []
    for _ in range(rounds):
        outcomes = project.post_due().outcomes
        if all(o.state == "posted" for o in outcomes):
            return outcomes
        clock.advance(step)
    return outcomes


def parts_by_state(project_dir: Path) -> dict[str, list[str]]:
    db = sqlite3.connect(project_dir / "state" / "publisher.db")
    rows = db.execute("SELECT account, state FROM parts ORDER BY account, position").fetchall()
    out: dict[str, list[str]] = {}
    for account, state in rows:
        out.setdefault(account, []).append(state)
    return out


def check_bluesky_thread(pds: Any, did: str, marker: str, mention_did: str | None = None) -> list[dict[str, Any]]:
    posts = [p for p in pds.posts(did)]
    assert len(posts) == 5, [p["value"]["text"][:40] for p in posts]
    assert marker in posts[0]["value"]["text"]
    texts = [p["value"]["text"] for p in posts]
    assert len(set(texts)) == 5
    root = {"uri": posts[0]["uri"], "cid": posts[0]["cid"]}
    assert "reply" not in posts[0]["value"]
    for previous, post in itertools.pairwise(posts):
        reply = post["value"]["reply"]
        assert {k: reply["root"][k] for k in ("uri", "cid")} == root
        assert {k: reply["parent"][k] for k in ("uri", "cid")} == {"uri": previous["uri"], "cid": previous["cid"]}
    for index, post in enumerate(posts, start=1):
        assert post["value"]["text"].endswith(f"{index}/5")
    return posts


def check_x_thread(user: Any, marker: str) -> list[dict[str, Any]]:
    tweets = user.tweets
    assert len(tweets) == 5, [t["text"][:40] for t in tweets]
    assert marker in tweets[0]["text"] and "referenced_tweets" not in tweets[0]
    for previous, tweet in itertools.pairwise(tweets):
        assert tweet["referenced_tweets"] == [{"type": "replied_to", "id": previous["id"]}]
    return tweets


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_five_part_thread_to_bluesky_and_x(tmp_path: Path, pds: Any, fake_x: Any, clock: Clock,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    handle, did, password = pds.create_account("poster")
    mention_handle, mention_did, _ = pds.create_account("metpolice")
    user = fake_x.add_user("publisher_test")
    root = make_project(tmp_path / "p", bluesky=(pds.url, handle), x=True, mention_handle=mention_handle)
    for key, value in environment(bluesky_password=password, fake_x=fake_x, x_user=user).items():
        monkeypatch.setenv(key, value)
    project = Project(root / "schedule.toml", now=clock)
    thread_id = project.queue_add("thread", now=True).thread.id
    assert thread_id == 1
    outcomes = project.post_due().outcomes
    assert [o.state for o in outcomes] == ["posted"]
    assert parts_by_state(root) == {"bsky": ["posted"] * 5, "x": ["posted"] * 5}

    posts = check_bluesky_thread(pds, did, "(thread)")
    store = Store.open(root / "state" / "publisher.db")
    stored_parts = store.parts(1, "bsky")
    for post, part in zip(posts, stored_parts, strict=True):
        text = post["value"]["text"]
        assert text == part.text
        raw = text.encode("utf-8")
        kinds = {}
        for facet in post["value"].get("facets", []):
            feature = facet["features"][0]
            kinds.setdefault(feature["$type"].split("#")[1], []).append(
                (raw[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode(), feature))
        assert ("#CaseyReview", {"$type": "app.bsky.richtext.facet#tag", "tag": "CaseyReview"}) in kinds["tag"]
        if part.images:
            assert kinds["mention"] == [(f"@{mention_handle}", {"$type": "app.bsky.richtext.facet#mention",
                                                                 "did": mention_did})]
            images = post["value"]["embed"]["images"]
            assert len(images) == 1
            assert images[0]["alt"] == part.images[0]["alt"] and images[0]["alt"].startswith("Quote: “")
            ratio = images[0]["aspectRatio"]
            assert (ratio["width"], ratio["height"]) == (1080, 1080)
            blob = pds.blob(did, images[0]["image"]["ref"]["$link"])
            assert blob == store.image(part.images[0]["sha256"])[0]
    assert kinds["link"][0][0] == "https://example.org/casey-review"  # the outro's link, last post

    tweets = check_x_thread(user, "(thread)")
    x_parts = store.parts(1, "x")
    assert [t["text"] for t in tweets] == [p.text for p in x_parts]
    assert "@metpoliceuk" in tweets[1]["text"]
    assert [len(t["media"]) for t in tweets] == [0, 1, 1, 1, 0]
    assert all(m["alt"].startswith("Quote: “") for t in tweets for m in t["media"])
    assert x_parts[0].url == f"https://x.com/publisher_test/status/{tweets[0]['id']}"
    assert stored_parts[0].url.startswith(f"https://bsky.app/profile/{handle}/post/")
    store.close()


def test_bluesky_session_is_reused_not_recreated(tmp_path: Path, pds: Any, clock: Clock,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    handle, did, password = pds.create_account("session")
    proxy = FaultProxy(pds.url)
    url = proxy.start()
    root = make_project(tmp_path / "p", bluesky=(url, handle))
    for key, value in environment(bluesky_password=password).items():
        monkeypatch.setenv(key, value)
    for _ in range(3):  # three separate runs, as three daemon restarts would be
        project = Project(root / "schedule.toml", now=clock)
        project.queue_add("thread", now=True)
        assert [o.state for o in project.post_due().outcomes] == ["posted"]
    proxy.stop()
    assert proxy.counts.get("/xrpc/com.atproto.server.createSession") == 1
    assert len(pds.posts(did)) == 15


@pytest.mark.parametrize("fault", [
    Fault("/xrpc/com.atproto.repo.putRecord", 2, "500"),  # refused before the server saw it
    Fault("/xrpc/com.atproto.repo.putRecord", 3, "drop_after"),  # written, then the connection dropped
    Fault("/xrpc/com.atproto.repo.putRecord", 2, "stall_after", stall=4.0),  # written, answer too late
    Fault("/xrpc/com.atproto.repo.uploadBlob", 1, "drop_after"),
    Fault("/xrpc/com.atproto.repo.uploadBlob", 2, "500"),
], ids=["put-500", "put-accepted-then-dropped", "put-accepted-then-timeout", "upload-dropped", "upload-500"])
def test_bluesky_faults_never_duplicate(tmp_path: Path, pds: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch,
                                        fault: Fault) -> None:
    handle, did, password = pds.create_account("faults")
    proxy = FaultProxy(pds.url, [fault])
    root = make_project(tmp_path / "p", bluesky=(proxy.start(), handle))
    for key, value in environment(bluesky_password=password, timeout=2).items():
        monkeypatch.setenv(key, value)
    project = Project(root / "schedule.toml", now=clock)
    project.queue_add("thread", now=True)
    post_until_done(project, clock)
    proxy.stop()
    check_bluesky_thread(pds, did, "(thread)")
    assert parts_by_state(root) == {"bsky": ["posted"] * 5}


def test_bluesky_rate_limit_waits_for_the_reset(tmp_path: Path, pds: Any, clock: Clock,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    handle, did, password = pds.create_account("ratelimit")
    proxy = FaultProxy(pds.url, [Fault("/xrpc/com.atproto.repo.putRecord", 3, "429", reset_in=600)])
    root = make_project(tmp_path / "p", bluesky=(proxy.start(), handle))
    for key, value in environment(bluesky_password=password).items():
        monkeypatch.setenv(key, value)
    project = Project(root / "schedule.toml", now=clock)
    project.queue_add("thread", now=True)
    outcomes = project.post_due().outcomes
    account = outcomes[0].accounts[0]
    assert (outcomes[0].state, account.state, account.posted) == ("posting", "waiting", 2)
    reset = account.retry_at
    assert reset is not None and 590 <= (reset - datetime.now(UTC)).total_seconds() <= 601
    assert project.post_due().outcomes[0].accounts[0].posted == 2  # before the reset: nothing is sent
    result = CliRunner().invoke(cli, ["--config", str(root / "schedule.toml"), "queue", "show", "1"])
    assert re.search(r"\n    3/5  pending    \d+/300 graphemes  next try after ", result.output)
    assert "Bluesky rate limit reached" in result.output
    clock.moment = reset + timedelta(seconds=1)
    assert project.post_due().outcomes[0].state == "posted"
    proxy.stop()
    check_bluesky_thread(pds, did, "(thread)")


@pytest.mark.parametrize("fault", [
    XFault("/2/tweets", 2, "500"),
    XFault("/2/tweets", 3, "accept_then_reset"),
    XFault("/2/tweets", 2, "accept_then_hang", hang=3.0),
    XFault("/2/tweets", 4, "reset_before"),
    XFault("/2/media/upload", 2, "500"),
    XFault("/2/media/upload", 1, "reset_before"),
], ids=["create-500", "create-accepted-then-reset", "create-accepted-then-timeout", "create-reset-before",
        "upload-500", "upload-reset"])
def test_x_faults_never_duplicate(tmp_path: Path, fake_x: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch,
                                  fault: XFault) -> None:
    user = fake_x.add_user("faulty")
    fake_x.faults.append(fault)
    root = make_project(tmp_path / "p", x=True)
    for key, value in environment(fake_x=fake_x, x_user=user, timeout=1.5).items():
        monkeypatch.setenv(key, value)
    project = Project(root / "schedule.toml", now=clock)
    project.queue_add("thread", now=True)
    post_until_done(project, clock)
    check_x_thread(user, "(thread)")
    assert parts_by_state(root) == {"x": ["posted"] * 5}


def test_x_rate_limit_follows_the_reset_header(tmp_path: Path, fake_x: Any, clock: Clock,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    user = fake_x.add_user("limited")
    fake_x.posts_per_window, fake_x.window = 2, 900
    root = make_project(tmp_path / "p", x=True)
    for key, value in environment(fake_x=fake_x, x_user=user).items():
        monkeypatch.setenv(key, value)
    project = Project(root / "schedule.toml", now=clock)
    project.queue_add("thread", now=True)
    account = project.post_due().outcomes[0].accounts[0]
    assert (account.state, account.posted) == ("waiting", 2)
    assert account.retry_at is not None and 880 <= (account.retry_at - datetime.now(UTC)).total_seconds() <= 901
    fake_x.posts_per_window = 100
    clock.moment = account.retry_at + timedelta(seconds=1)
    assert project.post_due().outcomes[0].state == "posted"
    check_x_thread(user, "(thread)")


def test_x_reply_restriction_is_explained_and_bluesky_goes_on(tmp_path: Path, pds: Any, fake_x: Any,
                                                              clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    handle, did, password = pds.create_account("both")
    user = fake_x.add_user("restricted")
    fake_x.restrict_replies = True
    root = make_project(tmp_path / "p", bluesky=(pds.url, handle), x=True)
    for key, value in environment(bluesky_password=password, fake_x=fake_x, x_user=user).items():
        monkeypatch.setenv(key, value)
    project = Project(root / "schedule.toml", now=clock)
    project.queue_add("thread", now=True)
    outcome = project.post_due().outcomes[0]
    assert outcome.state == "needs_attention"
    assert parts_by_state(root) == {"bsky": ["posted"] * 5, "x": ["posted", "failed", "pending", "pending",
                                                                  "pending"]}
    check_bluesky_thread(pds, did, "(thread)")
    assert len(user.tweets) == 1
    result = CliRunner().invoke(cli, ["--config", str(root / "schedule.toml"), "queue", "show", "1"])
    assert f"error: X refused the reply: {REPLY_REFUSED}" in result.output
    assert "fix: X restricts API replies for some accounts; the rest of this thread stays queued." in result.output
    result = CliRunner().invoke(cli, ["--config", str(root / "schedule.toml"), "post"])
    assert result.exit_code == 7 and "thread 1 needs attention (publisher queue show 1)" in result.output


def test_missing_credentials_are_explained(tmp_path: Path, fake_x: Any, clock: Clock,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("PUBLISHER_X_API_KEY", "PUBLISHER_X_API_SECRET", "PUBLISHER_X_ACCESS_TOKEN",
                "PUBLISHER_X_ACCESS_TOKEN_SECRET"):
        monkeypatch.delenv(key, raising=False)
    root = make_project(tmp_path / "p", x=True)
    project = Project(root / "schedule.toml", now=clock)
    project.queue_add("thread", now=True)
    with pytest.raises(MissingCredentials) as refused:  # before anything is sent: never half a thread
        project.post_due()
    assert "account x: PUBLISHER_X_API_KEY, PUBLISHER_X_API_SECRET" in str(refused.value)
    assert parts_by_state(root)["x"] == ["pending"] * 5


def test_retry_only_touches_parts_known_not_posted(tmp_path: Path, fake_x: Any, clock: Clock,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    user = fake_x.add_user("retry")
    fake_x.restrict_replies = True
    root = make_project(tmp_path / "p", x=True)
    for key, value in environment(fake_x=fake_x, x_user=user).items():
        monkeypatch.setenv(key, value)
    project = Project(root / "schedule.toml", now=clock)
    project.queue_add("thread", now=True)
    project.post_due()
    fake_x.restrict_replies = False
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(root / "schedule.toml"), "queue", "retry", "1"])
    assert "1 part will be tried again" in result.output  # the refused one; the 3 after it follow
    assert project.post_due().outcomes[0].state == "posted"
    check_x_thread(user, "(thread)")


def test_dry_run_leaves_the_queue_alone(tmp_path: Path, clock: Clock) -> None:
    root = make_project(tmp_path / "p")
    schedule = root / "schedule.toml"
    schedule.write_text(schedule.read_text("utf-8").replace(
        "accounts = []", 'accounts = ["local"]') + '\n[accounts.local]\nplatform = "outbox"\n', encoding="utf-8")
    project = Project(schedule, now=clock)
    project.queue_add("thread", now=True)
    report = project.post_due(dry_run=True)
    outcomes, folder = report.outcomes, report.outbox
    assert [o.state for o in outcomes] == ["posted"] and folder is not None
    assert len(list((folder / "local" / "posts").glob("*.json"))) == 5
    assert parts_by_state(root) == {"local": ["pending"] * 5}
    assert not (root / "outbox").exists()




def test_an_upload_that_keeps_failing_gives_up_and_needs_attention(tmp_path: Path, fake_x: Any, clock: Clock,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A transient failure before anything is sent (an upload) counts as an attempt: after MAX_TRANSIENT_ATTEMPTS
    the part needs a person, with the fix, instead of being retried every half minute for ever."""
    from publisher.poster import MAX_TRANSIENT_ATTEMPTS

    user = fake_x.add_user("uploads")
    fake_x.faults += [XFault("/2/media/upload", n, "500") for n in range(1, 30)]
    root = make_project(tmp_path / "p", x=True)
    for key, value in environment(fake_x=fake_x, x_user=user).items():
        monkeypatch.setenv(key, value)
    project = Project(root / "schedule.toml", now=clock)
    project.queue_add("thread", now=True)
    for _ in range(MAX_TRANSIENT_ATTEMPTS + 3):
        project.post_due()
        clock.advance(3600)
    assert parts_by_state(root) == {"x": ["posted", "failed", "pending", "pending", "pending"]}
    assert fake_x.counts["/2/media/upload"] == MAX_TRANSIENT_ATTEMPTS
    with Store.open(root / "state" / "publisher.db") as store:
        (thread,) = store.threads()
        assert thread.state == "needs_attention"
        failed = store.parts(thread.id)[1]
        assert failed.attempts == MAX_TRANSIENT_ATTEMPTS and failed.last_error == "X answered 500"
        assert failed.fix == f"gave up after {MAX_TRANSIENT_ATTEMPTS} attempts; when the platform works again, run " \
                             f"publisher queue retry {thread.id}"
    assert len(user.tweets) == 1  # the intro, which has no card


def test_an_error_of_our_own_in_an_adapter_stops_the_part_as_unexpected(
        tmp_path: Path, fake_x: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A KeyError in the adapter (an answer without the field the code reads) is not the platform's transient
    error: the part fails at once as unexpected, the traceback goes to the log, and it is never retried blind."""
    user = fake_x.add_user("ourbug")
    fake_x.faults.append(XFault("/2/media/upload", 1, "accept_then_empty"))
    root = make_project(tmp_path / "p", x=True)
    for key, value in environment(fake_x=fake_x, x_user=user).items():
        monkeypatch.setenv(key, value)
    project = Project(root / "schedule.toml", now=clock)
    project.queue_add("thread", now=True)
    with caplog.at_level("ERROR", logger="publisher"):
        (outcome,) = project.post_due().outcomes
    assert outcome.state == "needs_attention"
    assert parts_by_state(root) == {"x": ["posted", "failed", "pending", "pending", "pending"]}
    with Store.open(root / "state" / "publisher.db") as store:
        failed = store.parts(1)[1]
        assert failed.last_error == "unexpected KeyError: 'id'" and failed.attempts == 0
        assert failed.fix is not None and failed.fix.startswith("this is a bug in publisher, not the platform")
    (record,) = [r for r in caplog.records if "unexpected KeyError" in r.getMessage()]
    assert record.exc_info is not None  # the traceback, in the log
    assert fake_x.counts["/2/media/upload"] == 1


def test_post_shows_a_bugs_traceback_only_with_debug(tmp_path: Path, fake_x: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    user = fake_x.add_user("ourbugcli")
    fake_x.faults += [XFault("/2/media/upload", n, "accept_then_empty") for n in (1, 2)]
    root = make_project(tmp_path / "p", x=True)
    for key, value in environment(fake_x=fake_x, x_user=user).items():
        monkeypatch.setenv(key, value)
    Project(root / "schedule.toml").queue_add("thread", now=True)
    runner = CliRunner()
    quiet = runner.invoke(cli, ["--config", str(root / "schedule.toml"), "post"])
    assert quiet.exit_code == 7
    assert "error: thread 1 x part 2: unexpected KeyError: 'id'\n" in quiet.stderr
    assert "Traceback" not in quiet.output
    assert runner.invoke(cli, ["--config", str(root / "schedule.toml"), "queue", "retry", "1"]).exit_code == 0
    loud = runner.invoke(cli, ["--config", str(root / "schedule.toml"), "--debug", "post"])
    assert loud.exit_code == 7 and "Traceback (most recent call last)" in loud.stderr
    assert "KeyError: 'id'" in loud.stderr


def test_a_post_x_keeps_failing_after_sending_gives_up_and_needs_attention(
        tmp_path: Path, fake_x: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 500 to every post: each send is an unknown outcome, looked for once X has had time to show it, and found
    missing. That cycle counts its sends, and after MAX_TRANSIENT_ATTEMPTS the part needs a person; it is never
    sent for ever."""
    from publisher.poster import MAX_TRANSIENT_ATTEMPTS

    user = fake_x.add_user("alwaysfails")
    fake_x.faults += [XFault("/2/tweets", n, "500") for n in range(1, 60)]
    root = make_project(tmp_path / "p", x=True)
    for key, value in {**environment(fake_x=fake_x, x_user=user), "PUBLISHER_X_TIMELINE_LAG": "60"}.items():
        monkeypatch.setenv(key, value)
    project = Project(root / "schedule.toml", now=clock)
    project.queue_add("thread", now=True)
    for _ in range(3 * MAX_TRANSIENT_ATTEMPTS):
        project.post_due()
        clock.advance(3600)
    with Store.open(root / "state" / "publisher.db") as store:
        (thread,) = store.threads()
        first = store.parts(thread.id)[0]
        assert (thread.state, first.state) == ("needs_attention", "unknown")
        assert first.last_error is not None and f"was sent {MAX_TRANSIENT_ATTEMPTS} times without a clear answer" \
            in first.last_error
    assert fake_x.counts["/2/tweets"] == MAX_TRANSIENT_ATTEMPTS
    assert user.tweets == []
