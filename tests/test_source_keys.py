"""A collection's [[sources]], a quote's source and page, and {source} and {page} in attributions and captions:
a part of the template whose value is not known is left out whole, never "p. " on a card."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from publisher.quotes import Collection, CollectionInfo, Quote, Source

SOURCES = [Source(id="review", file="review.pdf", title="Baroness Casey Review"), Source(id="notes", file="n.txt")]


def collection(attribution: str) -> Collection:
    """Three quotes: one verified on page 12, one whose claimed page is not verified, one verified on page xii of
    a source without a title."""
    made = Collection(collection=CollectionInfo(name="c", title="T", attribution=attribution, source="review"),
                      sources=SOURCES, quotes=[Quote(id="paged", text="On a page.", page=12),
                                               Quote(id="unpaged", text="Somewhere.", page=13),
                                               Quote(id="untitled", text="In the notes.", source="notes")])
    return made.with_pages({"paged": "12", "untitled": "xii"})


@pytest.mark.parametrize(("attribution", "expected"), [
    ("Baroness Louise Casey, {source}, p. {page}",
     ["Baroness Louise Casey, Baroness Casey Review, p. 12", "Baroness Louise Casey, Baroness Casey Review",
      "Baroness Louise Casey, p. xii"]),
    ("Baroness Louise Casey ({source}; p. {page})",  # a bracketed part keeps its brackets balanced
     ["Baroness Louise Casey (Baroness Casey Review; p. 12)", "Baroness Louise Casey (Baroness Casey Review)",
      "Baroness Louise Casey (p. xii)"]),
    ("Baroness Louise Casey [p. {page}]", ["Baroness Louise Casey [p. 12]", "Baroness Louise Casey",
                                          "Baroness Louise Casey [p. xii]"]),
    ("Baroness Louise Casey — {source} — p. {page}",  # spaced dashes part an attribution as commas do
     ["Baroness Louise Casey — Baroness Casey Review — p. 12", "Baroness Louise Casey — Baroness Casey Review",
      "Baroness Louise Casey — p. xii"]),
    ("Casey Review", ["Casey Review"] * 3),
])
def test_source_and_page_fill_the_attribution_or_leave_their_part_out(attribution: str, expected: list[str]) -> None:
    made = collection(attribution)
    assert [made.attribution_for(q) for q in made.quotes] == expected
    for filled in expected:
        assert filled.count("(") == filled.count(")") and filled.count("[") == filled.count("]")
        assert not filled.endswith(("p.", "p. ", ",", "—")) and "{" not in filled


def test_a_page_claimed_but_not_verified_is_never_printed() -> None:
    made = collection("Casey, p. {page}")
    assert made.attribution_for(made.quotes[1]) == "Casey"  # page 13 is claimed, not verified
    unchecked = Collection(collection=made.collection, sources=made.sources, quotes=made.quotes)
    assert [unchecked.attribution_for(q) for q in unchecked.quotes] == ["Casey"] * 3


def test_a_caption_keeps_its_lines_when_a_part_is_left_out() -> None:
    made = collection("Casey")
    caption = "“{text}”\n\n— Casey, p. {page}\n\n#CaseyReview"
    assert made.with_source(caption, made.quotes[1]) == "“{text}”\n\n— Casey\n\n#CaseyReview"
    assert made.with_source(caption, made.quotes[0]) == "“{text}”\n\n— Casey, p. 12\n\n#CaseyReview"


@pytest.mark.parametrize(("caption", "expected"), [
    ("“{text}” p. {page}", "“{text}”"),  # a caption's part never loses its quote
    ("p. {page} “{text}”", "“{text}”"),
    ("“{text}” [{source}] p.{page}", "“{text}” [Baroness Casey Review]"),
    ("Casey ((p. {page}))", "Casey"),  # a group left empty goes too
    ("Casey - {source} - p. {page}", "Casey - Baroness Casey Review"),
    ("Casey: {source} / p. {page}", "Casey: Baroness Casey Review"),
])
def test_a_part_with_the_quote_keeps_it(caption: str, expected: str) -> None:
    made = collection("Casey")
    assert made.with_source(caption, made.quotes[1]) == expected


def test_a_caption_with_an_unknown_page_posts_its_quote(project: Path, run_cli: Any) -> None:
    schedule = project / "schedule.toml"
    schedule.write_text(schedule.read_text("utf-8") + 'caption = "“{text}” p. {page}"\n', encoding="utf-8")
    assert run_cli("validate").exit_code == 0
    assert run_cli("queue", "add", "--now").exit_code == 0
    shown = json.loads(run_cli("queue", "show", "1", "--json").stdout)
    first = tomllib.loads((project / "quotes" / "caseyreview.toml").read_text("utf-8"))["quotes"][0]["text"]
    texts = [part["text"] for part in shown["parts"] if part["cards"]]
    assert texts and all(text.startswith(f"“{first}”") and "p." not in text for text in texts)


@pytest.mark.parametrize(("attribution", "message"), [
    ("Casey, p. {page", "has a { or } without its pair"),
    ("Casey, p. {pages}", "{pages} is not something an attribution can hold (did you mean {page}?)"),
    ("Casey, {title}", "{title} is not something an attribution can hold (use {source} for the source's title"),
    ("{source}, p. {page}", "would be empty for a quote whose source or page is not known"),
])
def test_validate_names_a_field_an_attribution_cannot_hold(project: Any, run_cli: Any, attribution: str,
                                                           message: str) -> None:
    path = project / "quotes" / "caseyreview.toml"
    text = path.read_text("utf-8")
    old = 'attribution = "Baroness Louise Casey, Review of the Metropolitan Police (March 2023)"'
    path.write_text(text.replace(old, f'attribution = "{attribution}"', 1), encoding="utf-8")
    checked = run_cli("validate")
    assert checked.exit_code != 0
    assert f"caseyreview.toml:{text[:text.index(old)].count(chr(10)) + 1}" in checked.output
    assert message in checked.output


def test_cards_posts_and_packs_carry_the_page_verify_found(project: Path, run_cli: Any) -> None:
    """The collection's quotes printed in a report, one to a page numbered from 1: the first quote gives no page
    (verify finds 1), the second claims page 5 (it is on 2: not verified there, so no page is printed)."""
    import csv
    import io
    import textwrap
    import tomllib
    import zipfile

    from test_sources import write_pdf

    path = project / "quotes" / "caseyreview.toml"
    texts = [q["text"] for q in tomllib.loads(path.read_text("utf-8"))["quotes"]]
    (project / "sources").mkdir()
    write_pdf(project / "sources" / "review.pdf", [(textwrap.wrap(t, 55), []) for t in texts], ["Foreword."])
    text = path.read_text("utf-8").replace("[collection]\n", '[collection]\nsource = "review"\n', 1)
    text = text.replace('attribution = "Baroness Louise Casey, Review of the Metropolitan Police (March 2023)"',
                        'attribution = "Baroness Louise Casey, {source}, p. {page}"', 1)
    text += '\n[[sources]]\nid = "review"\nfile = "review.pdf"\ntitle = "Baroness Casey Review"\n'
    second = text.index("[[quotes]]", text.index("[[quotes]]") + 1)
    cut = text.index("\n", text.index("text = ", second))
    path.write_text(text[:cut] + "\npage = 5" + text[cut:], encoding="utf-8")
    schedule = project / "schedule.toml"
    schedule.write_text(schedule.read_text("utf-8") + "quotes_per_thread = 2\n", encoding="utf-8")
    checked = run_cli("validate")
    assert checked.exit_code == 0, checked.output
    assert run_cli("queue", "add", "--now").exit_code == 0
    shown = run_cli("queue", "show", "1").stdout
    assert f"{texts[0]}” — Baroness Louise Casey, Baroness Casey Review, p. 1\n" in shown  # alt text
    assert f"{texts[1]}” — Baroness Louise Casey, Baroness Casey Review\n" in shown
    assert "p. 5" not in shown and "p. 2" not in shown and "p. \n" not in shown
    packed = run_cli("pack", "-o", "pack.zip")
    assert packed.exit_code == 0, packed.output
    with zipfile.ZipFile(project / "pack.zip") as pack:
        rows = list(csv.DictReader(io.StringIO(pack.read("captions.csv").decode("utf-8-sig"))))
    attributions = [row["attribution"] for row in rows]
    assert attributions[:3] == [f"Baroness Louise Casey, Baroness Casey Review, p. {n}" if n != 2 else
                                "Baroness Louise Casey, Baroness Casey Review" for n in (1, 2, 3)]
    with zipfile.ZipFile(project / "pack.zip") as pack:
        readme, index = pack.read("README.txt").decode(), pack.read("index.html").decode()
    assert "Source and attribution: Baroness Louise Casey, Baroness Casey Review\n" in readme
    assert "{" not in readme and "{page}" not in index and "{source}" not in index


def test_the_documented_templates_print_as_the_docs_say() -> None:
    from conftest import REPO

    doc = (REPO / "docs" / "collections.md").read_text("utf-8")
    section = doc[doc.index("### The page on the card"):]
    rows = re.findall(r"^\| `([^`]*\{[^`]*)` \| ([^|]+) \|$", section, re.MULTILINE)
    assert len(rows) == 4
    made = collection("unused")
    for template, card in rows:
        assert made.with_source(template, made.quotes[1]) == card.strip()
