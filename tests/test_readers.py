"""Each platform reads its posts' figures (likes, reposts, replies, quotes) through ``PlatformKind.results``: Bluesky
from an AppView (the HTTP-level fake, answering from the reference PDS's records), X from the X fake's
public_metrics, Mastodon from the Mastodon fake; each through the SDK's real HTTP code, in the platform's batches,
deleted posts left out, figures a platform does not give as None, and errors mapped to publisher's own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from mastodon import Mastodon as MastodonClient
from pydantic import ValidationError

from fakes.appview import MAX_URIS, AppViewFault, FakeAppView, start_pds_using
from fakes.mastodon_api import FakeMastodonAPI, MastodonFault, MastodonUser
from fakes.x_api import FakeXAPI, XFault, XUser
from publisher.errors import AuthError, MissingCredentials, RateLimited, Transient
from publisher.platforms import kind
from publisher.platforms.base import Figures, PlatformAccount, PlatformContext, ResultsReader
from publisher.platforms.x import PRICE_PER_OWNED_READ


def context(tmp_path: Path, env: dict[str, str] | None = None, store: Any = None) -> PlatformContext:
    """As publisher.platforms.factory builds it."""
    return PlatformContext(tmp_path, store, env or {}, lambda: datetime.now(UTC), 10.0)


def account(platform: str, **keys: Any) -> PlatformAccount:
    return kind(platform).account_model.model_validate({"platform": platform, **keys})


def reader(platform: str, ctx: PlatformContext, **keys: Any) -> ResultsReader:
    made = kind(platform).results("acct", account(platform, **keys), ctx)
    assert made is not None
    return made


# -- Bluesky -------------------------------------------------------------------------------------------------

class PDSAccount:
    """An account on the reference PDS, writing records with its own session."""

    def __init__(self, pds: Any, name: str):
        self.url = pds.url
        self.handle, self.did, self.password = pds.create_account(name)
        session = httpx.post(f"{self.url}/xrpc/com.atproto.server.createSession", timeout=30,
                             json={"identifier": self.handle, "password": self.password}).json()
        self.headers = {"Authorization": f"Bearer {session['accessJwt']}"}

    def create(self, collection: str, record: dict[str, Any]) -> dict[str, str]:
        """A record made now: its strong ref (uri, cid)."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        response = httpx.post(f"{self.url}/xrpc/com.atproto.repo.createRecord", headers=self.headers, timeout=30,
                              json={"repo": self.did, "collection": collection,
                                    "record": {"$type": collection, "createdAt": now, **record}})
        response.raise_for_status()
        return {"uri": response.json()["uri"], "cid": response.json()["cid"]}

    def post(self, text: str, reply_to: dict[str, str] | None = None, root: dict[str, str] | None = None,
             quoting: dict[str, str] | None = None) -> dict[str, str]:
        record: dict[str, Any] = {"text": text}
        if reply_to:
            record["reply"] = {"root": root or reply_to, "parent": reply_to}
        if quoting:
            record["embed"] = {"$type": "app.bsky.embed.record", "record": quoting}
        return self.create("app.bsky.feed.post", record)

    def like(self, post: dict[str, str]) -> None:
        self.create("app.bsky.feed.like", {"subject": post})

    def repost(self, post: dict[str, str]) -> None:
        self.create("app.bsky.feed.repost", {"subject": post})

    def delete(self, post: dict[str, str]) -> None:
        rkey = post["uri"].rsplit("/", 1)[1]
        httpx.post(f"{self.url}/xrpc/com.atproto.repo.deleteRecord", headers=self.headers, timeout=30,
                   json={"repo": self.did, "collection": "app.bsky.feed.post", "rkey": rkey}).raise_for_status()


@pytest.fixture
def appview(pds: Any) -> Iterator[FakeAppView]:
    view = FakeAppView(pds.url)
    view.start()
    try:
        yield view
    finally:
        view.stop()


def test_bluesky_figures_are_what_a_second_account_did(pds: Any, appview: FakeAppView, tmp_path: Path) -> None:
    author, fan = PDSAccount(pds, "author"), PDSAccount(pds, "fan")
    appview.watch(author.did, fan.did)
    first = author.post("First part")
    second = author.post("Second part", reply_to=first)
    third = author.post("Third part", reply_to=second, root=first)
    gone = author.post("Posted, then deleted", reply_to=third, root=first)
    fan.like(first), fan.like(second), fan.repost(first), fan.repost(third)
    fan.post("A reply to the first", reply_to=first)
    fan.post("Quoting the third", quoting=third)
    fan.post("And the third again, with a reply to it", reply_to=third, root=first)
    author.delete(gone)

    figures = reader("bluesky", context(tmp_path), handle=author.handle, appview=appview.url).read(
        [first["uri"], second["uri"], third["uri"], gone["uri"]])

    assert figures == {  # the thread's own next part is a reply too, as the AppView counts it
        first["uri"]: Figures(likes=1, reposts=1, replies=2, quotes=0),
        second["uri"]: Figures(likes=1, reposts=0, replies=1, quotes=0),
        third["uri"]: Figures(likes=0, reposts=1, replies=1, quotes=1),
    }
    assert appview.calls == [[first["uri"], second["uri"], third["uri"], gone["uri"]]]
    assert appview.authorizations == [None]  # the public AppView needs no login


def test_26_bluesky_posts_are_read_in_two_calls_of_at_most_25(pds: Any, appview: FakeAppView,
                                                               tmp_path: Path) -> None:
    author = PDSAccount(pds, "many")
    appview.watch(author.did)
    uris = [author.post(f"Post {n}")["uri"] for n in range(26)]
    results = reader("bluesky", context(tmp_path), handle=author.handle, appview=appview.url)

    figures = results.read(uris)

    assert results.batch == MAX_URIS and results.price_per_post is None
    assert [len(call) for call in appview.calls] == [25, 1]
    assert figures == {uri: Figures(0, 0, 0, 0) for uri in uris}


def test_the_appview_fake_refuses_more_than_25_uris_as_the_lexicon_does(pds: Any, appview: FakeAppView) -> None:
    too_many = [f"at://did:plc:x/app.bsky.feed.post/{n}" for n in range(MAX_URIS + 1)]
    answer = httpx.get(f"{appview.url}/xrpc/app.bsky.feed.getPosts", params={"uris": too_many})
    assert answer.status_code == 400 and "25" in answer.json()["message"]


@pytest.fixture
def bare_appview() -> Iterator[FakeAppView]:
    """An AppView fake whose answers here are all faults (no PDS behind it)."""
    view = FakeAppView()
    view.start()
    try:
        yield view
    finally:
        view.stop()


@pytest.mark.parametrize(("status", "error"), [(429, RateLimited), (500, Transient), (502, Transient),
                                               (503, Transient)])
def test_bluesky_appview_errors_are_publishers_own(status: int, error: type[Exception], bare_appview: FakeAppView,
                                                   tmp_path: Path) -> None:
    bare_appview.faults.append(AppViewFault(1, status))
    results = reader("bluesky", context(tmp_path), handle="someone.test", appview=bare_appview.url)
    with pytest.raises(error) as raised:
        results.read(["at://did:plc:abc/app.bsky.feed.post/3kabc"])
    assert "AppView at 127.0.0.1" in str(raised.value) or status == 429
    if isinstance(raised.value, RateLimited):
        assert raised.value.retry_at > datetime.now(UTC)


def test_an_unreachable_appview_is_transient(tmp_path: Path) -> None:
    from fakes.local_pds import free_port

    results = reader("bluesky", context(tmp_path), handle="someone.test", appview=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Transient, match="could not connect"):
        results.read(["at://did:plc:abc/app.bsky.feed.post/3kabc"])


def test_the_appview_key_takes_a_url_or_pds_and_is_a_reading_key() -> None:
    model = kind("bluesky").account_model
    assert account("bluesky", handle="a.bsky.social").appview == "https://public.api.bsky.app"  # type: ignore[attr-defined]
    assert account("bluesky", handle="a.bsky.social", appview="pds").appview == "pds"  # type: ignore[attr-defined]
    assert model.reading_keys == frozenset({"appview"})
    for bad in ("ftp://appview.example", "http://appview.example", "pds2"):
        with pytest.raises(ValidationError) as raised:
            account("bluesky", handle="a.bsky.social", appview=bad)
        assert 'or "pds" to read through' in raised.value.errors()[0]["ctx"]["error"].fix


@pytest.fixture(scope="module")
def pds_behind_appview(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, FakeAppView]]:
    """A PDS of its own whose AppView is the fake: what appview = "pds" reads through."""
    view = FakeAppView()
    view.start()
    server = start_pds_using(view, tmp_path_factory.mktemp("pds-appview"))
    try:
        yield server, view
    finally:
        server.stop()
        view.stop()


@pytest.mark.heavy
def test_appview_pds_reads_through_the_accounts_pds_with_its_saved_session(
        pds_behind_appview: tuple[Any, FakeAppView], tmp_path: Path) -> None:
    from publisher.store import Store

    server, view = pds_behind_appview
    author, fan = PDSAccount(server, "self"), PDSAccount(server, "friend")
    view.watch(author.did, fan.did)
    post = author.post("Read through my own server")
    fan.like(post), fan.post("Quoting it", quoting=post)
    env = {"PUBLISHER_BSKY_APP_PASSWORD": author.password}
    with Store.open(tmp_path / "state" / "publisher.db") as store:
        ctx = context(tmp_path, env, store)
        settings = {"handle": author.handle, "service": server.url, "appview": "pds"}

        first = reader("bluesky", ctx, **settings).read([post["uri"]])
        again = reader("bluesky", ctx, **settings).read([post["uri"]])  # a new reader, as the next reading makes

        assert first == again == {post["uri"]: Figures(likes=1, reposts=0, replies=0, quotes=1)}
        assert store.logins_last_day("acct") == 1  # the second reading reused the saved session
    assert len(view.calls) == 2 and all(a and a.startswith("Bearer ") for a in view.authorizations)


# -- X -------------------------------------------------------------------------------------------------------

def x_env(fake: FakeXAPI, user: XUser) -> dict[str, str]:
    return {**fake.credentials(user), "PUBLISHER_X_API_BASE": fake.url}  # type: ignore[attr-defined]


def test_x_reading_is_off_unless_the_account_turns_it_on(fake_x: FakeXAPI, tmp_path: Path) -> None:
    ctx = context(tmp_path, x_env(fake_x, fake_x.add_user("quiet")))
    assert kind("x").results("acct", account("x"), ctx) is None
    assert kind("x").results("acct", account("x", x_results=False), ctx) is None
    assert not kind("x").reads_results(account("x")) and kind("x").reads_results(account("x", x_results=True))
    assert "x_results = true" in kind("x").reading_off
    results = reader("x", ctx, x_results=True)
    assert results.price_per_post == PRICE_PER_OWNED_READ == 0.001 and results.batch == 100
    assert kind("x").account_model.reading_keys == frozenset({"x_results"})
    assert fake_x.requests == []  # deciding costs no call


def test_x_figures_are_the_public_metrics(fake_x: FakeXAPI, tmp_path: Path) -> None:
    author, fan = fake_x.add_user("author"), fake_x.add_user("fan")
    first = fake_x.add_tweet(author, "First part", age=60)
    second = fake_x.add_tweet(author, "Second part", age=59, reply_to=first["id"])
    gone = fake_x.add_tweet(author, "Deleted later", age=58, reply_to=second["id"])
    fake_x.add_tweet(fan, "A reply from a fan", age=30, reply_to=first["id"])
    fake_x.set_metrics(first["id"], likes=12, reposts=3, quotes=2)
    fake_x.set_metrics(second["id"], likes=1, replies=7)
    fake_x.delete_tweet(gone["id"])

    figures = reader("x", context(tmp_path, x_env(fake_x, author)), x_results=True).read(
        [first["id"], second["id"], gone["id"]])

    assert figures == {first["id"]: Figures(likes=12, reposts=3, replies=2, quotes=2),
                       second["id"]: Figures(likes=1, reposts=0, replies=7, quotes=0)}
    assert fake_x.requests == [("GET", "/2/tweets")]


def test_101_x_posts_are_read_in_two_calls(fake_x: FakeXAPI, tmp_path: Path) -> None:
    author = fake_x.add_user("prolific")
    ids = [fake_x.add_tweet(author, f"Post {n}", age=100 - n)["id"] for n in range(101)]
    figures = reader("x", context(tmp_path, x_env(fake_x, author)), x_results=True).read(ids)
    assert fake_x.requests == [("GET", "/2/tweets")] * 2
    assert figures == {i: Figures(0, 0, 0, 0) for i in ids}


def test_the_x_fake_refuses_more_than_100_ids(fake_x: FakeXAPI, tmp_path: Path) -> None:
    import tweepy

    author = fake_x.add_user("greedy")
    results = reader("x", context(tmp_path, x_env(fake_x, author)), x_results=True)
    client = results.client  # type: ignore[attr-defined]
    with pytest.raises(tweepy.BadRequest, match="between 1 and 100"):
        client.get_tweets([str(n) for n in range(1, 102)], tweet_fields=["public_metrics"], user_auth=True)


def test_x_refusing_the_credentials_needs_attention_with_the_fix(fake_x: FakeXAPI, tmp_path: Path) -> None:
    author = fake_x.add_user("revoked")
    env = {**x_env(fake_x, author), "PUBLISHER_X_ACCESS_TOKEN_SECRET": "not-the-secret"}
    with pytest.raises(AuthError) as raised:
        reader("x", context(tmp_path, env), x_results=True).read(["1"])
    assert "401" in str(raised.value) and "PUBLISHER_X_" in str(raised.value.fix)


@pytest.mark.parametrize(("fault", "error"), [("429", RateLimited), ("500", Transient), ("reset_before", Transient)])
def test_x_errors_are_publishers_own(fault: str, error: type[Exception], fake_x: FakeXAPI, tmp_path: Path) -> None:
    author = fake_x.add_user("faulty")
    fake_x.faults.append(XFault("/2/tweets", 1, fault))
    with pytest.raises(error):
        reader("x", context(tmp_path, x_env(fake_x, author)), x_results=True).read(["1"])


def test_x_without_credentials_fails_with_the_fix_when_it_reads(tmp_path: Path) -> None:
    results = reader("x", context(tmp_path, {}), x_results=True)
    with pytest.raises(MissingCredentials, match="PUBLISHER_X_API_KEY"):
        results.read(["1"])


# -- Mastodon ------------------------------------------------------------------------------------------------

@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodonAPI]:
    api = FakeMastodonAPI()
    api.start()
    try:
        yield api
    finally:
        api.stop()


def as_user(fake: FakeMastodonAPI, user: MastodonUser) -> Any:
    return MastodonClient(access_token=user.token, api_base_url=fake.url, version_check_mode="none")


def mastodon_reader(fake: FakeMastodonAPI, user: MastodonUser, tmp_path: Path) -> ResultsReader:
    return reader("mastodon", context(tmp_path, {"PUBLISHER_MASTODON_TOKEN": user.token}), instance=fake.url)


def test_mastodon_figures_are_what_a_second_account_did(fake_mastodon: FakeMastodonAPI, tmp_path: Path) -> None:
    fake = fake_mastodon
    author, fan = fake.add_user("author"), fake.add_user("fan")
    first = fake.add_status(author, "First part", age=60)
    second = fake.add_status(author, "Second part", age=59, reply_to=first.id)
    gone = fake.add_status(author, "Deleted later", age=58, reply_to=second.id)
    fans = as_user(fake, fan)
    fans.status_favourite(first.id), fans.status_favourite(second.id), fans.status_reblog(first.id)
    fans.status_favourite(first.id)  # a repeat counts once
    fans.status_post("A reply from a fan", in_reply_to_id=first.id)
    first.quotes = 2
    as_user(fake, author).status_delete(gone.id)

    results = mastodon_reader(fake, author, tmp_path)
    figures = results.read([first.id, second.id, gone.id])

    assert figures == {first.id: Figures(likes=1, reposts=1, replies=2, quotes=2),
                       second.id: Figures(likes=1, reposts=0, replies=0, quotes=0)}
    assert results.batch == 20 and results.price_per_post is None
    assert [path for method, path in fake.requests if path.startswith("/api/v1/statuses")][-1:] == \
        ["/api/v1/statuses"]


def test_21_mastodon_statuses_are_read_in_two_calls(fake_mastodon: FakeMastodonAPI, tmp_path: Path) -> None:
    author = fake_mastodon.add_user("many")
    ids = [fake_mastodon.add_status(author, f"Status {n}", age=100 - n).id for n in range(21)]
    figures = mastodon_reader(fake_mastodon, author, tmp_path).read(ids)
    assert fake_mastodon.counts.get("/api/v1/statuses") == 2
    assert figures == {i: Figures(0, 0, 0, 0) for i in ids}


def test_a_server_before_4_3_is_asked_one_status_at_a_time_and_gives_no_quotes(tmp_path: Path) -> None:
    fake = FakeMastodonAPI(version="4.2.10", api_version=None)
    fake.start()
    try:
        author, fan = fake.add_user("author"), fake.add_user("fan")
        kept = fake.add_status(author, "Kept", age=60)
        gone = fake.add_status(author, "Deleted", age=50)
        as_user(fake, fan).status_reblog(kept.id)
        fake.add_status(fan, "A reply", age=10, reply_to=kept.id)
        as_user(fake, author).status_delete(gone.id)

        figures = mastodon_reader(fake, author, tmp_path).read([kept.id, gone.id])

        assert figures == {kept.id: Figures(likes=0, reposts=1, replies=1, quotes=None)}
        asked = [path for method, path in fake.requests if method == "GET" and path.startswith("/api/v1/statuses")]
        assert asked == ["/api/v1/statuses", f"/api/v1/statuses/{kept.id}", f"/api/v1/statuses/{gone.id}"]
    finally:
        fake.stop()


@pytest.mark.parametrize(("fault", "error"), [("429", RateLimited), ("500", Transient), ("reset_before", Transient)])
def test_mastodon_errors_are_publishers_own(fault: str, error: type[Exception], fake_mastodon: FakeMastodonAPI,
                                            tmp_path: Path) -> None:
    author = fake_mastodon.add_user("faulty")
    status = fake_mastodon.add_status(author, "Something", age=5)
    results = mastodon_reader(fake_mastodon, author, tmp_path)
    fake_mastodon.faults.append(MastodonFault("/api/v1/statuses", 1, fault))
    with pytest.raises(error):
        results.read([status.id])


def test_a_revoked_mastodon_token_needs_attention(fake_mastodon: FakeMastodonAPI, tmp_path: Path) -> None:
    author = fake_mastodon.add_user("revoked")
    status = fake_mastodon.add_status(author, "Something", age=5)
    results = mastodon_reader(fake_mastodon, author, tmp_path)
    fake_mastodon.revoke(author.token)
    with pytest.raises(AuthError, match="PUBLISHER_MASTODON_TOKEN") as raised:
        results.read([status.id])
    assert "publisher login mastodon acct" in str(raised.value.fix)


def test_mastodon_without_a_token_fails_with_the_fix_when_it_reads(tmp_path: Path) -> None:
    results = reader("mastodon", context(tmp_path, {}), instance="https://social.example")
    with pytest.raises(MissingCredentials, match="PUBLISHER_MASTODON_TOKEN"):
        results.read(["1"])


# -- the outbox ----------------------------------------------------------------------------------------------

def test_an_outbox_has_no_audience_so_no_reader(tmp_path: Path) -> None:
    assert kind("outbox").results("local", account("outbox"), context(tmp_path)) is None
