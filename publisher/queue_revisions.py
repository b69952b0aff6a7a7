"""Revisions: what an approval is for. A thread's manifest is everything of it that leaves the machine (per
account, where it goes and each part's text and cards); its revision is a fingerprint of the manifest. An approval
is given for one revision, and each revision shown is kept with its manifest, so a thread that changed after it
was approved (recomposed, or its account's settings edited) goes back for sign-off, told what changed.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import suppress
from typing import Any

from publisher.errors import PublisherError
from publisher.outlook import quote_digest
from publisher.queue_base import QueueBase
from publisher.quotes import Collection
from publisher.store import ThreadRow


class Revisions(QueueBase):
    """A thread's manifest and revision, and whether its approval still stands (``Queue`` is one)."""

    def manifest(self, thread_id: int) -> dict[str, Any] | None:
        """Everything of the thread that leaves the machine: per account, where it goes (the account's settings
        in schedule.toml: platform, handle, service, directory, like ...) and each part's text and cards (image
        digest, alt text, size). None while schedule.toml cannot be read."""
        if self.loaded is None:
            return None
        accounts: dict[str, Any] = {}
        for part in self.store.parts(thread_id):
            account = self.loaded.accounts.get(part.account)
            entry = accounts.setdefault(part.account, {
                "destination": account.model_dump(mode="json", exclude=set(account.reading_keys))
                if account is not None else None, "parts": []})
            entry["parts"].append({"text": part.text, "cards": [
                {key: image.get(key) for key in ("sha256", "alt", "width", "height")} for image in part.images]})
        return accounts

    def revision(self, thread_id: int) -> str | None:
        """A fingerprint of the thread's manifest: what an approval is for. None while schedule.toml cannot be
        read (where the thread would go is then unknown)."""
        manifest = self.manifest(thread_id)
        return fingerprint(manifest) if manifest is not None else None

    def _remember(self, thread_id: int) -> str | None:
        """The thread's revision, with what it stands for kept in the store (to say later what changed)."""
        manifest = self.manifest(thread_id)
        if manifest is None:
            return None
        revision = fingerprint(manifest)
        self.store.remember_revision(thread_id, revision, manifest)
        return revision

    def shown(self, thread_id: int) -> None:
        """A person is being shown the thread: keep its revision, so an approval of it can later be told what
        changed. Best effort: showing never fails for it."""
        with suppress(PublisherError):
            self._remember(thread_id)

    def stale_approval(self, thread_id: int) -> str | None:
        """Why the thread's sign-off does not cover what it would post now (never approved, sent back, or
        approved at another revision), or None when its approval stands for exactly its current revision."""
        approved = self.store.approved_revision(thread_id)
        if approved is None:
            decisions = self.store.signoffs(thread_id)
            if decisions and decisions[-1]["decision"] == "approved":
                return "it was approved before publisher kept what an approval was for"
            if decisions and decisions[-1]["decision"] == "sent_back":
                return f"it was sent back for sign-off ({decisions[-1]['reason'] or 'changed'})"
            return "nobody has approved it"
        current = self.revision(thread_id)
        if approved == current:
            return None
        return f"it changed since it was approved: {self._what_changed(thread_id, approved)}"

    def _what_changed(self, thread_id: int, revision: str) -> str:
        """How the thread differs now from an earlier revision of it, in a few words."""
        before = self.store.revision_manifest(thread_id, revision)
        now = self.manifest(thread_id)
        if before is None or now is None:
            return f"revision {revision} is not one publisher showed for this thread"
        return describe_changes(before, now) or "it was composed again with the same result"

    def changed_quotes(self, thread: ThreadRow, collection: Collection | None) -> list[str]:
        """The thread's quotes that changed in (or left) the collection since it was queued. A thread queued
        before fingerprints were kept is only flagged for quotes that left."""
        if collection is None:
            return []
        changed = []
        for quote_id in thread.quote_ids:
            quote, digest = collection.quote(quote_id), thread.quote_digests.get(quote_id)
            if quote is None or (digest is not None and quote_digest(collection, quote) != digest):
                changed.append(quote_id)
        return changed


def fingerprint(manifest: dict[str, Any]) -> str:
    """A revision: 16 hex digits of the SHA-256 of the manifest's canonical JSON."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def describe_changes(before: dict[str, Any], now: dict[str, Any]) -> str:
    """What differs between two manifests of a thread, as a person would say it ("local part 2's text changed")."""
    changes = []
    for account in [*before, *(a for a in now if a not in before)]:
        old, new = before.get(account), now.get(account)
        if new is None:
            changes.append(f"account {account} is no longer in it")
            continue
        if old is None:
            changes.append(f"account {account} was added")
            continue
        was, goes = old["destination"] or {}, new["destination"] or {}
        if new["destination"] is None:
            changes.append(f"account {account} is no longer in schedule.toml")
        for key in sorted({*was, *goes}):
            if was.get(key) != goes.get(key):
                changes.append(f"{account}'s {key} changed from {was.get(key)!r} to {goes.get(key)!r}")
        if len(old["parts"]) != len(new["parts"]):
            changes.append(f"{account} has {len(new['parts'])} parts, not {len(old['parts'])}")
            continue
        for position, (a, b) in enumerate(zip(old["parts"], new["parts"], strict=True), start=1):
            if a["text"] != b["text"]:
                changes.append(f"{account} part {position}'s text changed")
            if [c.get("alt") for c in a["cards"]] != [c.get("alt") for c in b["cards"]]:
                changes.append(f"{account} part {position}'s alt text changed")
            if [(c.get("sha256"), c.get("width"), c.get("height")) for c in a["cards"]] != \
                    [(c.get("sha256"), c.get("width"), c.get("height")) for c in b["cards"]]:
                changes.append(f"{account} part {position}'s card changed")
    return "; ".join(changes)
