"""Daemon logs: human lines by default, one JSON object per line for machines, from publisher and from every
library it uses (APScheduler's tracebacks included, as a field). Every line passes through the redactor, so a
secret a server echoed back never reaches a log."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from publisher.redact import redact
from publisher.text import json_terminal_safe, terminal_safe


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name, "message": redact(record.getMessage())}
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        elif trace := getattr(record, "traceback", None):  # the CLI's --debug traceback of the error it reports
            entry["error"] = redact(trace)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json_terminal_safe(json.dumps(entry, ensure_ascii=False))


class HumanLines(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        # a line a server's answer or the store put words in never acts on the terminal (tracebacks keep their lines)
        safe = logging.makeLogRecord({**record.__dict__, "msg": terminal_safe(record.getMessage(), False),
                                      "args": None})
        return redact(super().format(safe))


_format = "human"


def current_format() -> str:
    """The format set up last: ``human`` or ``json`` (the CLI reports its own errors in it)."""
    return _format


def setup(log_format: str = "human", level: int = logging.INFO) -> None:
    """Every logger's records, publisher's at ``level`` and other libraries' warnings and errors, go to standard
    error in one format."""
    global _format
    _format = log_format
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if log_format == "json" else HumanLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    ours = logging.getLogger("publisher")
    ours.handlers[:] = []
    ours.setLevel(level)
    ours.propagate = True
    logging.captureWarnings(True)  # Python warnings become log records too, not loose lines


class CommandLines(logging.Formatter):
    """A command's own warnings and errors for a person (``warning: ...``); a traceback only with --debug."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {redact(terminal_safe(record.getMessage(), keep_line_breaks=False))}"
        if self.debug and record.exc_info:
            text += "\n" + redact(self.formatException(record.exc_info))
        return text


def setup_command(debug: bool) -> None:
    """Before a command runs: what publisher logs along the way (a bug met while posting, an outbox page that
    could not be written) reaches standard error as one line, with its traceback only under --debug. A command
    that logs for a living (run, serve) calls ``setup`` instead."""
    ours = logging.getLogger("publisher")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CommandLines(debug))
    handler.setLevel(logging.WARNING)
    ours.handlers[:] = [handler]
