"""``publisher results``: what each post, quote, thread or account achieved, best first."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from publisher.cli.output import echo_json, say
from publisher.text import counted, terminal_safe

FIGURES = ("likes", "reposts", "replies", "quotes")


def register(cli: click.Group) -> None:
    cli.add_command(results)


@click.command()
@click.option("--campaign", "-c", help="Only this campaign's posts.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="Only posts made from this day (YYYY-MM-DD, "
              "in schedule.toml's timezone).")
@click.option("--by", type=click.Choice(["post", "quote", "thread", "account"]), default="post", show_default=True,
              help="One line per post, or totals per quote, thread or account.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array (see publisher help json).")
@click.option("--csv", "csv_file", type=click.Path(path_type=Path, dir_okay=False), help="Also write the rows to "
              "this CSV file.")
@click.option("--refresh", is_flag=True, help="Read every post's figures from its platform now (X: only with "
              "x_results = true, and priced).")
@click.pass_context
def results(ctx: click.Context, campaign: str | None, since: datetime | None, by: str, as_json: bool,
            csv_file: Path | None, refresh: bool) -> None:
    """What each post achieved (likes, reposts, replies, quotes), best first, from the store; --refresh reads
    them now. The daemon reads them at results_at after each post."""
    from publisher.cli import project

    proj = project(ctx)
    start = since.replace(tzinfo=proj.schedule().zone).astimezone(UTC) if since else None
    report = proj.results(by, campaign, start, refresh)
    if csv_file is not None:
        _write_csv(csv_file, report.rows)
    if as_json:
        echo_json(report.rows)
    else:
        _show(report)
    for line in _notes(report):
        say(f"note: {line}", err=True)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    import io

    from publisher.fileio import write_atomically
    from publisher.pack import spreadsheet_safe

    buffer = io.StringIO()
    keys = list(rows[0]) if rows else ["thread_id", "part", "account", "platform", "url", "quote_ids", *FIGURES]
    writer = csv.DictWriter(buffer, fieldnames=keys, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:  # a text a spreadsheet would run as a formula gets an apostrophe, as in packs (OWASP)
        writer.writerow({k: " ".join(v) if isinstance(v, list) else spreadsheet_safe(v) if isinstance(v, str) else v
                         for k, v in row.items()})
    write_atomically(path, ("\ufeff" + buffer.getvalue()).encode("utf-8"))


def _figure(value: int | None) -> str:
    return "–" if value is None else str(value)


def _show(report: Any) -> None:
    rows = report.rows
    if not rows:
        say("No posts yet" + (" for these options" if report.by else "") + ": figures come once threads are posted.")
        return
    if report.newest is not None:
        minutes = int((datetime.now(UTC) - report.newest).total_seconds() // 60)
        ago = (f"{minutes} min" if minutes < 120 else f"{minutes // 60} h" if minutes < 2880
               else f"{minutes // 1440} days")
        age = f"; the latest read {ago} ago, {report.newest:%Y-%m-%d %H:%M} UTC"
    else:
        age = "; none read yet"
    what = {"post": "post", "quote": "quote", "thread": "thread", "account": "account"}[report.by]
    say(f"{counted(len(rows), what)}, best first{age} (publisher results --refresh reads them now):")
    say("  " + " ".join(f"{name:>7}" for name in FIGURES) + ("   posts" if report.by != "post" else "") + "  "
        + what)
    for row in rows:
        figures = " ".join(f"{_figure(row[name]):>7}" for name in FIGURES)
        if report.by == "post":
            quote = ", ".join(row["quote_ids"]) or "no card"
            where = f"thread {row['thread_id']} part {row['part']} · {row['account']} · {quote}"
            tail = f" · {row['url']}" if row.get("url") else ""
            say(f"  {figures}  {terminal_safe(where + tail)}")
        else:
            key = row.get("quote_id", row.get("thread_id", row.get("account")))
            text = row.get("text")
            label = f"{key}" + (f" · {_shortened(text)}" if text else "")
            say(f"  {figures} {row['posts']:>7}  {terminal_safe(label)}")


def _shortened(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def _notes(report: Any) -> list[str]:
    lines = []
    if report.read is not None:
        read = report.read
        lines.append(f"read {counted(read.read, 'post')} in {counted(read.calls, 'call')}"
                     + (f", {read.failed} could not be read" if read.failed else "")
                     + (f", {read.skipped} skipped" if read.skipped else ""))
        lines += read.notes
    for account in report.no_audience:
        lines.append(f"{account} is a local outbox: its posts have no audience, so it has no figures (shown as –)")
    for account, why in report.not_read.items():
        lines.append(f"{account}'s figures are not read: {why}")
    return lines
