"""X shows a new post in the account's timeline only some time after making it. After an unknown outcome, a
search that finds nothing is trusted only once the part's last send is older than that lag (the adapter's
``timeline_lag``); sooner, the part waits and is looked for again. Nothing is posted twice, and the thread still
ends posted. The fake X here shows posts FAKE_LAG seconds late; the adapter allows a little more."""

from __future__ import annotations

import json
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import store_rows, wait_for
from fakes.x_api import XFault
from posting_project import environment, make_project
from publisher.app import Project
from publisher.errors import ExitStatus, NotYetVisible, OutcomeUnknown, Transient
from publisher.store import Store
from test_posting import check_x_thread, parts_by_state

pytestmark = pytest.mark.heavy  # real servers, and seconds of real waiting for the fake to show a post

FAKE_LAG = 3.0  # seconds the fake X takes to show a new post in GET /2/users/:id/tweets
TRUSTED_LAG = 3.5  # seconds the adapter allows for it (PUBLISHER_X_TIMELINE_LAG): just above
HTTP_TIMEOUT = 1.0  # well under FAKE_LAG, so even a timed-out send is looked for before it shows
LANDED_THEN_UNKNOWN = [XFault("/2/tweets", 2, "accept_then_reset"),
                       XFault("/2/tweets", 2, "accept_then_hang", hang=1.5),
                       XFault("/2/tweets", 2, "accept_then_500")]
FAULT_IDS = ["accepted-then-reset", "accepted-then-timeout", "accepted-then-500"]


class WallClock:
    """Real time, which the fake's lag runs on too, that a test may move ahead to skip a back-off."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


def lagging_project(tmp_path: Path, fake_x: Any, fault: XFault, trusted_lag: float,
                    monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Any]:
    fake_x.timeline_lag = FAKE_LAG
    fake_x.faults.append(fault)
    user = fake_x.add_user("lagging")
    root = make_project(tmp_path / "p", x=True)
    env = environment(fake_x=fake_x, x_user=user, timeout=HTTP_TIMEOUT)
    for key, value in {**env, "PUBLISHER_X_TIMELINE_LAG": str(trusted_lag)}.items():
        monkeypatch.setenv(key, value)
    return root, user


def timeline_reads(fake_x: Any) -> int:
    return sum(1 for method, path in fake_x.requests if method == "GET" and path.endswith("/tweets"))


@pytest.mark.parametrize("fault", LANDED_THEN_UNKNOWN, ids=FAULT_IDS)
def test_a_part_not_shown_yet_is_looked_for_again_and_never_sent_twice(
        tmp_path: Path, fake_x: Any, monkeypatch: pytest.MonkeyPatch, fault: XFault) -> None:
    root, user = lagging_project(tmp_path, fake_x, fault, TRUSTED_LAG, monkeypatch)
    checkpoints = tmp_path / "checkpoints.log"
    monkeypatch.setenv("PUBLISHER_CHECKPOINT_LOG", str(checkpoints))
    clock = WallClock()
    project = Project(root / "schedule.toml", now=clock)
    project.queue_add("thread", now=True)

    account = project.post_due().outcomes[0].accounts[0]
    assert (account.state, account.posted) == ("waiting", 1)
    assert len(user.tweets) == 2  # part 2 is on X, but its timeline does not show it yet
    assert parts_by_state(root) == {"x": ["posted", "unknown", "pending", "pending", "pending"]}
    assert "X can take up to 3.5 seconds to show a new post" in account.message
    looked = [line.split("#")[0] for line in checkpoints.read_text().split() if line.startswith("x:find:")]
    assert looked == ["x:find:before", "x:find:after"]
    retry_at = account.retry_at
    assert retry_at is not None and timedelta(0) < retry_at - clock() <= timedelta(seconds=TRUSTED_LAG)

    reads = timeline_reads(fake_x)
    again = project.post_due().outcomes[0].accounts[0]  # before retry_at: neither searched nor sent
    assert (again.state, again.posted, timeline_reads(fake_x), len(user.tweets)) == ("waiting", 1, reads, 2)

    assert wait_for(lambda: clock() >= retry_at, timeout=TRUSTED_LAG + 5)
    assert project.post_due().outcomes[0].state == "posted"
    tweets = check_x_thread(user, "(thread)")
    assert parts_by_state(root) == {"x": ["posted"] * 5}
    assert fake_x.counts["/2/tweets"] == 5  # each part sent once
    store = Store.open(root / "state" / "publisher.db")
    try:
        assert [p.post_id for p in store.parts(1, "x")] == [t["id"] for t in tweets]
    finally:
        store.close()


@pytest.mark.parametrize("fault", LANDED_THEN_UNKNOWN, ids=FAULT_IDS)
def test_trusting_a_search_made_too_soon_does_not_end_posted_once(
        tmp_path: Path, fake_x: Any, monkeypatch: pytest.MonkeyPatch, fault: XFault) -> None:
    """The same faults with the adapter allowing no lag: the teeth of the test above."""
    root, user = lagging_project(tmp_path, fake_x, fault, 0, monkeypatch)
    clock = WallClock()
    project = Project(root / "schedule.toml", now=clock)
    project.queue_add("thread", now=True)

    account = project.post_due().outcomes[0].accounts[0]
    assert len(user.tweets) == 2  # part 2 is on X ...
    assert parts_by_state(root) == {"x": ["posted", "pending", "pending", "pending", "pending"]}  # ... "not posted"
    assert account.state == "waiting" and account.retry_at is not None
    clock.ahead = account.retry_at - datetime.now(UTC) + timedelta(seconds=1)  # past the back-off, at once

    outcome = project.post_due().outcomes[0]  # sent again while the first one still does not show
    assert outcome.state != "posted"
    assert parts_by_state(root) != {"x": ["posted"] * 5}
    # only X's duplicate check stopped a second copy; the part now needs a person
    assert (outcome.state, parts_by_state(root)) == ("needs_attention", {"x": ["posted", "unknown", "pending",
                                                                             "pending", "pending"]})
    assert len(user.tweets) == 2


def test_a_crash_just_after_sending_waits_for_the_post_to_show(tmp_path: Path, fake_x: Any, forks: Any) -> None:
    """The time of the last send is stored before sending, so a restart right after a crash does not trust a
    search that is too early either."""
    fake_x.timeline_lag = FAKE_LAG
    user = fake_x.add_user("crashing")
    root = make_project(tmp_path / "p", x=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")},
           **environment(fake_x=fake_x, x_user=user), "PUBLISHER_X_TIMELINE_LAG": str(TRUSTED_LAG)}
    argv = ["--config", str(root / "schedule.toml")]
    assert forks.run([*argv, "queue", "add", "--now"], env, root).returncode == 0
    killed = forks.run([*argv, "post"], {**env, "PUBLISHER_KILL_AT": "x:create:after#2"}, root)
    assert killed.returncode == -signal.SIGKILL
    assert len(user.tweets) == 2 and parts_by_state(root)["x"][1] == "in_flight"

    restarted = forks.run([*argv, "post"], env, root)
    assert restarted.returncode == ExitStatus.RATE_LIMITED, restarted.stdout + restarted.stderr  # waiting
    assert len(user.tweets) == 2 and parts_by_state(root)["x"][1] == "unknown"
    [(not_before,)] = store_rows(root, "SELECT not_before FROM parts WHERE account = 'x' AND position = 2")
    assert wait_for(lambda: datetime.now(UTC) >= datetime.fromisoformat(not_before), timeout=TRUSTED_LAG + 5)

    done = forks.run([*argv, "post"], env, root)
    assert done.returncode == 0, done.stdout + done.stderr
    check_x_thread(user, "(thread)")
    assert parts_by_state(root) == {"x": ["posted"] * 5}


def test_a_timeline_lag_that_is_not_seconds_is_refused_with_the_fix(tmp_path: Path, fake_x: Any, forks: Any) -> None:
    user = fake_x.add_user("badlag")
    root = make_project(tmp_path / "p", x=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")},
           **environment(fake_x=fake_x, x_user=user), "PUBLISHER_X_TIMELINE_LAG": "soon"}
    argv = ["--config", str(root / "schedule.toml")]
    assert forks.run([*argv, "queue", "add", "--now"], env, root).returncode == 0
    done = forks.run([*argv, "post"], env, root)
    assert (done.returncode, done.stderr) == (ExitStatus.USAGE, (
        "PUBLISHER_X_TIMELINE_LAG='soon' is not a number of seconds from 0 to 3600 (unset it to allow for "
        "real X, or give e.g. 2)\n"))
    assert user.tweets == []


def test_find_trusts_a_negative_search_only_once_the_lag_has_passed(fake_x: Any) -> None:
    from publisher.platforms.x import XPlatform

    user = fake_x.add_user("bounds")
    moment = [datetime.now(UTC)]
    platform = XPlatform.from_account("x", {k.removeprefix("PUBLISHER_X_").lower(): v for k, v in
                                            fake_x.credentials(user).items()}, lambda: moment[0],
                                      api_base=fake_x.url, timeline_lag=timedelta(minutes=5))
    sent = moment[0] - timedelta(minutes=1)
    prepared = {"text": "Not there", "media_ids": [], "reply_to": None, "prepared_at": sent.isoformat(),
                "armed_at": (sent - timedelta(hours=1)).isoformat(), "sent_at": sent.isoformat()}
    with pytest.raises(NotYetVisible) as early:
        platform.find(prepared)
    assert early.value.retry_at == sent + timedelta(minutes=5)  # from the last send, not the first
    assert isinstance(early.value, OutcomeUnknown)
    moment[0] = sent + timedelta(minutes=5)
    assert platform.find(prepared) is None
    there = fake_x.add_tweet(user, "There", age=0)
    moment[0] = sent  # a post that shows is found at once, however recent the send
    found = platform.find({**prepared, "text": "There"})
    assert found is not None and found.id == there["id"]


def test_an_error_of_our_own_in_the_adapter_is_not_taken_for_the_platform(fake_x: Any) -> None:
    """Only answers that cannot be decoded are the platform's; a ValueError, KeyError or TypeError of ours
    surfaces as itself."""
    from publisher.platforms.x import _mapped_errors

    for bug in (ValueError("a bug of ours"), KeyError("id"), TypeError("a bug of ours")):
        with pytest.raises(type(bug)), _mapped_errors("publish"):
            raise bug
    with pytest.raises(OutcomeUnknown, match="could not read after the post was sent"), _mapped_errors("publish"):
        json.loads("<html>upstream error</html>")
    with pytest.raises(Transient, match="could not read"), _mapped_errors("find"):
        requests.Response().json()  # requests' own JSONDecodeError: an empty body
    with pytest.raises(Transient, match="could not read"), _mapped_errors("find"):
        b"\xff".decode("utf-8")
