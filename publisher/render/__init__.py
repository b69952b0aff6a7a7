"""Rendering quote cards with Pillow: pure (collection, quote, theme, format) in, PNG bytes and alt text out."""

from __future__ import annotations

from publisher.errors import ExitStatus, PublisherError

FORMAT_NAMES = ("square", "portrait", "story", "landscape")  # here, not in card.py, so the CLI needs no Pillow


class TextShapingUnavailable(PublisherError):
    """Pillow has no libraqm/FriBiDi: it would silently lose kerning and right-to-left shaping."""

    exit_status = ExitStatus.ENVIRONMENT


def check_text_shaping() -> None:
    from PIL import features

    if not features.check("raqm"):
        raise TextShapingUnavailable(
            "Pillow cannot shape text: libraqm or FriBiDi is missing, so kerning and right-to-left scripts would "
            "be wrong (Debian/Ubuntu: apt-get install libfribidi0 libraqm0; macOS: brew install fribidi libraqm; "
            "then run scripts/install again)")
