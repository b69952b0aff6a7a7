"""The dashboard's pages (Upcoming, Queue, Thread, Cards, Packs, Log, the preview) and the files they show: each
a small endpoint over the project and its queue service, the calls the CLI makes. A library error raised here
is answered by the gate (a page saying why, with the right status)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from publisher.dashboard.board import WORKER_START_METHOD, Dashboard, board_of
from publisher.dashboard.results import figures_note, thread_figures
from publisher.errors import BadArgument, NotFound, PublisherError
from publisher.schema import SLUG_RE

SHA256 = re.compile(r"[0-9a-f]{64}")
FORMATS = ("square", "portrait", "story", "landscape")
MAX_ID = 2**63 - 1  # SQLite's largest integer: a longer number names no thread


def thread_id_of(request: Request) -> int:
    """The thread a path names; NotFound for anything that cannot be a thread's id."""
    text = str(request.path_params["thread_id"])
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        raise NotFound(f"no thread {text[:24]} in the queue")
    return int(text)


def config_problem(queue: Any) -> PublisherError | None:
    """Why the queue's schedule.toml cannot be read (the queue still shows what is stored), or None."""
    problem = getattr(queue, "config_problem", None)
    return problem if isinstance(problem, PublisherError) else None


def available_actions(state: str, needs_signoff: bool = False) -> list[str]:
    """The actions the thread's state allows, in the order the page shows them (approve also for a queued
    thread whose approval no longer covers what it would post)."""
    from publisher.dashboard.actions import ACTIONS
    from publisher.queue import CANCELLABLE, HOLDABLE, RECOMPOSABLE, RELEASABLE, RETRYABLE

    allowed = {"approve": state == "awaiting_approval" or needs_signoff, "reject": state == "awaiting_approval",
               "hold": state in HOLDABLE, "release": state in RELEASABLE, "retry": state in RETRYABLE,
               "recompose": state in RECOMPOSABLE, "cancel": state in CANCELLABLE}
    return [action for action in ACTIONS if allowed[action]]


# -- Upcoming, Queue, Thread, Log ---------------------------------------------------------------------------

def upcoming_data(board: Dashboard) -> dict[str, Any]:
    with board.current().queue(create=False) as q:
        status = q.status()
        schedule = q.schedule
    for campaign in status["campaigns"]:
        found = schedule.campaign(campaign["campaign"])
        campaign["approval"] = bool(found and found.approval)
        campaign["threads"] = [t for t in status["threads"] if t["campaign"] == campaign["campaign"]]
    return status


async def upcoming(request: Request) -> Response:
    board = board_of(request)
    return board.render("upcoming.html", request, title="Upcoming", **await run_in_threadpool(upcoming_data, board))


def threads_data(board: Dashboard, show_all: bool) -> list[dict[str, Any]]:
    with board.current().queue(create=False) as q:
        collections = {} if config_problem(q) else q.collections_by_campaign()
        return [q.thread_json(t, collections.get(t.campaign)) for t in q.threads(show_all)]


async def queue_page(request: Request) -> Response:
    board = board_of(request)
    show_all = request.query_params.get("all") == "1"
    threads = await run_in_threadpool(threads_data, board, show_all)
    return board.render("queue.html", request, title="Queue", threads=threads, show_all=show_all)


def thread_data(board: Dashboard, thread_id: int) -> dict[str, Any]:
    """The thread as queue show --json has it (its revision kept as shown), with each account's posts, their
    counts and cards, and where each account posts."""
    with board.current().queue(create=False) as q:
        thread = q.thread(thread_id)
        readable = config_problem(q) is None
        collection = q.collections_by_campaign().get(thread.campaign) if readable else None
        data: dict[str, Any] = q.thread_json(thread, collection, shown=True)
        accounts = q.schedule.accounts if readable else {}
        posted = any(part["state"] == "posted" for part in data["parts"])
        figures = thread_figures(q, thread_id, thread.campaign) if posted else {}
        data["sources"] = _sources(q, collection, thread.quote_ids) if collection is not None else []
    columns: dict[str, list[dict[str, Any]]] = {}
    for part in data["parts"]:
        columns.setdefault(part["account"], []).append({
            **part, "unit": part["unit"] or "", "figures": figures.get((part["account"], part["position"])),
            "cards": [{"src": f"/images/{card['sha256']}.png", "alt": card["alt"] or ""} for card in part["cards"]]})
    data["columns"] = [{"account": name, "platform": accounts[name].platform if name in accounts else "?",
                        "destination": data["accounts"][name]["destination"], "parts": parts,
                        "figures_note": figures_note(accounts[name]) if name in accounts else None}
                       for name, parts in columns.items()]
    data["actions"] = available_actions(data["state"], data["needs_signoff"])
    return data


async def thread_page(request: Request) -> Response:
    board = board_of(request)
    thread_id = thread_id_of(request)
    data = await run_in_threadpool(thread_data, board, thread_id)
    return board.render("thread.html", request, title=f"Thread {thread_id}", thread=data)


def log_data(board: Dashboard) -> dict[str, Any]:
    with board.current().queue(create=False) as q:
        return {"events": q.store.events(("error", "warning", "info"), limit=100),
                "attempts": q.store.recent_attempts(50),
                "problems": [{"thread": t.id, "account": p.account, "position": p.position, "state": p.state,
                              "error": p.last_error, "fix": p.fix} for p, t in q.store.problem_parts()]}


async def log_page(request: Request) -> Response:
    board = board_of(request)
    return board.render("log.html", request, title="Log", **await run_in_threadpool(log_data, board))


def stored_image(board: Dashboard, digest: str) -> bytes:
    with board.current().queue(create=False) as q:
        if not q.store.has_image(digest):
            raise NotFound("no such card")
        return bytes(q.store.image(digest)[0])


async def image(request: Request) -> Response:
    digest = str(request.path_params["digest"])
    if not SHA256.fullmatch(digest):
        raise NotFound("no such card")
    data = await run_in_threadpool(stored_image, board_of(request), digest)
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


# -- Cards and Packs ----------------------------------------------------------------------------------------

def card_choices(board: Dashboard) -> dict[str, Any]:
    files = board.current().files
    return {"collections": [{"name": c.collection.name, "title": c.collection.title,
                             "quotes": [{"id": q.id, "text": q.text} for q in c.quotes]} for c in files.collections()],
            "themes": files.theme_names(), "formats": list(FORMATS)}


def card_alt(board: Dashboard, collection_name: str, quote_id: str) -> tuple[str, list[dict[str, Any]]]:
    """A card's alt text, and its quote's check against its source as publisher verify kept it."""
    from publisher.render.card import alt_text

    collection = board.current().files.collection(collection_name)
    quote = collection.quote(quote_id)
    if quote is None:
        raise NotFound(f'no quote "{quote_id[:64]}" in {collection.name}')
    with board.current().queue(create=False) as q:
        return alt_text(collection, quote), _sources(q, collection, [quote.id])


async def cards(request: Request) -> Response:
    board = board_of(request)
    choices = await run_in_threadpool(card_choices, board)
    chosen = {k: request.query_params.get(k, "") for k in ("quote", "theme", "format")}
    card = None
    if chosen["quote"]:
        collection, _, quote = chosen["quote"].partition(":")
        alt, sources = await run_in_threadpool(card_alt, board, collection, quote)
        card = {"src": "/cards/card.png?" + urlencode({"collection": collection, "quote": quote,
                                                      "theme": chosen["theme"], "format": chosen["format"]}),
                "alt": alt, "sources": sources}
    return board.render("cards.html", request, title="Cards", chosen=chosen, card=card, **choices)


def render_card(board: Dashboard, params: dict[str, str]) -> bytes:
    from publisher.render.card import CardRenderer

    files = board.current().files
    collection = files.collection(params.get("collection") or None)
    quote = collection.quote(params.get("quote", ""))
    if quote is None:
        raise NotFound(f'no quote "{params.get("quote", "")[:64]}" in {collection.name}')
    theme = files.theme_for(None, collection, params.get("theme") or None)
    fmt = params.get("format") or "square"
    if fmt not in FORMATS:
        raise BadArgument(f'"{fmt[:40]}" is not a card format (square, portrait, story or landscape)')
    return CardRenderer(theme, files.assets).render(collection, quote, fmt).png


async def card_png(request: Request) -> Response:
    data = await run_in_threadpool(render_card, board_of(request), dict(request.query_params))
    return Response(data, media_type="image/png")


async def packs(request: Request) -> Response:
    board = board_of(request)
    choices = await run_in_threadpool(card_choices, board)
    job = board.jobs.get(request.query_params.get("job", ""))
    jobs = sorted(board.jobs.values(), key=lambda j: j.started, reverse=True)
    return board.render("packs.html", request, title="Packs", job=job.as_json() if job else None,
                        jobs=[j.as_json() for j in jobs], **choices)


async def pack_download(request: Request) -> Response:
    job = board_of(request).jobs.get(str(request.path_params["job"]))
    if job is None or job.as_json()["download"] is None or job.file is None \
            or job.file.name != request.path_params["name"]:
        raise NotFound("no such pack (a pack can be downloaded for a day after it is made: make it again)")
    return FileResponse(job.file, media_type="application/zip", filename=job.file.name)


# -- the preview, exactly as `publisher preview` writes it ----------------------------------------------------

def preview_file(board: Dashboard, campaign: str, rest: str) -> str:
    project = board.current()
    if not SLUG_RE.fullmatch(campaign) or project.files.schedule().campaign(campaign) is None:
        raise NotFound(f'no campaign "{campaign[:64]}" in schedule.toml')
    from publisher.render.batch import workers_started_by

    with board.preview_lock:
        folder = board.work.folder("preview", campaign)
        if rest == "index.html":
            with workers_started_by(WORKER_START_METHOD):
                project.preview(campaign, 3, folder, force=True)
        return str(board.work.file(folder, rest))


async def preview(request: Request) -> Response:
    rest = str(request.path_params.get("rest") or "index.html")
    path = await run_in_threadpool(preview_file, board_of(request), str(request.path_params["campaign"]), rest)
    return FileResponse(path)


# -- the dashboard's own files ------------------------------------------------------------------------------

async def icon(request: Request) -> Response:
    from publisher.assets import bundled_dir

    return FileResponse(bundled_dir() / "logos" / "mark.png", media_type="image/png",
                        headers={"Cache-Control": "max-age=86400"})


def static_file(name: str) -> FileResponse:
    from importlib import resources
    from pathlib import Path

    folder = resources.files("publisher.dashboard") / "static"
    assert isinstance(folder, Path)
    return FileResponse(folder / name, headers={"Cache-Control": "no-cache"})


async def css(request: Request) -> Response:
    return static_file("dashboard.css")


async def js(request: Request) -> Response:
    return static_file("dashboard.js")


def _sources(q: Any, collection: Any, quote_ids: list[str]) -> list[dict[str, Any]]:
    """Each quote's check against its source, as publisher verify last kept it (a page never reads a document):
    its status, page and passage; "not checked yet" where verify has not run since the quote or source changed."""
    from publisher.verification import verify

    quotes = [quote for quote_id in quote_ids if (quote := collection.quote(quote_id)) is not None]
    if not any(collection.source_for(quote) for quote in quotes):
        return []
    shown = collection.model_copy(update={"quotes": quotes})
    checks = {c.quote_id: c for c in verify(q.files, [shown], q.store, read_documents=False).checks}
    return [{"quote_id": quote.id, "source": (source := collection.source_for(quote)) and (source.title or source.id),
             "check": checks.get(quote.id)} for quote in quotes]
