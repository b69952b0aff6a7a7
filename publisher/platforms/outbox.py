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
from typing import TYPE_CHECKING, Any

from publisher.errors import BadArgument, PublisherError, Rejected, display_path
from publisher.faults import checkpoint
from publisher.fileio import write_atomically
from publisher.platforms.base import Draft, PlatformRules, PostRef, ReplyTo

if TYPE_CHECKING:
    from publisher.webfonts import ThemeFonts


class OutboxPlatform:
    """Posts become numbered JSON records; counting and facets follow the platform it mimics."""

    idempotent = True
    prepared_ttl: timedelta | None = None

    def __init__(self, directory: Path, account: str, rules: PlatformRules, now: Callable[[], datetime],
                 fonts: ThemeFonts | None = None):
        self.folder = (directory / account).resolve()
        self.account = account
        self.rules = rules
        self.now = now
        self.fonts = fonts  # the timeline's text is set in these (the cards' theme's); None: the system's

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
        facets: list[dict[str, Any]] = []
        if self.rules.name == "bluesky":
            from publisher.platforms.bluesky import build_facets

            _, facets = build_facets(draft.text, {})
        record = {
            "key": secrets.token_hex(8),  # which post this is, whatever number it is written under
            "account": self.account,
            "like": self.rules.name,
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

    def post(self, draft: Draft, reply_to: ReplyTo | None) -> PostRef:
        return self.publish(self.prepare(draft, reply_to))

    def login(self) -> str:
        return f"outbox {self.folder}"

    def write_timeline(self) -> None:
        from publisher.timeline import Column, ImageView, PostView, Section, page

        records = self.records()
        roots = [record["reply"]["root"] if record["reply"] else record["id"] for record in records]
        position: dict[str, int] = {}
        posts = []
        for record, root in zip(records, roots, strict=True):
            position[root] = position.get(root, 0) + 1
            note = (f"reply to {record['reply']['parent']}" if record["reply"] else "new thread")
            posted = datetime.fromisoformat(record["posted_at"]).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
            posts.append(PostView(
                record["text"], record["like"], position[root], roots.count(root), kind="posted",
                count=record["length"],
                images=[ImageView(i["file"], i["alt"], i["width"], i["height"]) for i in record["images"]],
                note=f"{posted} · {note}", anchor=record["id"]))
        column = Column(self.account, f"outbox (counted as {self.rules.label})", posts)
        title, intro = f"Outbox: {self.account}", f"{len(records)} posts written by publisher; nothing was sent."
        sections = [Section("Timeline, oldest first", [column])]
        write_atomically(self.folder / "timeline.html",
                         page(title, intro, sections, fonts_css=self._fonts_css(page(title, intro, sections)))
                         .encode("utf-8"))

    def _fonts_css(self, html: str) -> str:
        """Write the fonts the page needs beside it and return the CSS loading them. The page grows a post at a
        time, so fonts that already have its characters are kept, and the characters most posts use are cut in
        from the start."""
        from publisher.webfonts import COMMON_CHARACTERS, write_page_fonts

        if self.fonts is None:
            return ""
        try:
            fonts = self.fonts.for_text(html + COMMON_CHARACTERS, reuse_from=self.folder)
        except PublisherError:  # a damaged font must not fail a post already written: rendering says what is wrong
            return ""
        write_page_fonts(self.folder, fonts)
        return fonts.css
