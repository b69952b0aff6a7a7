"""Making a thread's parts: every account's texts composed, each card rendered once, each part's cost on X, and
never a post a platform would refuse as a repeat; and storing parts made again (``recompose``, a new number)."""

from __future__ import annotations

import hashlib
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from publisher.compose import compose_thread
from publisher.config import Campaign
from publisher.errors import ConfigError, Problem
from publisher.outlook import quote_digest
from publisher.platforms import counted_as, learn, rules_of
from publisher.queue_revisions import Revisions
from publisher.quotes import Collection, Quote
from publisher.slots import date_label
from publisher.store import NewPart
from publisher.text import trim_alt
from publisher.themes import Theme

RECOMPOSABLE = ("awaiting_approval", "queued", "posting", "needs_attention", "held", "over_budget")


@dataclass
class Remade:
    """A thread's parts made again from the current collection (``recompose``, or a new number), or why they
    could not be."""

    quotes: list[Quote]
    parts: dict[str, list[NewPart]] = field(default_factory=dict)
    images: dict[str, tuple[bytes, int, int]] = field(default_factory=dict)
    failed: str | None = None


class ThreadComposing(Revisions):
    """A thread's parts made from its quotes, and made again (``Queue`` is one)."""

    def _compose(self, campaign: Campaign, collection: Collection, theme: Theme, quotes: Sequence[Quote],
                 due: datetime, number: int) -> tuple[dict[str, list[NewPart]], dict[str, tuple[bytes, int, int]]]:
        """Every account's parts, their cards rendered (each card once), and each part's cost on X."""
        from publisher.render.batch import CardFailed
        from publisher.render.card import CardRenderer, CardTooLarge, TextDoesNotFit
        from publisher.render.fonts import MissingGlyph

        renderer = CardRenderer(theme, self.files.assets)
        date = date_label(due, self.schedule.zone_of(campaign))
        images: dict[str, tuple[bytes, int, int]] = {}
        rendered: dict[tuple[str, str], tuple[str, str, int, int]] = {}
        parts: dict[str, list[NewPart]] = {}
        problems = []
        for name in campaign.accounts:
            account = self.schedule.accounts[name]
            if self.asks_servers:
                learn(account, self.store, timeout=5.0)
            rules = rules_of(account, self.store)
            pricing = counted_as(account)
            thread = compose_thread(campaign, collection, quotes, name, rules, theme.name, date=date,
                                    thread_number=number)
            problems += [f"{name}: {p}" for p in thread.problems]
            account_parts = []
            for part in thread.parts:
                part_images = []
                for card in part.cards:
                    key = (card.quote_id, card.format)
                    if key not in rendered:
                        quote = collection.quote(card.quote_id)
                        assert quote is not None
                        try:
                            made = renderer.render(collection, quote, card.format)
                        except (TextDoesNotFit, MissingGlyph, CardTooLarge) as exc:
                            raise CardFailed(quote.id, card.format, str(exc), exc.exit_status) from exc
                        sha = hashlib.sha256(made.png).hexdigest()
                        images[sha] = (made.png, made.width, made.height)
                        rendered[key] = (sha, made.alt, made.width, made.height)
                    sha, alt, width, height = rendered[key]
                    part_images.append({"sha256": sha, "alt": trim_alt(alt, rules.limits.max_alt), "width": width,
                                        "height": height})
                cost = pricing.cost(part.text, len(part_images)) if pricing.costs_money else None
                account_parts.append(NewPart(part.text, part_images, cost))
            parts[name] = account_parts
        if problems:
            raise ConfigError([Problem(self.schedule.path, f"campaign {campaign.name} cannot be queued: {p}")
                               for p in problems])
        return parts, images

    def _refuse_repeats(self, campaign: Campaign, parts: dict[str, list[NewPart]],
                        thread_id: int | None = None) -> None:
        """Some platforms (X) refuse a post identical to an earlier one: never queue one."""
        for account in sorted(parts):
            platform = counted_as(self.schedule.accounts[account])
            if not platform.refuses_repeats:
                continue
            earlier = self.store.live_texts(account)
            for position, part in enumerate(parts[account], start=1):
                other = earlier.get(part.text)
                if other is not None and other != thread_id:
                    raise ConfigError([Problem(
                        self.schedule.path,
                        f"campaign {campaign.name}: {account} part {position} would be the same text as a post of "
                        f"thread {other}, and {platform.label} refuses a repeated post as duplicate content",
                        fix="put {thread_number} in the campaign's intro, outro or caption, whichever repeats "
                            "({date} alone repeats for two threads on one day)")])

    def _store_remade(self, campaign: Campaign, collection: Collection, thread_id: int, made: Remade, who: str,
                      why: str) -> bool:
        """Under the write lock, the thread checked unchanged since it was made again: store its new parts. An
        approved thread is sent back for sign-off (the approval was for other text), a held one stays held.
        Returns whether it was sent back."""
        self._refuse_repeats(campaign, made.parts, thread_id)
        self.store.replace_parts(thread_id, [q.id for q in made.quotes],
                                 {q.id: quote_digest(collection, q) for q in made.quotes}, made.parts, made.images)
        sent_back = self.store.approved(thread_id)
        if sent_back:  # whatever approval says now: the approval was for other text
            self.store.record_signoff(thread_id, "sent_back", who, why)
        if self.store.thread_state(thread_id) != "held":  # a held thread stays held; released, it needs sign-off
            # if approval is on
            self.store.transition(thread_id, "awaiting_approval" if campaign.approval else "queued", RECOMPOSABLE,
                                  f"{why}: needs sign-off again" if campaign.approval else None)
        self._remember(thread_id)
        return sent_back


def says(campaign: Campaign, field_name: str) -> bool:
    """Whether the campaign's threads say this of themselves ({thread_number}, {date}) in an intro, outro or
    caption."""
    templates = [template for template in (campaign.intro, campaign.outro, campaign.caption) if template]
    return any(name == field_name for template in templates for _, name, _, _ in string.Formatter().parse(template))
