"""Secrets never reach output, logs or the store, even when a server echoes one back in an error.

Every secret publisher reads (it reads them in one place, ``platforms.factory``) is registered here, and text
bound for a person or a file passes through ``redact``.
"""

from __future__ import annotations

import re

_secrets: set[str] = set()
MASK = "[secret]"


def register(*values: str | None) -> None:
    """Remember secrets to hide; very short values are left out (they would mask ordinary words)."""
    _secrets.update(v for v in values if v and len(v) >= 6)


def redact(text: str) -> str:
    """``text`` with every registered secret masked, in any letter case (a server may echo it upper-cased)."""
    if not _secrets:
        return text
    folded = text.casefold()
    for secret in sorted(_secrets, key=len, reverse=True):  # longest first: one may contain another
        if secret.casefold() in folded:
            text = re.sub(re.escape(secret), MASK, text, flags=re.IGNORECASE)
            folded = text.casefold()
    return text
