"""The dry-run preview: the next threads exactly as the scheduler will compose them, as a page and as JSON.

Makes no network call: cards are rendered locally, Bluesky facets built offline (mentions are resolved to DIDs
only when posting).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from publisher.assets import Assets
from publisher.budget import SpendForecast, usd
from publisher.compose import Thread, compose_thread
from publisher.config import Campaign, Schedule
from publisher.fileio import refuse_foreign, refuse_unless_folder, write_atomically
from publisher.outlook import Upcoming
from publisher.platforms import kind, rules_of
from publisher.platforms.base import LimitsCache
from publisher.quotes import Collection
from publisher.render.batch import card_files, guard_card_files, render_to_files
from publisher.render.card import FORMATS, alt_text
from publisher.slots import date_label, when_label
from publisher.text import counted
from publisher.themes import Theme
from publisher.timeline import Column, ImageView, PostView, Section, is_our_page, page
from publisher.webfonts import PageFonts, ThemeFonts, cut_fonts, guard_page_fonts, write_page_fonts

WEEKS_PER_MONTH = 52 / 12


@dataclass
class PreviewReport:
    index: Path
    threads: list[list[Thread]] = field(default_factory=list)  # per upcoming thread, one per account
    notes: list[str] = field(default_factory=list)  # e.g. when the campaign runs out

    @property
    def problems(self) -> list[str]:
        return [f"{t.account}: {p}" for group in self.threads for t in group for p in t.problems]

    @property
    def warnings(self) -> list[str]:
        return list(dict.fromkeys(w for group in self.threads for t in group for w in t.warnings))


def slots_per_month(campaign: Campaign) -> float:
    if not campaign.slots:
        return 0.0
    return len(campaign.slots.days) * len(campaign.slots.times) * WEEKS_PER_MONTH


def x_cost(thread: Thread) -> float:
    """What posting the thread costs on its platform (for one that costs_money)."""
    counted = kind(thread.platform)
    return sum(counted.cost(part.text, len(part.cards)) or 0.0 for part in thread.parts)


def write_preview(schedule: Schedule, campaign: Campaign, collection: Collection, theme: Theme, assets: Assets,
                  out_dir: Path, upcoming: list[Upcoming], now: datetime, forecast: SpendForecast | None = None,
                  notes: Sequence[str] = (), warnings: Mapping[str, list[str]] | None = None,
                  force: bool = False, learnt: LimitsCache | None = None) -> PreviewReport:
    """Compose the ``upcoming`` threads for every account of the campaign, render their cards, and write
    ``out_dir/index.html``, ``out_dir/thread.json``, ``out_dir/cards/`` and ``out_dir/fonts/`` (the theme's
    fonts, cut down to the page's characters). ``forecast`` marks threads that would take an X account over the
    campaign's budget; ``notes`` (when it runs out) and ``warnings`` (per account) go on the page. Files in
    ``out_dir`` that publisher did not write are never replaced unless ``force``."""
    refuse_unless_folder(out_dir)
    for inside in ("cards", "fonts"):
        refuse_unless_folder(out_dir / inside, option="")
    out_dir.mkdir(parents=True, exist_ok=True)
    zone = schedule.zone_of(campaign)
    report = PreviewReport(out_dir / "index.html", notes=list(notes))
    for next_thread in upcoming:
        group = []
        for name in campaign.accounts:
            account = schedule.accounts[name]
            composed = compose_thread(campaign, collection, next_thread.quotes, name, rules_of(account, learnt),
                                      theme.name,
                                      date=date_label(next_thread.due, zone), thread_number=next_thread.number)
            composed.warnings[:0] = (warnings or {}).get(name, [])
            group.append(composed)
        report.threads.append(group)

    sections, documents = [], []
    per_month = slots_per_month(campaign)
    for upcoming_thread, group in zip(upcoming, report.threads, strict=True):
        columns, accounts_json = [], []
        for thread in group:
            account = schedule.accounts[thread.account]
            platform = kind(thread.platform)
            subtitle = (platform.label if account.platform == platform.name
                        else f"{account.platform} (counted as {platform.label})")
            handle = getattr(account, "handle", None)
            posts, parts_json = [], []
            for index, part in enumerate(thread.parts, start=1):
                images = []
                for card in part.cards:
                    quote = collection.quote(card.quote_id)
                    assert quote is not None
                    png = card_files(out_dir / "cards", card.quote_id, card.format)[0]
                    shape = FORMATS[card.format]
                    images.append(ImageView(f"cards/{png.name}", alt_text(collection, quote), shape.width,
                                            shape.height))
                posts.append(PostView(part.text, platform.links, index, len(thread.parts), part.kind,
                                      str(part.measure), part.measure.fits, images))
                facets = platform.facets(part.text)
                parts_json.append({
                    "number": index, "kind": part.kind, "text": part.text, "quote_id": part.quote_id,
                    "length": part.measure.length, "limit": part.measure.limit, "unit": part.measure.unit,
                    "bytes": part.measure.bytes, "fits": part.measure.fits, "facets": facets,
                    "reply_to": None if index == 1 else {"root": 1, "parent": index - 1},
                    "images": [asdict(i) for i in images]})
            cost, cost_json = _x_cost(campaign, thread, upcoming_thread.due, per_month, forecast)
            title = f"{thread.account}" + (f" · {handle}" if handle else "")
            columns.append(Column(title, subtitle, posts, thread.warnings, thread.problems, cost))
            accounts_json.append({"account": thread.account, "platform": account.platform,
                                  "counted_as": thread.platform, "handle": handle, "parts": parts_json,
                                  "warnings": thread.warnings, "problems": thread.problems, "x_cost": cost_json})
        quote_ids = [q.id for q in upcoming_thread.quotes]
        when = (f"for the slot {when_label(upcoming_thread.slot_at, zone)}" if upcoming_thread.slot_at
                else "due when queued (the campaign has no slots)")
        section_notes = [f"Thread {upcoming_thread.number} of the campaign, {when}."]
        section_notes += [f"Repeat: {quote_id} was last used {when_label(last, zone)} (evergreen, after "
                          f"cooldown_days = {campaign.cooldown_days})."
                          for quote_id, last in upcoming_thread.repeats.items()]
        title = f"Thread {upcoming_thread.number}: {counted(len(quote_ids), 'quote')} ({', '.join(quote_ids)})"
        sections.append(Section(title, columns, section_notes))
        documents.append({"number": upcoming_thread.number, "quote_ids": quote_ids,
                          "due_at": upcoming_thread.due.astimezone(zone).isoformat(),
                          "slot_at": upcoming_thread.slot_at.astimezone(zone).isoformat()
                          if upcoming_thread.slot_at else None,
                          "repeats": {k: v.astimezone(zone).isoformat() for k, v in upcoming_thread.repeats.items()},
                          "accounts": accounts_json})

    intro = (f"Campaign {campaign.name}: the next {counted(len(report.threads), 'thread')} exactly as they would be "
             f"posted to {', '.join(campaign.accounts)}. Made {now:%Y-%m-%d %H:%M %Z}; nothing was sent.")
    title = f"Preview: {campaign.name}"
    fonts = ThemeFonts.of(theme, assets).plan(page(title, intro, sections, report.notes))

    card_ids = list(dict.fromkeys(c.quote_id for g in report.threads for t in g for p in t.parts for c in p.cards))
    _refuse_foreign_files(out_dir, card_ids, campaign.format, fonts, force)
    rendered = render_to_files(collection, theme, assets, card_ids, [campaign.format], out_dir / "cards")
    if rendered.failures:
        from publisher.errors import BatchFailed

        raise BatchFailed(rendered.failures)
    write_page_fonts(out_dir, cut_fonts(fonts))
    write_atomically(out_dir / "index.html", page(title, intro, sections, report.notes, fonts.css).encode("utf-8"))
    document = {"campaign": campaign.name, "collection": collection.name, "theme": theme.name,
                "generated_at": now.isoformat(), "notes": report.notes, "threads": documents}
    write_atomically(out_dir / "thread.json",
                     (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    return report


def _is_preview_data(path: Path) -> bool:
    try:
        document = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(document, dict) and {"campaign", "threads"} <= document.keys()


def _refuse_foreign_files(out_dir: Path, card_ids: Sequence[str], format_name: str, fonts: PageFonts,
                          force: bool) -> None:
    fix = "choose another folder with -o"
    refuse_foreign(out_dir / "index.html", "a publisher preview", is_our_page, force, fix)
    refuse_foreign(out_dir / "thread.json", "a publisher preview's data", _is_preview_data, force, fix)
    guard_page_fonts(out_dir, fonts, force, fix)
    for quote_id in card_ids:
        guard_card_files(out_dir / "cards", quote_id, format_name, force)


def _x_cost(campaign: Campaign, thread: Thread, due: datetime, per_month: float,
            forecast: SpendForecast | None) -> tuple[str, dict[str, Any] | None]:
    """The X cost line and data of one account's thread; marks a thread that would go over the budget."""
    if not kind(thread.platform).costs_money:
        return "", None
    per_thread = x_cost(thread)
    cost = f"X API cost: {usd(per_thread)} for this thread"
    if per_month:  # weekly slots only: a campaign of `once` times has no month to speak of
        cost += f", about {usd(per_thread * per_month)} a month if every slot posts a thread like it"
    over = False
    projected = forecast.add(thread.account, due, per_thread) if forecast else None
    if campaign.x_monthly_budget is not None:
        budget = campaign.x_monthly_budget
        over = projected is not None and projected > budget + 1e-9
        cost += (f". Over budget: {usd(projected)} this month with it, more than the {usd(budget)} budget; it "
                 "would be held, not posted" if over and projected is not None else f" (budget {usd(budget)})")
    return cost, {"thread_usd": round(per_thread, 4), "month_usd": round(per_thread * per_month, 2),
                  "monthly_budget_usd": campaign.x_monthly_budget,
                  "projected_month_usd": round(projected, 4) if projected is not None else None,
                  "over_budget": over}
