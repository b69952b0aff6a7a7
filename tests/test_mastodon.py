"""Posting to Mastodon for real: publisher's adapter through Mastodon.py's real HTTP code, against the fake server
(tests/fakes/mastodon_api.py). A thread of 5 image parts as a reply chain with every description, the
instance's own limits, each error a server gives and what publisher makes of it, exactly once after unknown
outcomes, and ``publisher login mastodon``."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mastodon import Mastodon

from conftest import files_containing
from fakes.mastodon_api import OOB, FakeMastodonAPI, MastodonFault, MastodonUser
from posting_project import USED_SECRETS, environment, make_project
from publisher.app import Project
from publisher.cli import cli
from publisher.errors import ExitStatus
from publisher.store import Store

pytestmark = pytest.mark.heavy

STATUSES = "/api/v1/statuses"
LONG_INTRO = "The review, in brief: " + "the Met must change, " * 28 + "({thread_number})"  # ~600 characters


class Clock:
    def __init__(self) -> None:
        self.moment = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake() -> Iterator[FakeMastodonAPI]:
    api = FakeMastodonAPI()  # cards processed at once, as images are on Mastodon (slow_fake: the 202 path)
    api.start()
    yield api
    api.stop()


def five_cards(root: Path, instance: str, keys: str = "", intro: str | None = None) -> Path:
    """A campaign of 5 quotes a thread, no intro or outro (unless ``intro``): 5 parts, each with its card."""
    make_project(root, mastodon=instance, mastodon_keys=keys, quotes_per_thread=5)
    schedule = root / "schedule.toml"
    text = re.sub(r'(?m)^(intro|outro) = .*\n', "", schedule.read_text("utf-8"))
    if intro is not None:
        text = text.replace("numbering = true\n", f'numbering = true\nintro = "{intro}"\n')
    schedule.write_text(text, encoding="utf-8")
    return schedule


def use(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def stored_parts(root: Path, thread_id: int = 1) -> list[Any]:
    with Store.open(root / "state" / "publisher.db") as store:
        return store.parts(thread_id, "masto")


def check_chain(fake: FakeMastodonAPI, user: MastodonUser, count: int = 5) -> list[Any]:
    """Exactly ``count`` statuses, each replying to the one before, none twice."""
    statuses = user.statuses
    assert len(statuses) == count, [s.text[:40] for s in statuses]
    assert fake.thread(statuses[-1].id) == statuses
    assert statuses[0].in_reply_to_id is None
    assert len({s.text for s in statuses}) == count
    return statuses


def post_until_done(project: Project, clock: Clock, rounds: int = 8, step: float = 3600) -> list[Any]:
    outcomes: list[Any] = []
    for _ in range(rounds):
        outcomes = project.post_due().outcomes
        if all(o.state == "posted" for o in outcomes):
            return outcomes
        clock.advance(step)
    return outcomes


# -- a thread -------------------------------------------------------------------------------------------------

def test_a_five_part_thread_with_five_images_posts_as_a_reply_chain(tmp_path: Path, fake: FakeMastodonAPI) -> None:
    fake.async_media_over, fake.processing_polls = 10_000, 1  # each card answered 202, then 206, then ready
    user = fake.add_user("campaign")
    root = tmp_path / "p"
    schedule = five_cards(root, fake.url, 'visibility = "unlisted"\nlanguage = "cy"\n')
    env = environment(mastodon_token=user.token)
    runner = CliRunner()
    added = runner.invoke(cli, ["--config", str(schedule), "queue", "add", "--now"], env=env)
    assert added.exit_code == 0, added.output
    posted = runner.invoke(cli, ["--config", str(schedule), "post"], env=env)
    assert posted.exit_code == 0, posted.output
    assert "masto: 5/5 posted" in posted.output, posted.output

    statuses = check_chain(fake, user)
    parts = stored_parts(root)
    assert [s.text for s in statuses] == [p.text for p in parts]
    assert [len(s.media_ids) for s in statuses] == [1] * 5
    for status, part in zip(statuses, parts, strict=True):
        media = fake.media[status.media_ids[0]]
        assert media.description == part.images[0]["alt"] and media.description.startswith("Quote: “")
        assert (media.width, media.height) == (part.images[0]["width"], part.images[0]["height"])
        assert (status.visibility, status.language) == ("unlisted", "cy")
        assert (part.state, part.post_id, part.url) == ("posted", status.id, f"{fake.url}/@campaign/{status.id}")
    sent = [e for e in fake.exchanges if (e.method, e.path) == ("POST", STATUSES)]
    assert [e.status for e in sent] == [200] * 5
    assert len({e.idempotency_key for e in sent}) == 5 and all(e.idempotency_key for e in sent)
    assert ("GET", f"/api/v1/media/{statuses[0].media_ids[0]}") in fake.requests  # it waited for processing

    again = runner.invoke(cli, ["--config", str(schedule), "post"], env=env)
    assert again.exit_code == 0, again.output
    assert len(user.statuses) == 5 and fake.counts[STATUSES] == 5
    assert files_containing(root, [user.token])[1] == []


def test_posting_costs_little_more_than_mastodon_py_alone(tmp_path: Path) -> None:
    """The same 5 statuses with their 5 images, through publisher and through Mastodon.py by hand."""
    fake = FakeMastodonAPI()  # images processed at once, so neither waits
    fake.start()
    try:
        user, alone = fake.add_user("timed"), fake.add_user("alone")
        root = tmp_path / "p"
        five_cards(root, fake.url)
        env = environment(mastodon_token=user.token)
        project = Project(root / "schedule.toml")
        project.queue_add("thread", now=True)
        parts = stored_parts(root)
        with Store.open(root / "state" / "publisher.db") as store:
            cards = [(store.image(p.images[0]["sha256"])[0], p.images[0]["alt"]) for p in parts]
        started = time.perf_counter()
        assert [o.state for o in project.post_due(env={**env, "PUBLISHER_HTTP_TIMEOUT": "30"}).outcomes] == [
            "posted"]
        ours = time.perf_counter() - started
        started = time.perf_counter()
        client = Mastodon(access_token=alone.token, api_base_url=fake.url, version_check_mode="none",
                          ratelimit_method="throw", request_timeout=30)
        parent = None
        for part, (png, alt) in zip(parts, cards, strict=True):
            media = client.media_post(png, mime_type="image/png", description=alt)
            parent = client.status_post(part.text, in_reply_to_id=parent, media_ids=[media],
                                        idempotency_key=str(part.id))
        theirs = time.perf_counter() - started
        check_chain(fake, user)
        print(f"5-part thread: publisher {ours:.3f} s, Mastodon.py alone {theirs:.3f} s ({ours / theirs:.2f}x)")
        assert ours < theirs * 3 + 0.5  # generous here (a shared machine); the figure is reported from the print
    finally:
        fake.stop()


# -- the instance's limits ------------------------------------------------------------------------------------

def test_the_instances_limits_are_learnt_when_queueing_and_kept_a_day(tmp_path: Path, clock: Clock,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeMastodonAPI(max_characters=1000)
    fake.start()
    try:
        user = fake.add_user("roomy")
        root = tmp_path / "p"
        five_cards(root, fake.url, intro=LONG_INTRO)
        use(monkeypatch, environment(mastodon_token=user.token))
        project = Project(root / "schedule.toml", now=clock)
        first = project.queue_add("thread", now=True).thread.id
        assert len(stored_parts(root, first)) == 6  # the 600-character intro is one part at 1000
        learnt = dict(sqlite3.connect(root / "state" / "publisher.db").execute("SELECT key, value FROM learnt"))
        assert '"max_characters": 1000' in learnt[f"mastodon-limits {fake.url}"]
        asked = fake.counts["/api/v2/instance"]

        fake.max_characters = 500
        clock.advance(23 * 3600)
        second = project.queue_add("thread", now=True).thread.id
        assert len(stored_parts(root, second)) == 6  # what it learnt is kept a day: not asked again
        assert fake.counts["/api/v2/instance"] == asked

        clock.advance(2 * 3600)
        third = project.queue_add("thread", now=True).thread.id
        assert len(stored_parts(root, third)) == 7  # a day later it asks again: at 500 the intro is two parts
        assert fake.counts["/api/v2/instance"] == asked + 1
    finally:
        fake.stop()


def test_an_instance_that_cannot_be_asked_means_mastodons_defaults_and_validate_works_offline(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    root = tmp_path / "p"
    schedule = five_cards(root, "http://127.0.0.1:9", intro=LONG_INTRO)  # nothing listens on port 9
    validated = CliRunner().invoke(cli, ["--config", str(schedule), "validate"])
    assert validated.exit_code == 0, validated.output
    use(monkeypatch, environment(mastodon_token="mastodon-token-never-used-offline"))
    thread = Project(schedule, now=clock).queue_add("thread", now=True).thread.id
    parts = stored_parts(root, thread)
    assert len(parts) == 7  # 500 characters: the intro splits in two
    assert sqlite3.connect(root / "state" / "publisher.db").execute("SELECT count(*) FROM learnt").fetchone() == (0,)


# -- errors ---------------------------------------------------------------------------------------------------

def queued(tmp_path: Path, fake: FakeMastodonAPI, user: MastodonUser, monkeypatch: pytest.MonkeyPatch,
           clock: Clock, intro: str | None = None, timeout: float | None = None) -> tuple[Path, Project]:
    root = tmp_path / "p"
    five_cards(root, fake.url, intro=intro)
    use(monkeypatch, environment(mastodon_token=user.token, timeout=timeout))
    project = Project(root / "schedule.toml", now=clock)
    project.queue_add("thread", now=True)
    return root, project


def test_a_status_the_server_refuses_needs_attention_with_its_reason(tmp_path: Path, fake: FakeMastodonAPI,
                                                                     clock: Clock,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fake.max_characters = 1000
    user = fake.add_user("refused")
    root, project = queued(tmp_path, fake, user, monkeypatch, clock, intro=LONG_INTRO)
    fake.max_characters = 500  # the server's limit came down after the thread was made
    outcome = project.post_due().outcomes[0]
    assert (outcome.state, outcome.accounts[0].state) == ("needs_attention", "needs_attention")
    first = stored_parts(root)[0]
    assert first.state == "failed"
    assert "Validation failed: Text character limit of 500 exceeded" in (first.last_error or "")
    assert "shorten" in (first.fix or "") and "publisher queue recompose" in (first.fix or "")
    assert user.statuses == []


def test_a_revoked_token_needs_attention_naming_its_variable_and_login(tmp_path: Path, fake: FakeMastodonAPI,
                                                                       clock: Clock,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    user = fake.add_user("revoked")
    root, project = queued(tmp_path, fake, user, monkeypatch, clock)
    fake.revoke(user.token)
    assert project.post_due().outcomes[0].state == "needs_attention"
    first = stored_parts(root)[0]
    said = f"{first.last_error} ({first.fix})"
    assert "PUBLISHER_MASTODON_TOKEN" in said and "The access token was revoked" in said
    assert "publisher login mastodon masto" in said
    assert user.statuses == [] and user.token not in said


def test_a_token_without_a_scope_needs_attention_naming_the_scope(tmp_path: Path, fake: FakeMastodonAPI,
                                                                  clock: Clock,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    user = fake.add_user("narrow", scopes=("read", "write:media"))
    root, project = queued(tmp_path, fake, user, monkeypatch, clock)
    assert project.post_due().outcomes[0].state == "needs_attention"
    first = stored_parts(root)[0]
    assert first.state == "failed" and "(403)" in (first.last_error or "")
    assert "lacks the scope write:statuses" in (first.fix or "")
    assert user.statuses == []


def test_a_rate_limit_waits_until_the_servers_reset(tmp_path: Path, fake: FakeMastodonAPI, clock: Clock,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    user = fake.add_user("limited")
    root, project = queued(tmp_path, fake, user, monkeypatch, clock)
    fake.faults.append(MastodonFault(STATUSES, 3, "429"))  # X-RateLimit-Reset: 2 s on
    account = project.post_due().outcomes[0].accounts[0]
    assert (account.state, account.posted) == ("waiting", 2)
    assert account.retry_at is not None and 0 < (account.retry_at - clock()).total_seconds() <= 3
    assert project.post_due().outcomes[0].accounts[0].posted == 2  # not before the reset
    clock.moment = account.retry_at + timedelta(seconds=1)
    assert project.post_due().outcomes[0].state == "posted"
    check_chain(fake, user)
    assert stored_parts(root)[2].attempts >= 1


@pytest.mark.parametrize("fault", [
    pytest.param(MastodonFault("/api/v2/media", 2, "500"), id="media-500"),
    pytest.param(MastodonFault("/api/v1/media/*", 1, "reset_before"), id="media-poll-reset"),
    pytest.param(MastodonFault("/api/v1/accounts/verify_credentials", 1, "500"), id="credentials-500"),
    pytest.param(MastodonFault(STATUSES, 2, "500"), id="status-500-unmade"),
    pytest.param(MastodonFault(STATUSES, 2, "reset_before"), id="status-reset-unmade"),
    pytest.param(MastodonFault(STATUSES, 3, "accept_then_hang", hang=2.0), id="status-made-then-timeout"),
])
def test_server_errors_and_time_outs_are_transient_and_retried(fault: MastodonFault, tmp_path: Path,
                                                               fake: FakeMastodonAPI, clock: Clock,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    user = fake.add_user("flaky")
    if fault.path.startswith("/api/v1/media/"):  # a fault while polling needs cards that are processed later
        fake.async_media_over, fake.processing_polls = 10_000, 1
    root, project = queued(tmp_path, fake, user, monkeypatch, clock, timeout=1.0)
    fake.faults.append(fault)
    post_until_done(project, clock)
    check_chain(fake, user)
    assert [p.state for p in stored_parts(root)] == ["posted"] * 5


# -- exactly once ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["accept_then_reset", "accept_then_500", "accept_then_garbage"])
def test_a_status_made_without_an_answer_is_found_not_sent_again(kind: str, tmp_path: Path, fake: FakeMastodonAPI,
                                                                clock: Clock,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    user = fake.add_user("unknown")
    root, project = queued(tmp_path, fake, user, monkeypatch, clock)
    fake.faults += [MastodonFault(STATUSES, 2, kind), MastodonFault(STATUSES, 4, kind)]
    assert [o.state for o in project.post_due().outcomes] == ["posted"]
    statuses = check_chain(fake, user)
    sent = [e for e in fake.exchanges if (e.method, e.path) == ("POST", STATUSES)]
    assert len(sent) == 5  # each made once, and found: never sent again
    assert [e.idempotency_key for e in sent] == [s.idempotency_key for s in statuses]
    assert fake.counts[f"/api/v1/accounts/{user.id}/statuses"] == 2  # one search per unknown outcome
    assert [p.post_id for p in stored_parts(root)] == [s.id for s in statuses]


def test_an_unmade_status_is_sent_again_with_the_same_idempotency_key(tmp_path: Path, fake: FakeMastodonAPI,
                                                                      clock: Clock,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    user = fake.add_user("again")
    _root, project = queued(tmp_path, fake, user, monkeypatch, clock)
    fake.faults.append(MastodonFault(STATUSES, 2, "reset_before"))
    assert [o.state for o in project.post_due().outcomes] == ["posted"]
    check_chain(fake, user)
    keys = [e.idempotency_key for e in fake.exchanges if (e.method, e.path) == ("POST", STATUSES)]
    assert len(keys) == 6 and keys[1] == keys[2] and len(set(keys)) == 5


def test_a_repeat_the_search_cannot_see_is_made_once_by_the_idempotency_key(tmp_path: Path, clock: Clock,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A server whose account list shows a status late: the search misses it, the part is sent again with the
    same key, and the server answers with the status it made."""
    fake = FakeMastodonAPI(timeline_lag=60)
    fake.start()
    try:
        user = fake.add_user("laggy")
        _root, project = queued(tmp_path, fake, user, monkeypatch, clock)
        fake.faults.append(MastodonFault(STATUSES, 2, "accept_then_reset"))
        assert [o.state for o in project.post_due().outcomes] == ["posted"]
        check_chain(fake, user)
        assert len([e for e in fake.exchanges if (e.method, e.path) == ("POST", STATUSES)]) == 6
    finally:
        fake.stop()


# -- login ----------------------------------------------------------------------------------------------------

def login(schedule: Path, env: dict[str, str], stdin: Any = None) -> Any:
    return CliRunner().invoke(cli, ["--config", str(schedule), "login", "mastodon", "masto"], env=env, input=stdin)


def test_login_with_a_token_says_who_the_account_is(tmp_path: Path, fake: FakeMastodonAPI) -> None:
    user = fake.add_user("whoami")
    schedule = five_cards(tmp_path / "p", fake.url)
    done = login(schedule, environment(mastodon_token=user.token))
    assert done.exit_code == 0, done.output
    assert done.output == "masto: credentials work (@whoami@127.0.0.1).\n"
    assert ("GET", "/api/v1/apps/verify_credentials") in fake.requests


def test_login_names_a_scope_the_token_lacks(tmp_path: Path, fake: FakeMastodonAPI) -> None:
    user = fake.add_user("scoped", scopes=("read", "write:statuses"))
    schedule = five_cards(tmp_path / "p", fake.url)
    done = login(schedule, environment(mastodon_token=user.token))
    assert done.exit_code == ExitStatus.AUTH, done.output
    assert "lacks the scope write:media" in done.output and "publisher login mastodon masto" in done.output
    assert user.token not in done.output

    older = FakeMastodonAPI(version="4.2.0")  # before 4.3 the server does not say: taken on trust
    older.start()
    try:
        narrow = older.add_user("older", scopes=("read", "write:statuses"))
        schedule = five_cards(tmp_path / "q", older.url)
        assert login(schedule, environment(mastodon_token=narrow.token)).exit_code == 0
    finally:
        older.stop()


def test_login_without_a_token_runs_the_out_of_band_flow(tmp_path: Path, fake: FakeMastodonAPI) -> None:
    user = fake.add_user("newcomer")
    root = tmp_path / "p"
    schedule = five_cards(root, fake.url)
    fake.approves = (user, "the-code-the-server-shows")  # what the person does in the browser
    done = login(schedule, {"PUBLISHER_MASTODON_TOKEN": ""}, " the-code-the-server-shows \n")
    assert done.exit_code == 0, done.output
    app = list(fake.apps.values())[-1]
    assert app.name == "publisher" and app.redirect_uris == [OOB]
    assert app.scopes == {"write:statuses", "write:media", "read:accounts", "read:statuses"}
    url = re.search(r"^  (http\S+)$", done.output, re.MULTILINE)
    assert url and url.group(1).startswith(f"{fake.url}/oauth/authorize?") and app.client_id in url.group(1)
    token = next(t for t in fake.tokens.values() if t.app is app)
    USED_SECRETS.append(token.value)
    assert "authorized (@newcomer@127.0.0.1)" in done.output and "PUBLISHER_MASTODON_TOKEN" in done.output
    assert done.output.count(token.value) == 1  # shown once, for the person to export; never kept
    assert files_containing(root, [token.value, app.client_secret])[1] == []


def test_login_with_a_wrong_code_says_so(tmp_path: Path, fake: FakeMastodonAPI) -> None:
    fake.approves = (fake.add_user("typo"), "the-code-the-server-shows")
    done = login(five_cards(tmp_path / "p", fake.url), {"PUBLISHER_MASTODON_TOKEN": ""}, "the-code-mistyped\n")
    assert done.exit_code == ExitStatus.AUTH, done.output
    assert "refused the code" in done.output and "publisher login mastodon masto again" in done.output


@pytest.mark.parametrize("typed", ["\n", ""], ids=["empty-line", "end-of-input"])
def test_login_with_no_code_says_so(tmp_path: Path, fake: FakeMastodonAPI, typed: str) -> None:
    done = login(five_cards(tmp_path / "p", fake.url), {"PUBLISHER_MASTODON_TOKEN": ""}, typed)
    assert done.exit_code == ExitStatus.USAGE, done.output
    assert done.output.count("Code:") == 1 and "no code given: run publisher login mastodon masto again" in done.output


def test_two_stores_posting_the_same_words_each_make_their_own_statuses(tmp_path: Path,
                                                                       fake: FakeMastodonAPI) -> None:
    """Part numbers start at 1 in every store: a key made of them alone would be the same for a project made
    afresh (or a second folder on the same account), and the server would answer with the first one's status."""
    user = fake.add_user("campaign")
    env = environment(mastodon_token=user.token)
    runner = CliRunner()
    for folder in ("first", "again"):
        schedule = five_cards(tmp_path / folder, fake.url)
        assert runner.invoke(cli, ["--config", str(schedule), "queue", "add", "--now"], env=env).exit_code == 0
        posted = runner.invoke(cli, ["--config", str(schedule), "post"], env=env)
        assert posted.exit_code == 0 and "masto: 5/5 posted" in posted.output, posted.output
    assert len(user.statuses) == 10
    first, again = stored_parts(tmp_path / "first"), stored_parts(tmp_path / "again")
    assert [p.text for p in first] == [p.text for p in again]  # the same words
    assert not {p.post_id for p in first} & {p.post_id for p in again}  # and their own statuses
    assert fake.thread(again[-1].post_id or "") == [s for s in user.statuses if s.id in {p.post_id for p in again}]
