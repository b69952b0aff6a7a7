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
from publisher.errors import ConfigError, MissingCredentials, NotFound, NothingToQueue, PublisherError, display_path
from publisher.fileio import file_stamp
from publisher.lock import StoreLock
from publisher.platforms.base import Platform
from publisher.platforms.factory import platforms_for
from publisher.poster import ThreadOutcome
from publisher.project import ProjectFiles
from publisher.queue import Queue
from publisher.slots import is_scheduled, slot_instants
from publisher.store import StoreUnusable, store_errors
from publisher.text import counted
from publisher.webfonts import outbox_page_fonts

log = logging.getLogger("publisher")

ON_TIME = timedelta(minutes=5)  # a slot handled within this is on time (also APScheduler's misfire grace)
RETRY_EVERY = 60  # seconds between looks at threads waiting for a rate limit or a back-off
READ_EVERY = 300  # seconds between rounds of reading the figures of posts whose reading is due


@dataclass
class SlotDecision:
    campaign: str
    slot_at: datetime
    outcome: str  # queued, late, skipped, no_quotes, failed
    thread_ids: list[int]
    errors: list[str] = field(default_factory=list)  # why (some of) its threads could not be queued


def handle_slots(queue: Queue, now: datetime, started: datetime | None = None,
                 missed_because: Callable[[datetime], str] | None = None) -> list[SlotDecision]:
    """Every slot reached since each campaign was last handled (or, for a campaign never seen before, since
    ``started``, when the daemon began: its first pass may come seconds later), decided once:

    - the latest slot is queued if it is on time (within 5 minutes), or late under ``catch_up = "post_late"``
      if it is within ``max_lateness`` (default: it is the most recent slot, i.e. less than a slot late);
    - every earlier slot is skipped, however recent: a backlog is never burst-posted. A thread queued for a
      skipped slot in advance is skipped with it, and its quotes go to the campaign's next thread.
      ``missed_because`` says why a slot was missed (the daemon knows when it could not read schedule.toml).

    A slot already holding a thread (queued by hand for it) is filled: the daemon adds nothing more for it. A
    slot whose thread cannot be made because a file is broken (a collection, a theme) is not recorded: it is
    tried again at the next pass, and posts, by the same rules, once the file is fixed. A campaign enabled again
    after a pause posts nothing for the slots that fell while it was disabled (``Queue.follow_pauses``).
    """
    store = queue.store
    decisions: list[SlotDecision] = []
    for thread_id, why in queue.follow_pauses():
        log.warning("thread %s skipped: %s", thread_id, why)
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
            if index < len(due) - 1:
                broken = queue.unserved.get((campaign.name, slot_at))
                why = (f"could not be served ({broken})" if broken else missed_because(slot_at) if missed_because
                       else "was missed while publisher was not running")
                _skip(queue, campaign, slot_at, zone, decisions, f"{why}, and a later slot has come since (only "
                                                                 "the latest missed slot may post)")
                continue
            if lateness <= ON_TIME:
                outcome = "queued"
            elif campaign.catch_up == "post_late" and (limit is None or lateness <= limit):
                outcome = "late"
            else:
                _skip(queue, campaign, slot_at, zone, decisions,
                      f"is {str(lateness).split('.')[0]} late (catch_up)")
                continue
            thread_ids, outcome, errors = _queue_slot(queue, campaign, slot_at, outcome)
            if outcome == "unserved":
                continue  # a file is broken: tried again at the next pass
            if store.record_slot(campaign.name, slot_at, outcome, thread_ids):
                decisions.append(SlotDecision(campaign.name, slot_at, outcome, thread_ids, errors))
                if thread_ids:
                    log.info("campaign %s: slot %s: queued thread(s) %s%s", campaign.name, _local(slot_at, zone),
                             ", ".join(map(str, thread_ids)),
                             " late (catch_up = post_late)" if outcome == "late" else "")
                _report_waiting(queue, campaign, slot_at, thread_ids)
    return decisions


def _report_waiting(queue: Queue, campaign: Campaign, slot_at: datetime, thread_ids: list[int]) -> None:
    """A slot reached by a thread that will not post now (nobody has signed it off, or it is held): the team is
    told (log, status)."""
    for thread_id in thread_ids:
        thread = queue.store.thread(thread_id)
        if thread is None or thread.state not in ("awaiting_approval", "held"):
            continue
        why = queue.waiting_because(thread) if thread.state == "awaiting_approval" else (
            f"it is held ({thread.reason or 'held'}; publisher queue release {thread_id})")
        message = (f"campaign {campaign.name}: slot {_local(slot_at, queue.schedule.zone_of(campaign))}: thread "
                   f"{thread_id} is not posted: {why}")
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
    except (ConfigError, NotFound) as exc:  # a file is broken: the slot waits for it to be fixed, said once
        if (campaign.name, slot_at) not in queue.unserved:
            queue.unserved[(campaign.name, slot_at)] = "; ".join(exc.lines())
            message = (f"campaign {campaign.name}: slot {when}: its thread cannot be made: {'; '.join(exc.lines())} "
                       "(it is made, late by the campaign's catch_up, once the file is fixed; or fix it and "
                       f"publisher queue add --now --campaign {campaign.name})")
            log.error(message)
            queue.store.add_event("error", message)
        return [], "unserved", []
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
    in ``<state>/dry-run/`` made afresh at start, and every account posts to an outbox there.

    APScheduler only wakes it: its jobs ask for a pass, and one thread makes the passes, one at a time, so a slot
    reached while a pass runs is taken by that pass (it looks again before it ends). It follows edits to
    schedule.toml between parts; while the file cannot be read it posts nothing at all (fail closed), says so once
    per slot it cannot serve, and goes on when the file is valid again."""

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
        self.config_problem: PublisherError | None = None  # why schedule.toml cannot be read now, if it cannot
        self._broken_since: datetime | None = None
        self._stack = ExitStack()
        self._queue: Queue | None = None
        self._platforms: dict[str, Platform] = {}
        self._scheduler: Any = None
        self._wanted = threading.Event()  # a pass is asked for (a slot, the retry minute, the dashboard)
        self._told: set[str] = set()  # lines said once (a thread waiting for the same reason)
        self._unserved: set[tuple[str, datetime]] = set()  # slots said not served while schedule.toml was broken
        self._unreadable: list[tuple[datetime, datetime]] = []  # when schedule.toml could not be read, this run
        self._paused_for_edit = False  # the last pass stopped between parts because schedule.toml changed
        self.slot_errors: list[str] = []  # slots whose threads could not be queued, this run
        self._fatal: StoreUnusable | None = None  # why the daemon stopped itself
        self._read_once = False  # the readings thread made its first round (at start)

    @property
    def outbox(self) -> Path | None:
        """Where a dry run's posts go."""
        return self.files.store_path(dry_run=True).parent if self.dry_run else None

    # -- one pass ------------------------------------------------------------------------------------------

    def _context(self) -> tuple[Queue, dict[str, Platform]]:
        """The queue and platforms, made in the thread that makes the passes."""
        if self._queue is None:
            self._queue = self._stack.enter_context(Queue.open(self.files, self.now, dry_run=self.dry_run))
            self._queue.schedule = self.schedule
            self._platforms = platforms_for(self.schedule, self._queue.store, self.env, self.now,
                                            outbox=self.outbox, page_fonts=outbox_page_fonts(self.schedule))
        return self._queue, self._platforms

    def _config_changed(self) -> bool:
        return file_stamp(self.files.config_path) != self._seen

    def reload_if_changed(self) -> bool:
        """Follow an edit to schedule.toml (slots, accounts, budgets, sign-off, enabled campaigns). False while
        the file cannot be read: then nothing is posted until it can."""
        if not self._config_changed():
            return self.config_problem is None
        self._seen = file_stamp(self.files.config_path)
        files = ProjectFiles(self.files.config_path)
        try:
            schedule = files.schedule()
        except PublisherError as exc:
            first = self.config_problem is None
            self.config_problem = exc
            if first:  # broken since it was saved so (a slot may have come between the save and this pass)
                saved = self._seen[0] / 1e9 if self._seen else None
                moment = self.now()
                self._broken_since = min(moment, datetime.fromtimestamp(saved, UTC)) if saved else moment
            message = (f"{self.files.config_path.name} cannot be read, so publisher posts nothing until it is fixed "
                       f"(publisher validate): {'; '.join(exc.lines())}")
            log.error(message)
            self._event("error", message)
            return False
        if self.config_problem is not None and self._broken_since is not None:
            log.info("%s is valid again: posting goes on", self.files.config_path.name)
            self._unreadable.append((self._broken_since, self.now()))
        self.config_problem, self._broken_since = None, None
        self.files, self.schedule = files, schedule
        if self._queue is not None:
            self._queue.files, self._queue.schedule = files, schedule
            self._platforms = platforms_for(schedule, self._queue.store, self.env, self.now, outbox=self.outbox,
                                            page_fonts=outbox_page_fonts(schedule))
        if self._scheduler is not None:
            self._schedule_slots()
        log.info("%s changed: publisher now follows the new one", self.files.config_path.name)
        return True

    def _report_unserved(self) -> None:
        """While schedule.toml cannot be read: each slot of the last good schedule that falls meanwhile is said
        once, with the file's problem."""
        assert self.config_problem is not None and self._broken_since is not None
        problem = "; ".join(self.config_problem.lines())
        for campaign in self.schedule.campaigns:
            if not is_scheduled(campaign):
                continue
            zone = self.schedule.zone_of(campaign)
            for slot_at in slot_instants(campaign, zone, self._broken_since, self.now()):
                if (campaign.name, slot_at) in self._unserved:
                    continue
                self._unserved.add((campaign.name, slot_at))
                message = (f"campaign {campaign.name}: slot {_local(slot_at, zone)} is not served: "
                           f"{self.files.config_path.name} cannot be read ({problem}); nothing is posted until it is "
                           "fixed")
                log.error(message)
                self._event("error", message)

    def _missed_because(self, slot_at: datetime) -> str:
        """Why the daemon did not post a slot it had to skip, as the log says it."""
        if any(start <= slot_at <= end for start, end in self._unreadable):
            return f"fell while {self.files.config_path.name} could not be read"
        if slot_at < self.started:
            return "was missed while publisher was not running"
        return "was reached while publisher was busy posting"

    def _once(self, level: str, message: str) -> None:
        if message in self._told:
            return
        self._told.add(message)
        log.log({"error": logging.ERROR, "warning": logging.WARNING}.get(level, logging.INFO), message)
        self._event(level, message)

    def _event(self, level: str, message: str) -> None:
        if self._queue is not None:
            self._queue.store.add_event(level, message)

    def tick(self, slots: bool = True) -> list[ThreadOutcome]:
        """Decide any slot reached (queueing its threads), then post what is due, half-posted threads first.
        An edit to schedule.toml stops the pass after the part in flight, and the pass goes on with the new file
        (or posts nothing more, if it cannot be read)."""
        outcomes: list[ThreadOutcome] = []
        first = True
        with store_errors(self.files.store_path(dry_run=self.dry_run)):
            while True:
                queue, platforms = self._context()
                if not self.reload_if_changed():
                    self._report_unserved()
                    break
                decisions = (handle_slots(queue, self.now(), self.started, self._missed_because)
                             if slots and not self.stop.is_set() else [])
                self.slot_errors += [e for d in decisions for e in d.errors]
                if not first and not decisions and not self._paused_for_edit:
                    break
                first, self._paused_for_edit = False, False
                outcomes += queue.post_due(platforms, self._between_parts, on_done=self._report)
                # a slot reached while this pass posted is taken by this pass, at once
                if not slots or self.stop.is_set():
                    break
        return outcomes

    def _between_parts(self) -> bool | str:
        """Whether the pass stops before the next part: publisher is stopping, or schedule.toml changed (the
        pass then goes on under the new file, or posts nothing more if it cannot be read)."""
        if self.stop.is_set():
            return True
        if self._config_changed():
            self._paused_for_edit = True
            return f"{self.files.config_path.name} changed; the rest goes on under the new one"
        return False

    def _guarded_tick(self, slots: bool = True) -> None:
        """A tick as the daemon runs it: a store that cannot be used stops the daemon (nothing could be
        recorded); any other error the user can act on is one log line, and the daemon goes on; a bug is logged
        with its traceback, and the daemon goes on."""
        try:
            self.tick(slots)
        except StoreUnusable as exc:
            self._fatal = exc
            self.stop.set()
        except PublisherError as exc:
            message = "; ".join(exc.lines())
            log.error("%s (publisher keeps running)", message)
            self._event("error", message)
        except Exception as exc:
            log.error("unexpected %s: %s (publisher keeps running; please report it)", type(exc).__name__, exc,
                      exc_info=exc)
            try:
                self._event("error", f"{type(exc).__name__}: {exc}")
            except Exception:  # reporting a failure must never stop the daemon
                log.exception("could not record the failure")

    def _report(self, outcome: ThreadOutcome) -> None:
        """One thread just finished its turn: said now, in the log and the store's events, so the record
        survives a crash later in the pass; a thread waiting for the same reason as before is not said again."""
        if outcome.state == "error":
            log.error("thread %s (%s): %s", outcome.thread_id, outcome.campaign, outcome.message)
            self._event("error", f"thread {outcome.thread_id}: {outcome.message}")
        if outcome.state == "over_budget":
            log.error("thread %s (%s): held over budget: %s", outcome.thread_id, outcome.campaign,
                      outcome.message)
            self._event("error", f"thread {outcome.thread_id}: {outcome.message}")
        if outcome.state == "waiting" and outcome.message:
            self._once("error", f"thread {outcome.thread_id} ({outcome.campaign}): {outcome.message}")
        if outcome.state == "awaiting_approval":
            self._once("warning", f"thread {outcome.thread_id} ({outcome.campaign}) is not posted: it needs sign-off "
                                  f"again (publisher queue show {outcome.thread_id})")
        for account in outcome.accounts:
            line = (f"thread {outcome.thread_id} ({outcome.campaign}) {account.account}: "
                    f"{account.posted}/{account.total} posted")
            if account.state == "done":
                log.info(line)
            elif account.state == "waiting":
                self._once("info", f"{line}; waiting: {account.message}")
            elif account.state == "stopped":
                log.info("%s; stopped: %s", line, account.message)
            else:
                log.error("%s; needs attention: %s (publisher queue show %s)", line, account.message,
                          outcome.thread_id)
                self._event("error", f"thread {outcome.thread_id} {account.account}: {account.message}")

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
                self._scheduler.add_job(self.wake, trigger=trigger, id=f"slots:{campaign.name}")
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
                "export them (for a service, in its EnvironmentFile: see publisher help deploy), or set enabled = "
                "false on the campaigns that use those accounts")

    def run_once(self) -> list[ThreadOutcome]:
        self._check_secrets()
        with self._lock() as lock:
            lock.acquire("publisher run --once" + (" --dry-run" if self.dry_run else ""))
            try:
                outcomes = self.tick()
            finally:
                self.close()
        posted = sum(o.state == "posted" for o in outcomes)
        log.info("run --once: %s", f"{counted(len(outcomes), 'thread')} due, {posted} posted" if outcomes
                 else "nothing was due")
        return outcomes

    def wake(self) -> None:
        """Ask for a pass now (a slot is reached, the retry minute, or a change from the dashboard); safe from
        any thread, and a no-op once stopping."""
        if not self.stop.is_set():
            self._wanted.set()

    def _readings(self) -> None:
        """The thread that reads posts' figures when due (results_at), apart from the passes: a slow platform
        never delays a post. A round that fails is logged, and the next round tries again."""
        from publisher.results import read_due

        while not self.stop.wait(0 if not self._read_once else READ_EVERY):
            self._read_once = True
            if self.dry_run or self.config_problem is not None:
                continue
            try:
                report = read_due(self.files.store_path(), self.schedule, self.env, self.now)
            except Exception as exc:  # a bug or a broken store: said, and the posting goes on
                log.error("reading results failed: %s (publisher keeps running)", exc)
                continue
            if report is not None:
                log.info("results: read %s in %s%s", counted(report.read, "post"), counted(report.calls, "call"),
                         f", {report.failed} could not be read" if report.failed else "")
                for note in report.notes:
                    log.warning("results: %s", note)

    def _passes(self) -> None:
        """The one thread that makes the passes, each when asked for."""
        while not self.stop.is_set():
            if self._wanted.wait(0.5):
                self._wanted.clear()
                self._guarded_tick()

    def run_forever(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        self._check_secrets()
        lock = self._lock()
        lock.acquire("publisher run" + (" --dry-run" if self.dry_run else ""))
        # The jobs only ask for a pass (instantly), so they never overlap and none is ever skipped.
        scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": int(ON_TIME.total_seconds())})
        previous = {sig: signal.signal(sig, lambda *_: self.stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        passes = threading.Thread(target=self._passes, name="passes")
        readings = threading.Thread(target=self._readings, name="readings", daemon=True)
        try:
            log.info("publisher run started%s (pid lock on %s)", " in dry-run mode" if self.dry_run else "",
                     lock.path)
            if self.outbox is not None:
                pages = ", ".join(display_path(self.outbox / name / "timeline.html") for name in self.schedule.accounts)
                log.info("dry run: working on a copy of the queue; nothing is sent; posts go to %s", pages)
            self._scheduler = scheduler
            self._schedule_slots()
            scheduler.add_job(self.wake, "interval", seconds=RETRY_EVERY, id="retries")
            scheduler.start()
            self.wake()  # resume, then catch up
            passes.start()
            readings.start()
            while not self.stop.wait(0.5):
                pass
            log.info("stopping: finishing the part in flight")
            self._scheduler = None
            scheduler.shutdown(wait=False)
            passes.join()
            self.close()
            if self._fatal is not None:
                raise self._fatal
            log.info("publisher run stopped")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            lock.release()
