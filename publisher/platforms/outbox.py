"""The outbox: a platform that "posts" to a local folder, so the whole pipeline runs with no account.

    DIRECTORY/<account>/posts/000001.json   one record per post: text, facets, reply refs, images, alt, time
    DIRECTORY/<account>/media/<sha256>.png   the attached cards
    DIRECTORY/<account>/timeline.html        every post so far, as a thread-like page
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from publisher.errors import Rejected
from publisher.faults import checkpoint
from publisher.fileio import write_atomically
from publisher.platforms.base import Draft, PlatformRules, PostRef, ReplyTo


class OutboxPlatform:
    """Posts become numbered JSON records; counting and facets follow the platform it mimics."""

    idempotent = True
    prepared_ttl: timedelta | None = None

    def __init__(self, directory: Path, account: str, rules: PlatformRules, now: Callable[[], datetime]):
        self.folder = (directory / account).resolve()
        self.account = account
        self.rules = rules
        self.now = now

    @property
    def posts_dir(self) -> Path:
        return self.folder / "posts"

    def records(self) -> list[dict[str, Any]]:
        if not self.posts_dir.exists():
            return []
        return [json.loads(p.read_text("utf-8")) for p in sorted(self.posts_dir.glob("*.json"))]

    def prepare(self, draft: Draft, reply_to: ReplyTo | None) -> dict[str, Any]:
        """Write the images and fix the record and its number; ``publish`` then writes it once."""
        self.posts_dir.mkdir(parents=True, exist_ok=True)
        (self.folder / "media").mkdir(exist_ok=True)
        number = len(list(self.posts_dir.glob("*.json"))) + 1
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
            "id": f"{self.account}-{number:06d}",
            "account": self.account,
            "like": self.rules.name,
            "text": draft.text,
            "length": str(self.rules.measure(draft.text)),
            "facets": facets,
            "reply": {"root": reply_to.root.id, "parent": reply_to.parent.id} if reply_to else None,
            "images": images,
            "posted_at": self.now().isoformat(),
        }
        return {"number": number, "record": record}

    def _ref(self, post_id: str) -> PostRef:
        return PostRef(id=post_id, url=(self.folder / "timeline.html").as_uri() + f"#{post_id}")

    def publish(self, prepared: dict[str, Any]) -> PostRef:
        found = self.find(prepared)
        if found:
            return found
        record = prepared["record"]
        checkpoint("outbox:create:before")
        write_atomically(self.posts_dir / f"{prepared['number']:06d}.json",
               (json.dumps(record, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
        checkpoint("outbox:create:after")
        self.write_timeline()
        return self._ref(record["id"])

    def find(self, prepared: dict[str, Any]) -> PostRef | None:
        path = self.posts_dir / f"{prepared['number']:06d}.json"
        if not path.exists():
            return None
        if json.loads(path.read_text("utf-8"))["id"] != prepared["record"]["id"]:
            raise Rejected(f"outbox record {path.name} holds another post")
        return self._ref(prepared["record"]["id"])

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
        html = page(f"Outbox: {self.account}", f"{len(records)} posts written by publisher; nothing was sent.",
                    [Section("Timeline, oldest first", [column])])
        write_atomically(self.folder / "timeline.html", html.encode("utf-8"))
