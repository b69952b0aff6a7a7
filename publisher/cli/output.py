"""What the command prints. Text from the store, the files and the platforms' answers may hold characters that
act on a terminal (an escape sequence in a reason, in a server's error): every line goes out with them shown as
code points, and JSON with them escaped (the same value, to any JSON reader)."""

from __future__ import annotations

import json
from typing import Any

import click

from publisher.text import json_terminal_safe, terminal_safe


def say(text: str = "", err: bool = False) -> None:
    """One or more lines for a person, on standard output (or error), control characters shown, not obeyed."""
    click.echo(terminal_safe(text), err=err)


def echo_json(data: Any) -> None:
    """Data for scripts: JSON, indented, non-ASCII text as it is, but no character that acts on a terminal."""
    click.echo(json_terminal_safe(json.dumps(data, indent=2, ensure_ascii=False)))
