"""The outbox platform: records on disk with reply refs, images and facets, and a timeline page."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from publisher.platforms import rules_for
from publisher.platforms.base import Draft, Image, ReplyTo
from publisher.platforms.outbox import OutboxPlatform

PNG = (Path(__file__).parent / "golden" / "campaign-square-met-yet-free-itself-institutional.png").read_bytes()


def clock() -> Any:
    moments = iter(datetime(2026, 11, 23, 8, 30, tzinfo=UTC) + timedelta(seconds=i) for i in range(100))
    return lambda: next(moments)


def post_thread(outbox: OutboxPlatform, texts: list[str]) -> list[str]:
    refs = []
    root = parent = None
    for text in texts:
        image = Image(PNG, "Quote: “The Met has yet…” — Casey", 1080, 1080)
        ref = outbox.post(Draft(text, (image,)), ReplyTo(root, parent) if root and parent else None)
        root = root or ref
        parent = ref
        refs.append(ref.id)
    return refs


def test_outbox_writes_a_reply_chained_thread(tmp_path: Path, browser: Any) -> None:
    outbox = OutboxPlatform(tmp_path / "outbox", "local", rules_for("bluesky"), clock())
    ids = post_thread(outbox, ["Café 🧵 #CaseyReview 1/3", "Second https://example.org 2/3", "Third 3/3"])
    assert ids == ["local-000001", "local-000002", "local-000003"]
    records = [json.loads(p.read_text("utf-8")) for p in sorted((tmp_path / "outbox/local/posts").glob("*.json"))]
    assert [r["reply"] for r in records] == [None, {"root": ids[0], "parent": ids[0]},
                                             {"root": ids[0], "parent": ids[1]}]
    assert records[0]["posted_at"] == "2026-11-23T08:30:00+00:00"
    assert records[0]["length"] == "23/300 graphemes"
    facet = records[0]["facets"][0]
    raw = records[0]["text"].encode()
    assert raw[facet["index"]["byteStart"] : facet["index"]["byteEnd"]] == b"#CaseyReview"
    media = list((tmp_path / "outbox/local/media").iterdir())
    assert len(media) == 1 and media[0].read_bytes() == PNG  # content-addressed: stored once
    assert records[2]["images"][0]["alt"].startswith("Quote: “")
    browser.get((tmp_path / "outbox/local/timeline.html").as_uri())
    texts = browser.execute_script("return [...document.querySelectorAll('.post .text')].map(p => p.innerText)")
    assert texts == [r["text"] for r in records]
    assert browser.execute_script("return [...document.images].every(i => i.complete && i.naturalWidth > 0)")


def test_outbox_like_x_counts_weighted(tmp_path: Path) -> None:
    outbox = OutboxPlatform(tmp_path, "xish", rules_for("x"), clock())
    outbox.post(Draft("Hello … world"), None)
    record = json.loads((tmp_path / "xish/posts/000001.json").read_text("utf-8"))
    assert record["length"] == "14/280 weighted characters" and record["facets"] == []
