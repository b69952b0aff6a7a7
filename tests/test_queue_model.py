"""A model of the queue (issue 21, point 22): hypothesis drives random sequences of what people and processes do
to one project (add, add --now, hold, release, cancel, retry, recompose, approve with the revision shown, a stale
one or none, reject, edits to a quote, approval switched off and on, schedule.toml made invalid and mended, the
campaign disabled and enabled, time passing with or without the daemon watching, an outbox that fails, and posting:
in process, by the daemon, by a real `publisher post`, and by one SIGKILLed at a named checkpoint) against two
outboxes, one counted as X (``like = "x"``, under an X budget) and one as Bluesky.

After every step the promises are checked from the outbox files and the SQLite file itself (read with sqlite3, not
through the store): while approval is on, nothing is posted but exactly what was approved (each part's text and
cards as the approver was shown them); nothing is posted after a cancel, while held, while the campaign is
disabled or while schedule.toml is invalid, nor for a slot that fell while the daemon saw the campaign disabled;
no part is posted twice; every part the store calls posted names its own post, holding its text; the X spend of a
month stays within the budget; every state is one docs/posting.md names, and a final state stays final; a
campaign's threads go out in their number order (but for one made to wait, as a held one). A refused action (a
PublisherError) must change nothing; cancel and hold must never be refused; after a recovery a thread that was
under way finishes.

Sequences the model found are kept as plain tests (``SEQUENCES``). The heavy suite runs two batches of examples,
one per worker. A failure prints its seed (``queue model seed: N``): replay the run with ``QUEUE_MODEL_SEED=N
.venv/bin/python -m pytest tests/test_queue_model.py -k test_the_queue_model``, or add the
``@reproduce_failure(...)`` line hypothesis prints to ``QueueModel`` for that one example; hypothesis' database
(.hypothesis/) also replays it first on the next run.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import tomlkit
from hypothesis import HealthCheck, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.control import event
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import (
    RuleBasedStateMachine,
    get_state_machine_test,
    initialize,
    invariant,
    precondition,
    rule,
)
from test_queue import Clock

from conftest import BUNDLED, REPO
from publisher.app import Project
from publisher.errors import PublisherError
from publisher.lock import StoreLock
from publisher.scheduler import Daemon
from publisher.store import Store

LONDON = ZoneInfo("Europe/London")
CAMPAIGN = "model"
ACCOUNTS = {"xo": "x", "bo": "bluesky"}  # outbox account -> the platform it is counted as
BUDGET = 0.10  # dollars a month on xo: a thread costs $0.035 there (intro $0.015, card part $0.02), so two fit
SLOT_HOURS = (3, 9, 15, 21)  # the campaign's daily slots, hours after the wall clock at the start of an example
KILL_POINTS = ("outbox:create:before", "outbox:create:after", "store:begin:before", "store:begin:after",
               "store:posted:before", "store:posted:after", "store:thread:before", "store:thread:after",
               "store:outcome:before")
POST_EXITS = {0, 5, 7, 12}  # done; waiting for a retry; a part needs a person; a thread held over budget
CONFIG_EXIT = 3
QUOTE_EDITS = ("original", "hashtags", "alt", "text")  # hashtags change a part's text, alt its alt, text its card
DOCS = REPO / "docs" / "posting.md"
FIRST = 1  # a rule's ``choice`` for the first thread its action applies to
# The states each action is meant for (docs/posting.md); the rules try other states too, to be refused.
HOLD_FROM = ("queued", "posting", "needs_attention")
RELEASE_FROM = ("held", "over_budget")
CANCEL_FROM = ("awaiting_approval", "queued", "posting", "needs_attention", "held", "over_budget")
RETRY_FROM = ("needs_attention", "posting")
RECOMPOSE_FROM = ("awaiting_approval", "queued", "held", "over_budget")
APPROVE_FROM = ("awaiting_approval",)
REJECT_FROM = ("awaiting_approval",)


def documented_states() -> tuple[set[str], set[str]]:
    """The thread and part states docs/posting.md names in its "States" diagram."""
    text = DOCS.read_text("utf-8")
    block = text[text.index("### States"):].split("\n\n")[1]
    found: dict[str, set[str]] = {"thread": set(), "part": set()}
    current = "thread"
    for line in block.splitlines():
        words = line.split()
        if words and words[0] in found:
            current = words[0]
            line = line.replace(words[0], "", 1)
        names = re.findall(r"[a-z_]+", re.sub(r"\([^)]*\)", "", line))
        found[current] |= {n for n in names if n not in ("any", "but", "and")}
    return found["thread"], found["part"]


THREAD_STATES, PART_STATES = documented_states()
FINAL_STATES = {"posted", "cancelled", "skipped"}  # "any but posted and skipped -> cancelled"; cancelled stays


def count(label: str) -> None:
    """Count an outcome as a hypothesis event (how often each action was done or refused); outside a run, nothing."""
    with suppress(InvalidArgument):
        event(label)


class Violation(AssertionError):
    """A promise the queue broke."""


@dataclass
class Config:
    approval: bool
    enabled: bool = True
    valid: bool = True
    edits: int = 0  # written into the file, so every edit changes what the daemon's file stamp sees


@dataclass
class Record:
    """One post in an outbox, and the part of the queue it is the post of."""

    key: tuple[str, str]  # (account, file name)
    record_id: str
    account: str
    like: str
    text: str
    images: tuple[tuple[str, str], ...]  # (sha256, alt) of each card
    posted_at: datetime
    part: tuple[int, str, int] | None = None  # (thread id, account, position)


@dataclass
class Step:
    """What held while a step ran: posting steps say how schedule.toml stood."""

    name: str
    posts: bool = False
    approval: bool = False
    enabled: bool = True
    valid: bool = True


def schedule_text(config: Config, slot_times: list[str]) -> str:
    times = ", ".join(f'"{t}"' for t in slot_times)
    broken = "\ncolour = \"red\"  # not a key campaigns have: schedule.toml is invalid\n" if not config.valid else ""
    return f"""# edit {config.edits}
[defaults]
timezone = "Europe/London"

[accounts.xo]
platform = "outbox"
like = "x"

[accounts.bo]
platform = "outbox"
like = "bluesky"

[[campaigns]]
name = "{CAMPAIGN}"
collection = "caseyreview"
accounts = ["xo", "bo"]
quotes_per_thread = 1
intro = "Thread {{thread_number}} of {{title}}"
caption = "[{{id}}] #{{thread_number}} {{hashtags}}"
numbering = true
approval = {str(config.approval).lower()}
enabled = {str(config.enabled).lower()}
x_monthly_budget = {BUDGET}
slots = {{ days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], times = [{times}] }}
{broken}"""


def read_rows(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    if not db_path.exists():
        return []
    db = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=rw", uri=True, timeout=30)  # rw: it may need to
    # rebuild the WAL index a SIGKILLed process left; it only reads
    db.row_factory = sqlite3.Row
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        db.close()


class QueueModel(RuleBasedStateMachine):
    """One project, its queue and its two outboxes; ``forks``, ``base`` and ``start`` are set by the test (one
    start for every example of a run, so that an example replays the same while hypothesis shrinks it)."""

    forks: Any = None
    base: Path = Path(tempfile.gettempdir())
    start: datetime = datetime.now(UTC).replace(second=0, microsecond=0)

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="queue-model-", dir=self.base))
        self.clock = Clock(self.start)  # the in-process clock; real processes use the wall clock, at or after it
        local = self.start.astimezone(LONDON)
        self.slot_times = sorted(f"{(local + timedelta(hours=h)).hour:02d}:{local.minute:02d}" for h in SLOT_HOURS)
        self.config = Config(approval=False)
        self.daemon: Daemon | None = None
        self.records: dict[tuple[str, str], Record] = {}
        self.step = Step("start")
        self.approved: dict[int, dict[tuple[str, int], Any]] = {}  # thread -> what its latest approval was of
        self.revisions: dict[int, list[str]] = {}  # thread -> revisions shown, oldest first
        self.cancelled: set[int] = set()
        self.held: set[int] = set()
        self.final: dict[int, str] = {}  # threads seen in a final state, and that state
        self.disabled_windows: list[tuple[datetime, datetime]] = []  # (from, to] of model time, while disabled
        self.blocked: set[str] = set()  # outbox accounts made to fail
        self.advances = 0
        self.states: dict[int, str] = {}  # each thread's state after the last step
        self.seen_states: dict[int, set[str]] = {}  # every state each thread was in after a step
        self.due_now = False  # a thread was due on the wall clock (a real process has something to post)

    # -- the project ---------------------------------------------------------------------------------------

    @initialize(approval=st.booleans(), threads=st.integers(0, 2), approved=st.booleans())
    def make_project(self, approval: bool, threads: int, approved: bool = False) -> None:
        """The project, with ``threads`` queued to post now (signed off, if ``approved``)."""
        (self.root / "quotes").mkdir()
        shutil.copy(REPO / "quotes" / "caseyreview.toml", self.root / "quotes" / "caseyreview.toml")
        (self.root / "assets").mkdir()
        shutil.copytree(BUNDLED / "themes", self.root / "assets" / "themes")
        self.config.approval = approval
        self.write_schedule()
        project = self.project()
        self.daemon = Daemon(project.files, now=self.clock)
        for _ in range(threads):
            self.add(now=True)
            if approval and approved:
                self.approve(FIRST, "shown")
        self.step = Step("make_project")

    def teardown(self) -> None:
        if self.daemon is not None:
            self.daemon.close()
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def config_path(self) -> Path:
        return self.root / "schedule.toml"

    @property
    def db_path(self) -> Path:
        return self.root / "state" / "publisher.db"

    def project(self) -> Project:
        return Project(self.config_path, now=self.clock)

    def write_schedule(self) -> None:
        self.config.edits += 1
        self.config_path.write_text(schedule_text(self.config, self.slot_times), encoding="utf-8")

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return read_rows(self.db_path, sql, params)

    def threads(self) -> dict[int, sqlite3.Row]:
        return {row["id"]: row for row in self.rows("SELECT * FROM threads ORDER BY id")}

    def parts(self) -> list[sqlite3.Row]:
        return self.rows("SELECT * FROM parts ORDER BY thread_id, account, position")

    def snapshot(self) -> tuple[Any, ...]:
        """What a refused action must leave as it was."""
        threads = [tuple(r) for r in self.rows("SELECT id, state, quote_ids FROM threads ORDER BY id")]
        parts = [tuple(r) for r in self.rows("SELECT thread_id, account, position, state, text, images, post_id "
                                             "FROM parts ORDER BY thread_id, account, position")]
        signoffs = [tuple(r) for r in self.rows("SELECT thread_id, decision FROM signoffs ORDER BY id")]
        return threads, parts, signoffs

    def content(self, thread_id: int) -> dict[tuple[str, int], tuple[str, tuple[tuple[str, str], ...]]]:
        """What a thread would post now, read from the SQLite file: each part's text and cards (sha256, alt)."""
        parts = {}
        for row in self.rows("SELECT account, position, text, images FROM parts WHERE thread_id = ?", (thread_id,)):
            images = tuple((i["sha256"], i["alt"]) for i in json.loads(row["images"]))
            parts[(row["account"], row["position"])] = (row["text"], images)
        return parts

    def pick(self, choice: int, states: tuple[str, ...]) -> int:
        """A thread: usually one in ``states`` (where the action applies), sometimes any (to be refused)."""
        threads = self.threads()
        fitting = [i for i, row in threads.items() if row["state"] in states]
        pool = list(threads) if choice % 8 == 0 or not fitting else fitting
        return pool[(choice // 8) % len(pool)]

    def some_thread(self, states: tuple[str, ...]) -> bool:
        """Whether a thread was in one of ``states`` after the last step (preconditions are read often)."""
        return any(state in states for state in self.states.values())

    @contextmanager
    def action(self, name: str, thread_id: int | None = None, must: bool = False) -> Iterator[None]:
        """Run one in-process action on the queue. A refusal (a PublisherError) is a valid outcome but must
        change nothing; with ``must``, the action must not be refused at all."""
        self.step = Step(name)
        before = self.snapshot()
        try:
            yield
        except PublisherError as exc:
            after = self.snapshot()
            if after != before:
                raise Violation(f"{name} of thread {thread_id} was refused ({type(exc).__name__}: {exc}) but "
                                f"changed the queue") from exc
            if must:
                state = self.threads().get(thread_id or 0)
                raise Violation(f"{name} of thread {thread_id} ({state['state'] if state else '?'}) was refused: "
                                f"{type(exc).__name__}: {exc}") from exc
            count(f"{name}: refused ({type(exc).__name__})")
            return
        count(f"{name}: done")

    def shown(self, thread_id: int, revision: str | None) -> None:
        """Keep a revision a person was shown (None: none while schedule.toml cannot be read)."""
        if revision is not None:
            self.revisions.setdefault(thread_id, []).append(revision)

    def state_of(self, thread_id: int) -> str:
        return str(self.threads()[thread_id]["state"])

    # -- people ----------------------------------------------------------------------------------------------

    def add(self, now: bool) -> None:
        with self.action("add --now" if now else "add"), self.project().queue() as queue:
            added = queue.add(CAMPAIGN, now=now)
            self.shown(added.thread.id, queue.thread_json(added.thread)["revision"])
            expected = "awaiting_approval" if self.config.approval else "queued"
            if added.thread.state != expected:
                raise Violation(f"thread {added.thread.id} was queued {added.thread.state}, not {expected} "
                                f"(approval = {str(self.config.approval).lower()})")

    @rule(now=st.booleans())
    def add_thread(self, now: bool) -> None:
        """publisher queue add: for the next free slot, or --now."""
        self.add(now)

    @precondition(lambda self: self.some_thread(HOLD_FROM))
    @rule(choice=st.integers(0, 63))
    def hold(self, choice: int) -> None:
        thread_id = self.pick(choice, HOLD_FROM)
        holdable = self.state_of(thread_id) in HOLD_FROM
        with self.action("hold", thread_id, must=holdable), self.project().queue() as queue:
            queue.hold(thread_id, by="model")
            self.held.add(thread_id)
            self.expect_state(thread_id, ("held",), "hold")

    @precondition(lambda self: self.some_thread(RELEASE_FROM))
    @rule(choice=st.integers(0, 63))
    def release(self, choice: int) -> None:
        thread_id = self.pick(choice, RELEASE_FROM)
        with self.action("release", thread_id), self.project().queue() as queue:
            queue.release(thread_id)
            self.held.discard(thread_id)

    @precondition(lambda self: self.some_thread(CANCEL_FROM))
    @rule(choice=st.integers(0, 63))
    def cancel(self, choice: int) -> None:
        thread_id = self.pick(choice, CANCEL_FROM)
        cancellable = self.state_of(thread_id) in CANCEL_FROM  # "any but posted and skipped -> cancelled"
        with self.action("cancel", thread_id, must=cancellable), self.project().queue() as queue:
            queue.cancel(thread_id, settle=0, by="model")
            self.cancelled.add(thread_id)
            self.held.discard(thread_id)
            self.expect_state(thread_id, ("cancelled",), "cancel")

    @precondition(lambda self: self.some_thread(RETRY_FROM))
    @rule(choice=st.integers(0, 63))
    def retry(self, choice: int) -> None:
        thread_id = self.pick(choice, RETRY_FROM)
        with self.action("retry", thread_id), self.project().queue() as queue:
            queue.retry(thread_id)

    @precondition(lambda self: self.some_thread(RECOMPOSE_FROM))
    @rule(choice=st.integers(0, 63))
    def recompose(self, choice: int) -> None:
        thread_id = self.pick(choice, RECOMPOSE_FROM)
        approved_before = self.latest_signoff(thread_id) == "approved"
        with self.action("recompose", thread_id), self.project().queue() as queue:
            queue.recompose(thread_id, by="model")
            self.shown(thread_id, queue.thread_json(queue.thread(thread_id))["revision"])
            if approved_before and self.latest_signoff(thread_id) != "sent_back":
                raise Violation(f"thread {thread_id} was approved, then recomposed with approval = "
                                f"{str(self.config.approval).lower()}, and no sent_back was recorded")

    @precondition(lambda self: self.some_thread(APPROVE_FROM))
    @rule(choice=st.integers(0, 63), revision=st.sampled_from(["shown", "stale", "none"]))
    def approve(self, choice: int, revision: str) -> None:
        thread_id = self.pick(choice, APPROVE_FROM)
        with self.action(f"approve ({revision} revision)", thread_id), self.project().queue() as queue:
            current = queue.thread_json(queue.thread(thread_id))["revision"]
            self.shown(thread_id, current)
            stale = next((r for r in reversed(self.revisions.get(thread_id, [])) if r != current), "0" * 16)
            content = self.content(thread_id)  # what the approver was shown
            started = any(p["state"] != "pending" for p in self.parts() if p["thread_id"] == thread_id)
            queue.approve(thread_id, by="model", revision={"shown": current, "stale": stale, "none": None}[revision])
            if revision == "stale" and current is not None:
                raise Violation(f"thread {thread_id} was approved with a stale revision {stale} (it is {current})")
            self.approved[thread_id] = content
            # one sent back mid-thread goes on posting; one not started is queued, or skipped if approved late
            self.expect_state(thread_id, ("posting",) if started else ("queued", "skipped"), "approve")

    @precondition(lambda self: self.some_thread(REJECT_FROM))
    @rule(choice=st.integers(0, 63))
    def reject(self, choice: int) -> None:
        thread_id = self.pick(choice, REJECT_FROM)
        with self.action("reject", thread_id), self.project().queue() as queue:
            queue.reject(thread_id, "not this one", by="model")
            self.cancelled.add(thread_id)
            self.expect_state(thread_id, ("cancelled",), "reject")

    @rule(choice=st.integers(0, 63), edit=st.sampled_from(QUOTE_EDITS))
    def edit_quote(self, choice: int, edit: str) -> None:
        """Edit a quote of a live thread (or the next one to be queued) in quotes/caseyreview.toml."""
        self.step = Step(f"edit quote ({edit})")
        live = [q for row in self.rows("SELECT quote_ids FROM threads WHERE state NOT IN ('posted', 'cancelled', "
                                       "'skipped') ORDER BY id") for q in json.loads(row["quote_ids"])]
        path = self.root / "quotes" / "caseyreview.toml"
        document = tomlkit.parse(path.read_text("utf-8"))
        quotes = document["quotes"]
        pool = live or [q["id"] for q in quotes][:3]
        quote_id = pool[choice % len(pool)]
        original = tomlkit.parse((REPO / "quotes" / "caseyreview.toml").read_text("utf-8"))["quotes"]
        for index, quote in enumerate(quotes):
            if quote["id"] != quote_id:
                continue
            fresh = original[index]
            quote["text"] = fresh["text"] + (" Indeed." if edit == "text" else "")
            quote["hashtags"] = ["Edited"] if edit == "hashtags" else []
            if edit == "alt":
                quote["alt"] = f"The quote {quote_id}, edited."
            elif "alt" in quote:
                del quote["alt"]
        path.write_text(tomlkit.dumps(document), encoding="utf-8")

    # -- schedule.toml -------------------------------------------------------------------------------------

    @rule(change=st.sampled_from(["approval", "enabled", "validity"]))
    def edit_schedule(self, change: str) -> None:
        """Switch approval or enabled, or make schedule.toml invalid (an unknown key) or mend it."""
        if change == "approval":
            self.config.approval = not self.config.approval
        elif change == "enabled":
            self.config.enabled = not self.config.enabled
        else:
            self.config.valid = not self.config.valid
        self.write_schedule()
        self.step = Step(f"approval = {self.config.approval}, enabled = {self.config.enabled}, valid = "
                         f"{self.config.valid}")

    # -- the outboxes --------------------------------------------------------------------------------------

    @rule(account=st.sampled_from(sorted(ACCOUNTS)))
    def outbox_fails(self, account: str) -> None:
        """The outbox's media folder becomes a file (so preparing a post fails: Rejected), or is put back."""
        folder = self.root / "outbox" / account
        media, aside = folder / "media", folder / "media.aside"
        if account in self.blocked:
            media.unlink()
            if aside.exists():
                aside.rename(media)
            self.blocked.discard(account)
            self.step = Step(f"outbox {account} works again")
        else:
            folder.mkdir(parents=True, exist_ok=True)
            if media.exists():
                media.rename(aside)
            media.write_text("not a folder\n", encoding="utf-8")
            self.blocked.add(account)
            self.step = Step(f"outbox {account} fails")

    # -- posting -------------------------------------------------------------------------------------------

    def posting_step(self, name: str) -> Step:
        return Step(name, posts=True, approval=self.config.approval, enabled=self.config.enabled,
                    valid=self.config.valid)

    @rule(how=st.sampled_from(["in process", "publisher post", "daemon pass"]))
    def post(self, how: str) -> None:
        """Post what is due: ``publisher post`` in process (on the model's clock), in a real process (on the wall
        clock), or a pass of the daemon (which decides the slots reached, then posts)."""
        self.step = self.posting_step(f"post ({how})")
        if how == "daemon pass":
            self.tick()
        elif how == "publisher post" and self.forks is not None:
            self.post_process(None)
        else:
            try:
                self.project().post_due(env={})
            except PublisherError as exc:
                if self.config.valid:
                    raise
                count(f"post (in process): refused ({type(exc).__name__})")

    @precondition(lambda self: self.forks is not None and self.due_now and self.config.valid and self.config.enabled)
    @rule(point=st.sampled_from(KILL_POINTS), visit=st.integers(1, 4))
    def post_killed(self, point: str, visit: int) -> None:
        """`publisher post` in a real process, SIGKILLed at the ``visit``-th pass of a checkpoint if it gets there."""
        self.step = self.posting_step(f"publisher post, killed at {point}#{visit}")
        self.post_process(f"{point}#{visit}")

    def post_process(self, kill_at: str | None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
        if kill_at:
            env["PUBLISHER_KILL_AT"] = kill_at
        done = self.forks.run(["--config", str(self.config_path), "post"], env, self.root, timeout=60)
        count(f"publisher post{' (to be killed)' if kill_at else ''}: exit {done.returncode}")
        if not self.config.valid:
            if done.returncode != CONFIG_EXIT:
                raise Violation(f"publisher post with an invalid schedule.toml exited {done.returncode}, not "
                                f"{CONFIG_EXIT}: {done.stderr[-500:]}")
            return
        allowed = POST_EXITS | ({-signal.SIGKILL} if kill_at else set())
        if done.returncode not in allowed or "Traceback" in done.stderr:
            raise Violation(f"publisher post exited {done.returncode}: {done.stdout[-300:]} {done.stderr[-800:]}")

    def tick(self) -> None:
        """A pass of the example's one daemon, which keeps the schedule it has read, and its store open, between
        passes, while this process opens the store for the other steps (as run --serve's dashboard does)."""
        assert self.daemon is not None
        with StoreLock(self.db_path) as lock:
            lock.acquire("publisher run (the model's daemon)")
            try:
                self.daemon.tick()
            except PublisherError as exc:  # the daemon logs these and goes on
                count(f"daemon pass: {type(exc).__name__}")

    @precondition(lambda self: self.advances < 3)
    @rule(slots=st.integers(1, 2), late=st.sampled_from([1, 20]), watching=st.booleans())
    def time_passes(self, slots: int, late: int, watching: bool) -> None:
        """The clock moves to ``late`` minutes after the ``slots``-th next slot. With the daemon ``watching`` all
        the while, it looks at once (as its minutely pass would), at each slot, and at the end; else it was not
        running, and looks only at the end (a slot it missed is caught up, or skipped, by catch_up)."""
        start = self.clock.moment
        upcoming = self.next_slots(start, slots)
        end = upcoming[-1] + timedelta(minutes=late)
        self.step = self.posting_step(f"time passes to {end.astimezone(LONDON):%a %H:%M}"
                                      + (", the daemon watching" if watching else ""))
        if watching:
            self.tick()
            for slot_at in upcoming:
                self.clock.moment = slot_at + timedelta(seconds=30)
                self.tick()
        self.clock.moment = end
        self.advances += 1
        if watching and not self.config.enabled and self.config.valid:  # it saw the campaign disabled throughout
            self.disabled_windows.append((start, self.clock.moment))
        self.tick()

    def next_slots(self, after: datetime, number: int) -> list[datetime]:
        """The campaign's next ``number`` slots after ``after`` (worked out here, not by publisher.slots)."""
        found: list[datetime] = []
        day = after.astimezone(LONDON).date()
        while len(found) < number:
            for time_text in self.slot_times:
                hour, minute = map(int, time_text.split(":"))
                moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON).astimezone(UTC)
                if moment > after and len(found) < number:
                    found.append(moment)
            day += timedelta(days=1)
        return found

    @rule()
    def recover(self) -> None:
        """Everything that stopped posting is put right, as a person would: the outboxes work, schedule.toml is
        valid, the threads with a failed part are retried; then the queue is posted, and every thread that was
        under way finishes (or, while approval is on, waits for sign-off), without a part twice."""
        for account in sorted(self.blocked):
            self.outbox_fails(account)
        if not self.config.valid:
            self.edit_schedule("validity")
        under_way = [i for i, state in self.states.items() if state in ("posting", "needs_attention")]
        failed = {p["thread_id"] for p in self.parts() if p["state"] == "failed"}
        with self.project().queue() as queue:
            for thread_id in sorted(failed & set(under_way)):
                queue.retry(thread_id)
        self.step = self.posting_step("recover and post")
        self.project().post_due(env={})
        if not self.config.enabled:
            return
        threads = self.threads()
        for thread_id in under_way:
            state = threads[thread_id]["state"]
            allowed = {"posted"} | ({"awaiting_approval"} if self.config.approval else set())
            if state not in allowed:
                unfinished = [(p["account"], p["position"], p["state"]) for p in self.parts()
                              if p["thread_id"] == thread_id and p["state"] != "posted"]
                raise Violation(f"thread {thread_id} was under way and is {state} after a post with nothing in "
                                f"its way: {unfinished}")

    # -- checks on actions ---------------------------------------------------------------------------------

    def expect_state(self, thread_id: int, states: tuple[str, ...], action: str) -> None:
        state = self.state_of(thread_id)
        if state not in states:
            raise Violation(f"after {action}, thread {thread_id} is {state}, not {' or '.join(states)}")

    def latest_signoff(self, thread_id: int) -> str | None:
        rows = self.rows("SELECT decision FROM signoffs WHERE thread_id = ? ORDER BY id DESC LIMIT 1", (thread_id,))
        return str(rows[0]["decision"]) if rows else None

    # -- what was posted -----------------------------------------------------------------------------------

    def scan_outboxes(self, parts: list[sqlite3.Row]) -> list[Record]:
        """Records that appeared in the outboxes since the last look, each attributed to its part."""
        new = []
        for account in ACCOUNTS:
            posts = self.root / "outbox" / account / "posts"
            if not posts.is_dir():
                continue
            for path in sorted(posts.glob("*.json")):
                key = (account, path.name)
                if key in self.records:
                    continue
                data = json.loads(path.read_text("utf-8"))
                images = tuple((Path(i["file"]).stem, i["alt"]) for i in data["images"])
                record = Record(key, data["id"], data["account"], data["like"], data["text"], images,
                                datetime.fromisoformat(data["posted_at"]))
                record.part = self.attribute(record, parts)
                self.records[key] = record
                new.append(record)
        return new

    def attribute(self, record: Record, parts: list[sqlite3.Row]) -> tuple[int, str, int]:
        """The part a new record is the post of: the one that names it as its post, else the one with its text
        whose outcome is not known yet (a process killed after writing it), else any with its text."""
        same = [p for p in parts if p["account"] == record.account and p["text"] == record.text]
        ranked = ([p for p in same if p["post_id"] == record.record_id]
                  or [p for p in same if p["state"] in ("in_flight", "unknown") and p["post_id"] is None]
                  or same)
        if not ranked:
            raise Violation(f"{record.account} posted {record.text!r} ({record.record_id}), which is no part of "
                            "any thread in the queue")
        part = ranked[0]
        return part["thread_id"], part["account"], part["position"]

    # -- the promises, after every step --------------------------------------------------------------------

    @invariant()
    def promises_hold(self) -> None:
        """Read the SQLite file and the outboxes once, and check every promise against them."""
        threads, parts = self.threads(), self.parts()
        self.states = {i: row["state"] for i, row in threads.items()}
        for thread_id, state in self.states.items():
            self.seen_states.setdefault(thread_id, set()).add(state)
        wall = datetime.now(UTC)
        self.due_now = any(row["state"] in ("queued", "posting") and datetime.fromisoformat(row["due_at"]) <= wall
                           for row in threads.values())
        self.check_new_posts(threads, self.scan_outboxes(parts))
        self.check_no_part_twice()
        self.check_store_matches_outboxes(parts)
        self.check_budget(parts)
        self.check_states(threads, parts)
        self.check_number_order(threads)

    def check_new_posts(self, threads: dict[int, sqlite3.Row], new: list[Record]) -> None:
        step = self.step
        for record in new:
            assert record.part is not None
            thread_id, account, position = record.part
            what = f"{record.record_id} (thread {thread_id}, {account} part {position}) in step {step.name!r}"
            if not step.posts:
                raise Violation(f"{what}: posted by a step that does not post")
            if not step.valid:
                raise Violation(f"{what}: posted while schedule.toml was invalid")
            if not step.enabled:
                raise Violation(f"{what}: posted while the campaign was disabled")
            if thread_id in self.cancelled:
                raise Violation(f"{what}: posted after the thread was cancelled")
            if thread_id in self.held:
                raise Violation(f"{what}: posted while the thread was held")
            slot = threads[thread_id]["slot"]
            slot_at = datetime.fromisoformat(slot.rsplit("#", 1)[0]) if slot else None
            if slot_at and any(start < slot_at <= end for start, end in self.disabled_windows):
                raise Violation(f"{what}: posted for the slot {slot_at.astimezone(LONDON):%a %H:%M}, which fell "
                                "while the campaign was disabled")
            if step.approval:
                self.check_approved(record, what)
            count(f"a part posted while approval = {str(step.approval).lower()}")

    def check_number_order(self, threads: dict[int, sqlite3.Row]) -> None:
        """A campaign's threads go out in their number order (issue 26): on each account a thread's first post
        comes after those of the threads numbered before it, and none posts while one numbered before it waits,
        queued, with nothing posted. A thread made to wait at some point (held, over budget, awaiting sign-off,
        needing attention, left mid-thread, cancelled, skipped) may rightly be overtaken."""
        first: dict[tuple[int, str], str] = {}  # (thread, account) -> its first post's file: the outbox's order
        for (account, name), record in self.records.items():
            assert record.part is not None
            key = (record.part[0], account)
            first[key] = min(first.get(key, name), name)
        posted = {thread_id for thread_id, _ in first}
        for earlier, row in threads.items():
            if self.seen_states.get(earlier, set()) - {"queued", "posted"}:
                continue  # it was made to wait: others may go first
            for later, other in threads.items():
                if later not in posted or other["campaign"] != row["campaign"] or other["number"] <= row["number"]:
                    continue
                if earlier not in posted and row["state"] == "queued":
                    raise Violation(f"thread {later} (#{other['number']}) posted while thread {earlier} "
                                    f"(#{row['number']}) waits, queued, with nothing posted")
                for account in ACCOUNTS:
                    mine, theirs = first.get((earlier, account)), first.get((later, account))
                    if mine is not None and theirs is not None and theirs < mine:
                        raise Violation(f"thread {later} (#{other['number']}) posted on {account} ({theirs}) before "
                                        f"thread {earlier} (#{row['number']}) did ({mine})")

    def check_approved(self, record: Record, what: str) -> None:
        """While approval is on, a post is exactly what was approved of its thread: that part's text and cards,
        on that account, counted as that platform."""
        assert record.part is not None
        thread_id, account, position = record.part
        approved = self.approved.get(thread_id)
        if approved is None:
            raise Violation(f"{what}: posted while approval = true, and the thread was never approved")
        wanted = approved.get((account, position))
        if wanted != (record.text, record.images) or record.like != ACCOUNTS[account]:
            raise Violation(f"{what}: posted {(record.text, record.images)!r} while approval = true, but what was "
                            f"approved there was {wanted!r}")

    def check_no_part_twice(self) -> None:
        seen: dict[tuple[int, str, int], str] = {}
        for record in self.records.values():
            assert record.part is not None
            if record.part in seen:
                raise Violation(f"thread {record.part[0]} {record.part[1]} part {record.part[2]} was posted twice: "
                                f"{seen[record.part]} and {record.record_id}")
            seen[record.part] = record.record_id

    def check_store_matches_outboxes(self, parts: list[sqlite3.Row]) -> None:
        """Every part the store calls posted names a post in its outbox holding its text and cards, its own."""
        by_id = {r.record_id: r for r in self.records.values()}
        claimed: dict[str, tuple[int, str, int]] = {}
        for part in parts:
            where = (part["thread_id"], part["account"], part["position"])
            if part["post_id"] is None:
                if part["state"] == "posted":
                    raise Violation(f"thread {where[0]} {where[1]} part {where[2]} is posted with no post id")
                continue
            if part["post_id"] in claimed:
                raise Violation(f"{part['post_id']} is recorded as the post of both {claimed[part['post_id']]} and "
                                f"{where}")
            claimed[part["post_id"]] = where
            record = by_id.get(part["post_id"])
            if record is None or record.account != part["account"]:
                raise Violation(f"thread {where[0]} {where[1]} part {where[2]} is recorded as {part['post_id']}, "
                                "which is not in its outbox")
            images = tuple((i["sha256"], i["alt"]) for i in json.loads(part["images"]))
            if (record.text, record.images) != (part["text"], images):
                raise Violation(f"thread {where[0]} {where[1]} part {where[2]} is recorded as {part['post_id']}, "
                                f"which holds {record.text!r}, not {part['text']!r}")

    def check_budget(self, parts: list[sqlite3.Row]) -> None:
        """What the posts on the account counted as X cost, by calendar month, is within the budget."""
        costs = {(p["thread_id"], p["account"], p["position"]): p["cost"] for p in parts}
        spent: dict[tuple[int, int], float] = {}
        for record in self.records.values():
            if record.like != "x" or record.part is None:
                continue
            local = record.posted_at.astimezone(LONDON)
            cost = costs.get(record.part)
            if cost is None:
                raise Violation(f"{record.record_id} was posted on an account counted as X with no cost")
            spent[(local.year, local.month)] = spent.get((local.year, local.month), 0.0) + cost
        for (year, month), total in spent.items():
            if total > BUDGET + 1e-9:
                raise Violation(f"xo spent ${total:.3f} in {year}-{month:02d}, over x_monthly_budget = {BUDGET}")

    def check_states(self, threads: dict[int, sqlite3.Row], parts: list[sqlite3.Row]) -> None:
        """Every state is one the docs name; posted, cancelled and skipped are final; a posted thread's parts are
        all posted."""
        for thread_id, row in threads.items():
            if row["state"] not in THREAD_STATES:
                raise Violation(f"thread {thread_id} is {row['state']}, a state docs/posting.md does not name")
            if thread_id in self.final and row["state"] != self.final[thread_id]:
                raise Violation(f"thread {thread_id} went from {self.final[thread_id]} to {row['state']}")
            if row["state"] in FINAL_STATES:
                self.final[thread_id] = row["state"]
            if row["state"] == "posted" and any(p["state"] != "posted" for p in parts if p["thread_id"] == thread_id):
                raise Violation(f"thread {thread_id} is posted but not all of its parts are")
        for part in parts:
            if part["state"] not in PART_STATES:
                raise Violation(f"thread {part['thread_id']} {part['account']} part {part['position']} is "
                                f"{part['state']}, a state docs/posting.md does not name")


QUICK = settings(max_examples=5, stateful_step_count=10, deadline=None, print_blob=True,
                 suppress_health_check=list(HealthCheck))
HEAVY = settings(max_examples=120, stateful_step_count=15, deadline=None, print_blob=True,
                 suppress_health_check=list(HealthCheck))  # each of two batches


def model_class(forks: Any, base: Path) -> type[QueueModel]:
    class Model(QueueModel):
        pass

    Model.forks, Model.base = forks, base
    Model.start = datetime.now(UTC).replace(second=0, microsecond=0)
    return Model


def run_model(forks: Any, base: Path, profile: settings) -> None:
    """Run the model with a seed that is printed on failure (QUEUE_MODEL_SEED replays it)."""
    chosen = int(os.environ.get("QUEUE_MODEL_SEED") or random.randrange(2**32))
    test: Callable[[], None] = hypothesis_seed(chosen)(get_state_machine_test(model_class(forks, base),
                                                                               settings=profile))
    try:
        test()
    except BaseException as exc:
        exc.add_note(f"queue model seed: {chosen} (replay: QUEUE_MODEL_SEED={chosen} .venv/bin/python -m pytest "
                     "tests/test_queue_model.py)")
        print(f"queue model seed: {chosen}")
        raise


def replay(forks: Any, base: Path, steps: list[tuple[str, dict[str, Any]]]) -> None:
    """Run the model's rules in this order, checking the promises after each, as hypothesis would."""
    machine = model_class(forks, base)()
    try:
        for name, arguments in steps:
            getattr(machine, name)(**arguments)
            machine.promises_hold()
    finally:
        machine.teardown()


# Sequences the model found breaking a promise, kept as plain tests that replay in a second: each but the stale
# approval and the first kill failed before the fixes of issue 21.
SEQUENCES = {
    "an approval stands only for what was approved": [
        ("make_project", {"approval": True, "threads": 1}), ("approve", {"choice": FIRST, "revision": "shown"}),
        ("edit_schedule", {"change": "approval"}), ("edit_quote", {"choice": 0, "edit": "text"}),
        ("recompose", {"choice": FIRST}), ("edit_schedule", {"change": "approval"}), ("post", {"how": "in process"})],
    "a stale approval is refused": [
        ("make_project", {"approval": True, "threads": 1}), ("edit_quote", {"choice": 0, "edit": "hashtags"}),
        ("recompose", {"choice": FIRST}), ("approve", {"choice": FIRST, "revision": "stale"})],
    "cancel works while schedule.toml is invalid": [
        ("make_project", {"approval": False, "threads": 1}), ("edit_schedule", {"change": "validity"}),
        ("cancel", {"choice": FIRST})],
    "hold works while schedule.toml is invalid": [
        ("make_project", {"approval": False, "threads": 1}), ("edit_schedule", {"change": "validity"}),
        ("hold", {"choice": FIRST})],
    "the daemon posts nothing while schedule.toml is invalid": [
        ("make_project", {"approval": False, "threads": 1}), ("edit_schedule", {"change": "validity"}),
        ("post", {"how": "daemon pass"})],
    "nothing is posted for a slot that fell while the campaign was disabled": [
        ("make_project", {"approval": False, "threads": 0}), ("add_thread", {"now": False}),
        ("edit_schedule", {"change": "enabled"}), ("time_passes", {"slots": 1, "late": 20, "watching": True}),
        ("edit_schedule", {"change": "enabled"}), ("post", {"how": "daemon pass"}), ("post", {"how": "in process"})],
}
PROCESS_SEQUENCES = {
    "killed after the outbox write, then posted again: no part twice": [
        ("make_project", {"approval": False, "threads": 1}),
        ("post_killed", {"point": "outbox:create:after", "visit": 2}), ("post", {"how": "publisher post"})],
    "killed, held, another thread posted, released: no part twice": [
        ("make_project", {"approval": False, "threads": 1}),
        ("post_killed", {"point": "outbox:create:before", "visit": 1}), ("hold", {"choice": FIRST}),
        ("add_thread", {"now": True}), ("post", {"how": "publisher post"}), ("release", {"choice": FIRST}),
        ("post", {"how": "publisher post"})],
    "killed mid-thread, another thread cancelled, a third added: the budget holds": [
        ("make_project", {"approval": False, "threads": 0}), ("recover", {}), ("add_thread", {"now": True}),
        ("post_killed", {"point": "outbox:create:after", "visit": 4}), ("add_thread", {"now": True}),
        ("cancel", {"choice": 0}), ("add_thread", {"now": True}), ("recover", {})],
}


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_a_sequence_the_model_found(name: str, tmp_path: Path) -> None:
    replay(None, tmp_path, SEQUENCES[name])


@pytest.mark.heavy
@pytest.mark.parametrize("name", list(PROCESS_SEQUENCES))
def test_a_sequence_with_processes(name: str, forks: Any, tmp_path: Path) -> None:
    replay(forks, tmp_path, PROCESS_SEQUENCES[name])


def test_opening_the_store_again_keeps_a_long_lived_connection_working(tmp_path: Path) -> None:
    """A daemon's store stays open while the same process (run --serve's dashboard) opens it again: that must not
    drop the daemon's SQLite locks, or another process ending its connection deletes the write-ahead log from
    under the daemon ("disk I/O error", and writes lost). Found by the model."""
    path = tmp_path / "state" / "publisher.db"
    with Store.open(path) as daemon:
        daemon.add_event("info", "before")
        Store.open(path).close()  # a dashboard request
        other = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT count(*) FROM events')"
                 ".fetchall(); c.close()")
        subprocess.run([sys.executable, "-c", other, str(path)], check=True)  # e.g. publisher queue add
        assert path.with_name("publisher.db-wal").exists(), "the log was deleted under an open connection"
        daemon.add_event("info", "after")
        assert [r["message"] for r in read_rows(path, "SELECT message FROM events ORDER BY id")] == ["before", "after"]


def test_docs_name_the_states_the_model_checks() -> None:
    assert {"awaiting_approval", "queued", "posting", "posted", "needs_attention", "cancelled", "held",
            "over_budget", "skipped"} <= THREAD_STATES
    assert {"pending", "in_flight", "posted", "unknown", "failed"} <= PART_STATES


def test_the_queue_model_quick(tmp_path: Path) -> None:
    """A few short examples, in process only (no `publisher post` processes): the quick suite's taste of it."""
    run_model(None, tmp_path, QUICK)


@pytest.mark.heavy
@pytest.mark.parametrize("batch", [1, 2])
def test_the_queue_model(forks: Any, tmp_path: Path, batch: int) -> None:
    """Two batches, so the heavy suite's two workers share the examples."""
    run_model(forks, tmp_path, HEAVY)
