"""publisher import: the bundled collection comes from the seed, re-imports change nothing, CSV works."""

from __future__ import annotations

import re
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from conftest import DATA, REPO, SHARED_SEEDS
from publisher.errors import ExitStatus

SEED = DATA / "caseyreview-quotes.txt"
TITLE = "The Casey Review"
ATTRIBUTION = "Baroness Louise Casey, Review of the Metropolitan Police (March 2023)"


def seed_texts() -> list[str]:
    """The quote texts as the seed file holds them, hashtags inside them without their "#" (the words as said),
    read independently of the importer."""
    texts = re.findall(r'^"(.*)"(?: [#@]\S+)*$', SEED.read_text("utf-8"), flags=re.MULTILINE)
    return [re.sub(r"(?<![\w/])#(\w+)", r"\1", text) for text in texts]


def load(path: Path) -> dict:  # type: ignore[type-arg]
    return tomllib.loads(path.read_text("utf-8"))


@pytest.mark.skipif(not SHARED_SEEDS.exists(), reason="no shared/ beside this checkout")
def test_test_copy_of_the_seed_is_current() -> None:
    assert SEED.read_bytes() == (SHARED_SEEDS / SEED.name).read_bytes()


def test_bundled_collection_holds_the_twenty_seed_quotes_exactly() -> None:
    bundled = load(REPO / "quotes" / "caseyreview.toml")
    assert len(seed_texts()) == 20
    assert [q["text"] for q in bundled["quotes"]] == seed_texts()
    assert any("’" in text for text in seed_texts())  # curly quotes survive
    assert bundled["collection"]["hashtags"] == ["CaseyReview", "accountability"]
    assert bundled["collection"]["mentions"] == ["@metpoliceuk"]


def test_reimporting_the_seed_leaves_the_bundled_file_byte_identical(
        project: Path, run_cli: Callable[..., Result]) -> None:
    before = (project / "quotes" / "caseyreview.toml").read_bytes()
    result = run_cli("import", str(SEED), "--collection", "caseyreview")
    assert result.exit_code == 0, result.output
    assert "0 added, 20 already there" in result.stdout
    assert (project / "quotes" / "caseyreview.toml").read_bytes() == before


def test_fresh_import_matches_the_bundled_quotes(project: Path, run_cli: Callable[..., Result]) -> None:
    result = run_cli("import", str(SEED), "--collection", "fresh", "--title", TITLE, "--attribution", ATTRIBUTION)
    assert result.exit_code == 0, result.output
    assert "quotes/fresh.toml created: 20 added, 0 already there." in result.stdout
    fresh, bundled = load(project / "quotes" / "fresh.toml"), load(REPO / "quotes" / "caseyreview.toml")
    keys = ("id", "text", "hashtags")
    assert [{k: q[k] for k in keys} for q in fresh["quotes"]] == [{k: q[k] for k in keys} for q in bundled["quotes"]]
    ids = [q["id"] for q in fresh["quotes"]]
    assert len(set(ids)) == 20
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) and len(i) <= 48 for i in ids)


def test_the_seed_has_a_hashtag_inside_a_quote_and_the_bundled_text_has_only_the_word() -> None:
    raw = SEED.read_text("utf-8")
    assert '"We have found widespread #bullying, particularly' in raw
    bullying = next(q for q in load(REPO / "quotes" / "caseyreview.toml")["quotes"]
                    if q["id"] == "we-found-widespread-bullying-particularly")
    assert bullying["text"].startswith("We have found widespread bullying, particularly")
    assert bullying["hashtags"] == ["bullying"] and "#" not in bullying["text"]
    assert bullying["highlight"] == ["22% of staff and officers experienced bullying"]  # editorial additions kept


def test_tweet_style_import_takes_the_hash_off_hashtags_in_the_text(project: Path,
                                                                   run_cli: Callable[..., Result]) -> None:
    (project / "lines.txt").write_text(
        '"The #Met must change: see https://example.org/report#findings and example.org/#top, '
        '#1 priority, C# code, #MetPolice_Reform." #accountability\n', encoding="utf-8")
    result = run_cli("import", "lines.txt", "--collection", "tags", "--title", "T", "--attribution", "A")
    assert result.exit_code == 0, result.output
    [quote] = load(project / "quotes" / "tags.toml")["quotes"]
    assert quote["text"] == ("The Met must change: see https://example.org/report#findings and example.org/#top, "
                             "#1 priority, C# code, MetPolice_Reform.")
    assert quote["hashtags"] == []  # every quote has them, so the new collection does
    assert load(project / "quotes" / "tags.toml")["collection"]["hashtags"] == ["Met", "MetPolice_Reform",
                                                                              "accountability"]
    again = run_cli("import", "lines.txt", "--collection", "tags")
    assert "0 added, 1 already there" in again.stdout


def test_inline_tags_go_to_the_quote_without_repeating_the_collections(project: Path,
                                                                       run_cli: Callable[..., Result]) -> None:
    (project / "lines.txt").write_text('"Officers feel #demoralised, says the #CaseyReview"\n', encoding="utf-8")
    result = run_cli("import", "lines.txt", "--collection", "caseyreview")
    assert result.exit_code == 0, result.output
    added = load(project / "quotes" / "caseyreview.toml")["quotes"][-1]
    assert added["text"] == "Officers feel demoralised, says the CaseyReview"
    assert added["hashtags"] == ["demoralised"]  # CaseyReview is already the collection's


def test_a_collection_imported_with_the_hash_in_its_text_is_not_imported_twice(
        project: Path, run_cli: Callable[..., Result]) -> None:
    target = project / "quotes" / "caseyreview.toml"
    older = target.read_text("utf-8").replace("widespread bullying,", "widespread #bullying,")
    target.write_text(older, encoding="utf-8")
    result = run_cli("import", str(SEED), "--collection", "caseyreview")
    assert result.exit_code == 0, result.output
    assert "0 added, 20 already there" in result.stdout
    assert target.read_text("utf-8") == older


def test_hashtag_only_line_goes_to_the_quote_before_it(project: Path, run_cli: Callable[..., Result]) -> None:
    result = run_cli("import", str(SEED), "--collection", "fresh", "--title", TITLE, "--attribution", ATTRIBUTION)
    assert ("caseyreview-quotes.txt:11: a line of only tags, read as tags of the quote on line 10: it keeps "
            "#bullying; #CaseyReview #accountability already on every quote of the collection") in result.stdout
    quotes = load(project / "quotes" / "fresh.toml")["quotes"]
    bullying = [q for q in quotes if q["text"].startswith("We have found widespread")]
    assert [q["hashtags"] for q in bullying] == [["bullying"]]
    assert sum(1 for q in quotes if q["hashtags"]) == 1  # collection tags are not repeated on any quote


def test_a_markdown_file_of_lists_and_block_quotes_imports(project: Path, run_cli: Callable[..., Result]) -> None:
    """The blank example's collection says import takes Markdown: list items and block quotes are read without
    their markers (a block quote needs no quotation marks), and headings, rules and fences are skipped."""
    (project / "notes.md").write_text(
        "# From the review\n\n## Culture\n\n- “We trusted them, and they let us down.” #CaseyReview\n"
        '* "A second, from a list." @metpoliceuk\n1. "A numbered one."\n\n'
        "> The Met has failed to protect women and girls. #accountability\n\n"
        "> A block quote that runs\n> over two lines.\n> #met\n---\n```\n", encoding="utf-8")
    result = run_cli("import", "notes.md", "--collection", "md", "--title", "T", "--attribution", "A")
    assert result.exit_code == 0, result.output
    quotes = load(project / "quotes" / "md.toml")["quotes"]
    assert [(q["text"], q.get("hashtags"), q.get("mentions")) for q in quotes] == [
        ("We trusted them, and they let us down.", ["CaseyReview"], None),
        ("A second, from a list.", [], ["@metpoliceuk"]),
        ("A numbered one.", [], None),
        ("The Met has failed to protect women and girls.", ["accountability"], None),
        ("A block quote that runs over two lines.", ["met"], None)]  # one quote over its > lines, then its tags


def test_import_keeps_existing_content_and_comments(project: Path, run_cli: Callable[..., Result]) -> None:
    target = project / "quotes" / "caseyreview.toml"
    edited = target.read_text("utf-8").replace('id = "met-does-not-easily-accept"',
                                               'id = "met-does-not-easily-accept"  # a favourite')
    target.write_text(edited, encoding="utf-8")
    extra = project / "extra.txt"
    extra.write_text('"A brand new quote, with “curly” quotes and an ellipsis…" #NewTag @someone\n', encoding="utf-8")
    result = run_cli("import", str(extra), "--collection", "caseyreview")
    assert result.exit_code == 0, result.output
    after = target.read_text("utf-8")
    assert after.startswith(edited)
    added = load(target)["quotes"][-1]
    assert added == {"id": "brand-new-quote-curly-quotes", "hashtags": ["NewTag"], "mentions": ["@someone"],
                     "text": "A brand new quote, with “curly” quotes and an ellipsis…"}
    assert run_cli("validate").exit_code == 0


def test_import_dedupes_on_normalised_text(project: Path, run_cli: Callable[..., Result]) -> None:
    variant = project / "variant.txt"
    variant.write_text('"THE MET DOES NOT EASILY ACCEPT CRITICISM NOR \'own\' ITS FAILURES. It does not embrace or '
                       "learn from its mistakes.  Instead, it starts from a position that nothing wrong has "
                       'occurred."\n', encoding="utf-8")
    before = (project / "quotes" / "caseyreview.toml").read_bytes()
    result = run_cli("import", str(variant), "--collection", "caseyreview")
    assert "0 added, 1 already there" in result.stdout
    assert (project / "quotes" / "caseyreview.toml").read_bytes() == before


def test_csv_import(project: Path, run_cli: Callable[..., Result]) -> None:
    sheet = project / "quotes.csv"
    sheet.write_bytes("\ufeffText,ID,Hashtags,Attribution\n"
                      '"Policing, by consent.",,#Met Police_Reform,Someone Else\n'
                      '"Another one",my-own-id,,\n'
                      ',,,\n'.encode())
    result = run_cli("import", str(sheet), "--collection", "sheet", "--title", "Sheet", "--attribution", "Me")
    assert result.exit_code == 0, result.output
    data = load(project / "quotes" / "sheet.toml")
    assert data["collection"]["hashtags"] == []
    assert data["quotes"] == [
        {"id": "policing-consent", "text": "Policing, by consent.", "hashtags": ["Met", "Police_Reform"],
         "attribution": "Someone Else"},
        {"id": "my-own-id", "text": "Another one", "hashtags": []},
    ]
    again = run_cli("import", str(sheet), "--collection", "sheet")
    assert "0 added, 2 already there" in again.stdout


@pytest.mark.parametrize(("content", "expected"), [
    ("name,quote\nx,y\n", "data.csv:1: no 'text' column (columns found: name, quote) "
     "(name the quote column text; id, hashtags, attribution are optional)"),
    ("text,id\nHello,Bad Id\n", 'data.csv:2: id "Bad Id" is not a slug '
     "(use lowercase letters, digits and hyphens, or leave it empty)"),
    ("text,id\nHello,met-does-not-easily-accept\n", 'data.csv:2: id "met-does-not-easily-accept" is already used '
     "by another quote (choose another id, or leave the id empty to have one made)"),
    ("text,hashtags\nHello,bad-tag\n", 'data.csv:2: "#bad-tag" is neither a #hashtag nor an @mention '
     "(hashtags are letters, digits and underscores, separated by spaces)"),
])
def test_csv_errors(project: Path, run_cli: Callable[..., Result], content: str, expected: str) -> None:
    (project / "data.csv").write_text(content, encoding="utf-8")
    before = (project / "quotes" / "caseyreview.toml").read_bytes()
    result = run_cli("import", "data.csv", "--collection", "caseyreview")
    assert result.exit_code == ExitStatus.CONFIG
    assert result.stderr.splitlines() == [expected]
    assert (project / "quotes" / "caseyreview.toml").read_bytes() == before


@pytest.mark.parametrize(("content", "expected"), [
    ('#early #tags\n"quote"\n', "lines.txt:1: hashtags before any quote (put them after the quote they belong to)"),
    ('"fine"\n"not closed\n', 'lines.txt:2: the quote is not closed (end the quote with ")'),
    ('"fine"\nplain words\n', 'lines.txt:2: expected a quote in double quotes (write "quote text" #hashtag @mention)'),
    ('"fine" #ok trailing\n', 'lines.txt:1: "trailing" is neither a #hashtag nor an @mention '
     "(only hashtags and mentions may follow the closing quote)"),
    ("\n\n", 'lines.txt: no quotes found (write one "quote" #tag per line, or CSV with a text column)'),
])
def test_tweet_line_errors(project: Path, run_cli: Callable[..., Result], content: str, expected: str) -> None:
    (project / "lines.txt").write_text(content, encoding="utf-8")
    result = run_cli("import", "lines.txt", "--collection", "new", "--title", "T", "--attribution", "A")
    assert result.exit_code == ExitStatus.CONFIG
    assert result.stderr.splitlines() == [expected]
    assert not (project / "quotes" / "new.toml").exists()


def test_new_collection_needs_title_and_attribution(project: Path, run_cli: Callable[..., Result]) -> None:
    result = run_cli("import", str(SEED), "--collection", "other")
    assert result.exit_code == ExitStatus.CONFIG
    assert result.stderr == ("quotes/other.toml: this collection does not exist yet "
                             "(give --title and --attribution to create it)\n")


def test_import_into_invalid_collection_refuses(project: Path, run_cli: Callable[..., Result]) -> None:
    shutil.copy(SEED, project / "seed.txt")
    (project / "quotes" / "caseyreview.toml").write_text("[collection]\nname = 1\n", encoding="utf-8")
    result = run_cli("import", "seed.txt", "--collection", "caseyreview")
    assert result.exit_code == ExitStatus.CONFIG
    assert any(line.startswith("quotes/caseyreview.toml:2: collection.name: expected text")
               for line in result.stderr.splitlines())
