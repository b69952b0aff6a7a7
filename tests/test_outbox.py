"""The outbox platform: records on disk with reply refs, images and facets, and a timeline page."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import Result

from conftest import BUNDLED, MINIMAL_SCHEDULE, axe_violations, colour_pixels, fonts_drawing, page_width_at
from publisher.assets import Assets
from publisher.platforms import kind
from publisher.platforms.base import Draft, Image, PostRef, ReplyTo
from publisher.platforms.outbox import OutboxPlatform
from publisher.themes import load_theme
from publisher.webfonts import ThemeFonts, growing_page_fonts

CAMPAIGN_FONTS = ThemeFonts.of(load_theme(BUNDLED / "themes" / "campaign.toml", Assets.bundled_only()),
                               Assets.bundled_only())

PNG = (Path(__file__).parent / "golden" / "campaign-square-met-yet-free-itself-institutional.png").read_bytes()


def clock() -> Any:
    moments = iter(datetime(2026, 11, 23, 8, 30, tzinfo=UTC) + timedelta(seconds=i) for i in range(100))
    return lambda: next(moments)


def send(outbox: OutboxPlatform, draft: Draft, reply_to: ReplyTo | None = None) -> PostRef:
    return outbox.publish(outbox.prepare(draft, reply_to))


def post_thread(outbox: OutboxPlatform, texts: list[str]) -> list[str]:
    refs = []
    root = parent = None
    for text in texts:
        image = Image(PNG, "Quote: “The Met has yet…” — Casey", 1080, 1080)
        ref = send(outbox, Draft(text, (image,)), ReplyTo(root, parent) if root and parent else None)
        root = root or ref
        parent = ref
        refs.append(ref.id)
    return refs


def test_outbox_writes_a_reply_chained_thread(tmp_path: Path, browser: Any) -> None:
    outbox = OutboxPlatform(tmp_path / "outbox", "local", kind("bluesky"), clock(), growing_page_fonts(CAMPAIGN_FONTS))
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
    assert axe_violations(browser) == []
    assert page_width_at(browser, 320) <= 320
    first = ".post:first-child .text"
    assert set(fonts_drawing(browser, first)) == {"Inter-Regular (web font)", "NotoColorEmoji (web font)"}
    assert colour_pixels(browser, first, "🧵") > 20


def test_timeline_fonts_are_cut_again_only_for_new_characters(tmp_path: Path) -> None:
    outbox = OutboxPlatform(tmp_path, "local", kind("bluesky"), clock(), growing_page_fonts(CAMPAIGN_FONTS))
    fonts = tmp_path / "local" / "fonts"
    send(outbox, Draft("Plain words 1/2"), None)
    assert sorted(p.name for p in fonts.iterdir()) == ["Inter-Bold.woff", "Inter-Regular.woff"]
    first = {p.name: p.stat().st_mtime_ns for p in fonts.iterdir()}
    send(outbox, Draft("“More” words – #tags, @people, 100%… Ça va (2/2)"), None)
    assert {p.name: p.stat().st_mtime_ns for p in fonts.iterdir()} == first  # had every character already
    send(outbox, Draft("Łódź 🧵"), None)
    assert sorted(p.name for p in fonts.iterdir()) == ["Inter-Bold.woff", "Inter-Regular.woff",
                                                       "NotoColorEmoji.woff"]
    assert (fonts / "Inter-Regular.woff").stat().st_mtime_ns != first["Inter-Regular.woff"]  # now with Ł
    timeline = (tmp_path / "local" / "timeline.html").read_text("utf-8")
    assert 'src: url("fonts/NotoColorEmoji.woff")' in timeline and "U+1F9F5" in timeline


def test_an_outbox_timeline_is_set_in_its_campaigns_theme(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE + 'theme = "contrast"\n', encoding="utf-8")
    assert run_cli("queue", "add", "--now").exit_code == 0
    result = run_cli("post")
    assert result.exit_code == 0, result.output
    # the high-contrast theme sets its small text in Inter SemiBold and its brand in Inter Bold
    fonts = project / "outbox" / "local" / "fonts"
    assert sorted(p.name for p in fonts.iterdir()) == ["Inter-Bold.woff", "Inter-SemiBold.woff"]
    assert 'url("fonts/Inter-SemiBold.woff")' in (project / "outbox" / "local" / "timeline.html").read_text("utf-8")


def test_outbox_like_x_counts_weighted(tmp_path: Path) -> None:
    outbox = OutboxPlatform(tmp_path, "xish", kind("x"), clock())
    send(outbox, Draft("Hello … world"), None)
    record = json.loads((tmp_path / "xish/posts/000001.json").read_text("utf-8"))
    assert record["length"] == "14/280 weighted characters" and record["facets"] == []


def test_outbox_like_mastodon_counts_as_the_server_does(tmp_path: Path) -> None:
    outbox = OutboxPlatform(tmp_path, "mastoish", kind("mastodon"), clock())
    url = "https://example.org/" + "a" * 60
    send(outbox, Draft(f"Read it: {url} #CaseyReview"), None)
    record = json.loads((tmp_path / "mastoish/posts/000001.json").read_text("utf-8"))
    assert record["length"] == f"{len('Read it: ') + 23 + len(' #CaseyReview')}/500 characters"  # a URL is 23
    assert record["facets"] == []  # Mastodon's server makes the links: no rich text in the post
