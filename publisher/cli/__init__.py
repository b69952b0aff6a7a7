"""The ``publisher`` command: a thin client of ``publisher.app``.

Start-up stays fast (``publisher --help`` imports no SDK, no Pillow): commands import the library when they run.
Every error reaches the user through ``present_error``, the one place that picks the message and exit status.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click

from publisher import __version__
from publisher.errors import ExitStatus, PublisherError
from publisher.redact import redact


def present_error(exc: BaseException) -> tuple[list[str], ExitStatus]:
    """The lines to print and the exit status for any exception that reaches the CLI."""
    if isinstance(exc, PublisherError):
        return exc.lines(), exc.exit_status
    if isinstance(exc, click.UsageError):
        command = exc.ctx.command_path if exc.ctx else "publisher"
        return [f"Error: {exc.format_message()} (see {command} --help)"], ExitStatus.USAGE
    if isinstance(exc, click.ClickException):
        return [f"Error: {exc.format_message()}"], ExitStatus.USAGE
    if isinstance(exc, KeyboardInterrupt | click.Abort):
        return ["Interrupted."], ExitStatus.INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return [], ExitStatus.OK
    if isinstance(exc, OSError) and (exc.filename or exc.strerror):
        return [file_problem(exc)], ExitStatus.FILE
    name = type(exc).__name__
    return [f"Error: unexpected {name}: {exc} (run again with --debug for the traceback, and please report it)"], \
        ExitStatus.ERROR


def file_problem(exc: OSError) -> str:
    """A file error as a user can act on it: which file, what went wrong, what to check."""
    import errno

    from publisher.errors import display_path

    where = display_path(Path(exc.filename)) if exc.filename else "a file"
    fix = {errno.ENOSPC: "free some space and run it again", errno.ENAMETOOLONG: "use a shorter name",
           errno.EACCES: "check its permissions, and those of its folder",
           errno.EPERM: "check its permissions, and those of its folder",
           errno.EROFS: "it is on a read-only file system: choose another place",
           errno.ENOENT: "check that the folder exists", errno.ENOTDIR: "a part of the path is a file, not a folder",
           errno.EISDIR: "it is a folder: give a file"}.get(exc.errno or 0, "check the path and the disk")
    return f"{where}: {exc.strerror or exc} ({fix})"


class PublisherCLI(click.Group):
    """A click group whose errors all go through ``present_error``."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> NoReturn:
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv
        try:
            status = super().main(argv, "publisher", complete_var, standalone_mode=False, **extra)
            sys.exit(status if isinstance(status, int) else ExitStatus.OK)
        except SystemExit:
            raise
        except BaseException as exc:
            if debug and not isinstance(exc, click.exceptions.Exit):
                traceback.print_exc()
            lines, status = present_error(exc)
            for line in lines:
                click.echo(redact(line), err=True)
            sys.exit(status)


@click.group(cls=PublisherCLI, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path), default="schedule.toml",
              envvar="PUBLISHER_CONFIG", show_default=True, help="The schedule file; paths in it are relative to it.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="publisher")
@click.pass_context
def cli(ctx: click.Context, config_path: Path, debug: bool) -> None:
    """Turn curated quotes into branded cards and post them as threads to Bluesky and X."""
    ctx.obj = config_path


def project(ctx: click.Context, needs_schedule: bool = True) -> Any:
    """The project the command works on; every command run outside one says the same thing."""
    from publisher.app import Project
    from publisher.project import require_schedule

    config_path: Path = ctx.find_root().obj
    if needs_schedule:
        require_schedule(config_path)
    return Project(config_path)


def main() -> None:
    cli.main()


from publisher.cli import cards as _cards  # noqa: E402  (registers the commands)
from publisher.cli import collections as _collections  # noqa: E402
from publisher.cli import daemon as _daemon  # noqa: E402
from publisher.cli import posting as _posting  # noqa: E402

_collections.register(cli)
_cards.register(cli)
_posting.register(cli)
_daemon.register(cli)
