"""Getting started: ``publisher init`` makes a project, ``publisher doctor`` says whether all is ready, and
``publisher help TOPIC`` prints the documentation that comes with the package."""

from __future__ import annotations

import re
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
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON (publisher help json).")
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
    group.add_command(help_topic)


def docs_folder() -> Path:
    """The documentation: inside the package when installed from a wheel, else the checkout's docs/."""
    import publisher

    package = Path(publisher.__file__).parent
    installed = package / "docs"
    return installed if installed.is_dir() else package.parent / "docs"


def _topics() -> dict[str, str]:
    """Each topic and its title (the doc's first heading)."""
    topics = {}
    for doc in sorted(docs_folder().glob("*.md")):
        first = doc.read_text("utf-8").partition("\n")[0]
        topics[doc.stem] = first.lstrip("# ").replace("`", "")
    return topics


@click.command("help")
@click.argument("topic", required=False)
def help_topic(topic: str | None) -> None:
    """Print a topic of the documentation that comes with publisher (schedule, collections, themes, cli ...);
    without one, list them."""
    from publisher.errors import NotFound

    topics = _topics()
    if not topics:
        raise NotFound(f"no documentation found in {docs_folder()} (reinstall publisher from its wheel)")
    if topic is None:
        say("Topics (publisher help TOPIC prints one; publisher COMMAND --help gives a command's options):")
        for name, title in topics.items():
            say(f"  {name:<12} {title}")
        return
    name = topic.lower().removeprefix("docs/").removesuffix(".md")
    if name not in topics:
        from publisher.schema import suggest

        hint = suggest(name, list(topics)) or "topics: " + ", ".join(topics)
        raise NotFound(f'no help topic "{topic}" ({hint})')
    # the notes for the doc tests (<!-- not run: ... -->) are for the checkout's readers, not the terminal's
    text = re.sub(r"<!--.*?-->\n", "", (docs_folder() / f"{name}.md").read_text("utf-8"), flags=re.S)
    if sys.stdout.isatty():  # a long page: the terminal's pager, as git and man do
        click.echo_via_pager(text)
    else:
        say(text.rstrip("\n"))
