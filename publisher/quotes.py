"""Quote collections: ``quotes/<name>.toml`` read into validated, immutable models (see docs/collections.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError

from publisher.errors import ConfigError, Problem
from publisher.schema import (
    SLUG_RE,
    BlueskyHandleOrEmpty,
    CleanText,
    Hashtag,
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


class Quote(StrictModel):
    id: Slug
    text: QuoteText
    highlight: list[Text] = Field(default_factory=list)
    hashtags: list[Hashtag] = Field(default_factory=list)
    mentions: list[Mention] = Field(default_factory=list)
    alt: CleanText = ""
    attribution: CleanText | None = None
    source_url: CleanText | None = None


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


class Collection(StrictModel):
    """A validated collection file: the ``[collection]`` table and its ``[[quotes]]``."""

    collection: CollectionInfo
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
        return quote.attribution or self.collection.attribution


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
        for h_index, phrase in enumerate(quote.highlight):
            if phrase not in quote.text:
                problems.append(source.problem(("quotes", index, "highlight", h_index),
                                               f'"{phrase}" does not occur in the quote text',
                                               "copy the phrase exactly from text"))
    return problems
