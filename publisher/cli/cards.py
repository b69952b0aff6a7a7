"""Commands that make images and pages: render, preview."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from click._termui_impl import ProgressBar

from publisher.cli.output import say
from publisher.render import FORMAT_NAMES
from publisher.text import counted

PROGRESS_FROM = 5  # fewer cards than this finish before a bar would be read


class _ProgressBar:
    """A progress bar on a terminal's stderr (not in logs), appearing with the first finished item so that
    early errors print alone."""

    def __init__(self, total: int, label: str):
        self.total, self.label = total, label
        self.bar: ProgressBar[int] | None = None

    def advance(self, steps: int) -> None:
        if self.bar is None and self.total >= PROGRESS_FROM and sys.stderr.isatty():
            self.bar = click.progressbar(length=self.total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        if self.bar is not None:
            self.bar.update(steps)

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def register(cli: click.Group) -> None:
    cli.add_command(render)
    cli.add_command(preview)
    cli.add_command(pack)


@click.command()
@click.argument("quote_ids", nargs=-1)
@click.option("--collection", "-c", "name", help="The collection (default: the only one).")
@click.option("--format", "-f", "format_name", type=click.Choice([*FORMAT_NAMES, "all"]), default="square",
              show_default=True, help="Card shape: square 1080×1080, portrait 1080×1350, story 1080×1920, "
                                      "landscape 1200×675, or all four.")
@click.option("--theme", "-t", help="Theme in assets/themes/ (default: the collection's, else campaign).")
@click.option("--output", "-o", "out_dir", type=click.Path(path_type=Path), default="cards",
              show_default=True, help="Folder for QUOTE-FORMAT.png and its alt text QUOTE-FORMAT.txt.")
@click.option("--force", is_flag=True, help="Replace files in the way that are not cards.")
@click.option("--json", "as_json", is_flag=True, help="Print how each card was set, one JSON object per line "
                                                      "(see publisher help json).")
@click.pass_context
def render(ctx: click.Context, quote_ids: tuple[str, ...], name: str | None, format_name: str,
           theme: str | None, out_dir: Path, force: bool, as_json: bool) -> None:
    """Render quote cards (all quotes, or just QUOTE_IDS) as PNG files with their alt text."""
    from publisher.cli import project, raising_on_sigterm
    from publisher.errors import BatchFailed, display_path

    proj = project(ctx)
    collection = proj.collection(name, holding=quote_ids)
    formats = list(FORMAT_NAMES) if format_name == "all" else [format_name]
    total = len(quote_ids or collection.quotes) * len(formats)
    created = not out_dir.exists()
    with raising_on_sigterm("stopped by SIGTERM: every card written is whole; run it again for the rest"), \
            _ProgressBar(total, "Rendering") as progress:
        report = proj.render(collection, quote_ids, formats, out_dir, theme, progress=progress.advance, force=force)
    if as_json:
        for layout in report.layouts:
            say(json.dumps({"file": display_path(layout.file), "quote_id": layout.quote_id,
                                   "format": layout.format, "theme": report.theme, "width": layout.width,
                                   "height": layout.height, "text_px": layout.text_px, "lines": layout.lines,
                                   "line_widths": layout.line_widths, "rules_broken": layout.rules_broken,
                                   "attribution_px": layout.attribution_px,
                                   "attribution_lines": layout.attribution_lines}, ensure_ascii=False))
    elif report.written:
        say(f"Wrote {counted(len(report.written), 'card')} to {display_path(out_dir)}/ (PNG, with alt text in .txt)"
                   + (", a folder it created." if created else "."))
    if report.failures:
        raise BatchFailed(report.failures)


@click.command()
@click.option("--campaign", "-c", "campaign_name", help="The campaign (default: the first enabled one).")
@click.option("--threads", "-n", type=click.IntRange(1, 50), default=1, show_default=True,
              help="How many upcoming threads to show.")
@click.option("--output", "-o", "out_dir", type=click.Path(path_type=Path, file_okay=False), default="preview",
              show_default=True, help="Folder for index.html, thread.json and the cards.")
@click.option("--open", "open_page", is_flag=True, help="Open the page in your browser.")
@click.option("--force", is_flag=True, help="Replace files in the folder that publisher did not write.")
@click.pass_context
def preview(ctx: click.Context, campaign_name: str | None, threads: int, out_dir: Path, open_page: bool,
            force: bool) -> None:
    """Show the next threads exactly as they would be posted, as a web page; sends nothing."""
    from publisher.cli import project
    from publisher.errors import BatchFailed, PublisherError, display_path

    report = project(ctx).preview(campaign_name, threads, out_dir, force)
    accounts = {t.account for group in report.threads for t in group}
    parts = sum(len(t.parts) for group in report.threads for t in group)
    say(f"Preview of {counted(len(report.threads), 'thread')} for {counted(len(accounts), 'account')}, "
        f"{counted(parts, 'post')}: "
               f"{display_path(report.index)} (data in {display_path(report.index.with_name('thread.json'))})")
    for note in report.notes:
        say(note)
    for warning in report.warnings:
        say(f"warning: {warning}", err=True)
    if open_page:
        import webbrowser

        if not webbrowser.open(report.index.resolve().as_uri()):
            choose = "" if os.environ.get("BROWSER") else " (set BROWSER to choose which)"
            say(f"note: no web browser opened it: open {display_path(report.index)} in one{choose}", err=True)
    if report.problems:
        raise BatchFailed([PublisherError(problem) for problem in report.problems])


@click.command()
@click.option("--collection", "-c", "name", help="The collection (default: the only one).")
@click.option("--campaign", "campaign_name", help="Use a campaign's collection, theme, captions and mentions.")
@click.option("--formats", "-f", default="all", show_default=True,
              help="Comma-separated: square, portrait, story, landscape, or all.")
@click.option("--theme", "-t", help="Theme in assets/themes/ (default: the campaign's or collection's).")
@click.option("--output", "-o", "out", type=click.Path(),
              help="The ZIP to write, or a folder (an existing one, or a name ending in /) to write "
                   "COLLECTION-pack.zip in (default: COLLECTION-pack.zip).")
@click.option("--skip-failing", is_flag=True, help="Write the pack without cards that cannot be made, listing "
                                                  "them in its README.")
@click.option("--force", is_flag=True, help="Replace the file given with -o even if it is not an image pack.")
@click.pass_context
def pack(ctx: click.Context, name: str | None, campaign_name: str | None, formats: str, theme: str | None,
         out: str | None, skip_failing: bool, force: bool) -> None:
    """Make an image pack for campaigners: every card in every format, captions.csv, alt text, a contact sheet
    per format and an offline index page, as one ZIP."""
    from publisher.cli import project, raising_on_sigterm
    from publisher.errors import display_path

    if name and campaign_name:
        raise click.UsageError("give --collection or --campaign, not both")
    named = list(dict.fromkeys(f.strip().lower() for f in formats.split(",") if f.strip()))  # each once
    chosen = list(FORMAT_NAMES) if "all" in named else named
    unknown = [f for f in chosen if f not in FORMAT_NAMES]
    if unknown or not chosen:
        raise click.BadParameter(f"{'unknown format ' + ', '.join(unknown) if unknown else 'no format given'}; use "
                                 f"{', '.join(FORMAT_NAMES)} or all", param_hint="--formats")
    proj = project(ctx)
    collection = proj.collection(proj.campaign(campaign_name).collection if campaign_name else name)
    default_name = f"{campaign_name or collection.name}-pack.zip"
    folder = out is not None and (out.endswith(("/", os.sep)) or Path(out).is_dir())
    target = Path(out) / default_name if out and folder else Path(out or default_name)
    created = not target.parent.exists()
    with raising_on_sigterm("stopped by SIGTERM: no pack was written"), \
            _ProgressBar(len(collection.quotes) * len(chosen), "Rendering") as progress:
        report = proj.pack(target, name, campaign_name, chosen, theme, skip_failing, progress.advance, force)
    say(f"Wrote {display_path(report.path)}: {counted(report.cards, 'card')}"
               + (f", {len(report.skipped)} skipped (listed in its README.txt)" if report.skipped else "")
               + (f"; created the folder {display_path(target.parent)}" if created else "") + ".")
