"""The poster's set-up: what ``post_due`` hands the poster (the platforms, the X budgets, which campaigns may
post and which need sign-off, the approval check), and what comes before it: the threads of a paused campaign's
missed slots are skipped, and nothing is posted while an account of a due thread lacks its credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from publisher.budget import Budgets
from publisher.config import parse_duration, secret_set
from publisher.errors import MissingCredentials
from publisher.fileio import file_stamp
from publisher.platforms.base import Platform
from publisher.poster import Poster, ThreadOutcome
from publisher.queue_revisions import Revisions
from publisher.slots import when_label


class PosterSetUp(Revisions):
    """Posting what is due (``Queue`` is one)."""

    def post_due(self, platforms: dict[str, Platform], should_stop: Callable[[], bool | str] = lambda: False,
                 on_done: Callable[[ThreadOutcome], None] = lambda outcome: None) -> list[ThreadOutcome]:
        """Post every thread that is due (the caller holds the store's posting lock); ``on_done`` hears of each
        thread as it finishes. Where a campaign needs sign-off, only what was approved, at exactly its revision,
        is posted."""
        self.follow_pauses()
        enabled = frozenset(c.name for c in self.schedule.campaigns if c.enabled)
        signing = frozenset(c.name for c in self.schedule.campaigns if c.approval)
        poster = Poster(self.store, platforms, self.now, should_stop=should_stop,
                        budgets=Budgets.from_schedule(self.schedule), campaigns=enabled, needs_signoff=signing,
                        stale_approval=self.stale_approval, on_done=on_done)
        outcomes = poster.post_due()
        self.store.drop_old_cards(self.now() - parse_duration(self.schedule.defaults.keep_cards))
        return outcomes

    def refuse_missing_secrets(self, env: dict[str, str]) -> None:
        """Before anything is posted: every account of every thread due now has its credentials, or nothing is
        posted at all (never one account's half of a thread)."""
        enabled = {c.name for c in self.schedule.campaigns if c.enabled}
        due = [t for t in self.store.due_threads(self.now()) if t.campaign in enabled]
        accounts = dict.fromkeys(p.account for t in due for p in self.store.parts(t.id))
        unset = {name: [v for v in self.schedule.accounts[name].secret_variables if not secret_set(env, v)]
                 for name in accounts if name in self.schedule.accounts}
        unset = {name: variables for name, variables in unset.items() if variables}
        if unset:
            threads = ", ".join(str(t.id) for t in due if any(p.account in unset for p in self.store.parts(t.id)))
            raise MissingCredentials(
                "nothing was posted: the threads due now need the credentials of every account they post to: "
                + "; ".join(f"account {name}: {', '.join(variables)} not set" for name, variables in unset.items()),
                f"export them, then run publisher post again; or publisher queue hold {threads} to post the others")

    def follow_pauses(self) -> list[tuple[int, str]]:
        """Campaigns disabled (``enabled = false``) and then enabled again: the threads of their slots that fell
        in between, not started, are skipped (their quotes go to the next thread), and the scheduler watches the
        campaign afresh from now, so nothing is burst-posted after a pause. A pause is taken to start when
        schedule.toml was saved with it, if that is earlier than when it is first seen (a campaign disabled just
        before its slot is seen so only at the next pass). Returns the threads skipped, and why."""
        moment = self.now()
        saved = file_stamp(self.files.config_path)
        edited = datetime.fromtimestamp(saved[0] / 1e9, UTC) if saved else moment
        skipped = []
        for campaign in self.schedule.campaigns:
            if not campaign.enabled:
                self.store.seen_disabled(campaign.name, min(moment, edited))
                continue
            zone = self.schedule.zone_of(campaign)
            with self.store.transaction():
                since = self.store.seen_enabled(campaign.name, moment)
                if since is None:
                    continue
                for thread in self.store.threads(("queued", "awaiting_approval"), campaign.name):
                    if thread.slot is None or not since <= thread.due_at <= moment or any(
                            p.state != "pending" for p in self.store.parts(thread.id)):
                        continue  # only a slot's thread: one queued to post now (--now) still does
                    why = (f"it was due {when_label(thread.due_at, zone)}, while the campaign was disabled; its "
                           "quotes go to the next thread")
                    if self.store.transition(thread.id, "skipped", ("queued", "awaiting_approval"), why):
                        skipped.append((thread.id, why))
                        self.store.add_event("warning", f"campaign {campaign.name}: thread {thread.id} skipped: {why}")
        return skipped
