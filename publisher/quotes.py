"""Quote collections: ``quotes/<name>.toml`` read into validated, immutable models (see docs/collections.md)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError

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
from publisher.tomlsource import TomlSource, read_toml

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

    @property
    def name(self) -> str:
        return self.collection.name

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
        """``{source}`` (its source's title) and ``{page}`` (as printed) of a quote; None where not known."""
        source = self.source_for(quote)
        return {"source": source.title if source is not None else None, "page": quote.page}

    def with_source(self, template: str, quote: Quote) -> str:
        """``template`` with ``{source}`` and ``{page}`` filled in. A part of it between commas (or semicolons)
        that holds one of them not known for this quote is left out whole, its comma with it: "Baroness Louise
        Casey, {source}, p. {page}" is "Baroness Louise Casey, Baroness Casey Review" for a quote without a page,
        never "... p. "."""
        if not SOURCE_FIELD.search(template):
            return template
        values = self.source_values(quote)
        tokens = re.split(r"((?<=[,;])[ \t]+|\n+)", template)  # pieces, with the separators between them
        kept: list[list[str]] = []  # [separator before it, piece]
        for index in range(0, len(tokens), 2):
            piece = tokens[index]
            names = set(SOURCE_FIELD.findall(piece))
            if any(values[name] is None for name in names):
                ends_line = index + 1 >= len(tokens) or tokens[index + 1].startswith("\n")
                if kept and ends_line:  # "Casey, p. {page}" at a line's end: the comma before it goes too
                    kept[-1][1] = kept[-1][1].rstrip(",;")
                continue
            for name in names:
                piece = piece.replace("{" + name + "}", str(values[name]))
            kept.append([tokens[index - 1] if index and kept else "", piece])
        return "".join(separator + piece for separator, piece in kept).strip(" ,;")

    def source_for(self, quote: Quote) -> Source | None:
        """The source a quote is taken from: its own, else the collection's; None when it names none."""
        wanted = quote.source or self.collection.source
        return next((s for s in self.sources if s.id == wanted), None) if wanted else None


def load_collection(path: Path) -> Collection:
    """Read and validate one collection file; raises ConfigError listing every problem in it."""
    return collection_from_source(read_toml(path))


def collection_from_source(source: TomlSource) -> Collection:
    try:
        collection = Collection.model_validate(source.data)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc, source, Collection)) from None
    problems = _semantic_problems(source, collection)
    if problems:
        raise ConfigError(problems)
    return collection


def _semantic_problems(source: TomlSource, collection: Collection) -> list[Problem]:
    """What the types cannot say: unique ids and texts, highlights that occur, a name matching the file."""
    problems = []
    expected_name = source.path.stem
    if not SLUG_RE.fullmatch(expected_name):
        problems.append(Problem(source.path, f'"{source.path.name}" is not a collection file name',
                                fix=f"rename it to {collection.collection.name}.toml: lowercase letters, digits and "
                                    "hyphens, as the collection's name"))
    elif collection.collection.name != expected_name:
        problems.append(source.problem(("collection", "name"),
                                       f'"{collection.collection.name}" does not match the file name',
                                       f'write name = "{expected_name}" or rename the file'))
    source_ids: dict[str, int] = {}
    for index, entry in enumerate(collection.sources):
        if entry.id in source_ids:
            problems.append(source.problem(("sources", index, "id"), f'duplicate source id "{entry.id}"',
                                           f"source {source_ids[entry.id] + 1} already uses it; ids must be unique"))
        source_ids.setdefault(entry.id, index)
    known = list(source_ids)
    if collection.collection.source and collection.collection.source not in source_ids:
        problems.append(source.problem(("collection", "source"), f'no source "{collection.collection.source}"',
                                       _source_fix(collection.collection.source, known)))
    first_by_id: dict[str, int] = {}
    first_by_text: dict[str, int] = {}
    for index, quote in enumerate(collection.quotes):
        if quote.id in first_by_id:
            problems.append(source.problem(("quotes", index, "id"), f'duplicate id "{quote.id}"',
                                           f"quote {first_by_id[quote.id] + 1} already uses it; ids must be unique"))
        first_by_id.setdefault(quote.id, index)
        normalised = normalise_for_dedupe(quote.text)
        if normalised in first_by_text:
            problems.append(source.problem(("quotes", index, "text"), "the same text as an earlier quote",
                                           f'"{collection.quotes[first_by_text[normalised]].id}"; remove one'))
        first_by_text.setdefault(normalised, index)
        if quote.source and quote.source not in source_ids:
            problems.append(source.problem(("quotes", index, "source"), f'no source "{quote.source}"',
                                           _source_fix(quote.source, known)))
        if quote.page and not (quote.source or collection.collection.source):
            problems.append(source.problem(("quotes", index, "page"), "a page, but no source to find it in",
                                           'name its source = "ID", a [[sources]] id, or set the collection\'s'))
        for h_index, phrase in enumerate(quote.highlight):
            if phrase not in quote.text:
                problems.append(source.problem(("quotes", index, "highlight", h_index),
                                               f'"{phrase}" does not occur in the quote text',
                                               "copy the phrase exactly from text"))
    return problems


def _source_fix(wanted: str, known: list[str]) -> str:
    from publisher.schema import suggest

    return suggest(wanted, known) or ("sources: " + ", ".join(known) if known else
                                      'add a [[sources]] table with id = "' + wanted + '" and its file')
