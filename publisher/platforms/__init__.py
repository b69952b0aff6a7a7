"""Platforms: one small interface (limits, measure, post), one module per platform.

Only the adapters' ``post`` paths import an SDK, lazily; counting and limits are cheap to import.
"""

from __future__ import annotations

from publisher.platforms.base import Limits, Measure, PlatformRules


def rules_for(platform: str) -> PlatformRules:
    """The counting rules of a platform by name: "bluesky", "x" (an outbox mimics one of them)."""
    if platform == "bluesky":
        from publisher.platforms.bluesky import BlueskyRules

        return BlueskyRules()
    if platform == "x":
        from publisher.platforms.x import XRules

        return XRules()
    raise ValueError(f"no rules for platform {platform!r}")


__all__ = ["Limits", "Measure", "PlatformRules", "rules_for"]
