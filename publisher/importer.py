"""``publisher import``: add quotes from tweet-style lines (Markdown lists and block quotes too) or CSV to a
collection file, keeping what is there.

Existing content, order and comments stay byte-for-byte: new quotes are appended as ``[[quotes]]`` tables.
Re-importing the same file adds nothing (quotes are matched on normalised text).
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit

from publisher.errors import BadArgument, ConfigError, Problem, display_path
from publisher.fileio import write_atomically
from publisher.quotes import Collection, collection_from_source
from publisher.richtext import segments
from publisher.schema import HASHTAG_RE, MAX_HASHTAG, SLUG_RE, X_HANDLE_RE, Invalid, clean_text, not_blank, quote_text
from publisher.text import normalise_for_dedupe, unique_slug
from publisher.tomlsource import TomlSource, read_toml

_OPENING_QUOTES = {'"': '"', "“": "”"}


@dataclass
class SourceQuote:
    """One quote as read from the import file, before it becomes a collection entry."""

    line: int
    text: str
    hashtags: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    id: str | None = None
    attribution: str | None = None
    tag_lines: list[int] = field(default_factory=list)  # lines holding only more tags for this quote


@dataclass
class ImportReport:
    collection_path: Path
    created: bool
    added: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_import_file(path: Path) -> list[SourceQuote]:
    """Parse a tweet-style text file or a CSV file."""
    try:
        if path.exists() and not path.is_file():
            raise ConfigError([Problem(path, "is not a regular file", fix="give the file to import")])
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError([Problem(path, "file not found", fix="check the name and the folder")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(path, "is a folder", fix="give the file to import")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(path, f"invalid UTF-8 at byte {exc.start}", fix="save the file as UTF-8")]) from None
    quotes = _read_csv(path, text) if path.suffix.lower() == ".csv" else _read_tweet_lines(path, text)
    problems = [problem for quote in quotes for problem in _text_problems(path, quote)]
    if problems:
        raise ConfigError(problems)
    if not quotes:
        raise ConfigError([Problem(path, "no quotes found",
                                   fix='write one "quote" #tag per line, or CSV with a text column')])
    return quotes


def _text_problems(path: Path, quote: SourceQuote) -> list[Problem]:
    """What the collection would refuse in a quote's text or attribution, told on the import file's own line."""
    problems = []
    for what, value in (("the quote", quote.text), ("the attribution", quote.attribution)):
        if value is None:
            continue
        try:
            (quote_text if what == "the quote" else clean_text)(value)
        except Invalid as exc:
            problems.append(Problem(path, f"{what} {exc.message}", line=quote.line, fix=exc.fix))
    return problems


def _split_tags(path: Path, line: int, tokens: list[str], problems: list[Problem],
                fix: str = "only hashtags and mentions may follow the closing quote") -> tuple[list[str], list[str]]:
    hashtags, mentions = [], []
    for token in tokens:
        if token.startswith("#") and HASHTAG_RE.fullmatch(token[1:]):
            hashtags.append(token[1:])
        elif X_HANDLE_RE.fullmatch(token):
            mentions.append(token)
        else:
            problems.append(Problem(path, f'"{token}" is neither a #hashtag nor an @mention', line=line, fix=fix))
    return hashtags, mentions


def words_as_said(text: str) -> tuple[str, list[str]]:
    """A tweet-style quote's words without the ``#`` of its hashtags, and those hashtags: a card shows what was
    said, and the tags go with the post. A link keeps its ``#`` (``https://x.org/#top`` is no hashtag)."""
    words, tags = [], []
    for segment in segments(text):
        if segment.kind == "tag" and HASHTAG_RE.fullmatch(segment.value) and len(segment.value) <= MAX_HASHTAG:
            words.append(segment.value)
            tags.append(segment.value)
        else:
            words.append(segment.text)
    return "".join(words), tags


# Markdown: headings, rules and fences are skipped; a list item or block quote is read without its marker.
_MARKDOWN_SKIPPED = re.compile(r"#{1,6}(\s.*)?|([-*_]\s*){3,}|(```|~~~).*")
_MARKDOWN_MARKER = re.compile(r"(?P<quoted>(>\s*)+)|([-*+]|\d{1,9}[.)])\s+")


def _read_tweet_lines(path: Path, text: str) -> list[SourceQuote]:
    quotes: list[SourceQuote] = []
    problems: list[Problem] = []
    running_on: SourceQuote | None = None  # a block quote whose next > line, if any, goes on with its words
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or _MARKDOWN_SKIPPED.fullmatch(line):
            running_on = None
            continue
        marker = _MARKDOWN_MARKER.match(line)
        if marker:
            line = line[marker.end():].strip()
            if not line:
                running_on = None
                continue
        closing = _OPENING_QUOTES.get(line[0])
        tags_only = all(tok.startswith(("#", "@")) for tok in line.split())
        block_quote = bool(marker and marker.group("quoted") and not closing and not tags_only)
        if not block_quote:
            running_on = None
        if block_quote:  # a block quote is a quote without its marks, over as many > lines as it takes
            tokens = line.split()
            text_end = len(tokens)
            while text_end and tokens[text_end - 1].startswith(("#", "@")):
                text_end -= 1
            hashtags, mentions = _split_tags(path, number, tokens[text_end:], problems)
            said, inline_tags = words_as_said(" ".join(tokens[:text_end]))
            if running_on is not None:
                running_on.text += " " + said
                running_on.hashtags += inline_tags + hashtags
                running_on.mentions += mentions
            else:
                quotes.append(SourceQuote(number, said, inline_tags + hashtags, mentions))
            running_on = None if hashtags or mentions else quotes[-1]  # tags end a quote
        elif closing:
            end = line.rfind(closing)
            if end <= 0:
                problems.append(Problem(path, "the quote is not closed", line=number,
                                        fix=f"end the quote with {closing}"))
                continue
            hashtags, mentions = _split_tags(path, number, line[end + 1 :].split(), problems)
            words, inline_tags = words_as_said(line[1:end])
            quotes.append(SourceQuote(number, words, inline_tags + hashtags, mentions))
        elif all(tok.startswith(("#", "@")) for tok in line.split()):
            hashtags, mentions = _split_tags(path, number, line.split(), problems)
            if not quotes:
                problems.append(Problem(path, "hashtags before any quote", line=number,
                                        fix="put them after the quote they belong to"))
                continue
            previous = quotes[-1]
            previous.hashtags += hashtags
            previous.mentions += mentions
            previous.tag_lines.append(number)
        else:
            problems.append(Problem(path, "expected a quote in double quotes", line=number,
                                    fix='write "quote text" #hashtag @mention'))
    if problems:
        raise ConfigError(problems)
    return quotes


def _read_csv(path: Path, text: str) -> list[SourceQuote]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _csv_quotes(path, reader)
    except csv.Error as exc:  # e.g. a field over the CSV module's 128 KB limit: no quote is that long
        fix = ("no quote is that long: look for a field whose opening quote mark is never closed"
               if "field limit" in str(exc) else "check the quoting on that line: a quote that opens a field must "
               "close it")
        raise ConfigError([Problem(path, f"cannot read this CSV: {exc}", line=reader.line_num + 1, fix=fix)]
                          ) from None


def _csv_quotes(path: Path, reader: csv.DictReader[str]) -> list[SourceQuote]:
    columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
    if "text" not in columns:
        found = ", ".join(c for c in columns if c) or "none"
        raise ConfigError([Problem(path, f"no 'text' column (columns found: {found})", line=1,
                                   fix="name the quote column text; id, hashtags, attribution are optional")])
    quotes: list[SourceQuote] = []
    problems: list[Problem] = []

    def cell(row: dict[str | None, str | None], name: str) -> str:
        key = columns.get(name)
        return (row.get(key) or "").strip() if key else ""

    for row in reader:
        number = reader.line_num
        body = cell(row, "text")
        if not body:
            continue
        tokens = [t if t.startswith(("#", "@")) else "#" + t for t in re.split(r"[\s,;]+", cell(row, "hashtags")) if t]
        hashtags, mentions = _split_tags(path, number, tokens, problems,
                                         fix="hashtags are letters, digits and underscores, separated by spaces")
        quotes.append(SourceQuote(number, body, hashtags, mentions, id=cell(row, "id") or None,
                                  attribution=cell(row, "attribution") or None))
    if problems:
        raise ConfigError(problems)
    return quotes


def _common_tags(quotes: list[SourceQuote]) -> list[str]:
    """Hashtags every quote carries become the collection's (first spelling wins)."""
    common = set.intersection(*({t.casefold() for t in q.hashtags} for q in quotes))
    return list(dict.fromkeys(t for t in quotes[0].hashtags if t.casefold() in common))


def _common_mentions(quotes: list[SourceQuote]) -> list[str]:
    common = set.intersection(*({m.casefold() for m in q.mentions} for q in quotes))
    return list(dict.fromkeys(m for m in quotes[0].mentions if m.casefold() in common))


def _unique_folded(items: list[str], exclude: list[str]) -> list[str]:
    seen = {e.casefold() for e in exclude}
    out = []
    for item in items:
        if item.casefold() not in seen:
            seen.add(item.casefold())
            out.append(item)
    return out


def _tag_line_note(source_path: Path, quote: SourceQuote, collection_tags: list[str]) -> str:
    lines = ", ".join(str(n) for n in quote.tag_lines)
    own = _unique_folded(quote.hashtags, collection_tags)
    shared = [t for t in collection_tags if t.casefold() in {h.casefold() for h in quote.hashtags}]
    return (f"{display_path(source_path)}:{lines}: a line of only tags, read as tags of the quote on line "
            f"{quote.line}: it keeps {' '.join('#' + t for t in own) or 'no tags of its own'}"
            + (f"; {' '.join('#' + t for t in shared)} already on every quote of the collection" if shared else ""))


def _toml_value(value: object) -> str:
    return tomlkit.item(value).as_string()


def _table(header: str, entries: dict[str, object]) -> str:
    return "\n".join([header, *(f"{key} = {_toml_value(value)}" for key, value in entries.items())]) + "\n"


def import_quotes(source_path: Path, collection_path: Path, *, title: str | None = None,
                  attribution: str | None = None) -> ImportReport:
    """Add the quotes of ``source_path`` to ``collection_path`` (creating it if needed) and say what happened."""
    for option, value in (("--title", title), ("--attribution", attribution)):
        if value is not None:
            try:
                not_blank(value)
            except Invalid as exc:
                raise BadArgument(f"{option} {exc.message}" + (f" ({exc.fix})" if exc.fix else "")) from None
    incoming = read_import_file(source_path)
    created = not collection_path.exists()
    if created:
        if not title or not attribution:
            raise ConfigError([Problem(collection_path, "this collection does not exist yet",
                                       fix="give --title and --attribution to create it")])
        existing_text = ""
        collection_tags, collection_mentions = _common_tags(incoming), _common_mentions(incoming)
        collection_attribution = attribution
        existing: Collection | None = None
    else:
        existing = collection_from_source(read_toml(collection_path))
        existing_text = collection_path.read_text("utf-8")
        collection_tags = existing.collection.hashtags
        collection_mentions = existing.collection.mentions
        collection_attribution = existing.collection.attribution
    report = ImportReport(collection_path, created)
    report.notes = [_tag_line_note(source_path, q, collection_tags) for q in incoming if q.tag_lines]

    known_texts = {}
    for known in existing.quotes if existing else []:
        known_texts[normalise_for_dedupe(known.text)] = known.id
        # a quote imported when tweet-style text kept its "#" is the same quote as these words
        known_texts.setdefault(normalise_for_dedupe(words_as_said(known.text)[0]), known.id)
    taken_ids = set(known_texts.values())
    blocks: list[str] = []
    problems: list[Problem] = []
    for quote in incoming:
        normalised = normalise_for_dedupe(quote.text)
        if normalised in known_texts:
            report.already_present.append(known_texts[normalised])
            continue
        if quote.id and not SLUG_RE.fullmatch(quote.id):
            problems.append(Problem(source_path, f'id "{quote.id}" is not a slug', line=quote.line,
                                    fix="use lowercase letters, digits and hyphens, or leave it empty"))
            continue
        if quote.id and quote.id in taken_ids:
            problems.append(Problem(source_path, f'id "{quote.id}" is already used by another quote', line=quote.line,
                                    fix="choose another id, or leave the id empty to have one made"))
            continue
        quote_id = quote.id or unique_slug(quote.text, taken_ids)
        taken_ids.add(quote_id)
        known_texts[normalised] = quote_id
        entries: dict[str, object] = {"id": quote_id, "text": quote.text,
                                      "hashtags": _unique_folded(quote.hashtags, collection_tags)}
        mentions = _unique_folded(quote.mentions, collection_mentions)
        if mentions:
            entries["mentions"] = mentions
        if quote.attribution and quote.attribution != collection_attribution:
            entries["attribution"] = quote.attribution
        blocks.append(_table("[[quotes]]", entries))
        report.added.append(quote_id)
    if problems:
        raise ConfigError(problems)
    if not blocks:
        return report

    if created:
        header = (f"# Quotes for publisher, imported from {source_path.name}.\n"
                  "# Edit freely: re-importing keeps your edits and adds only quotes that are new.\n"
                  "# `publisher help collections` describes every key.\n\n")
        info: dict[str, object] = {"name": collection_path.stem, "title": title, "attribution": attribution,
                                   "hashtags": collection_tags, "mentions": collection_mentions}
        new_text = header + _table("[collection]", info) + "\n" + "\n".join(blocks)
    else:
        separator = "" if existing_text.endswith("\n\n") else ("\n" if existing_text.endswith("\n") else "\n\n")
        new_text = existing_text + separator + "\n".join(blocks)
    _write_checked(collection_path, new_text)
    return report


def _write_checked(path: Path, text: str) -> None:
    """Validate the new file before it replaces the old one; write atomically so nothing is half-written."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(path, f"cannot append quotes to this file ({exc})",
                                   fix="write the existing quotes as [[quotes]] tables")]) from None
    collection_from_source(TomlSource(path, data, text))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text.encode("utf-8"))  # keeps the file's mode, and writes through a symlink
