"""Getting started: ``publisher init`` makes a project, ``publisher doctor`` says whether all is ready."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from publisher.cli.output import echo_json, say
from publisher.errors import ExitStatus


@click.command()
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False), default=".", required=False)
@click.option("--example", type=click.Choice(["caseyreview", "blank"]), default="caseyreview", show_default=True,
              help="caseyreview: the Casey Review collection (20 quotes); blank: one quote to replace with yours.")
def init(folder: Path, example: str) -> None:
    """Start a project in FOLDER (default: here): schedule.toml with a local dry-run account, quotes/ and a
    .gitignore. Never replaces a file: one already there is named and left alone."""
    from publisher.errors import display_path
    from publisher.starter import EXAMPLES, start_project

    started = start_project(folder, example)
    where = "this folder" if folder == Path(".") else display_path(folder)
    if started.kept:
        say(f"Added what was missing of the {example} example to {where} ({EXAMPLES[example]}):")
    else:
        say(f"Started a publisher project in {where} ({EXAMPLES[example]}):")
    for path in started.created:
        say(f"  created {path.as_posix()}")
    for path in started.kept:
        say(f"  kept    {path.as_posix()} (already there; left as it is)")
    own_schedule = Path("schedule.toml") in started.kept
    if own_schedule:
        say("The schedule.toml already there is the one used: it may post to real accounts (publisher "
                   "preview shows where each thread would go).\nNext:")
    else:
        say("It posts to a local outbox only (outbox/local/): nothing leaves this machine until you add "
                   "an account.\nNext:")
    if folder != Path("."):
        shown = display_path(folder)
        say(f"  cd {shlex.quote('./' + shown if shown.startswith('-') else shown)}")
    say("  publisher validate                             check the schedule and every quote\n"
               "  publisher preview --open                       see the next thread as it would be posted")
    if own_schedule:
        say("  publisher doctor                               check the machine, the accounts and the store")
    else:
        say("  publisher queue add --now && publisher post    post it to the outbox "
                   "(outbox/local/timeline.html)")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON (docs/json.md).")
@click.option("--online", is_flag=True, help="Also log each account in (as publisher login does): who it is, or "
              "what to fix. Without it nothing touches the network.")
@click.pass_context
def doctor(ctx: click.Context, as_json: bool, online: bool) -> None:
    """Check that this machine and this project are ready: Python and libraries, text shaping, fonts for every
    quote, the clock and timezone data, each account's credentials (names only), the store and the daemon;
    with --online, each account's login. One line per check; exits 0 only when every check passes."""
    from publisher.doctor import run_checks
    from publisher.project import ProjectFiles

    files = ProjectFiles(ctx.find_root().obj)
    checks = []
    marks = ("✓", "✗") if _can_print("✓✗") else ("ok", "FAIL")
    for check in run_checks(files, online=online):
        checks.append(check)
        if not as_json:
            say(check.line(marks))
    failed = [c for c in checks if not c.ok]
    if as_json:
        echo_json({"ok": not failed, "checks": [c.as_json() for c in checks]})
    elif failed and not files.config_path.is_file():
        machine = ("this machine is ready" if len(failed) == 1 else
                   f"{len(failed) - 1} of {len(checks) - 1} checks of this machine failed: each says how to fix it")
        say(f"No project here, and {machine}: publisher init FOLDER starts one.", err=True)
    elif failed:
        say(f"{len(failed)} of {len(checks)} checks failed: each says how to fix it.", err=True)
    else:
        say(f"All {len(checks)} checks passed.")
    if failed:
        ctx.exit(ExitStatus.CHECK_FAILED)


def _can_print(text: str) -> bool:
    try:
        text.encode(getattr(sys.stdout, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def register(group: click.Group) -> None:
    group.add_command(init)
    group.add_command(doctor)
