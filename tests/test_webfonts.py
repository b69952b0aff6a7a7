"""The fonts the HTML pages carry: the card theme's, cut down to a page's characters, and what Chromium draws with
them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fontTools.ttLib import TTFont

from conftest import BUNDLED, fonts_drawing
from publisher.assets import Assets
from publisher.render.fonts import BrokenFont
from publisher.themes import load_theme
from publisher.timeline import Column, PostView, Section, page
from publisher.webfonts import FOLDER, ThemeFonts, prebuilt_path, subset_font, unicode_range, write_page_fonts


def theme_fonts(name: str) -> ThemeFonts:
    return ThemeFonts.of(load_theme(BUNDLED / "themes" / f"{name}.toml", Assets.bundled_only()), Assets.bundled_only())


def test_a_page_carries_only_the_fonts_its_characters_need() -> None:
    planned = theme_fonts("paper").plan("Policing by consent: الشرطة بالتراضي 🧵")
    sources = {font.source.name for font in planned.fonts}
    assert {"Inter-Regular.otf", "Inter-Bold.otf", "NotoSansArabic-Regular.ttf", "NotoColorEmoji.ttf"} <= sources
    assert not any(name.startswith(("NotoSans-", "NotoSansHebrew", "NotoSansCJK", "NotoSansSymbols"))
                   for name in sources)  # in the chain, but no character here needs them
    latin_only = theme_fonts("paper").plan("Policing by consent")
    assert [font.source.name for font in latin_only.fonts] == ["Inter-Regular.otf", "Inter-Bold.otf"]
    arabic = {face.role: face.characters for face in planned.faces if face.file.startswith("NotoSansArabic")}
    assert set(arabic) == {"regular", "bold"} and "ش" in arabic["regular"] and "P" not in arabic["regular"]


def test_cut_fonts_hold_the_page_characters_and_the_emoji_keeps_its_colour(tmp_path: Path) -> None:
    text = "What the #CaseyReview found about the Met 🧵"
    fonts = theme_fonts("campaign").for_text(text)
    write_page_fonts(tmp_path, fonts)
    for font in fonts.fonts:
        assert set(font.characters) <= set(text)
        with TTFont(tmp_path / FOLDER / font.file) as cut:
            drawn = {chr(c) for c in cut.getBestCmap()}
            if font.file.startswith("Inter"):  # common Latin text: the ready-made cut, which holds it all
                assert font.data == prebuilt_path(font.source).read_bytes() and set(font.characters) <= drawn
            else:  # anything else is cut to the characters drawn
                assert drawn == set(font.characters)
            if font.file == "NotoColorEmoji.woff":
                assert "CBDT" in cut and "CBLC" in cut  # the colour bitmaps
    assert fonts.size < 60_000  # the bundled files are 11 MB of emoji and 260 KB per Inter face (cuts: 24 KB each)
    assert theme_fonts("campaign").for_text(text).fonts == fonts.fonts  # the same bytes again (packs rely on it)


def test_unicode_range_joins_neighbours() -> None:
    assert unicode_range("ba c🧵") == "U+20, U+61-63, U+1F9F5"


def test_a_damaged_font_is_named(tmp_path: Path) -> None:
    damaged = tmp_path / "Damaged.ttf"
    damaged.write_bytes((BUNDLED / "fonts" / "NotoSansHebrew-Regular.ttf").read_bytes()[:3000])
    with pytest.raises(BrokenFont, match=r"Damaged\.ttf cannot be read as a font"):
        subset_font(damaged, "abc")


def test_chromium_draws_each_script_with_the_page_fonts(tmp_path: Path, browser: Any) -> None:
    posts = [PostView("Policing by consent 🧵", "bluesky", 1, 2), PostView("الشرطة بالتراضي", "bluesky", 2, 2)]
    sections = [Section("الشرطة", [Column("local", "outbox", posts)])]
    html = page("Fonts", "A page in two scripts", sections)
    fonts = theme_fonts("campaign").for_text(html)
    write_page_fonts(tmp_path, fonts)
    (tmp_path / "index.html").write_text(page("Fonts", "A page in two scripts", sections, fonts_css=fonts.css),
                                         encoding="utf-8")
    browser.get((tmp_path / "index.html").as_uri())
    browser.execute_async_script("document.fonts.ready.then(arguments[0])")
    assert set(fonts_drawing(browser, ".post:first-child .text")) == {"Inter-Regular (web font)",
                                                                      "NotoColorEmoji (web font)"}
    arabic = fonts_drawing(browser, ".post:last-child .text")
    assert arabic["NotoSansArabic-Regular (web font)"] >= 13
    assert set(arabic) <= {"NotoSansArabic-Regular (web font)", "Inter-Regular (web font)"}  # the space: Inter
    assert set(fonts_drawing(browser, "h2")) == {"NotoSansArabic-Bold (web font)"}  # bold text: the bold faces
    assert set(fonts_drawing(browser, "h1")) == {"Inter-Bold (web font)"}


@pytest.mark.parametrize("name", ["Inter-Regular", "Inter-SemiBold", "Inter-Bold"])
def test_the_ready_made_cuts_are_current(name: str) -> None:
    """assets/fonts/web/ holds exactly what scripts/build-webfonts would write from today's fonts."""
    from publisher.webfonts import COMMON_CHARACTERS, prebuilt_path

    source = BUNDLED / "fonts" / f"{name}.otf"
    assert prebuilt_path(source).read_bytes() == subset_font(source, COMMON_CHARACTERS), (
        "run scripts/build-webfonts")


def test_latin_pages_take_the_ready_made_cut_and_other_cuts_are_cached(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from publisher.webfonts import cut_fonts, prebuilt_path

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fonts = cut_fonts(theme_fonts("campaign").plan("What the Casey Review found — part 3"))
    regular = next(f for f in fonts.fonts if f.source.name == "Inter-Regular.otf")
    assert regular.data == prebuilt_path(regular.source).read_bytes()
    assert not (tmp_path / "cache").exists()  # nothing was cut
    subset_font.cache_clear()
    cut_fonts(theme_fonts("campaign").plan("Ελληνικά κείμενα"))
    kept = list((tmp_path / "cache" / "publisher" / "webfonts").glob("*.woff"))
    assert kept
    again = cut_fonts(theme_fonts("campaign").plan("Ελληνικά κείμενα"))
    assert {f.data for f in again.fonts} <= {path.read_bytes() for path in kept}
