"""The dry-run preview: files, no network at all, and the page as a real browser shows it."""

from __future__ import annotations

import html
import io
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from PIL import Image

from conftest import REPO, axe_violations, colour_pixels, fonts_drawing, load_all_images, page_width_at
from publisher.webfonts import COMMON_CHARACTERS

SCHEDULE = """\
[defaults]
timezone = "Europe/London"

[accounts.local]
platform = "outbox"

[accounts.x]
platform = "x"
handle = "@example"

[accounts.masto]
platform = "mastodon"
instance = "https://social.example"

[[campaigns]]
name = "daily"
collection = "caseyreview"
accounts = ["local", "x", "masto"]
quotes_per_thread = 3
slots = { days = ["mon", "wed", "fri"], times = ["08:30"] }
intro = "What the #CaseyReview found about the Met 🧵"
outro = "Read more: https://example.org/casey {hashtags}"
numbering = true
x_monthly_budget = 20.0
"""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_the_guard_really_refuses_sockets(no_network: None) -> None:
    with pytest.raises(AssertionError, match="network access attempted"):
        socket.create_connection(("127.0.0.1", 9))


def test_preview_writes_page_json_and_cards_offline(project: Path, run_cli: Callable[..., Result],
                                                    no_network: None) -> None:
    (project / "schedule.toml").write_text(SCHEDULE, encoding="utf-8")
    started = time.perf_counter()
    result = run_cli("preview", "--threads", "2", "-o", "out")
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    first, note = result.stdout.splitlines()
    assert first == "Preview of 2 threads for 3 accounts, 30 posts: out/index.html (data in out/thread.json)"
    assert note.startswith("Campaign daily: 20 of 20 quotes not queued yet: runs out after 7 more threads, "
                           "last thread ")
    assert elapsed < 10  # the 3 s target is measured by bench/preview.py; this only catches a hang
    document = json.loads((project / "out" / "thread.json").read_text("utf-8"))
    assert [t["number"] for t in document["threads"]] == [1, 2]
    first = document["threads"][0]
    assert [a["account"] for a in first["accounts"]] == ["local", "x", "masto"]
    local, x, masto = first["accounts"]
    assert [p["kind"] for p in local["parts"]] == ["intro", "quote", "quote", "quote", "outro"]
    assert all(p["fits"] for p in local["parts"] + x["parts"] + masto["parts"])
    assert local["parts"][1]["reply_to"] == {"root": 1, "parent": 1}
    assert local["parts"][0]["unit"] == "graphemes" and x["parts"][0]["unit"] == "weighted characters"
    # Mastodon's own count (offline: its default limits); a URL counts 23 however long it is
    assert (masto["parts"][0]["unit"], masto["parts"][0]["limit"]) == ("characters", 500)
    outro = masto["parts"][-1]["text"]
    assert masto["parts"][-1]["length"] == len(outro) - len("https://example.org/casey") + 23
    assert "@metpoliceuk" not in masto["parts"][1]["text"] and masto["x_cost"] is None  # no cost off X
    assert "@metpoliceuk" in x["parts"][1]["text"] and "@metpoliceuk" not in local["parts"][1]["text"]
    tag_facets = [f for f in local["parts"][0]["facets"] if f["features"][0]["$type"].endswith("#tag")]
    text_bytes = local["parts"][0]["text"].encode("utf-8")
    index = tag_facets[0]["index"]
    assert text_bytes[index["byteStart"] : index["byteEnd"]].decode() == "#CaseyReview"
    assert x["x_cost"]["thread_usd"] == pytest.approx(4 * 0.015 + 0.20 + 3 * 0.005)
    assert x["x_cost"]["month_usd"] == pytest.approx(x["x_cost"]["thread_usd"] * 3 * 52 / 12, abs=0.01)
    images = [i for p in local["parts"] for i in p["images"]]
    assert len(images) == 3 and all((project / "out" / i["src"]).exists() for i in images)
    assert images[0]["alt"].startswith("Quote: “")
    second_ids = document["threads"][1]["quote_ids"]
    assert second_ids == [q["id"] for q in _casey_quotes()[3:6]]


def _casey_quotes() -> list[dict[str, Any]]:
    import tomllib

    quotes: list[dict[str, Any]] = tomllib.loads((REPO / "quotes" / "caseyreview.toml").read_text("utf-8"))["quotes"]
    return quotes


def test_preview_page_in_chromium(project: Path, run_cli: Callable[..., Result], browser: Any,
                                  tmp_path: Path) -> None:
    (project / "schedule.toml").write_text(SCHEDULE, encoding="utf-8")
    assert run_cli("preview", "-o", "out").exit_code == 0
    document = json.loads((project / "out" / "thread.json").read_text("utf-8"))
    browser.get((project / "out" / "index.html").as_uri())
    widths = load_all_images(browser)
    assert len(widths) == 9 and all(w == 1080 for w in widths)  # 3 cards per account, every one loaded
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    columns = browser.execute_script(
        "return [...document.querySelectorAll('.column')].map(c => [...c.querySelectorAll('.post')]"
        ".map(p => [p.querySelector('.number').innerText, p.querySelector('.text').innerText,"
        " p.querySelector('.count').innerText]))")
    expected = [[[f"{p['number']}/{len(a['parts'])}", p["text"], f"{p['length']}/{p['limit']} {p['unit']}"]
                 for p in a["parts"]] for a in document["threads"][0]["accounts"]]
    assert columns == expected
    alts = browser.execute_script("return [...document.images].map(i => i.alt)")
    assert all(alt.startswith("Quote: “") for alt in alts)
    links = browser.execute_script("return [...document.querySelectorAll('a.tag')].map(a => a.href)")
    assert "https://bsky.app/hashtag/CaseyReview" in links and "https://x.com/hashtag/CaseyReview" in links
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    shot.save(tmp_path / "preview.png")
    colours = shot.getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 500  # text, cards and page chrome: not a blank page
    assert max(count for count, _ in colours) < shot.width * shot.height * 0.9
    assert axe_violations(browser) == []
    assert page_width_at(browser, 320) <= 320  # reflows: nothing to scroll sideways on a narrow phone


def test_preview_page_is_set_in_the_cards_fonts_cut_to_its_characters(
        project: Path, run_cli: Callable[..., Result], browser: Any) -> None:
    from fontTools.ttLib import TTFont

    (project / "schedule.toml").write_text(SCHEDULE, encoding="utf-8")
    assert run_cli("preview", "-o", "out").exit_code == 0
    index = (project / "out" / "index.html").read_text("utf-8")
    fonts = sorted(p.name for p in (project / "out" / "fonts").iterdir())
    # the campaign theme: Inter for text, Inter Bold for headings, colour emoji for the intro's 🧵; nothing else
    assert fonts == ["Inter-Bold.woff", "Inter-Regular.woff", "NotoColorEmoji.woff"]
    for name in fonts:
        assert f'url("fonts/{name}")' in index
        assert (project / "out" / "fonts" / name).read_bytes()[:4] == b"wOFF"
        with TTFont(project / "out" / "fonts" / name) as font:
            drawn = {chr(c) for c in font.getBestCmap()}
        page_text = set(html.unescape(index))
        if name.startswith("Inter"):  # common Latin: the ready-made cut (assets/fonts/web), about 24 KB
            assert drawn <= set(COMMON_CHARACTERS) and (project / "out" / "fonts" / name).stat().st_size < 30_000
        else:
            assert drawn <= page_text  # cut down to the page's characters
    with TTFont(project / "out" / "fonts" / "NotoColorEmoji.woff") as emoji:
        assert set(emoji.getBestCmap()) == {ord("🧵")} and "CBDT" in emoji  # colour bitmaps kept
    assert (project / "out" / "fonts" / "NotoColorEmoji.woff").stat().st_size < 20_000  # not the 11 MB font
    browser.get((project / "out" / "index.html").as_uri())
    assert browser.execute_async_script("const done = arguments[0]; document.fonts.ready.then(() => done("
                                        "[...document.fonts].filter(f => f.status === 'error').length))") == 0
    intro = ".column:first-child .post.intro .text"
    drawn_by = fonts_drawing(browser, intro)
    assert drawn_by.get("NotoColorEmoji (web font)") == 1  # the 🧵, from the page's own font: no tofu
    assert set(drawn_by) <= {"Inter-Regular (web font)", "NotoColorEmoji (web font)"}, drawn_by
    assert colour_pixels(browser, intro, "🧵") > 20  # drawn in colour
    assert set(fonts_drawing(browser, "h1")) == {"Inter-Bold (web font)"}


PIXEL = "data:image/gif;base64,R0lGODlhAQABAAAAACw="  # a 1x1 image that loads without a file


def test_the_accessibility_check_finds_what_it_should(tmp_path: Path, browser: Any) -> None:
    (tmp_path / "bad.html").write_text('<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
                                       f'<img src="{PIXEL}"><p style="color: #bbb; background: #fff">faint</p>'
                                       '<div style="width: 600px">wide</div></main></body></html>', encoding="utf-8")
    browser.get((tmp_path / "bad.html").as_uri())
    assert {v["id"] for v in axe_violations(browser)} == {"image-alt", "color-contrast"}
    assert page_width_at(browser, 320) == 8 + 600  # the body's margin and the wide box
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []  # leaves none for other tests


def test_preview_refuses_to_replace_a_file_in_its_fonts_folder(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "out" / "fonts").mkdir(parents=True)
    (project / "out" / "fonts" / "Inter-Regular.woff").write_text("my notes", encoding="utf-8")
    result = run_cli("preview", "-o", "out")
    assert result.exit_code == 2
    assert result.stderr == ("out/fonts/Inter-Regular.woff exists and is not a web font: publisher will not replace "
                             "it (choose another folder with -o, or --force to replace it)\n")
    assert (project / "out" / "fonts" / "Inter-Regular.woff").read_text("utf-8") == "my notes"
    assert not (project / "out" / "index.html").exists()


def test_preview_unknown_campaign(project: Path, run_cli: Callable[..., Result]) -> None:
    result = run_cli("preview", "--campaign", "dialy")
    assert result.exit_code == 3
    assert result.stderr == 'no campaign "dialy" in schedule.toml (did you mean "daily"?)\n'
