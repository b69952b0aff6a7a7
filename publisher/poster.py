"""The posting engine: each due thread, part by part per account, reply-chained, never a part twice.

For every part: prepare (uploads; safe to repeat), write ``in_flight`` with what was prepared (the attempt
begins; refused if the thread was cancelled or held meanwhile), publish, store the result. A restart resumes each
account at its first part not known to be posted: a part left ``in_flight`` or ``unknown`` is looked for on the
platform before anything is sent again. The thread's state is read again before every part, so a cancel or a
hold stops it before its next part. Before a thread starts, its cost is checked against the campaign's X budget.
Accounts are independent: one failing never blocks or hides another.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from publisher.errors import (
    AuthError,
    DuplicateContent,
    MissingCredentials,
    NotYetVisible,
    OutcomeUnknown,
    PlatformError,
    RateLimited,
    Rejected,
    StoreBusy,
    Transient,
)
from publisher.platforms.base import Draft, Image, Platform, PostRef, ReplyTo, UnavailablePlatform
from publisher.store import POSTABLE, PartRow, Store, StoreUnusable, ThreadRow, store_problem

if TYPE_CHECKING:
    from publisher.budget import Budgets

log = logging.getLogger("publisher")

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(minutes=30)
MAX_TRANSIENT_ATTEMPTS = 6  # then the part needs a person: about 30 minutes of retrying in all
IMMEDIATE_RETRIES = 2  # an idempotent platform may repeat a post at once after an unknown outcome


@dataclass
class AccountOutcome:
    account: str
    posted: int
    total: int
    state: str  # done, waiting, needs_attention, stopped (the thread was cancelled or held)
    message: str = ""
    retry_at: datetime | None = None
    url: str | None = None  # the thread's first post on the account, where the platform gives a link


@dataclass
class ThreadOutcome:
    thread_id: int
    campaign: str
    state: str  # the thread's state afterwards: posted, posting (waiting), needs_attention, cancelled, held,
    #             over_budget
    accounts: list[AccountOutcome] = field(default_factory=list)
    message: str = ""  # why it did not start (over budget)


def _ref(part: PartRow) -> PostRef:
    assert part.post_id is not None
    return PostRef(part.post_id, part.url, part.cid)


class Poster:
    """Posts due threads from the store through the given platforms (one per account)."""

    def __init__(self, store: Store, platforms: Mapping[str, Platform], now: Callable[[], datetime],
                 jitter: Callable[[], float] = random.random, should_stop: Callable[[], bool | str] = lambda: False,
                 budgets: Budgets | None = None, campaigns: frozenset[str] | None = None,
                 needs_signoff: frozenset[str] = frozenset(),
                 stale_approval: Callable[[int], str | None] | None = None,
                 on_done: Callable[[ThreadOutcome], None] = lambda outcome: None):
        self.store = store
        self.platforms = platforms
        self.now = now
        self.jitter = jitter
        self.should_stop = should_stop  # checked between parts: a stop (or its reason) finishes the part in flight
        self.budgets = budgets
        self.campaigns = campaigns  # whose threads may post (others, disabled or gone from schedule.toml, wait)
        self.needs_signoff = needs_signoff  # campaigns with approval = true: only approved threads post
        # Why a thread's approval does not cover what it would post now (None: it does); without one, any
        # approval counts.
        self.stale_approval = stale_approval or (lambda thread_id: None if store.approved(thread_id)
                                                 else "nobody has approved it")
        self.on_done = on_done  # told of each thread as it finishes, so a log line survives a later crash

    def post_due(self) -> list[ThreadOutcome]:
        outcomes = []
        for thread in self.store.due_threads(self.now()):
            if self.campaigns is not None and thread.campaign not in self.campaigns:
                continue
            try:
                outcome = self.post_thread(thread)
            except (StoreUnusable, StoreBusy):
                raise  # nothing can be recorded: stop
            except Exception as exc:  # a bug: this thread stops where it is, the others still go
                if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
                    raise store_problem(self.store.path, exc) from exc  # the store itself: nothing can go on
                log.error("thread %s: unexpected %s", thread.id, type(exc).__name__, exc_info=exc)
                outcome = ThreadOutcome(thread.id, thread.campaign, "error", message=(
                    f"unexpected {type(exc).__name__}: {exc} (it resumes at the next run; the log has the traceback "
                    "(publisher --debug post shows it): please report it)"))
            outcomes.append(outcome)
            self.on_done(outcome)
        return outcomes

    def post_thread(self, thread: ThreadRow) -> ThreadOutcome:
        outcome = ThreadOutcome(thread.id, thread.campaign, self.store.thread_state(thread.id) or "cancelled")
        if outcome.state not in POSTABLE:
            return outcome  # cancelled or held since it was picked
        if self._sent_back(thread, outcome.state):
            outcome.state = self.store.thread_state(thread.id) or "cancelled"
            return outcome
        unavailable = [name for name in dict.fromkeys(p.account for p in self.store.parts(thread.id))
                       if isinstance(self.platforms.get(name), UnavailablePlatform)]
        if outcome.state == "queued" and unavailable:  # never half a thread for want of a secret
            errors = "; ".join(str(getattr(self.platforms[name], "error", name)) for name in unavailable)
            outcome.state = "waiting"
            outcome.message = f"nothing of it is posted until every account can post: {errors}"
            return outcome
        if outcome.state == "queued":
            over = self.budgets.check(self.store, thread, self.now()) if self.budgets else None
            if over is not None:
                outcome.message = (f"{over}; nothing was posted (raise x_monthly_budget in schedule.toml, or wait "
                                   f"for next month, then publisher queue release {thread.id})")
                self.store.transition(thread.id, "over_budget", ("queued",), str(over))
                outcome.state = self.store.thread_state(thread.id) or "cancelled"
                return outcome
            if not self.store.transition(thread.id, "posting", ("queued",)):
                outcome.state = self.store.thread_state(thread.id) or "cancelled"
                return outcome  # cancelled or held just now
        accounts = list(dict.fromkeys(p.account for p in self.store.parts(thread.id)))
        for account in accounts:
            outcome.accounts.append(self._post_account(thread, account))
        states = {a.state for a in outcome.accounts}
        final = "posted" if states == {"done"} else "needs_attention" if "needs_attention" in states else "posting"
        if final == "posting" or not self.store.transition(thread.id, final, ("posting",)):
            outcome.state = self.store.thread_state(thread.id) or "cancelled"  # stays cancelled or held
        else:
            outcome.state = final
        return outcome

    def _sent_back(self, thread: ThreadRow, state: str) -> bool:
        """A thread of a campaign that needs sign-off whose approval does not cover exactly what it would post
        now (its revision: texts, cards, alt text, destinations) goes back to awaiting_approval, and any
        approval it had is marked sent back, so nothing unapproved is posted. True if it went back."""
        if thread.campaign not in self.needs_signoff or state not in POSTABLE:
            return False
        why = self.stale_approval(thread.id)
        if why is None:
            return False
        went_back = self.store.transition(thread.id, "awaiting_approval", POSTABLE,
                                          f"its campaign needs sign-off (approval = true) and {why}")
        if went_back and self.store.approved(thread.id):  # the approval no longer stands: say so in its history
            self.store.record_signoff(thread.id, "sent_back", "publisher", why)
        return True

    def _stop_reason(self, part: PartRow) -> str | None:
        """Why the thread must not post this part now (cancelled, held, recomposed, released or changed since it
        was approved), or None."""
        state = self.store.thread_state(part.thread_id)
        if state == "posting":
            thread = self.store.thread(part.thread_id)
            if thread is not None and self._sent_back(thread, state):
                return (f"the thread changed since it was approved, before part {part.position}: it waits for "
                        f"sign-off again (publisher queue show {part.thread_id})")
            return None
        if state == "held":
            return f"the thread was held before part {part.position}; it goes on when released"
        if state == "queued":
            return (f"the thread changed (recomposed, or held and released) before part {part.position}; it starts "
                    "again at the next run")
        return f"the thread was {state} before part {part.position}; nothing more is sent"

    def _post_account(self, thread: ThreadRow, account: str) -> AccountOutcome:
        parts = self.store.parts(thread.id, account)
        result = AccountOutcome(account, sum(p.state == "posted" for p in parts), len(parts), "done")
        platform = self.platforms.get(account)
        if platform is None:
            first = next((p for p in parts if p.state != "posted"), None)
            error = f"no account {account} in schedule.toml"
            recompose = f"; or publisher queue recompose {thread.id} to make it for the campaign's accounts now"
            fix = (f"add [accounts.{account}] back to schedule.toml, then publisher queue retry {thread.id}"
                   + ("" if self.store.started(thread.id) else recompose))
            if first is not None:
                self.store.mark_part(first.id, "failed", error, fix)
            result.state, result.message = "needs_attention", f"{error} ({fix})"
            return result
        root: PostRef | None = None
        parent: PostRef | None = None
        for part in parts:
            if part.state != "posted":
                pause = self.should_stop()
                if pause:
                    result.state = "waiting"
                    result.message = (pause if isinstance(pause, str)
                                      else "publisher is stopping; the rest goes at the next run")
                    return result
                stopped = self._stop_reason(part)
                if stopped:
                    result.state, result.message = "stopped", stopped
                    return result
                try:
                    ref = self._post_part(part, platform, ReplyTo(root, parent) if root and parent else None)
                except _Stop as stop:
                    result.state, result.message, result.retry_at = stop.state, stop.message, stop.retry_at
                    return result
                result.posted += 1
            else:
                ref = _ref(part)
            root = root or ref
            parent = ref
            result.url = root.url
        return result

    def _draft(self, part: PartRow) -> Draft:
        images = []
        for image in part.images:
            png, width, height = self.store.image(image["sha256"])
            images.append(Image(png, image["alt"], width, height))
        digest = hashlib.sha256(repr((part.text, [i["sha256"] for i in part.images])).encode()).hexdigest()[:16]
        thread = self.store.thread(part.thread_id)
        return Draft(part.text, tuple(images), key=f"part {part.id} {digest}",  # the same for every attempt
                     language=thread.language if thread else None)

    def _post_part(self, part: PartRow, platform: Platform, reply_to: ReplyTo | None) -> PostRef:
        """Post one part or raise _Stop saying why the rest of this account's thread must wait."""
        if part.state == "failed":
            raise _Stop("needs_attention", f"part {part.position}: {part.last_error}")
        prepared = part.prepared
        if part.state == "unknown" and part.not_before and part.not_before > self.now():
            # the last search was too soon to prove anything (NotYetVisible): search again only after not_before
            raise _Stop("waiting", f"{part.last_error}; {part.fix}", part.not_before)
        if part.state in ("in_flight", "unknown") and prepared is not None:
            found = self._look_for(part, platform, prepared)
            if found is not None:
                return found
        if part.not_before and part.not_before > self.now():
            raise _Stop("waiting", f"part {part.position}: {part.last_error or 'waiting'}", part.not_before)
        if prepared is not None and platform.prepared_ttl is not None:
            made = prepared.get("prepared_at")
            if made and self.now() - datetime.fromisoformat(made) > platform.prepared_ttl:
                prepared = None  # e.g. X media ids expire: upload again
        earlier_send: str | None = None
        for attempt in range(IMMEDIATE_RETRIES + 1):
            sent = False  # whether this attempt got as far as sending (the part marked in flight)
            try:
                if prepared is None:
                    prepared = platform.prepare(self._draft(part), reply_to)
                    prepared.setdefault("armed_at", self.now().isoformat())  # when this post was first sent
                earlier_send = prepared.get("sent_at")
                prepared["sent_at"] = self.now().isoformat()  # the latest send: X shows a post only some time later
                if not self.store.begin_attempt(part.id, prepared):  # cancelled, held or recomposed meanwhile
                    raise _Stop("stopped", self._stop_reason(part) or f"part {part.position} was recomposed")
                sent = True
                ref = platform.publish(prepared)
            except OutcomeUnknown as exc:
                found = self._look_for(part, platform, prepared, exc) if prepared is not None else None
                if found is not None:
                    return found
                if platform.idempotent and attempt < IMMEDIATE_RETRIES:
                    continue  # certainly not there, and the same post can only land once: send it again
                self._back_off(part, exc, "not posted (checked); will try again")
            except DuplicateContent as exc:
                # This send was refused, so only an earlier one (if any) can be the post X already has: search as
                # of that send, whose post may not show yet.
                earlier = {**prepared, "sent_at": earlier_send} if prepared is not None else None
                found = (self._look_for(part, platform, earlier, exc) if earlier and (part.attempts or attempt)
                         else None)
                if found is not None:
                    return found  # our own earlier attempt had landed after all
                started = self.store.started(part.thread_id, besides=part.id)
                if part.attempts or attempt:  # an earlier attempt may have landed where the search cannot see it
                    self.store.mark_part(part.id, "unknown", f"{exc}; an earlier attempt of part {part.position} "
                                         "may have landed without showing in the account's recent posts",
                                         f"check the account: if part {part.position} is there, publisher queue "
                                         f"cancel {part.thread_id} and post the rest by hand; if not, "
                                         + _duplicate_fix(part, True))
                    raise _Stop("needs_attention", f"part {part.position}: {exc}") from exc
                self._fail(part, exc, _duplicate_fix(part, started))
            except RateLimited as exc:
                self.store.mark_part(part.id, "pending", str(exc), exc.fix, not_before=exc.retry_at,
                                     outcome="rate_limited")
                raise _Stop("waiting", f"part {part.position}: {exc}; {exc.fix}", exc.retry_at) from exc
            except Transient as exc:
                self._back_off(part, exc, count=not sent)  # a failed upload or login counts as an attempt too
            except (AuthError, MissingCredentials) as exc:
                then = f"publisher queue retry {part.thread_id}"
                self._fail(part, exc, f"{exc.fix}; then {then}" if exc.fix else then)
            except Rejected as exc:
                self._fail(part, exc, self._refusal_fix(part, exc.fix))
            except (_Stop, StoreUnusable, StoreBusy, sqlite3.Error):
                raise
            except Exception as exc:  # a bug of ours (in an adapter, say), not the platform's: never retried blind
                self._unexpected(part, exc, sent)
            else:
                self.store.mark_posted(part.id, ref.id, ref.cid, ref.url)
                return ref
        raise AssertionError("unreachable")  # every path above returns or raises

    def _look_for(self, part: PartRow, platform: Platform, prepared: dict[str, Any],
                  cause: Exception | None = None) -> PostRef | None:
        """After an unknown outcome: the post if it landed, None if it certainly did not. Sent too recently to
        tell (NotYetVisible): the part is unknown until then and the thread waits to look again. Otherwise the
        part is marked unknown and the rest of the thread is held."""
        try:
            found = platform.find(prepared)
        except NotYetVisible as exc:
            what = f"{cause}; {exc}" if cause else str(exc)
            sent = self.store.attempts_of(part.id)
            if sent >= MAX_TRANSIENT_ATTEMPTS:  # never a clear answer: a person looks, rather than sending for ever
                self.store.mark_part(part.id, "unknown", f"part {part.position} was sent {sent} times without a clear "
                                     f"answer, and may be live: {what}",
                                     f"check the account's recent posts: if part {part.position} is there, publisher "
                                     f"queue cancel {part.thread_id} and post the rest by hand; if not, publisher "
                                     f"queue retry {part.thread_id}")
                raise _Stop("needs_attention", f"part {part.position}: outcome unknown after {sent} sends") from exc
            self.store.mark_part(part.id, "unknown", f"part {part.position} may or may not be live: {what}", exc.fix,
                                 not_before=exc.retry_at)
            raise _Stop("waiting", f"part {part.position}: outcome unknown ({what}); {exc.fix}", exc.retry_at) from exc
        except PlatformError as exc:
            what = f"{cause}; looking for it failed too ({exc})" if cause else f"looking for it failed ({exc})"
            self.store.mark_part(part.id, "unknown", f"part {part.position} may or may not be live: {what}",
                                 "check the account's recent posts; if it is there, publisher queue cancel the "
                                 "thread and post the rest by hand, otherwise run publisher post again")
            raise _Stop("needs_attention", f"part {part.position}: outcome unknown ({what})") from exc
        if found is not None:
            self.store.mark_posted(part.id, found.id, found.cid, found.url)
        return found

    def _unexpected(self, part: PartRow, error: Exception, sent: bool) -> None:
        """An error no platform error explains: the part stops and needs a person, with the traceback in the log.
        Once sent, it may have landed: it is ``unknown`` (looked for before it is ever sent again)."""
        what = f"unexpected {type(error).__name__}: {error}"
        log.error("thread %s %s part %s: %s", part.thread_id, part.account, part.position, what, exc_info=error)
        fix = (f"this is a bug in publisher, not the platform: please report it with the log's traceback; "
               f"publisher queue retry {part.thread_id} tries again")
        if sent:
            self.store.mark_part(part.id, "unknown", f"{what}, after part {part.position} was sent: it may be live",
                                 f"check the account's recent posts; {fix}")
            raise _Stop("needs_attention", f"part {part.position}: {what}")
        self._fail(part, RuntimeError(what), fix)

    def _back_off(self, part: PartRow, error: Exception, note: str = "will try again", count: bool = False) -> None:
        attempts = part.attempts + 1
        if attempts >= MAX_TRANSIENT_ATTEMPTS:
            self._fail(part, error, f"gave up after {attempts} attempts; when the platform works again, "
                                    f"run publisher queue retry {part.thread_id}", count)
        delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** (attempts - 1)))
        delay = delay * (0.8 + 0.4 * self.jitter())  # jitter: many clients do not retry in step
        retry_at = self.now() + delay
        self.store.mark_part(part.id, "pending", str(error), f"{note} after {retry_at:%H:%M:%S} UTC",
                             not_before=retry_at, outcome="transient", count=count)
        raise _Stop("waiting", f"part {part.position}: {error}; retrying after {retry_at:%H:%M:%S} UTC", retry_at)

    def _refusal_fix(self, part: PartRow, fix: str | None) -> str | None:
        """A platform's fix names the queue's commands without the thread ("publisher queue recompose"): here
        they get its number, and a recompose, which a thread with live parts cannot have, becomes a cancel."""
        if not fix:
            return fix
        if self.store.started(part.thread_id, besides=part.id):
            fix = fix.replace("publisher queue recompose", f"publisher queue cancel {part.thread_id} (its live parts "
                              "stay) and post the rest by hand, or queue its quotes again")
        for command in ("recompose", "retry"):
            fix = re.sub(rf"publisher queue {command}(?! \d)( the thread)?", f"publisher queue {command} "
                         f"{part.thread_id}", fix)
        return fix

    def _fail(self, part: PartRow, error: Exception, fix: str | None, count: bool = False) -> None:
        self.store.mark_part(part.id, "failed", str(error), fix, count=count)
        raise _Stop("needs_attention", f"part {part.position}: {error}" + (f" ({fix})" if fix else ""))


def _duplicate_fix(part: PartRow, thread_started: bool) -> str:
    vary = "make the campaign's intro, outro and caption differ from thread to thread with {date} or {thread_number}"
    if not thread_started:
        return f"{vary}, then publisher queue recompose {part.thread_id}"
    return (f"{vary}; this thread already has live posts, so publisher queue cancel {part.thread_id} and post "
            "the rest by hand")


class _Stop(Exception):
    """This account's thread cannot go on now: it is waiting (until retry_at) or needs a person."""

    def __init__(self, state: str, message: str, retry_at: datetime | None = None):
        super().__init__(message)
        self.state, self.message, self.retry_at = state, message, retry_at
