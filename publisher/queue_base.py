"""What every part of the queue service shares: the project's files, its store, the clock, and schedule.toml as
read, or why it cannot be read (the queue itself, list, show, cancel, hold and status, works without it).

``Queue`` (``queue``) is built on ``QueueBase``, one part a job.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from publisher.config import Schedule
from publisher.errors import PublisherError
from publisher.project import ProjectFiles
from publisher.store import Store


class QueueBase:
    """The project, store and clock a queue works on (``Queue`` is one)."""

    def __init__(self, files: ProjectFiles, store: Store, now: Callable[[], datetime]):
        self.files = files
        self.store = store
        self.now = now
        self.config_problem: PublisherError | None = None  # why schedule.toml cannot be read, if it cannot
        self.loaded: Schedule | None = None
        try:
            self.loaded = files.schedule()
        except PublisherError as exc:  # the queue itself (list, show, cancel, hold, status) still works
            self.config_problem = exc
        self.asks_servers = True  # whether making a thread may ask a platform's server its limits (not a rehearsal)
        self.passed_over: list[str] = []  # quotes passed over while queueing, as messages
        self.unserved: dict[tuple[str, datetime], str] = {}  # slots whose thread a broken file kept from being made

    @property
    def schedule(self) -> Schedule:
        """schedule.toml as read; what needs it fails with the file:line problem when it cannot be read."""
        if self.loaded is None:
            assert self.config_problem is not None
            raise self.config_problem
        return self.loaded

    @schedule.setter
    def schedule(self, schedule: Schedule) -> None:
        self.loaded, self.config_problem = schedule, None

    def zone(self, campaign_name: str) -> ZoneInfo:
        if self.loaded is None:
            return self.files.fallback_zone(campaign_name)
        campaign = self.loaded.campaign(campaign_name)
        return self.loaded.zone_of(campaign) if campaign else self.loaded.zone
