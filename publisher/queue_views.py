"""The queue as people and scripts see it: a thread and its parts as JSON (``queue show --json``, ``queue list
--json``), everything ``publisher status`` shows, what comes next, X spend, and why a live thread waits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from publisher.budget import month_start, paying_accounts, spent
from publisher.config import Campaign
from publisher.errors import PublisherError
from publisher.lock import StoreLock
from publisher.outlook import RunOut, Upcoming, run_out, upcoming
from publisher.platforms import rules_of
from publisher.queue_revisions import Revisions
from publisher.quotes import Collection
from publisher.slots import iter_slots, slot_of, when_label
from publisher.store import ACTIVE, PartRow, ThreadRow
from publisher.text import counted


class QueueViews(Revisions):
    """Views of the queue, for the CLI, the dashboard and scripts (``Queue`` is one)."""

    # -- what comes next -----------------------------------------------------------------------------------

    def upcoming(self, campaign: Campaign, collection: Collection,
                 count: int) -> tuple[list[Upcoming], list[datetime]]:
        """The next ``count`` threads the campaign would queue, and slots passed over (``outlook.upcoming``); with
        require_verified, of its verified quotes only."""
        return upcoming(self.store, self.schedule, campaign, self._verified(campaign, collection), self.now(), count)

    def _verified(self, campaign: Campaign, collection: Collection) -> Collection:
        """The quotes a campaign may post: not drafts, and with require_verified, those verified in their source."""
        collection = collection.without_drafts()
        if not campaign.require_verified:
            return collection
        from publisher.verification import verify

        checks = verify(self.files, [collection], self.store).checks
        verified = {c.quote_id for c in checks if c.status == "verified"}
        return collection.model_copy(update={"quotes": [q for q in collection.quotes if q.id in verified]})

    def not_verified(self, campaign: Campaign, collection: Collection) -> list[str]:
        """For a require_verified campaign, each quote it will not post and why, as its checks were kept (when the
        campaign's run-out is counted, just before)."""
        if not campaign.require_verified:
            return []
        from publisher.verification import verify

        checks = {c.quote_id: c for c in verify(self.files, [collection], self.store, read_documents=False).checks}
        lines = []
        for quote in collection.quotes:
            check = checks.get(quote.id)
            if check is None:
                lines.append(f"{quote.id}: not checked yet (publisher verify)")
            elif check.status != "verified":
                lines.append(f"{quote.id}: {check.status.replace('_', ' ')}" + (f" ({'; '.join(check.diff)})"
                                                                                  if check.diff else ""))
        return lines

    def run_out(self, campaign: Campaign, collection: Collection) -> RunOut:
        """When the campaign runs out of quotes (see ``outlook.run_out``): of its verified quotes only, with
        require_verified."""
        return run_out(self.store, self.schedule, campaign, self._verified(campaign, collection), self.now())

    def preview_notes(self, campaign: Campaign, collection: Collection, run_out: RunOut, upcoming: list[Upcoming],
                      empty: list[datetime], wanted: int) -> list[str]:
        """What a preview says beside its threads: when the campaign runs out, the quotes it will not post, slots
        that would post nothing, and why fewer threads than ``wanted`` are shown."""
        notes = [f"Campaign {campaign.name}: {run_out}.", *(f"Not posted (require_verified): quote {line}."
                                                            for line in self.not_verified(campaign, collection))]
        if empty:
            zone = self.schedule.zone_of(campaign)
            notes.append(f"No quote is out of its cooldown for {counted(len(empty), 'slot')} on the way, which "
                         f"post nothing: {', '.join(when_label(e, zone) for e in empty[:5])}"
                         + (" ..." if len(empty) > 5 else "") + ".")
        if len(upcoming) < wanted and not campaign.repeats:
            notes.append(f"Only {counted(len(upcoming), 'more thread')} can be queued: " + (
                "then every quote has been used." if len(upcoming) >= run_out.threads_left else
                "then the campaign has no slots left."))
        return notes

    # -- why a thread waits --------------------------------------------------------------------------------

    def waiting_because(self, thread: ThreadRow) -> str | None:
        """Why a live thread will not post although it may be due: schedule.toml cannot be read, it awaits
        sign-off, or its campaign is disabled or gone."""
        if thread.state == "awaiting_approval":
            since = self.store.changed_at(thread.id) or thread.created_at
            zone = self.zone(thread.campaign)
            why = f": {thread.reason}" if thread.reason else ""  # sent back: what changed
            return (f"waiting for sign-off since {when_label(since, zone)}{why} (publisher queue approve "
                    f'{thread.id}, or publisher queue reject {thread.id} --reason "...")')
        if thread.state not in ("queued", "posting"):
            return None
        if self.loaded is None:
            return "nothing is posted while schedule.toml cannot be read (publisher validate says what to fix)"
        campaign = self.loaded.campaign(thread.campaign)
        stale = self.stale_approval(thread.id) if campaign is not None and campaign.approval else None
        if stale is not None:
            return (f"its campaign needs sign-off and {stale}: it goes back for sign-off instead of posting "
                    f"(publisher queue show {thread.id}, then publisher queue approve {thread.id})")
        if campaign is None:
            return (f"campaign {thread.campaign} is no longer in {self.loaded.path.name}, so it waits (give the "
                    f"campaign its name back, or publisher queue cancel {thread.id})")
        if not campaign.enabled:
            return (f"campaign {thread.campaign} is disabled (enabled = false), so it waits (set enabled = true, "
                    f"or publisher queue cancel {thread.id})")
        return None

    def off_slot(self, thread: ThreadRow) -> str | None:
        """A thread queued for a future slot the campaign no longer has (its times, timezone or threads_per_slot
        changed since): it still posts at that time, beside the new slots."""
        campaign = self.loaded.campaign(thread.campaign) if self.loaded is not None else None
        if campaign is None or not campaign.enabled or thread.slot is None or thread.state not in (
                "awaiting_approval", "queued", "held", "over_budget"):
            return None
        slot_at, place = slot_of(thread.slot)
        zone = self.schedule.zone_of(campaign)
        if slot_at <= self.now() or (place <= campaign.threads_per_slot and next(
                iter_slots(campaign, zone, slot_at - timedelta(microseconds=1)), None) == slot_at):
            return None
        return (f"it was queued for {when_label(slot_at, zone)}, which is no longer one of the campaign's slots; it "
                f"still posts then (publisher queue cancel {thread.id} if it should not)")

    def orphans(self) -> dict[str, list[int]]:
        """Live threads of campaigns schedule.toml no longer has, by campaign name."""
        found: dict[str, list[int]] = {}
        for thread in self.store.threads(ACTIVE):
            if self.schedule.campaign(thread.campaign) is None:
                found.setdefault(thread.campaign, []).append(thread.id)
        return found

    def needing_attention(self) -> list[int]:
        return [t.id for t in self.store.threads(("needs_attention",))]

    # -- for people and scripts ----------------------------------------------------------------------------

    def collections_by_campaign(self) -> dict[str, Collection | None]:
        """Each campaign's collection as it is now (None if it cannot be read), for change flags."""
        loaded: dict[str, Collection | None] = {}
        for campaign in self.loaded.campaigns if self.loaded is not None else []:
            try:
                loaded[campaign.name] = self.files.collection(campaign.collection)
            except PublisherError:
                loaded[campaign.name] = None
        return loaded

    def part_view(self, part: PartRow) -> dict[str, Any]:
        """One part as people and scripts see it: where it goes, its text measured by that platform's rules,
        its cards with their alt text, and its state."""
        account = self.loaded.accounts.get(part.account) if self.loaded is not None else None
        measure = rules_of(account, self.store).measure(part.text) if account is not None else None
        return {"account": part.account, "position": part.position, "state": part.state, "text": part.text,
                "length": measure.length if measure else None, "limit": measure.limit if measure else None,
                "unit": measure.unit if measure else None,
                "images": len(part.images), "cards": [
                    {"sha256": i.get("sha256"), "alt": i.get("alt"), "width": i.get("width"),
                     "height": i.get("height")} for i in part.images],
                "post_id": part.post_id, "url": part.url,
                "posted_at": part.posted_at.isoformat() if part.posted_at else None,
                "error": part.last_error, "fix": part.fix,
                "next_try_at": part.not_before.isoformat() if part.not_before and part.state != "posted" else None,
                "attempts": part.attempts, "cost_usd": part.cost}

    def destination(self, account_name: str) -> str | None:
        """Where an account's posts go, in words (None while schedule.toml cannot be read)."""
        if self.loaded is None:
            return None
        account = self.loaded.accounts.get(account_name)
        return account.destination if account is not None else f"nowhere: no account {account_name} in " \
            f"{self.loaded.path.name}"

    def thread_json(self, thread: ThreadRow, collection: Collection | None = None,
                    shown: bool = False) -> dict[str, Any]:
        """A thread as scripts see it (``queue show --json``, ``queue list --json``, ``status --json``).
        ``shown``: a person is looking at this one thread (its revision is kept, see ``shown``)."""
        if shown:
            self.shown(thread.id)
        zone = self.zone(thread.campaign)
        parts = self.store.parts(thread.id)
        accounts: dict[str, dict[str, Any]] = {}
        for part in parts:
            entry = accounts.setdefault(part.account, {"posted": 0, "total": 0,
                                                       "destination": self.destination(part.account)})
            entry["total"] += 1
            entry["posted"] += part.state == "posted"
        approved = self.store.approved_revision(thread.id)
        campaign = self.loaded.campaign(thread.campaign) if self.loaded is not None else None
        needs_signoff = thread.state == "awaiting_approval" or (
            thread.state in ("queued", "posting") and campaign is not None and campaign.approval
            and self.stale_approval(thread.id) is not None)
        return {
            "id": thread.id, "campaign": thread.campaign, "number": thread.number, "state": thread.state,
            "reason": thread.reason, "due_at": thread.due_at.astimezone(zone).isoformat(),
            "slot_at": slot_of(thread.slot)[0].astimezone(zone).isoformat() if thread.slot else None,
            "quote_ids": thread.quote_ids, "quotes_changed": self.changed_quotes(thread, collection),
            "waiting": self.waiting_because(thread), "off_slot": self.off_slot(thread),
            "created_at": thread.created_at.isoformat(), "accounts": accounts,
            "signoffs": self.store.signoffs(thread.id), "revision": self.revision(thread.id),
            "approved_revision": approved, "needs_signoff": needs_signoff,
            "parts": [self.part_view(p) for p in parts],
        }

    def spend(self) -> dict[str, dict[str, Any]]:
        """Each account counted as X: what it spent this calendar month, and the budgets of its campaigns."""
        if self.loaded is None:
            return {}
        since = month_start(self.now(), self.schedule.zone)
        out = {}
        for account, pricing in sorted(paying_accounts(self.schedule).items()):
            platform = self.schedule.accounts[account].platform
            budgets = sorted({c.x_monthly_budget for c in self.schedule.campaigns
                              if account in c.accounts and c.x_monthly_budget is not None})
            out[account] = {"platform": platform, "spends": platform == pricing.name,
                            "spent_usd": round(spent(self.store, account, since, pricing), 4),
                            "month": since.astimezone(self.schedule.zone).strftime("%Y-%m"),
                            "budgets_usd": budgets}
        return out

    def status(self) -> dict[str, Any]:
        """Everything ``publisher status`` shows, as JSON-able data."""
        from publisher.slots import is_scheduled, next_slots

        now = self.now()
        collections = self.collections_by_campaign()
        lock = StoreLock(self.store.path) if self.store.path else None
        campaigns = []
        for campaign in self.loaded.campaigns if self.loaded is not None else []:
            zone = self.schedule.zone_of(campaign)
            upcoming = next_slots(campaign, zone, now, count=3) if is_scheduled(campaign) else []
            collection = collections.get(campaign.name)
            problem = None
            if collection is None:  # said, so a broken collection is not just a missing line
                try:
                    self.files.collection(campaign.collection)
                except PublisherError as exc:
                    problem = exc.lines()
            campaigns.append({
                "campaign": campaign.name, "enabled": campaign.enabled, "timezone": str(zone),
                "catch_up": campaign.catch_up, "collection_problem": problem,
                "next_slots": [{"local": s.astimezone(zone).isoformat(), "utc": s.astimezone(UTC).isoformat()}
                               for s in upcoming],
                "run_out": self.run_out(campaign, collection).as_json() if collection else None,
                "not_verified": self.not_verified(campaign, collection) if collection else []})
        counts: dict[str, int] = {}
        for thread in self.store.threads():
            counts[thread.state] = counts.get(thread.state, 0) + 1
        return {
            "now": now.isoformat(), "daemon": lock.holder() if lock else None,
            "config_problem": self.config_problem.lines() if self.config_problem else None, "campaigns": campaigns,
            "queue": counts,
            "store": {**self.store.size(), "keep_cards": self.loaded.defaults.keep_cards if self.loaded else None},
            "threads": [self.thread_json(t, collections.get(t.campaign)) for t in self.store.threads(ACTIVE)],
            "x_spend": self.spend(),
            "readings_skipped": self.store.skipped_readings(
                month_start(now, self.loaded.zone if self.loaded else ZoneInfo("UTC"))),
            "recent_posts": [{"thread": t.id, "account": p.account, "part": p.position, "url": p.url}
                             for p, t in self.store.recent_posts(10)],
            "failures": [{"thread": t.id, "account": p.account, "part": p.position, "state": p.state,
                          "error": p.last_error, "fix": p.fix} for p, t in self.store.problem_parts()],
            "recent_errors": self.store.events(limit=5),
        }
