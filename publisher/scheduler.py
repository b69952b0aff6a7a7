"""The scheduler: which slots are due, what to do about missed ones, and the daemon that runs it on APScheduler.

The truth lives in the store: every slot instant a campaign reaches is recorded there (queued, late, skipped),
so no slot ever posts twice, across restarts too. APScheduler only wakes the daemon at the right moments.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from publisher.config import Campaign, parse_duration
from publisher.errors import MissingCredentials, NothingToQueue, PublisherError, display_path
from publisher.fileio import file_stamp
from publisher.lock import StoreLock
from publisher.platforms.base import Platform
from publisher.platforms.factory import platforms_for
from publisher.poster import ThreadOutcome
from publisher.project import ProjectFiles
from publisher.queue import Queue
from publisher.slots import is_scheduled, slot_instants
from publisher.store import StoreUnusable, store_errors

log = logging.getLogger("publisher")

ON_TIME = timedelta(minutes=5)  # a slot handled within this is on time (also APScheduler's misfire grace)
RETRY_EVERY = 60  # seconds between looks at threads waiting for a rate limit or a back-off


@dataclass
class SlotDecision:
    campaign: str
    slot_at: datetime
    outcome: str  # queued, late, skipped, no_quotes, failed
    thread_ids: list[int]
    errors: list[str] = field(default_factory=list)  # why (some of) its threads could not be queued


def handle_slots(queue: Queue, now: datetime, started: datetime | None = None) -> list[SlotDecision]:
    """Every slot reached since each campaign was last handled (or, for a campaign never seen before, since
    ``started``, when the daemon began: its first pass may come seconds later), decided once:

    - a slot reached within the last 5 minutes is on time and queued, however many there are;
    - the latest slot is queued if it is on time (within 5 minutes), or late under ``catch_up = "post_late"``
      if it is within ``max_lateness`` (default: it is the most recent slot, i.e. less than a slot late);
    - every earlier missed slot is skipped: a backlog is never burst-posted. A thread queued for a skipped slot
      in advance is skipped with it, and its quotes go to the campaign's next thread.

    A slot already holding a thread (queued by hand for it) is filled: the daemon adds nothing more for it.
    """
    store = queue.store
    decisions: list[SlotDecision] = []
    for campaign in queue.schedule.campaigns:
        if not is_scheduled(campaign):
            continue
        zone = queue.schedule.zone_of(campaign)
        first_seen = started if started and timedelta(0) <= now - started <= ON_TIME else now
        since = store.watched_since(campaign.name, first_seen)
        last = store.last_slot(campaign.name)
        due = slot_instants(campaign, zone, max(since, last) if last else since, now)
        limit = parse_duration(campaign.max_lateness) if campaign.max_lateness else None
        for index, slot_at in enumerate(due):
            lateness = now - slot_at
            if lateness <= ON_TIME:
                outcome = "queued"
            elif index < len(due) - 1:
                _skip(queue, campaign, slot_at, zone, decisions, "was missed while publisher was not running")
                continue
            elif campaign.catch_up == "post_late" and (limit is None or lateness <= limit):
                outcome = "late"
            else:
                _skip(queue, campaign, slot_at, zone, decisions,
                      f"is {str(lateness).split('.')[0]} late (catch_up)")
                continue
            thread_ids, outcome, errors = _queue_slot(queue, campaign, slot_at, outcome)
            if store.record_slot(campaign.name, slot_at, outcome, thread_ids):
                decisions.append(SlotDecision(campaign.name, slot_at, outcome, thread_ids, errors))
                if thread_ids:
                    log.info("campaign %s: slot %s: queued thread(s) %s%s", campaign.name, _local(slot_at, zone),
                             ", ".join(map(str, thread_ids)),
                             " late (catch_up = post_late)" if outcome == "late" else "")
                _report_unapproved(queue, campaign, slot_at, thread_ids)
    return decisions


def _report_unapproved(queue: Queue, campaign: Campaign, slot_at: datetime, thread_ids: list[int]) -> None:
    """A slot reached by a thread nobody has signed off: it does not post, and the team is told (log, status)."""
    for thread_id in thread_ids:
        thread = queue.store.thread(thread_id)
        if thread is not None and thread.state == "awaiting_approval":
            message = (f"campaign {campaign.name}: slot {_local(slot_at, queue.schedule.zone_of(campaign))}: thread "
                       f"{thread_id} is not posted: {queue.waiting_because(thread)}")
            log.warning(message)
            queue.store.add_event("warning", message)


def _skip(queue: Queue, campaign: Campaign, slot_at: datetime, zone: ZoneInfo, decisions: list[SlotDecision],
          why: str) -> None:
    skipped = queue.skip_slot(campaign, slot_at, f"its slot {why}; its quotes go to the next thread")
    if queue.store.record_slot(campaign.name, slot_at, "skipped", []):
        decisions.append(SlotDecision(campaign.name, slot_at, "skipped", []))
        also = (f" with thread(s) {', '.join(map(str, skipped))} queued for it (their quotes go to the next "
                "thread)" if skipped else "")
        log.warning("campaign %s: slot %s %s; skipped%s", campaign.name, _local(slot_at, zone), why, also)


def _queue_slot(queue: Queue, campaign: Campaign, slot_at: datetime,
                outcome: str) -> tuple[list[int], str, list[str]]:
    """The slot's threads, its outcome, and what went wrong (logged, and kept as the daemon's errors)."""
    when = _local(slot_at, queue.schedule.zone_of(campaign))
    try:
        thread_ids, failures = queue.fill_slot(campaign, slot_at)
    except NothingToQueue as exc:
        _log_passed_over(queue)
        log.warning("campaign %s: slot %s: nothing to post: %s", campaign.name, when, exc)
        return [], "no_quotes", []
    except PublisherError as exc:  # e.g. a text X would refuse as a repeat: this slot fails, the others go on
        thread_ids, failures, outcome = [], [exc], "failed"
        queue.passed_over.clear()  # rolled back with the slot: they are tried again next time
    _log_passed_over(queue)
    errors = []
    for failure in failures:
        message = f"campaign {campaign.name}: slot {when}: a thread could not be queued: {'; '.join(failure.lines())}"
        log.error(message)
        queue.store.add_event("error", message)
        errors.append(message)
    return thread_ids, outcome, errors


def _log_passed_over(queue: Queue) -> None:
    """Quotes passed over while filling a slot (their card cannot be made): each said once."""
    for message in queue.passed_over:
        log.warning(message)
    queue.passed_over.clear()


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
    time; SIGTERM/SIGINT finish the part in flight and exit. With ``dry_run`` it works on a copy of the queue
    in ``<state>/dry-run/`` made afresh at start, and every account posts to an outbox there."""

    def __init__(self, files: ProjectFiles, dry_run: bool = False, now: Callable[[], datetime] | None = None,
                 env: dict[str, str] | None = None):
        self.files = files
        self.dry_run = dry_run
        self.now = now or (lambda: datetime.now(UTC))
        self.env = dict(os.environ) if env is None else env
        self.stop = threading.Event()
        self.started = self.now()  # slots from here on are this run's to post, even if its first pass is slow
        self.schedule = files.schedule()
        self._seen = file_stamp(files.config_path)
        self._stack = ExitStack()
        self._queue: Queue | None = None
        self._platforms: dict[str, Platform] = {}
        self._scheduler: Any = None
        self.slot_errors: list[str] = []  # slots whose threads could not be queued, this run
        self._fatal: StoreUnusable | None = None  # why the daemon stopped itself

    @property
    def outbox(self) -> Path | None:
        """Where a dry run's posts go."""
        return self.files.store_path(dry_run=True).parent if self.dry_run else None

    # -- one pass ------------------------------------------------------------------------------------------

    def _context(self) -> tuple[Queue, dict[str, Platform]]:
        """The queue and platforms, made in the (single) worker thread that uses them."""
        if self._queue is None:
            self._queue = self._stack.enter_context(Queue.open(self.files, self.now, dry_run=self.dry_run))
            self._platforms = platforms_for(self.schedule, self._queue.store, self.env, self.now,
                                            outbox=self.outbox)
        return self._queue, self._platforms

    def reload_if_changed(self) -> None:
        """schedule.toml was edited while running: go on with the new one (slots, accounts, budgets, enabled
        campaigns) if it is valid, else with the old one, saying why."""
        seen = file_stamp(self.files.config_path)
        if seen == self._seen:
            return
        self._seen = seen
        files = ProjectFiles(self.files.config_path)
        try:
            schedule = files.schedule()
        except PublisherError as exc:
            message = (f"{self.files.config_path.name} changed but has problems, so publisher goes on with the "
                       f"schedule it had (publisher validate): {'; '.join(exc.lines())}")
            log.error(message)
            if self._queue is not None:
                self._queue.store.add_event("error", message)
            return
        self.files, self.schedule = files, schedule
        if self._queue is not None:
            self._queue.files, self._queue.schedule = files, schedule
            self._platforms = platforms_for(schedule, self._queue.store, self.env, self.now, outbox=self.outbox)
        if self._scheduler is not None:
            self._schedule_slots()
        log.info("%s changed: publisher now follows the new one", self.files.config_path.name)

    def tick(self, slots: bool = True) -> list[ThreadOutcome]:
        """Decide any slot reached (queueing its threads), then post what is due, half-posted threads first."""
        self.reload_if_changed()
        with store_errors(self.files.store_path(dry_run=self.dry_run)):
            queue, platforms = self._context()
            outcomes: list[ThreadOutcome] = []
            first = True
            while True:
                decisions = (handle_slots(queue, self.now(), self.started)
                             if slots and not self.stop.is_set() else [])
                self.slot_errors += [e for d in decisions for e in d.errors]
                if not first and not decisions:
                    break
                first = False
                posted = queue.post_due(platforms, self.stop.is_set)
                self._report(posted)
                outcomes += posted
                # APScheduler skips a slot's wake-up while a pass runs, so look again for slots reached meanwhile
                if not slots or self.stop.is_set():
                    break
        return outcomes

    def _guarded_tick(self, slots: bool = True) -> None:
        """A tick as the daemon runs it: a store that cannot be used stops the daemon (nothing could be
        recorded); any other error the user can act on is one log line, and the daemon goes on."""
        try:
            self.tick(slots)
        except StoreUnusable as exc:
            self._fatal = exc
            self.stop.set()
        except PublisherError as exc:
            message = "; ".join(exc.lines())
            log.error("%s (publisher keeps running)", message)
            if self._queue is not None:
                self._queue.store.add_event("error", message)

    def _report(self, outcomes: list[ThreadOutcome]) -> None:
        queue, _ = self._context()
        for outcome in outcomes:
            if outcome.state == "error":
                log.error("thread %s (%s): %s", outcome.thread_id, outcome.campaign, outcome.message)
                queue.store.add_event("error", f"thread {outcome.thread_id}: {outcome.message}")
            if outcome.state == "over_budget":
                log.error("thread %s (%s): held over budget: %s", outcome.thread_id, outcome.campaign,
                          outcome.message)
                queue.store.add_event("error", f"thread {outcome.thread_id}: {outcome.message}")
            for account in outcome.accounts:
                line = (f"thread {outcome.thread_id} ({outcome.campaign}) {account.account}: "
                        f"{account.posted}/{account.total} posted")
                if account.state == "done":
                    log.info(line)
                elif account.state in ("waiting", "stopped"):
                    log.info("%s; %s: %s", line, account.state, account.message)
                else:
                    log.error("%s; needs attention: %s (publisher queue show %s)", line, account.message,
                              outcome.thread_id)
                    queue.store.add_event("error", f"thread {outcome.thread_id} {account.account}: {account.message}")

    def close(self) -> None:
        self._stack.close()
        self._queue = None

    # -- the daemon ----------------------------------------------------------------------------------------

    def _schedule_slots(self) -> None:
        """One APScheduler job per scheduled campaign, waking the daemon at its slots (replacing any before)."""
        for job in self._scheduler.get_jobs():
            if job.id.startswith("slots:"):
                job.remove()
        for campaign in self.schedule.campaigns:
            if is_scheduled(campaign):
                trigger = SlotTrigger(campaign, self.schedule.zone_of(campaign))
                self._scheduler.add_job(self._guarded_tick, trigger=trigger, id=f"slots:{campaign.name}")
                upcoming = trigger.get_next_fire_time(None, self.now())
                if upcoming:
                    log.info("campaign %s: next slot %s", campaign.name,
                             _local(upcoming, self.schedule.zone_of(campaign)))

    def _lock(self) -> StoreLock:
        return StoreLock(self.files.store_path(dry_run=self.dry_run))

    def _check_secrets(self) -> None:
        """Refuse to start when an enabled campaign's account has no credentials: found now, not at its slot."""
        unset = {} if self.dry_run else self.schedule.unset_secrets(self.env)
        if unset:
            raise MissingCredentials(
                "publisher run needs the credentials of every enabled campaign's accounts: " + "; ".join(
                    f"account {name}: {', '.join(variables)} not set" for name, variables in unset.items()),
                "export them (for a service, in its EnvironmentFile: docs/deploy.md), or set enabled = false on "
                "the campaigns that use those accounts")

    def run_once(self) -> list[ThreadOutcome]:
        self._check_secrets()
        with self._lock() as lock:
            lock.acquire("publisher run --once" + (" --dry-run" if self.dry_run else ""))
            try:
                outcomes = self.tick()
            finally:
                self.close()
        posted = sum(o.state == "posted" for o in outcomes)
        log.info("run --once: %s", f"{len(outcomes)} thread(s) due, {posted} posted" if outcomes
                 else "nothing was due")
        return outcomes

    def wake(self) -> None:
        """Look for due threads now rather than at the next minute (one was just approved, released or queued
        from the dashboard); safe to call from another thread, and a no-op when the daemon is not running."""
        scheduler = self._scheduler
        if scheduler is not None:
            scheduler.add_job(self._guarded_tick, id="wake", next_run_time=self.now(), replace_existing=True,
                              kwargs={"slots": False})

    def run_forever(self) -> None:
        from apscheduler.events import EVENT_JOB_ERROR
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        self._check_secrets()
        lock = self._lock()
        lock.acquire("publisher run" + (" --dry-run" if self.dry_run else ""))
        scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(1)}, timezone="UTC",
                                        job_defaults={"coalesce": True, "max_instances": 1,
                                                      "misfire_grace_time": int(ON_TIME.total_seconds())})

        def job_failed(event: Any) -> None:  # a bug: its traceback is logged by APScheduler
            log.error("job %s failed: %s: %s (publisher keeps running)", event.job_id,
                      type(event.exception).__name__, event.exception)
            try:
                self._context()[0].store.add_event("error", f"{type(event.exception).__name__}: {event.exception}")
            except Exception:  # reporting a failure must never stop the daemon
                log.exception("could not record the failure")

        scheduler.add_listener(job_failed, EVENT_JOB_ERROR)
        previous = {sig: signal.signal(sig, lambda *_: self.stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            log.info("publisher run started%s (pid lock on %s)", " in dry-run mode" if self.dry_run else "",
                     lock.path)
            if self.outbox is not None:
                pages = ", ".join(display_path(self.outbox / name / "timeline.html") for name in self.schedule.accounts)
                log.info("dry run: working on a copy of the queue; nothing is sent; posts go to %s", pages)
            self._scheduler = scheduler
            scheduler.add_job(self._guarded_tick, id="start", next_run_time=self.now())  # resume, then catch up
            self._schedule_slots()
            scheduler.add_job(self._guarded_tick, "interval", seconds=RETRY_EVERY, id="retries",
                              kwargs={"slots": False})
            scheduler.start()
            while not self.stop.wait(0.5):
                pass
            log.info("stopping: finishing the part in flight")
            self._scheduler = None
            scheduler.shutdown(wait=True)
            self.close()
            if self._fatal is not None:
                raise self._fatal
            log.info("publisher run stopped")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            lock.release()
