"""One ``queue add`` to Bluesky (the reference PDS), X (the fake) and Mastodon (the fake) at once: each account's
thread composed by its own platform's rules and posted as its own reply chain, then nothing more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fakes.mastodon_api import FakeMastodonAPI
from posting_project import environment, make_project
from publisher.app import Project
from publisher.platforms import rules_for, rules_of
from publisher.store import Store
from test_posting import Clock, check_bluesky_thread, check_x_thread, parts_by_state

pytestmark = pytest.mark.heavy


def test_one_thread_to_bluesky_x_and_mastodon(tmp_path: Path, pds: Any, fake_x: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    mastodon = FakeMastodonAPI(max_characters=1000)  # its own limit, learnt when the thread is made
    mastodon.start()
    try:
        handle, did, password = pds.create_account("three")
        x_user = fake_x.add_user("publisher_test")
        masto_user = mastodon.add_user("campaign")
        root = make_project(tmp_path / "p", bluesky=(pds.url, handle), x=True, mastodon=mastodon.url)
        env = {**environment(bluesky_password=password, fake_x=fake_x, x_user=x_user),
               **environment(mastodon_token=masto_user.token)}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        clock = Clock()
        project = Project(root / "schedule.toml", now=clock)
        project.queue_add("thread", now=True)
        assert [o.state for o in project.post_due().outcomes] == ["posted"]
        assert parts_by_state(root) == {"bsky": ["posted"] * 5, "masto": ["posted"] * 5, "x": ["posted"] * 5}

        check_bluesky_thread(pds, did, "(thread)")
        tweets = check_x_thread(x_user, "(thread)")
        statuses = masto_user.statuses
        assert len(statuses) == 5 and mastodon.thread(statuses[-1].id) == statuses
        with Store.open(root / "state" / "publisher.db") as store:
            masto_parts, x_parts = store.parts(1, "masto"), store.parts(1, "x")
            # the instance's limits were asked for and kept; X's part costs were priced, Mastodon's not
            account = project.files.schedule().accounts["masto"]
            assert rules_of(account, store).measure("words").limit == 1000
            assert all(p.cost is None for p in masto_parts) and all(p.cost for p in x_parts)
        assert [s.text for s in statuses] == [p.text for p in masto_parts]
        assert "@metpoliceuk" in tweets[1]["text"] and "@metpoliceuk" not in statuses[1].text
        # the same words counted three ways: X weighs the URL as 23, Mastodon too, Bluesky counts it as written
        outro = masto_parts[-1].text
        assert rules_for("mastodon").measure(outro).length < rules_for("bluesky").measure(outro).length
        assert [len(s.media_ids) for s in statuses] == [0, 1, 1, 1, 0]
        assert {s.language for s in statuses} == {"en"}  # the collection's language, the account giving none

        assert project.post_due().outcomes == []  # nothing is posted twice
        assert len(statuses) == 5 and len(x_user.tweets) == 5 and len(pds.posts(did)) == 5
    finally:
        mastodon.stop()
