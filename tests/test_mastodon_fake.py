"""The Mastodon fake (tests/fakes/mastodon_api.py) as Mastodon.py's real HTTP code sees it: the version check,
a threaded post with images, Idempotency-Key, the length rule, rate limits, scopes, tokens, media processing,
the timeline lag, the OAuth code flow and injected faults. Each test starts its own fake on 127.0.0.1; time-based
rules run on a clock the test moves, so nothing here sleeps to wait for a window to pass."""

from __future__ import annotations

import io
import random
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonIllegalArgumentError,
    MastodonInternalServerError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonUnauthorizedError,
)
from PIL import Image

from fakes.mastodon_api import (
    NOT_READY,
    OUT_OF_SCOPE,
    REPLY_NOT_FOUND,
    TEXT_BLANK,
    TOKEN_INVALID,
    TOKEN_REVOKED,
    FakeMastodonAPI,
    MastodonFault,
    status_length,
)

START = 1_800_000_000.0  # a whole number of hours since the epoch, so rate-limit windows start here


class ManualClock:
    """The fake's time, moved only by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def serve(clock: ManualClock) -> Iterator[Any]:
    """Starts fakes with the given options on the test's clock; stops them all at the end."""
    started: list[FakeMastodonAPI] = []

    def start(**options: Any) -> FakeMastodonAPI:
        fake = FakeMastodonAPI(clock=clock, **options)
        fake.start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


def client(fake: FakeMastodonAPI, token: str | None, **options: Any) -> Mastodon:
    return Mastodon(api_base_url=fake.url, access_token=token, version_check_mode="created",
                    ratelimit_method="throw", request_timeout=options.pop("request_timeout", 5), **options)


def png(width: int = 40, height: int = 30, noisy: bool = False) -> bytes:
    image = Image.new("RGB", (width, height), "teal")
    if noisy:  # random pixels do not compress: the file is about 3 bytes a pixel
        rng = random.Random(7)
        image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(width * height)])
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def api_error(excinfo: pytest.ExceptionInfo[Any]) -> tuple[int, str]:
    """(HTTP status, the server's ``error`` text) from a Mastodon.py API error."""
    return excinfo.value.args[1], excinfo.value.args[3]


def test_version_check_passes_and_reads_the_instance(serve: Any) -> None:
    fake = serve()
    user = fake.add_user("alice")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Mastodon.py warns if a server of 4.3 or later reports no api_versions
        mastodon = client(fake, user.token)
        assert (mastodon.mastodon_major, mastodon.mastodon_minor, mastodon.mastodon_patch) == (4, 5, 0)
        assert mastodon.mastodon_api_version == 7
        limits = mastodon.instance_v2().configuration
    statuses, media = limits.statuses, limits.media_attachments
    assert (statuses.max_characters, statuses.max_media_attachments, statuses.characters_reserved_per_url,
            media.description_limit) == (500, 4, 23, 1500)
    assert ("GET", "/api/v1/instance") in fake.requests and ("GET", "/api/v2/instance") in fake.requests

    quirky = serve(api_version=None, max_characters=1000)  # the same check, failing: no api_versions sent
    with pytest.warns(UserWarning, match="no API version found"):
        anonymous = client(quirky, None)
    assert anonymous.instance_v2().configuration.statuses.max_characters == 1000


def test_a_five_status_reply_chain_with_images_and_descriptions(serve: Any) -> None:
    fake = serve()
    user = fake.add_user("poster")
    mastodon = client(fake, user.token)
    posted: list[Any] = []
    for part in range(5):
        media = [mastodon.media_post(png(40 + n, 30), mime_type="image/png", description=f"card {part}.{n}",
                                     synchronous=True) for n in range(part % 4 + 1)]
        posted.append(mastodon.status_post(f"part {part + 1}/5", in_reply_to_id=posted[-1] if posted else None,
                                           media_ids=media, visibility="unlisted", language="en",
                                           idempotency_key=f"thread-1-part-{part}"))
    chain = fake.thread(str(posted[-1].id))
    assert [s.text for s in chain] == [f"part {n}/5" for n in range(1, 6)]
    assert [[fake.media[m].description for m in s.media_ids] for s in chain] == [
        [f"card {p}.{n}" for n in range(p % 4 + 1)] for p in range(5)]
    assert {s.visibility for s in chain} == {"unlisted"}
    fetched = mastodon.status(posted[3].id)
    assert fetched.in_reply_to_id == posted[2].id and fetched.in_reply_to_account_id == user.id
    assert [a.description for a in fetched.media_attachments] == ["card 3.0", "card 3.1", "card 3.2", "card 3.3"]
    assert fetched.media_attachments[0].meta.original.width == 40
    assert [s.id for s in mastodon.account_statuses(user.id, limit=5)] == [s.id for s in reversed(posted)]


def test_a_repeated_idempotency_key_returns_the_first_status_for_an_hour(serve: Any, clock: ManualClock) -> None:
    fake = serve()
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    mastodon = client(fake, alice.token)
    first = mastodon.status_post("once", idempotency_key="part-1")
    again = mastodon.status_post("once, sent again", idempotency_key="part-1")
    assert again.id == first.id and "once, sent again" not in again.content
    assert [s.text for s in alice.statuses] == ["once"]
    assert mastodon.status_post("another", idempotency_key="part-2").id != first.id
    assert client(fake, bob.token).status_post("bob's", idempotency_key="part-1").id != first.id  # per account
    clock.advance(3_599)
    assert mastodon.status_post("once", idempotency_key="part-1").id == first.id
    clock.advance(2)  # keys are kept an hour (methods/statuses)
    assert mastodon.status_post("once", idempotency_key="part-1").id != first.id
    assert len(alice.statuses) == 3


def test_a_status_over_the_limit_is_422(serve: Any) -> None:
    fake = serve()
    mastodon = client(fake, fake.add_user("alice").token)
    mastodon.status_post("a" * 500)
    with pytest.raises(MastodonAPIError) as refused:
        mastodon.status_post("a" * 501)
    assert api_error(refused) == (422, "Validation failed: Text character limit of 500 exceeded")
    long_url = "https://example.com/" + "p" * 200
    assert status_length("a" * 476 + " " + long_url) == 500  # a URL counts 23, however long
    mastodon.status_post("a" * 476 + " " + long_url)
    with pytest.raises(MastodonAPIError):
        mastodon.status_post("a" * 477 + " " + long_url)
    assert status_length("hi @alice@a.very.long.domain.example") == len("hi @alice")
    assert status_length("👨‍👩‍👧" * 500) == 500  # graphemes, not code points
    mastodon.status_post("👨‍👩‍👧" * 500)
    assert status_length("body", spoiler_text="cw: ") == 8
    with pytest.raises(MastodonAPIError):
        mastodon.status_post("a" * 490, spoiler_text="a" * 11)

    small = serve(max_characters=20)
    with pytest.raises(MastodonAPIError) as refused:
        client(small, small.add_user("bob").token).status_post("a" * 21)
    assert api_error(refused) == (422, "Validation failed: Text character limit of 20 exceeded")


def test_a_rate_limit_answers_429_with_its_reset_time(serve: Any, clock: ManualClock) -> None:
    fake = serve(rate_limits={"per_token_api": (3, 300)})
    user = fake.add_user("alice")
    mastodon = client(fake, user.token)  # two instance requests
    mastodon.account_verify_credentials()
    assert mastodon.ratelimit_remaining == 0
    with pytest.raises(MastodonRatelimitError):
        mastodon.account_verify_credentials()
    offset = datetime.now(UTC).timestamp() - clock()  # Mastodon.py moves the reset onto its own clock
    assert mastodon.ratelimit_reset == pytest.approx(START + 300 + offset, abs=2)
    answer = requests.get(f"{fake.url}/api/v1/accounts/verify_credentials",
                          headers={"Authorization": f"Bearer {user.token}"}, timeout=5)
    assert answer.status_code == 429 and answer.json() == {"error": "Too many requests"}
    assert answer.headers["X-RateLimit-Reset"] == "2027-01-15T08:05:00.000000Z"  # ISO 8601: START + 300
    assert (answer.headers["X-RateLimit-Limit"], answer.headers["X-RateLimit-Remaining"]) == ("3", "0")
    clock.advance(300)
    assert mastodon.account_verify_credentials().id == user.id

    posting = serve(rate_limits={"statuses": (2, 10_800)})  # statuses: counted only when one is made
    poster = posting.add_user("bob")
    mastodon = client(posting, poster.token)
    mastodon.status_post("one")
    mastodon.status_post("two")
    with pytest.raises(MastodonRatelimitError):
        mastodon.status_post("three")
    assert [s.text for s in poster.statuses] == ["one", "two"]


def test_a_token_without_the_scope_gets_403(serve: Any) -> None:
    fake = serve()
    reader = fake.add_user("reader", scopes=("read",))
    with pytest.raises(MastodonAPIError) as refused:
        client(fake, reader.token).status_post("hello")
    assert api_error(refused) == (403, OUT_OF_SCOPE)
    assert reader.statuses == []

    media_only = client(fake, fake.add_token(reader, ("write:media",)))
    media_only.media_post(png(), mime_type="image/png")
    for call in (lambda: media_only.status_post("hello"), media_only.account_verify_credentials):
        with pytest.raises(MastodonAPIError) as refused:
            call()
        assert api_error(refused) == (403, OUT_OF_SCOPE)

    granular = client(fake, fake.add_token(reader, ("read:accounts", "write:statuses")))
    assert granular.account_verify_credentials().username == "reader"
    granular.status_post("hello")
    with pytest.raises(MastodonAPIError) as refused:
        granular.account_statuses(reader.id)  # read:statuses
    assert api_error(refused)[0] == 403  # Mastodon.py drops the error text where it expects a list


def test_a_revoked_or_unknown_token_gets_401(serve: Any) -> None:
    fake = serve()
    user = fake.add_user("alice")
    mastodon = client(fake, user.token)
    mastodon.account_verify_credentials()
    fake.revoke(user.token)
    assert client(fake, user.token).instance_v2().version == "4.5.0"  # public endpoints ignore the token
    with pytest.raises(MastodonUnauthorizedError) as refused:
        mastodon.status_post("hello")
    assert api_error(refused) == (401, TOKEN_REVOKED)
    with pytest.raises(MastodonUnauthorizedError) as refused:
        client(fake, "not-a-token").account_verify_credentials()
    assert api_error(refused) == (401, TOKEN_INVALID)
    with pytest.raises(MastodonUnauthorizedError):
        client(fake, None).account_verify_credentials()
    assert user.statuses == []


def test_media_answers_202_then_206_until_processed_then_200(serve: Any) -> None:
    fake = serve(async_media_over=10_000, processing_polls=2)
    user = fake.add_user("alice")
    mastodon = client(fake, user.token)
    large = mastodon.media_post(png(100, 100, noisy=True), mime_type="image/png", description="noise")
    assert large.url is None
    with pytest.raises(MastodonAPIError) as refused:
        mastodon.status_post("too soon", media_ids=[large])
    assert api_error(refused) == (422, NOT_READY)
    assert [mastodon.media(large).url is None for _ in range(3)] == [True, True, False]
    assert mastodon.status_post("ready", media_ids=[large]).media_attachments[0].description == "noise"
    small = mastodon.media_post(png(), mime_type="image/png")
    assert small.url is not None
    answers = [(e.method, e.path.split("/")[2], e.status) for e in fake.exchanges if "media" in e.path]
    assert answers == [("POST", "v2", 202), ("GET", "v1", 206), ("GET", "v1", 206), ("GET", "v1", 200),
                       ("POST", "v2", 200)]


def test_a_new_status_shows_in_the_account_timeline_only_after_the_lag(serve: Any, clock: ManualClock) -> None:
    fake = serve(timeline_lag=30)
    user = fake.add_user("alice")
    mastodon = client(fake, user.token)
    older = fake.add_status(user, "made earlier", age=600)
    posted = mastodon.status_post("just now")
    assert mastodon.status(posted.id).id == posted.id  # seen at once by id
    assert [str(s.id) for s in mastodon.account_statuses(user.id)] == [older.id]
    clock.advance(29.9)
    assert len(mastodon.account_statuses(user.id)) == 1
    clock.advance(0.2)
    assert [str(s.id) for s in mastodon.account_statuses(user.id)] == [str(posted.id), older.id]


def test_the_account_timeline_pages_newest_first(serve: Any) -> None:
    fake = serve()
    user = fake.add_user("alice")
    made = [fake.add_status(user, f"status {n}", age=100 - n) for n in range(7)]
    mastodon = client(fake, user.token)
    page = mastodon.account_statuses(user.id, limit=3)
    assert [s.content for s in page] == ["<p>status 6</p>", "<p>status 5</p>", "<p>status 4</p>"]
    page = mastodon.fetch_next(page)
    assert [s.content for s in page] == ["<p>status 3</p>", "<p>status 2</p>", "<p>status 1</p>"]
    assert [s.content for s in mastodon.account_statuses(user.id, since_id=made[4].id)] == [
        "<p>status 6</p>", "<p>status 5</p>"]
    assert len(mastodon.account_statuses(user.id, max_id=made[1].id)) == 1


def test_an_app_registers_and_logs_in_with_the_out_of_band_code(serve: Any) -> None:
    fake = serve()
    user = fake.add_user("alice")
    client_id, client_secret = Mastodon.create_app("publisher", scopes=["read", "write"], api_base_url=fake.url)
    app = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=fake.url)
    code = fake.authorize(client_id, user, ("read", "write"))  # what the person does on /oauth/authorize
    with pytest.raises(MastodonIllegalArgumentError):  # the token endpoint is http://, refused without allow_http
        app.log_in(code=code, scopes=["read", "write"])
    code = fake.authorize(client_id, user, ("read", "write"))
    app.log_in(code=code, scopes=["read", "write"], allow_http=True)
    assert app.account_verify_credentials().id == user.id
    assert app.status_post("posted through the app").application.name == "publisher"
    with pytest.raises(MastodonIllegalArgumentError):  # a code is good once
        app.log_in(code=code, scopes=["read", "write"], allow_http=True)
    app.revoke_access_token(allow_http=True)
    token = next(t for t in fake.tokens.values() if t.app.client_id == client_id)
    assert token.revoked


@pytest.mark.parametrize(("kind", "raised", "created"), [
    ("500", MastodonInternalServerError, False),
    ("429", MastodonRatelimitError, False),
    ("reset_before", MastodonNetworkError, False),
    ("accept_then_reset", MastodonNetworkError, True),
    ("accept_then_hang", MastodonNetworkError, True),
    ("accept_then_500", MastodonInternalServerError, True),
    ("accept_then_garbage", MastodonAPIError, True),
])
def test_a_fault_on_the_nth_request(serve: Any, kind: str, raised: type[Exception], created: bool) -> None:
    fake = serve()
    user = fake.add_user("alice")
    fake.faults.append(MastodonFault("/api/v1/statuses", 2, kind, hang=1.0))
    mastodon = client(fake, user.token, request_timeout=0.3)
    mastodon.status_post("first", idempotency_key="k1")
    with pytest.raises(raised):
        mastodon.status_post("second", idempotency_key="k2")
    assert [s.text for s in user.statuses] == ["first", "second"] if created else ["first"]
    retried = mastodon.status_post("second", idempotency_key="k2")  # the third request: no fault
    assert [s.text for s in user.statuses] == ["first", "second"]
    assert str(retried.id) == user.statuses[-1].id


def test_validation_errors_name_what_was_wrong(serve: Any) -> None:
    fake = serve()
    user = fake.add_user("alice")
    mastodon = client(fake, user.token)
    media = [mastodon.media_post(png(), mime_type="image/png") for _ in range(5)]
    with pytest.raises(MastodonAPIError) as refused:
        mastodon.status_post("five images", media_ids=media)
    assert api_error(refused) == (422, "Cannot attach more than 4 files")
    with pytest.raises(MastodonAPIError) as refused:
        mastodon.media_post(png(), mime_type="image/png", description="d" * 1501)
    assert api_error(refused) == (422, "Validation failed: Description is too long (maximum is 1500 characters)")
    assert mastodon.media_update(media[0], description="d" * 1500).description == "d" * 1500
    with pytest.raises(MastodonAPIError):
        mastodon.media_update(media[0], description="d" * 1501)
    with pytest.raises(MastodonNotFoundError) as refused:
        mastodon.status_post("reply", in_reply_to_id="12345")
    assert api_error(refused) == (404, REPLY_NOT_FOUND)
    with pytest.raises(MastodonAPIError) as refused:
        mastodon.status_post("   ")
    assert api_error(refused) == (422, TEXT_BLANK)
    mastodon.status_post("with one", media_ids=[media[0]])
    with pytest.raises(MastodonAPIError) as refused:
        mastodon.status_post("the same again", media_ids=[media[0]])
    assert api_error(refused) == (422, f"Media {media[0].id} not found or already attached to another post")
    with pytest.raises(MastodonNotFoundError):
        mastodon.media(media[0])  # attached media can no longer be fetched or changed
    with pytest.raises(MastodonAPIError) as refused:
        mastodon.media_post(b"not an image", mime_type="text/plain")
    assert api_error(refused) == (422, "Validation failed: File content type is invalid, File is invalid")
    with pytest.raises(MastodonAPIError) as refused:
        mastodon.media_post(b"not an image", mime_type="image/png")
    assert api_error(refused) == (422, "File type of uploaded media could not be verified")

    strict = serve(max_media_attachments=2, description_limit=10)
    mastodon = client(strict, strict.add_user("bob").token)
    limits = mastodon.instance_v2().configuration
    assert (limits.statuses.max_media_attachments, limits.media_attachments.description_limit) == (2, 10)
    media = [mastodon.media_post(png(), mime_type="image/png", description="d" * 10) for _ in range(3)]
    with pytest.raises(MastodonAPIError) as refused:
        mastodon.status_post("three", media_ids=media)
    assert api_error(refused) == (422, "Cannot attach more than 2 files")
