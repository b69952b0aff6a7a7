"""Cards: scripts, fallback glyphs, highlights, sizes, zones, limits, determinism, alt text."""

from __future__ import annotations

import io
import itertools
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, features

from conftest import BUNDLED, DATA, REPO
from publisher.assets import Assets
from publisher.errors import ExitStatus
from publisher.quotes import Collection, Quote, load_collection
from publisher.render import FORMAT_NAMES, TextShapingUnavailable, check_text_shaping
from publisher.render.card import (
    MAX_PNG_BYTES,
    CardRenderer,
    CardTooLarge,
    RenderedCard,
    TextDoesNotFit,
    alt_text,
    encode_png,
)
from publisher.render.fonts import EMOJI_FONT, MissingGlyph, coverage, needs_glyphs
from publisher.text import trim_alt
from publisher.themes import Theme, load_theme, rgb

ASSETS = Assets.bundled_only()
THEMES = ("campaign", "paper", "contrast")


def renderer(theme: str) -> CardRenderer:
    return CardRenderer(load_theme(BUNDLED / "themes" / f"{theme}.toml", ASSETS), ASSETS)


@pytest.fixture(scope="module")
def casey() -> Collection:
    return load_collection(REPO / "quotes" / "caseyreview.toml")


@pytest.fixture(scope="module")
def multilingual(tmp_path_factory: pytest.TempPathFactory) -> Collection:
    return load_collection(DATA / "multilingual.toml")


@pytest.fixture(scope="module")
def all_casey_cards(casey: Collection) -> list[RenderedCard]:
    return [renderer(theme).render(casey, quote, fmt)
            for theme in THEMES for quote in casey.quotes for fmt in FORMAT_NAMES]


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        chunks.append(data[position + 4 : position + 8])
        position += 12 + length
    return chunks


def assert_every_glyph_exists(card: RenderedCard) -> None:
    """No .notdef: every drawn character is in the cmap of the font it was drawn with."""
    for piece in card.pieces:
        cmap = coverage(BUNDLED / "fonts" / piece.font)
        missing = [f"U+{cp:04X}" for cluster in piece.text for cp in needs_glyphs(cluster)
                   if cp != 0x20 and cp not in cmap]
        assert not missing, (piece.font, piece.text, missing)


def test_text_shaping_is_available() -> None:
    assert features.check("raqm")
    check_text_shaping()


def test_missing_raqm_is_refused_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(features, "check", lambda name: False)
    with pytest.raises(TextShapingUnavailable) as caught:
        check_text_shaping()
    assert "apt-get install libfribidi0" in str(caught.value)
    assert caught.value.exit_status == ExitStatus.ENVIRONMENT


@pytest.mark.heavy  # a sweep: seconds of rendering
def test_all_eighty_casey_cards_per_theme_are_valid(all_casey_cards: list[RenderedCard]) -> None:
    assert len(all_casey_cards) == 3 * 20 * 4
    for card in all_casey_cards:
        assert len(card.png) <= MAX_PNG_BYTES
        assert png_chunks(card.png) == [b"IHDR", b"IDAT", b"IEND"]  # no metadata of any kind
        image = Image.open(io.BytesIO(card.png))
        assert image.size == (card.width, card.height)
        assert_every_glyph_exists(card)


def test_formats_have_their_own_sizes(all_casey_cards: list[RenderedCard]) -> None:
    sizes = {(c.format, c.width, c.height) for c in all_casey_cards}
    assert sizes == {("square", 1080, 1080), ("portrait", 1080, 1350), ("story", 1080, 1920),
                     ("landscape", 1200, 675)}


def test_zones_never_overlap(all_casey_cards: list[RenderedCard]) -> None:
    for card in all_casey_cards:
        zones = sorted(card.boxes.values(), key=lambda box: box[1])
        assert set(card.boxes) == {"brand", "quote", "attribution", "footer"}
        for upper, lower in itertools.pairwise(zones):
            assert upper[3] <= lower[1], (card.quote_id, card.format, card.boxes)
        for box in zones:
            assert 0 <= box[0] < box[2] <= card.width and 0 <= box[1] < box[3] <= card.height


def test_quote_size_is_readable_and_stays_within_the_theme(all_casey_cards: list[RenderedCard]) -> None:
    for card in all_casey_cards:
        scale = card.width / 1080
        assert card.quote_size >= round(36 * scale)
        assert card.quote_size <= round(96 * scale * 1.1)


def test_no_one_word_last_line_where_the_text_allows(all_casey_cards: list[RenderedCard]) -> None:
    orphans = [(c.quote_id, c.format, c.lines[-1]) for c in all_casey_cards
               if len(c.lines) > 1 and " " not in c.lines[-1]]
    assert orphans == []


def test_lines_rarely_end_on_a_dangling_short_word(all_casey_cards: list[RenderedCard]) -> None:
    short = {"a", "an", "the", "of", "to", "and", "in", "by", "for", "as"}
    lines = [line for card in all_casey_cards for line in card.lines[:-1]]
    dangling = [line for line in lines if line.split()[-1].lower() in short]
    assert len(dangling) <= len(lines) * 0.15, dangling  # greedy wrapping ends about a quarter of lines so


def test_highlight_spans_a_line_break(multilingual: Collection) -> None:
    quote = multilingual.quote("highlight-across-lines")
    assert quote is not None
    card = renderer("campaign").render(multilingual, quote, "square")
    accent_lines = {piece.line for piece in card.pieces if piece.layer == "accent"}
    assert len(accent_lines) >= 2
    accented = " ".join(piece.text for piece in card.pieces if piece.layer == "accent")
    assert accented.split() == "free itself of institutional racism. Public consent is broken.".split()
    image = Image.open(io.BytesIO(card.png)).convert("RGB")
    accent = rgb("#ffd23f")
    rows = {y for y in range(0, card.height, 2) for x in range(0, card.width, 3)
            if image.getpixel((x, y)) == accent}
    assert max(rows) - min(rows) > card.quote_size  # accent pixels on more than one line


def test_arabic_is_right_to_left_and_shaped(multilingual: Collection) -> None:
    quote = multilingual.quote("arabic")
    assert quote is not None
    card = renderer("campaign").render(multilingual, quote, "square")
    # the campaign theme sets quotes in a semibold face, so the fallback is the bold face too
    assert {p.font for p in card.pieces if p.layer in ("text", "accent")} == {"NotoSansArabic-Bold.ttf"}
    assert_every_glyph_exists(card)
    image = Image.open(io.BytesIO(card.png)).convert("L")
    quote_box = card.boxes["quote"]
    # Right-aligned: the text's right edge hugs the right margin (minus the hanging mark), its left edge is ragged.
    text_columns = [x for x in range(quote_box[0], quote_box[2])
                    if any(image.getpixel((x, y)) > 200 for y in range(quote_box[1], quote_box[3], 3))]
    assert card.width - max(text_columns) < 100
    assert min(text_columns) - quote_box[0] > 20
    # Shaping joins letters: the shaped word is narrower than its letters drawn one by one in isolation.
    from publisher.render.fonts import load_font

    font = load_font(BUNDLED / "fonts" / "NotoSansArabic-Regular.ttf", 80)
    word = "بالمساءلة"
    assert font.getlength(word, direction="rtl") < sum(font.getlength(ch) for ch in word)


def test_hebrew_uses_the_hebrew_font(multilingual: Collection) -> None:
    quote = multilingual.quote("hebrew")
    assert quote is not None
    card = renderer("paper").render(multilingual, quote, "portrait")
    assert "NotoSansHebrew-Regular.ttf" in {p.font for p in card.pieces}
    assert_every_glyph_exists(card)


@pytest.mark.parametrize("quote_id", ["chinese", "japanese"])
def test_cjk_wraps_without_spaces(multilingual: Collection, quote_id: str) -> None:
    quote = multilingual.quote(quote_id)
    assert quote is not None
    card = renderer("campaign").render(multilingual, quote, "square")
    assert len(card.lines) >= 3
    assert all(" " not in line for line in card.lines)
    assert "".join(card.lines) == quote.text
    assert not any(line.startswith(("，", "。", "、")) for line in card.lines)  # no closing mark starts a line
    assert_every_glyph_exists(card)


def test_emoji_render_in_colour(multilingual: Collection) -> None:
    quote = multilingual.quote("emoji")
    assert quote is not None
    card = renderer("paper").render(multilingual, quote, "square")
    emoji = [p.text for p in card.pieces if p.font == EMOJI_FONT]
    assert emoji == ["👍🏽", "👩\u200d👩\u200d👧", "🇬🇧", "⚖️"]
    image = Image.open(io.BytesIO(card.png)).convert("RGB")
    saturated = sum(image.convert("HSV").getchannel("S").histogram()[121:])
    assert saturated > 2000  # the paper theme itself has no saturated colour but its red accent rule
    assert_every_glyph_exists(card)


def test_fallback_glyphs_have_no_tofu(multilingual: Collection) -> None:
    quote = multilingual.quote("symbols")
    assert quote is not None
    card = renderer("campaign").render(multilingual, quote, "square")
    fonts = {p.font for p in card.pieces if p.layer == "text"}
    assert {"InterDisplay-SemiBold.otf", "NotoSansSymbols2-Regular.ttf"} <= fonts
    assert_every_glyph_exists(card)


def test_a_character_no_bundled_font_has_is_refused(casey: Collection) -> None:
    quote = Quote(id="linear-b", text="A Linear B syllable \U00010000 here")
    with pytest.raises(MissingGlyph) as caught:
        renderer("campaign").render(casey, quote, "square")
    assert "U+10000" in str(caught.value)


def test_too_long_for_the_minimum_size_is_refused(casey: Collection) -> None:
    long_quote = Quote(id="far-too-long", text=" ".join(["Accountability requires sustained scrutiny."] * 14))
    with pytest.raises(TextDoesNotFit) as caught:
        renderer("campaign").render(casey, long_quote, "landscape")
    assert str(caught.value) == ('quote "far-too-long" does not fit the landscape card at the theme\'s minimum of '
                                 "40 px (shorten it, or use a taller format; publisher validate says which fit)")
    renderer("campaign").render(casey, long_quote, "story")  # the tall format still fits it


def test_rendering_is_deterministic(casey: Collection) -> None:
    quote = casey.quotes[0]
    first = renderer("campaign").render(casey, quote, "square").png
    assert renderer("campaign").render(casey, quote, "square").png == first
    script = ("import sys; from pathlib import Path; from publisher.quotes import load_collection; "
              "from publisher.themes import load_theme; from publisher.render.card import CardRenderer; "
              "from publisher.assets import Assets; a = Assets.bundled_only(); "
              f"c = load_collection(Path({str(REPO / 'quotes' / 'caseyreview.toml')!r})); "
              "r = CardRenderer(load_theme(a.bundled / 'themes' / 'campaign.toml', a), a); "
              "sys.stdout.buffer.write(r.render(c, c.quotes[0], 'square').png)")
    fresh = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True).stdout
    assert fresh == first
    warm = renderer("paper")
    for other in casey.quotes[1:6]:  # other cards of the same size first: their bytes must not leak into it
        warm.render(casey, other, "square")
    assert renderer("campaign").render(casey, quote, "square").png == first


@pytest.mark.heavy  # a sweep: seconds of rendering
def test_encoder_keeps_heavy_images_under_the_limit_or_refuses() -> None:
    import random

    rng = random.Random(7)
    palette = [bytes(rng.randrange(256) for _ in range(3)) for _ in range(12)]
    busy = Image.frombytes("RGB", (1080, 1350), b"".join(rng.choice(palette) for _ in range(1080 * 1350)))
    png = encode_png(busy)  # over the limit as RGB even at level 9; fits once written with a palette
    assert len(png) <= MAX_PNG_BYTES
    decoded = Image.open(io.BytesIO(png))
    assert decoded.mode == "P" and decoded.convert("RGB").tobytes() == busy.tobytes()
    noise = Image.frombytes("RGB", (1080, 1920), rng.randbytes(1080 * 1920 * 3))
    with pytest.raises(CardTooLarge):
        encode_png(noise)


def test_alt_text(casey: Collection) -> None:
    quote = casey.quotes[0]
    alt = alt_text(casey, quote)
    assert alt == f"Quote: “{quote.text}” — {casey.collection.attribution}"
    described = quote.model_copy(update={"alt": "A dark purple card."})
    assert alt_text(casey, described).startswith("A dark purple card. Quote: “")
    long_text = "word " * 500
    for limit in (1000, 2000):
        trimmed = trim_alt(long_text, limit)
        assert len(trimmed) <= limit and trimmed.endswith("word…")
    assert trim_alt("short", 1000) == "short"


def test_render_command_writes_cards_and_alt_text(project: Path, run_cli: Callable[..., Result]) -> None:
    ids = ["met-yet-free-itself-institutional", "misconduct-process-not-fit-purpose"]
    result = run_cli("render", *ids, "--format", "all", "-o", "out")
    assert result.exit_code == 0, result.output
    assert "Wrote 8 cards to out/" in result.stdout
    files = sorted(p.name for p in (project / "out").iterdir())
    assert files == sorted(f"{i}-{f}.{ext}" for i in ids for f in FORMAT_NAMES for ext in ("png", "txt"))
    alt = (project / "out" / f"{ids[0]}-square.txt").read_text("utf-8")
    assert alt.startswith("Quote: “The Met has yet to free itself") and "Baroness Louise Casey" in alt


def test_render_command_reports_each_card_that_does_not_fit(project: Path, run_cli: Callable[..., Result]) -> None:
    collection_file = project / "quotes" / "caseyreview.toml"
    long_text = " ".join(["Accountability requires sustained scrutiny."] * 14)
    collection_file.write_text(collection_file.read_text("utf-8") +
                               f'\n[[quotes]]\nid = "far-too-long"\ntext = "{long_text}"\n', encoding="utf-8")
    result = run_cli("render", "far-too-long", "londoners-see-rely-frontline-officers", "--format", "landscape")
    assert result.exit_code == ExitStatus.CONFIG
    assert result.stderr.splitlines() == ['quote "far-too-long" does not fit the landscape card at the theme\'s '
                                          "minimum of 40 px (shorten it, or use a taller format; publisher "
                                          "validate says which fit)"]
    assert (project / "cards" / "londoners-see-rely-frontline-officers-landscape.png").exists()


def test_render_unknown_quote_and_theme(project: Path, run_cli: Callable[..., Result]) -> None:
    result = run_cli("render", "met-does-not-easily-acept")
    assert result.exit_code == ExitStatus.CONFIG
    assert result.stderr == ('no quote "met-does-not-easily-acept" in collection "caseyreview" '
                             '(did you mean "met-does-not-easily-accept"?)\n')
    result = run_cli("render", "--theme", "papr")
    assert result.stderr == 'no theme "papr" in assets/themes or publisher\'s bundled themes (did you mean "paper"?)\n'


def test_every_theme_passes_its_own_contrast_check() -> None:
    for theme in THEMES:
        loaded: Theme = load_theme(BUNDLED / "themes" / f"{theme}.toml", ASSETS)
        assert loaded.name == theme


def test_a_line_too_wide_once_its_hyphen_is_added_still_gets_a_setting() -> None:
    """Found by the 2,400-card pack benchmark: the simplest wrap ended a line at a hyphenation point, the hyphen
    made it too wide, and no setting with that many lines existed (an assertion failed mid-pack)."""
    text = ("accountability the CaseyReview Met present rely demoralised is staff with launched organisation [Met] "
            "CaseyReview structural responsibilities, sexism of some firearms accountability constables time "
            "widespread experienced @metpoliceuk – are is to pausing London years, place. (256)")
    collection = Collection.model_validate({
        "collection": {"name": "large", "title": "A large collection", "attribution": "Somebody, somewhere (2026)",
                       "hashtags": ["accountability"]},
        "quotes": [{"id": "q256", "text": text}]})
    for theme in ("campaign", "paper", "contrast"):
        card = renderer(theme).render(collection, collection.quotes[0], "landscape")
        assert " ".join(card.lines).split() == text.split()
        assert card.quote_size >= 40


@given(st.integers(1, 40), st.integers(1, 3), st.integers(1, 4), st.data())
@settings(max_examples=300, deadline=None)
def test_a_batch_hands_on_every_card_in_order_whatever_order_the_workers_answer_in(
        jobs: int, workers: int, ahead: int, data: st.DataObject) -> None:
    """The batch's dispatch, with workers that each answer their jobs in the order sent, and hypothesis choosing
    which worker answers next (and how many at once): every card is handed on, in order, and the batch never waits
    with nothing on its way (which was the hang: a window whose oldest job came back last emptied unrefilled)."""
    from publisher.render.batch import dispatch

    queues: list[list[int]] = [[] for _ in range(workers)]

    def send(worker: int, index: int) -> None:
        queues[worker].append(index)

    def answers() -> list[tuple[int, int]]:
        busy = [worker for worker in range(workers) if queues[worker]]
        assert busy, "the batch would wait for ever: no worker has a job"
        chosen = data.draw(st.lists(st.sampled_from(busy), min_size=1, unique=True))
        return [(worker, queues[worker].pop(0)) for worker in chosen]

    assert list(dispatch(jobs, list(range(workers)), send, answers, ahead)) == list(range(jobs))
    assert not any(queues)


def test_an_image_not_in_rgb_is_written_as_its_rgb_pixels() -> None:
    grey = Image.linear_gradient("L").resize((300, 200))
    written = Image.open(io.BytesIO(encode_png(grey)))
    assert written.mode == "RGB" and written.tobytes() == grey.convert("RGB").tobytes()
