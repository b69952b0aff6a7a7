"""Cards in every script campaigners write: one quote per script (tests/data/scripts.toml) in every theme, each
drawn piece in a font whose character map has every character (no tofu), the text really on the card; text
written without spaces broken only between clusters; long URLs and words broken rather than refused; a font
installed on the machine found through fontconfig for a script none of the bundled fonts draws."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from conftest import BUNDLED, DATA
from publisher.assets import Assets
from publisher.quotes import Collection, Quote, load_collection
from publisher.render.breaks import clusters
from publisher.render.card import CardRenderer, RenderedCard
from publisher.render.fonts import coverage, needs_glyphs
from publisher.themes import load_theme

ASSETS = Assets.bundled_only()
THEMES = ("campaign", "paper", "contrast")


@pytest.fixture(scope="module")
def scripts() -> Collection:
    return load_collection(DATA / "scripts.toml")


def renderer(theme: str) -> CardRenderer:
    return CardRenderer(load_theme(BUNDLED / "themes" / f"{theme}.toml", ASSETS), ASSETS)


def font_path(name: str) -> Path:
    return Path(name) if Path(name).is_absolute() else BUNDLED / "fonts" / name


def assert_no_tofu(card: RenderedCard) -> None:
    for piece in card.pieces:
        cmap = coverage(font_path(piece.font))
        missing = [f"U+{cp:04X}" for cluster in clusters(piece.text) for cp in needs_glyphs(cluster)
                   if cp != 0x20 and cp not in cmap]
        assert not missing, (card.quote_id, piece.font, piece.text, missing)


def ink_in(card: RenderedCard, zone: str) -> int:
    """Pixels of the zone that differ clearly from the card's background at their row."""
    image = Image.open(io.BytesIO(card.png)).convert("L")
    left, top, right, bottom = card.boxes[zone]
    count = 0
    for y in range(top, bottom, 2):
        background = image.getpixel((5, y))
        count += sum(abs(image.getpixel((x, y)) - background) > 60 for x in range(left, right, 2))
    return count


SCRIPT_QUOTES = [quote.id for quote in load_collection(DATA / "scripts.toml").quotes]


@pytest.mark.parametrize("quote_id", SCRIPT_QUOTES)
def test_every_script_renders_with_no_missing_glyph(scripts: Collection, quote_id: str) -> None:
    quote = scripts.quote(quote_id)
    assert quote is not None
    for theme in THEMES:
        card = renderer(theme).render(scripts, quote, "square")
        assert_no_tofu(card)
        drawn = "".join(p.text for p in card.pieces if p.layer in ("text", "accent")).replace(" ", "")
        assert drawn.replace("-", "") == "".join(card.lines).replace(" ", "").replace("-", "")
        assert ink_in(card, "quote") > 800, (quote_id, theme)  # the text is there, not a blank box


def test_bold_themes_take_the_bold_face_of_each_script(scripts: Collection) -> None:
    quote = scripts.quote("hindi")
    assert quote is not None
    bold = {p.font for p in renderer("campaign").render(scripts, quote, "square").pieces if p.layer == "text"}
    regular = {p.font for p in renderer("paper").render(scripts, quote, "square").pieces if p.layer == "text"}
    assert bold == {"NotoSansDevanagari-Bold.ttf"} and regular == {"NotoSansDevanagari-Regular.ttf"}


@pytest.mark.parametrize("quote_id", ["thai", "lao", "khmer", "myanmar"])
def test_text_without_spaces_breaks_only_between_clusters(scripts: Collection, quote_id: str) -> None:
    quote = scripts.quote(quote_id)
    assert quote is not None
    for format_name in ("square", "landscape", "story"):
        card = renderer("campaign").render(scripts, quote, format_name)
        assert "".join(card.lines).replace(" ", "") == quote.text.replace(" ", "")
        whole = clusters(quote.text.replace(" ", ""))
        boundaries = {sum(len(c) for c in whole[:i]) for i in range(len(whole) + 1)}
        position = 0
        for line in card.lines[:-1]:
            position += len(line.replace(" ", ""))
            assert position in boundaries, (quote_id, format_name, line)  # never inside a cluster
            assert line.replace(" ", "")[-1] not in "เแโใไເແໂໃໄ្္"  # nor after a leading vowel or stacker


def test_chinese_and_japanese_take_their_own_letter_forms(tmp_path: Path) -> None:
    """The CJK font is shaped in the collection's language: 直 and 骨 differ between Japanese and Chinese."""
    images = {}
    for language in ("ja", "zh-Hans"):
        path = tmp_path / language / "cjk.toml"
        path.parent.mkdir()
        path.write_text(f'[collection]\nname = "cjk"\ntitle = "T"\nattribution = "A"\nlanguage = "{language}"\n\n'
                        '[[quotes]]\nid = "forms"\ntext = "直骨"\n', encoding="utf-8")
        collection = load_collection(path)
        card = renderer("paper").render(collection, collection.quotes[0], "square")
        assert {p.font for p in card.pieces if p.layer == "text"} == {"NotoSansCJKsc-Regular.otf"}
        images[language] = Image.open(io.BytesIO(card.png)).convert("L").crop(card.boxes["quote"])
    assert images["ja"].tobytes() != images["zh-Hans"].tobytes()


def quote_of(text: str) -> tuple[Collection, Quote]:
    collection = Collection.model_validate({"collection": {"name": "t", "title": "T", "attribution": "A"},
                                            "quotes": [{"id": "q", "text": text}]})
    return collection, collection.quotes[0]


def test_a_long_url_breaks_after_its_punctuation_and_is_never_refused() -> None:
    url = ("https://www.met.police.uk/SysSiteAssets/media/downloads/met/about-us/baroness-casey-review/"
           "update-march-2023/baroness-casey-review-march-2023a.pdf")
    collection, quote = quote_of(f"Read it at {url} today")
    for theme in THEMES:
        for format_name in ("square", "portrait", "story", "landscape"):
            card = renderer(theme).render(collection, quote, format_name)
            assert "".join(card.lines).replace(" ", "") == quote.text.replace(" ", "")  # no hyphen added
            for line in card.lines[:-1]:
                if url[:12] in "".join(card.lines[card.lines.index(line):]):
                    continue  # before the URL starts
                assert line[-1] in "/.-?&=" or line.endswith(("at", "it")), (format_name, card.lines)


def test_a_long_word_is_hyphenated_rather_than_refused() -> None:
    word = "pneumonoultramicroscopicsilicovolcanoconiosis"  # wider than a square card at any readable size
    collection, quote = quote_of(f"The word {word} is long")
    card = renderer("contrast").render(collection, quote, "square")
    assert any(line.endswith("-") for line in card.lines[:-1]), card.lines
    joined = "".join(line[:-1] if line.endswith("-") else line + " " for line in card.lines).strip()
    assert joined == quote.text


def test_a_compound_breaks_after_its_own_hyphen() -> None:
    collection, quote = quote_of("An institutionally-defensive, change-resistant, accountability-averse culture")
    card = renderer("campaign").render(collection, quote, "story")
    assert "".join(card.lines) .replace(" ", "") == quote.text.replace(" ", "")  # nothing added


def test_a_font_installed_on_the_machine_is_used_through_fontconfig(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Cherokee is in no bundled font: a font installed for fontconfig draws it."""
    if shutil.which("fc-match") is None:
        pytest.skip("fontconfig is not installed")
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    build_font(fonts / "TestCherokee.ttf", [0x13A0, 0x13A1, 0x13A2])
    config = tmp_path / "fonts.conf"
    config.write_text(f'<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
                      f"<dir>{fonts}</dir><cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>", encoding="utf-8")
    monkeypatch.setenv("FONTCONFIG_FILE", str(config))
    subprocess.run(["fc-cache", "-f"], check=False, capture_output=True, timeout=60)
    from publisher.render import fonts as fonts_module

    fonts_module.installed_font_for.cache_clear()
    collection, quote = quote_of("Policing ᎠᎡᎢ by consent")
    card = renderer("paper").render(collection, quote, "square")
    used = {p.font for p in card.pieces if "Ꭰ" in p.text}
    assert used == {str(fonts / "TestCherokee.ttf")}
    assert_no_tofu(card)
    fonts_module.installed_font_for.cache_clear()


def build_font(path: Path, codepoints: list[int]) -> None:
    """A real TrueType font with a filled box for each of ``codepoints``."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    names = [".notdef", *[f"uni{cp:04X}" for cp in codepoints]]
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({cp: f"uni{cp:04X}" for cp in codepoints})
    glyphs = {}
    for name in names:
        pen = TTGlyphPen(None)
        pen.moveTo((100, 0))
        pen.lineTo((100, 700))
        pen.lineTo((500, 700))
        pen.lineTo((500, 0))
        pen.closePath()
        glyphs[name] = pen.glyph()
    builder.setupGlyf(glyphs)
    builder.setupHorizontalMetrics({name: (600, 100) for name in names})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "Test Cherokee", "styleName": "Regular"})
    builder.setupOS2(usWeightClass=400)
    builder.setupPost()
    builder.save(str(path))
