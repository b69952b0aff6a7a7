"""Quote collections: ``quotes/<name>.toml`` read into validated, immutable models (see docs/collections.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PrivateAttr, ValidationError

from publisher.errors import ConfigError, Problem
from publisher.schema import (
    SLUG_RE,
    BlueskyHandleOrEmpty,
    CleanText,
    Hashtag,
    Invalid,
    MastodonHandleOrEmpty,
    Mention,
    QuoteText,
    Slug,
    StrictModel,
    Text,
    problems_from,
)
from publisher.text import normalise_for_dedupe
from publisher.tomlsource import TomlSource, in_file_order, read_toml

SOURCE_FIELD = re.compile(r"\{(source|page)\}")
SOURCE_KINDS = (".pdf", ".html", ".htm", ".txt", ".md")  # what publisher verify can read


def _source_file(value: str) -> str:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\\" in value:
        raise Invalid(f'"{value}" is not a path inside the sources folder',
                      'give it relative to sources/, e.g. "casey-review.pdf"')
    if path.suffix.lower() not in SOURCE_KINDS:
        raise Invalid(f'"{value}" is not a PDF, HTML, text or Markdown file',
                      "publisher verify reads " + ", ".join(SOURCE_KINDS))
    return value


def _page_label(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise Invalid(f"page {value} is no page", 'write the page as printed on it, e.g. 12 or "xii"')
        return str(value)
    return value


# A page as printed on it: 12, or "xii"
PageLabel = Annotated[CleanText, BeforeValidator(_page_label), Field(min_length=1, max_length=20)]


class Source(StrictModel):
    """A ``[[sources]]`` table: a document quotes are taken from, in the project's sources/ folder."""

    id: Slug
    file: Annotated[CleanText, AfterValidator(_source_file)]
    title: Text | None = None
    url: CleanText | None = None
    published: date | None = None


class Quote(StrictModel):
    id: Slug
    text: QuoteText
    highlight: list[Text] = Field(default_factory=list)
    hashtags: list[Hashtag] = Field(default_factory=list)
    mentions: list[Mention] = Field(default_factory=list)
    alt: CleanText = ""
    attribution: CleanText | None = None
    source_url: CleanText | None = None
    source: Slug | None = None  # the [[sources]] id it is taken from (default: the collection's source)
    page: PageLabel | None = None  # the page it is on, as printed (found by publisher verify when absent)
    draft: bool = False  # proposed (publisher extract), not reviewed yet: never queued or packed


class CollectionInfo(StrictModel):
    name: Slug
    title: Text
    attribution: Text
    hashtags: list[Hashtag] = Field(default_factory=list)
    mentions: list[Mention] = Field(default_factory=list)
    theme: Slug | None = None
    source_url: CleanText | None = None
    language: str = "en"
    bluesky_handles: dict[Mention, BlueskyHandleOrEmpty] = Field(default_factory=dict)
    mastodon_handles: dict[Mention, MastodonHandleOrEmpty] = Field(default_factory=dict)
    source: Slug | None = None  # the [[sources]] id its quotes are taken from, unless a quote names another


class Collection(StrictModel):
    """A validated collection file: the ``[collection]`` table and its ``[[quotes]]``."""

    collection: CollectionInfo
    sources: list[Source] = Field(default_factory=list)
    quotes: list[Quote] = Field(min_length=1)
    _pages: dict[str, str] = PrivateAttr(default_factory=dict)  # verified pages (see with_pages)

    @property
    def name(self) -> str:
        return self.collection.name

    def without_drafts(self) -> Collection:
        """The collection less its draft quotes (``draft = true``): what campaigns and packs may use. May leave
        no quote: the caller says so."""
        if not any(q.draft for q in self.quotes):
            return self
        return self.model_copy(update={"quotes": [q for q in self.quotes if not q.draft]})

    @property
    def drafts(self) -> list[Quote]:
        return [q for q in self.quotes if q.draft]

    def quote(self, quote_id: str) -> Quote | None:
        return next((q for q in self.quotes if q.id == quote_id), None)

    def hashtags_for(self, quote: Quote) -> list[str]:
        """The collection's hashtags then the quote's own, without case-insensitive repeats."""
        seen: set[str] = set()
        tags = []
        for tag in [*self.collection.hashtags, *quote.hashtags]:
            if tag.casefold() not in seen:
                seen.add(tag.casefold())
                tags.append(tag)
        return tags

    def mentions_for(self, quote: Quote | None) -> list[str]:
        """The collection's @mentions and the quote's, once each, in order (written as X handles)."""
        return list(dict.fromkeys([*self.collection.mentions, *(quote.mentions if quote else [])]))

    def attribution_for(self, quote: Quote) -> str:
        """The quote's attribution (or the collection's), its ``{source}`` and ``{page}`` filled in
        (see ``with_source``)."""
        return self.with_source(quote.attribution or self.collection.attribution, quote)

    def source_values(self, quote: Quote) -> dict[str, str | None]:
        """``{source}`` (its source's title) and ``{page}`` (the page ``publisher verify`` found it on, as
        printed); None where not known: a page is known only once the quote is verified there."""
        source = self.source_for(quote)
        return {"source": source.title if source is not None else None, "page": self._pages.get(quote.id)}

    def with_pages(self, pages: dict[str, str]) -> Collection:
        """This collection knowing the verified page of each quote (quote id → page as printed)."""
        copy = self.model_copy()
        copy._pages = dict(pages)
        return copy

    def with_source(self, template: str, quote: Quote) -> str:
        """``template`` with ``{source}`` and ``{page}`` filled in, and each part holding one not known for this
        quote left out (see ``without_unknown``)."""
        values = self.source_values(quote)
        kept = self.without_unknown(template, quote)
        return SOURCE_FIELD.sub(lambda m: str(values[m.group(1)]), kept)

    def without_unknown(self, template: str, quote: Quote) -> str:
        """``template`` less each part that holds a ``{source}`` or ``{page}`` not known for this quote, with the
        separator before it: a part is a bracketed group, or a stretch between commas, semicolons, spaced dashes
        (— – | ·) or line breaks. "Baroness Louise Casey, {source}, p. {page}" is "Baroness Louise Casey, {source}"
        for a quote without a page, and "Casey ({source}, p. {page})" is "Casey ({source})": never "p. " alone."""
        unknown = {name for name, value in self.source_values(quote).items() if value is None}
        return _without_parts(template, unknown) if unknown and SOURCE_FIELD.search(template) else template

    def general_attribution(self) -> str:
        """The collection's attribution for all its quotes at once (a pack's README): ``{source}`` the collection's
        source's title, and the parts holding what differs by quote (``{page}``) left out."""
        source = next((s for s in self.sources if s.id == self.collection.source), None)
        title = source.title if source is not None else None
        template = _without_parts(self.collection.attribution, {"page"} | ({"source"} if title is None else set()))
        return SOURCE_FIELD.sub(lambda m: title or "", template)

    def source_for(self, quote: Quote) -> Source | None:
        """The source a quote is taken from: its own, else the collection's; None when it names none."""
        wanted = quote.source or self.collection.source
        return next((s for s in self.sources if s.id == wanted), None) if wanted else None


_PART_SEPARATOR = re.compile(r"[,;:][ \t]+|[ \t]+[-—–|·/][ \t]+|[ \t]*\n+")
_INNERMOST_BRACKETS = re.compile(r"([ \t]*)([(\[])([^()\[\]]*)([)\]])")
# {text} and the like with the quote marks around it, or a bracketed group already settled: what stays of a part
_OTHER_FIELD = re.compile(r"([“‘\"'«]*\{(?!(?:source|page)\})[^{}]*\}[”’\"'»]*|\ue000\d+\ue000)")
_EMPTIED = "\ue001"  # where a bracketed group was left out, so the group around it can see it is empty


def _without_parts(template: str, unknown: set[str]) -> str:
    """The template less each part naming one of the unknown fields (see ``Collection.without_unknown``)."""
    groups: list[str] = []  # bracketed groups already settled, each standing in the text as \ue000 and its number

    def expanded(text: str) -> str:
        return re.sub("\ue000(\\d+)\ue000", lambda m: expanded(groups[int(m.group(1))]), text)

    def names_unknown(text: str) -> bool:
        return any(name in unknown for name in SOURCE_FIELD.findall(expanded(text)))

    def settle(match: re.Match[str]) -> str:
        space, opening, inner, closing = match.groups()
        if names_unknown(inner):
            inner = _kept_parts(inner, names_unknown)
        if _EMPTIED in inner and not re.sub(r"[\W_]", "", inner.replace(_EMPTIED, "")):
            return _EMPTIED  # a group whose groups were all left out: "((p. {page}))"
        if not inner.strip():
            return _EMPTIED  # the whole group, with the space before it
        groups.append(f"{space}{opening}{inner.replace(_EMPTIED, '')}{closing}")
        return f"\ue000{len(groups) - 1}\ue000"

    while (settled := _INNERMOST_BRACKETS.sub(settle, template)) != template:  # innermost first, outwards
        template = settled
    return expanded(_kept_parts(template.replace(_EMPTIED, ""), names_unknown))


def _kept_parts(text: str, names_unknown: Callable[[str], bool]) -> str:
    """The text's parts (between separators) that name no unknown field, with the separators before them. A part
    that also holds another field ("“{text}” p. {page}") loses only the stretch after that field: the quote is
    never left out."""
    parts: list[tuple[str, str]] = []
    start, separator = 0, ""
    for match in _PART_SEPARATOR.finditer(text):
        parts.append((separator, text[start:match.start()]))
        separator, start = match.group(), match.end()
    parts.append((separator, text[start:]))
    kept = []
    for separator, part in parts:
        if names_unknown(part) and re.search(r"\{(?!(?:source|page)\})[^{}]*\}", part):
            pieces = _OTHER_FIELD.split(part)  # stretches of text, and the other fields between them
            part = "".join(piece for index, piece in enumerate(pieces) if index % 2 or not names_unknown(piece))
        elif names_unknown(part):
            continue
        kept.append((separator, part))
    return "".join((separator if index else "") + part for index, (separator, part) in enumerate(kept)).strip(" \t")


def load_collection(path: Path) -> Collection:
    """Read and validate one collection file; raises ConfigError listing every problem in it."""
    return collection_from_source(read_toml(path))


def collection_from_source(source: TomlSource) -> Collection:
    collection: Collection | None = None
    problems: list[Problem] = []
    try:
        collection = Collection.model_validate(source.data)
    except ValidationError as exc:
        problems = problems_from(exc, source, Collection)
    # What only the whole file can say is checked even where some values are refused (a quote without an id still
    # has its highlights checked), but a key is reported once: by the first check that refuses it.
    refused = {problem.key for problem in problems}
    problems += [problem for problem in _semantic_problems(source) if problem.key not in refused]
    if problems or collection is None:
        raise ConfigError(in_file_order(problems))
    return collection


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _tables(value: object) -> list[tuple[int, dict[str, Any]]]:
    """The tables of an array of tables, with their indexes; what is not a table is the schema's to report."""
    return [(index, item) for index, item in enumerate(value) if isinstance(item, dict)] \
        if isinstance(value, list) else []


def _text(table: dict[str, Any], key: str) -> str | None:
    value = table.get(key)
    return value if isinstance(value, str) else None


def _semantic_problems(source: TomlSource) -> list[Problem]:
    """What the types cannot say: unique ids and texts, highlights that occur, a name matching the file. Read from
    the file's data, not the model, so that a value of the wrong type elsewhere hides nothing here."""
    problems = []
    info = _table(source.data.get("collection"))
    sources, quotes = _tables(source.data.get("sources")), _tables(source.data.get("quotes"))
    name, expected_name = _text(info, "name"), source.path.stem
    if not SLUG_RE.fullmatch(expected_name):
        target = f"{name}.toml" if name and SLUG_RE.fullmatch(name) else "the collection's name and .toml"
        problems.append(Problem(source.path, f'"{source.path.name}" is not a collection file name',
                                fix=f"rename it to {target}: lowercase letters, digits and hyphens, as the "
                                    "collection's name"))
    elif name is not None and name != expected_name:
        problems.append(source.problem(("collection", "name"), f'"{name}" does not match the file name',
                                       f'write name = "{expected_name}" or rename the file'))
    problems += _duplicate_ids(source, "sources", [(index, _text(entry, "id")) for index, entry in sources], "source")
    problems += _duplicate_ids(source, "quotes", [(index, _text(quote, "id")) for index, quote in quotes], "quote")
    known = [found for _, entry in sources if (found := _text(entry, "id")) is not None]
    default_source = _text(info, "source")
    if default_source and default_source not in known:
        problems.append(source.problem(("collection", "source"), f'no source "{default_source}"',
                                       _source_fix(default_source, known)))
    if (attribution := _text(info, "attribution")) is not None:
        problems += _template_problems(source, ("collection", "attribution"), attribution)
    first_by_text: dict[str, int] = {}
    for index, quote in quotes:
        text = _text(quote, "text")
        if text is not None:
            normalised = normalise_for_dedupe(text)
            if normalised in first_by_text:
                earlier = first_by_text[normalised]
                named = _text(dict(quotes)[earlier], "id")
                problems.append(source.problem(("quotes", index, "text"), "the same text as an earlier quote",
                                               f'"{named}"; remove one' if named is not None else
                                               f"line {source.line_of(('quotes', earlier))}; remove one"))
            first_by_text.setdefault(normalised, index)
        own_source = _text(quote, "source")
        if own_source and own_source not in known:
            problems.append(source.problem(("quotes", index, "source"), f'no source "{own_source}"',
                                           _source_fix(own_source, known)))
        if quote.get("page") and not (quote.get("source") or info.get("source")):
            problems.append(source.problem(("quotes", index, "page"), "a page, but no source to find it in",
                                           'name its source = "ID", a [[sources]] id, or set the collection\'s'))
        if own_attribution := _text(quote, "attribution"):
            problems += _template_problems(source, ("quotes", index, "attribution"), own_attribution)
        highlight = quote.get("highlight")
        for h_index, phrase in enumerate(highlight if isinstance(highlight, list) else []):
            if isinstance(phrase, str) and text is not None and phrase not in text:
                problems.append(source.problem(("quotes", index, "highlight", h_index),
                                               f'"{phrase}" does not occur in the quote text',
                                               "copy the phrase exactly from text"))
    return problems


def _duplicate_ids(source: TomlSource, table: str, ids: list[tuple[int, str | None]], noun: str) -> list[Problem]:
    """An id a table uses again, at the repeat, naming the line of the first that used it (an index would be
    counted from 0 in the key and from 1 by a reader: a line is what both see)."""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for index, found in ids:
        if found is None:
            continue  # no id, or not text: the schema says so
        if found in first:
            label = "duplicate id" if noun == "quote" else f"duplicate {noun} id"
            problems.append(source.problem((table, index, "id"), f'{label} "{found}"',
                                           f"line {source.line_of((table, first[found], 'id'))} already uses it; "
                                           "ids must be unique"))
        first.setdefault(found, index)
    return problems


def _template_problems(source: TomlSource, key: tuple[str | int, ...], template: str) -> list[Problem]:
    """An attribution's {fields} are {source} and {page}, and some part of it stands without them."""
    from publisher.schema import suggest

    problems = []
    for name in re.findall(r"\{([^{}]*)\}", template):
        if name not in ("source", "page"):
            close = "page" if suggest(name, ["page"]) else "source" if suggest(name, ["source"]) else None
            problems.append(source.problem(key, f"{{{name}}} is not something an attribution can hold",
                                           f"did you mean {{{close}}}?" if close else
                                           "use {source} for the source's title and {page} for its page"))
    if re.search(r"[{}]", re.sub(r"\{[^{}]*\}", "", template)):
        problems.append(source.problem(key, "has a { or } without its pair",
                                       "write {source} or {page} whole, or leave the braces out"))
    elif SOURCE_FIELD.search(template) and not _without_parts(template, {"source", "page"}).strip():
        problems.append(source.problem(key, "would be empty for a quote whose source or page is not known",
                                       'keep a part without {source} and {page}, e.g. "Baroness Louise Casey, '
                                       '{source}, p. {page}"'))
    return problems


def _source_fix(wanted: str, known: list[str]) -> str:
    from publisher.schema import suggest

    return suggest(wanted, known) or ("sources: " + ", ".join(known) if known else
                                      'add a [[sources]] table with id = "' + wanted + '" and its file')
