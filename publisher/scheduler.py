"""The scheduler: which slots are due, what to do about missed ones, and the daemon that runs it on APScheduler.

The truth lives in the store: every slot instant a campaign reaches is recorded there (queued, late, skipped),
so no slot ever posts twice, across restarts too. APScheduler only wakes the daemon at the right moments.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from publisher.config import Campaign, Schedule
from publisher.slots import parse_duration, slot_instants
from publisher.store import Store

if TYPE_CHECKING:
    from publisher.app import Project
    from publisher.platforms.base import Platform

log = logging.getLogger("publisher")

ON_TIME = timedelta(minutes=5)  # a slot handled within this is on time (also APScheduler's misfire grace)
RETRY_EVERY = 60  # seconds between looks at threads waiting for a rate limit or a back-off


@dataclass
class SlotDecision:
    campaign: str
    slot_at: datetime
    outcome: str  # queued, late, skipped, no_quotes
    thread_ids: list[int]


def campaign_zone(schedule: Schedule, campaign: Campaign) -> ZoneInfo:
    return ZoneInfo(campaign.timezone or schedule.defaults.timezone)


def is_scheduled(campaign: Campaign) -> bool:
    return campaign.enabled and bool(campaign.slots or campaign.cron or campaign.once)


def handle_slots(project: Project, schedule: Schedule, store: Store, now: datetime) -> list[SlotDecision]:
    """Every slot reached since each campaign was last handled, decided once:

    - the latest slot is queued if it is on time (within 5 minutes), or late under ``catch_up = "post_late"``
      if it is within ``max_lateness`` (default: it is the most recent slot, i.e. less than a slot late);
    - every earlier missed slot is skipped: a backlog is never burst-posted.
    """
    decisions = []
    for campaign in schedule.campaigns:
        if not is_scheduled(campaign):
            continue
        zone = campaign_zone(schedule, campaign)
        since = store.watched_since(campaign.name, now)
        last = store.last_slot(campaign.name)
        due = slot_instants(campaign, zone, max(since, last) if last else since, now)
        for slot_at in due[:-1]:
            if store.record_slot(campaign.name, slot_at, "skipped", []):
                decisions.append(SlotDecision(campaign.name, slot_at, "skipped", []))
                log.warning("campaign %s: slot %s was missed while publisher was not running; skipped",
                            campaign.name, _local(slot_at, zone))
        if not due:
            continue
        slot_at = due[-1]
        lateness = now - slot_at
        limit = parse_duration(campaign.max_lateness) if campaign.max_lateness else None
        if lateness <= ON_TIME:
            outcome = "queued"
        elif campaign.catch_up == "post_late" and (limit is None or lateness <= limit):
            outcome = "late"
        else:
            outcome = "skipped"
        thread_ids: list[int] = []
        if outcome != "skipped":
            thread_ids, outcome = _queue_slot(project, schedule, store, campaign, slot_at, outcome)
        if store.record_slot(campaign.name, slot_at, outcome, thread_ids):
            decisions.append(SlotDecision(campaign.name, slot_at, outcome, thread_ids))
            message = {"queued": "queued thread(s) %s", "late": "queued thread(s) %s late (catch_up = post_late)",
                       "skipped": "skipped: %s late (catch_up)", "no_quotes": "nothing to post %s"}[outcome]
            detail = thread_ids if outcome in ("queued", "late") else (
                str(lateness).split(".")[0] if outcome == "skipped" else "(every quote is in its cooldown)")
            log.info("campaign %s: slot %s " + message, campaign.name, _local(slot_at, zone), detail)
    return decisions


def _queue_slot(project: Project, schedule: Schedule, store: Store, campaign: Campaign, slot_at: datetime,
                outcome: str) -> tuple[list[int], str]:
    from publisher.queue import NoQuotesReady

    thread_ids: list[int] = []
    for number in range(campaign.threads_per_slot):
        key = f"{slot_at.isoformat()}#{number + 1}"
        try:
            thread_id = project.queue_add(campaign.name, due_at=slot_at, slot=key, schedule=schedule, store=store)
        except NoQuotesReady:
            return thread_ids, outcome if thread_ids else "no_quotes"
        if thread_id is not None:
            thread_ids.append(thread_id)
    return thread_ids, outcome


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


class SlotTrigger(BaseTrigger):  # type: ignore[misc]
    """An APScheduler trigger that fires at a campaign's slot instants, computed by ``publisher.slots`` (so on
    the wall clock, DST-correct) rather than by CronTrigger."""

    def __init__(self, campaign: Campaign, zone: ZoneInfo):
        self.campaign, self.zone = campaign, zone

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        from publisher.slots import next_slots

        after = max(previous_fire_time, now) if previous_fire_time else now - timedelta(microseconds=1)
        upcoming = next_slots(self.campaign, self.zone, after, count=1)
        return upcoming[0] if upcoming else None


class Daemon:
    """``publisher run``: resume half-posted threads, catch up missed slots by policy, then post each slot on
    time; SIGTERM/SIGINT finish the part in flight and exit."""

    def __init__(self, project: Project, dry_run: bool = False, now: Callable[[], datetime] | None = None):
        self.project = project
        self.dry_run = dry_run
        self.now = now or project.now
        self.stop = threading.Event()
        self._store: Store | None = None
        self._platforms: dict[str, Platform] | None = None
        self.schedule = project.schedule()

    # -- one pass ------------------------------------------------------------------------------------------

    def _context(self) -> tuple[Store, dict[str, Platform]]:
        """The store and platforms, made in the (single) worker thread that uses them."""
        if self._store is None:
            self._store = self.project.store(self.schedule, dry_run=self.dry_run)
            self._platforms = self.project.platforms(self.schedule, self._store, dry_run=self.dry_run)
        assert self._platforms is not None
        return self._store, self._platforms

    def tick(self, slots: bool = True) -> None:
        """Post what is due (half-posted threads first), decide any slot reached, post again."""
        from publisher.poster import Poster

        store, platforms = self._context()
        poster = Poster(store, platforms, self.now, should_stop=self.stop.is_set)
        self._report(poster.post_due())
        if slots and not self.stop.is_set():
            decisions = handle_slots(self.project, self.schedule, store, self.now())
            if any(d.thread_ids for d in decisions):
                self._report(poster.post_due())

    def _report(self, outcomes: list[Any]) -> None:
        store, _ = self._context()
        for outcome in outcomes:
            for account in outcome.accounts:
                line = (f"thread {outcome.thread_id} ({outcome.campaign}) {account.account}: "
                        f"{account.posted}/{account.total} posted")
                if account.state == "done":
                    log.info(line)
                elif account.state == "waiting":
                    log.info("%s; waiting: %s", line, account.message)
                else:
                    log.error("%s; needs attention: %s (publisher queue show %s)", line, account.message,
                              outcome.thread_id)
                    store.add_event("error", f"thread {outcome.thread_id} {account.account}: {account.message}")

    # -- the daemon ----------------------------------------------------------------------------------------

    def run_once(self) -> None:
        from publisher.lock import StoreLock

        with StoreLock(self.project.store_path(self.schedule, dry_run=self.dry_run)) as lock:
            lock.acquire("publisher run --once")
            self.tick()

    def run_forever(self) -> None:
        from apscheduler.events import EVENT_JOB_ERROR
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        from publisher.lock import StoreLock

        lock = StoreLock(self.project.store_path(self.schedule, dry_run=self.dry_run))
        lock.acquire("publisher run" + (" --dry-run" if self.dry_run else ""))
        scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(1)}, timezone="UTC",
                                        job_defaults={"coalesce": True, "max_instances": 1,
                                                      "misfire_grace_time": int(ON_TIME.total_seconds())})

        def job_failed(event: Any) -> None:
            log.error("job %s failed: %s: %s (publisher keeps running)", event.job_id,
                      type(event.exception).__name__, event.exception)
            try:
                self._context()[0].add_event("error", f"{type(event.exception).__name__}: {event.exception}")
            except Exception:  # reporting a failure must never stop the daemon
                log.exception("could not record the failure")

        scheduler.add_listener(job_failed, EVENT_JOB_ERROR)
        previous = {sig: signal.signal(sig, lambda *_: self.stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            log.info("publisher run started%s (pid lock on %s)", " in dry-run mode" if self.dry_run else "",
                     lock.path)
            scheduler.add_job(self.tick, id="start", next_run_time=self.now())  # resume, then catch up
            for campaign in self.schedule.campaigns:
                if is_scheduled(campaign):
                    trigger = SlotTrigger(campaign, campaign_zone(self.schedule, campaign))
                    scheduler.add_job(self.tick, trigger=trigger, id=f"slots:{campaign.name}")
                    upcoming = trigger.get_next_fire_time(None, self.now())
                    if upcoming:
                        log.info("campaign %s: next slot %s", campaign.name,
                                 _local(upcoming, campaign_zone(self.schedule, campaign)))
            scheduler.add_job(self.tick, "interval", seconds=RETRY_EVERY, id="retries", kwargs={"slots": False})
            scheduler.start()
            while not self.stop.wait(0.5):
                pass
            log.info("stopping: finishing the part in flight")
            scheduler.shutdown(wait=True)
            if self._store is not None:
                self._store.close()
            log.info("publisher run stopped")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            lock.release()
