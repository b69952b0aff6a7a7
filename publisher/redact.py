"""Secrets never reach output, logs or the store, even when a server echoes one back in an error.

Every secret publisher reads (it reads them in one place, ``platforms.factory``) is registered here, and text
bound for a person or a file passes through ``redact``.
"""

from __future__ import annotations

_secrets: set[str] = set()
MASK = "[secret]"


def register(*values: str | None) -> None:
    """Remember secrets to hide; very short values are left out (they would mask ordinary words)."""
    _secrets.update(v for v in values if v and len(v) >= 6)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):  # longest first: one may contain another
        if secret in text:
            text = text.replace(secret, MASK)
    return text
