"""publisher extract: the quotations of the four seed articles (as text and as web pages with menus, adverts and
captions), proposed as draft quotes with speaker, page and source, into a collection that validates."""

from __future__ import annotations

import html
import json
import shutil
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from conftest import DATA, SHARED_SEEDS
from publisher.errors import ExitStatus
from publisher.extract import DRAFTS_MARK, find_quotations, word_count
from publisher.sources import read_source, verify_quote


@dataclass(frozen=True)
class Page:
    """A page as publisher.sources reads one: its printed label, its text, its headings' spans."""

    label: str | None
    text: str
    headings: tuple[tuple[int, int], ...] = ()


def article(name: str) -> Path:
    for folder in (DATA / "sources", SHARED_SEEDS):
        if (folder / f"{name}.txt").is_file():
            return folder / f"{name}.txt"
    pytest.skip(f"no {name}.txt in tests/data/sources or ../shared/seeds")


def load(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text("utf-8"))


# Every quotation of 8 words or more in each article, read by hand: its first words and who the sentence names as
# saying it (None where it names nobody, or only "he", "she", "a spokesman"). A headline's quotation is left out
# (article-000's "Sadiq Khan: ‘Give money in exchange for doing your own work’").
EXPECTED = {
    "article-000": [
        ("seize the opportunity to fundamentally change", "Independent Police Action Office"),
        ("We will work with law enforcement", "Interim Commissioner Tom Whiting"),
        ("There are racists, misogynists, homophobes in", None),
        ("Rape victims are blamed for their", "Claire Waxman"),
        ("This is absolutely unacceptable and this", "Claire Waxman"),
        ("The use of their consultant budget,", "Baroness Casey"),
        ("Sadiq Khan slept behind the wheel", None),
        ("The Metropolitan needs a responsible Mayor", None),
        ("traumatized by the constant assault on", None),
        ("Any police reform must not come", None),
        ("must be a watershed moment for", "Metropolitan Police Department"),
        ("The MET cannot do this alone.", "IOPC Interim Executive Director Tom Whiting"),
        ("At IOPC, we will continue to", "IOPC Interim Executive Director Tom Whiting"),
        ("It’s the Metropolitan Police Department’s last", None),
        ("Since the death of my son", None),
        ("I think a lot of people,", None),
        ("No, I’m not entirely confident they", None),
        ("I know it sounds terrible, but", None),
    ],
    "article-001": [
        ("confirms a culture which not only", "CWJ"),
        ("As an organisation that works with", None),
        ("It is utterly shameful that women", None),
        ("the latest in a long line", "Jayne Butler"),
        ("It is evident that the Met", None),
        ("It should not take years of", None),
        ("This damning report leaves the Met", "Andrea Simon"),
        ("It is not our job as", "Baroness Casey"),
        ("Far too many Londoners have now", "Baroness Casey"),
        ("new approach to restore public trust", None),
    ],
    "article-002": [
        ("The Met has not protected its", None),
        ("Despite the Met saying violence against", None),
        ("I’m sorry we’ve let you all", None),
        ("Instead of access to fast-track forensic", None),
        ("I cannot sufficiently assure you that", None),
        ("It is not our job as", "Casey"),
        ("We are going to turn all", None),
        ("recruitment and vetting systems are poor", None),
        ("In the absence of vigilance towards", None),
        ("There are too many places for", None),
        ("The evidence is damning. Baroness Casey", "Mayor of London Sadiq Khan"),
        ("This review simply must be a", None),
        ("It is clear that there have", "Home Secretary Suella Braverman"),
        ("There is much more to do", None),
    ],
    "article-003": [
        ("A city as diverse as London", None),
        ("The swift and decisive action that", None),
        ("Local borough leaders met Sir Mark", None),
        ("London leaders have a unique insight", None),
        ("The evidence is damning. Baroness Casey", "Sadiq Khan"),
        ("As mayor, I’ve already acted to", "Sadiq Khan"),
    ],
}
# What a web page around an article adds, each holding a quotation of more than 8 words that is no part of it.
MENU = "“Home, News, Politics, Crime, Sport, Opinion, Weather and all our other sections”"
ADVERT = "“Subscribe today and never miss a single story from our award-winning newsroom,” says our editor."
CAPTION = "“Officers stand outside New Scotland Yard on the morning the report was published,” said the agency."


def first_words(text: str) -> str:
    return " ".join(text.split()[:6])


def as_web_page(path: Path) -> str:
    """The article as a news site prints it: its headline, subheadings and paragraphs, with a menu, an advert and a
    picture whose caption holds a quotation."""
    page = read_source(path).pages[0]
    headings = {" ".join(page.text[start:end].split()) for start, end in page.headings}
    headline, *paragraphs = [" ".join(p.split()) for p in page.text.split("\n\n") if p.strip()]
    body = [f"<h2>{html.escape(p)}</h2>" if p in headings else f"<p>{html.escape(p)}</p>" for p in paragraphs]
    figure = (f'<figure><img src="/met.jpg" alt="New Scotland Yard"><figcaption>{html.escape(CAPTION)}'
              "</figcaption></figure>")
    body.insert(len(body) // 2, figure)
    menu = "".join(f"<li><a href='/{word}'>{html.escape(word)}</a></li>" for word in MENU.split())
    newline = "\n"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(headline)}</title></head>
<body>
<header><nav class="menu"><ul>{menu}</ul>
<p class="menu-note">{html.escape(MENU)}</p></nav></header>
<aside class="advert ad-slot"><p>Advertisement</p><p>{html.escape(ADVERT)}</p></aside>
<main><article>
<h1>{html.escape(headline)}</h1>
{newline.join(body)}
</article></main>
<footer><p>© News Ltd. All rights reserved.</p></footer>
</body></html>
"""


# -- finding quotations ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_articles_quotations_are_found_with_their_speakers(name: str) -> None:
    found = find_quotations(read_source(article(name)).pages)
    assert [(first_words(q.text), q.speaker) for q in found] == EXPECTED[name]
    assert all(word_count(q.text) >= 8 and q.page is None for q in found)


def test_more_words_wanted_finds_fewer_each_long_enough() -> None:
    long_ones = find_quotations(read_source(article("article-001")).pages, min_words=30)
    assert 0 < len(long_ones) < len(EXPECTED["article-001"])
    assert all(word_count(q.text) >= 30 for q in long_ones)
    assert [first_words(q.text) for q in long_ones] == ["confirms a culture which not only",
                                                       "As an organisation that works with",
                                                       "It should not take years of",
                                                       "This damning report leaves the Met"]


@pytest.mark.parametrize("marks", ["“…”", '"…"', "‘…’", "'…'"])
def test_straight_or_curly_double_or_single_marks(marks: str) -> None:
    words = "nothing about the way the force works has changed since then"
    text = f"The chair said {marks[0]}{words}{marks[2]} at the hearing."
    assert find_quotations([Page(None, text)]) == [find_quotations([Page(None, f"“{words}”")])[0]]
    assert find_quotations([Page(None, text)])[0].text == words


def test_apostrophes_are_not_quotation_marks() -> None:
    text = ("The Met's officers and the officers' union said it's what they'd expect of the Commissioner's plan and "
            "the Met’s own review, and the Londoners’ groups didn’t agree with the force’s view of the matter at all.")
    assert find_quotations([Page(None, text)], min_words=1) == []


def test_an_apostrophe_inside_a_single_quoted_passage_does_not_end_it() -> None:
    text = "He said: ‘The officers’ union and the Met’s leaders have let down the women of London’s boroughs.’"
    assert [q.text for q in find_quotations([Page(None, text)])] == [
        "The officers’ union and the Met’s leaders have let down the women of London’s boroughs."]


def test_a_quotation_runs_across_line_breaks_and_fewer_words_are_left_out() -> None:
    text = ("“This is one of the\nhardest things I have ever\nhad to write,” said Baroness Casey.\n"
            "She added: “It is a quote of seven words.”")
    found = find_quotations([Page(None, text)])
    assert len(found) == 1
    assert (found[0].text, found[0].speaker) == ("This is one of the hardest things I have ever had to write",
                                                 "Baroness Casey")
    assert len(find_quotations([Page(None, text)], min_words=7)) == 2


def test_a_quotation_over_paragraphs_gives_one_quote_each_with_the_speaker() -> None:
    text = ("The commissioner for victims, Claire Waxman, said:\n\n"
            "“Rape victims are blamed for what was done to them by the people sworn to protect them.\n\n"
            "“This is absolutely unacceptable and this report must be the catalyst for change.”\n\n"
            "“A new quotation that nobody is named as saying in this sentence at all.”")
    found = find_quotations([Page(None, text)])
    assert [(first_words(q.text), q.speaker) for q in found] == [
        ("Rape victims are blamed for what", "Claire Waxman"),
        ("This is absolutely unacceptable and this", "Claire Waxman"),
        ("A new quotation that nobody is", None)]


@pytest.mark.parametrize(("sentence", "speaker"), [
    ("“The misconduct process is not fit for purpose in any way,” said Baroness Casey.", "Baroness Casey"),
    ("“The misconduct process is not fit for purpose in any way,” Baroness Casey said.", "Baroness Casey"),
    ("Baroness Casey said: “The misconduct process is not fit for purpose in any way.”", "Baroness Casey"),
    ("Baroness Casey, who led the review, told the BBC: “The misconduct process is not fit for purpose in any way.”",
     "Baroness Casey"),
    ("“The misconduct process is not fit for purpose in any way,” according to Baroness Casey.", "Baroness Casey"),
    ("“The misconduct process is not fit for purpose in any way,” he said.", None),
    ("“The misconduct process is not fit for purpose in any way,” a spokesman added.", None),
    ("After Sir Mark Rowley said sorry, “The misconduct process is not fit for purpose in any way,” she added.",
     None),
    ("The report found that “the misconduct process is not fit for purpose in any way”.", None),
    ("Following the report, Baroness Casey has called for the Met to “change itself”, adding: “The misconduct "
     "process is not fit for purpose in any way.”", "Baroness Casey"),
])
def test_the_speaker_is_who_the_sentence_names(sentence: str, speaker: str | None) -> None:
    found = find_quotations([Page(None, "The first paragraph names Sir Mark Rowley.\n\n" + sentence)])
    assert [q.speaker for q in found] == [speaker]


def test_the_page_is_the_printed_label_where_the_quotation_starts() -> None:
    pages = [Page("iv", "The preface.\n\n“The first quotation of this report is on the fourth page"),
             Page("1", "of the preface,” said the chair.\n\n“The second quotation of the report is on page one.”")]
    assert [(first_words(q.text), q.page) for q in find_quotations(pages)] == [
        ("The first quotation of this report", "iv"), ("The second quotation of the report", "1")]


def test_a_pdfs_typography_is_taken_out_of_the_quote() -> None:
    text = "“The ofﬁcers’ organi-\nsational culture is not\u00a0one that the de\u00adpartment can fix alone.”"
    assert [q.text for q in find_quotations([Page("3", text)])] == [
        "The officers’ organisational culture is not one that the department can fix alone."]


def test_a_headings_quotation_is_left_out() -> None:
    headline = "Report must be ‘the catalyst for radical change across the whole force,’ says commissioner"
    text = headline + "\n\n“Everything in this report must change, and it must change now for good.”"
    found = find_quotations([Page(None, text, headings=((0, len(headline)),))])
    assert [first_words(q.text) for q in found] == ["Everything in this report must change,"]


# -- the command ----------------------------------------------------------------------------------------------


def in_sources(project: Path, *names: str) -> list[Path]:
    (project / "sources").mkdir(exist_ok=True)
    return [Path(shutil.copy(article(name), project / "sources" / f"{name}.txt")) for name in names]


def test_extract_writes_a_collection_of_drafts_that_validates(project: Path, run_cli: Callable[..., Result]) -> None:
    in_sources(project, "article-001")
    result = run_cli("extract", "sources/article-001.txt")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "quotes/article-001.toml created: 10 draft quotes added, 0 already there. Review each one (words, "
        "attribution, page), then delete its draft line: until then no campaign posts it.")
    written = project / "quotes" / "article-001.toml"
    assert written.read_text("utf-8").startswith(DRAFTS_MARK)
    data = load(written)
    assert data["sources"] == [{"id": "article-001", "file": "article-001.txt",
                                "title": "Women, children failed by Met police, review finds"}]
    assert [(first_words(q["text"]), q.get("attribution")) for q in data["quotes"]] == EXPECTED["article-001"]
    assert {q["source"] for q in data["quotes"]} == {"article-001"}
    assert all(q["draft"] is True for q in data["quotes"])
    assert all("page" not in q for q in data["quotes"])  # a text file has no printed pages
    validated = run_cli("validate")
    assert validated.exit_code == 0, validated.output


def test_a_second_extract_appends_without_repeats(project: Path, run_cli: Callable[..., Result]) -> None:
    in_sources(project, "article-002", "article-003")
    assert run_cli("extract", "sources/article-002.txt", "--collection", "met-drafts").exit_code == 0
    written = project / "quotes" / "met-drafts.toml"
    first = written.read_text("utf-8")

    again = run_cli("extract", "sources/article-002.txt", "--collection", "met-drafts")
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[-1] == "quotes/met-drafts.toml unchanged: 0 draft quotes added, 14 already there."
    assert written.read_text("utf-8") == first

    more = run_cli("extract", "sources/article-003.txt", "--collection", "met-drafts")
    assert more.exit_code == 0, more.output
    assert "quotes/met-drafts.toml updated: 5 draft quotes added, 1 already there." in more.stdout
    text = written.read_text("utf-8")
    assert text.startswith(first)  # appended: what was there is kept byte for byte
    data = load(written)
    assert [s["id"] for s in data["sources"]] == ["article-002", "article-003"]
    ids = [q["id"] for q in data["quotes"]]
    assert len(ids) == len(set(ids)) == 19
    assert [q["source"] for q in data["quotes"]] == ["article-002"] * 14 + ["article-003"] * 5
    assert run_cli("validate").exit_code == 0


ARTICLE = """Met chief responds to the review

The Commissioner spoke to reporters outside New Scotland Yard on Tuesday morning.

"We have let down the people of London and we will change the way this force works," said Sir Mark Rowley.

"Nobody should be surprised by what the review found about our culture," a spokesman added.
"""


def test_drafts_appended_to_a_curated_collection_are_never_posted_or_packed(
        project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "sources").mkdir()
    (project / "sources" / "rowley.txt").write_text(ARTICLE, encoding="utf-8")
    path = project / "quotes" / "caseyreview.toml"
    before = path.read_bytes()
    result = run_cli("extract", "sources/rowley.txt", "--collection", "caseyreview")
    assert result.exit_code == 0, result.output
    assert path.read_bytes().startswith(before)  # appended: what was there is kept byte for byte
    data = load(path)
    drafts = [q for q in data["quotes"] if q.get("draft")]
    assert [(q["id"], q.get("attribution")) for q in drafts] == [
        ("we-let-down-people-london", "Sir Mark Rowley"), ("nobody-should-surprised-what-review", None)]
    assert len(data["quotes"]) == 22 and [s["id"] for s in data["sources"]] == ["rowley"]
    checked = run_cli("validate")
    assert checked.exit_code == 0, checked.output
    assert "caseyreview: 2 draft quotes, never queued or packed until reviewed" in checked.stdout
    run_out = json.loads(run_cli("status", "--json").stdout)["campaigns"][0]["run_out"]
    assert run_out["quotes"] == 20  # the drafts are not the campaign's
    packed = run_cli("pack", "--formats", "square", "-o", "pack.zip")
    assert packed.exit_code == 0, packed.output
    with zipfile.ZipFile(project / "pack.zip") as pack:
        assert "Nobody should be surprised" not in pack.read("captions.csv").decode("utf-8-sig")
        assert len([n for n in pack.namelist() if n.endswith(".png")]) == 20
    again = run_cli("extract", "sources/rowley.txt", "--collection", "caseyreview")
    assert again.exit_code == 0 and len(load(path)["quotes"]) == 22  # nothing repeated


def test_a_campaign_of_drafts_only_queues_nothing_and_says_why(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "sources").mkdir()
    (project / "sources" / "rowley.txt").write_text(ARTICLE, encoding="utf-8")
    assert run_cli("extract", "sources/rowley.txt").exit_code == 0
    schedule = project / "schedule.toml"
    schedule.write_text(schedule.read_text("utf-8").replace('"caseyreview"', '"rowley"'), encoding="utf-8")
    refused = run_cli("queue", "add", "--now")
    assert refused.exit_code == ExitStatus.NOTHING_TO_QUEUE
    assert refused.stderr.startswith("campaign daily: every quote of rowley is a draft (draft = true)")
    assert run_cli("pack", "-c", "rowley", "-o", "drafts.zip").exit_code == ExitStatus.CONFIG
    path = project / "quotes" / "rowley.toml"
    path.write_text(path.read_text("utf-8").replace("draft = true\n", "", 1), encoding="utf-8")
    assert run_cli("queue", "add", "--now").exit_code == 0  # one reviewed: that one can be posted


def test_fewer_quotes_with_more_words_wanted(project: Path, run_cli: Callable[..., Result]) -> None:
    in_sources(project, "article-000")
    assert run_cli("extract", "sources/article-000.txt", "--collection", "all").exit_code == 0
    assert run_cli("extract", "sources/article-000.txt", "--collection", "long", "--min-words", "30").exit_code == 0
    every, long_ones = (load(project / "quotes" / f"{name}.toml")["quotes"] for name in ("all", "long"))
    assert len(every) == len(EXPECTED["article-000"]) and 0 < len(long_ones) < len(every)
    assert all(word_count(q["text"]) >= 30 for q in long_ones)


def test_a_file_outside_sources_must_be_copied_there(project: Path, run_cli: Callable[..., Result],
                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = Path(shutil.copy(article("article-003"), tmp_path_factory.mktemp("downloads") / "met report.txt"))
    result = run_cli("extract", str(elsewhere))
    assert result.exit_code == 0, result.output
    assert "is not in sources: copy it there as met report.txt so that publisher validate and publisher verify " \
           "can read it" in result.stdout
    assert load(project / "quotes" / "met-report.toml")["sources"][0]["file"] == "met report.txt"


def test_no_quotation_long_enough_is_an_error(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "sources").mkdir()
    (project / "sources" / "notes.txt").write_text("Nothing quoted here, “only this”.\n", encoding="utf-8")
    result = run_cli("extract", "sources/notes.txt")
    assert result.exit_code == ExitStatus.CONFIG
    assert result.stderr == ("sources/notes.txt: no passage in quotation marks of 8 words or more (give a "
                             "lower --min-words, or check that the file holds the article's text)\n")
    assert not (project / "quotes" / "notes.toml").exists()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_web_pages_menu_advert_and_caption_are_left_out(project: Path, run_cli: Callable[..., Result],
                                                           name: str) -> None:
    (project / "sources").mkdir()
    page = project / "sources" / f"{name}.html"
    page.write_text(as_web_page(article(name)), encoding="utf-8")
    result = run_cli("extract", f"sources/{name}.html")
    assert result.exit_code == 0, result.output
    data = load(project / "quotes" / f"{name}.toml")
    found = [(first_words(q["text"]), q.get("attribution")) for q in data["quotes"]]
    for boilerplate in (MENU, ADVERT, CAPTION):
        assert first_words(boilerplate.strip("“")) not in [words for words, _ in found]
    assert found == EXPECTED[name]
    assert data["sources"][0]["file"] == f"{name}.html"
    assert run_cli("validate").exit_code == 0


@pytest.mark.parametrize("kind", ["txt", "html"])
def test_every_quote_extracted_verifies_against_its_source(kind: str, tmp_path: Path) -> None:
    for name in sorted(EXPECTED):
        path = article(name)
        if kind == "html":
            path = tmp_path / f"{name}.html"
            path.write_text(as_web_page(article(name)), encoding="utf-8")
        document = read_source(path)
        results = {q.text: verify_quote(q.text, document).status for q in find_quotations(document.pages)}
        assert len(results) == len(EXPECTED[name])
        assert {text: status for text, status in results.items() if status != "verified"} == {}


def report_pdf(path: Path, pages: list[str]) -> None:
    """A PDF of these pages, printed as i, 1, 2, ...: the front matter in roman numerals, as reports are."""
    from pypdf import PdfWriter
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    canvas = Canvas(str(path), pagesize=A4)
    for text in pages:
        lines = canvas.beginText(72, 770)
        for line in text.splitlines():
            lines.textLine(line)
        canvas.drawText(lines)
        canvas.showPage()
    canvas.save()
    writer = PdfWriter(clone_from=path)
    writer.set_page_label(0, 0, "/r")
    writer.set_page_label(1, len(pages) - 1, "/D")
    writer.write(path)


def test_a_pdfs_quotes_carry_their_printed_page(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "sources").mkdir()
    report_pdf(project / "sources" / "review.pdf", [
        "Foreword\n\n“I have never written a report as stark as this one,” said Baroness Casey.",
        "Chapter one\n\nThe review heard from officers. One said: “Nobody listened to us when we\nreported what "
        "we saw in the canteen, not once.”\n\nAnother told the review: “The culture of the team was set by",
        "a handful of officers who were never challenged by anyone.”"])
    result = run_cli("extract", "sources/review.pdf", "--collection", "review")
    assert result.exit_code == 0, result.output
    data = load(project / "quotes" / "review.toml")
    assert [(first_words(q["text"]), q.get("attribution"), q.get("page")) for q in data["quotes"]] == [
        ("I have never written a report", "Baroness Casey", "i"),
        ("Nobody listened to us when we", None, "1"),
        ("The culture of the team was", None, "1")]
    assert data["quotes"][1]["text"] == "Nobody listened to us when we reported what we saw in the canteen, not once."
    assert data["sources"][0]["file"] == "review.pdf"
    assert run_cli("validate").exit_code == 0
