"""The ``publisher`` command: a thin client of ``publisher.app``.

Start-up stays fast (``publisher --help`` imports no SDK, no Pillow): commands import the library when they run.
Every error reaches the user through ``present_error``, the one place that picks the message and exit status.
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from publisher import __version__
from publisher.errors import ExitStatus, PublisherError
from publisher.redact import redact
from publisher.text import terminal_safe


def present_error(exc: BaseException) -> tuple[list[str], ExitStatus]:
    """The lines to print and the exit status for any exception that reaches the CLI."""
    if isinstance(exc, PublisherError):
        return exc.lines(), exc.exit_status
    if isinstance(exc, click.UsageError):
        command = exc.ctx.command_path if exc.ctx else "publisher"
        hint = " (--debug goes before the command: publisher --debug COMMAND)" if "--debug" in exc.format_message() \
            else f" (see {command} --help)"
        return [f"{exc.format_message()}{hint}"], ExitStatus.USAGE  # one style with ours: no "Error:" before it
    if isinstance(exc, click.ClickException):
        return [exc.format_message()], ExitStatus.USAGE
    if isinstance(exc, KeyboardInterrupt | click.Abort):
        return ["Interrupted."], ExitStatus.INTERRUPTED
    if isinstance(exc, BrokenPipeError | OutputClosed):
        return [], ExitStatus.OK
    if isinstance(exc, OSError) and (exc.filename or exc.strerror):
        return [file_problem(exc)], ExitStatus.FILE
    name = type(exc).__name__
    return [f"unexpected {name}: {exc} (run again with --debug for the traceback, and please report it)"], \
        ExitStatus.ERROR


def file_problem(exc: OSError) -> str:
    """A file error as a user can act on it: which file, what went wrong, what to check."""
    import errno

    from publisher.errors import display_path

    if exc.filename:
        where = display_path(Path(exc.filename))
    else:
        where = "standard output" if _while_printing(exc) else "a file"
    fix = {errno.ENOSPC: "free some space and run it again", errno.ENAMETOOLONG: "use a shorter name",
           errno.EACCES: "check its permissions, and those of its folder",
           errno.EPERM: "check its permissions, and those of its folder",
           errno.EROFS: "it is on a read-only file system: choose another place",
           errno.ENOENT: "check that the folder exists", errno.ENOTDIR: "a part of the path is a file, not a folder",
           errno.EISDIR: "it is a folder: give a file"}.get(exc.errno or 0, "check the path and the disk")
    return f"{where}: {exc.strerror or exc} ({fix})"


def _while_printing(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while writing the command's output (to a full disk, say)."""
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "echo" and "click" in code.co_filename:
            return True
        tb = tb.tb_next
    return False


class OutputClosed(Exception):
    """Whoever read the command's output stopped reading (``publisher quotes | head``): not an error."""


def report_failure(lines: list[str], exc: BaseException, debug: bool) -> None:
    """Print the error lines (and with ``debug`` the traceback), secrets masked: as JSON log records when the
    command logs JSON, else as plain lines on standard error."""
    import logging

    from publisher import logs

    trace = "".join(traceback.format_exception(exc)) if debug else ""
    if logs.current_format() == "json":
        log = logging.getLogger("publisher")
        for index, line in enumerate(lines or ([type(exc).__name__] if trace else [])):
            log.error(line, extra={"traceback": trace} if trace and index == 0 else None)
        return
    if trace:
        sys.stderr.write(redact(trace))
    for line in lines:
        click.echo(terminal_safe(redact(line), keep_line_breaks=False), err=True)


@contextmanager
def stopping_on_sigterm() -> Iterator[threading.Event]:
    """An event SIGTERM sets (a service manager or ``kill`` stopping a posting command), so the command
    finishes the part in flight and starts nothing more; ``finish_stop`` then says so, with exit status 143."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def raising_on_sigterm(message: str) -> Iterator[None]:
    """SIGTERM as an exception (``Terminated``, exit status 143) in a command that is not posting, so it unwinds
    like Ctrl-C: workers ended, temporary files removed, nothing half-written left behind."""
    from publisher.errors import Terminated

    def stop(*_: object) -> None:
        raise Terminated(message)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def finish_stop(stop: threading.Event, command: str) -> None:
    if stop.is_set():
        from publisher.errors import Terminated

        raise Terminated(f"stopped by SIGTERM after the part in flight: {command} goes on from there when run "
                         "again")


def _debug_first(argv: list[str]) -> list[str]:
    """``--debug`` is the group's option; given after the command, it is taken as if written before it."""
    end = argv.index("--") if "--" in argv else len(argv)
    if "--debug" not in argv[1:end]:
        return argv
    return ["--debug", *[a for a in argv[:end] if a != "--debug"], *argv[end:]]


class PublisherCLI(click.Group):
    """A click group whose errors all go through ``present_error``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:  # click would exit 1 for it
            raise OutputClosed() from exc

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> NoReturn:
        from publisher import logs

        argv = _debug_first(list(sys.argv[1:] if args is None else args))
        debug = "--debug" in argv
        logs.setup_command(debug)
        try:
            status = super().main(argv, "publisher", complete_var, standalone_mode=False, **extra)
            sys.exit(status if isinstance(status, int) else ExitStatus.OK)
        except SystemExit:
            raise
        except BaseException as exc:
            if isinstance(exc, OutputClosed):
                _discard_output()
            lines, status = present_error(exc)
            report_failure(lines, exc, debug and not isinstance(exc, click.exceptions.Exit | OutputClosed))
            sys.exit(status)


def _discard_output() -> None:
    """Send what is left of standard output nowhere, so that flushing it at exit raises nothing more."""
    import contextlib
    import os

    with contextlib.suppress(OSError, ValueError):  # no standard output at all: nothing to discard
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@click.group(cls=PublisherCLI, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path), default="schedule.toml",
              envvar="PUBLISHER_CONFIG", show_default=True, help="The schedule file; paths in it are relative to it.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=lambda ctx, _, value:
              _show_versions(ctx) if value and not ctx.resilient_parsing else None,
              help="Show the versions of publisher and the libraries it relies on, and exit.")
@click.pass_context
def cli(ctx: click.Context, config_path: Path, debug: bool) -> None:
    """Turn curated quotes into branded cards and post them as threads to Bluesky, X and Mastodon."""
    ctx.obj = config_path


def _show_versions(ctx: click.Context) -> None:
    click.echo("\n".join(version_lines()))
    ctx.exit()


def version_lines() -> list[str]:
    """publisher, Python and the libraries a bug report needs (Pillow with or without raqm shapes text
    differently), read from the installed packages' metadata."""
    import platform
    from importlib import metadata

    from PIL import features

    def version_of(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    raqm = features.version("raqm")
    shaping = (f"with raqm {raqm} and FriBiDi {features.version('fribidi')}: text shaped in every script" if raqm
               else "without raqm: install FriBiDi (libfribidi0) so Arabic, Hebrew and Indic scripts are shaped")
    return [f"publisher {__version__}", f"Python {platform.python_version()}",
            f"Pillow {version_of('pillow')} ({shaping})", *(f"{name} {version_of(name)}" for name in
                                                            ("atproto", "tweepy", "Mastodon.py", "APScheduler"))]


def project(ctx: click.Context, needs_schedule: bool = True, store_alone: bool = False) -> Any:
    """The project the command works on; every command run outside one says the same thing. ``store_alone``:
    the command (the emergency stop: queue list, show, cancel, hold; status) also works on the store in the
    default place beside a schedule.toml that is gone."""
    from publisher.app import Project
    from publisher.project import require_schedule

    root = ctx.find_root()
    config_path: Path = root.obj
    default_store = config_path.parent / "state" / "publisher.db"
    orphaned_store = store_alone and not config_path.exists() and default_store.is_file()
    if needs_schedule and not orphaned_store:
        source = root.get_parameter_source("config_path")
        given_by = {click.core.ParameterSource.COMMANDLINE: "--config",
                    click.core.ParameterSource.ENVIRONMENT: "PUBLISHER_CONFIG"}.get(source)  # type: ignore[arg-type]
        require_schedule(config_path, given_by)
    return Project(config_path)


def main() -> None:
    cli.main()


from publisher.cli import cards as _cards  # noqa: E402  (registers the commands)
from publisher.cli import collections as _collections  # noqa: E402
from publisher.cli import daemon as _daemon  # noqa: E402
from publisher.cli import extract as _extract  # noqa: E402
from publisher.cli import posting as _posting  # noqa: E402
from publisher.cli import results as _results  # noqa: E402
from publisher.cli import start as _start  # noqa: E402

_start.register(cli)
_collections.register(cli)
_cards.register(cli)
_posting.register(cli)
_daemon.register(cli)
_results.register(cli)
_extract.register(cli)
