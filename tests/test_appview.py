"""Bluesky figures against the reference AppView (``@atproto/bsky``, indexing a real PDS's firehose into Postgres):
publisher posts a thread, two other accounts like, repost, reply to and quote its parts (different figures on each
part, one like taken back), and what publisher reads, from the AppView itself and through the account's PDS
(``appview = "pds"``), is exactly what they did."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import wait_for
from posting_project import environment, make_project
from publisher.app import Project
from publisher.cli import cli
from publisher.platforms import kind
from publisher.platforms.base import Figures, PlatformContext
from publisher.store import Store

pytestmark = pytest.mark.heavy


def set_appview(schedule: Path, where: str) -> None:
    """The bsky account's ``appview`` key in schedule.toml, as a person would write it."""
    text = re.sub(r'\nappview = "[^"]*"', "", schedule.read_text("utf-8"))
    schedule.write_text(re.sub(r'(\[accounts\.bsky\]\n(?:.+\n)*?service = "[^"]*"\n)', rf'\1appview = "{where}"\n',
                               text), encoding="utf-8")


def read_with_reader(root: Path, handle: str, service: str, where: str, env: dict[str, str],
                     uris: list[str]) -> dict[str, Figures]:
    """The Bluesky results reader, made as the daemon makes it, reading ``uris`` in one go."""
    account = kind("bluesky").account_model.model_validate(
        {"platform": "bluesky", "handle": handle, "service": service, "appview": where})
    with Store.open(root / "state" / "publisher.db") as store:
        context = PlatformContext(root, store, env, lambda: datetime.now(UTC), 10.0)
        reader = kind("bluesky").results("bsky", account, context)
        assert reader is not None
        return reader.read(uris)


def test_figures_read_from_the_reference_appview_are_what_other_accounts_did(
        appview: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    network = appview
    handle, _, password = network.create_account("publisher")
    root = make_project(tmp_path / "p", bluesky=(network.pds_url, handle))
    env = environment(bluesky_password=password)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    project = Project(root / "schedule.toml")
    thread_id = project.queue_add("thread", now=True).thread.id
    assert [o.state for o in project.post_due().outcomes] == ["posted"]
    with Store.open(root / "state" / "publisher.db") as store:
        parts = store.parts(thread_id, "bsky")
    assert len(parts) == 5 and all(p.post_id and p.cid for p in parts)
    posts = [{"uri": str(p.post_id), "cid": str(p.cid)} for p in parts]
    first = posts[0]

    fan, friend = network.account("fan"), network.account("friend")
    # The thread and both accounts indexed before anyone acts on them, as they would be for any real reader: a quote
    # the AppView indexes before the post it quotes is not counted (seen in CI: 1 quote of 2)
    network.settle()
    # Different figures on each part: (likes, reposts, replies, quotes) from the two other accounts.
    fan.like(posts[0]), friend.like(posts[0]), fan.repost(posts[0])
    fan.reply(posts[0], first, "Thank you for this"), fan.quote(posts[0], "Everyone should read this")
    # two quotes of one post indexed at the same moment can both count it as the first (its count comes out 1, seen
    # under load): the second comes once the first is in, as two people's quotes would
    network.settle()
    friend.quote(posts[0], "Worth your time")
    fan.like(posts[1]), fan.repost(posts[1]), friend.repost(posts[1])
    fan.reply(posts[2], first, "Shocking"), friend.reply(posts[2], first, "Agreed"), friend.quote(posts[2], "This")
    fan.delete(fan.like(posts[3]))  # a like taken back counts for nothing
    friend.like(posts[4]), friend.reply(posts[4], first, "Where is the full report?")
    others = [(2, 1, 1, 2), (1, 2, 0, 0), (0, 0, 2, 1), (0, 0, 0, 0), (1, 0, 1, 0)]
    by_people = {post["uri"]: Figures(*figures) for post, figures in zip(posts, others, strict=True)}
    own_next_part = [1, 1, 1, 1, 0]  # the platform counts the thread's next part among a part's replies
    expected = {uri: Figures(f.likes, f.reposts, (f.replies or 0) + own, f.quotes)
                for (uri, f), own in zip(by_people.items(), own_next_part, strict=True)}

    network.settle()  # the AppView has indexed everything the PDS has written
    uris = [post["uri"] for post in posts]
    # its counts of quotes are aggregated a moment after the records are indexed: wait for them, never sleep
    wait_for(lambda: read_with_reader(root, handle, network.pds_url, network.appview_url, env, uris) == expected,
             timeout=20)
    assert read_with_reader(root, handle, network.pds_url, network.appview_url, env, uris) == expected
    assert read_with_reader(root, handle, network.pds_url, "pds", env, uris) == expected

    runner = CliRunner()
    for where in (network.appview_url, "pds"):
        set_appview(root / "schedule.toml", where)
        result = runner.invoke(cli, ["--config", str(root / "schedule.toml"), "results", "--refresh", "--json"],
                               catch_exceptions=False)
        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout)
        by_url = {row["url"]: Figures(row["likes"], row["reposts"], row["replies"], row["quotes"]) for row in rows}
        # `publisher results` shows people's replies: the thread's own next part is not one of them
        assert by_url == {part.url: by_people[str(part.post_id)] for part in parts}, where
        assert {(row["thread_id"], row["account"], row["platform"]) for row in rows} == {(thread_id, "bsky",
                                                                                          "bluesky")}
