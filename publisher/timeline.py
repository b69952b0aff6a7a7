"""HTML pages that look like a thread: the dry-run preview and the outbox timeline share this one renderer.

Self-contained (inline CSS, no script, images and fonts by relative path) so it opens from disk anywhere.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote as url_quote

from publisher.richtext import segments


@dataclass(frozen=True)
class PostLinks:
    """Where a platform links a hashtag and a mention (``{}``: the tag, or the handle without its @); empty: the
    words are shown as they are, styled but not linked."""

    hashtag: str = ""
    mention: str = ""


@dataclass
class ImageView:
    src: str
    alt: str
    width: int
    height: int


@dataclass
class PostView:
    """One post as shown: its text and images, its count against the limit, and anything to look at."""

    text: str
    links: PostLinks  # where its platform links hashtags and mentions
    number: int
    of: int
    kind: str = "quote"
    count: str = ""
    fits: bool = True
    images: list[ImageView] = field(default_factory=list)
    note: str = ""  # e.g. "reply to 1" or the time it was posted
    anchor: str = ""


@dataclass
class Column:
    """One account's thread (or timeline)."""

    title: str
    subtitle: str
    posts: list[PostView]
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    cost: str = ""


@dataclass
class Section:
    heading: str
    columns: list[Column]
    notes: list[str] = field(default_factory=list)  # e.g. the slot it takes, repeated quotes


def rich_text(text: str, links: PostLinks) -> str:
    """Post text as HTML: hashtags, mentions and links styled (and linked) as the platform shows them."""
    out = []
    for segment in segments(text):
        shown = html.escape(segment.text)
        if segment.kind in ("tag", "mention"):
            pattern = links.hashtag if segment.kind == "tag" else links.mention
            css = "tag" if segment.kind == "tag" else "mention"
            if pattern:
                href = pattern.format(url_quote(segment.value))
                out.append(f'<a class="{css}" href="{html.escape(href)}">{shown}</a>')
            else:
                out.append(f'<span class="{css}">{shown}</span>')
        elif segment.kind == "link":
            out.append(f'<a class="link" href="{html.escape(segment.value)}">{shown}</a>')
        else:
            out.append(shown)
    return "".join(out).replace("\n", "<br>")


def _post_html(post: PostView, platform_label: str) -> str:
    images = ""
    if post.images:
        figures = []
        for image in post.images:
            alt = html.escape(image.alt)
            figures.append(
                f'<figure><img src="{html.escape(image.src)}" alt="{alt}" width="{image.width}" '
                f'height="{image.height}" loading="lazy"><figcaption><details><summary>ALT</summary>'
                f'<p class="alt">{alt}</p></details></figcaption></figure>')
        images = f'<div class="images n{len(post.images)}">{"".join(figures)}</div>'
    status = "ok" if post.fits else "over"
    anchor = f' id="{html.escape(post.anchor)}"' if post.anchor else ""
    note = f'<span class="note">{html.escape(post.note)}</span>' if post.note else ""
    return (f'<article class="post {html.escape(post.kind)}"{anchor} data-part="{post.number}">'
            f'<div class="rail"><div class="avatar"></div><div class="line"></div></div>'
            f'<div class="body"><header><span class="number">{post.number}/{post.of}</span>'
            f'<span class="kind">{html.escape(post.kind)}</span>{note}'
            f'<span class="count {status}" title="length by {html.escape(platform_label)} rules">'
            f"{html.escape(post.count)}</span></header>"
            f'<p class="text">{rich_text(post.text, post.links)}</p>{images}</div></article>')


def _column_html(column: Column) -> str:
    notes = "".join(f'<li class="problem">{html.escape(p)}</li>' for p in column.problems)
    notes += "".join(f'<li class="warning">{html.escape(w)}</li>' for w in column.warnings)
    cost = f'<p class="cost">{html.escape(column.cost)}</p>' if column.cost else ""
    posts = "".join(_post_html(p, column.subtitle) for p in column.posts)
    return (f'<section class="column"><h3>{html.escape(column.title)}</h3>'
            f'<p class="platform">{html.escape(column.subtitle)}</p>{cost}'
            + (f'<ul class="notes">{notes}</ul>' if notes else "")
            + f'<div class="thread">{posts}</div></section>')


def _notes_html(notes: Sequence[str]) -> str:
    return "".join(f'<p class="group-note">{html.escape(n)}</p>' for n in notes)


GENERATOR = "publisher"  # marks a page as ours: a later run may replace it


def is_our_page(path: Path) -> bool:
    """Whether ``path`` is a page publisher wrote (so writing a new one over it loses nothing)."""
    with path.open("rb") as handle:
        return f'<meta name="generator" content="{GENERATOR}">'.encode() in handle.read(4096)


def page(title: str, intro: str, sections: Sequence[Section], notes: Sequence[str] = (), fonts_css: str = "") -> str:
    """The whole page; ``fonts_css`` loads the card's fonts (``webfonts.PageFonts.css``)."""
    body = "".join(
        f'<section class="group"><h2>{html.escape(s.heading)}</h2>{_notes_html(s.notes)}<div class="columns">'
        + "".join(_column_html(c) for c in s.columns) + "</div></section>" for s in sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{GENERATOR}">
<title>{html.escape(title)}</title><style>{_CSS}{fonts_css}</style></head>
<body><header class="page"><h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>{_notes_html(notes)}</header>
<main>{body}</main></body></html>
"""


# break-word, not anywhere: both break a word too wide for its line, but anywhere lets a flex item (the header's
# "posted") shrink to one letter wide; the header's row wraps instead (issue 26)
_CSS = """
:root { --ink: #0f1419; --muted: #536471; --line: #cfd9de; --link: #1d6fe0; --bad: #b3122e; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  background: #f4f6f8; overflow-wrap: break-word; }
header.page { padding: 20px 28px 8px; } header.page h1 { margin: 0 0 4px; font-size: 22px; }
header.page p { margin: 0; color: var(--muted); }
main { padding: 8px 28px 40px; }
h2 { font-size: 17px; margin: 24px 0 10px; }
.group-note { margin: -4px 0 10px; color: var(--muted); } header.page .group-note { margin: 6px 0 0; }
.columns { display: flex; gap: 20px; flex-wrap: wrap; align-items: flex-start; }
.column { background: #fff; border: 1px solid var(--line); border-radius: 14px; width: 560px; max-width: 100%;
  padding: 14px 16px; }
.column h3 { margin: 0; font-size: 16px; } .platform, .cost { margin: 2px 0 8px; color: var(--muted); }
.notes { margin: 0 0 10px; padding-left: 18px; } .problem { color: var(--bad); font-weight: 600; }
.warning { color: var(--warn); }
.post { display: flex; gap: 10px; } .rail { display: flex; flex-direction: column; align-items: center; width: 40px; }
.avatar { width: 40px; height: 40px; border-radius: 50%; background: linear-gradient(135deg, #1c1446, #8b2f7a); }
.line { flex: 1; width: 2px; background: var(--line); margin: 4px 0; min-height: 12px; }
.post:last-child .line { display: none; }
.body { flex: 1; min-width: 0; padding-bottom: 14px; }
.body header { display: flex; flex-wrap: wrap; gap: 0 8px; align-items: baseline; color: var(--muted);
  font-size: 13px; }
.number { font-weight: 700; color: var(--ink); } .count { margin-left: auto; font-variant-numeric: tabular-nums; }
.count.over { color: var(--bad); font-weight: 700; } .note { color: var(--muted); }
.text { margin: 4px 0 8px; white-space: normal; overflow-wrap: anywhere; }
a { color: var(--link); text-decoration: none; } a:hover { text-decoration: underline; }
.images { display: grid; gap: 4px; grid-template-columns: 1fr 1fr; }
.images.n1 { grid-template-columns: 1fr; }
figure { margin: 0; } img { width: 100%; height: auto; border-radius: 12px; border: 1px solid var(--line);
  display: block; }
figcaption summary { cursor: pointer; display: inline-block; margin-top: 4px; font-size: 11px; font-weight: 700;
  background: #0f1419; color: #fff; border-radius: 4px; padding: 1px 6px; }
.alt { margin: 4px 0 0; font-size: 13px; color: var(--muted); }
"""
