"""``publisher extract``: the quotations of an article or report, proposed as draft quotes (see publisher.extract)."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.cli.output import say


def register(cli: click.Group) -> None:
    cli.add_command(extract)


@click.command()
@click.argument("file", type=click.Path(path_type=Path, readable=False))
@click.option("--collection", "-c", "name", help="Write the drafts to quotes/NAME.toml (default: a name made from "
              "FILE's); an existing collection keeps what it has and gains the drafts, marked draft = true.")
@click.option("--min-words", type=click.IntRange(min=1), default=8, show_default=True,
              help="Only quotations of at least this many words.")
@click.pass_context
def extract(ctx: click.Context, file: Path, name: str | None, min_words: int) -> None:
    """Propose every quotation in FILE (PDF, HTML or text) as a draft quote, with its page, its speaker where the
    sentence names one, and its source; review them before a campaign uses them."""
    from publisher.cli import project
    from publisher.errors import display_path
    from publisher.extract import default_collection_name, extract_quotes

    files = project(ctx).files
    collection_path = files.collection_path(name or default_collection_name(file))
    report = extract_quotes(file, collection_path, files.sources_dir, min_words=min_words)
    for note in report.notes:
        say(f"note: {note}")
    for quote_id, quotation in zip(report.added_ids, report.added, strict=True):
        where = ", ".join(part for part in (f"p. {quotation.page}" if quotation.page else "",
                                            quotation.speaker or "no speaker named") if part)
        say(f"  {quote_id} ({where})")
    where = display_path(report.collection_path)
    verb = "created" if report.created and report.added else "updated" if report.added else "unchanged"
    say(f"{where} {verb}: {len(report.added)} draft quotes added, {len(report.already_present)} already there."
        + (" Review each one (words, attribution, page), then delete its draft line: until then no campaign "
           "posts it." if report.added else ""))
