"""Commands that make images: render."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.render import FORMAT_NAMES

PROGRESS_FROM = 5  # fewer cards than this finish before a bar would be read


def register(cli: click.Group) -> None:
    cli.add_command(render)


@click.command()
@click.argument("quote_ids", nargs=-1)
@click.option("--collection", "-c", "name", help="The collection (default: the only one).")
@click.option("--format", "-f", "format_name", type=click.Choice([*FORMAT_NAMES, "all"]), default="square",
              show_default=True, help="Card shape: square 1080×1080, portrait 1080×1350, story 1080×1920, "
                                      "landscape 1200×675, or all four.")
@click.option("--theme", "-t", help="Theme in assets/themes/ (default: the collection's, else campaign).")
@click.option("--output", "-o", "out_dir", type=click.Path(path_type=Path, file_okay=False), default="cards",
              show_default=True, help="Folder for QUOTE-FORMAT.png and its alt text QUOTE-FORMAT.txt.")
@click.pass_context
def render(ctx: click.Context, quote_ids: tuple[str, ...], name: str | None, format_name: str,
           theme: str | None, out_dir: Path) -> None:
    """Render quote cards (all quotes, or just QUOTE_IDS) as PNG files with their alt text."""
    from publisher.cli import project
    from publisher.errors import BatchFailed, display_path

    proj = project(ctx)
    collection = proj.collection(name)
    formats = list(FORMAT_NAMES) if format_name == "all" else [format_name]
    total = len(quote_ids or collection.quotes) * len(formats)
    if total >= PROGRESS_FROM:
        with click.progressbar(length=total, label="Rendering", file=click.get_text_stream("stderr")) as bar:
            report = proj.render(collection, quote_ids, formats, out_dir, theme, progress=bar.update)
    else:
        report = proj.render(collection, quote_ids, formats, out_dir, theme)
    if report.written:
        click.echo(f"Wrote {len(report.written)} cards to {display_path(out_dir)}/ (PNG, with alt text in .txt).")
    if report.failures:
        raise BatchFailed(report.failures)
