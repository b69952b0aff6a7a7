"""The outbox: a platform that "posts" to a local folder, so the whole pipeline runs with no account.

    DIRECTORY/<account>/posts/000001.json   one record per post: text, facets, reply refs, images, alt, time
    DIRECTORY/<account>/media/<sha256>.png   the attached cards
    DIRECTORY/<account>/timeline.html        every post so far, as a thread-like page
    DIRECTORY/<account>/fonts/               the card theme's fonts, cut down to what the page shows
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import field_validator

from publisher.errors import BadArgument, PublisherError, Rejected, display_path
from publisher.faults import checkpoint
from publisher.fileio import write_atomically
from publisher.platforms.base import (
    Draft,
    Platform,
    PlatformAccount,
    PlatformContext,
    PlatformKind,
    PlatformRules,
    PostRef,
    ReplyTo,
)
from publisher.schema import Invalid, suggest
from publisher.text import counted


class OutboxPlatform:
    """Posts become numbered JSON records; counting and facets follow the platform it mimics."""

    idempotent = True
    prepared_ttl: timedelta | None = None

    def __init__(self, directory: Path, account: str, counted: PlatformKind, now: Callable[[], datetime],
                 page_fonts: Callable[[str, Path], str] | None = None, rules: PlatformRules | None = None):
        self.folder = (directory / account).resolve()
        self.account = account
        self.counted = counted  # the platform it imitates: its rules, rich text and links
        self.rules = rules or counted.rules()
        self.now = now
        self.page_fonts = page_fonts  # the timeline's text is set in the cards' fonts; None: the system's

    @property
    def posts_dir(self) -> Path:
        return self.folder / "posts"

    def records(self) -> list[dict[str, Any]]:
        if not self.posts_dir.exists():
            return []
        return [json.loads(p.read_text("utf-8")) for p in sorted(self.posts_dir.glob("*.json"))]

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A folder or file the outbox cannot write is this platform's refusal: the part waits for the fix."""
        try:
            yield
        except (OSError, BadArgument) as exc:
            problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            where = display_path(Path(exc.filename)) if isinstance(exc, OSError) and exc.filename else \
                display_path(self.folder)
            raise Rejected(f"the outbox cannot write {where}: {problem}",
                           f"check the directory of [accounts.{self.account}] in schedule.toml: it must be a "
                           "folder you can write to") from exc

    def prepare(self, draft: Draft, reply_to: ReplyTo | None) -> dict[str, Any]:
        """Write the images and fix the record, with a key of its own; ``publish`` then writes it once, under
        the next free number."""
        with self._writing():
            return self._prepare(draft, reply_to)

    def _prepare(self, draft: Draft, reply_to: ReplyTo | None) -> dict[str, Any]:
        self.posts_dir.mkdir(parents=True, exist_ok=True)
        (self.folder / "media").mkdir(exist_ok=True)
        images = []
        for image in draft.images:
            name = f"media/{image.sha256}.png"
            if not (self.folder / name).exists():
                write_atomically(self.folder / name, image.data)
            images.append({"file": name, "alt": image.alt, "width": image.width, "height": image.height})
        facets = self.counted.facets(draft.text)
        record = {
            "key": secrets.token_hex(8),  # which post this is, whatever number it is written under
            "account": self.account,
            "like": self.counted.name,
            "text": draft.text,
            "length": str(self.rules.measure(draft.text)),
            "facets": facets,
            "reply": {"root": reply_to.root.id, "parent": reply_to.parent.id} if reply_to else None,
            "images": images,
            "posted_at": self.now().isoformat(),
        }
        return {"record": record}

    def _ref(self, post_id: str) -> PostRef:
        return PostRef(id=post_id, url=(self.folder / "timeline.html").as_uri() + f"#{post_id}")

    def publish(self, prepared: dict[str, Any]) -> PostRef:
        found = self.find(prepared)
        if found:
            return found
        checkpoint("outbox:create:before")
        with self._writing():
            record = self._write_new(prepared["record"])
        checkpoint("outbox:create:after")
        try:
            self.write_timeline()
        except (OSError, PublisherError) as exc:  # the post is written; the page is made again with the next one
            logging.getLogger("publisher").warning("the outbox timeline %s could not be written (%s); the post "
                                                   "is in %s", display_path(self.folder / "timeline.html"),
                                                   exc, display_path(self.posts_dir))
        return self._ref(record["id"])

    def _write_new(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record written under the next free number, never over another post's (two posting processes, or
        one resumed after a crash while another posted meanwhile, each get their own)."""
        number = len(list(self.posts_dir.glob("*.json"))) + 1
        handle, name = tempfile.mkstemp(dir=self.posts_dir, prefix=".new.", suffix=".tmp")
        os.close(handle)
        temp = Path(name)
        try:
            while True:
                numbered = {"id": f"{self.account}-{number:06d}", **record}
                temp.write_text(json.dumps(numbered, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
                try:
                    os.link(temp, self.posts_dir / f"{number:06d}.json")  # made whole, and only if not there
                except FileExistsError:
                    number += 1
                    continue
                return numbered
        finally:
            temp.unlink(missing_ok=True)

    def find(self, prepared: dict[str, Any]) -> PostRef | None:
        """The post written for this record, by its key (a record prepared by an older publisher: by its number
        and id)."""
        record = prepared["record"]
        if "key" not in record:
            path = self.posts_dir / f"{prepared['number']:06d}.json"
            if not path.exists():
                return None
            if json.loads(path.read_text("utf-8"))["id"] != record["id"]:
                raise Rejected(f"outbox record {path.name} holds another post")
            return self._ref(record["id"])
        for written in self.records():
            if written.get("key") == record["key"]:
                return self._ref(written["id"])
        return None

    def login(self) -> str:
        return f"outbox {self.folder}"

    def write_timeline(self) -> None:
        from publisher.platforms import known
        from publisher.timeline import Column, ImageView, PostLinks, PostView, Section, page

        records = self.records()
        roots = [record["reply"]["root"] if record["reply"] else record["id"] for record in records]
        position: dict[str, int] = {}
        posts = []
        for record, root in zip(records, roots, strict=True):
            position[root] = position.get(root, 0) + 1
            note = (f"reply to {record['reply']['parent']}" if record["reply"] else "new thread")
            posted = datetime.fromisoformat(record["posted_at"]).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
            like = known().get(record["like"])
            posts.append(PostView(
                record["text"], like.links if like else PostLinks(), position[root], roots.count(root),
                kind="posted",
                count=record["length"],
                images=[ImageView(i["file"], i["alt"], i["width"], i["height"]) for i in record["images"]],
                note=f"{posted} · {note}", anchor=record["id"]))
        column = Column(self.account, f"outbox (counted as {self.counted.label})", posts)
        title = f"Outbox: {self.account}"
        intro = f"{counted(len(records), 'post')} written by publisher; nothing was sent."
        sections = [Section("Timeline, oldest first", [column])]
        write_atomically(self.folder / "timeline.html",
                         page(title, intro, sections, fonts_css=self._fonts_css(page(title, intro, sections)))
                         .encode("utf-8"))

    def _fonts_css(self, html: str) -> str:
        """The CSS of the fonts the page is set in, written beside it (by whoever gave ``page_fonts``)."""
        return self.page_fonts(html, self.folder) if self.page_fonts is not None else ""


# -- what publisher knows of the outbox -------------------------------------------------------------------

DEFAULT_LIKE = "bluesky"


class OutboxAccount(PlatformAccount):
    """A local dry-run target: posts become files in ``directory``, counted and faceted like ``like``."""

    platform: Literal["outbox"]
    directory: str = "outbox"
    like: str = DEFAULT_LIKE

    @field_validator("like")
    @classmethod
    def _a_platform(cls, value: str) -> str:
        from publisher.platforms import known

        names = [name for name, kind in known().items() if kind.name != Outbox.name]
        if value not in names:
            raise Invalid(f'"{value}" is not a platform an outbox can imitate',
                          suggest(value, names) or f"write one of {', '.join(repr(n) for n in names)}")
        return value

    @property
    def rules_name(self) -> str:
        return self.like

    @property
    def destination(self) -> str:
        from publisher.platforms import kind

        return f"the local outbox {self.directory}/ (counted as {kind(self.like).label})"


class Outbox(PlatformKind):
    name = "outbox"
    label = "outbox"
    article = "a local outbox"
    account_model = OutboxAccount
    can_login = False
    has_audience = False  # its posts are files: no one likes them

    def counted_as(self, account: PlatformAccount | None) -> PlatformKind:
        from publisher.platforms import kind

        return kind(account.like if isinstance(account, OutboxAccount) else DEFAULT_LIKE)

    def rules(self, account: PlatformAccount | None = None, cache: Any = None) -> PlatformRules:
        return self.counted_as(account).rules(None, cache)

    def connect(self, name: str, account: PlatformAccount, context: PlatformContext) -> Platform:
        assert isinstance(account, OutboxAccount)
        return OutboxPlatform(context.root / account.directory, name, self.counted_as(account), context.now,
                              context.page_fonts)


PLATFORM = Outbox()
