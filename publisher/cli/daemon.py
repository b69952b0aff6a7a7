"""Commands for scheduled posting: run (the daemon), status."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from publisher.cli.output import echo_json, say
from publisher.text import counted, terminal_safe


def register(cli: click.Group) -> None:
    cli.add_command(run)
    cli.add_command(status)
    cli.add_command(serve)


def dashboard_options(command: Any) -> Any:
    for option in reversed([
        click.option("--port", type=click.IntRange(0, 65535), default=8750, show_default=True,
                     help="The dashboard's port (0: any free one)."),
        click.option("--host", default="127.0.0.1", show_default=True,
                     help="The address to listen on; another machine's reach needs --allow-remote too."),
        click.option("--allow-remote", is_flag=True, help="Allow a --host other machines can reach (the token, "
                     "sent over plain HTTP, is then the only lock)."),
        click.option("--no-open", is_flag=True, help="Do not open the dashboard in a browser."),
        click.option("--user", metavar="NAME", envvar="PUBLISHER_USER",
                     help="The name sign-offs are recorded under (default: $PUBLISHER_USER, else your user name)."),
        # Not passed to the command: _start_dashboard reads it, so the commands' signatures stay as they are.
        click.option("--public-url", metavar="URL", expose_value=False, callback=_remember_public_url,
                     help="The https:// address an HTTPS proxy serves the dashboard at (publisher help dashboard): "
                     "the link uses it, changes from it are accepted and the cookie is Secure."),
    ]):
        command = option(command)
    return command


PUBLIC_URL = "publisher.dashboard.public_url"


def _remember_public_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    ctx.meta[PUBLIC_URL] = value
    return value


def _start_dashboard(proj: Any, host: str, port: int, allow_remote: bool, no_open: bool, user: str | None,
                     on_change: Any = lambda: None) -> Any:
    """The dashboard bound and announced (``Dashboard: URL``), not yet running."""
    import getpass

    from publisher.dashboard.server import is_loopback, prepare
    from publisher.errors import BadArgument
    from publisher.queue import name_problem

    ctx = click.get_current_context()
    signer = (user or _os_user(getpass)).strip()
    problem = name_problem(signer)
    if problem is not None:
        source = ("PUBLISHER_USER" if ctx.get_parameter_source("user") == click.core.ParameterSource.ENVIRONMENT
                  else "--user" if user else "your user name")
        raise BadArgument(f"{source} {problem}, so it would not show as itself where sign-offs are listed: give a "
                          "plain name (--user NAME)")
    served = prepare(proj, host, port, allow_remote, signer, on_change, ctx.meta.get(PUBLIC_URL))
    if not is_loopback(host):
        click.echo(f"warning: the dashboard listens on {host}: anyone who can reach it and learns the link can "
                   "approve and post; stop it when you are done", err=True)
    click.echo(f"Dashboard: {served.url}")
    click.echo("(the link holds this run's token; each start makes a new one. Stop with Ctrl-C.)")
    if not no_open:
        import webbrowser

        threading_timer(0.5, lambda: webbrowser.open(served.browser_url))
    return served


def _os_user(getpass: Any) -> str:
    try:
        return str(getpass.getuser())
    except (KeyError, OSError):
        return "someone"


def threading_timer(delay: float, action: Any) -> None:
    import threading

    timer = threading.Timer(delay, action)
    timer.daemon = True
    timer.start()


@click.command()
@dashboard_options
@click.pass_context
def serve(ctx: click.Context, port: int, host: str, allow_remote: bool, no_open: bool, user: str | None) -> None:
    """A local web dashboard: upcoming threads, the queue, sign-off and every action, cards, packs and the log.
    Listens on 127.0.0.1 only, and every request needs the token in the link it prints."""
    import signal

    from publisher import logs
    from publisher.cli import project

    logs.setup()  # a server's standard error is its log: a bug's traceback goes there
    proj = project(ctx)
    proj.files.schedule()  # a broken schedule is said now, in one line, not on every page
    served = _start_dashboard(proj, host, port, allow_remote, no_open, user)
    # uvicorn stops on SIGINT/SIGTERM and then raises the signal again: caught here, the stop is a clean exit 0.
    stops: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, _frame: stops.append(number))
    served.run()
    click.echo("Dashboard stopped.")


@click.command()
@click.option("--once", is_flag=True, help="Post whatever is due now (and any slot reached) and exit: for cron.")
@click.option("--dry-run", is_flag=True, help="Work on a fresh copy of the queue in <state>/dry-run/ and post "
                                             "every account to a local outbox there; nothing is sent.")
@click.option("--log-format", type=click.Choice(["human", "json"]), default="human", show_default=True,
              help="Log lines for people, or one JSON object per line.")
@click.option("--serve", "with_dashboard", is_flag=True, help="Also run the dashboard (publisher serve) in this "
              "process.")
@dashboard_options
@click.pass_context
def run(ctx: click.Context, once: bool, dry_run: bool, log_format: str, with_dashboard: bool, port: int, host: str,
        allow_remote: bool, no_open: bool, user: str | None) -> None:
    """Post every campaign's threads at their slot times, in the foreground (stop with Ctrl-C or SIGTERM)."""
    from publisher import logs
    from publisher.cli import finish_stop, project, stopping_on_sigterm
    from publisher.cli.posting import finish

    logs.setup(log_format)
    proj = project(ctx)
    daemon = proj.daemon(dry_run=dry_run)
    if once:
        with stopping_on_sigterm() as stop:
            daemon.stop = stop  # the daemon's own stop: it checks it between parts
            outcomes = daemon.run_once()
        with proj.queue(dry_run=False, create=False) as q:
            attention = [] if dry_run else q.needing_attention()
        finish_stop(stop, "publisher run --once")
        finish(outcomes, attention, daemon.outbox, daemon.slot_errors)
    elif with_dashboard:
        from publisher.errors import StoreBusy
        from publisher.lock import StoreLock

        holder = StoreLock(proj.files.store_path(dry_run)).holder()
        if holder is not None:  # said before any link is printed
            raise StoreBusy(f"{holder.get('command', 'publisher')} (pid {holder.get('pid', '?')}) is already posting "
                            "from this store: stop it first, or run publisher serve on its own beside it")
        served = _start_dashboard(proj, host, port, allow_remote, no_open, user, daemon.wake)
        serving = served.start_in_thread()
        try:
            daemon.run_forever()
        finally:
            served.stop()
            serving.join(timeout=30)  # its packs' workers stopped and its work folder gone before the exit
    else:
        daemon.run_forever()


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable (see publisher help json).")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Next slots and when each campaign runs out, the queue, X spending this month, recent posts, failures
    with their fix, and whether a daemon is running."""
    from publisher.cli import project

    report = project(ctx, store_alone=True).status()
    if as_json:
        echo_json(report)
        return
    _print_status(report)


def _print_status(report: dict[str, Any]) -> None:
    from publisher.budget import usd

    daemon = report["daemon"]
    say(f"Daemon: running (pid {daemon.get('pid')}, since {daemon.get('since')})" if daemon
        else "Daemon: not running")
    if report["config_problem"]:
        say("schedule.toml cannot be read, so nothing is posted until it is fixed (publisher validate):")
        for line in report["config_problem"]:
            say(f"  {line}")
    for campaign in report["campaigns"]:
        state = "" if campaign["enabled"] else " (disabled)"
        say(f"Campaign {campaign['campaign']}{state}, {campaign['timezone']}, catch_up "
                   f"{campaign['catch_up']}:")
        if not campaign["next_slots"]:
            say("  no upcoming slots")
        for slot in campaign["next_slots"]:
            local = datetime.fromisoformat(slot["local"]).astimezone(ZoneInfo(campaign["timezone"]))
            utc = datetime.fromisoformat(slot["utc"])
            say(f"  next: {local:%a %Y-%m-%d %H:%M %Z}  ({utc:%H:%M} UTC)")
        if campaign["run_out"]:
            say(f"  quotes: {campaign['run_out']['summary']}")
        for line in campaign.get("not_verified", []):
            say(terminal_safe(f"  not posted (require_verified): {line}"))
        for line in campaign["collection_problem"] or []:
            say(f"  its collection cannot be read, so no thread of it can be made: {line}")
    queue = report["queue"]
    say("Queue: " + (", ".join(f"{count} {state}" for state, count in sorted(queue.items())) or "empty"))
    fixes = {"held": "publisher queue release {id}",
             "over_budget": "raise x_monthly_budget in schedule.toml, then publisher queue release {id}"}
    for thread in report["threads"]:
        notes = []
        if thread["state"] in fixes:
            notes.append(f"{thread['state']}: {thread['reason'] or ''} ({fixes[thread['state']].format(**thread)})")
        notes += [n for n in (thread["waiting"], thread["off_slot"]) if n]
        if thread["quotes_changed"]:
            from publisher.store_states import SENT

            fix = (f"its posts so far stay as they are; publisher queue cancel {thread['id']} stops the rest"
                   if any(p["state"] in SENT for p in thread["parts"]) else f"publisher queue recompose {thread['id']}")
            notes.append(f"quotes changed since queued: {', '.join(thread['quotes_changed'])} ({fix})")
        for note in notes:
            say(f"  thread {thread['id']} ({thread['campaign']}): {note}")
    for account, spend in report["x_spend"].items():
        budgets = ", ".join(usd(b) for b in spend["budgets_usd"]) or "none set"
        pretend = "" if spend["spends"] else f" ({spend['platform']}, counted as X: nothing is spent)"
        say(f"X spend {spend['month']}: {account} {usd(spend['spent_usd'])} of budget {budgets}{pretend}")
    for account, skipped in report.get("readings_skipped", {}).items():
        say(f"Results of {account}: {counted(skipped, 'reading')} skipped this month: they would have gone over the "
            "campaign's x_monthly_budget (raise it, or set x_results = false)")
    if report["recent_posts"]:
        say("Recent posts:")
        for post in report["recent_posts"]:
            say(f"  thread {post['thread']} {post['account']} part {post['part']}: {post['url']}")
    if report["failures"]:
        say("Needs attention:")
        for failure in report["failures"]:
            say(f"  thread {failure['thread']} {failure['account']} part {failure['part']} "
                       f"({failure['state']}): {failure['error']}")
            if failure["fix"]:
                say(f"    fix: {failure['fix']}")
    store = report["store"]
    if store["path"]:
        kept = f"; cards of finished threads are kept for {store['keep_cards']} (keep_cards)" if store["keep_cards"] \
            else ""
        say(f"Store: {_megabytes(store['bytes'])} ({store['cards']} card image{'' if store['cards'] == 1 else 's'}, "
            f"{_megabytes(store['card_bytes'])}; {_megabytes(store['free_bytes'])} free for reuse){kept}")
    if report["recent_errors"]:
        say("Recent daemon errors:")
        for event in report["recent_errors"]:
            say(f"  {event['at']}: {event['message']}")


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"
