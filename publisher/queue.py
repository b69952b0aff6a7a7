"""Queueing threads: compose the campaign's next thread for every account, render its cards, store it all.

A queued thread is self-contained (texts, card PNGs, alt text), so posting needs neither the collection nor the
renderer, and what was queued is exactly what is posted.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from publisher.compose import compose_thread, upcoming_quotes
from publisher.config import Campaign, Schedule
from publisher.errors import ConfigError, Problem, PublisherError
from publisher.platforms import rules_for
from publisher.quotes import Collection
from publisher.render.card import CardRenderer
from publisher.store import Store
from publisher.text import trim_alt
from publisher.themes import Theme


class NoQuotesReady(PublisherError):
    """An evergreen campaign has no quote out of its cooldown."""


def enqueue(store: Store, schedule: Schedule, campaign: Campaign, collection: Collection, theme: Theme,
            assets_dir: Path, due_at: datetime, slot: str | None = None) -> int | None:
    """Queue the campaign's next thread (the quotes after those already queued). Returns its id, or None when
    this slot already has a thread."""
    quotes = upcoming_quotes(campaign, collection, store.cursor(campaign.name), 1,
                             store.quote_history(campaign.name), store.now())[0]
    if not quotes:
        raise NoQuotesReady(f"campaign {campaign.name}: every quote was used in the last {campaign.cooldown_days} "
                            "days (cooldown_days); nothing to post")
    renderer = CardRenderer(theme, assets_dir)
    images: dict[str, tuple[bytes, int, int]] = {}
    rendered: dict[tuple[str, str], tuple[str, str, int, int]] = {}
    parts: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {}
    problems = []
    for name in campaign.accounts:
        account = schedule.accounts[name]
        rules = rules_for(account.rules_name)
        thread = compose_thread(campaign, collection, quotes, name, account, rules, theme.name)
        problems += [f"{name}: {p}" for p in thread.problems]
        account_parts = []
        for part in thread.parts:
            part_images = []
            for card in part.cards:
                key = (card.quote_id, card.format)
                if key not in rendered:
                    quote = collection.quote(card.quote_id)
                    assert quote is not None
                    made = renderer.render(collection, quote, card.format)
                    sha = hashlib.sha256(made.png).hexdigest()
                    images[sha] = (made.png, made.width, made.height)
                    rendered[key] = (sha, made.alt, made.width, made.height)
                sha, alt, width, height = rendered[key]
                part_images.append({"sha256": sha, "alt": trim_alt(alt, rules.limits.max_alt), "width": width,
                                    "height": height})
            account_parts.append((part.text, part_images))
        parts[name] = account_parts
    if problems:
        raise ConfigError([Problem(schedule.path, f"campaign {campaign.name} cannot be queued: {p}")
                           for p in problems])
    return store.add_thread(campaign.name, due_at, [q.id for q in quotes], parts, images, slot=slot,
                            advance_cursor=len(quotes))
