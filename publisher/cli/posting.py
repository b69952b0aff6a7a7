"""Commands about the queue and posting: queue add/list/show/cancel/retry, post, login."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from publisher.errors import ExitStatus, PublisherError


def register(cli: click.Group) -> None:
    cli.add_command(queue)
    cli.add_command(post)
    cli.add_command(login)


class PostingIncomplete(PublisherError):
    """Some thread is waiting (rate limit, back-off) or needs a person; the lines say which and why."""

    def __init__(self, lines: list[str], status: ExitStatus):
        super().__init__("; ".join(lines))
        self._lines = lines
        self.exit_status = status

    def lines(self) -> list[str]:
        return self._lines


def _zone(ctx: click.Context) -> Any:
    from zoneinfo import ZoneInfo

    from publisher.cli import project

    return ZoneInfo(project(ctx).schedule().defaults.timezone)


def _when(moment: datetime, zone: Any) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


@click.group()
def queue() -> None:
    """Queued threads: add, list, show, cancel, retry."""


@queue.command("add")
@click.option("--campaign", "-c", "campaign_name", help="The campaign (default: the first enabled one).")
@click.option("--at", "at", help='When it is due, in the schedule\'s timezone: "2026-11-23 08:30" (default: now).')
@click.pass_context
def queue_add(ctx: click.Context, campaign_name: str | None, at: str | None) -> None:
    """Queue the campaign's next thread: composed, cards rendered, stored with everything needed to post it."""
    from publisher.cli import project

    zone = _zone(ctx)
    due = None
    if at:
        try:
            due = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter(f'"{at}" is not a date and time; write e.g. "2026-11-23 08:30"',
                                     param_hint="--at") from None
        due = due if due.tzinfo else due.replace(tzinfo=zone)
    proj = project(ctx)
    thread_id = proj.queue_add(campaign_name, due)
    store = proj.store()
    try:
        assert thread_id is not None
        thread = store.thread(thread_id)
        assert thread is not None
        parts = store.parts(thread_id)
    finally:
        store.close()
    accounts = sorted({p.account for p in parts})
    click.echo(f"Queued thread {thread_id} ({thread.campaign}): {len(thread.quote_ids)} quotes, {len(parts)} posts "
               f"to {', '.join(accounts)}, due {_when(thread.due_at, zone)}.")


@queue.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include posted and cancelled threads.")
@click.pass_context
def queue_list(ctx: click.Context, show_all: bool) -> None:
    """List queued threads: id, due time, state, progress."""
    from publisher.cli import project

    zone = _zone(ctx)
    store = project(ctx).store()
    try:
        states = ("queued", "posting", "needs_attention", "posted", "cancelled") if show_all else (
            "queued", "posting", "needs_attention")
        threads = store.threads(states)
        if not threads:
            click.echo("The queue is empty." if not show_all else "No threads yet.")
            return
        click.echo(f"{'ID':>4}  {'DUE':<22}  {'STATE':<15}  {'POSTED':>7}  CAMPAIGN")
        for thread in threads:
            parts = store.parts(thread.id)
            posted = sum(p.state == "posted" for p in parts)
            click.echo(f"{thread.id:>4}  {_when(thread.due_at, zone):<22}  {thread.state:<15}  "
                       f"{posted:>3}/{len(parts):<3}  {thread.campaign}")
    finally:
        store.close()


@queue.command("show")
@click.argument("thread_id", type=int)
@click.pass_context
def queue_show(ctx: click.Context, thread_id: int) -> None:
    """Every part of a thread per account: state, live URL, last error and what to do."""
    from publisher.cli import project
    from publisher.errors import NotFound

    zone = _zone(ctx)
    store = project(ctx).store()
    try:
        thread = store.thread(thread_id)
        if thread is None:
            raise NotFound(f"no thread {thread_id} in the queue (publisher queue list --all shows them)")
        click.echo(f"Thread {thread.id} · {thread.campaign} · due {_when(thread.due_at, zone)} · {thread.state}")
        click.echo(f"  quotes: {', '.join(thread.quote_ids)}")
        parts = store.parts(thread.id)
        for account in dict.fromkeys(p.account for p in parts):
            mine = [p for p in parts if p.account == account]
            click.echo(f"  {account}: {sum(p.state == 'posted' for p in mine)}/{len(mine)} posted")
            for part in mine:
                where = part.url or ""
                if part.state != "posted" and part.not_before:
                    where = f"next try after {_when(part.not_before, zone)}"
                click.echo(f"    {part.position}/{len(mine)}  {part.state:<9}  {where}".rstrip())
                if part.state != "posted" and part.last_error:
                    click.echo(f"          error: {part.last_error}")
                    if part.fix:
                        click.echo(f"          fix: {part.fix}")
    finally:
        store.close()


def _thread_for_change(ctx: click.Context, thread_id: int) -> tuple[Any, Any]:
    from publisher.cli import project
    from publisher.errors import NotFound

    store = project(ctx).store()
    thread = store.thread(thread_id)
    if thread is None:
        store.close()
        raise NotFound(f"no thread {thread_id} in the queue (publisher queue list --all shows them)")
    return store, thread


@queue.command("cancel")
@click.argument("thread_id", type=int)
@click.pass_context
def queue_cancel(ctx: click.Context, thread_id: int) -> None:
    """Stop a thread: parts not yet posted never will be (posted parts stay live)."""
    store, thread = _thread_for_change(ctx, thread_id)
    try:
        if thread.state in ("posted", "cancelled"):
            click.echo(f"Thread {thread_id} is already {thread.state}.")
            return
        store.set_thread_state(thread_id, "cancelled")
        live = sum(p.state == "posted" for p in store.parts(thread_id))
        click.echo(f"Cancelled thread {thread_id}" + (f"; {live} posts already live stay up." if live else "."))
    finally:
        store.close()


@queue.command("retry")
@click.argument("thread_id", type=int)
@click.pass_context
def queue_retry(ctx: click.Context, thread_id: int) -> None:
    """Try again the parts known not to have been posted (failed, or waiting); never those whose outcome is
    unknown: check those by hand first."""
    store, thread = _thread_for_change(ctx, thread_id)
    try:
        if thread.state == "cancelled":
            raise PublisherError(f"thread {thread_id} is cancelled; queue a new one with publisher queue add")
        changed = store.reset_parts(thread_id, ("failed", "pending"))
        unknown = [p for p in store.parts(thread_id) if p.state == "unknown"]
        click.echo(f"Thread {thread_id}: {changed} part(s) will be tried again at the next publisher post.")
        for part in unknown:
            click.echo(f"  {part.account} part {part.position} is unknown: {part.fix or 'check the account first'}")
    finally:
        store.close()


@click.command()
@click.option("--dry-run", is_flag=True, help="Post to a local outbox under the state folder instead; the queue "
                                             "is left as it is.")
@click.pass_context
def post(ctx: click.Context, dry_run: bool) -> None:
    """Post every thread that is due now, then exit."""
    from publisher.cli import project
    from publisher.errors import display_path

    proj = project(ctx)
    outcomes, folder = proj.post_due(dry_run=dry_run)
    problems: list[str] = []
    waiting = False
    if not outcomes:
        click.echo("Nothing is due.")
    for outcome in outcomes:
        click.echo(f"Thread {outcome.thread_id} ({outcome.campaign}): {outcome.state}")
        for account in outcome.accounts:
            click.echo(f"  {account.account}: {account.posted}/{account.total} posted"
                       + (f" · {account.state}: {account.message}" if account.state != "done" else ""))
            if account.state == "needs_attention":
                problems.append(f"thread {outcome.thread_id} {account.account}: {account.message} "
                                f"(publisher queue show {outcome.thread_id})")
            waiting = waiting or account.state == "waiting"
    if folder:
        click.echo(f"Dry run: nothing was sent; see {display_path(folder)}/<account>/timeline.html")
    reported = {o.thread_id for o in outcomes}
    problems += [f"thread {thread_id} needs attention (publisher queue show {thread_id})"
                 for thread_id in proj.threads_needing_attention() if thread_id not in reported and not dry_run]
    if problems:
        raise PostingIncomplete(problems, ExitStatus.PARTIAL_THREAD)
    if waiting:
        raise PostingIncomplete(["some posts are waiting to be retried; run publisher post again later"],
                                ExitStatus.RATE_LIMITED)


@click.command()
@click.argument("platform", type=click.Choice(["bluesky", "x"]))
@click.argument("account")
@click.pass_context
def login(ctx: click.Context, platform: str, account: str) -> None:
    """Check an account's credentials; for Bluesky, log in once and save the session for reuse."""
    from publisher.cli import project

    who = project(ctx).login(account)
    click.echo(f"{account}: credentials work ({who})" + ("; session saved." if platform == "bluesky" else "."))
