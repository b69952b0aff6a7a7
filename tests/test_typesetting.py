"""How every Casey Review quote is set, in every format and theme, checked on ``publisher render --json``: the
line-breaking rules a typesetter keeps, and an attribution that names the speaker whole and is readable on a
phone. The checks read the lines themselves; they do not trust the renderer's own count of broken rules."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import BUNDLED, REPO
from publisher.assets import Assets
from publisher.themes import contrast_ratio, load_theme, rgb

THEMES = ("campaign", "paper", "contrast")
CLOSING = tuple(",.:;?!)]}%»”’…—–-")
ARTICLES = {"a", "an", "the"}


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Every card of the bundled collection, 20 quotes x 4 formats x 3 themes, as the CLI reports them."""
    out = tmp_path_factory.mktemp("cards")
    found = []
    for theme in THEMES:
        done = subprocess.run([sys.executable, "-m", "publisher", "--config", str(REPO / "schedule.toml"), "render",
                               "--format", "all", "--theme", theme, "-o", str(out / theme), "--json"],
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        found += [json.loads(line) for line in done.stdout.splitlines()]
    assert len(found) == 240
    return found


def bare(word: str) -> str:
    return word.casefold().strip("“”‘’\"'()[],.;:!?…—–")


@pytest.mark.heavy  # the sweep: every seed quote in every format and theme
def test_the_report_has_every_field(layouts: list[dict[str, Any]]) -> None:
    for layout in layouts:
        assert {"file", "quote_id", "format", "theme", "text_px", "lines", "attribution_lines",
                "attribution_px"} <= layout.keys()
        assert Path(layout["file"]).is_file() and layout["theme"] in THEMES
        assert layout["lines"] and all(isinstance(line, str) for line in layout["lines"])


@pytest.mark.heavy  # the sweep: every seed quote in every format and theme
def test_no_line_opens_with_closing_punctuation_an_ellipsis_or_a_dash(layouts: list[dict[str, Any]]) -> None:
    bad = [(x["quote_id"], x["format"], x["theme"], line) for x in layouts for line in x["lines"][1:]
           if line.startswith(CLOSING)]
    assert bad == []


@pytest.mark.heavy  # the sweep: every seed quote in every format and theme
def test_no_line_but_the_last_ends_on_an_article(layouts: list[dict[str, Any]]) -> None:
    bad = [(x["quote_id"], x["format"], x["theme"], line) for x in layouts for line in x["lines"][:-1]
           if bare(line.split()[-1]) in ARTICLES]
    assert bad == []


@pytest.mark.heavy  # the sweep: every seed quote in every format and theme
def test_no_one_word_lines(layouts: list[dict[str, Any]]) -> None:
    bad = [(x["quote_id"], x["format"], x["theme"], line) for x in layouts if len(x["lines"]) > 1
           for line in x["lines"] if len(line.split()) < 2]
    assert bad == []


@pytest.mark.heavy  # the sweep: every seed quote in every format and theme
def test_no_stub_lines(layouts: list[dict[str, Any]]) -> None:
    """No line shorter than half the longest; the last no shorter than a third."""
    bad = []
    for x in layouts:
        widths = x["line_widths"]
        assert len(widths) == len(x["lines"])
        longest = max(widths)
        for index, width in enumerate(widths):
            share = 1 / 3 if index == len(widths) - 1 else 1 / 2
            if len(widths) > 1 and width < longest * share - 0.5:
                bad.append((x["quote_id"], x["format"], x["theme"], x["lines"][index], round(width / longest, 2)))
    assert bad == []
    assert all(x["rules_broken"] == 0 for x in layouts)


@pytest.mark.heavy  # the sweep: every seed quote in every format and theme
def test_the_speaker_is_never_split_and_the_source_has_its_own_lines(layouts: list[dict[str, Any]]) -> None:
    for x in layouts:
        lines = x["attribution_lines"]
        assert lines[0].startswith("— Baroness Louise Casey"), lines
        if len(lines) > 1:
            assert lines[0] == "— Baroness Louise Casey,"
            assert " ".join(lines[1:]) == "Review of the Metropolitan Police (March 2023)"


@pytest.mark.heavy  # the sweep: every seed quote in every format and theme
def test_the_attribution_is_readable_on_a_phone(layouts: list[dict[str, Any]]) -> None:
    """At least 30 px on a 1080 px-wide card, which is 11 pt on a 390 pt phone screen."""
    for x in layouts:
        assert x["attribution_px"] >= math.ceil(30 * x["width"] / 1080), x
        assert x["attribution_px"] * 390 / x["width"] >= 10.8


@pytest.mark.parametrize("theme", THEMES)
def test_the_attribution_passes_wcag_aa_in_every_theme(theme: str) -> None:
    loaded = load_theme(BUNDLED / "themes" / f"{theme}.toml", Assets.bundled_only())
    worst = min(contrast_ratio(rgb(loaded.colours.attribution), stop) for stop in loaded.background_stops)
    assert worst >= 4.5  # normal-size text: the attribution is never large text


def test_the_text_has_one_left_edge_with_the_brand(tmp_path: Path) -> None:
    """The opening mark hangs in the margin: the quote's first letter lines up with the brand and attribution."""
    import io

    from PIL import Image

    from publisher.quotes import load_collection
    from publisher.render.card import CardRenderer

    collection = load_collection(REPO / "quotes" / "caseyreview.toml")
    quote = collection.quotes[0]
    theme = load_theme(BUNDLED / "themes" / "campaign.toml", Assets.bundled_only())
    card = CardRenderer(theme, Assets.bundled_only()).render(collection, quote, "square")
    image = Image.open(io.BytesIO(card.png)).convert("L")

    def first_ink(box: tuple[int, int, int, int]) -> int:
        _, top, right, bottom = box
        return next(x for x in range(0, right) if any(image.getpixel((x, y)) > 170 for y in range(top, bottom)))

    brand, quote_box, attribution = card.boxes["brand"], card.boxes["quote"], card.boxes["attribution"]
    text_left = first_ink((quote_box[0], quote_box[1], quote_box[2], quote_box[3]))
    assert text_left < quote_box[0]  # the mark, in the margin
    body = (quote_box[0], quote_box[1] + round(card.quote_size * 1.3), quote_box[2], quote_box[3])  # below the mark
    assert abs(first_ink(body) - first_ink(attribution)) <= 6
    assert abs(first_ink(body) - brand[0]) <= 6
