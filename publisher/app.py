"""The façade the CLI calls: one project folder, and the use cases that span several steps.

Each use case is a few lines over a library service: files (``project.ProjectFiles``), the queue
(``queue.Queue``, which the daemon calls too), validation, preview, pack and import. Nothing below imports this.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.errors import NotFound, display_path
from publisher.project import ProjectFiles
from publisher.schema import suggest

if TYPE_CHECKING:
    from publisher.config import Campaign, Schedule
    from publisher.importer import ImportReport
    from publisher.pack import PackReport
    from publisher.platforms.base import Authorization
    from publisher.poster import ThreadOutcome
    from publisher.preview import PreviewReport
    from publisher.queue import Added, Queue
    from publisher.quotes import Collection
    from publisher.render.batch import RenderReport
    from publisher.results import ResultsReport
    from publisher.scheduler import Daemon
    from publisher.validation import ValidationSummary


@dataclass
class PostReport:
    outcomes: list[ThreadOutcome]
    outbox: Path | None  # where a dry run's posts went
    attention: list[int] = field(default_factory=list)  # every thread that needs a person now
    waiting: list[tuple[int, str]] = field(default_factory=list)  # due threads that wait, and why


class Project:
    """A folder holding schedule.toml and the quotes/ and assets/ it names."""

    def __init__(self, config_path: Path, now: Callable[[], datetime] | None = None):
        self.files = ProjectFiles(config_path)
        self.now = now or (lambda: datetime.now(UTC))

    # -- files ---------------------------------------------------------------------------------------------

    def schedule(self) -> Schedule:
        return self.files.schedule()

    def campaign(self, name: str | None) -> Campaign:
        return self.files.campaign(name)

    def collection(self, name: str | None = None, campaign: Campaign | None = None,
                   holding: Sequence[str] = ()) -> Collection:
        from publisher.verification import with_verified_pages  # each quote's {page}, checked where it is not yet
        return with_verified_pages(self.files, self.files.collection(name, holding), campaign)

    def collections(self, name: str | None = None) -> list[Collection]:
        return self.files.collections(name)

    def import_file(self, source: Path, collection: str, *, title: str | None = None,
                    attribution: str | None = None) -> ImportReport:
        from publisher.importer import import_quotes
        return import_quotes(source, self.files.collection_path(collection), title=title, attribution=attribution)

    def validate(self, paths: list[Path] | None = None) -> ValidationSummary:
        """Check the files; when the project's own schedule is valid, also say when each campaign runs out."""
        from publisher.validation import validate

        summary = validate(self.files, paths)
        for schedule in summary.schedules:
            summary.unset.update(schedule.unset_secrets(dict(os.environ)))
        if any(s.path.resolve() == self.files.config_path.resolve() for s in summary.schedules):
            with self.queue(create=False) as queue:
                for campaign in queue.schedule.campaigns:
                    run_out = queue.run_out(campaign, self.files.collection(campaign.collection))
                    summary.notes.append(f"{campaign.name}: {run_out}")
                for name, ids in queue.orphans().items():
                    summary.notes.append(f"thread(s) {', '.join(map(str, ids))} belong to campaign {name}, which "
                                         f"{self.files.config_path.name} no longer has: they wait (give the "
                                         "campaign its name back, or publisher queue cancel them)")
        return summary

    # -- cards ---------------------------------------------------------------------------------------------

    def render(self, collection: Collection, quote_ids: Sequence[str], formats: Sequence[str], out_dir: Path,
               theme_name: str | None = None, progress: Callable[[int], None] | None = None,
               force: bool = False) -> RenderReport:
        from publisher.fileio import refuse_unless_folder
        from publisher.render import check_text_shaping
        from publisher.render.batch import guard_card_files, render_to_files

        check_text_shaping()
        for quote_id in quote_ids:
            if collection.quote(quote_id) is None:
                hint = suggest(quote_id, [q.id for q in collection.quotes]) or "publisher quotes lists the ids"
                raise NotFound(f'no quote "{quote_id}" in collection "{collection.name}" ({hint})')
        refuse_unless_folder(out_dir)
        for quote_id in quote_ids or [q.id for q in collection.quotes]:
            for name in formats:
                guard_card_files(out_dir, quote_id, name, force)
        theme = self.files.theme_for(None, collection, theme_name)
        return render_to_files(collection, theme, self.files.assets, quote_ids or [q.id for q in collection.quotes],
                               formats, out_dir, progress=progress)

    def pack(self, out: Path, collection_name: str | None = None, campaign_name: str | None = None,
             formats: Sequence[str] = (), theme_name: str | None = None, skip_failing: bool = False,
             progress: Callable[[int], None] | None = None, force: bool = False) -> PackReport:
        """Write the image pack of a collection (or a campaign's, with its captions); never over a non-pack file."""
        from publisher.config import Campaign
        from publisher.fileio import refuse_foreign
        from publisher.pack import build_pack, is_pack
        from publisher.render import FORMAT_NAMES, check_text_shaping

        refuse_foreign(out, "an image pack", is_pack, force, "give another name with -o")

        if campaign_name:
            campaign = self.files.campaign(campaign_name)  # with require_verified, its verified quotes only
            collection = self.collection(campaign.collection, campaign)
        else:
            collection = self.collection(collection_name)
            campaign = Campaign(name="pack", collection=collection.name, accounts=["pack"])
        theme = self.files.theme_for(campaign, collection, theme_name)
        check_text_shaping()
        source = display_path(self.files.collection_path(collection.name))
        return build_pack(collection, campaign, theme, self.files.assets, list(formats or FORMAT_NAMES), out,
                          skip_failing, progress, source)

    def preview(self, campaign_name: str | None, threads: int, out_dir: Path, force: bool = False) -> PreviewReport:
        """Write the dry-run preview of the campaign's next threads (after those already queued); no network."""
        from publisher.budget import SpendForecast
        from publisher.platforms import counted_as
        from publisher.preview import write_preview
        from publisher.render import check_text_shaping
        from publisher.validation import repeating_templates

        schedule = self.files.schedule()
        campaign = self.files.campaign(campaign_name)
        collection = self.collection(campaign.collection)
        theme = self.files.theme_for(campaign, collection)
        check_text_shaping()
        repeating = repeating_templates(schedule, campaign)
        warnings = {name: [f"the campaign's {key} is the same text in every thread: {counted.label} refuses the "
                           "repeat as duplicate content (put {thread_number} or {date} in it)" for key in repeating]
                    for name in campaign.accounts
                    if (counted := counted_as(schedule.accounts[name])).refuses_repeats}
        for name, variables in schedule.unset_secrets(dict(os.environ)).items():
            if name in campaign.accounts:
                warnings.setdefault(name, []).append(f"{', '.join(variables)} not set in the environment: posting "
                                                     "to this account fails until it is")
        with self.queue(create=False) as queue:
            upcoming, empty = queue.upcoming(campaign, collection, threads)
            run_out = queue.run_out(campaign, collection)
            if not upcoming:
                raise queue.nothing_to_preview(campaign, collection, run_out)
            notes = queue.preview_notes(campaign, collection, run_out, upcoming, empty, threads)
            forecast = SpendForecast(queue.store, schedule.zone, self.now())
            return write_preview(schedule, campaign, collection, theme, self.files.assets, out_dir, upcoming,
                                 self.now().astimezone(schedule.zone_of(campaign)), forecast, notes, warnings, force,
                                 learnt=queue.store)

    # -- the queue and posting -----------------------------------------------------------------------------

    def queue(self, dry_run: bool = False, create: bool = True) -> AbstractContextManager[Queue]:
        """``with project.queue() as queue:`` the queue service over the project's store."""
        from publisher.queue import Queue

        return Queue.open(self.files, self.now, dry_run=dry_run, create=create)

    def queue_add(self, campaign_name: str | None = None, at: datetime | None = None, now: bool = False) -> Added:
        with self.queue() as queue:
            return queue.add(campaign_name, at=at, now=now)

    def post_due(self, dry_run: bool = False, env: dict[str, str] | None = None,
                 should_stop: Callable[[], bool] = lambda: False) -> PostReport:
        """Post every thread that is due now (until ``should_stop``, checked between parts). With ``dry_run``,
        on a fresh copy of the queue in the dry-run folder, every account posting to an outbox there: nothing
        is sent and the real queue is unchanged."""
        from publisher.lock import StoreLock
        from publisher.platforms.factory import platforms_for
        from publisher.webfonts import outbox_page_fonts

        schedule = self.files.schedule()
        outbox = self.files.store_path(dry_run=True).parent if dry_run else None
        with StoreLock(self.files.store_path(dry_run)) as lock:
            lock.acquire("publisher post" + (" --dry-run" if dry_run else ""))
            with self.queue(dry_run=dry_run) as queue:
                environment = dict(os.environ) if env is None else env
                if not dry_run:
                    queue.refuse_missing_secrets(environment)  # never half a thread for want of a secret
                platforms = platforms_for(schedule, queue.store, environment, self.now, outbox=outbox,
                                          page_fonts=outbox_page_fonts(schedule))
                outcomes = queue.post_due(platforms, should_stop)
                moment = self.now()
                unapproved = [t for t in queue.store.threads(("awaiting_approval",)) if t.due_at <= moment]
                waiting = [(t.id, why) for t in [*queue.store.due_threads(moment), *unapproved]
                           if (why := queue.waiting_because(t))]
                return PostReport(outcomes, outbox, queue.needing_attention(), waiting)

    def daemon(self, dry_run: bool = False) -> Daemon:
        from publisher.scheduler import Daemon

        return Daemon(self.files, dry_run=dry_run, now=self.now)

    def status(self) -> dict[str, Any]:
        with self.queue(create=False) as queue:
            return queue.status()

    def login(self, platform: str, account_name: str, env: dict[str, str] | None = None) -> tuple[str, str]:
        """Check an account's credentials (saving a Bluesky session); returns who it is, and what the platform
        adds to saying so. ``env``: variables to use beside the environment's (a token just got)."""
        from publisher.platforms.factory import login_kind, platforms_for
        from publisher.store import Store

        schedule = self.files.schedule()
        kind = login_kind(schedule, platform, account_name)
        with Store.open(self.files.store_path(), self.now) as store:
            platform_of = platforms_for(schedule, store, {**os.environ, **(env or {})}, self.now, [account_name])
            return platform_of[account_name].login(), kind.login_said()

    def authorization(self, platform: str, account_name: str) -> Authorization | None:
        """How to get the account a token it lacks (Mastodon's out-of-band OAuth flow), or None."""
        from publisher.platforms.factory import login_kind

        schedule = self.files.schedule()
        kind = login_kind(schedule, platform, account_name)
        return kind.authorization(account_name, schedule.accounts[account_name], dict(os.environ))

    def results(self, by: str = "post", campaign: str | None = None, since: datetime | None = None,
                refresh: bool = False, env: dict[str, str] | None = None) -> ResultsReport:
        """The latest figures of every post (or per quote, thread or account), best first; ``refresh`` reads
        every post's figures from its platform first."""
        from publisher.results import results_report

        with self.queue(create=refresh) as queue:
            return results_report(queue, by, campaign, since, refresh, dict(os.environ) if env is None else env)
