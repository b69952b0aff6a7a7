"""``publisher verify``: every quote that names a source checked word for word against it (``sources``), with its
page; the results kept in the store by (quote text, source file's hash), so a second run reads no document.

A quote is ``verified``, ``differs`` (with the closest passage and the words that differ), ``not_found``, or
``no_source`` (it names none). A quote that gives its page is verified only on that page: found on another, it
differs by its page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.errors import ExitStatus, NothingToQueue, PublisherError
from publisher.quotes import Collection, Quote

if TYPE_CHECKING:  # a command that only renders cards imports neither the schedule's models nor the store
    from publisher.config import Campaign
    from publisher.project import ProjectFiles
    from publisher.store import Store

KEPT = timedelta(days=36500)  # a result stands while neither the quote's words nor the source's bytes change
STATUSES = ("verified", "differs", "not_found", "no_source")


@dataclass(frozen=True)
class QuoteCheck:
    """One quote's verification, as ``publisher verify --json`` gives it."""

    quote_id: str
    collection: str
    status: str
    source: str | None = None
    page: str | None = None
    passage: str | None = None
    diff: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Unverified(PublisherError):
    """Some quote that names a source is not verified: each is listed above the summary."""

    exit_status = ExitStatus.UNVERIFIED

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix


@dataclass
class VerifyReport:
    checks: list[QuoteCheck]
    documents_read: int = 0  # sources read this run (the rest came from the store)
    unreadable: list[PublisherError] = field(default_factory=list)  # a source that cannot be read, each once
    unchecked: list[str] = field(default_factory=list)  # "collection/quote" of each quote such a source left out

    def counts(self) -> dict[str, int]:
        return {status: sum(c.status == status for c in self.checks) for status in STATUSES}

    @property
    def ok(self) -> bool:
        return not self.unreadable and all(c.status in ("verified", "no_source") for c in self.checks)

    def pages(self) -> dict[str, str]:
        """Quote id → the page each verified quote was found on, as printed (where its source has pages)."""
        return {c.quote_id: c.page for c in self.checks if c.status == "verified" and c.page}


def verify(files: ProjectFiles, collections: list[Collection], store: Store | None,
           read_documents: bool = True) -> VerifyReport:
    """Check every quote of these collections against its source (results kept in ``store``, if any). Without
    ``read_documents``, only what the store kept (a page's view): a quote not checked yet is left out. A source
    that cannot be read is reported once (``unreadable``) and its quotes are left out; the rest are checked."""
    from publisher.sources import read_source, verify_quote

    report = VerifyReport([])
    documents: dict[Path, Any] = {}
    digests: dict[Path, str | None] = {}
    for collection in collections:
        for quote in collection.quotes:
            source = collection.source_for(quote)
            if source is None:
                report.checks.append(QuoteCheck(quote.id, collection.name, "no_source"))
                continue
            path = files.sources_dir / source.file
            if path not in digests:
                digests[path] = _unless_unreadable(report, read_documents, collection, source.id,
                                                   lambda path=path: _digest(path))
            page = str(quote.page) if quote.page is not None else None
            words = hashlib.sha256(f"{quote.text}\0{page or ''}".encode()).hexdigest()
            key = f"verify {path.suffix.lower()} {digests[path]} {words}"
            kept = store.cached(key, KEPT) if store is not None and digests[path] else None
            if kept is None and read_documents and digests[path]:
                if path not in documents:
                    documents[path] = _unless_unreadable(report, True, collection, source.id,
                                                         lambda path=path: read_source(path))
                    report.documents_read += documents[path] is not None
                if documents[path] is not None:
                    found = verify_quote(quote.text, documents[path], page)
                    kept = {"status": found.status, "page": found.page, "passage": found.passage,
                            "diff": list(found.diff)}
                    if store is not None:
                        store.cache(key, kept)
            if kept is None:
                if read_documents:
                    report.unchecked.append(f"{collection.name}/{quote.id}")
                continue
            report.checks.append(_as_check(collection, quote, source.id, kept))
    return report


def _unless_unreadable(report: VerifyReport, say: bool, collection: Collection, source: str,
                       read: Any) -> Any:
    """What ``read()`` gives, or None when the source cannot be read (said in the report once, if ``say``)."""
    from publisher.sources import SourceError

    try:
        return read()
    except SourceError as exc:
        if say:
            exc.args = (f"{exc} (source {source} of collection {collection.name})",)
            report.unreadable.append(exc)
        return None


def _as_check(collection: Collection, quote: Quote, source: str, found: dict[str, Any]) -> QuoteCheck:
    status, page, diff = found["status"], found.get("page"), list(found.get("diff") or [])
    if status == "verified" and quote.page is not None and str(quote.page) != str(page):
        # the words are there, on another page (or in a source with no printed pages)
        status, diff = "differs", [f"page {quote.page} → {page}" if page else f"page {quote.page}: the source has no "
                                   "printed pages (leave page out)"]
    return QuoteCheck(quote.id, collection.name, status, source, page, found.get("passage"), diff)


def _digest(path: Path) -> str:
    from publisher.sources import SourceError, refuse_irregular

    refuse_irregular(path)
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise SourceError(path, f"cannot be read ({exc.strerror or exc})",
                          "put the document in the sources folder, or correct its file in the collection") from exc


@contextmanager
def kept_results(files: ProjectFiles) -> Iterator[Store | None]:
    """The project's store, where verification results are kept; None when it cannot be used (verify still
    works, reading every document)."""
    try:
        from publisher.store import Store

        store = Store.open(files.store_path())
    except PublisherError:
        yield None
        return
    with store:
        yield store


def verified_only(files: ProjectFiles, campaign: Campaign, collection: Collection,
                  store: Store | None) -> tuple[Collection, list[str]]:
    """For a campaign with ``require_verified``, its collection with only the quotes verified in their source,
    and a line for each quote left out and why; any other campaign's collection as it is. Either way the
    collection knows each verified quote's page (for ``{page}``)."""
    if not collection.sources:
        return collection, []
    report = verify(files, [collection], store)
    checked = collection.with_pages(report.pages())
    if not campaign.require_verified:
        return checked, []
    verified = {c.quote_id for c in report.checks if c.status == "verified"}
    left_out = [f'quote "{c.quote_id}": {c.status.replace("_", " ")}' + (f" ({'; '.join(c.diff)})" if c.diff
                                                                             else "")
                for c in report.checks if c.status != "verified"]
    left_out += [f"{error}: its quotes are not checked" for error in report.unreadable]
    kept = [q for q in checked.quotes if q.id in verified]
    if not kept:
        raise NothingToQueue(f"campaign {campaign.name} posts only verified quotes (require_verified), and no quote "
                             f"of {collection.name} is verified in its source: publisher verify says why")
    return checked.model_copy(update={"quotes": kept}), left_out


def kept_pages(files: ProjectFiles, collection: Collection) -> dict[str, str]:
    """Quote id → page of each quote of the collection verified by an earlier ``publisher verify`` (or queueing),
    from the store alone: no document is read and nothing is written."""
    if not collection.sources or not files.store_path().exists():
        return {}
    with kept_results(files) as store:
        return verify(files, [collection], store, read_documents=False).pages() if store is not None else {}


def with_verified_pages(files: ProjectFiles, collection: Collection, campaign: Campaign | None = None) -> Collection:
    """The collection knowing the page of each quote verified in its source, checking (and keeping) those not
    checked yet; a source that cannot be read leaves its quotes without a page (``publisher verify`` says why).
    For a campaign with require_verified, only its verified quotes."""
    if not collection.sources:
        return collection
    with kept_results(files) as store:
        if campaign is not None and campaign.require_verified:
            return verified_only(files, campaign, collection, store)[0]
        return collection.with_pages(verify(files, [collection], store).pages())
