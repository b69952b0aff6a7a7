"""What the command prints. Text from the store, the files and the platforms' answers may hold characters that
act on a terminal (an escape sequence in a reason, in a server's error): every line goes out with them shown as
code points, and JSON with them escaped (the same value, to any JSON reader)."""

from __future__ import annotations

import json
import re
from typing import Any

import click

from publisher.text import BIDI_CONTROLS, terminal_safe

# json.dumps escapes U+0000-U+001F itself; these it would leave as they are.
_RAW_IN_JSON = re.compile("[\x7f-\x9f" + "".join(sorted(BIDI_CONTROLS)) + "]")


def say(text: str = "", err: bool = False) -> None:
    """One or more lines for a person, on standard output (or error), control characters shown, not obeyed."""
    click.echo(terminal_safe(text), err=err)


def echo_json(data: Any) -> None:
    """Data for scripts: JSON, indented, non-ASCII text as it is, but no character that acts on a terminal."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    click.echo(_RAW_IN_JSON.sub(lambda found: f"\\u{ord(found.group()):04x}", text))
