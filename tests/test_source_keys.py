"""A collection's [[sources]], a quote's source and page, and {source} and {page} in attributions and captions:
a part of the template whose value is not known is left out whole, never "p. " on a card."""

from __future__ import annotations

from typing import Any

import pytest

from publisher.quotes import Collection, CollectionInfo, Quote, Source

SOURCES = [Source(id="review", file="review.pdf", title="Baroness Casey Review"), Source(id="notes", file="n.txt")]


def collection(attribution: str) -> Collection:
    return Collection(collection=CollectionInfo(name="c", title="T", attribution=attribution, source="review"),
                      sources=SOURCES, quotes=[Quote(id="paged", text="On a page.", page=12),
                                               Quote(id="unpaged", text="Somewhere."),
                                               Quote(id="untitled", text="In the notes.", source="notes", page="xii")])


@pytest.mark.parametrize(("attribution", "expected"), [
    ("Baroness Louise Casey, {source}, p. {page}",
     ["Baroness Louise Casey, Baroness Casey Review, p. 12", "Baroness Louise Casey, Baroness Casey Review",
      "Baroness Louise Casey, p. xii"]),
    ("Baroness Louise Casey ({source}; p. {page})",  # a part that is not between commas goes whole
     ["Baroness Louise Casey (Baroness Casey Review; p. 12)", "Baroness Louise Casey (Baroness Casey Review",
      "p. xii)"]),
    ("Casey Review", ["Casey Review"] * 3),
])
def test_source_and_page_fill_the_attribution_or_leave_their_part_out(attribution: str, expected: list[str]) -> None:
    made = collection(attribution)
    assert [made.attribution_for(q) for q in made.quotes] == expected
    assert not any(a.endswith(("p.", "p. ", ",")) for a in expected)


def test_a_caption_keeps_its_lines_when_a_part_is_left_out() -> None:
    made = collection("Casey")
    caption = "“{text}”\n\n— Casey, p. {page}\n\n#CaseyReview"
    assert made.with_source(caption, made.quotes[1]) == "“{text}”\n\n— Casey\n\n#CaseyReview"
    assert made.with_source(caption, made.quotes[0]) == "“{text}”\n\n— Casey, p. 12\n\n#CaseyReview"


def test_cards_and_posts_carry_the_page(project: Any, run_cli: Any) -> None:
    (project / "sources").mkdir()
    (project / "sources" / "review.txt").write_text("The Met has yet to free itself.", encoding="utf-8")
    path = project / "quotes" / "caseyreview.toml"
    text = path.read_text("utf-8").replace('[collection]\n', '[collection]\nsource = "review"\n', 1)
    text = text.replace('attribution = "Baroness Louise Casey, Review of the Metropolitan Police (March 2023)"',
                        'attribution = "Baroness Louise Casey, {source}, p. {page}"', 1)
    text += '\n[[sources]]\nid = "review"\nfile = "review.txt"\ntitle = "Baroness Casey Review"\n'
    first = text.index("[[quotes]]")
    cut = text.index("\n", text.index("text = ", first))
    path.write_text(text[:cut] + "\npage = 14" + text[cut:], encoding="utf-8")
    checked = run_cli("validate")
    assert checked.exit_code == 0, checked.output
    assert run_cli("queue", "add", "--now").exit_code == 0
    shown = run_cli("queue", "show", "1").stdout
    assert "Baroness Louise Casey, Baroness Casey Review, p. 14" in shown  # the first quote's alt text
    assert "p. \n" not in shown and not shown.count("p. ,")
