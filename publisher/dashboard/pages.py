"""The dashboard's routes: the pages (Upcoming, Queue, Thread, Cards, Packs, Log) and the JSON API they use."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from publisher.dashboard.web import (
    ACTIONS,
    PACK_LOCK,
    SHA256,
    Dashboard,
    PackJob,
    is_form,
    result_or_error,
    safe_next,
    static_file,
)
from publisher.errors import BadArgument, Interrupted, NotFound, PublisherError

Endpoint = Callable[[Request], Any]


def routes(board: Dashboard) -> list[tuple[str, Endpoint, list[str]]]:
    # -- reading -------------------------------------------------------------------------------------------

    def thread_view(q: Any, thread: Any, collection: Any) -> dict[str, Any]:
        from publisher.platforms import rules_for

        data: dict[str, Any] = q.thread_json(thread, collection)
        accounts = board.current().files.schedule().accounts
        columns: dict[str, list[dict[str, Any]]] = {}
        for part, shown in zip(q.store.parts(thread.id), data["parts"], strict=True):
            account = accounts.get(part.account)
            measure = rules_for(account.rules_name).measure(part.text) if account else None
            columns.setdefault(part.account, []).append({
                **shown, "length": measure.length if measure else None, "limit": measure.limit if measure else None,
                "unit": measure.unit if measure else "", "cards": [
                    {"src": f"/images/{image['sha256']}.png", "alt": image.get("alt", "")} for image in part.images]})
        data["columns"] = [{"account": name, "platform": accounts[name].platform if name in accounts else "?",
                            "parts": parts} for name, parts in columns.items()]
        data["actions"] = available_actions(data["state"])
        return data

    def upcoming_data() -> dict[str, Any]:
        with board.current().queue(create=False) as q:
            status = q.status()
            collections = q.collections_by_campaign()
            waiting = [q.thread_json(t, collections.get(t.campaign)) for t in q.threads()]
        schedule = board.current().files.schedule()
        for campaign in status["campaigns"]:
            found = schedule.campaign(campaign["campaign"])
            campaign["approval"] = bool(found and found.approval)
            campaign["threads"] = [t for t in waiting if t["campaign"] == campaign["campaign"]]
        return status

    async def upcoming(request: Request) -> Response:
        return board.render("upcoming.html", request, title="Upcoming", **await run_in_threadpool(upcoming_data))

    def queue_data(show_all: bool) -> list[dict[str, Any]]:
        with board.current().queue(create=False) as q:
            collections = q.collections_by_campaign()
            return [q.thread_json(t, collections.get(t.campaign)) for t in q.threads(show_all)]

    async def queue_page(request: Request) -> Response:
        show_all = request.query_params.get("all") == "1"
        threads = await run_in_threadpool(queue_data, show_all)
        return board.render("queue.html", request, title="Queue", threads=threads, show_all=show_all)

    def one_thread(thread_id: int) -> dict[str, Any]:
        with board.current().queue(create=False) as q:
            thread = q.thread(thread_id)
            return thread_view(q, thread, q.collections_by_campaign().get(thread.campaign))

    async def thread_page(request: Request) -> Response:
        thread_id = request.path_params["thread_id"]
        data, status, why = await run_in_threadpool(result_or_error, lambda: one_thread(thread_id))
        if data is None:
            return board.render("denied.html", request, status=status, why=why, code=status, title="No such thread")
        return board.render("thread.html", request, title=f"Thread {thread_id}", thread=data)

    async def image(request: Request) -> Response:
        digest = request.path_params["digest"]
        if not SHA256.fullmatch(digest):
            return JSONResponse({"error": "no such card"}, 404)

        def read() -> bytes:
            with board.current().queue(create=False) as q:
                if not q.store.has_image(digest):
                    raise NotFound("no such card")
                return bytes(q.store.image(digest)[0])

        data, status, why = await run_in_threadpool(result_or_error, read)
        if data is None:
            return JSONResponse({"error": why}, status)
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})

    # -- cards ---------------------------------------------------------------------------------------------

    def card_choices() -> dict[str, Any]:
        collections = board.current().files.collections()
        return {"collections": [{"name": c.collection.name, "title": c.collection.title,
                                 "quotes": [{"id": q.id, "text": q.text} for q in c.quotes]} for c in collections],
                "themes": board.current().files.theme_names(), "formats": ["square", "portrait", "story", "landscape"]}

    async def cards(request: Request) -> Response:
        choices, status, why = await run_in_threadpool(result_or_error, card_choices)
        if choices is None:
            return board.render("denied.html", request, status=status, why=why, code=status, title="Cards")
        chosen = {k: request.query_params.get(k, "") for k in ("quote", "theme", "format")}
        card = None
        if chosen["quote"]:
            collection, _, quote = chosen["quote"].partition(":")
            card = {"src": "/cards/card.png?" + urlencode({"collection": collection, "quote": quote,
                                                          "theme": chosen["theme"], "format": chosen["format"]}),
                    "alt": await run_in_threadpool(card_alt, collection, quote)}
        return board.render("cards.html", request, title="Cards", chosen=chosen, card=card, **choices)

    def card_alt(collection_name: str, quote_id: str) -> str:
        from publisher.render.card import alt_text

        collection = board.current().files.collection(collection_name)
        quote = collection.quote(quote_id)
        return alt_text(collection, quote) if quote else ""

    def render_card(params: dict[str, str]) -> bytes:
        from publisher.render.card import CardRenderer

        collection = board.current().files.collection(params.get("collection") or None)
        quote = collection.quote(params.get("quote", ""))
        if quote is None:
            raise NotFound(f'no quote "{params.get("quote", "")}" in {collection.name}')
        theme = board.current().files.theme_for(None, collection, params.get("theme") or None)
        fmt = params.get("format") or "square"
        if fmt not in ("square", "portrait", "story", "landscape"):
            raise BadArgument(f'"{fmt}" is not a card format (square, portrait, story or landscape)')
        return CardRenderer(theme, board.current().files.assets).render(collection, quote, fmt).png

    async def card_png(request: Request) -> Response:
        data, status, why = await run_in_threadpool(result_or_error, lambda: render_card(dict(request.query_params)))
        if data is None:
            return JSONResponse({"error": why}, status)
        return Response(data, media_type="image/png")

    # -- packs ---------------------------------------------------------------------------------------------

    def start_pack(form: dict[str, str]) -> PackJob:
        from publisher.render import FORMAT_NAMES

        name = form.get("collection") or None
        collection = board.current().files.collection(name)
        formats = [f for f in FORMAT_NAMES if form.get(f"format_{f}")] or list(FORMAT_NAMES)
        job = PackJob(secrets.token_hex(8), collection.collection.name, len(collection.quotes) * len(formats))
        folder = board.work_dir / "packs" / job.id
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / f"{collection.collection.name}-pack.zip"

        def work() -> None:
            def step(count: int) -> None:
                if board.stopping.is_set():  # the server is stopping: unwind, so the workers and the .tmp go
                            raise Interrupted("the dashboard stopped while the pack was being made")
                job.done += count

            try:
                with PACK_LOCK:
                    board.current().pack(out, collection.collection.name, formats=formats, progress=step)
                job.file, job.state = out, "done"
            except PublisherError as exc:
                job.state, job.error = "failed", exc.lines()[0]
            except Exception as exc:  # a bug: said on the page, and the server goes on
                job.state, job.error = "failed", f"unexpected {type(exc).__name__}: {exc}"

        board.jobs[job.id] = job
        threading.Thread(target=work, name=f"pack-{job.id}", daemon=True).start()
        return job

    async def packs(request: Request) -> Response:
        choices, status, why = await run_in_threadpool(result_or_error, card_choices)
        if choices is None:
            return board.render("denied.html", request, status=status, why=why, code=status, title="Packs")
        job = board.jobs.get(request.query_params.get("job", ""))
        jobs = sorted(board.jobs.values(), key=lambda j: j.started, reverse=True)
        return board.render("packs.html", request, title="Packs", job=job.as_json() if job else None,
                            jobs=[j.as_json() for j in jobs], **choices)

    async def api_packs_start(request: Request) -> Response:
        form = await form_or_json(request)
        if form is None:
            return JSONResponse(BAD_BODY, 400)
        job, status, why = await run_in_threadpool(result_or_error, lambda: start_pack(form))
        if is_form(request):
            return RedirectResponse("/packs?" + urlencode({"job": job.id} if job else {"error": why}), 303)
        return JSONResponse(job.as_json() if job else {"error": why}, 202 if job else status)

    async def api_pack(request: Request) -> Response:
        job = board.jobs.get(request.path_params["job"])
        return JSONResponse(job.as_json()) if job else JSONResponse({"error": "no such pack"}, 404)

    async def pack_download(request: Request) -> Response:
        job = board.jobs.get(request.path_params["job"])
        if job is None or job.file is None or job.state != "done" or job.file.name != request.path_params["name"]:
            return JSONResponse({"error": "no such pack"}, 404)
        return FileResponse(job.file, media_type="application/zip", filename=job.file.name)

    # -- log -----------------------------------------------------------------------------------------------

    def log_data() -> dict[str, Any]:
        with board.current().queue(create=False) as q:
            return {"events": q.store.events(("error", "warning", "info"), limit=100),
                    "attempts": q.store.recent_attempts(50),
                    "problems": [{"thread": t.id, "account": p.account, "position": p.position, "state": p.state,
                                  "error": p.last_error, "fix": p.fix} for p, t in q.store.problem_parts()]}

    async def log_page(request: Request) -> Response:
        return board.render("log.html", request, title="Log", **await run_in_threadpool(log_data))

    # -- the preview, exactly as `publisher preview` writes it -----------------------------------------------

    async def preview(request: Request) -> Response:
        campaign = request.path_params["campaign"]
        rest = request.path_params.get("rest") or "index.html"
        if "\x00" in campaign + rest:
            return JSONResponse({"error": "not found"}, 404)
        folder = (board.work_dir / "preview" / campaign).resolve()
        if rest == "index.html":
            done, status, why = await run_in_threadpool(
                result_or_error, lambda: board.current().preview(campaign, 3, folder, force=True))
            if done is None:
                return board.render("denied.html", request, status=status, why=why, code=status, title="Preview")
        target = (folder / rest).resolve()
        if not target.is_relative_to(folder) or not target.is_file():
            return JSONResponse({"error": "not found"}, 404)
        return FileResponse(target)

    # -- the JSON API --------------------------------------------------------------------------------------

    async def api_threads(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(queue_data, request.query_params.get("all") == "1"))

    async def api_thread(request: Request) -> Response:
        def read() -> dict[str, Any]:
            with board.current().queue(create=False) as q:
                thread = q.thread(request.path_params["thread_id"])
                return dict(q.thread_json(thread, q.collections_by_campaign().get(thread.campaign)))

        data, status, why = await run_in_threadpool(result_or_error, read)
        return JSONResponse(data if data is not None else {"error": why}, status)

    def act(thread_id: int, action: str, form: dict[str, str]) -> tuple[dict[str, Any], str]:
        with board.current().queue() as q:
            message = perform(q, thread_id, action, form, board.user)
            thread = q.thread(thread_id)
            data = dict(q.thread_json(thread, q.collections_by_campaign().get(thread.campaign)))
        board.on_change()
        return data, message

    async def api_action(request: Request) -> Response:
        thread_id, action = request.path_params["thread_id"], request.path_params["action"]
        form = await form_or_json(request)
        if form is None:
            return JSONResponse(BAD_BODY, 400)
        if action not in ACTIONS:
            result, status, why = None, 404, f'no action "{action}" (one of: {", ".join(ACTIONS)})'
        else:
            result, status, why = await run_in_threadpool(result_or_error, lambda: act(thread_id, action, form))
        if is_form(request):
            back = safe_next(form.get("next"), f"/threads/{thread_id}")
            query = {"message": result[1]} if result else {"error": why}
            return RedirectResponse(f"{back}?{urlencode(query)}", 303)
        if result is None:
            return JSONResponse({"error": why}, status)
        return JSONResponse({**result[0], "message": result[1]})

    async def api_queue(request: Request) -> Response:
        form = await form_or_json(request)
        if form is None:
            return JSONResponse(BAD_BODY, 400)

        def add() -> tuple[dict[str, Any], str]:
            from publisher.slots import when_label

            now = str(form.get("now", "")).lower() in ("1", "true", "on", "yes")
            added = board.current().queue_add(form.get("campaign") or None, now=now)
            with board.current().queue(create=False) as q:
                data = dict(q.thread_json(added.thread))
                zone = q.zone(added.thread.campaign)
            when = f"for {when_label(added.slot_at, zone)}" if added.slot_at else "due now"
            board.on_change()
            signoff = " It needs sign-off before it posts." if added.thread.state == "awaiting_approval" else ""
            return data, (f"Queued thread {added.thread.id} ({added.thread.campaign} #{added.thread.number}) {when}."
                          + signoff)

        result, status, why = await run_in_threadpool(result_or_error, add)
        if is_form(request):
            query = {"message": result[1]} if result else {"error": why}
            back = safe_next(form.get("next"), "/")
            return RedirectResponse(f"{back}?{urlencode(query)}", 303)
        if result is None:
            return JSONResponse({"error": why}, status)
        return JSONResponse({**result[0], "message": result[1]}, 201)

    async def icon(request: Request) -> Response:
        from publisher.assets import bundled_dir

        return FileResponse(bundled_dir() / "logos" / "mark.png", media_type="image/png",
                            headers={"Cache-Control": "max-age=86400"})

    async def css(request: Request) -> Response:
        return static_file("dashboard.css")

    async def js(request: Request) -> Response:
        return static_file("dashboard.js")

    return [
        ("/", upcoming, ["GET"]),
        ("/queue", queue_page, ["GET"]),
        ("/threads/{thread_id:int}", thread_page, ["GET"]),
        ("/images/{digest}.png", image, ["GET"]),
        ("/cards", cards, ["GET"]),
        ("/cards/card.png", card_png, ["GET"]),
        ("/packs", packs, ["GET"]),
        ("/packs/{job}/{name}", pack_download, ["GET"]),
        ("/log", log_page, ["GET"]),
        ("/preview/{campaign}/", preview, ["GET"]),
        ("/preview/{campaign}/{rest:path}", preview, ["GET"]),
        ("/static/dashboard.css", css, ["GET"]),
        ("/favicon.ico", icon, ["GET"]),
        ("/static/dashboard.js", js, ["GET"]),
        ("/api/threads", api_threads, ["GET"]),
        ("/api/threads/{thread_id:int}", api_thread, ["GET"]),
        ("/api/threads/{thread_id:int}/{action}", api_action, ["POST"]),
        ("/api/queue", api_queue, ["POST"]),
        ("/api/packs", api_packs_start, ["POST"]),
        ("/api/packs/{job}", api_pack, ["GET"]),
    ]


def available_actions(state: str) -> list[str]:
    """The actions the thread's state allows, in the order the page shows them."""
    from publisher.queue import CANCELLABLE, HOLDABLE, RECOMPOSABLE, RELEASABLE, RETRYABLE

    allowed = {"approve": state == "awaiting_approval", "reject": state == "awaiting_approval",
               "hold": state in HOLDABLE, "release": state in RELEASABLE, "retry": state in RETRYABLE,
               "recompose": state in RECOMPOSABLE, "cancel": state in CANCELLABLE}
    return [action for action in ACTIONS if allowed[action]]


def perform(q: Any, thread_id: int, action: str, form: dict[str, str], user: str) -> str:
    """Do one action on a thread through the queue service; the sentence saying what happened."""
    from publisher.slots import when_label

    if action == "approve":
        done = q.approve(thread_id, user, revision=form.get("revision") or None)
        zone = q.zone(done.thread.campaign)
        return {"scheduled": f"Approved thread {thread_id}: it posts {when_label(done.thread.due_at, zone)}.",
                "now": f"Approved thread {thread_id}: it is due, so it posts at the next pass"
                       + (f" ({done.why})." if done.why else "."),
                }.get(done.outcome, f"Approved thread {thread_id}, but it was skipped: {done.why}.")
    if action == "reject":
        return f"Rejected thread {thread_id}: {q.reject(thread_id, str(form.get('reason', '')), user).reason}."
    if action == "hold":
        q.hold(thread_id, user)
        return f"Held thread {thread_id}: it does not post until it is released."
    if action == "release":
        _, over = q.release(thread_id)
        return f"Released thread {thread_id}." + (f" Note: {over}" if over else "")
    if action == "cancel":
        stopped = q.cancel(thread_id, settle=15.0, by=user)
        live = f" {len(stopped.posted)} of its posts were already live." if stopped.posted else ""
        return f"Cancelled thread {thread_id}.{live}"
    if action == "retry":
        changed, unknown = q.retry(thread_id)
        return f"Thread {thread_id}: {changed} part(s) will be tried again" + (
            f"; {len(unknown)} may have been posted: check them first" if unknown else "") + "."
    done = q.recompose(thread_id, user)
    return f"Recomposed thread {thread_id} from the current files." + (
        " It needs sign-off again." if done.thread.state == "awaiting_approval" else "")


async def form_or_json(request: Request) -> dict[str, str] | None:
    """The request's form or JSON object, as text values; None when the body is neither (a 400)."""
    body = await request.body()
    if is_form(request):
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


BAD_BODY = {"error": "the body is neither a JSON object nor a form"}

