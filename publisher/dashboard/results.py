"""The dashboard's Results: per campaign, what each quote achieved (its posts' latest figures, in total and per
platform), sortable by any figure with links, so without a script; each quote's figures over time as an SVG chart
with a table of the same figures beside it; the table as CSV; and each posted part's figures on its Thread page.

Over what ``publisher results`` calls (``publisher.results``), from the store only: reading the platforms is the
daemon's job at ``results_at``, or ``publisher results --refresh``'s. A figure a platform does not give is None,
shown as "–", never 0.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from publisher.dashboard.board import Dashboard, board_of
from publisher.dashboard.charts import line_chart
from publisher.errors import BadArgument, NotFound, PublisherError
from publisher.pack import spreadsheet_safe
from publisher.platforms import kind
from publisher.store import FIGURES, PostedPart, Reading, Store
from publisher.text import counted

SORTS = ("engagement", "likes", "reposts", "replies", "quotes", "posts")
ORDERS = ("desc", "asc")
HEADINGS = {"posts": "Posts", "likes": "Likes", "reposts": "Reposts", "replies": "Replies", "quotes": "Quotes",
            "engagement": "Engagement"}
SHORT_TEXT = 140  # characters of a quote the table shows; its own page shows all of it
# One round of readings (every account's batches) takes seconds; results_at's offsets are an hour or more apart.
SAME_ROUND = timedelta(minutes=10)


def _total(values: Iterable[int | None]) -> int | None:
    """A sum of figures: None only when no post gave the figure (as ``publisher results`` sums them)."""
    given = [v for v in values if v is not None]
    return sum(given) if given else None


def _engagement(row: Mapping[str, Any]) -> int | None:
    """Every figure together; None when there is none at all (an outbox's posts)."""
    return _total(row[name] for name in FIGURES)


def shortened(text: str, width: int = SHORT_TEXT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def spoken_offsets(labels: Iterable[str]) -> str:
    """``["1h", "24h", "7d"]`` as "1 h, 24 h and 7 d"."""
    spaced = [re.sub(r"^(\d+)\s*([a-z]+)$", r"\1 \2", label) for label in labels]
    return spaced[0] if len(spaced) == 1 else ", ".join(spaced[:-1]) + " and " + spaced[-1]


def platform_label(name: str | None) -> str:
    if name is None:
        return "an account no longer in schedule.toml"
    try:
        return kind(name).label or name
    except KeyError:
        return name


def figures_note(account: Any) -> str | None:
    """Why an account's posts have no figures (an outbox, X without x_results), or None when they are read."""
    platform = kind(account.platform)
    if not platform.has_audience:
        return "a local outbox's posts have no audience"
    if not platform.reads_results(account):
        return str(platform.reading_off)
    return None


def local_time(moment: datetime | str | None, zone: ZoneInfo) -> str:
    if moment is None:
        return ""
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M")


# -- what a campaign's quotes achieved ---------------------------------------------------------------------

def quote_rows(posts: list[dict[str, Any]], texts: Mapping[str, str]) -> list[dict[str, Any]]:
    """``publisher results``' post rows as one row per quote: its posts, their figures in total and per platform
    (by the platform's name), best first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for post in posts:
        for quote_id in post["quote_ids"]:
            groups.setdefault(quote_id, []).append(post)
    rows = []
    for quote_id, members in groups.items():
        by_platform: dict[str, dict[str, Any]] = {}
        for platform in dict.fromkeys(platform_label(m["platform"]) for m in members):
            mine = [m for m in members if platform_label(m["platform"]) == platform]
            by_platform[platform] = {"posts": len(mine), **{n: _total(m[n] for m in mine) for n in FIGURES}}
            by_platform[platform]["engagement"] = _engagement(by_platform[platform])
        row: dict[str, Any] = {"quote_id": quote_id, "text": texts.get(quote_id, ""), "posts": len(members),
                               **{name: _total(m[name] for m in members) for name in FIGURES},
                               "by_platform": by_platform}
        row["engagement"] = _engagement(row)
        row["short"] = shortened(row["text"])
        rows.append(row)
    return sort_rows(rows, "engagement", "desc")


def sort_rows(rows: list[dict[str, Any]], sort: str, order: str) -> list[dict[str, Any]]:
    """Rows by one column, rows without that figure last either way; equal rows keep their order."""
    given = sorted((r for r in rows if r[sort] is not None), key=lambda r: r[sort], reverse=order == "desc")
    return given + [r for r in rows if r[sort] is None]


def sort_links(campaign: str, sort: str, order: str) -> dict[str, dict[str, str]]:
    """Each column's heading link (the sorted one turns round) and its aria-sort."""
    from urllib.parse import urlencode

    links = {}
    for column in SORTS:
        turned = "asc" if column == sort and order == "desc" else "desc"
        links[column] = {"href": "/results?" + urlencode({"campaign": campaign, "sort": column, "order": turned}),
                         "aria_sort": ("descending" if order == "desc" else "ascending") if column == sort else ""}
    return links


def latest_cards(store: Store, parts: list[PostedPart]) -> dict[str, dict[str, Any]]:
    """Each quote's card as its latest posted part carries it: its address and alt text."""
    latest: dict[str, PostedPart] = {}
    for part in parts:  # oldest first: the last one wins
        for quote_id in part.quote_ids:
            latest[quote_id] = part
    cards: dict[str, dict[str, Any]] = {}
    stored: dict[int, dict[int, list[dict[str, Any]]]] = {}
    for quote_id, part in latest.items():
        if part.thread_id not in stored:
            stored[part.thread_id] = {row.id: row.images for row in store.parts(part.thread_id)}
        images = stored[part.thread_id].get(part.part_id) or []
        if images and images[0].get("sha256"):
            image = images[0]
            width, height = image.get("width") or 1, image.get("height") or 1
            cards[quote_id] = {"src": f"/images/{image['sha256']}.png", "alt": image.get("alt") or "",
                               "width": 96, "height": max(1, round(96 * height / width))}
    return cards


def chosen(request: Request) -> tuple[str | None, str, str]:
    """The campaign, sort and order a Results address asks for; a sort or order that is not one is refused."""
    params = request.query_params
    sort, order = params.get("sort") or "engagement", params.get("order") or "desc"
    if sort not in SORTS:
        raise BadArgument(f'"{sort[:40]}" is not a column to sort by (one of: {", ".join(SORTS)})')
    if order not in ORDERS:
        raise BadArgument(f'"{order[:40]}" is not an order (desc or asc)')
    return params.get("campaign") or None, sort, order


def campaign_results(board: Dashboard, asked: str | None, sort: str = "engagement", order: str = "desc"
                     ) -> dict[str, Any]:
    """A campaign's quotes and what they achieved (``asked``, default the first campaign), sorted."""
    from publisher.results import results_report

    with board.current().queue(create=False) as q:
        problem = getattr(q, "config_problem", None)
        if isinstance(problem, PublisherError):
            raise problem  # which quotes, platforms and readings there are: schedule.toml says
        schedule = q.schedule
        names = [c.name for c in schedule.campaigns]
        if not names:
            return {"campaigns": [], "campaign": None, "rows": []}
        name = asked or names[0]
        if name not in names:
            raise NotFound(f'no campaign "{name[:64]}" in schedule.toml (one of: {", ".join(names)})')
        report = results_report(q, "post", name, None, False, {})
        parts = q.store.posted_for_results(campaign=name)
        collection = q.collections_by_campaign().get(name)
        cards = latest_cards(q.store, parts)
        zone = q.zone(name)
    texts = {quote.id: quote.text for quote in collection.quotes} if collection else {}
    rows = sort_rows(quote_rows(report.rows, texts), sort, order)
    for row in rows:
        row["card"] = cards.get(row["quote_id"])
    campaign = schedule.campaign(name)
    assert campaign is not None
    used = {part.account for part in parts}
    platforms = list(dict.fromkeys(
        [platform_label(schedule.accounts[a].platform) for a in campaign.accounts if a in schedule.accounts]
        + [p for row in rows for p in row["by_platform"]]))
    return {"campaigns": names, "campaign": name, "rows": rows, "sort": sort, "order": order,
            "links": sort_links(name, sort, order), "headings": HEADINGS, "platforms": platforms,
            "posted": bool(parts), "read_anywhere": bool(used - set(report.no_audience) - set(report.not_read)),
            "newest": local_time(report.newest, zone), "zone": str(zone),
            "offsets": spoken_offsets(schedule.defaults.results_at) if schedule.defaults.results_at else "",
            "no_audience": report.no_audience, "not_read": report.not_read}


async def results_page(request: Request) -> Response:
    board = board_of(request)
    campaign, sort, order = chosen(request)
    data = await run_in_threadpool(campaign_results, board, campaign, sort, order)
    return board.render("results.html", request, title="Results", **data)


def results_csv_text(data: Mapping[str, Any]) -> str:
    """The Results table as CSV: its rows in its order, each platform's figures beside the totals when there is
    more than one; no figure is an empty cell, never 0."""
    platforms = data["platforms"] if len(data["platforms"]) > 1 else []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["quote_id", "text", "posts", *FIGURES, "engagement",
                     *(f"{platform} {name}" for platform in platforms for name in ("posts", *FIGURES))])
    for row in data["rows"]:
        text = spreadsheet_safe(row["text"])
        per_platform = [row["by_platform"].get(platform, {}).get(name) for platform in platforms
                        for name in ("posts", *FIGURES)]
        writer.writerow([row["quote_id"], text, row["posts"], *(row[name] for name in FIGURES), row["engagement"],
                         *per_platform])
    return "\ufeff" + buffer.getvalue()


async def results_csv(request: Request) -> Response:
    board = board_of(request)
    campaign, sort, order = chosen(request)
    data = await run_in_threadpool(campaign_results, board, campaign, sort, order)
    if data["campaign"] is None:
        raise NotFound("no campaign in schedule.toml")
    return Response(results_csv_text(data).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="results-{data["campaign"]}.csv"'})


# -- one quote over time -----------------------------------------------------------------------------------

def quote_series(readings: list[Reading], parts: Mapping[int, PostedPart]) -> list[dict[str, Any]]:
    """A quote's figures at each round of readings: the sum over its posts of each one's latest reading by then
    (a post not read yet counts for nothing). Replies exclude the thread's own next part, as in the table."""
    rounds: list[list[Reading]] = []
    for reading in readings:  # oldest first
        if rounds and reading.fetched_at - rounds[-1][0].fetched_at <= SAME_ROUND:
            rounds[-1].append(reading)
        else:
            rounds.append([reading])
    latest: dict[int, dict[str, int | None]] = {}
    points = []
    for taken in rounds:
        for reading in taken:
            part = parts[reading.part_id]
            figures = {name: getattr(reading, name) for name in FIGURES}
            figures["replies"] = part.people_replies(figures["replies"])
            latest[reading.part_id] = figures
        point: dict[str, Any] = {"at": taken[-1].fetched_at,
                                 **{name: _total(f[name] for f in latest.values()) for name in FIGURES}}
        point["engagement"] = _engagement(point)
        points.append(point)
    return points


def quote_results(board: Dashboard, quote_id: str, asked: str | None) -> dict[str, Any]:
    """One quote in one campaign: its figures, its posts and its figures over time."""
    from publisher.results import figures_by

    with board.current().queue(create=False) as q:
        problem = getattr(q, "config_problem", None)
        if isinstance(problem, PublisherError):
            raise problem
        schedule = q.schedule
        names = [c.name for c in schedule.campaigns]
        name = asked or (names[0] if names else "")
        if name not in names:
            raise NotFound(f'no campaign "{name[:64]}" in schedule.toml')
        parts = q.store.posted_for_results(campaign=name)
        mine = [p for p in parts if quote_id in p.quote_ids]
        if not mine:
            raise NotFound(f'no posted quote "{quote_id[:64]}" in campaign {name}')
        accounts = schedule.accounts
        posts = figures_by(q.store, "post", parts=mine,
                           platform_of=lambda a: accounts[a].platform if a in accounts else None)
        series = quote_series(q.store.reading_series(p.part_id for p in mine), {p.part_id: p for p in mine})
        card = latest_cards(q.store, mine).get(quote_id)
        collection = q.collections_by_campaign().get(name)
        zone = q.zone(name)
    quote = collection.quote(quote_id) if collection else None
    row = quote_rows(posts, {quote_id: quote.text} if quote else {})[0]
    for post in posts:
        post["platform_label"] = platform_label(post["platform"])
        post["engagement"] = _engagement(post)
        post["posted"] = local_time(post["posted_at"], zone)
        post["read"] = local_time(post["fetched_at"], zone)
    shown = [name for name in FIGURES if any(point[name] is not None for point in series)]
    chart = None
    if series:
        summary = "; ".join(f"{n} from {series[0][n] if series[0][n] is not None else 'none'} to "
                            f"{series[-1][n] if series[-1][n] is not None else 'none'}" for n in shown)
        chart = Markup(line_chart(  # safe: line_chart escapes every text it draws
            {name.capitalize(): [(point["at"].astimezone(zone), point[name]) for point in series] for name in shown},
            f"Engagement with quote {quote_id} over time",
            f"{len(series)} readings from {local_time(series[0]['at'], zone)} to "
            f"{local_time(series[-1]['at'], zone)} ({zone}), summed over its {counted(len(mine), 'post')}: {summary}. "
            "The table beside the chart has every figure.",
            id_prefix="chart-" + re.sub(r"[^a-z0-9-]", "-", quote_id.lower())[:60],
            x_label=f"Reading (date and time, {zone})"))
    for point in series:
        point["when"] = local_time(point["at"], zone)
    return {"campaign": name, "quote_id": quote_id, "row": row, "card": card, "posts": posts, "series": series,
            "figures": shown, "chart": chart, "zone": str(zone), "headings": HEADINGS}


async def quote_page(request: Request) -> Response:
    board = board_of(request)
    quote_id = str(request.path_params["quote_id"])
    campaign = request.query_params.get("campaign") or None
    data = await run_in_threadpool(quote_results, board, quote_id, campaign)
    return board.render("results_quote.html", request, title=f"Results of {quote_id[:64]}", **data)


# -- a thread's parts ---------------------------------------------------------------------------------------

def thread_figures(q: Any, thread_id: int, campaign: str) -> dict[tuple[str, int], dict[str, Any]]:
    """The latest figures of each posted part of a thread, by (account, position), with when they were read."""
    from publisher.results import figures_by

    parts = [p for p in q.store.posted_for_results(campaign=campaign) if p.thread_id == thread_id]
    zone = q.zone(campaign)
    return {(row["account"], row["part"]): {**{name: row[name] for name in FIGURES},
                                            "read": local_time(row["fetched_at"], zone)}
            for row in figures_by(q.store, "post", parts=parts)}
