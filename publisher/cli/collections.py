"""Commands about quote collections and configuration: validate, quotes, import, verify."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.cli.output import say
from publisher.text import counted


def register(cli: click.Group) -> None:
    for command in (validate, quotes, import_, verify):
        cli.add_command(command)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Treat an account whose secret variable is unset as an error.")
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...], strict: bool) -> None:
    """Check schedule.toml and the quote collections (or just PATHS); print every problem, one per line."""
    from publisher.cli import project
    from publisher.errors import MissingCredentials

    summary = project(ctx, needs_schedule=not paths).validate(list(paths))
    unset = [f"account {account}: {', '.join(variables)} not set in the environment, so posting to it fails until "
             "it is" for account, variables in summary.unset.items()]
    if strict and unset:
        raise MissingCredentials("; ".join(unset))
    say(str(summary))
    for note in summary.notes:
        say(f"  {note}")
    for line in unset:
        say(f"warning: {line}", err=True)


@click.command()
@click.option("--collection", "-c", "name", help="Only this collection (default: all).")
@click.pass_context
def quotes(ctx: click.Context, name: str | None) -> None:
    """List the quotes: id, length in characters, and hashtags."""
    from publisher.cli import project
    from publisher.text import grapheme_count

    for index, collection in enumerate(project(ctx).collections(name)):
        if index:
            say()
        say(f"{collection.name}: {collection.collection.title} ({counted(len(collection.quotes), 'quote')})")
        width = max(len(q.id) for q in collection.quotes)
        say(f"  {'ID':<{width}}  {'LEN':>4}  HASHTAGS")
        for quote in collection.quotes:
            tags = " ".join("#" + t for t in collection.hashtags_for(quote))
            say(f"  {quote.id:<{width}}  {grapheme_count(quote.text):>4}  {tags}")


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path, readable=False))
@click.option("--collection", "-c", "name", required=True, help="Add to quotes/NAME.toml (created if new).")
@click.option("--title", help="Title of a new collection.")
@click.option("--attribution", help="Who said the quotes, for a new collection (shown on every card).")
@click.pass_context
def import_(ctx: click.Context, file: Path, name: str, title: str | None, attribution: str | None) -> None:
    """Add quotes from FILE: tweet-style lines ("quote" #tag @mention) or CSV (text, id, hashtags, attribution)."""
    from publisher.cli import project
    from publisher.errors import display_path

    report = project(ctx).import_file(file, name, title=title, attribution=attribution)
    for note in report.notes:
        say(f"note: {note}")
    where = display_path(report.collection_path)
    verb = "created" if report.created and report.added else "updated" if report.added else "unchanged"
    say(f"{where} {verb}: {len(report.added)} added, {len(report.already_present)} already there.")


@click.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON array (see publisher help json).")
@click.pass_context
def verify(ctx: click.Context, names: tuple[str, ...], as_json: bool) -> None:
    """Check every quote that names a source word for word against it (COLLECTION ...: only those): verified,
    differs, not_found or no_source, with the page and the passage. Exit 0 only when all that name one are
    verified."""
    from publisher.cli import project
    from publisher.cli.output import echo_json
    from publisher.text import terminal_safe
    from publisher.verification import Unverified, kept_results
    from publisher.verification import verify as verify_quotes

    proj = project(ctx)
    collections = [c for name in dict.fromkeys(names) for c in proj.collections(name)] if names else \
        proj.collections()
    with kept_results(proj.files) as store:
        report = verify_quotes(proj.files, collections, store)
    if as_json:
        echo_json([c.as_json() for c in report.checks])
    else:
        for check in report.checks:
            where = f"{check.source}, p. {check.page}" if check.page else (check.source or "")
            line = f"{check.status:<9}  {check.collection}/{check.quote_id}" + (f"  ({where})" if where else "")
            say(terminal_safe(line))
            if check.status == "differs":
                say(terminal_safe("             " + "; ".join(check.diff)))
            if check.passage:
                closest = "closest: " if check.status == "differs" else ""
                say(terminal_safe(f"             {closest}{' '.join(check.passage.split())}"))
        counts = report.counts()
        say(", ".join(f"{n} {status}" for status, n in counts.items() if n) or "no quotes")
    if report.unreadable:  # the other quotes are checked and shown above; this source's are not
        first = report.unreadable[0]
        more = f", and {counted(len(report.unreadable) - 1, 'more source')}" if len(report.unreadable) > 1 else ""
        first.args = (f"{first}{more}: {counted(len(report.unchecked), 'quote')} not checked",)
        raise first
    if not report.ok:
        bad = [c for c in report.checks if c.status not in ("verified", "no_source")]
        raise Unverified(f"{counted(len(bad), 'quote')} {'is' if len(bad) == 1 else 'are'} not verified in their "
                         "source: "
                         + ", ".join(f"{c.quote_id} ({c.status})" for c in bad[:5]) + (" ..." if len(bad) > 5 else ""),
                         "correct each quote to match its source word for word (only typography is forgiven), "
                         "or correct its source or page")
