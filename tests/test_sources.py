"""Quotes checked word for word against their sources (issue 24): the news articles in shared/seeds as text and as
HTML pages with boilerplate, a PDF in two columns with ligatures, line-end hyphens and printed page labels."""

from __future__ import annotations

import html
import os
import re
import tomllib
import unicodedata
from pathlib import Path

import pytest

from conftest import REPO
from publisher.sources import Page, SourceDocument, SourceError, Verification, read_source, verify_quote

SEEDS = REPO.parent / "shared" / "seeds"
# The news articles are read where the project's shared inputs are, beside the checkout; they are not copied into
# the project (their text is not ours to publish). A checkout with nothing beside it skips these tests.
needs_seeds = pytest.mark.skipif(not (SEEDS / "article-000.txt").exists(), reason="no shared/seeds beside this "
                                 "checkout: the news articles are read there, never copied into the project")
FONT = REPO / "publisher" / "bundled" / "fonts" / "NotoSans-Regular.ttf"

# Real quotations from the articles, as a campaign would copy them (article, quote).
QUOTES = [
    (0, "There are racists, misogynists, homophobes in our organization. We have organizational failures, "
        "management failures, cultural failures."),
    (0, "This is absolutely unacceptable and this report must be the catalyst for the fundamental change needed to "
        "fundamentally improve the metropolitan culture and system."),
    (0, "Any police reform must not come at the expense of due process for officers who are pending or subject to "
        "enforcement proceedings"),
    (1, "It is evident that the Met has not just tolerated a culture of misogyny, racism and homophobia, it has "
        "enabled it to thrive"),
    (1, "It is not our job as the public to keep ourselves safe from the police."),
    (2, "In the absence of vigilance towards those who intend to abuse the office of constable, predatory and "
        "unacceptable behaviour has been allowed to flourish"),
]
# Headings of article-000 (the HTML page writes them as <h2>).
HEADINGS_000 = ["Follow the latest updates below", "live update", "MET staff ‘morale plummets’",
                "Sadiq Khan: ‘Give money in exchange for doing your own work’"]


def article(number: int) -> Path:
    return SEEDS / f"article-{number:03d}.txt"


def html_page(tmp_path: Path, number: int) -> Path:
    """The article as a news site serves it: a menu, an advert and a figure caption around the text."""
    paragraphs = [p.strip() for p in article(number).read_text("utf-8").split("\n\n") if p.strip()]
    body = "".join(f"<h2>{html.escape(p)}</h2>" if p in HEADINGS_000 else f"<p>{html.escape(p)}</p>"
                   for p in paragraphs[1:])
    page = tmp_path / f"article-{number:03d}.html"
    page.write_text(f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(paragraphs[0])}</title>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/news">Menu: Latest news</a></li></ul></nav>
<div class="advert">Advertisement: cheap car insurance from our sponsor</div>
<article><h1>{html.escape(paragraphs[0])}</h1>{body}
<figure><img src="met.jpg" alt=""><figcaption>Caption: New Scotland Yard in the spring sunshine</figcaption></figure>
</article><footer>Copyright the publisher</footer></body></html>""", "utf-8")
    return page


@pytest.fixture(scope="module")
def articles() -> list[SourceDocument]:
    return [read_source(article(n)) for n in range(4)]


def check(quote: str, document: SourceDocument) -> Verification:
    return verify_quote(quote, document)


def words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


# ---- text and HTML articles ----------------------------------------------------------------------------------


@needs_seeds
@pytest.mark.parametrize(("number", "quote"), QUOTES)
def test_quotes_from_the_articles_are_verified_with_their_passage(
        articles: list[SourceDocument], number: int, quote: str) -> None:
    result = check(quote, articles[number])
    assert result.status == "verified", result
    assert result.page is None and result.diff == []
    assert result.passage is not None and words(quote) in words(result.passage)
    assert len(words(result.passage).split()) > len(words(quote).split())  # a few words either side


@needs_seeds
def test_html_pages_keep_the_article_and_leave_out_menus_adverts_and_captions(tmp_path: Path) -> None:
    document = read_source(html_page(tmp_path, 0))
    text = document.pages[0].text
    assert document.kind == "html"
    for boilerplate in ("Latest news", "Advertisement", "Caption", "Copyright"):
        assert boilerplate not in text
    headings = [text[start:end] for start, end in document.pages[0].headings]
    assert "MET staff ‘morale plummets’" in headings


@needs_seeds
@pytest.mark.parametrize(("number", "quote"), QUOTES)
def test_quotes_are_verified_in_the_html_pages_too(tmp_path: Path, number: int, quote: str) -> None:
    result = check(quote, read_source(html_page(tmp_path, number)))
    assert result.status == "verified", result


ALTERED = [
    # a word changed
    (0, "This is absolutely acceptable and this report must be the catalyst for the fundamental change",
     ["unacceptable → acceptable"]),
    # a "not" dropped
    (0, "Any police reform must come at the expense of due process for officers", ['missing: "not"']),
    # a word added
    (1, "It is not our job as the public to keep ourselves very safe from the police.", ['added: "very"']),
    # spelling changed (American → British here: the articles spell the American way)
    (0, "There are racists, misogynists, homophobes in our organisation.", ["organization → organisation"]),
]


@needs_seeds
@pytest.mark.parametrize(("number", "quote", "diff"), ALTERED)
def test_altered_quotes_differ_with_the_words_that_changed(
        articles: list[SourceDocument], number: int, quote: str, diff: list[str]) -> None:
    result = check(quote, articles[number])
    assert (result.status, result.diff) == ("differs", diff)
    assert result.passage is not None


@needs_seeds
def test_an_elision_within_a_paragraph_is_verified_but_not_across_a_paragraph_break_or_heading(
        tmp_path: Path) -> None:
    for document in (read_source(article(0)), read_source(html_page(tmp_path, 0))):
        within = "The use of their consultant budget … But it is true."
        assert check(within, document).status == "verified"
        joined = ("Sadiq Khan slept behind the wheel for seven years ... The Metropolitan needs a responsible Mayor "
                  "to regain the trust of the people of London.")
        result = check(joined, document)
        assert (result.status, result.diff) == ("differs", ["elision joins two paragraphs"])
        across = ("The Metropolitan needs a responsible Mayor to regain the trust of the people of London. … The "
                  "Metropolitan Police Federation, which represents more than 30,000 police officers, said staff "
                  "morale had plummeted.")
        result = check(across, document)
        crossed = ['elision crosses the heading "MET staff ‘morale plummets’"']
        assert (result.status, result.diff) == ("differs", crossed)


@needs_seeds
def test_the_casey_quotes_are_never_wrongly_verified_in_the_articles(articles: list[SourceDocument]) -> None:
    collection = tomllib.loads((REPO / "quotes" / "caseyreview.toml").read_text("utf-8"))
    quotes = [quote["text"] for quote in collection["quotes"]]
    assert len(quotes) == 20
    found = {}
    for quote in quotes:
        for number, document in enumerate(articles):
            result = check(quote, document)
            if result.status == "verified":
                found[quote[:40]] = number
                # only where the article itself quotes the review, word for word
                assert words(quote) in words(document.pages[0].text)
            else:
                assert result.status == "not_found", (quote, number, result)
    assert found == {"In the absence of vigilance towards thos": 2}  # article-002 quotes the review's line


# ---- the editorial marks and typography -------------------------------------------------------------------------

PARAGRAPH = ("The Met’s leaders said the organisation had “failed women” for years – and that it would change. "
             "Officers told the review it was a well-known problem.")


def text_source(tmp_path: Path, text: str, name: str = "source.txt") -> SourceDocument:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return read_source(path)


@pytest.mark.parametrize("quote", [
    "The Met's leaders said the organisation had \"failed women\" for years - and that it would change.",
    "The Met’s leaders said the organisation had ‘failed women’ for years—and that it would change.",
    "the Met’s leaders said the organisation had “failed women” for years \u2014 and that it would change.",
    "The Met’s\u00a0leaders   said the organi\u00adsation had\n“failed women” for years – and that it would change.",
    "Officers told the review it was a well-known problem.",
    "Officers told the review [the problem] was a well-known problem.",  # [the problem] standing for "it"
    "Officers told [Baroness Casey's] review it was a well-known problem.",  # an editor's words added
    "[T]he Met’s leaders said the organisation had “failed women” for years",
    "The Met’s leaders said ... that it would change.",
    "for years – and that it would change,",  # the quote's own closing punctuation
    "The Met’s leaders said the organisation had “failed women” for years.",  # the writer's full stop
])
def test_typography_and_editorial_marks_are_forgiven(tmp_path: Path, quote: str) -> None:
    assert check(quote, text_source(tmp_path, PARAGRAPH)).status == "verified"


@pytest.mark.parametrize(("quote", "diff"), [
    ("The Met’s leaders, said the organisation had", ['added: ","']),  # punctuation is part of the text
    ("Officers told the review it was a well known problem.", ['missing: "-"']),
    ("The Met’s Leaders said the organisation had", ["leaders → Leaders"]),  # only the first letter's case
    ("for years – and that it would change?", ['. → ?']),  # a question mark is never the quote's own
])
def test_other_differences_are_reported(tmp_path: Path, quote: str, diff: list[str]) -> None:
    result = check(quote, text_source(tmp_path, PARAGRAPH))
    assert (result.status, result.diff) == ("differs", diff)


def test_an_editors_words_stand_for_at_most_five_of_the_source(tmp_path: Path) -> None:
    document = text_source(tmp_path, "Our commissioner of the police of the metropolis said it. And so it was.")
    assert check("Our [Commissioner] said it.", document).status != "verified"  # for seven words
    assert check("Our commissioner of [London] said it.", document).status == "verified"  # for four
    assert check("And [the force said] it was.", document).status == "verified"  # for one: "so"


def test_an_elision_hides_at_most_80_words(tmp_path: Path) -> None:
    filler = " ".join(f"word{n}" for n in range(80))
    document = text_source(tmp_path, f"It began here. {filler} And it ended here. {filler} x And then again.")
    assert check("It began here. ... And it ended here.", document).status == "verified"
    result = check("And it ended here. ... And then again.", document)
    assert (result.status, result.diff) == ("differs", ["elision hides 81 words (at most 80)"])


def test_the_pieces_of_an_elided_quote_must_appear_in_order(tmp_path: Path) -> None:
    document = text_source(tmp_path, PARAGRAPH)
    assert check("Officers told the review … The Met’s leaders said", document).status != "verified"


def test_a_quote_from_elsewhere_is_not_found(tmp_path: Path) -> None:
    elsewhere = "Nothing in this sentence appears anywhere in the paragraph at all."
    result = check(elsewhere, text_source(tmp_path, PARAGRAPH))
    assert result == Verification("not_found", None, None, [])


@pytest.mark.parametrize("text", ["The first part ends here.\n\n## A new section\n\nThe second part.",
                                  "The first part ends here.\n## A new section\nThe second part."])
def test_markdown_headings_stop_an_elision(tmp_path: Path, text: str) -> None:
    document = text_source(tmp_path, text, "s.md")
    assert check("The first part ends here. ... The second part.", document).diff == [
        'elision crosses the heading "A new section"']


def test_composed_and_decomposed_accents_are_the_same_letters(tmp_path: Path) -> None:
    decomposed = unicodedata.normalize("NFD", "The café owner said the préfecture had failed everyone.")
    assert check("the café owner said the préfecture had failed", text_source(tmp_path, decomposed)).status == \
        "verified"
    composed = text_source(tmp_path, "The café owner said the préfecture had failed everyone.", "c.txt")
    assert check(unicodedata.normalize("NFD", "the café owner said"), composed).status == "verified"


def test_many_elisions_of_a_common_word_are_answered_at_once(tmp_path: Path) -> None:
    """Each piece is tried from each place once: four elided pieces of a word on every line of a long text took
    minutes before."""
    long = text_source(tmp_path, " ".join(["the police said they trust the force"] * 4000))
    assert check("trust … trust … trust … trust … zebra", long).status in ("differs", "not_found")


def test_a_claimed_page_is_found_where_the_words_are_on_several(report: SourceDocument) -> None:
    repeated = SourceDocument(report.path, "pdf", (*report.pages, Page("3", report.pages[2].text)))
    assert verify_quote("Officers told the review that they did not trust", repeated, "3").page == "3"
    assert verify_quote("Officers told the review that they did not trust", repeated).page == "1"


# ---- PDFs ---------------------------------------------------------------------------------------------------------

FOREWORD = ["This foreword sets out why the review", "was commissioned and by whom."]
PAGES = [  # (left column, right column) of the report's numbered pages, with line-end hyphens and ligatures
    (["The review found that the ofﬁce of the", "commissioner had ﬂawed systems and organi-",
      "sational failures that were never put right."],
     ["Ofﬁcers told the review that they did", "not trust their leaders to act on com-",
      "plaints, and that the eﬀect was corrosive.", "To regain trust the Met must"]),
    (["change itself within two years, and the", "Home Oﬃce must hold it to account."],
     ["Londoners deserve a police service that", "protects women and children."]),
]


def write_pdf(path: Path, numbered: list[tuple[list[str], list[str]]], front: list[str],
              running: str | None = None) -> None:
    """A report: a foreword on pages i and ii, then two-column pages numbered from 1, the number printed below
    (after the running foot, where there is one) and the running head above."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen.canvas import Canvas

    pdfmetrics.registerFont(TTFont("NotoSans", str(FONT)))
    canvas = Canvas(str(path))
    canvas.addPageLabel(0, "ROMAN_LOWER")
    canvas.addPageLabel(2, "ARABIC", 1)
    pages: list[tuple[list[str], ...]] = [(front,), (["The review's terms of reference follow."],), *numbered]
    for number, columns in enumerate(pages):
        for x, lines in zip((60, 320), columns, strict=False):
            text = canvas.beginText(x, 760)
            text.setFont("NotoSans", 10)
            for line in lines:
                text.textLine(line)
            canvas.drawText(text)
        canvas.setFont("NotoSans", 9)
        if running:
            canvas.drawCentredString(300, 800, running)
            canvas.drawCentredString(300, 52, f"{running}, page {number + 1} of {len(pages)}")
        canvas.drawCentredString(300, 40, ["i", "ii"][number] if number < 2 else str(number - 1))
        canvas.showPage()
    canvas.save()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> SourceDocument:
    path = tmp_path_factory.mktemp("pdf") / "report.pdf"
    write_pdf(path, PAGES, FOREWORD)
    return read_source(path)


def test_a_pdf_has_its_printed_page_labels(report: SourceDocument) -> None:
    assert report.kind == "pdf"
    assert [page.label for page in report.pages] == ["i", "ii", "1", "2"]


@pytest.mark.parametrize(("quote", "page"), [
    ("the office of the commissioner had flawed systems and organisational failures that were never put right.",
     "1"),
    ("Officers told the review that they did not trust their leaders to act on complaints, and that the effect was "
     "corrosive.", "1"),
    ("To regain trust the Met must change itself within two years, and the Home Office must hold it to account.",
     "1"),  # across the page break: the page is where it starts
    ("Londoners deserve a police service that protects women and children.", "2"),
    ("This foreword sets out why the review was commissioned", "i"),
])
def test_a_pdf_verifies_its_own_passages_with_the_printed_page(report: SourceDocument, quote: str, page: str) -> None:
    result = check(quote, report)
    assert (result.status, result.page) == ("verified", page), result


def test_a_passage_runs_on_past_a_pages_running_head_and_foot(tmp_path: Path) -> None:
    path = tmp_path / "headed.pdf"
    write_pdf(path, PAGES, FOREWORD, running="The Baroness Casey Review, March 2023")
    headed = read_source(path)
    assert not any("Casey Review" in page.text for page in headed.pages)
    result = check("To regain trust the Met must change itself within two years", headed)
    assert (result.status, result.page) == ("verified", "1")


SECTIONED = [(["The review heard from hundreds of officers", "and staff who said that the Met had failed",
               "the public it serves.", "Recommendations", "An independent body should oversee the",
               "reform of the force and report each year", "to the Home Secretary on its progress."],
              ["Officers said the leadership had failed to", "act on what it was told about misconduct,",
               "and had lost its way.", "Londoners deserve far better than this and",
               "the Met must now change its whole culture."])]


@pytest.mark.parametrize(("quote", "status", "diff"), [
    ("The review heard from hundreds of officers … the public it serves.", "verified", []),
    ("the Met had failed the public it serves. … An independent body should oversee the reform", "differs",
     ['elision crosses the heading "Recommendations"']),
    ("the Met had failed the public it serves … the leadership had failed to act", "differs",
     ['elision crosses the heading "Recommendations"']),
    ("the leadership had failed to act … had lost its way.", "verified", []),
    ("had lost its way. … Londoners deserve far better", "differs", ["elision joins two paragraphs"]),
])
def test_a_pdfs_paragraphs_and_headings_bound_an_elision(tmp_path: Path, quote: str, status: str,
                                                         diff: list[str]) -> None:
    """A PDF's text layer marks no paragraph: a line well short of the others that ends a sentence ends one, and a
    short line without closing punctuation after it is a heading."""
    path = tmp_path / "sectioned.pdf"
    write_pdf(path, SECTIONED, FOREWORD)
    result = check(quote, read_source(path))
    assert (result.status, result.diff) == (status, diff)


def test_a_changed_word_in_a_pdf_differs_on_its_page(report: SourceDocument) -> None:
    result = check("Officers told the review that they did not trust their managers to act on complaints", report)
    assert (result.status, result.page, result.diff) == ("differs", "1", ["leaders → managers"])


# ---- files that cannot be read --------------------------------------------------------------------------------


def test_unreadable_sources_name_the_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "notes.docx").write_bytes(b"PK")
    (tmp_path / "broken.pdf").write_bytes(b"this is not a PDF")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    (tmp_path / "marks.txt").write_text("— … —\n", encoding="utf-8")
    os.mkfifo(tmp_path / "pipe.txt")  # reading it would wait for ever
    cases = {"missing.txt": "cannot be read", "notes.docx": "is not a PDF, HTML, text or Markdown file",
             "broken.pdf": "is not a readable PDF", "latin1.txt": "is not UTF-8 text", "empty.txt": "is empty",
             "marks.txt": "has no words in it", "pipe.txt": "is not a regular file"}
    for name, reason in cases.items():
        with pytest.raises(SourceError) as caught:
            read_source(tmp_path / name)
        [line] = caught.value.lines()
        assert name in line and reason in line and line.endswith(")"), line


def test_a_scanned_pdf_without_text_asks_for_ocr(tmp_path: Path) -> None:
    from reportlab.pdfgen.canvas import Canvas

    canvas = Canvas(str(tmp_path / "scan.pdf"))
    canvas.rect(100, 100, 200, 200)
    canvas.showPage()
    canvas.save()
    with pytest.raises(SourceError) as caught:
        read_source(tmp_path / "scan.pdf")
    assert caught.value.lines() == [f"{tmp_path / 'scan.pdf'}: has no text layer (a scanned PDF?) "
                                    "(run OCR on it first (e.g. ocrmypdf) and use the result)"]


# ---- a long report ------------------------------------------------------------------------------------------


@pytest.mark.heavy
def test_a_400_page_pdf_is_read_whole_and_checked(tmp_path: Path) -> None:
    """Its speed is measured by bench/verify.py; here, that all 400 pages are read and found in."""
    path = tmp_path / "long.pdf"
    filler = [f"Paragraph {n} of the page says that the force must change its culture." for n in range(25)]

    def last_line(page: int) -> str:  # each page ends its own way (lines ending every page are running feet)
        return "and its closing word is " + "".join("abcdefghijklmnop"[int(c, 16)] for c in f"{page * 7919:x}") + "."

    write_pdf(path, [(filler + PAGES[0][0], filler + PAGES[0][1] + [last_line(n)]) for n in range(398)], FOREWORD)
    document = read_source(path)
    assert len(document.pages) == 400
    assert check("Londoners deserve a police service that protects everyone.", document).status == "not_found"
    assert check("Officers told the review that they did not trust", document).page == "1"
    hidden = len("To regain trust the Met must".split()) + len(last_line(0).split()) + 20 * len(filler[0].split())
    assert check("the effect was corrosive. ... Paragraph 20 of the page says", document).diff == [
        f"elision hides {hidden} words (at most 80)", "elision joins two paragraphs"]
