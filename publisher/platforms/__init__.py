"""The platforms publisher can post to: one module each, each with a ``PLATFORM`` (``base.PlatformKind``) saying
everything publisher knows of it. They are found through the ``publisher.platforms`` entry-point group, so a
separate package can add one (docs/platforms.md); no module outside this package names a platform.

Only the adapters import an SDK, lazily: counting, limits and account keys are cheap to import.
"""

from __future__ import annotations

import importlib
from functools import cache

from publisher.platforms.base import Limits, LimitsCache, Measure, PlatformAccount, PlatformKind, PlatformRules

ENTRY_POINTS = "publisher.platforms"
# publisher's own, as its package metadata registers them: used when that metadata is not there (a source tree)
BUILT_IN = {"x": "publisher.platforms.x:PLATFORM", "bluesky": "publisher.platforms.bluesky:PLATFORM",
            "mastodon": "publisher.platforms.mastodon:PLATFORM", "outbox": "publisher.platforms.outbox:PLATFORM"}


@cache
def known() -> dict[str, PlatformKind]:
    """Every platform, by the name ``platform = "NAME"`` gives it in schedule.toml: publisher's own and those other
    packages register. One that fails to load is left out (validate then says its name is unknown)."""
    from importlib.metadata import entry_points

    found: dict[str, PlatformKind] = {}
    registered = {point.name: point.value for point in entry_points(group=ENTRY_POINTS)}
    for name, target in {**BUILT_IN, **registered}.items():
        try:
            module, _, attribute = target.partition(":")
            platform = getattr(importlib.import_module(module), attribute or "PLATFORM")
        except Exception:  # another package's bug must not stop publisher: its platform is simply not there
            if name in BUILT_IN:
                raise
            continue
        if isinstance(platform, PlatformKind) and platform.name == name:
            found[name] = platform
    return found


def kind(name: str) -> PlatformKind:
    """The platform of that name (KeyError if there is none)."""
    return known()[name]


def counted_as(account: PlatformAccount) -> PlatformKind:
    """The platform whose rules, costs and links an account's posts follow (an outbox: the one it imitates)."""
    return kind(account.platform).counted_as(account)


def rules_for(name: str) -> PlatformRules:
    """A platform's counting rules, as its accounts have them by default."""
    return kind(name).rules()


def rules_of(account: PlatformAccount, learnt: LimitsCache | None = None) -> PlatformRules:
    """How this account's posts are counted: its platform's rules for it (some depend on its server, as learnt
    and kept in ``learnt``, the store)."""
    return kind(account.platform).rules(account, learnt)


def learn(account: PlatformAccount, learnt: LimitsCache, timeout: float = 10.0) -> None:
    """Ask the account's server what its rules depend on, where that is a day old in ``learnt`` (best effort: a
    server that cannot be asked leaves the rules as they were)."""
    kind(account.platform).refresh(account, learnt, timeout)


__all__ = ["Limits", "Measure", "PlatformAccount", "PlatformKind", "PlatformRules", "counted_as", "kind", "known",
           "learn", "rules_for", "rules_of"]
