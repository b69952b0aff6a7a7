"""Finding a quote in its source, word for word: the engine behind ``publisher verify`` (issue 24).

A campaign loses its credibility with one misquote, so the comparison is strict. Only typography is forgiven:
straight and curly quotes and apostrophes (single and double alike), dash kinds and the spaces around a dash, runs of
white space and line breaks, soft hyphens, a word hyphenated at a line end ("organi-\\nsational"), the ligatures
ﬁ ﬂ ﬀ ﬃ ﬄ, non-breaking and zero-width spaces, and the case of the quote's first letter. A changed, added or dropped
word is a difference, and so is other punctuation (a comma, a full stop, a question mark), with one exception that
quoting conventions allow: the quote's own closing ``.`` ``,`` ``;`` or ``:`` is the writer's, so it may stand where
the source has another mark or goes on ("... make that happen," he said -> "make that happen.").
A ``?`` or ``!`` is never exchanged: it changes what was said.

The editorial marks of quoting are honoured: ``...``, ``…`` or ``[…]`` is an elision (the pieces appear in order, each
gap at most 80 words and within one paragraph: never across a paragraph break or a heading); ``[text]`` standing alone
is the editor's, standing for up to five words of the source or for none; brackets inside a word (``[T]he``) change
only its case.

``read_source`` is slow (a PDF's text layer) and ``verify_quote`` is fast on a document already read: the first call
builds an index (the normalised words with their offsets and pages), kept for the last few documents. A ``differs``
diff reads from the source to the quote: ``organisational → organizational`` means the source has the first word and
the quote the second; ``missing: "not"`` is in the source but not the quote, ``added: "very"`` the reverse.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import itertools
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from publisher.errors import ExitStatus, PublisherError, display_path

MAX_ELISION_WORDS = 80  # the longest gap an elision may hide
MAX_EDITOR_WORDS = 5  # the most source words one [text] may stand for
CONTEXT_WORDS = 6  # words shown either side of a verified passage
CLOSEST_MIN_SCORE = 70.0  # below this (0-100, rapidfuzz) the closest passage is unrelated: not_found
RUNNING_DEPTH = 3  # a PDF's running head or foot is among the first or last lines of a page's text
RUNNING_WORDS = 12  # and short
SHORT_LINE = 0.8  # a PDF line under this share of the page's usual line length ends its paragraph (or is a heading)
TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}


class SourceError(PublisherError):
    """A source file cannot be read: missing, unreadable, encrypted, scanned without text, or of an unknown kind."""

    exit_status = ExitStatus.FILE

    def __init__(self, path: Path, reason: str, fix: str):
        super().__init__(f"{display_path(path)}: {reason}")
        self.path = path
        self.fix = fix


@dataclass(frozen=True)
class Page:
    label: str | None  # the page as printed (a PDF's page label; None for HTML/text)
    text: str  # its text as extracted (paragraph breaks as "\n\n")
    headings: tuple[tuple[int, int], ...] = ()  # (start, end) character spans of headings in text
    breaks: tuple[int, ...] = ()  # where a paragraph ends with no blank line after it (a PDF's), as offsets in text


@dataclass(frozen=True)
class SourceDocument:
    path: Path
    kind: str  # "pdf", "html", "text"
    pages: tuple[Page, ...]


@dataclass(frozen=True)
class Verification:
    status: str  # "verified", "differs", "not_found" ("no_source" is the caller's)
    page: str | None  # the page label where found (verified/differs), else None
    passage: str | None  # verified: the passage with a few words either side; differs: the closest passage
    diff: list[str]  # differs: word-level differences, source → quote


# ---- reading ---------------------------------------------------------------------------------------------------


def read_source(path: Path) -> SourceDocument:
    """The text of a PDF (pages by their printed labels), an HTML page (its main text only) or a text/Markdown file."""
    suffix = path.suffix.lower()
    if suffix not in {".pdf"} | HTML_SUFFIXES | TEXT_SUFFIXES:
        raise SourceError(path, "is not a PDF, HTML, text or Markdown file",
                          "save the source as .pdf, .html, .txt or .md")
    refuse_irregular(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(path, f"cannot be read ({exc.strerror or exc})",
                          "check the file exists under sources/ and is readable") from exc
    if not data.strip():
        raise SourceError(path, "is empty", "save the document's text in it, or correct file in the collection")
    if suffix == ".pdf":
        document = SourceDocument(path, "pdf", _pdf_pages(path, data))
    elif suffix in HTML_SUFFIXES:
        document = SourceDocument(path, "html", (_html_page(path, data),))
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceError(path, "is not UTF-8 text", "save it with UTF-8 encoding") from exc
        document = SourceDocument(path, "text", (_text_page(text, markdown=suffix in {".md", ".markdown"}),))
    if not any(re.search(r"\w", page.text) for page in document.pages):
        raise SourceError(path, "has no words in it", "save the document's text in it, or correct file")
    return document


def refuse_irregular(path: Path) -> None:
    """Raise ``SourceError`` for a folder, a pipe or a device: opening one to read could wait for ever."""
    if path.exists() and not path.is_file():
        raise SourceError(path, "is not a regular file", "put the document itself under sources/")


def _pdf_pages(path: Path, data: bytes) -> tuple[Page, ...]:
    import io
    import logging

    import pypdf
    from pypdf.errors import PdfReadError

    # pypdf logs what it meets in a damaged file as warnings; publisher says what is wrong in one line of its own
    logging.getLogger("pypdf").setLevel(logging.ERROR)

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise SourceError(path, "is encrypted", "save an unencrypted copy of the PDF")
        labels = list(reader.page_labels)
        texts = [unicodedata.normalize("NFC", page.extract_text() or "") for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(path, f"is not a readable PDF ({exc})", "download the PDF again, or save it as text") from exc
    if not any(text.strip() for text in texts):
        raise SourceError(path, "has no text layer (a scanned PDF?)",
                          "run OCR on it first (e.g. ocrmypdf) and use the result")
    pages = zip(labels, _without_running_lines(texts, labels), strict=True)
    return tuple(Page(label, text, *_pdf_paragraphs(text)) for label, text in pages)


def _pdf_paragraphs(text: str) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
    """A PDF page's headings and paragraph ends, which its text layer does not mark, read from its lines: a line
    well short of the page's full lines ends its paragraph when it ends a sentence; a short line that does not
    (no closing punctuation), after a paragraph's end and before a line that starts with a capital, is a heading."""
    lines, offset, spans = text.split("\n"), 0, []
    for line in lines:
        spans.append((offset, offset + len(line)))
        offset += len(line) + 1
    full = sorted(len(line.strip()) for line in lines if len(line.split()) >= 4)
    if not full:
        return (), ()
    short = SHORT_LINE * full[len(full) // 2]
    headings: list[tuple[int, int]] = []
    breaks: list[int] = []
    ended = True  # the page's first line may be a heading
    for at, line in enumerate(lines):
        words = line.strip().rstrip("\"'’”»)]")
        is_short = len(line.strip()) < short
        if (ended and is_short and words and not words.endswith((".", ",", ";", ":", "!", "?"))
                and len(words.split()) <= RUNNING_WORDS and (words[0].isupper() or words[0].isdigit())
                and at + 1 < len(lines) and lines[at + 1].strip()[:1].isupper()):
            headings.append(spans[at])
            breaks += [spans[at][0], spans[at][1]]
            ended = True
            continue
        ended = is_short and words.endswith((".", "!", "?", ":"))
        if ended:
            breaks.append(spans[at][1])
    return tuple(headings), tuple(breaks)


def _without_running_lines(texts: list[str], labels: list[str]) -> list[str]:
    """The pages less their running heads and feet, so a passage can run on from one page to the next: the page's
    number (as printed), and a short line that, its numbers aside, is among the first or last few lines of at least
    a third of the pages (three or more). The text layer may put them anywhere among those lines, so each edge is
    peeled while it shows one."""
    def shape(line: str) -> str:
        return re.sub(r"\d+", "#", " ".join(line.split())).lower()

    pages = [[line for line in text.strip("\n").split("\n")] for text in texts]
    seen: Counter[str] = Counter()
    for lines in pages:
        seen.update({shape(line) for line in lines[:RUNNING_DEPTH] + lines[-RUNNING_DEPTH:]
                     if line.strip() and len(line.split()) <= RUNNING_WORDS})
    wanted = max(3, math.ceil(len(pages) / 3))
    running = {line for line, count in seen.items() if count >= wanted}
    for lines, label in zip(pages, labels, strict=True):
        number = re.compile(rf"\W*(?:page\s+)?{re.escape(label)}\W*", re.IGNORECASE)
        for at in (0, -1):
            for _ in range(RUNNING_DEPTH + 1):
                edge = lines[at].strip() if lines else ""
                if len(lines) > 1 and (not edge or number.fullmatch(edge) or shape(edge) in running):
                    lines.pop(at)
    return ["\n".join(lines) for lines in pages]


def _html_page(path: Path, data: bytes) -> Page:
    from xml.etree import ElementTree

    import trafilatura

    extracted = trafilatura.extract(data, output_format="xml", include_comments=False, include_tables=True,
                                    favor_precision=True)
    if not extracted:
        raise SourceError(path, "has no main text that can be found",
                          "save the article's text as a .txt file and use that as the source")
    main = ElementTree.fromstring(extracted).find("main")
    blocks: list[tuple[str, bool]] = []
    for child in [] if main is None else list(main):
        parts = [e for e in child.iter() if e.tag in {"item", "row"}] if child.tag in {"list", "table"} else [child]
        for element in parts:
            text = unicodedata.normalize("NFC", " ".join("".join(element.itertext()).split()))
            if text:
                blocks.append((text, element.tag == "head"))
    return _page_of_blocks(blocks)


def _text_page(text: str, *, markdown: bool) -> Page:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    if markdown:  # a heading is a block of its own, with or without blank lines around it
        text = re.sub(r"(?m)^(#{1,6}[ \t].*)$", r"\n\1\n", text)
    blocks: list[tuple[str, bool]] = []
    for block in re.split(r"\n[ \t]*\n\s*", text.replace("\r\n", "\n").replace("\r", "\n").strip()):
        if markdown and re.match(r"#{1,6}\s", block):
            blocks.append((block.lstrip("#").strip(), True))
        else:
            blocks.append((block, not markdown and _looks_like_heading(block)))
    return _page_of_blocks(blocks)


def _looks_like_heading(block: str) -> bool:
    """One short line that does not end as a sentence does: a plain-text file's headline or section title."""
    ending = block.rstrip().rstrip("'\"’”»)")
    short = "\n" not in block.strip() and len(block.split()) <= 15
    return short and not ending.endswith((".", "!", "?", ":", ";", ","))


def _page_of_blocks(blocks: list[tuple[str, bool]]) -> Page:
    text, headings, offset = [], [], 0
    for block, is_heading in blocks:
        if is_heading:
            headings.append((offset, offset + len(block)))
        text.append(block)
        offset += len(block) + 2
    return Page(None, "\n\n".join(text), tuple(headings))


# ---- the index: normalised tokens with their offsets -------------------------------------------------------------

_IGNORED = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_TOKEN = re.compile(rf"(?P<word>\w(?:[\w\u00ad]|['’ʼ‘](?=\w)|\u00ad\s*(?=\w))*)|[^\s\w{_IGNORED}]")
_LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
_QUOTES = "'\"‘’‚‛“”„‟′″«»‹›ʼ"
_DASHES = "-‐‑‒–—―−⸺⸻"
_FOLD = str.maketrans({**_LIGATURES, **dict.fromkeys(_QUOTES, "'"), **dict.fromkeys(_DASHES, "-"), "\u00ad": ""})
_EDITOR = "\ue000"  # stands in the quote's text for one [text] group while it is tokenised
_CLOSING = {".", ",", ";", ":"}


@dataclass(frozen=True)
class _Tokens:
    words: list[str]  # normalised token texts (words, and marks one character each)
    starts: list[int]
    ends: list[int]
    is_word: list[bool]


def _tokens(text: str) -> _Tokens:
    found = _Tokens([], [], [], [])
    for match in _TOKEN.finditer(text):
        token = match.group()
        if not token.isascii() or token == "\"":
            token = unicodedata.normalize("NFC", "".join(token.translate(_FOLD).split()))
        found.words.append(token)
        found.starts.append(match.start())
        found.ends.append(match.end())
        found.is_word.append(match.lastgroup == "word")
    return found


class _Index:
    """A document's text as one token list, with where each token is and what may be joined across a line end."""

    def __init__(self, document: SourceDocument):
        self.document = document
        self.page_starts: list[int] = []
        parts, offset, headings = [], 0, []
        self.paragraph_breaks: list[int] = []  # where a blank line parts two paragraphs (a page's end does not)
        for page in document.pages:
            self.page_starts.append(offset)
            parts.append(page.text)
            headings += [(offset + start, offset + end) for start, end in page.headings]
            self.paragraph_breaks += [offset + m.start() for m in re.finditer(r"\n[ \t]*\n", page.text)]
            self.paragraph_breaks += [offset + at for at in page.breaks]
            offset += len(page.text) + 2
        self.text = "\n\n".join(parts)
        tokens = _tokens(self.text)
        self.words, self.starts, self.ends, self.is_word = tokens.words, tokens.starts, tokens.ends, tokens.is_word
        self.lower = [word.lower() for word in self.words]
        self.headings = sorted(headings)
        self.word_count = list(itertools.accumulate(self.is_word, initial=0))  # words before each token
        self.positions: dict[str, list[int]] = {}
        for position, word in enumerate(self.lower):
            self.positions.setdefault(word, []).append(position)
        self.joined: dict[int, str] = {}  # "organi" at i, "-" and a line break, "sational": i → "organisational"
        for i in range(1, len(self.words) - 1):
            if (self.words[i] == "-" and self.is_word[i - 1] and self.is_word[i + 1]
                    and self.ends[i - 1] == self.starts[i] and "\n" in self.text[self.ends[i]:self.starts[i + 1]]):
                self.joined[i - 1] = self.words[i - 1] + self.words[i + 1]
                self.positions.setdefault(self.joined[i - 1].lower(), []).append(i - 1)
        self.paragraph_breaks.sort()
        for positions in self.positions.values():
            positions.sort()
        self.frequency = Counter(self.lower)

    def page_at(self, token: int) -> str | None:
        return self.document.pages[bisect.bisect_right(self.page_starts, self.starts[token]) - 1].label

    def heading_between(self, start: int, end: int) -> str | None:
        """The first heading wholly between two character offsets, if any."""
        at = bisect.bisect_left(self.headings, (start, start))
        if at < len(self.headings) and self.headings[at][1] <= end:
            return " ".join(self.text[self.headings[at][0]:self.headings[at][1]].split())
        return None

    def paragraphs_between(self, start: int, end: int) -> bool:
        """Whether a paragraph break lies between two character offsets."""
        at = bisect.bisect_left(self.paragraph_breaks, start)
        return at < len(self.paragraph_breaks) and self.paragraph_breaks[at] < end

    def passage(self, spans: list[tuple[int, int]], *, context: int = CONTEXT_WORDS) -> str:
        """The source's text over the spans (token ranges), a few words either side; long gaps shown as […]."""
        first, last = spans[0][0], spans[-1][1] - 1
        for _ in range(context):  # whole words either side, with the marks between
            first = next((i for i in range(first - 1, -1, -1) if self.is_word[i]), first)
            last = next((i for i in range(last + 1, len(self.words)) if self.is_word[i]), last)
        pieces, begin = [], first
        for (_, end), (start, _) in itertools.pairwise(spans):
            if self.word_count[start] - self.word_count[end] > MAX_ELISION_WORDS:
                pieces.append(self.text_of(begin, end - 1))
                begin = start
        pieces.append(self.text_of(begin, last))
        return " […] ".join(pieces)

    def view(self, low: int, high: int, joins: set[str]) -> tuple[list[str], list[tuple[int, int]]]:
        """Tokens low..high with a line-end hyphen's parts joined where the joined word is one of joins (lower case);
        with, for each, the first and last source token it covers."""
        words: list[str] = []
        at: list[tuple[int, int]] = []
        i = low
        while i < high:
            joined = self.joined.get(i)
            if joined is not None and joined.lower() in joins and i + 2 < high:
                words.append(joined)
                at.append((i, i + 2))
                i += 3
            else:
                words.append(self.words[i])
                at.append((i, i))
                i += 1
        return words, at

    def text_of(self, first: int, last: int) -> str:
        return " ".join(self.text[self.starts[first]:self.ends[last]].replace("\u00ad", "").split())


@functools.lru_cache(maxsize=8)
def _index_of(document: SourceDocument) -> _Index:
    return _Index(document)


# ---- the quote -------------------------------------------------------------------------------------------------

_ELISION = re.compile(r"\s*(?:\[\s*(?:\.\s*){2}\.\s*\]|\[\s*…\s*\]|(?:\.\s?){2}\.(?!\.)|…)\s*")
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


@dataclass(frozen=True)
class _Item:
    word: str  # normalised; _EDITOR for an editor's [text]
    fold: bool = False  # compared without case: the quote's first letter, or a bracketed letter inside a word


def _parse_quote(text: str) -> list[list[_Item]]:
    """The quote's pieces between elisions, each a list of tokens; an editor's [text] at a piece's edge is dropped."""
    pieces = []
    for raw in _ELISION.split(unicodedata.normalize("NFC", text).strip()):
        folded_spans, plain = [], ""
        last = 0
        for match in _BRACKETS.finditer(raw):
            plain += raw[last:match.start()]
            if not match.group(1).strip():  # "[]" stands for nothing the source has: text that must be there
                plain += match.group(0)
                last = match.end()
                continue
            before, after = raw[match.start() - 1:match.start()], raw[match.end():match.end() + 1]
            if (before and before.isalnum()) or (after and after.isalnum()):  # [T]he: a change of case
                folded_spans.append((len(plain), len(plain) + len(match.group(1))))
                plain += match.group(1)
            else:
                plain += f" {_EDITOR} "
            last = match.end()
        plain += raw[last:]
        tokens = _tokens(plain)
        items = [_Item(word, any(s <= start < e for s, e in folded_spans))
                 for word, start in zip(tokens.words, tokens.starts, strict=True)]
        while items and items[0].word == _EDITOR:
            items.pop(0)
        while items and items[-1].word == _EDITOR:
            items.pop()
        if items:
            pieces.append(items)
    if pieces:
        first = pieces[0][0]
        pieces[0][0] = _Item(first.word, True)
    return pieces


# ---- matching --------------------------------------------------------------------------------------------------


def _same(item: _Item, word: str) -> bool:
    return item.word == word or (item.fold and item.word.lower() == word.lower())


def _match_piece(index: _Index, items: list[_Item], k: int, i: int, last_piece: bool) -> int | None:
    """The token after the piece matched from items[k] at token i, or None."""
    words = index.words
    while k < len(items):
        item = items[k]
        if item.word == _EDITOR:
            j, taken = i, 0
            while True:
                end = _match_piece(index, items, k + 1, j, last_piece)
                if end is not None:
                    return end
                if j >= len(words) or taken == MAX_EDITOR_WORDS:
                    return None
                taken += index.is_word[j]
                j += 1
        if i < len(words) and _same(item, words[i]):
            i += 1
        elif i in index.joined and _same(item, index.joined[i]):
            i += 3
        elif last_piece and k == len(items) - 1 and item.word in _CLOSING:
            return i  # the quote's closing punctuation is its own: where it ends, the source may go on
        else:
            return None
        k += 1
    return i


def _find(index: _Index, pieces: list[list[_Item]], *, strict: bool,
          page: str | None = None) -> list[tuple[int, int]] | None:
    """Token spans of the pieces in order (elision gaps within the rules when strict), or None; with ``page``,
    only a match that starts on that page."""
    limit = MAX_ELISION_WORDS if strict else 100_000
    failed: set[tuple[int, int]] = set()  # (token, piece) from which the rest cannot be matched: tried once each

    def rest(at: int, p: int) -> list[tuple[int, int]] | None:
        if p == len(pieces):
            return []
        if (at, p) in failed:
            return None
        positions = index.positions.get(pieces[p][0].word.lower(), [])
        for start in positions[bisect.bisect_left(positions, at):]:
            if index.word_count[start] - index.word_count[at] > limit:
                break
            if strict and at > 0 and index.paragraphs_between(index.ends[at - 1], index.starts[start]):
                break  # past the paragraph the elision began in (a heading is a paragraph too)
            end = _match_piece(index, pieces[p], 0, start, p == len(pieces) - 1)
            if end is not None:
                if (following := rest(end, p + 1)) is not None:
                    return [(start, end), *following]
                if not strict:
                    break  # with no gap limit, a later start leaves the rest less room, never more
        failed.add((at, p))
        return None

    for start in index.positions.get(pieces[0][0].word.lower(), []):
        if page is not None and index.page_at(start) != page:
            continue
        end = _match_piece(index, pieces[0], 0, start, len(pieces) == 1)
        if end is not None:
            if (following := rest(end, 1)) is not None:
                return [(start, end), *following]
            if not strict:
                break
    return None


def verify_quote(text: str, document: SourceDocument, page: str | None = None) -> Verification:
    """Whether the quote is in the document as written (see the module's docstring for what is forgiven); with
    ``page`` (the page a quote claims), the passage on that page where the words are on more than one."""
    pieces = _parse_quote(text)
    if not pieces:
        return Verification("not_found", None, None, [])
    index = _index_of(document)
    spans = (_find(index, pieces, strict=True, page=page) if page is not None else None) or \
        _find(index, pieces, strict=True)
    if spans is not None:
        return Verification("verified", index.page_at(spans[0][0]), index.passage(spans), [])
    spans = _find(index, pieces, strict=False)
    if spans is not None:
        return Verification("differs", index.page_at(spans[0][0]), index.passage(spans, context=0),
                            _elision_faults(index, spans))
    return _closest(index, [item for piece in pieces for item in piece if item.word != _EDITOR])


def _elision_faults(index: _Index, spans: list[tuple[int, int]]) -> list[str]:
    faults = []
    for (_, end), (start, _) in itertools.pairwise(spans):
        hidden = index.word_count[start] - index.word_count[end]
        if hidden > MAX_ELISION_WORDS:
            faults.append(f"elision hides {hidden} words (at most {MAX_ELISION_WORDS})")
        if heading := index.heading_between(index.ends[end - 1], index.starts[start]):
            faults.append(f'elision crosses the heading "{heading}"')
        elif index.paragraphs_between(index.ends[end - 1], index.starts[start]):
            faults.append("elision joins two paragraphs")
    return faults


def _closest(index: _Index, items: list[_Item]) -> Verification:
    """The passage most like the quote, with the words that differ, or not_found when nothing is close."""
    from rapidfuzz import fuzz
    from rapidfuzz.distance import Indel, Levenshtein

    quote = [item.word for item in items]
    if quote[-1] in _CLOSING and len(quote) > 1:
        quote.pop()  # the quote's closing punctuation is its own
    size, lower = len(quote), [word.lower() for word in quote]
    weights = {word: 1 / (1 + math.log(index.frequency[word] or 1)) for word in lower}
    totals = list(itertools.accumulate((weights.get(word, 0.0) for word in index.lower), initial=0.0))
    scores = [totals[min(i + size, len(index.words))] - totals[i] for i in range(len(index.words))]
    best: tuple[float, int, int] = (0.0, 0, 0)
    tried: list[int] = []
    for start in heapq.nlargest(200, range(len(scores)), key=scores.__getitem__):
        if len(tried) == 5:
            break
        if any(abs(start - other) < size for other in tried):
            continue
        tried.append(start)
        low, high = max(0, start - size // 2), min(len(index.words), start + size + size // 2)
        score = fuzz.partial_ratio(lower, index.lower[low:high]) if high - low >= size else 0.0
        if score > best[0]:
            best = (score, low, high)
    _, low, high = best
    view, at = index.view(low, high, set(lower))  # the region with line-end hyphens joined where the quote joins them
    equal = [op for op in Indel.opcodes([word.lower() for word in view], lower) if op.tag == "equal"]
    if not equal:
        return Verification("not_found", None, None, [])
    first = max(0, equal[0].src_start - equal[0].dest_start)
    end = min(len(view), equal[-1].src_end + size - equal[-1].dest_end)
    passage = view[first:end]
    if fuzz.ratio(lower, [word.lower() for word in passage]) < CLOSEST_MIN_SCORE:
        return Verification("not_found", None, None, [])
    if quote[0].lower() == passage[0].lower():
        quote = [passage[0], *quote[1:]]
    diff = []
    for op in Levenshtein.opcodes(passage, quote):
        was, now = _joined(passage[op.src_start:op.src_end]), _joined(quote[op.dest_start:op.dest_end])
        if op.tag == "replace":
            diff.append(f"{was} → {now}")
        elif op.tag == "delete":
            diff.append(f'missing: "{was}"')
        elif op.tag == "insert":
            diff.append(f'added: "{now}"')
    # words that agree where the whole does not: the difference is in marks the comparison above leaves out
    return Verification("differs", index.page_at(at[first][0]), index.text_of(at[first][0], at[end - 1][1]),
                        diff or ["the punctuation differs"])


def _joined(tokens: list[str]) -> str:
    return re.sub(r" ([,.;:!?)])", r"\1", " ".join(tokens))
