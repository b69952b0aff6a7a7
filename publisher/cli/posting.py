"""Commands about the queue and posting: queue add/list/show/cancel/hold/release/retry/recompose, post, login."""

from __future__ import annotations

import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from publisher.cli.output import echo_json, say
from publisher.errors import BadArgument, ExitStatus, PublisherError

THREAD_ID = click.IntRange(1, 2**63 - 1)  # SQLite's largest integer: a bigger one is simply not a thread


def register(cli: click.Group) -> None:
    cli.add_command(queue)
    cli.add_command(post)
    cli.add_command(login)


class PostingIncomplete(PublisherError):
    """Some thread is waiting (rate limit, back-off), over budget or needs a person; the lines say which."""

    def __init__(self, lines: list[str], status: ExitStatus):
        super().__init__("; ".join(lines))
        self._lines = lines
        self.exit_status = status

    def lines(self) -> list[str]:
        return self._lines


def _when(moment: datetime, zone: Any) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _echo_json(data: Any) -> None:
    echo_json(data)


def _say_all(said: Any) -> None:
    """An action's message: its lines on standard output, its warnings on standard error."""
    for line in said.lines:
        say(line)
    for warning in said.warnings:
        say(f"warning: {warning}", err=True)


@click.group()
def queue() -> None:
    """Queued threads: add, list, show, approve, reject, cancel, hold, release, retry, recompose."""


@queue.command("add")
@click.option("--campaign", "-c", "campaign_name", help="The campaign (default: the first enabled one).")
@click.option("--at", "at", metavar="TIME", help='Due at this future time, in the campaign\'s timezone: '
                                                 '"2026-12-08 08:30" (default: its next free slot).')
@click.option("--now", "now", is_flag=True, help="Due at once (default: the campaign's next free slot).")
@click.pass_context
def queue_add(ctx: click.Context, campaign_name: str | None, at: str | None, now: bool) -> None:
    """Queue the campaign's next thread for its next free slot: composed, cards rendered, stored with
    everything needed to post it."""
    from publisher import messages
    from publisher.cli import project

    proj = project(ctx)
    if at and now:
        raise click.UsageError("give --at or --now, not both")
    due = None
    if at is not None:
        zone = proj.schedule().zone_of(proj.campaign(campaign_name))
        try:
            due = datetime.fromisoformat(at.strip())
        except ValueError:
            raise click.BadParameter(f'"{at}" is not a date and time; write e.g. "2026-12-08 08:30"',
                                     param_hint="--at") from None
        if not 2000 <= due.year < 9999:  # beyond, time zone arithmetic runs off the calendar
            raise click.BadParameter(f'"{at}" is not a time publisher can post at; write e.g. "2026-12-08 08:30"',
                                     param_hint="--at")
        due = due if due.tzinfo else due.replace(tzinfo=zone)
    added = proj.queue_add(campaign_name, due, now)
    _say_all(messages.queued(added, proj.schedule().zone_of(proj.campaign(added.thread.campaign)), now))


@queue.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include posted, cancelled and skipped threads.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable (see publisher help json).")
@click.pass_context
def queue_list(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """List queued threads: id, due time, state, progress, and anything to look at."""
    from publisher.cli import project

    with project(ctx, store_alone=True).queue(create=False) as q:
        collections = q.collections_by_campaign()
        threads = q.threads(show_all)
        if as_json:
            _echo_json([q.thread_json(t, collections.get(t.campaign)) for t in threads])
            return
        if not threads:
            say("The queue is empty." if not show_all else "No threads yet.")
            return
        say(f"{'ID':>4}  {'DUE':<22}  {'STATE':<17}  {'POSTED':>7}  CAMPAIGN")
        for thread in threads:
            parts = q.store.parts(thread.id)
            posted = sum(p.state == "posted" for p in parts)
            say(f"{thread.id:>4}  {_when(thread.due_at, q.zone(thread.campaign)):<22}  {thread.state:<17}  "
                       f"{posted:>3}/{len(parts):<3}  {thread.campaign} #{thread.number}")
            for note in _notes(q, thread, collections.get(thread.campaign)):
                say(f"{'':>6}{note}")


def _notes(q: Any, thread: Any, collection: Any) -> list[str]:
    """What to know about a thread, each with what to do."""
    notes = []
    fixes = {"held": f" (publisher queue release {thread.id})",
             "over_budget": f" (raise x_monthly_budget in schedule.toml, then publisher queue release {thread.id})"}
    if thread.reason and thread.state in ("held", "over_budget", "cancelled", "skipped"):
        notes.append(f"{thread.state}: {thread.reason}{fixes.get(thread.state, '')}")
    notes += [n for n in (q.waiting_because(thread), q.off_slot(thread)) if n]
    if thread.state in ("awaiting_approval", "queued", "held", "over_budget", "needs_attention", "posting") \
            and collection is not None:
        flagged = q.changed_quotes(thread, collection)
        gone = [i for i in flagged if collection.quote(i) is None]
        changed = [i for i in flagged if i not in gone]
        if gone and len(gone) == len(thread.quote_ids):
            notes.append(f"none of its quotes is in {collection.name}.toml any more (publisher queue cancel "
                         f"{thread.id})")
        elif flagged:
            what = "; ".join(filter(None, [f"quotes changed since it was queued: {', '.join(changed)}" if changed
                                           else "", f"no longer in the collection: {', '.join(gone)}" if gone
                                           else ""]))
            fix = (f"its posts so far stay as they are; publisher queue cancel {thread.id} stops the rest"
                   if q.store.started(thread.id)
                   else f"publisher queue recompose {thread.id}")  # recompose refuses a thread with live parts
            notes.append(f"{what} ({fix})")
    return notes


@queue.command("show")
@click.argument("thread_id", type=THREAD_ID)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable (see publisher help json).")
@click.pass_context
def queue_show(ctx: click.Context, thread_id: int, as_json: bool) -> None:
    """Everything a thread would post, per account: where it goes, each part's text, counts, cards and alt text,
    its state, live URL, last error and what to do, and the revision an approval is for."""
    from publisher.cli import project

    with project(ctx, store_alone=True).queue(create=False) as q:
        thread = q.thread(thread_id)
        collection = q.collections_by_campaign().get(thread.campaign)
        view = q.thread_json(thread, collection, shown=True)
        if as_json:
            _echo_json(view)
            return
        zone = q.zone(thread.campaign)
        notes = _notes(q, thread, collection)
        if q.config_problem is not None:
            notes.append("schedule.toml cannot be read, so where it goes and its revision are unknown: "
                         + "; ".join(q.config_problem.lines()))
    revision = f" · revision {view['revision']}" if view["revision"] else ""
    say(f"Thread {thread.id} · {thread.campaign} #{thread.number} · due {_when(thread.due_at, zone)} · "
        f"{thread.state}{revision}")
    say(f"  quotes: {', '.join(thread.quote_ids)}")
    if view["approved_revision"] and view["approved_revision"] != view["revision"]:
        say(f"  approved at revision {view['approved_revision']}, which is not what it would post now")
    for note in notes:
        say(f"  {note}")
    for account, summary in view["accounts"].items():
        where = f" → {summary['destination']}" if summary["destination"] else ""
        say(f"  {account}{where}: {summary['posted']}/{summary['total']} posted")
        for part in (p for p in view["parts"] if p["account"] == account):
            counted = f"  {part['length']}/{part['limit']} {part['unit']}" if part["length"] is not None else ""
            where = part["url"] or ""
            if part["state"] != "posted" and part["next_try_at"]:
                where = f"next try after {_when(datetime.fromisoformat(part['next_try_at']), zone)}"
            say(f"    {part['position']}/{summary['total']}  {part['state']:<9}{counted}  {where}".rstrip())
            for line in part["text"].splitlines() or [""]:
                say(f"          {line}".rstrip())
            for card in part["cards"]:
                say(f"          card {card['width']}×{card['height']}, alt text: {card['alt']}")
            if part["state"] != "posted" and part["error"]:
                say(f"          error: {part['error']}")
                if part["fix"]:
                    say(f"          fix: {part['fix']}")


SIGNER = click.option("--as", "by", metavar="NAME", envvar="PUBLISHER_USER",
                      help="Who does it, as recorded in the store (default: $PUBLISHER_USER, else your user name).")


@queue.command("approve")
@click.argument("thread_id", type=THREAD_ID)
@click.option("--revision", metavar="R", help="The revision you looked at (publisher queue show prints it): refused "
              "if the thread has changed since.")
@SIGNER
@click.pass_context
def queue_approve(ctx: click.Context, thread_id: int, revision: str | None, by: str | None) -> None:
    """Sign off a thread awaiting approval (a campaign with approval = true), for exactly what it would post now:
    it posts at its slot, or, if that has passed, as the campaign's catch_up says."""
    from publisher import messages
    from publisher.cli import project

    with project(ctx).queue() as q:
        approved = q.approve(thread_id, by, revision)
        zone = q.zone(approved.thread.campaign)
        signed = q.store.signoffs(thread_id)[-1]["by"]
    _say_all(messages.approved(approved, signed, zone))


@queue.command("reject")
@click.argument("thread_id", type=THREAD_ID)
@click.option("--reason", "-r", required=True, help="Why: kept in the store and shown to the team.")
@SIGNER
@click.pass_context
def queue_reject(ctx: click.Context, thread_id: int, reason: str, by: str | None) -> None:
    """Refuse a thread awaiting approval: it is cancelled and never posted (its quotes are not queued again)."""
    from publisher import messages
    from publisher.cli import project

    with project(ctx).queue() as q:
        thread = q.reject(thread_id, reason, by)
        decision = q.store.signoffs(thread_id)[-1]
    _say_all(messages.rejected(thread, decision["by"], decision["reason"]))


@queue.command("cancel")
@click.argument("thread_id", type=THREAD_ID)
@SIGNER
@click.pass_context
def queue_cancel(ctx: click.Context, thread_id: int, by: str | None) -> None:
    """Stop a thread for good, even while it is being posted: no part is sent after this (posted parts stay
    live; the report lists them)."""
    from publisher import messages
    from publisher.cli import project

    with project(ctx, store_alone=True).queue(create=False) as q:
        stopped = q.cancel(thread_id, by=by)
        zone = q.zone(stopped.thread.campaign)
    _say_all(messages.cancelled(stopped, zone))


@queue.command("hold")
@click.argument("thread_id", type=THREAD_ID)
@SIGNER
@click.pass_context
def queue_hold(ctx: click.Context, thread_id: int, by: str | None) -> None:
    """Keep a thread from posting until it is released (a thread being posted stops after the part in flight)."""
    from publisher import messages
    from publisher.cli import project

    with project(ctx, store_alone=True).queue(create=False) as q:
        thread = q.hold(thread_id, by)
    _say_all(messages.held(thread))


@queue.command("release")
@click.argument("thread_id", type=THREAD_ID)
@click.pass_context
def queue_release(ctx: click.Context, thread_id: int) -> None:
    """Let a held or over-budget thread post again: at its due time, or at once if that has passed."""
    from publisher import messages
    from publisher.cli import project

    with project(ctx).queue() as q:
        thread, still_over = q.release(thread_id)
        said = messages.released(thread, still_over, q.waiting_because(thread), q.now(), q.zone(thread.campaign))
    _say_all(said)


@queue.command("retry")
@click.argument("thread_id", type=THREAD_ID)
@click.pass_context
def queue_retry(ctx: click.Context, thread_id: int) -> None:
    """Try again the parts known not to have been posted (failed, or waiting); never those whose outcome is
    unknown: check those by hand first."""
    from publisher import messages
    from publisher.cli import project

    with project(ctx).queue() as q:
        changed, unknown = q.retry(thread_id)
    _say_all(messages.retried(thread_id, changed, unknown))


@queue.command("recompose")
@click.argument("thread_id", type=THREAD_ID)
@SIGNER
@click.pass_context
def queue_recompose(ctx: click.Context, thread_id: int, by: str | None) -> None:
    """Rebuild a thread from the current collection and schedule (texts and cards), keeping its slot; refused
    once any part has been sent."""
    from publisher import messages
    from publisher.cli import project

    with project(ctx).queue() as q:
        done = q.recompose(thread_id, by)
    _say_all(messages.recomposed(done))


@click.command()
@click.option("--dry-run", is_flag=True, help="Post to local outboxes in <state>/dry-run/ instead, on a fresh copy "
                                             "of the queue: nothing is sent and the queue is left as it is.")
@click.pass_context
def post(ctx: click.Context, dry_run: bool) -> None:
    """Post every thread that is due now, then exit."""
    from publisher.cli import finish_stop, project, stopping_on_sigterm

    with stopping_on_sigterm() as stop:
        report = project(ctx).post_due(dry_run=dry_run, should_stop=stop.is_set)
    if not report.outcomes:
        say("Nothing was posted." if report.waiting else "Nothing is due.")
    for thread_id, why in report.waiting:
        say(f"Thread {thread_id} is due but waits: {why}")
    for outcome in report.outcomes:
        say(f"Thread {outcome.thread_id} ({outcome.campaign}): {outcome.state}"
                   + (f" · {outcome.message}" if outcome.message else ""))
        for account in outcome.accounts:
            say(f"  {account.account}: {account.posted}/{account.total} posted"
                + (f": {_link(account.url)}" if account.url and account.state == "done" else "")
                + (f" · {account.state}: {account.message}" if account.state != "done" else ""))
    finish_stop(stop, "publisher post")
    finish(report.outcomes, report.attention, report.outbox)


def _link(url: str) -> str:
    """A post's link as a person would open it: an outbox's page as a path from here."""
    from publisher.errors import display_path

    if not url.startswith("file://"):
        return url
    page, _, anchor = urllib.parse.unquote(url.removeprefix("file://")).partition("#")
    return display_path(Path(page)) + (f"#{anchor}" if anchor else "")


def finish(outcomes: list[Any], attention: list[int], outbox: Any, slot_errors: list[str] | None = None) -> None:
    """The end of a posting command (``post``, ``run --once``): where a dry run's posts are, then the exit
    status: 7 if a thread needs a person, 3 if a slot's thread could not be queued, 12 if a thread was held over
    budget, 5 if parts wait for a retry."""
    from publisher.errors import display_path

    if outbox is not None:
        pages = sorted(display_path(page) for page in outbox.glob("*/timeline.html"))
        say(f"Dry run: nothing was sent; see {', '.join(pages)}" if pages else
                   "Dry run: nothing was posted, and nothing was sent")
    problems = [f"thread {o.thread_id} {a.account}: {a.message} (publisher queue show {o.thread_id})"
                for o in outcomes for a in o.accounts if a.state == "needs_attention"]
    reported = {o.thread_id for o in outcomes}
    problems += [f"thread {thread_id} needs attention (publisher queue show {thread_id})"
                 for thread_id in attention if thread_id not in reported]
    errors = [f"thread {o.thread_id}: {o.message}" for o in outcomes if o.state == "error"]
    if errors:
        raise PostingIncomplete(errors + problems, ExitStatus.ERROR)
    if problems:
        raise PostingIncomplete(problems, ExitStatus.PARTIAL_THREAD)
    if slot_errors:
        raise PostingIncomplete(slot_errors, ExitStatus.CONFIG)
    over = [f"thread {o.thread_id} held over budget: {o.message}" for o in outcomes if o.state == "over_budget"]
    if over:
        raise PostingIncomplete(over, ExitStatus.OVER_BUDGET)
    if any(a.state == "waiting" for o in outcomes for a in o.accounts):
        raise PostingIncomplete(["some posts are waiting to be retried; run publisher post again later"],
                                ExitStatus.RATE_LIMITED)


class PlatformName(click.ParamType[str]):
    """A platform an account can log in to, checked against the registry only when a command runs (so that
    publisher --help loads no platform)."""

    name = "platform"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from publisher.platforms import known

        names = [name for name, platform in known().items() if platform.can_login]
        if value not in names:
            self.fail(f"{value!r} is not a platform to log in to (one of: {', '.join(names)})", param, ctx)
        return str(value)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "PLATFORM"


@click.command()
@click.argument("platform", type=PlatformName())
@click.argument("account")
@click.pass_context
def login(ctx: click.Context, platform: str, account: str) -> None:
    """Check an account's credentials (PLATFORM: bluesky, x, mastodon, or one a package adds). Bluesky: log in once
    and save the session for reuse. Mastodon without a token: get one from the server (it shows a code to paste
    here), then say which variable to set."""
    from publisher.cli import project

    proj = project(ctx)
    authorization = proj.authorization(platform, account)
    if authorization is not None:
        say(f"{account} has no token yet ({authorization.variable} is not set). Open this address, sign in, allow "
            "publisher, and paste the code the server shows:")
        say(f"  {authorization.url}")
        try:
            code = click.prompt("Code", prompt_suffix=": ", default="", show_default=False).strip()
        except click.Abort:  # end of input (Ctrl-D): no code, as an empty line
            code = ""
        if not code:
            raise BadArgument(f"no code given: run publisher login {platform} {account} again, and paste the code "
                              "the server shows once you allow publisher")
        token = authorization.finish(code)
        who, _ = proj.login(platform, account, {authorization.variable: token})
        say(f"{account}: authorized ({who}). Keep this token secret; publisher reads it from "
            f"{authorization.variable}, e.g.:")
        say(f"  export {authorization.variable}={token}")
        return
    who, said = proj.login(platform, account)
    say(f"{account}: credentials work ({who}){said}")
