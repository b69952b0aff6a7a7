"""``publisher extract``: propose the quotations in an article or report as draft quotes of a collection.

A researcher reading a 300-page report or a live blog wants every passage someone is quoted saying, with the page
it is on and who said it, ready to check and trim: not to copy them out by hand. Every passage in quotation marks
(straight or curly, double or single; an apostrophe such as "the Met's" is no quotation mark) of at least
``min_words`` words becomes a quote with ``source`` (a ``[[sources]]`` entry made from the file) and ``page``
(the printed page label where it starts, for a PDF). A quotation that runs on over paragraphs (each opening with
a quotation mark, the earlier ones left open, as newspapers print them) gives one quote per paragraph, so each is
found word for word by ``publisher verify``. The speaker is the one the sentence names ("…," said Baroness Casey /
Baroness Casey said: "…"); a pronoun ("he said") or a description ("a spokesman added") names none.

Every quote is written with ``draft = true``: no campaign queues it and no pack holds it until someone has checked
it and deleted that line. So the drafts may go into a new collection (a header says they are drafts to review) or
be appended to an existing one, whose content is kept byte for byte, without repeating a quote it already has.
"""

from __future__ import annotations

import bisect
import re
import tomllib
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import tomlkit

from publisher.errors import ConfigError, Problem, display_path
from publisher.fileio import write_atomically
from publisher.quotes import Collection, collection_from_source
from publisher.schema import Invalid, quote_text
from publisher.text import normalise_for_dedupe, unique_slug
from publisher.tomlsource import TomlSource, read_toml

if TYPE_CHECKING:
    from publisher.sources import SourceDocument

DRAFTS_MARK = "# Draft quotes extracted by publisher extract"
DEFAULT_MIN_WORDS = 8

_CLEANUP = str.maketrans({"\u00ad": None, "\u00a0": " ", "\u202f": " ", "ﬁ": "fi", "ﬂ": "fl", "ﬀ": "ff",
                          "ﬃ": "ffi", "ﬄ": "ffl"})
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_LINE_END_HYPHEN = re.compile(r"(?<=[a-z])-\n(?=[a-z])")
_OPENS_AFTER = " \t\n([{—–-/"  # a quotation mark after these (or at the start) opens a quotation
_DOUBLE_CLOSERS = {"“": "”", '"': '"'}
_SINGLE_CLOSERS = {"‘": "’", "'": "'"}

_VERB = r"(?:said|says|say|told|tells|added|adds|adding|saying|warned|wrote|stated|explained)"
_NAME_WORD = r"[A-Z][A-Za-z.\-]*(?:['’][A-Z][A-Za-z]+)?(?![\w'’])"
_NAME = rf"{_NAME_WORD}(?:\s+(?:of\s+(?:the\s+)?)?{_NAME_WORD}){{0,7}}"
_LEAD = r"^[\s,;:—–-]*"
_AFTER_VERB_NAME = re.compile(rf"{_LEAD}{_VERB}\s+(?P<name>{_NAME})")
_AFTER_NAME_VERB = re.compile(rf"{_LEAD}(?P<name>{_NAME})(?:\s*\([^)]*\))?(?:,[^,“”\"‘]*,)?\s+(?:also\s+)?{_VERB}\b")
_AFTER_ACCORDING = re.compile(rf"{_LEAD}according\s+to\s+(?P<name>{_NAME})")
_AFTER_UNNAMED = re.compile(rf"{_LEAD}(?:he|she|they|we|it|I|the\s+\w+|an?\s+\w+)\s+(?:also\s+)?{_VERB}\b")
_NAME_THEN_VERB = re.compile(rf"(?P<name>{_NAME})(?:\s*\([^)]*\))?(?:,[^“”\"‘’]*?,)?,?\s+"
                             rf"(?:(?:has|had|also|then)\s+)*{_VERB}\b")
_PRONOUN_THEN_VERB = re.compile(rf"\b(?:he|she|they|we|it)\s+(?:(?:has|had|also|then)\s+)*{_VERB}\b")
_ACCORDING = re.compile(rf"according\s+to\s+(?P<name>{_NAME})")
_ENDS_WITH_VERB = re.compile(rf"\b{_VERB}[,:]?\s*$")
_SENTENCE_START = re.compile(r"[.!?][\"”'’)]*\s+(?=[A-Z“\"‘'])")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")

# Words a capitalised run may start with that name nobody: a sentence's first word, a pronoun.
_NOT_NAMES = frozenset("""A All An And Another Asked As At Both But During Each Everyone For Following From He Her
    His However I If In It Its Many Most Nobody On One Others Our Reacting Responding She Since Some Someone Speaking
    That The Their There These They This Those We When While Writing You""".split())
_NOBODY = frozenset("""A All An Another Both Each Everyone Many Most Nobody One Others Some Someone""".split())
_PRONOUNS = frozenset("He She They We It I You".split()) | _NOBODY  # "he said", "one said": nobody named
_OBJECT_WORDS = frozenset("the a an of to for by with in on at from into about against as".split())


class PageText(Protocol):
    """What is read of a page: its label as printed (None for HTML and text) and its text (see publisher.sources)."""

    @property
    def label(self) -> str | None: ...

    @property
    def text(self) -> str: ...

    @property
    def headings(self) -> tuple[tuple[int, int], ...]: ...


@dataclass(frozen=True)
class Quotation:
    """A passage in quotation marks: its words, the page where it starts, and who the sentence says said it."""

    text: str
    page: str | None
    speaker: str | None


@dataclass
class ExtractReport:
    collection_path: Path
    created: bool
    source_id: str
    added: list[Quotation] = field(default_factory=list)
    added_ids: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Paragraph:
    start: int  # offset in the document's text
    text: str


@dataclass(frozen=True)
class _Piece:
    paragraph: int
    open_at: int  # index of the opening mark in the paragraph
    close_at: int | None  # index of the closing mark; None when the paragraph ends with the quotation open


def default_collection_name(path: Path) -> str:
    """A collection (and source) name from a file's name: ``Casey Review 2023.pdf`` → ``casey-review-2023``."""
    ascii_name = unicodedata.normalize("NFKD", path.stem).encode("ascii", "ignore").decode().lower()
    return "-".join(re.findall(r"[a-z0-9]+", ascii_name))[:64].strip("-") or "extracted"


def word_count(text: str) -> int:
    return sum(1 for token in text.split() if any(c.isalnum() for c in token))


def find_quotations(pages: Sequence[PageText], min_words: int = DEFAULT_MIN_WORDS) -> list[Quotation]:
    """Every passage in quotation marks of at least ``min_words`` words, in reading order, each once."""
    texts, page_starts, headings = [], [], []
    offset = 0
    for page in pages:
        text = page.text
        page_starts.append(offset)
        headings += [(offset + start, offset + end) for start, end in page.headings]
        texts.append(text)
        offset += len(text) + 1
    labels = [page.label for page in pages]
    paragraphs = _paragraphs("\n".join(texts))  # a page break is no paragraph break: a quotation may run over it

    found: list[Quotation] = []
    seen: set[str] = set()
    for passage in _passages(paragraphs):
        first = passage[0]
        start = paragraphs[first.paragraph].start + first.open_at
        if any(low <= start < high for low, high in headings):  # a headline's quotation is the sub-editor's
            continue
        speaker = _speaker(paragraphs, passage)
        for piece in passage:
            paragraph = paragraphs[piece.paragraph]
            words = paragraph.text[piece.open_at + 1: piece.close_at]
            text = _clean_quotation(words)
            key = normalise_for_dedupe(text)
            if word_count(text) < min_words or key in seen:
                continue
            seen.add(key)
            where = paragraph.start + piece.open_at
            found.append(Quotation(text, labels[bisect.bisect_right(page_starts, where) - 1] if labels else None,
                                   speaker))
    return found


def _paragraphs(text: str) -> list[_Paragraph]:
    """The paragraphs of the text (line breaks inside them kept) with their offsets."""
    paragraphs = []
    position = 0
    for match in [*_PARAGRAPH_BREAK.finditer(text), None]:
        end = match.start() if match else len(text)
        chunk = text[position:end]
        if chunk.strip():
            paragraphs.append(_Paragraph(position + len(chunk) - len(chunk.lstrip()), chunk.strip()))
        position = match.end() if match else len(text)
    return paragraphs


def _clean_quotation(words: str) -> str:
    """The quotation on one line, without what a PDF adds (a word hyphenated at a line end, soft hyphens,
    ligatures) nor the comma before "he said"."""
    text = _LINE_END_HYPHEN.sub("", words).translate(_CLEANUP)
    return " ".join(text.split()).strip(" ,;:—–-")


def _passages(paragraphs: list[_Paragraph]) -> list[list[_Piece]]:
    """Quotations, each as its pieces: one per paragraph it runs over."""
    passages: list[list[_Piece]] = []
    open_passage: list[_Piece] | None = None
    for index, paragraph in enumerate(paragraphs):
        pieces = _pieces(index, paragraph.text)
        if open_passage is not None:
            if pieces and pieces[0].open_at == 0:
                open_passage.append(pieces.pop(0))  # the quotation goes on in this paragraph
                if open_passage[-1].close_at is not None:
                    passages.append(open_passage)
                    open_passage = None
            else:
                open_passage = None  # never closed: not a quotation we can trust
        if open_passage is not None:
            continue
        for piece in pieces:
            if piece.close_at is None:
                open_passage = [piece]
            else:
                passages.append([piece])
    return passages


def _pieces(index: int, text: str) -> list[_Piece]:
    pieces = []
    position = 0
    while position < len(text):
        mark = text[position]
        closers = _DOUBLE_CLOSERS if mark in "“\"" else _SINGLE_CLOSERS if mark in "‘'" else None
        if closers and (position == 0 or text[position - 1] in _OPENS_AFTER) and text[position + 1: position + 2] \
                and not text[position + 1].isspace():
            close = _closing_mark(text, position, closers)
            pieces.append(_Piece(index, position, close))
            if close is None:
                break
            position = close + 1
        else:
            position += 1
    return pieces


def _closing_mark(text: str, opening: int, closers: dict[str, str]) -> int | None:
    """The mark closing the quotation opened at ``opening``: its own style first (a curly opening mark closes
    with a curly one), then the other. A mark followed by a letter is an apostrophe (the Met's, I've); one ending a
    plural possessive (the officers' union) is taken for an apostrophe when another closing mark follows."""
    wanted = closers[text[opening]]

    def candidates(style: str) -> Iterator[int]:  # found one at a time: a long page has many
        at = text.find(style, opening + 1)
        while at != -1:
            if not text[at - 1].isspace() and not (at + 1 < len(text) and text[at + 1].isalnum()):
                yield at
            at = text.find(style, at + 1)

    for style in (wanted, next(c for c in closers.values() if c != wanted)):
        found = candidates(style)
        current = next(found, None)
        while current is not None:
            following = next(found, None) if closers is _SINGLE_CLOSERS else None
            possessive = text[current - 1] == "s" and re.match(r" [a-z]", text[current + 1: current + 3])
            if following is None or not possessive:
                return current
            current = following
    return None


SENTENCE_AT_MOST = 2000  # characters looked at either side of a quotation for its speaker: a sentence is shorter


def _speaker(paragraphs: list[_Paragraph], passage: list[_Piece]) -> str | None:
    """Who the sentence around the quotation names as saying it: after it, else before it."""
    last = passage[-1]
    last_text = paragraphs[last.paragraph].text
    assert last.close_at is not None
    quoted = last_text[last.open_at + 1: last.close_at].rstrip()
    if not quoted.endswith("."):  # after "….”" a new sentence starts
        after = last_text[last.close_at + 1: last.close_at + 1 + SENTENCE_AT_MOST]
        end = _SENTENCE_END.search(after)
        after = after[: end.start()] if end else after
        if _AFTER_UNNAMED.match(after):
            return None
        for pattern in (_AFTER_VERB_NAME, _AFTER_NAME_VERB, _AFTER_ACCORDING):
            match = pattern.match(after)
            if match:
                return _as_name(match.group("name"))
    first = passage[0]
    before = paragraphs[first.paragraph].text[max(0, first.open_at - SENTENCE_AT_MOST): first.open_at]
    if not before.strip() and first.paragraph > 0:  # Claire Waxman said:¶“…
        previous = paragraphs[first.paragraph - 1].text.rstrip()
        before = previous if previous.endswith(":") else ""
    starts = list(_SENTENCE_START.finditer(before))
    return _speaker_before(before[starts[-1].end():] if starts else before)


def _speaker_before(sentence: str) -> str | None:
    pronoun = _PRONOUN_THEN_VERB.search(sentence)
    limit = pronoun.start() if pronoun else len(sentence)
    for pattern in (_NAME_THEN_VERB, _ACCORDING):
        position = 0
        while (match := pattern.search(sentence, position)) and match.start() < limit:
            position = match.start() + 1
            name = match.group("name")
            if name.split()[0] in _PRONOUNS:
                return None
            if pattern is _ACCORDING or _starts_a_subject(sentence, match.start()):
                named = _as_name(name)
                if named:
                    return named
    if pronoun is None and _ENDS_WITH_VERB.search(sentence):  # Home Secretary Suella Braverman …, saying, “…
        for match in re.finditer(_NAME, sentence):
            if _starts_a_subject(sentence, match.start()):
                named = _as_name(match.group(0))
                if named:
                    return named
    return None


def _starts_a_subject(sentence: str, start: int) -> bool:
    """Whether a capitalised run starting here could be who speaks: not the middle of a longer run, nor after
    "the", "of", "to" (the object of something)."""
    head = sentence[:start].rstrip()
    if not head or head[-1] in ",;:(—–-\"“":
        return True
    previous = head.split()[-1]
    return not previous[0].isupper() and previous.lower() not in _OBJECT_WORDS


def _as_name(run: str) -> str | None:
    words = run.split()
    while words and words[0] in _NOT_NAMES:
        if words[0] in _PRONOUNS or words[0] != "The":
            return None
        words = words[1:]
    name = " ".join(words).rstrip(".")
    return name or None


# -- the collection -------------------------------------------------------------------------------------------


def _toml_value(value: object) -> str:
    return tomlkit.item(value).as_string()


def _table(header: str, entries: dict[str, object]) -> str:
    return "\n".join([header, *(f"{key} = {_toml_value(value)}" for key, value in entries.items())]) + "\n"


def _document_title(document: SourceDocument) -> str | None:
    for page in document.pages:
        for start, end in page.headings:
            if page.text[start:end].strip():
                return " ".join(page.text[start:end].split())[:200]
        first_line = next((line.strip() for line in page.text.splitlines() if line.strip()), "")
        if first_line:
            return " ".join(first_line.split())[:200] if len(first_line) <= 200 else None
    return None


def _source_file(path: Path, sources_dir: Path) -> tuple[str, str | None]:
    """The ``file`` of the [[sources]] entry, and a note when the file must be copied into sources/ first."""
    try:
        return path.resolve().relative_to(sources_dir.resolve()).as_posix(), None
    except ValueError:
        return path.name, (f"{display_path(path)} is not in {display_path(sources_dir)}: copy it there as "
                           f"{path.name} so that publisher validate and publisher verify can read it")


def extract_quotes(source_path: Path, collection_path: Path, sources_dir: Path, *,
                   min_words: int = DEFAULT_MIN_WORDS) -> ExtractReport:
    """Propose the quotations of ``source_path`` as draft quotes in ``collection_path`` (a new file, or drafts this
    function wrote before) and say what happened."""
    from publisher.sources import read_source

    created = not collection_path.exists()
    existing: Collection | None = None
    existing_text = ""
    if not created:
        existing_text = collection_path.read_text("utf-8")
        existing = collection_from_source(read_toml(collection_path))  # drafts go only into a valid collection
    document = read_source(source_path)
    quotations = find_quotations(document.pages, min_words)
    if not quotations and created:
        raise ConfigError([Problem(source_path, f"no passage in quotation marks of {min_words} words or more",
                                   fix="give a lower --min-words, or check that the file holds the article's text")])

    file_name, note = _source_file(source_path, sources_dir)
    title = _document_title(document)
    known_source = next((s for s in existing.sources if s.file == file_name), None) if existing else None
    taken_source_ids = {s.id for s in existing.sources} if existing else set()
    source_id = known_source.id if known_source else _unique_id(default_collection_name(source_path), taken_source_ids)
    report = ExtractReport(collection_path, created, source_id, notes=[note] if note else [])

    known_texts = {normalise_for_dedupe(q.text): q.id for q in existing.quotes} if existing else {}
    taken_ids = set(known_texts.values())
    blocks = []
    for quotation in quotations:
        key = normalise_for_dedupe(quotation.text)
        if key in known_texts:
            report.already_present.append(known_texts[key])
            continue
        try:
            text = quote_text(quotation.text)
        except Invalid as exc:
            report.notes.append(f'left out "{quotation.text[:60]}…": the quote {exc.message}')
            continue
        quote_id = unique_slug(text, taken_ids)
        taken_ids.add(quote_id)
        known_texts[key] = quote_id
        entries: dict[str, object] = {"id": quote_id, "text": text}
        if quotation.speaker:
            entries["attribution"] = quotation.speaker
        entries["source"] = source_id
        if quotation.page:
            entries["page"] = quotation.page
        entries["draft"] = True
        blocks.append(_table("[[quotes]]", entries))
        report.added.append(quotation)
        report.added_ids.append(quote_id)
    if not blocks:
        return report

    source_entry: dict[str, object] = {"id": source_id, "file": file_name}
    if title:
        source_entry["title"] = title
    new_source = "" if known_source else _table("[[sources]]", source_entry) + "\n"
    if created:
        header = (f"{DRAFTS_MARK} from {source_path.name}: review each one before a campaign uses them.\n"
                  "# Check the words, the speaker (attribution) and the page against the source (publisher verify),\n"
                  "# delete what is not wanted, and delete a quote's draft line once it is reviewed: until then no\n"
                  "# campaign posts it and no pack holds it.\n"
                  "# `publisher help collections` describes every key.\n\n")
        info: dict[str, object] = {"name": collection_path.stem,
                                   "title": f"Drafts from {title or source_path.name}",
                                   "attribution": title or source_path.stem}
        new_text = header + _table("[collection]", info) + "\n" + new_source + "\n".join(blocks)
    else:
        separator = "" if existing_text.endswith("\n\n") else ("\n" if existing_text.endswith("\n") else "\n\n")
        new_text = existing_text + separator + new_source + "\n".join(blocks)
    _write_checked(collection_path, new_text)
    return report


def _unique_id(wanted: str, taken: set[str]) -> str:
    number = 2
    candidate = wanted
    while candidate in taken:
        candidate = f"{wanted[:60]}-{number}"
        number += 1
    return candidate


def _write_checked(path: Path, text: str) -> None:
    """Validate the new file before it is written; write atomically so nothing is half-written."""
    collection_from_source(TomlSource(path, tomllib.loads(text), text))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text.encode("utf-8"))
