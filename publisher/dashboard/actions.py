"""The actions on a thread: one queue-service call each, worded by ``publisher.messages`` as the CLI words them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from publisher import messages
from publisher.queue import SETTLE_SECONDS

if TYPE_CHECKING:
    from publisher.queue import Queue

Action = Callable[["Queue", int, dict[str, str], str], messages.Said]


def _approve(q: Queue, thread_id: int, form: dict[str, str], user: str) -> messages.Said:
    done = q.approve(thread_id, user, revision=form.get("revision") or None)
    return messages.approved(done, user, q.zone(done.thread.campaign))


def _reject(q: Queue, thread_id: int, form: dict[str, str], user: str) -> messages.Said:
    thread = q.reject(thread_id, form.get("reason", ""), user)
    decision = q.store.signoffs(thread_id)[-1]
    return messages.rejected(thread, decision["by"], decision["reason"])


def _hold(q: Queue, thread_id: int, form: dict[str, str], user: str) -> messages.Said:
    return messages.held(q.hold(thread_id, user))


def _release(q: Queue, thread_id: int, form: dict[str, str], user: str) -> messages.Said:
    thread, still_over = q.release(thread_id)
    return messages.released(thread, still_over, q.waiting_because(thread), q.now(), q.zone(thread.campaign))


def _cancel(q: Queue, thread_id: int, form: dict[str, str], user: str) -> messages.Said:
    stopped = q.cancel(thread_id, settle=SETTLE_SECONDS, by=user)
    return messages.cancelled(stopped, q.zone(stopped.thread.campaign))


def _retry(q: Queue, thread_id: int, form: dict[str, str], user: str) -> messages.Said:
    changed, unknown = q.retry(thread_id)
    return messages.retried(thread_id, changed, unknown)


def _recompose(q: Queue, thread_id: int, form: dict[str, str], user: str) -> messages.Said:
    return messages.recomposed(q.recompose(thread_id, user))


# In the order the Thread page shows them.
ACTIONS: dict[str, Action] = {"approve": _approve, "reject": _reject, "hold": _hold, "release": _release,
                              "cancel": _cancel, "retry": _retry, "recompose": _recompose}
