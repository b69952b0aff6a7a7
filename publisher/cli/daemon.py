"""Commands for scheduled posting: run (the daemon), status."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import click


def register(cli: click.Group) -> None:
    cli.add_command(run)
    cli.add_command(status)


@click.command()
@click.option("--once", is_flag=True, help="Post whatever is due now (and any slot reached) and exit: for cron.")
@click.option("--dry-run", is_flag=True, help="Send every account to a local outbox under <state>/dry-run/, "
                                             "with its own queue there.")
@click.option("--log-format", type=click.Choice(["human", "json"]), default="human", show_default=True,
              help="Log lines for people, or one JSON object per line.")
@click.pass_context
def run(ctx: click.Context, once: bool, dry_run: bool, log_format: str) -> None:
    """Post every campaign's threads at their slot times, in the foreground (stop with Ctrl-C or SIGTERM)."""
    from publisher import logs
    from publisher.cli import project
    from publisher.scheduler import Daemon

    logs.setup(log_format)
    daemon = Daemon(project(ctx), dry_run=dry_run)
    if once:
        daemon.run_once()
    else:
        daemon.run_forever()


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Next slots, the queue by state, recent posts, failures with their fix, and whether a daemon is running."""
    from publisher.cli import project
    from publisher.lock import StoreLock
    from publisher.scheduler import campaign_zone, is_scheduled
    from publisher.slots import next_slots

    proj = project(ctx)
    schedule = proj.schedule()
    now = proj.now()
    report: dict[str, Any] = {"now": now.isoformat(), "daemon": StoreLock(proj.store_path(schedule)).holder()}
    campaigns = []
    for campaign in schedule.campaigns:
        zone = campaign_zone(schedule, campaign)
        upcoming = next_slots(campaign, zone, now, count=3) if is_scheduled(campaign) else []
        campaigns.append({"campaign": campaign.name, "enabled": campaign.enabled, "timezone": str(zone),
                          "catch_up": campaign.catch_up, "next_slots": [
                              {"local": s.astimezone(zone).isoformat(), "utc": s.astimezone(UTC).isoformat()}
                              for s in upcoming]})
    report["campaigns"] = campaigns
    store = proj.store(schedule) if proj.store_path(schedule).exists() else None
    queue: dict[str, int] = {}
    recent: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    if store is not None:
        for thread in store.threads():
            queue[thread.state] = queue.get(thread.state, 0) + 1
        recent = [{"thread": t.id, "account": p.account, "part": p.position, "url": p.url}
                  for p, t in store.recent_posts(10)]
        failures = [{"thread": t.id, "account": p.account, "part": p.position, "state": p.state,
                     "error": p.last_error, "fix": p.fix} for p, t in store.problem_parts()]
        events = store.events(limit=5)
        store.close()
    report.update(queue=queue, recent_posts=recent, failures=failures, recent_errors=events)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    _print_status(report)


def _print_status(report: dict[str, Any]) -> None:
    daemon = report["daemon"]
    click.echo(f"Daemon: running (pid {daemon.get('pid')}, since {daemon.get('since')})" if daemon
               else "Daemon: not running")
    for campaign in report["campaigns"]:
        state = "" if campaign["enabled"] else " (disabled)"
        click.echo(f"Campaign {campaign['campaign']}{state}, {campaign['timezone']}, catch_up "
                   f"{campaign['catch_up']}:")
        if not campaign["next_slots"]:
            click.echo("  no upcoming slots")
        for slot in campaign["next_slots"]:
            local = datetime.fromisoformat(slot["local"]).astimezone(ZoneInfo(campaign["timezone"]))
            utc = datetime.fromisoformat(slot["utc"])
            click.echo(f"  next: {local:%a %Y-%m-%d %H:%M %Z}  ({utc:%H:%M} UTC)")
    queue = report["queue"]
    click.echo("Queue: " + (", ".join(f"{count} {state}" for state, count in sorted(queue.items())) or "empty"))
    if report["recent_posts"]:
        click.echo("Recent posts:")
        for post in report["recent_posts"]:
            click.echo(f"  thread {post['thread']} {post['account']} part {post['part']}: {post['url']}")
    if report["failures"]:
        click.echo("Needs attention:")
        for failure in report["failures"]:
            click.echo(f"  thread {failure['thread']} {failure['account']} part {failure['part']} "
                       f"({failure['state']}): {failure['error']}")
            if failure["fix"]:
                click.echo(f"    fix: {failure['fix']}")
    if report["recent_errors"]:
        click.echo("Recent daemon errors:")
        for event in report["recent_errors"]:
            click.echo(f"  {event['at']}: {event['message']}")
